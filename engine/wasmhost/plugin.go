package wasmhost

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/arbiter-dev/arbiter/plugins/abi"
	"github.com/hashicorp/go-hclog"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// deps are what every plugin shares with its Host.
type deps struct {
	cache     wazero.CompilationCache
	transport *http.Transport
	opts      options
}

// plugin is one loaded plugin instance: its compiled module, in a runtime
// it may share with other plugin instances of that module, and a pool of
// guest instances of its own.
type plugin struct {
	name         string
	cfg          PluginConfig
	log          hclog.Logger
	mod          *module
	modConfig    wazero.ModuleConfig
	info         Info
	allow        []allowHost
	client       *http.Client
	redact       *redactor
	kv           KV
	now          func() time.Time
	pool         *pool
	recycleBytes uint64
	limitBytes   uint64
	stats        counters
	loadTimes    loadTimes
}

// loadTimes are how long a plugin's load steps took, for the startup log.
type loadTimes struct {
	compile     time.Duration // decode, validate and compile (or load from the cache); zero if another plugin did
	instantiate time.Duration // the first instance, _initialize included
	describe    time.Duration // describe and config validation
}

// loadPlugin runs every load step, taking the module from mods.
func loadPlugin(ctx context.Context, cfg PluginConfig, mods *modules) (_ *plugin, err error) {
	p, err := newPlugin(cfg, mods.d)
	if err != nil {
		return nil, err
	}
	var compile time.Duration
	if p.mod, compile, err = mods.get(ctx, p.cfg); err != nil {
		return nil, err
	}
	if err := p.checkEntry(); err != nil {
		return nil, err
	}
	compiled := time.Now()
	first, err := p.newInstance(ctx)
	if err != nil {
		return nil, err
	}
	instantiated := time.Now()
	if err := p.describe(ctx, first); err != nil {
		first.close(ctx)
		return nil, err
	}
	if err := p.validateConfig(); err != nil {
		first.close(ctx)
		return nil, err
	}
	p.loadTimes = loadTimes{compile, instantiated.Sub(compiled), time.Since(instantiated)}
	size := p.cfg.PoolSize
	if m := p.info.MaxInstances; m > 0 && m < size {
		size = m
	}
	p.pool = newPool(size, first)
	return p, nil
}

// newPlugin provisions cfg; its module is set by the caller.
func newPlugin(cfg PluginConfig, d deps) (*plugin, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, cfg.Config); err == nil {
		cfg.Config = compact.Bytes() // it is sent with every call
	}
	p := &plugin{
		name:         cfg.Name,
		cfg:          cfg,
		log:          d.opts.logger.Named(cfg.Name),
		redact:       newRedactor(cfg.Secrets),
		kv:           d.opts.kv,
		now:          d.opts.now,
		limitBytes:   uint64(cfg.MemoryLimitPages) * 65536,
		recycleBytes: uint64(float64(cfg.MemoryLimitPages)*recycleFraction) * 65536,
	}
	for _, h := range cfg.AllowHosts {
		a, _ := parseAllowHost(h) // validated above
		p.allow = append(p.allow, a)
	}
	p.client = &http.Client{Transport: d.transport, CheckRedirect: p.checkRedirect}

	now := p.now
	p.modConfig = wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions("_initialize").
		WithRandSource(rand.Reader).
		WithSysNanotime().
		WithWalltime(func() (int64, int32) {
			t := now()
			return t.Unix(), int32(t.Nanosecond())
		}, sys.ClockResolution(1))
	return p, nil
}

