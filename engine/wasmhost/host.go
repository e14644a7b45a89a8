package wasmhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/arbiter-dev/arbiter/plugins/abi"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"
)

// Request is one delivery of an action to a plugin.
type Request struct {
	// Action is the whole action object as the policy produced it.
	Action json.RawMessage
	// Event identifies the event the action was decided for.
	Event EventSummary
	// DeliveryID names this delivery (action × plugin); it is stable across
	// attempts.
	DeliveryID string
	// IdempotencyKey is what a plugin passes on to services that dedupe.
	IdempotencyKey string
	// Attempt counts from 1.
	Attempt int
}

// EventSummary is the part of an event a plugin sees. The full payload stays
// with the engine: plugins get what they need to say which event an action
// is about, and JSON decoding in a guest is slow.
type EventSummary struct {
	ID         string
	Type       string
	Endpoint   string
	CustomerID string
	ReceivedAt time.Time
}

// Status is a plugin's verdict on one delivery.
type Status string

const (
	StatusOK    Status = abi.StatusOK    // delivered
	StatusRetry Status = abi.StatusRetry // not delivered; try again later
	StatusFail  Status = abi.StatusFail  // not delivered; trying again will not help
)

// Result is what a plugin answered.
type Result struct {
	Status  Status
	Message string
	// RetryAfter is the delay the plugin asked for before the next attempt
	// (e.g. from Slack's Retry-After); zero leaves it to the dispatcher.
	RetryAfter time.Duration
}

// Kind says what a plugin is for.
type Kind string

const (
	KindNotifier Kind = abi.KindNotifier
	KindStore    Kind = abi.KindStore
)

// Info is what a plugin's describe export reports. A plugin without describe
// has a zero Info apart from ABI.
type Info struct {
	ABI          int             `json:"abi"`
	Name         string          `json:"name"`
	Kind         Kind            `json:"kind"`
	Version      string          `json:"version"`
	ConfigSchema json.RawMessage `json:"configSchema,omitempty"`
	MaxInstances int             `json:"maxInstances,omitempty"`
}

// KV is the store behind the kv_get and kv_set host functions. Keys are
// scoped by plugin instance name: a plugin sees only its own. The engine's
// store implements it.
type KV interface {
	Get(ctx context.Context, plugin, key string) ([]byte, bool, error)
	Put(ctx context.Context, plugin, key string, value []byte) error
}

// Stats are a plugin's counters since the Host was created.
type Stats struct {
	Calls          uint64 // handle calls made
	Failures       uint64 // calls that ended in a host-side error
	Instantiations uint64 // instances created
	Replaced       uint64 // instances closed after a failure
	Recycled       uint64 // instances retired after MaxCallsPerInstance calls or memory growth
	PoolSize       int    // instances the pool may hold
	InUse          int    // instances serving a call now
}

// Host runs the plugins. It is safe for concurrent use.
type Host struct {
	cache     wazero.CompilationCache
	modules   *modules
	transport *http.Transport
	plugins   map[string]*plugin
	names     []string
	closed    atomic.Bool
}

