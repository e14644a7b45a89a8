// Package config loads Arbiter's configuration: built-in defaults, then one
// YAML file, then the seed agent's environment (PORT,
// PACSPACE_WEBHOOK_SECRET), then ARBITER_* variables, then flags. Unknown
// keys are errors at every layer so that a typo never silently falls back to
// a default.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// EnvConfigFile names the YAML file when --config is not given.
const EnvConfigFile = "ARBITER_CONFIG"

// EnvAdminToken sets one admin bearer token (admin.tokens takes a list).
const EnvAdminToken = "ARBITER_ADMIN_TOKEN"

// DefaultEndpoint is the endpoint name PacSpace's examples post to.
const DefaultEndpoint = "pacspace"

// Config is the whole agent configuration.
type Config struct {
	Listen   string        `koanf:"listen"`
	DataDir  string        `koanf:"data_dir"`
	Shutdown time.Duration `koanf:"shutdown_timeout"`
	Log      Log           `koanf:"log"`
	Store    Store         `koanf:"store"`
	Receiver Receiver      `koanf:"receiver"`
	// Endpoints declared here are authoritative for their names; endpoints
	// created at run time live in the store.
	Endpoints map[string]Endpoint `koanf:"endpoints"`
	Policy    Policy              `koanf:"policy"`
	Inbox     Inbox               `koanf:"inbox"`
	Worker    Worker              `koanf:"worker"`
	Admin     Admin               `koanf:"admin"`
	// Plugins are the plugin instances routing can target. Setting the list
	// replaces the default, which is the bundled console plugin alone.
	Plugins  []Plugin `koanf:"plugins"`
	Dispatch Dispatch `koanf:"dispatch"`
	Console  Console  `koanf:"console"`
}

// Plugin is one plugin instance.
type Plugin struct {
	Name string `koanf:"name"`
	// Path is a .wasm file, or "bundled:<name>" for a plugin built into the
	// binary (console, slack, pagerduty, webhook, auditlog).
	Path       string            `koanf:"path"`
	Config     map[string]any    `koanf:"config"`
	AllowHosts []string          `koanf:"allow_hosts"`
	Secrets    map[string]string `koanf:"secrets"`

	PoolSize            int           `koanf:"pool_size"`
	Timeout             time.Duration `koanf:"timeout"`
	MemoryLimitPages    uint32        `koanf:"memory_limit_pages"`
	MaxCallsPerInstance int           `koanf:"max_calls_per_instance"`
	HTTPTimeout         time.Duration `koanf:"http_timeout"`
	MaxResponseBytes    int64         `koanf:"max_response_bytes"`
	MaxOutputBytes      int           `koanf:"max_output_bytes"`
}

// Dispatch tunes action delivery.
type Dispatch struct {
	MaxAttempts int           `koanf:"max_attempts"` // then the delivery is failed (dead letter)
	BaseDelay   time.Duration `koanf:"base_delay"`   // first retry window
	MaxDelay    time.Duration `koanf:"max_delay"`    // cap of any retry delay
	Concurrency int           `koanf:"concurrency"`  // in-flight deliveries per plugin
}

// DefaultPlugins is the plugin list when none is configured: the console
// plugin, which the default routing sends every action to.
func DefaultPlugins() []Plugin {
	return []Plugin{{Name: "console", Path: "bundled:console"}}
}