// checkEntry refuses an entry for a module that cannot select it.
func (p *plugin) checkEntry() error {
	if p.cfg.Entry != "" && !p.mod.hasSelect {
		return fmt.Errorf("entry %q: guest does not export func[%s]; want %s", p.cfg.Entry, abi.FuncSelect, abi.SigSelect)
	}
	return nil
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

type signature struct {
	params, results []api.ValueType
	text            string
}

var guestExports = []struct {
	name     string
	sig      signature
	required bool
}{
	{abi.FuncAlloc, signature{[]api.ValueType{i32}, []api.ValueType{i32}, abi.SigAlloc}, true},
	{abi.FuncHandle, signature{[]api.ValueType{i32, i32}, []api.ValueType{i64}, abi.SigHandle}, true},
	{abi.FuncDescribe, signature{nil, []api.ValueType{i64}, abi.SigDescribe}, false},
	{abi.FuncSelect, signature{[]api.ValueType{i32, i32}, []api.ValueType{i32}, abi.SigSelect}, false},
}

var hostImports = map[string]signature{
	abi.FuncLog:        {[]api.ValueType{i32, i32, i32}, nil, abi.SigLog},
	abi.FuncNow:        {nil, []api.ValueType{i64}, abi.SigNow},
	abi.FuncHTTP:       {[]api.ValueType{i32, i32}, []api.ValueType{i64}, abi.SigHTTP},
	abi.FuncKVGet:      {[]api.ValueType{i32, i32}, []api.ValueType{i64}, abi.SigKVGet},
	abi.FuncKVSet:      {[]api.ValueType{i32, i32, i32, i32}, []api.ValueType{i64}, abi.SigKVSet},
	abi.FuncSecret:     {[]api.ValueType{i32, i32}, []api.ValueType{i64}, abi.SigSecret},
	abi.FuncReadResult: {[]api.ValueType{i32, i32}, []api.ValueType{i32}, abi.SigReadResult},
}

func (s signature) matches(def api.FunctionDefinition) bool {
	return equalTypes(def.ParamTypes(), s.params) && equalTypes(def.ResultTypes(), s.results)
}

func equalTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// describeSig renders a definition's signature like the sig… constants.
func describeSig(def api.FunctionDefinition) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, t := range ts {
			s[i] = api.ValueTypeName(t)
		}
		return strings.Join(s, ", ")
	}
	s := "(" + names(def.ParamTypes()) + ")"
	if len(def.ResultTypes()) > 0 {
		s += " -> (" + names(def.ResultTypes()) + ")"
	}
	return s
}

// abiError is a module that does not fit the ABI: its exports, imports or
// both.
type abiError struct{ exports, imports error }

func (e *abiError) Error() string { return errors.Join(e.exports, e.imports).Error() }

// checkExports verifies memory, alloc, handle and, if present, describe and
// select.
func checkExports(m wazero.CompiledModule) error {
	var errs []error
	if _, ok := m.ExportedMemories()["memory"]; !ok {
		errs = append(errs, errors.New(`guest does not export memory "memory"`))
	}
	fns := m.ExportedFunctions()
	for _, e := range guestExports {
		def, ok := fns[e.name]
		switch {
		case !ok && e.required:
			errs = append(errs, fmt.Errorf("guest does not export func[%s]; want %s", e.name, e.sig.text))
		case ok && !e.sig.matches(def):
			errs = append(errs, fmt.Errorf("guest exports func[%s] with signature %s; want %s",
				e.name, describeSig(def), e.sig.text))
		}
	}
	return errors.Join(errs...)
}

// checkImports allows only the host module, with the ABI's signatures, and
// WASI.
func checkImports(m wazero.CompiledModule) error {
	var errs []error
	for _, def := range m.ImportedFunctions() {
		mod, name, _ := def.Import()
		switch mod {
		case wasi_snapshot_preview1.ModuleName:
		case abi.HostModule:
			sig, ok := hostImports[name]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("guest imports unknown func[%s.%s]", mod, name))
			case !sig.matches(def):
				errs = append(errs, fmt.Errorf("guest imports func[%s.%s] with signature %s; want %s",
					mod, name, describeSig(def), sig.text))
			}
		default:
			errs = append(errs, fmt.Errorf("guest imports func[%s.%s] from a module the host does not provide", mod, name))
		}
	}
	for _, def := range m.ImportedMemories() {
		mod, name, _ := def.Import()
		errs = append(errs, fmt.Errorf("guest imports memory %s.%s; it must define and export its own", mod, name))
	}
	return errors.Join(errs...)
}

