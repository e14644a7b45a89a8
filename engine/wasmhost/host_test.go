package wasmhost

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/arbiter-dev/arbiter/plugins/abi"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDescribeAndPlugins(t *testing.T) {
	h := newHost(t, []PluginConfig{
		{Name: "probe", Path: guest["probe"]},
		{Name: "console", Path: guest["bundled"], Entry: "console"},
		{Name: "raw", Path: guest["unreachable"]}, // exports no describe
	})
	requireEqual(t, "console probe raw", strings.Join(h.Plugins(), " ")) // sorted

	info, err := h.Describe("probe")
	requireNoError(t, err)
	requireEqual(t, "probe", info.Name)
	requireEqual(t, KindNotifier, info.Kind)
	requireEqual(t, "0.0.1", info.Version)
	requireEqual(t, abi.ABIVersion, info.ABI)
	requireContains(t, string(info.ConfigSchema), `"mode"`)

	info, err = h.Describe("raw")
	requireNoError(t, err)
	requireEqual(t, "", info.Name)
	requireEqual(t, abi.ABIVersion, info.ABI)

	_, err = h.Describe("nope")
	requireErrorIs(t, err, ErrUnknownPlugin)
}

func TestInvokeErrors(t *testing.T) {
	h := newHost(t, []PluginConfig{{Name: "probe", Path: guest["probe"]}})
	ctx := context.Background()

	_, err := h.Invoke(ctx, "nope", action(`{"type":"x"}`))
	requireErrorIs(t, err, ErrUnknownPlugin)
	requireEqual(t, false, Retryable(err))

	for _, bad := range []string{``, `[1]`, `{"type":`, `"x"`} {
		_, err = h.Invoke(ctx, "probe", action(bad))
		requireErrorIs(t, err, ErrBadRequest)
		requireEqual(t, false, Retryable(err))
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = h.Invoke(canceled, "probe", action(`{"type":"probe","op":"now"}`))
	requireErrorIs(t, err, context.Canceled)
	requireEqual(t, true, Retryable(err))
}

func TestConfigValidatedAgainstSchema(t *testing.T) {
	tests := []struct {
		name   string
		plugin PluginConfig
		want   string
	}{
		{"schema", PluginConfig{Name: "p", Path: guest["probe"], Config: json.RawMessage(`{"mode":"c"}`)}, "config does not match the plugin's schema"},
		{"unknown field", PluginConfig{Name: "p", Path: guest["probe"], Config: json.RawMessage(`{"mood":"a"}`)}, "additional properties 'mood' not allowed"},
		{"not json", PluginConfig{Name: "p", Path: guest["probe"], Config: json.RawMessage(`{`)}, "config is not valid JSON"},
		{"name", PluginConfig{Name: "Slack Ops", Path: guest["probe"]}, `name "Slack Ops"`},
		{"allow_hosts", PluginConfig{Name: "p", Path: guest["probe"], AllowHosts: []string{"https://hooks.slack.com/x"}}, "without scheme or path"},
		{"port", PluginConfig{Name: "p", Path: guest["probe"], AllowHosts: []string{"example.com:http"}}, "bad port"},
		{"missing file", PluginConfig{Name: "p", Path: "testdata/nope.wasm"}, "read module"},
		{"memory", PluginConfig{Name: "p", Path: guest["probe"], MemoryLimitPages: 70000}, "exceeds 65536"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(context.Background(), Config{CacheDir: compileCache, Plugins: []PluginConfig{tc.plugin}})
			if err == nil {
				t.Fatal("New accepted a bad config")
			}
			requireContains(t, err.Error(), tc.want)
		})
	}
	_, err := New(context.Background(), Config{CacheDir: compileCache, Plugins: []PluginConfig{
		{Name: "p", Path: guest["probe"]}, {Name: "p", Path: guest["probe"]},
	}})
	requireContains(t, err.Error(), "duplicate name")
}