// Policy selects the Rego policy set.
type Policy struct {
	// Dir is a policy directory to load, watch and hot-reload; empty uses
	// the bundled default set built into the binary.
	Dir string `koanf:"dir"`
	// Data is deep-merged over the set's data.json, e.g.
	// {thresholds: {drift: 0.05}}.
	Data map[string]any `koanf:"data"`
	// BundleURL loads a signed OPA bundle (opa build --signing-key)
	// instead of Dir, and polls it every BundlePollInterval.
	BundleURL string `koanf:"bundle_url"`
	// BundleVerificationKey is the PEM public key, or the HMAC secret, the
	// bundle's signature must verify with; BundleVerificationKeyFile reads
	// it from a file. One of them is required with BundleURL.
	BundleVerificationKey     string        `koanf:"bundle_verification_key"`
	BundleVerificationKeyFile string        `koanf:"bundle_verification_key_file"`
	BundleSigningAlg          string        `koanf:"bundle_signing_alg"` // RS256, ES256, HS256, …
	BundlePollInterval        time.Duration `koanf:"bundle_poll_interval"`
	// BundleStartTimeout is how long a first start, with no last good
	// bundle in the data directory, waits for the bundle server.
	BundleStartTimeout time.Duration `koanf:"bundle_start_timeout"`
}

// Inbox tunes how acknowledged events move from the journal into the store.
type Inbox struct {
	BatchSize int `koanf:"batch_size"` // events per store transaction
	// MaxLag is how long loading may give way to a stream of
	// acknowledgements before it catches up; 0: it never gives way.
	MaxLag time.Duration `koanf:"max_lag"`
	// MaxBacklog is how many acknowledged events may wait to be loaded;
	// past it webhooks are answered 503 until the backlog shrinks.
	MaxBacklog int `koanf:"max_backlog"`
}

// Worker tunes event processing.
type Worker struct {
	Partitions int           `koanf:"partitions"` // 0: one per CPU
	BatchSize  int           `koanf:"batch_size"`
	Grace      time.Duration `koanf:"grace"` // how long an out-of-order event waits for its predecessor
}

// Admin configures the operator API.
type Admin struct {
	// Listen serves /v1 on its own address; empty serves it on the main
	// listener.
	Listen string `koanf:"listen"`
	// Tokens are the accepted bearer tokens. With none configured the first
	// run generates one, shows it once and keeps it in the store.
	Tokens []string `koanf:"tokens"`
	// ReadOnlyTokens may read everything and change nothing: the API and
	// the console answer 403 to what they may not do.
	ReadOnlyTokens []string `koanf:"read_only_tokens"`
}

// Console configures the operator console, served at /ui/ beside the
// admin API.
type Console struct {
	// BasePath is the path prefix a reverse proxy serves Arbiter under and
	// strips before forwarding, such as /arbiter: the console puts it in
	// front of its links, redirects and cookie path. Empty: none.
	BasePath string `koanf:"base_path"`
	// SessionIdle ends a session unused for this long; SessionMax ends
	// every session this long after its login.
	SessionIdle time.Duration `koanf:"session_idle"`
	SessionMax  time.Duration `koanf:"session_max"`
	// SecureCookie marks the session cookie Secure even when requests
	// arrive over plain HTTP, as from a proxy that terminates TLS. Over
	// TLS it is always Secure.
	SecureCookie bool `koanf:"secure_cookie"`
}

// Log selects the log level and format.
type Log struct {
	Level  string `koanf:"level"`  // trace, debug, info, warn, error
	Format string `koanf:"format"` // text or json
}

// Store selects the storage backend.
type Store struct {
	Driver string `koanf:"driver"` // sqlite
	// DSN overrides the SQLite file (default <data_dir>/arbiter.db).
	DSN string `koanf:"dsn"`
	// MaxBatch bounds how many acknowledgements share one journal commit.
	MaxBatch int `koanf:"max_batch"`
	// Sync is "full" (fsync per journal group commit and store commit:
	// survives power loss) or "normal" (survives process crashes only).
	Sync string `koanf:"sync"`
}

// Receiver tunes the webhook edge.
type Receiver struct {
	MaxBodyBytes int64         `koanf:"max_body_bytes"`
	Tolerance    time.Duration `koanf:"tolerance"` // v1 timestamp window
}

// Endpoint declares one webhook endpoint.
// The zero value is an enabled endpoint that accepts both schemes.
type Endpoint struct {
	Secrets []string `koanf:"secrets"`
	// RefuseLegacy rejects the timestamp-less sha256= scheme, which a
	// captured request can replay forever.
	RefuseLegacy bool `koanf:"refuse_legacy"`
	Disabled     bool `koanf:"disabled"`
}