// describe calls the describe export on in, if the guest has one.
func (p *plugin) describe(ctx context.Context, in *instance) error {
	p.info = Info{ABI: abi.ABIVersion}
	if !p.mod.hasDescribe {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	out, err := in.callDescribe(withState(cctx, p.newState("")))
	if err != nil {
		return fmt.Errorf("call describe: %s", p.classify(cctx, in, err).Error())
	}
	info, err := parseInfo(out, p.cfg.Entry)
	if err != nil {
		return fmt.Errorf("describe output: %w", err)
	}
	if p.cfg.Entry != "" && info.Name != p.cfg.Entry {
		return fmt.Errorf("describe output: the module describes plugin %q, not entry %q", info.Name, p.cfg.Entry)
	}
	p.info = info
	return nil
}

// entryError is an instance serving no plugin: one of a module that holds
// several, given no entry, or one whose select refused the entry. plugins
// are the module's, if its describe listed them.
type entryError struct {
	entry   string
	plugins []string
	status  uint32 // what select returned
}

func (e *entryError) Error() string {
	holds := strings.Join(e.plugins, ", ")
	switch {
	case e.entry == "":
		return "the module holds several plugins (" + holds + "); choose one with an entry"
	case len(e.plugins) == 0:
		return fmt.Sprintf("the module holds no plugin %q (select returned %d)", e.entry, e.status)
	}
	return fmt.Sprintf("the module holds no plugin %q; it holds %s", e.entry, holds)
}

// selectEntry tells a new instance which plugin it serves. When the module
// refuses, its describe, now serving none, lists the plugins it holds.
func (p *plugin) selectEntry(ctx context.Context, in *instance) error {
	status, err := in.callSelect(ctx, p.cfg.Entry)
	if err != nil || status == 0 {
		return err
	}
	e := &entryError{entry: p.cfg.Entry, status: status}
	if in.describe != nil {
		if out, err := in.callDescribe(ctx); err == nil {
			var list struct {
				Plugins []string `json:"plugins"`
			}
			if json.Unmarshal(out, &list) == nil {
				e.plugins = list.Plugins
			}
		}
	}
	return e
}

// parseInfo parses describe's output for an instance given entry.
func parseInfo(out []byte, entry string) (Info, error) {
	var info struct {
		Info
		Plugins []string `json:"plugins"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return Info{}, fmt.Errorf("not a JSON object: %w", err)
	}
	if info.Name == "" && len(info.Plugins) > 0 {
		return Info{}, &entryError{entry: entry, plugins: info.Plugins}
	}
	return checkInfo(info.Info)
}

func checkInfo(info Info) (Info, error) {
	if info.ABI == 0 {
		info.ABI = abi.ABIVersion
	}
	var errs []error
	if info.ABI != abi.ABIVersion {
		errs = append(errs, fmt.Errorf("abi %d, host speaks %d", info.ABI, abi.ABIVersion))
	}
	if info.Name == "" {
		errs = append(errs, errors.New("name is empty"))
	}
	if info.Kind != KindNotifier && info.Kind != KindStore {
		errs = append(errs, fmt.Errorf("kind %q, want %q or %q", info.Kind, KindNotifier, KindStore))
	}
	if info.Version == "" {
		errs = append(errs, errors.New("version is empty"))
	}
	if info.MaxInstances < 0 {
		errs = append(errs, fmt.Errorf("maxInstances %d is negative", info.MaxInstances))
	}
	if len(info.ConfigSchema) > 0 && !bytes.Equal(info.ConfigSchema, []byte("null")) {
		if _, err := compileSchema(info.ConfigSchema); err != nil {
			errs = append(errs, fmt.Errorf("configSchema: %w", err))
		}
	} else {
		info.ConfigSchema = nil
	}
	return info, errors.Join(errs...)
}

// noLoader refuses every $ref outside the schema: a plugin's schema must not
// make the host read files or fetch URLs.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external reference %s not allowed", url)
}

const schemaURL = "plugin:///config.schema.json"

func compileSchema(raw json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	return c.Compile(schemaURL)
}

// validateConfig checks the operator's config for the plugin against the
// schema the plugin declared.
func (p *plugin) validateConfig() error {
	if p.info.ConfigSchema == nil {
		return nil
	}
	sch, err := compileSchema(p.info.ConfigSchema)
	if err != nil {
		return fmt.Errorf("config schema: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(p.cfg.Config))
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := sch.Validate(doc); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("config does not match the plugin's schema: %s", oneLine(ve.Error()))
		}
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// invoke runs one delivery on a pooled instance.
func (p *plugin) invoke(ctx context.Context, req Request) (Result, error) {
	if !isJSONObject(req.Action) {
		return Result{}, &CallError{Plugin: p.name, Err: ErrBadRequest, Detail: "action is not a JSON object"}
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()

	in, err := p.pool.get(ctx, p)
	if err != nil {
		p.stats.failures.Add(1)
		return Result{}, p.acquireError(ctx, err)
	}
	p.stats.calls.Add(1)
	state := p.newState(req.DeliveryID)
	in.buf = appendInput(in.buf[:0], &req, p.cfg.Config)
	out, err := in.callHandle(withState(ctx, state), in.buf, p.cfg.MaxOutputBytes)
	if err != nil {
		ce := p.classify(ctx, in, err)
		p.fail(in, ce, req.DeliveryID)
		return Result{}, ce
	}
	res, err := parseOutput(out)
	if err != nil {
		ce := &CallError{Plugin: p.name, Err: ErrBadOutput, Detail: p.redact.string(err.Error())}
		p.fail(in, ce, req.DeliveryID)
		return Result{}, ce
	}
	res.Message = p.redact.string(res.Message)
	p.release(in)
	return res, nil
}

func (p *plugin) acquireError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, ErrClosed):
		return &CallError{Plugin: p.name, Err: ErrClosed, Retryable: true}
	case errors.Is(err, context.DeadlineExceeded):
		return &CallError{Plugin: p.name, Err: ErrTimeout, Detail: "no instance free before the deadline", Retryable: true}
	case isContextErr(err):
		return &CallError{Plugin: p.name, Err: err, Retryable: true}
	default:
		// Instantiation failed: _initialize trapped or ran out of memory.
		ce := p.classifyInit(ctx, err)
		p.log.Error("instantiate failed", "error", ce.Error())
		return ce
	}
}

// fail closes a broken instance, frees its slot for a fresh one and logs once.
func (p *plugin) fail(in *instance, ce *CallError, deliveryID string) {
	p.stats.failures.Add(1)
	p.stats.replaced.Add(1)
	args := []any{"delivery", deliveryID, "error", ce.Error()}
	if tail := in.stderr.tail(); tail != "" {
		args = append(args, "stderr", p.redact.string(tail))
	}
	p.log.Error("plugin call failed; instance replaced", args...)
	p.pool.discard(in)
}

// release returns a healthy instance to the pool, or retires it when it has
// served its calls or its memory has grown past the recycle mark.
func (p *plugin) release(in *instance) {
	in.calls++
	if in.calls >= p.cfg.MaxCallsPerInstance || uint64(in.mem.Size()) > p.recycleBytes {
		p.stats.recycled.Add(1)
		p.log.Debug("instance recycled", "calls", in.calls, "memory_bytes", in.mem.Size())
		p.pool.discard(in)
		return
	}
	p.pool.put(in)
}

// classify turns a failed guest call into a CallError.
func (p *plugin) classify(ctx context.Context, in *instance, err error) *CallError {
	ce := &CallError{Plugin: p.name}
	var exit *sys.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded,
		errors.Is(ctx.Err(), context.DeadlineExceeded):
		ce.Err, ce.Detail = ErrTimeout, "deadline "+p.cfg.Timeout.String()+" exceeded"
	case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeContextCanceled,
		errors.Is(ctx.Err(), context.Canceled):
		ce.Err = context.Canceled
	case errors.Is(err, errBadOutput):
		ce.Err, ce.Detail = ErrBadOutput, strings.TrimPrefix(err.Error(), errBadOutput.Error()+": ")
	case in.outOfMemory(p.limitBytes):
		ce.Err, ce.Detail = ErrMemoryLimit, fmt.Sprintf("limit %d pages", p.cfg.MemoryLimitPages)
	case errors.As(err, &exit):
		ce.Err, ce.Detail = ErrTrap, fmt.Sprintf("exited with code %d", exit.ExitCode())
	default:
		ce.Err, ce.Detail = ErrTrap, firstLine(err.Error())
	}
	if why := in.stderr.panicLine(); why != "" && ce.Err == ErrTrap {
		ce.Detail += " (" + why + ")"
	}
	ce.Detail = p.redact.string(ce.Detail)
	ce.Retryable = retryable(ce.Err)
	return ce
}

// classifyInit classifies a failed instantiation, which has no instance left
// to inspect.
func (p *plugin) classifyInit(ctx context.Context, err error) *CallError {
	ce := &CallError{Plugin: p.name, Err: ErrTrap, Detail: "instantiate: " + p.redact.string(firstLine(err.Error()))}
	var exit *sys.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		ce.Err = ErrTimeout
	}
	ce.Retryable = retryable(ce.Err)
	return ce
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return truncate(strings.TrimSpace(s), 300)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// close waits (until ctx is done) for the pool's instances to come back
// and closes them. Instances still running are closed with the runtime.
func (p *plugin) close(ctx context.Context) {
	p.pool.close(ctx)
}

// counters back Stats.
type counters struct {
	calls, failures, instantiations, replaced, recycled atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Calls:          c.calls.Load(),
		Failures:       c.failures.Load(),
		Instantiations: c.instantiations.Load(),
		Replaced:       c.replaced.Load(),
		Recycled:       c.recycled.Load(),
	}
}
