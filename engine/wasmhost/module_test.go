package wasmhost

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestBundledModuleShared loads the five bundled plugins from their one
// module: it compiles once, and each instance describes and serves its own
// entry.
func TestBundledModuleShared(t *testing.T) {
	configs := map[string]string{
		"slack":     `{"webhook_url_secret":"u"}`,
		"pagerduty": `{"routing_key_secret":"k"}`,
		"webhook":   `{"url":"http://127.0.0.1:1/hook","secret_name":"s"}`,
	}
	var pcs []PluginConfig
	for _, name := range bundledNames {
		pcs = append(pcs, PluginConfig{Name: "my-" + name, Path: guest["bundled"], Entry: name, Config: []byte(configs[name])})
	}
	h := newHost(t, pcs)
	requireEqual(t, 1, len(h.modules.shared))
	requireEqual(t, 1, len(h.modules.runtimes))
	for _, name := range bundledNames {
		info, err := h.Describe("my-" + name)
		requireNoError(t, err)
		requireEqual(t, name, info.Name)
	}
	res := requireOK(t, h, "my-console", action(`{"type":"alert","reason":"shared","severity":"info"}`))
	requireContains(t, res.Message, "logged")
}

// TestModulesByLimit: a memory limit is compiled into the code, so the
// same module under two limits is two runtimes and two compiled modules;
// the same bytes from two files are one.
func TestModulesByLimit(t *testing.T) {
	copied := t.TempDir() + "/probe.wasm"
	b, err := os.ReadFile(guest["probe"])
	requireNoError(t, err)
	requireNoError(t, os.WriteFile(copied, b, 0o644))
	h := newHost(t, []PluginConfig{
		{Name: "a", Path: guest["probe"]},
		{Name: "b", Path: copied},
		{Name: "c", Path: guest["probe"], MemoryLimitPages: 1024},
	})
	requireEqual(t, 2, len(h.modules.shared))
	requireEqual(t, 2, len(h.modules.runtimes))
}

// TestSharedRuntimeKeepsPluginsApart: plugins of one module share host
// functions, which must still act for the plugin whose call runs.
func TestSharedRuntimeKeepsPluginsApart(t *testing.T) {
	kv := newMemKV()
	h := newHost(t, []PluginConfig{
		{Name: "a", Path: guest["probe"], Secrets: Secrets{"of-a": "s3cr3t"}},
		{Name: "b", Path: guest["probe"]},
	}, WithKV(kv))
	requireEqual(t, 1, len(h.modules.shared))
	requireOK(t, h, "a", action(`{"type":"probe","op":"secret","name":"of-a"}`))
	res, err := h.Invoke(context.Background(), "b", action(`{"type":"probe","op":"secret","name":"of-a"}`))
	requireNoError(t, err)
	requireEqual(t, StatusFail, res.Status)
	requireContains(t, res.Message, "not granted")
	for _, p := range []string{"a", "b"} {
		requireOK(t, h, p, action(`{"type":"probe","op":"kvset","key":"k","value":"set by `+p+`"}`))
	}
	for _, p := range []string{"a", "b"} {
		res := requireOK(t, h, p, action(`{"type":"probe","op":"kvget","key":"k"}`))
		requireEqual(t, "set by "+p, res.Message)
	}
}