// Default returns the built-in configuration.
func Default() Config {
	return Config{
		Listen:   ":3000",
		DataDir:  "./data",
		Shutdown: 30 * time.Second,
		Log:      Log{Level: "info", Format: "text"},
		Store:    Store{Driver: "sqlite", MaxBatch: 256, Sync: "full"},
		Receiver: Receiver{MaxBodyBytes: 1 << 20, Tolerance: 5 * time.Minute},
		Endpoints: map[string]Endpoint{
			DefaultEndpoint: {},
		},
		Inbox:    Inbox{BatchSize: 1024, MaxLag: 30 * time.Second, MaxBacklog: 1_000_000},
		Policy:   Policy{BundleSigningAlg: "RS256", BundlePollInterval: time.Minute, BundleStartTimeout: 30 * time.Second},
		Worker:   Worker{BatchSize: 256, Grace: 30 * time.Second},
		Dispatch: Dispatch{MaxAttempts: 8, BaseDelay: time.Second, MaxDelay: 10 * time.Minute, Concurrency: 4},
		Plugins:  DefaultPlugins(),
		Console:  Console{SessionIdle: 30 * time.Minute, SessionMax: 12 * time.Hour},
	}
}

// Sources says where to read from. Zero values read nothing.
type Sources struct {
	File    string         // YAML file; empty for none
	Environ []string       // KEY=VALUE pairs, normally os.Environ()
	Flags   *pflag.FlagSet // flags named after config keys (--log-level → log.level)
	// NotConfig names ARBITER_ variables that other commands read (the
	// admin client's ARBITER_SERVER): they are neither keys nor errors.
	NotConfig []string
}

