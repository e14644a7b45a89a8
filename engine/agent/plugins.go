package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/arbiter-dev/arbiter/engine/config"
	"github.com/arbiter-dev/arbiter/engine/store"
	"github.com/arbiter-dev/arbiter/engine/wasmhost"
	"github.com/arbiter-dev/arbiter/plugins"
)

// bundledPrefix marks a plugin path that names a plugin built into the
// binary rather than a file.
const bundledPrefix = "bundled:"

// pluginLanes is the plugin host, loaded in the background. Loading takes
// a second or more when the compilation cache is empty (each Go module
// compiles for seconds of CPU), and nothing but delivery needs the plugins, so
// the agent serves before they are up: it accepts, queues and decides, and
// deliveries wait in the outbox. The dispatcher starts once every plugin
// has loaded. A plugin that fails to load stops the agent, as a bad
// configuration does.
type pluginLanes struct {
	cfg  wasmhost.Config
	opts []wasmhost.Option
	log  hclog.Logger

	cancel context.CancelFunc
	done   chan struct{}  // closed when loading has ended
	host   *wasmhost.Host // set before done is closed; nil if loading failed
	err    error          // why loading failed
}

// preparePlugins checks the plugin configuration, so that a mistake in it
// still fails New at once (only loading a module finds the rest); loading
// starts with start.
func (a *Agent) preparePlugins() (*pluginLanes, error) {
	hc := wasmhost.Config{CacheDir: filepath.Join(a.cfg.DataDir, "wasm-cache")}
	for _, p := range a.cfg.Plugins {
		entry, err := checkModule(p.Path)
		if err != nil {
			return nil, fmt.Errorf("plugin %s: %w", p.Name, err)
		}
		raw := []byte("{}")
		if p.Config != nil {
			var err error
			if raw, err = json.Marshal(p.Config); err != nil {
				return nil, fmt.Errorf("plugin %s: config: %w", p.Name, err)
			}
		}
		hc.Plugins = append(hc.Plugins, wasmhost.PluginConfig{
			Name: p.Name, Path: p.Path, Entry: entry, Config: raw, AllowHosts: p.AllowHosts, Secrets: p.Secrets,
			PoolSize: p.PoolSize, Timeout: p.Timeout, MemoryLimitPages: p.MemoryLimitPages,
			MaxCallsPerInstance: p.MaxCallsPerInstance, HTTPTimeout: p.HTTPTimeout,
			MaxResponseBytes: p.MaxResponseBytes, MaxOutputBytes: p.MaxOutputBytes,
		})
	}
	if err := hc.Validate(); err != nil {
		return nil, err
	}
	return &pluginLanes{
		cfg:  hc,
		opts: []wasmhost.Option{wasmhost.WithLogger(a.log.Named("plugin")), wasmhost.WithKV(a.store.PluginKV())},
		log:  a.log,
		done: make(chan struct{}),
	}, nil
}

// start loads the plugins in the background; done is closed when that
// ends. began is when the agent started, for the log.
func (l *pluginLanes) start(began time.Time) {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() {
		defer close(l.done)
		start := time.Now()
		var bundled []byte // read once: every bundled plugin is this one module
		for i, pc := range l.cfg.Plugins {
			if pc.Entry == "" || !strings.HasPrefix(pc.Path, bundledPrefix) {
				continue
			}
			if bundled == nil {
				if bundled, l.err = plugins.Module(); l.err != nil {
					return
				}
			}
			// From the binary itself, not a copy on disk: the compilation
			// cache keys on content, not on paths.
			l.cfg.Plugins[i].Module = bundled
		}
		l.host, l.err = wasmhost.New(ctx, l.cfg, l.opts...)
		if l.err == nil {
			l.log.Info("plugins ready", "plugins", len(l.cfg.Plugins), "took", sinceMs(start), "startup", sinceMs(began))
		}
	}()
}

// Status is "loading", "ready" or "failed".
func (l *pluginLanes) Status() string {
	select {
	case <-l.done:
		if l.err != nil {
			return "failed"
		}
		return "ready"
	default:
		return "loading"
	}
}

// Invoke is the host's. The dispatcher runs only after loading succeeded;
// the admin API may call it sooner.
func (l *pluginLanes) Invoke(ctx context.Context, plugin string, req wasmhost.Request) (wasmhost.Result, error) {
	h := l.loaded()
	if h == nil {
		return wasmhost.Result{}, fmt.Errorf("invoke %s: plugins are %s", plugin, l.Status())
	}
	return h.Invoke(ctx, plugin, req)
}

// Describe is the host's, once the plugins are loaded.
func (l *pluginLanes) Describe(plugin string) (wasmhost.Info, error) {
	h := l.loaded()
	if h == nil {
		return wasmhost.Info{}, fmt.Errorf("describe %s: plugins are %s", plugin, l.Status())
	}
	return h.Describe(plugin)
}

// Stats is the host's, once the plugins are loaded.
func (l *pluginLanes) Stats(plugin string) (wasmhost.Stats, bool) {
	h := l.loaded()
	if h == nil {
		return wasmhost.Stats{}, false
	}
	return h.Stats(plugin)
}

// loaded is the host once loading succeeded, else nil.
func (l *pluginLanes) loaded() *wasmhost.Host {
	select {
	case <-l.done:
		return l.host
	default:
		return nil
	}
}

// close stops a load in progress at its next step and closes the host. It
// waits for the load to end until ctx is done.
func (l *pluginLanes) close(ctx context.Context) error {
	if l.cancel == nil {
		return nil // never started
	}
	l.cancel()
	select {
	case <-l.done:
	case <-ctx.Done():
		return fmt.Errorf("plugins still loading: %w", ctx.Err())
	}
	if l.host == nil {
		return nil
	}
	return l.host.Close(ctx)
}

// checkModule checks that a plugin's path names a module: a file, or a
// plugin built into the binary ("bundled:<name>"), whose entry in the
// bundled module it returns.
func checkModule(path string) (entry string, err error) {
	name, ok := strings.CutPrefix(path, bundledPrefix)
	if !ok {
		_, err := os.Stat(path)
		return "", err
	}
	if !plugins.IsBundled(name) {
		return "", fmt.Errorf("no bundled plugin %q; the bundled plugins are %s", name, strings.Join(plugins.BundledNames, ", "))
	}
	if !plugins.Built() {
		return "", plugins.ErrNotBuilt
	}
	return name, nil
}

var _ wasmhost.KV = store.PluginKV{}

// pluginNames lists configured plugin instance names.
func pluginNames(ps []config.Plugin) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}
