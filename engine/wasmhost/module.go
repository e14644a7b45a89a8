package wasmhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/arbiter-dev/arbiter/plugins/abi"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// module is a compiled module and the runtime it was compiled in. Plugin
// instances of one module with the same memory limit share both: wazero
// decodes and validates a module at every compile, cache hit or not, so a
// module compiled once per plugin instance would cost its validation as
// many times.
type module struct {
	rt          wazero.Runtime
	compiled    wazero.CompiledModule
	hasDescribe bool
	hasSelect   bool
}

// newRuntime builds a runtime with WASI and the host module. Its memory
// limit and deadline checks are compiled into the code, so they are the
// runtime's, not a plugin's.
func newRuntime(ctx context.Context, d deps, limitPages uint32) (wazero.Runtime, error) {
	rc := wazero.NewRuntimeConfig().
		WithCompilationCache(d.cache).
		WithCloseOnContextDone(!d.opts.noCloseOnDone).
		WithMemoryLimitPages(limitPages)
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("instantiate wasi: %w", err)
	}
	if err := instantiateHostModule(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("instantiate host module: %w", err)
	}
	return rt, nil
}

// readModule returns the module cfg names: its bytes, or its file's.
func readModule(cfg PluginConfig) ([]byte, error) {
	if cfg.Module != nil {
		return cfg.Module, nil
	}
	wasm, err := os.ReadFile(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("read module: %w", err)
	}
	return wasm, nil
}

// compileModule compiles wasm in rt, on every core (a cache miss costs
// seconds of CPU), then checks it against the ABI. path names it in errors.
func compileModule(ctx context.Context, rt wazero.Runtime, wasm []byte, path string) (*module, error) {
	ctx = experimental.WithCompilationWorkers(ctx, runtime.GOMAXPROCS(0))
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", path, err)
	}
	if e := (&abiError{checkExports(compiled), checkImports(compiled)}); e.exports != nil || e.imports != nil {
		_ = compiled.Close(ctx)
		return nil, e
	}
	fns := compiled.ExportedFunctions()
	_, hasDescribe := fns[abi.FuncDescribe]
	_, hasSelect := fns[abi.FuncSelect]
	return &module{rt: rt, compiled: compiled, hasDescribe: hasDescribe, hasSelect: hasSelect}, nil
}

// modules compiles each distinct module once per memory limit, and keeps
// the runtimes, one per memory limit, until close.
type modules struct {
	d        deps
	mu       sync.Mutex
	runtimes map[runtimeKey]wazero.Runtime
	memCache wazero.CompilationCache // for when the host's cannot be written
	shared   []*sharedModule
}

type runtimeKey struct {
	limit    uint32
	inMemory bool
}

// sharedModule is one module as the plugins using it wait for it.
type sharedModule struct {
	limit uint32
	wasm  []byte
	ready chan struct{} // closed when mod or err is set
	mod   *module
	err   error
}

func newModules(d deps) *modules {
	return &modules{d: d, runtimes: make(map[runtimeKey]wazero.Runtime)}
}

// claim returns the shared module for wasm under a memory limit, and
// whether the caller is the first to claim it and so must compile it.
// Modules are compared by content, so instances of one file, or the
// bundled plugins that are one module, compile once.
func (m *modules) claim(wasm []byte, limit uint32) (*sharedModule, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.shared {
		if s.limit == limit && bytes.Equal(s.wasm, wasm) {
			return s, false
		}
	}
	s := &sharedModule{limit: limit, wasm: wasm, ready: make(chan struct{})}
	m.shared = append(m.shared, s)
	return s, true
}

// get returns the module for cfg, compiling it if no other plugin has, and
// how long compiling took: zero for a module another plugin compiled.
func (m *modules) get(ctx context.Context, cfg PluginConfig) (*module, time.Duration, error) {
	wasm, err := readModule(cfg)
	if err != nil {
		return nil, 0, err
	}
	s, first := m.claim(wasm, cfg.MemoryLimitPages)
	if !first {
		select {
		case <-s.ready:
			return s.mod, 0, s.err
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		}
	}
	defer close(s.ready)
	start := time.Now()
	rt, err := m.runtime(ctx, cfg.MemoryLimitPages, false)
	if err != nil {
		s.err = err
		return nil, 0, err
	}
	s.mod, s.err = compileModule(ctx, rt, wasm, cfg.Path)
	if s.err != nil && cacheFailed(s.err) {
		// The cache is an optimisation: compile again, in memory.
		m.d.opts.logger.Warn("the compilation cache cannot be written; compiling in memory", "module", cfg.Path, "error", s.err)
		if rt, s.err = m.runtime(ctx, cfg.MemoryLimitPages, true); s.err == nil {
			s.mod, s.err = compileModule(ctx, rt, wasm, cfg.Path)
		}
	}
	return s.mod, time.Since(start), s.err
}

// cacheFailed reports whether a compile failed in the compilation cache's
// file operations (a full disk, a read-only one) rather than on the module.
func cacheFailed(err error) bool {
	var pe *fs.PathError
	var le *os.LinkError
	return errors.As(err, &pe) || errors.As(err, &le)
}

// runtime returns the runtime for a memory limit, compiling through the
// host's cache or, with inMemory, through one in memory.
func (m *modules) runtime(ctx context.Context, limit uint32, inMemory bool) (wazero.Runtime, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := runtimeKey{limit, inMemory}
	if rt, ok := m.runtimes[key]; ok {
		return rt, nil
	}
	d := m.d
	if inMemory {
		if m.memCache == nil {
			m.memCache = wazero.NewCompilationCache()
		}
		d.cache = m.memCache
	}
	rt, err := newRuntime(ctx, d, limit)
	if err != nil {
		return nil, err
	}
	m.runtimes[key] = rt
	return rt, nil
}

// close closes every runtime, and with them any instance still running.
func (m *modules) close(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for _, rt := range m.runtimes {
		errs = append(errs, rt.Close(ctx))
	}
	if m.memCache != nil {
		errs = append(errs, m.memCache.Close(ctx))
	}
	m.runtimes = nil
	return errors.Join(errs...)
}
