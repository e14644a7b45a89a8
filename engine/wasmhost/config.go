package wasmhost

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Defaults applied by the provisioning step to zero fields of PluginConfig.
const (
	DefaultPoolSize            = 4
	DefaultTimeout             = 10 * time.Second
	DefaultMemoryLimitPages    = 512 // 32 MiB
	DefaultMaxCallsPerInstance = 10000
	DefaultHTTPTimeout         = 5 * time.Second
	DefaultMaxResponseBytes    = 1 << 20
	DefaultMaxOutputBytes      = 64 << 10
)

// Config is what the host loads: the plugin instances routing can target, and
// where compiled code is cached.
type Config struct {
	// CacheDir holds wazero's compilation cache, so a restart does not
	// compile the plugins again (e.g. "<data-dir>/wasm-cache"). Empty keeps
	// the cache in memory for the life of the Host.
	CacheDir string `koanf:"cache_dir"`

	// Plugins are the plugin instances, each with a unique Name.
	Plugins []PluginConfig `koanf:"plugins"`
}

// PluginConfig is one plugin instance: a .wasm file with its own config,
// capabilities and limits. Several instances may share a file, e.g. two
// Slack channels. Zero limits take the Default… values.
type PluginConfig struct {
	// Name is what routing targets, e.g. "slack" or "console".
	Name string `koanf:"name"`
	// Path is the plugin's .wasm file.
	Path string `koanf:"path"`
	// Module, if set, is the module itself, for one that is not a file
	// (a plugin built into the binary); Path then only names it.
	Module []byte `koanf:"-" json:"-"`
	// Entry names the plugin within a module that holds several (the
	// bundled plugins are one module). Every instance is given it through
	// the module's select export, which the module must have; the plugin
	// it then describes must have this name. Empty for a module of one
	// plugin.
	Entry string `koanf:"entry"`
	// Config is the plugin's own configuration. It is validated at load
	// against the schema the plugin's describe export returns, and sent
	// with every call.
	Config json.RawMessage `koanf:"config"`
	// AllowHosts are the only hosts the plugin may reach with http, as
	// "host" (any port) or "host:port". Empty: no network at all.
	AllowHosts []string `koanf:"allow_hosts"`
	// Secrets are granted to the plugin by name: name → value.
	Secrets Secrets `koanf:"secrets"`

	PoolSize            int           `koanf:"pool_size"`              // instances at most
	Timeout             time.Duration `koanf:"timeout"`                // deadline of one call
	MemoryLimitPages    uint32        `koanf:"memory_limit_pages"`     // 64 KiB pages per instance
	MaxCallsPerInstance int           `koanf:"max_calls_per_instance"` // recycle after this many calls
	HTTPTimeout         time.Duration `koanf:"http_timeout"`           // one http request
	MaxResponseBytes    int64         `koanf:"max_response_bytes"`     // http response body
	MaxOutputBytes      int           `koanf:"max_output_bytes"`       // handle output JSON
}