// New loads every plugin in cfg: it compiles each module once (through the
// compilation cache), checks its exports and imports against the ABI,
// instantiates a first instance, reads its describe output and validates the
// plugin's config against the schema it declares. Any failure fails New.
func New(ctx context.Context, cfg Config, opts ...Option) (*Host, error) {
	o := newOptions(opts)
	cache := newCache(cfg.CacheDir, o.logger)
	if err := cfg.Validate(); err != nil {
		_ = cache.Close(ctx)
		return nil, err
	}
	h := &Host{
		cache:     cache,
		transport: newTransport(),
		plugins:   make(map[string]*plugin, len(cfg.Plugins)),
	}
	h.modules = newModules(h.deps(o))
	// Plugins load in parallel: startup is bounded by the slowest, not the
	// sum. Plugins of one module share its compiled code: the first to
	// need it compiles it, the others wait for it.
	loaded := make([]*plugin, len(cfg.Plugins))
	errs := make([]error, len(cfg.Plugins))
	var wg sync.WaitGroup
	for i, pc := range cfg.Plugins {
		wg.Go(func() { loaded[i], errs[i] = loadPlugin(ctx, pc, h.modules) })
	}
	wg.Wait()
	for i, pc := range cfg.Plugins {
		if loaded[i] != nil {
			h.plugins[pc.Name] = loaded[i]
			h.names = append(h.names, pc.Name)
		}
	}
	for i, pc := range cfg.Plugins {
		if errs[i] != nil {
			_ = h.Close(ctx) // closes the plugins that did load
			return nil, fmt.Errorf("load plugin %q: %w", pc.Name, errs[i])
		}
	}
	for i := range cfg.Plugins {
		p := loaded[i]
		p.log.Info("plugin loaded", "path", p.cfg.Path, "kind", p.info.Kind,
			"version", p.info.Version, "pool_size", cap(p.pool.slots),
			"compile", ms(p.loadTimes.compile), "instantiate", ms(p.loadTimes.instantiate),
			"describe", ms(p.loadTimes.describe))
	}
	slices.Sort(h.names)
	return h, nil
}

// ms rounds d for a log line.
func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

// newCache returns the compilation cache in dir, or one in memory if dir
// is empty or cannot be made (a full disk): the cache only saves compiling
// again after a restart.
func newCache(dir string, log hclog.Logger) wazero.CompilationCache {
	if dir != "" {
		c, err := wazero.NewCompilationCacheWithDir(dir)
		if err == nil {
			return c
		}
		log.Warn("the compilation cache cannot be opened; compiling in memory", "dir", dir, "error", err)
	}
	return wazero.NewCompilationCache()
}

func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

func (h *Host) deps(o options) deps {
	return deps{cache: h.cache, transport: h.transport, opts: o}
}

// Invoke delivers req to the plugin instance named plugin and returns its
// Result. The error is for host-side failures only: the plugin trapped, timed
// out, ran out of memory or broke the ABI, or the plugin or Host is unknown
// or closed. It is a *CallError; Retryable(err) says whether a later attempt
// may succeed. A plugin's own "retry" or "fail" is a Result, not an error.
func (h *Host) Invoke(ctx context.Context, plugin string, req Request) (Result, error) {
	p, ok := h.plugins[plugin]
	if !ok {
		return Result{}, &CallError{Plugin: plugin, Err: ErrUnknownPlugin}
	}
	if h.closed.Load() {
		return Result{}, &CallError{Plugin: plugin, Err: ErrClosed, Retryable: true}
	}
	return p.invoke(ctx, req)
}

// Describe returns what the plugin instance named plugin reported at load.
func (h *Host) Describe(plugin string) (Info, error) {
	p, ok := h.plugins[plugin]
	if !ok {
		return Info{}, fmt.Errorf("describe %s: %w", plugin, ErrUnknownPlugin)
	}
	return p.info, nil
}

// Plugins returns the names of the loaded plugin instances, sorted.
func (h *Host) Plugins() []string { return slices.Clone(h.names) }

// Stats returns the counters of the plugin instance named plugin.
func (h *Host) Stats(plugin string) (Stats, bool) {
	p, ok := h.plugins[plugin]
	if !ok {
		return Stats{}, false
	}
	st := p.stats.snapshot()
	st.PoolSize = cap(p.pool.slots)
	st.InUse = st.PoolSize - len(p.pool.slots)
	return st, true
}

// Close stops accepting calls, waits until ctx is done for calls in flight,
// then closes every instance and releases compiled code. Calls still running
// when ctx is done are aborted.
func (h *Host) Close(ctx context.Context) error {
	if h.closed.Swap(true) {
		return nil
	}
	for _, name := range h.names {
		h.plugins[name].close(ctx)
	}
	errs := []error{h.modules.close(context.WithoutCancel(ctx))}
	h.transport.CloseIdleConnections()
	errs = append(errs, h.cache.Close(context.WithoutCancel(ctx)))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close wasm host: %w", err)
	}
	return nil
}