// Load builds the configuration from defaults and src, and validates it.
func Load(src Sources) (Config, error) {
	k := koanf.New(".")
	def := Default()
	if err := k.Load(confmap.Provider(toMap(def), "."), nil); err != nil {
		return Config{}, fmt.Errorf("config: defaults: %w", err)
	}
	known := leafKeys(k)
	if src.File != "" {
		if _, err := os.Stat(src.File); err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		if err := k.Load(file.Provider(src.File), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("config: %s: %w", src.File, err)
		}
	}
	env, err := envLayer(src.Environ, known, src.NotConfig)
	if err != nil {
		return Config{}, err
	}
	if err := k.Load(confmap.Provider(env, "."), nil); err != nil {
		return Config{}, fmt.Errorf("config: environment: %w", err)
	}
	if src.Flags != nil {
		// --data-dir is data_dir and --log-level is log.level.
		byFlag := make(map[string]string, len(known))
		for key := range known {
			byFlag[strings.NewReplacer(".", "-", "_", "-").Replace(key)] = key
		}
		p := posflag.ProviderWithFlag(src.Flags, ".", k, func(f *pflag.Flag) (string, any) {
			key, ok := byFlag[f.Name]
			if !ok {
				return "", nil // a flag that is not a config key
			}
			return key, posflag.FlagVal(src.Flags, f)
		})
		if err := k.Load(p, nil); err != nil {
			return Config{}, fmt.Errorf("config: flags: %w", err)
		}
	}
	var c Config
	err = k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{DecoderConfig: &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
		ErrorUnused:      true,
		WeaklyTypedInput: true,
		Result:           &c,
		TagName:          "koanf",
	}})
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if !k.Exists("plugins") {
		c.Plugins = DefaultPlugins()
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks values that decoding alone cannot.
func (c Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("listen: must not be empty"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: must not be empty"))
	}
	if !slices.Contains([]string{"trace", "debug", "info", "warn", "error"}, c.Log.Level) {
		errs = append(errs, fmt.Errorf("log.level: %q is not one of trace, debug, info, warn, error", c.Log.Level))
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		errs = append(errs, fmt.Errorf("log.format: %q is not text or json", c.Log.Format))
	}
	if c.Store.Driver != "sqlite" {
		errs = append(errs, fmt.Errorf("store.driver: %q is not supported (sqlite)", c.Store.Driver))
	}
	if c.Store.Sync != "full" && c.Store.Sync != "normal" {
		errs = append(errs, fmt.Errorf("store.sync: %q is not full or normal", c.Store.Sync))
	}
	if c.Store.MaxBatch < 1 {
		errs = append(errs, errors.New("store.max_batch: must be at least 1"))
	}
	if c.Receiver.MaxBodyBytes < 1 {
		errs = append(errs, errors.New("receiver.max_body_bytes: must be positive"))
	}
	if c.Receiver.Tolerance <= 0 {
		errs = append(errs, errors.New("receiver.tolerance: must be positive"))
	}
	if c.Inbox.BatchSize < 1 {
		errs = append(errs, errors.New("inbox.batch_size: must be at least 1"))
	}
	if c.Inbox.MaxLag < 0 {
		errs = append(errs, errors.New("inbox.max_lag: must not be negative"))
	}
	if c.Inbox.MaxBacklog < 1 {
		errs = append(errs, errors.New("inbox.max_backlog: must be at least 1"))
	}
	if c.Worker.Partitions < 0 {
		errs = append(errs, errors.New("worker.partitions: must not be negative"))
	}
	if c.Worker.BatchSize < 1 {
		errs = append(errs, errors.New("worker.batch_size: must be at least 1"))
	}
	if c.Worker.Grace <= 0 {
		errs = append(errs, errors.New("worker.grace: must be positive"))
	}
	errs = append(errs, c.Policy.validate()...)
	names := map[string]bool{}
	for i, p := range c.Plugins {
		switch {
		case p.Name == "":
			errs = append(errs, fmt.Errorf("plugins[%d].name: must not be empty", i))
		case names[p.Name]:
			errs = append(errs, fmt.Errorf("plugins[%d].name: %q is used twice", i, p.Name))
		}
		names[p.Name] = true
		if p.Path == "" {
			errs = append(errs, fmt.Errorf("plugins[%d].path: must not be empty", i))
		}
	}
	if c.Dispatch.MaxAttempts < 1 {
		errs = append(errs, errors.New("dispatch.max_attempts: must be at least 1"))
	}
	if c.Dispatch.Concurrency < 1 {
		errs = append(errs, errors.New("dispatch.concurrency: must be at least 1"))
	}
	if c.Dispatch.BaseDelay <= 0 || c.Dispatch.MaxDelay < c.Dispatch.BaseDelay {
		errs = append(errs, errors.New("dispatch: base_delay must be positive and at most max_delay"))
	}
	for i, t := range c.Admin.Tokens {
		if len(t) < 16 {
			errs = append(errs, fmt.Errorf("admin.tokens[%d]: shorter than 16 characters", i))
		}
	}
	errs = append(errs, c.Admin.validateReadOnly()...)
	errs = append(errs, c.Console.validate()...)
	if c.Shutdown <= 0 {
		errs = append(errs, errors.New("shutdown_timeout: must be positive"))
	}
	for name, ep := range c.Endpoints {
		if !ValidEndpointName(name) {
			errs = append(errs, fmt.Errorf("endpoints.%s: name must be 1-64 of [a-z0-9_-]", name))
		}
		for i, s := range ep.Secrets {
			if len(s) < 16 {
				errs = append(errs, fmt.Errorf("endpoints.%s.secrets[%d]: shorter than 16 characters", name, i))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}

func (p Policy) validate() []error {
	if p.BundleURL == "" {
		return nil
	}
	var errs []error
	if p.Dir != "" {
		errs = append(errs, errors.New("policy: set dir or bundle_url, not both"))
	}
	if (p.BundleVerificationKey == "") == (p.BundleVerificationKeyFile == "") {
		errs = append(errs, errors.New("policy.bundle_url: set one of bundle_verification_key or bundle_verification_key_file (bundles must be signed)"))
	}
	if p.BundlePollInterval <= 0 {
		errs = append(errs, errors.New("policy.bundle_poll_interval: must be positive"))
	}
	return errs
}

func (a Admin) validateReadOnly() []error {
	var errs []error
	for i, t := range a.ReadOnlyTokens {
		switch {
		case len(t) < 16:
			errs = append(errs, fmt.Errorf("admin.read_only_tokens[%d]: shorter than 16 characters", i))
		case slices.Contains(a.Tokens, t):
			errs = append(errs, fmt.Errorf("admin.read_only_tokens[%d]: also in admin.tokens", i))
		}
	}
	return errs
}

func (c Console) validate() []error {
	var errs []error
	if p := c.BasePath; p != "" && (!strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") ||
		strings.ContainsAny(p, "?#\"") || strings.Contains(p, "//")) {
		errs = append(errs, fmt.Errorf("console.base_path: %q must start with / and not end with one, such as /arbiter", p))
	}
	if c.SessionIdle <= 0 {
		errs = append(errs, errors.New("console.session_idle: must be positive"))
	}
	if c.SessionMax < c.SessionIdle {
		errs = append(errs, errors.New("console.session_max: must be at least console.session_idle"))
	}
	return errs
}

// ValidEndpointName reports whether name can be used in /webhooks/{name}.
func ValidEndpointName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// envLayer maps the environment onto config keys. ARBITER_DATA_DIR is
// data_dir and ARBITER_LOG_LEVEL is log.level: each variable is matched
// against the known keys, so underscores inside names stay unambiguous. An
// ARBITER_ variable that matches no key is an error.
func envLayer(environ []string, known map[string]struct{}, notConfig []string) (map[string]any, error) {
	byEnv := make(map[string]string, len(known))
	for key := range known {
		byEnv["ARBITER_"+strings.ToUpper(strings.NewReplacer(".", "_").Replace(key))] = key
	}
	out := map[string]any{}
	var unknown []string
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		switch {
		case name == "PORT" && val != "":
			out["listen"] = ":" + val
		case name == "PACSPACE_WEBHOOK_SECRET" && val != "":
			out["endpoints."+DefaultEndpoint+".secrets"] = val
		case name == EnvAdminToken && val != "":
			out["admin.tokens"] = val
		case name == EnvConfigFile || slices.Contains(notConfig, name):
			// names the file, or belongs to another command
		case strings.HasPrefix(name, "ARBITER_"):
			key, ok := byEnv[name]
			if !ok {
				unknown = append(unknown, name)
				continue
			}
			out[key] = val
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("config: unknown environment variables %s", strings.Join(unknown, ", "))
	}
	return out, nil
}

// leafKeys lists the keys of scalar settings (maps of endpoints excluded:
// they are set in the file).
func leafKeys(k *koanf.Koanf) map[string]struct{} {
	out := map[string]struct{}{}
	for _, key := range k.Keys() {
		if strings.HasPrefix(key, "endpoints.") || strings.HasPrefix(key, "policy.data.") {
			continue
		}
		out[key] = struct{}{}
	}
	return out
}

// toMap flattens c into koanf keys using the koanf tags.
func toMap(c Config) map[string]any {
	out := map[string]any{}
	flatten("", reflect.ValueOf(c), out)
	return out
}

func flatten(prefix string, v reflect.Value, out map[string]any) {
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			tag := t.Field(i).Tag.Get("koanf")
			if tag == "" || tag == "plugins" {
				continue // plugins: a list the file replaces whole, defaulted after decoding
			}
			flatten(join(prefix, tag), v.Field(i), out)
		}
	case reflect.Map:
		for _, mk := range v.MapKeys() {
			flatten(join(prefix, mk.String()), v.MapIndex(mk), out)
		}
	case reflect.Int64:
		if d, ok := v.Interface().(time.Duration); ok {
			out[prefix] = d.String()
			return
		}
		out[prefix] = v.Int()
	default:
		out[prefix] = v.Interface()
	}
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}