// Validate checks cfg as New does before it loads anything: plugin names
// are unique and each plugin's settings are well-formed. It reads no files,
// so it is cheap enough to run before a slow load.
func (c Config) Validate() error {
	var errs []error
	seen := make(map[string]bool, len(c.Plugins))
	for _, pc := range c.Plugins {
		if seen[pc.Name] {
			errs = append(errs, fmt.Errorf("load plugin %q: duplicate name", pc.Name))
			continue
		}
		seen[pc.Name] = true
		if err := pc.withDefaults().validate(); err != nil {
			errs = append(errs, fmt.Errorf("load plugin %q: %w", pc.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Secrets maps a secret's name, as the plugin asks for it, to its value. Its
// String and GoString show names only, so printing a config leaks nothing.
type Secrets map[string]string

// String lists the secret names with their values redacted.
func (s Secrets) String() string {
	names := make([]string, 0, len(s))
	for name := range s {
		names = append(names, name+":[redacted]")
	}
	slices.Sort(names)
	return "map[" + strings.Join(names, " ") + "]"
}

// GoString is String, for %#v.
func (s Secrets) GoString() string { return s.String() }

// recycleFraction is how full an instance's memory may get, of its limit,
// before the instance is replaced after a call.
const recycleFraction = 0.75

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// withDefaults returns c with zero limits set to their defaults. It is the one
// provisioning step: nothing else fills in defaults.
func (c PluginConfig) withDefaults() PluginConfig {
	if c.PoolSize == 0 {
		c.PoolSize = DefaultPoolSize
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MemoryLimitPages == 0 {
		c.MemoryLimitPages = DefaultMemoryLimitPages
	}
	if c.MaxCallsPerInstance == 0 {
		c.MaxCallsPerInstance = DefaultMaxCallsPerInstance
	}
	if c.HTTPTimeout == 0 {
		c.HTTPTimeout = DefaultHTTPTimeout
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.MaxOutputBytes == 0 {
		c.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if len(c.Config) == 0 {
		c.Config = json.RawMessage(`{}`)
	}
	return c
}

// validate checks a provisioned PluginConfig. Errors never carry secret values.
func (c PluginConfig) validate() error {
	var errs []error
	if !namePattern.MatchString(c.Name) {
		errs = append(errs, fmt.Errorf("name %q: want lower-case letters, digits, '.', '_' or '-'", c.Name))
	}
	if c.Path == "" {
		errs = append(errs, errors.New("path is empty"))
	}
	if c.PoolSize < 0 {
		errs = append(errs, fmt.Errorf("pool_size %d is negative", c.PoolSize))
	}
	if c.Timeout < 0 || c.HTTPTimeout < 0 {
		errs = append(errs, errors.New("timeouts must not be negative"))
	}
	if c.MemoryLimitPages > 65536 {
		errs = append(errs, fmt.Errorf("memory_limit_pages %d exceeds 65536 (4 GiB)", c.MemoryLimitPages))
	}
	if c.MaxCallsPerInstance < 0 || c.MaxResponseBytes < 0 || c.MaxOutputBytes < 0 {
		errs = append(errs, errors.New("limits must not be negative"))
	}
	if !json.Valid(c.Config) {
		errs = append(errs, errors.New("config is not valid JSON"))
	}
	for _, h := range c.AllowHosts {
		if _, err := parseAllowHost(h); err != nil {
			errs = append(errs, err)
		}
	}
	for name := range c.Secrets {
		if name == "" {
			errs = append(errs, errors.New("secrets: empty secret name"))
		}
	}
	return errors.Join(errs...)
}

// allowHost is one allow_hosts entry; port is empty for "any port".
type allowHost struct{ host, port string }

func parseAllowHost(s string) (allowHost, error) {
	bad := func(why string) (allowHost, error) {
		return allowHost{}, fmt.Errorf("allow_hosts %q: %s", s, why)
	}
	if s == "" {
		return bad("empty")
	}
	if strings.ContainsAny(s, "/?#@ ") {
		return bad("want host or host:port, without scheme or path")
	}
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("bad port")
		}
	} else if strings.Count(s, ":") == 1 {
		return bad("bad port")
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "" {
		return bad("empty host")
	}
	return allowHost{host: host, port: port}, nil
}

// Option configures what a Host is given besides its Config.
type Option func(*options)

type options struct {
	logger hclog.Logger
	kv     KV
	now    func() time.Time
	// noCloseOnDone turns off wazero's CloseOnContextDone. Only the
	// benchmark that measures its cost sets it: without it a call has no
	// enforceable deadline, so it is not an exported option.
	noCloseOnDone bool
	// checkCacheDir is the compilation cache Check uses; tests share one.
	checkCacheDir string
}

// WithLogger sets the logger; each plugin logs under logger.Named(name).
// The default discards.
func WithLogger(l hclog.Logger) Option { return func(o *options) { o.logger = l } }

// WithKV sets the store behind kv_get and kv_set. Without one, those calls
// answer abi.CodeUnavailable.
func WithKV(kv KV) Option { return func(o *options) { o.kv = kv } }

// WithClock sets the clock behind now and the guest's WASI wall clock. The
// default is time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

func newOptions(opts []Option) options {
	o := options{logger: hclog.NewNullLogger(), now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