// TestValidate: Validate finds every configuration mistake New would, all
// at once, without reading a module (the paths here do not exist).
func TestValidate(t *testing.T) {
	err := Config{Plugins: []PluginConfig{
		{Name: "ok", Path: "nope/ok.wasm"},
		{Name: "ok", Path: "nope/ok.wasm"},
		{Name: "Bad Name", Path: "nope/x.wasm"},
		{Name: "hosts", Path: "nope/x.wasm", AllowHosts: []string{"https://x/y"}},
	}}.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{`"ok": duplicate name`, `name "Bad Name"`, `"hosts": allow_hosts`} {
		requireContains(t, err.Error(), want)
	}
	if err := (Config{Plugins: []PluginConfig{{Name: "ok", Path: "nope/ok.wasm"}}}).Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// TestSameFileCompilesOnce: two instances of one module with an empty
// compilation cache compile it once; the second shares the first's
// compiled code.
func TestSameFileCompilesOnce(t *testing.T) {
	h, err := New(context.Background(), Config{Plugins: []PluginConfig{ // in-memory cache, empty
		{Name: "a", Path: guest["trivial"]}, {Name: "b", Path: guest["trivial"]},
	}})
	requireNoError(t, err)
	defer h.Close(context.Background())
	requireEqual(t, 1, len(h.modules.shared))
	first, second := h.plugins["a"].loadTimes.compile, h.plugins["b"].loadTimes.compile
	if first < second {
		first, second = second, first // either may be the one that compiled
	}
	if second*4 > first {
		t.Errorf("second instance compiled in %v, the first in %v: want it from the cache", second, first)
	}
}

// TestModuleBytes: a module given as bytes is loaded from them; its path
// only names it.
func TestModuleBytes(t *testing.T) {
	wasm, err := os.ReadFile(guest["trivial"])
	requireNoError(t, err)
	h := newHost(t, []PluginConfig{{Name: "p", Path: "bundled:trivial", Module: wasm}})
	requireOK(t, h, "p", action(benchAction))
	if info, _ := h.Describe("p"); info.Name != "trivial" {
		t.Errorf("describe: %+v", info)
	}
}

func TestDefaults(t *testing.T) {
	c := PluginConfig{Name: "p", Path: "p.wasm"}.withDefaults()
	want := PluginConfig{
		Name: "p", Path: "p.wasm", Config: json.RawMessage(`{}`),
		PoolSize: DefaultPoolSize, Timeout: DefaultTimeout, MemoryLimitPages: DefaultMemoryLimitPages,
		MaxCallsPerInstance: DefaultMaxCallsPerInstance, HTTPTimeout: DefaultHTTPTimeout,
		MaxResponseBytes: DefaultMaxResponseBytes, MaxOutputBytes: DefaultMaxOutputBytes,
	}
	if got, _ := json.Marshal(c); string(got) != mustJSON(want) {
		t.Errorf("defaults:\n got %s\nwant %s", got, mustJSON(want))
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestPoolHammer calls one plugin from many goroutines: every call succeeds,
// and no more instances exist than the pool allows.
func TestPoolHammer(t *testing.T) {
	h := newHost(t, []PluginConfig{{Name: "p", Path: guest["probe"], PoolSize: 3}})
	const goroutines, calls = 12, 25
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				res, err := h.Invoke(context.Background(), "p", action(`{"type":"probe","op":"echo"}`))
				if err != nil || res.Status != StatusOK {
					t.Errorf("goroutine %d call %d: %+v, %v", g, i, res, err)
					return
				}
			}
		})
	}
	wg.Wait()
	st, _ := h.Stats("p")
	requireEqual(t, uint64(goroutines*calls), st.Calls)
	if st.Instantiations > 3 || st.Failures != 0 {
		t.Errorf("stats %+v: want at most 3 instances and no failures", st)
	}
}

func TestRecycleAfterCalls(t *testing.T) {
	h := newHost(t, []PluginConfig{{Name: "p", Path: guest["probe"], PoolSize: 1, MaxCallsPerInstance: 3}})
	for range 7 {
		requireOK(t, h, "p", action(`{"type":"probe","op":"now"}`))
	}
	st, _ := h.Stats("p")
	requireEqual(t, Stats{Calls: 7, Instantiations: 3, Recycled: 2, PoolSize: 1}, st)
}

// TestRecycleOnMemoryGrowth soaks a guest that leaks 1 MiB a call under a
// 16 MiB limit: instances are retired before they run out, so no call fails.
func TestRecycleOnMemoryGrowth(t *testing.T) {
	h := newHost(t, []PluginConfig{{Name: "p", Path: guest["leaky"], PoolSize: 1, MemoryLimitPages: 256}})
	for i := range 40 {
		res, err := h.Invoke(context.Background(), "p", action(`{"type":"x"}`))
		if err != nil || res.Status != StatusOK {
			t.Fatalf("call %d: %+v, %v", i, res, err)
		}
	}
	st, _ := h.Stats("p")
	if st.Recycled == 0 || st.Failures != 0 {
		t.Errorf("stats %+v: want recycling and no failures", st)
	}
}

func TestClose(t *testing.T) {
	h, err := New(context.Background(), Config{CacheDir: compileCache, Plugins: []PluginConfig{
		{Name: "probe", Path: guest["probe"]},
		{Name: "loop", Path: guest["loop"], Timeout: time.Minute},
	}})
	requireNoError(t, err)

	// A call in flight when Close's context ends is aborted.
	done := make(chan error, 1)
	go func() {
		_, err := h.Invoke(context.Background(), "loop", action(`{"type":"x"}`))
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	requireNoError(t, h.Close(ctx))
	select {
	case err := <-done:
		if err == nil {
			t.Error("aborted call reported success")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close left a call running")
	}

	_, err = h.Invoke(context.Background(), "probe", action(`{"type":"probe","op":"now"}`))
	requireErrorIs(t, err, ErrClosed)
	requireEqual(t, true, Retryable(err))
	requireNoError(t, h.Close(context.Background())) // idempotent
}

func TestCompilationCacheDir(t *testing.T) {
	dir := t.TempDir()
	for range 2 {
		h, err := New(context.Background(), Config{CacheDir: dir, Plugins: []PluginConfig{{Name: "m", Path: guest["minimal"]}}})
		requireNoError(t, err)
		requireOK(t, h, "m", action(`{"type":"x"}`))
		requireNoError(t, h.Close(context.Background()))
	}
	entries, err := os.ReadDir(dir)
	requireNoError(t, err)
	if len(entries) == 0 {
		t.Error("compilation cache dir is empty")
	}
}

func TestCallErrorMessage(t *testing.T) {
	err := error(&CallError{Plugin: "slack", Err: ErrTimeout, Detail: "deadline 10s exceeded", Retryable: true})
	requireEqual(t, "invoke slack: plugin timed out: deadline 10s exceeded", err.Error())
	requireEqual(t, true, errors.Is(err, ErrTimeout))
	requireEqual(t, true, Retryable(err))
	requireEqual(t, false, Retryable(errors.New("other")))
}