// TestEntryErrors: an instance that serves no plugin is refused at load,
// saying why and, when the module says, which plugins it holds.
func TestEntryErrors(t *testing.T) {
	tests := []struct {
		name string
		pc   PluginConfig
		want string
	}{
		{"none", PluginConfig{Name: "x", Path: guest["bundled"]},
			"the module holds several plugins (auditlog, console, pagerduty, slack, webhook); choose one with an entry"},
		{"unknown", PluginConfig{Name: "x", Path: guest["bundled"], Entry: "teams"},
			`the module holds no plugin "teams"; it holds auditlog, console, pagerduty, slack, webhook`},
		{"single, misnamed", PluginConfig{Name: "x", Path: guest["discord"], Entry: "slack"},
			`the module holds no plugin "slack"; it holds discord`},
		{"no select", PluginConfig{Name: "x", Path: guest["minimal"], Entry: "slack"},
			`entry "slack": guest does not export func[select]; want select(ptr i32, len i32) -> (status i32)`},
		{"select refuses", PluginConfig{Name: "x", Path: guest["refuse"], Entry: "slack"},
			`the module holds no plugin "slack" (select returned 1)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(context.Background(), Config{CacheDir: compileCache, Plugins: []PluginConfig{tc.pc}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// An entry the single plugin has is fine, and a module with select
	// given no entry serves as before.
	h := newHost(t, []PluginConfig{
		{Name: "d", Path: guest["discord"], Entry: "discord", Config: []byte(`{"webhook_url_secret":"u"}`)},
		{Name: "r", Path: guest["refuse"]},
	})
	info, err := h.Describe("d")
	requireNoError(t, err)
	requireEqual(t, "discord", info.Name)
	requireOK(t, h, "r", action(`{"type":"alert"}`))
}

// TestEntryNoSelection: an instance of a module of several plugins that
// selects none describes what it holds, and its handle fails saying why.
func TestEntryNoSelection(t *testing.T) {
	ctx := context.Background()
	d := deps{cache: newCache(compileCache, hclog.NewNullLogger()), transport: newTransport(), opts: newOptions(nil)}
	rt, err := newRuntime(ctx, d, DefaultMemoryLimitPages)
	requireNoError(t, err)
	defer rt.Close(ctx)
	wasm, err := os.ReadFile(guest["bundled"])
	requireNoError(t, err)
	mod, err := compileModule(ctx, rt, wasm, guest["bundled"])
	requireNoError(t, err)
	p, err := newPlugin(PluginConfig{Name: "x", Path: guest["bundled"]}, d)
	requireNoError(t, err)
	p.mod = mod
	in, err := p.newInstance(ctx)
	requireNoError(t, err)
	defer in.close(ctx)

	const why = `this module holds plugins \"auditlog\", \"console\", \"pagerduty\", \"slack\", \"webhook\"; select one of them`
	ctx = withState(ctx, p.newState(""))
	out, err := in.callDescribe(ctx)
	requireNoError(t, err)
	requireEqual(t, `{"abi":1,"plugins":["auditlog","console","pagerduty","slack","webhook"],"error":"`+why+`"}`, string(out))
	req := action(`{"type":"alert"}`)
	out, err = in.callHandle(ctx, appendInput(nil, &req, nil), 1<<20)
	requireNoError(t, err)
	requireEqual(t, `{"status":"fail","message":"`+why+`"}`, string(out))
}

// TestEntrySelectedOnEveryInstance: every instance selects its entry, not
// only the first; one that did not would serve none of the bundled plugins.
func TestEntrySelectedOnEveryInstance(t *testing.T) {
	h := newHost(t, []PluginConfig{{Name: "c", Path: guest["bundled"], Entry: "console", PoolSize: 1, MaxCallsPerInstance: 1}})
	for range 3 {
		res := requireOK(t, h, "c", action(`{"type":"alert","reason":"r","severity":"info"}`))
		requireContains(t, res.Message, "logged")
	}
	st, _ := h.Stats("c")
	requireEqual(t, uint64(3), st.Instantiations)
}

// TestInstanceEnvironment: an instance gets no WASI environment, with an
// entry or without; host functions are a plugin's only capabilities.
func TestInstanceEnvironment(t *testing.T) {
	h := newHost(t, []PluginConfig{
		{Name: "a", Path: guest["probe"]},
		{Name: "b", Path: guest["probe"], Entry: "probe"},
	})
	for _, name := range []string{"a", "b"} {
		res := requireOK(t, h, name, action(`{"type":"probe","op":"environ"}`))
		requireEqual(t, "0 []", res.Message)
	}
}
