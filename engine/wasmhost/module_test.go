package wasmhost

import (
	"context"
	"os"
	"strings"
	"testing"
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
		{"single, ignores it", PluginConfig{Name: "x", Path: guest["minimal"], Entry: "slack"},
			`describes plugin "minimal", not entry "slack"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(context.Background(), Config{CacheDir: compileCache, Plugins: []PluginConfig{tc.pc}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// An entry the single plugin has is fine.
	h := newHost(t, []PluginConfig{{Name: "d", Path: guest["discord"], Entry: "discord", Config: []byte(`{"webhook_url_secret":"u"}`)}})
	info, err := h.Describe("d")
	requireNoError(t, err)
	requireEqual(t, "discord", info.Name)
}
