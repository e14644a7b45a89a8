package agent_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/testing/capture"

	"github.com/hashicorp/go-hclog"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/agent"
	"github.com/arbiter-dev/arbiter/engine/config"
	"github.com/arbiter-dev/arbiter/engine/loadgen"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// TestReadyBeforePlugins starts an agent with an empty compilation cache,
// so its Slack plugin takes seconds to compile. The agent is ready at once,
// with /readyz saying the plugins are loading; an event it accepts then is
// decided, waits in the outbox, and is delivered to a loopback Slack once
// the plugin is up, on its first attempt.
func TestReadyBeforePlugins(t *testing.T) {
	requireBundled(t)
	cfg := testConfig(t) // and so an empty wasm-cache
	posts := routeUnmatchedToSlack(t, &cfg)
	var logs capture.Buffer
	a, stop := start(t, cfg, hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: &logs}))
	defer stop()

	status, plugins := readyz(t, a)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "loading", plugins)

	rep, err := loadgen.Run(context.Background(), loadgen.Config{URL: "http://" + a.Addr().String() + "/webhooks/pacspace",
		Secret: testSecret, Scheme: engine.SchemeV1, Shape: loadgen.ShapeDelta, Connections: 1, Count: 1})
	require.NoError(t, err)
	require.Equal(t, int64(1), rep.OK)

	for deadline := time.Now().Add(2 * time.Minute); posts.Load() == 0; time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "slack received nothing; log:\n", logs.String())
	}
	_, plugins = readyz(t, a)
	require.Equal(t, "ready", plugins)
	require.Contains(t, logs.String(), "plugins ready")
	for _, bad := range []string{"delivery will be retried", "delivery failed"} {
		require.NotContains(t, logs.String(), bad)
	}
	require.Equal(t, int64(1), posts.Load())
}

// TestPluginMistakes: a mistake in the plugin configuration still fails
// New at once; a module that does not load stops Run with the error.
func TestPluginMistakes(t *testing.T) {
	requireBundled(t)
	for _, tc := range []struct {
		name   string
		plugin config.Plugin
		want   string
	}{
		{"bad allow_hosts", config.Plugin{Name: "slack", Path: "bundled:slack", AllowHosts: []string{"https://hooks.slack.com/x"}}, "allow_hosts"},
		{"missing file", config.Plugin{Name: "mine", Path: "testdata/no-such.wasm"}, "no-such.wasm"},
		{"unknown bundled plugin", config.Plugin{Name: "teams", Path: "bundled:teams"}, `no bundled plugin "teams"; the bundled plugins are auditlog, console, pagerduty, slack, webhook`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Plugins = []config.Plugin{tc.plugin}
			_, err := agent.New(context.Background(), cfg, agent.Options{})
			require.True(t, err != nil, "New accepted", tc.plugin)
			require.Contains(t, err.Error(), tc.want)
		})
	}

	t.Run("not a module", func(t *testing.T) {
		cfg := testConfig(t)
		bad := filepath.Join(t.TempDir(), "bad.wasm")
		require.NoError(t, os.WriteFile(bad, []byte("not wasm"), 0o600))
		cfg.Plugins = []config.Plugin{{Name: "console", Path: "bundled:console"}, {Name: "bad", Path: bad}}
		a, err := agent.New(context.Background(), cfg, agent.Options{})
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- a.Run(context.Background()) }()
		select {
		case err := <-done:
			require.True(t, err != nil, "Run returned nil")
			require.Contains(t, err.Error(), `load plugin "bad"`)
		case <-time.After(2 * time.Minute):
			t.Fatal("Run did not stop")
		}
	})
}

// BenchmarkStartup measures New until the agent is ready (/readyz answers
// 200: it accepts, queues and decides) and until its plugins are up
// (/readyz reports them "ready" and deliveries start), with the five
// bundled plugins of examples/production. "warm" reuses one data directory
// and so the compilation cache; "cold" starts each time with an empty one.
//
//	go test -run '^$' -bench Startup -benchtime 10x ./engine/agent
//
// The whole process start (exec to the "listening" log line) is measured
// with the real binary; see BENCHMARKS.md.
func BenchmarkStartup(b *testing.B) {
	requireBundled(b)
	base, err := config.Load(config.Sources{File: "../../examples/production/arbiter.yaml"})
	require.NoError(b, err)
	base.Listen = "127.0.0.1:0"
	base.Endpoints = map[string]config.Endpoint{config.DefaultEndpoint: {Secrets: []string{"whsec_bench_0123456789"}}}
	base.Admin.Tokens = []string{"arb_bench_token_0123456789"}
	require.Equal(b, 5, len(base.Plugins))

	start := func(b *testing.B, dataDir string) (ready, plugins time.Duration) {
		cfg := base
		cfg.DataDir = dataDir
		ctx, cancel := context.WithCancel(context.Background())
		began := time.Now()
		a, err := agent.New(ctx, cfg, agent.Options{Logger: hclog.NewNullLogger()})
		require.NoError(b, err)
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		for {
			status, p := readyz(b, a)
			if status == http.StatusOK && ready == 0 {
				ready = time.Since(began)
			}
			if p == "ready" {
				plugins = time.Since(began)
				break
			}
			require.True(b, p == "loading", "plugins", p)
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		cancel()
		require.NoError(b, <-done)
		runtime.GC() // the last agent's garbage is not the next one's startup
		b.StartTimer()
		return ready, plugins
	}
	report := func(b *testing.B, ready, plugins time.Duration) {
		b.ReportMetric(float64(ready.Milliseconds())/float64(b.N), "ready-ms/op")
		b.ReportMetric(float64(plugins.Milliseconds())/float64(b.N), "plugins-ms/op")
	}
	b.Run("warm", func(b *testing.B) {
		dir := b.TempDir()
		start(b, dir) // fills the compilation cache
		var ready, plugins time.Duration
		for b.Loop() {
			r, p := start(b, dir)
			ready, plugins = ready+r, plugins+p
		}
		report(b, ready, plugins)
	})
	b.Run("cold", func(b *testing.B) {
		var ready, plugins time.Duration
		for b.Loop() {
			dir, err := os.MkdirTemp("", "arbiter-cold")
			require.NoError(b, err)
			r, p := start(b, dir)
			ready, plugins = ready+r, plugins+p
			b.StopTimer()
			os.RemoveAll(dir) // tens of megabytes of compiled code each
			b.StartTimer()
		}
		report(b, ready, plugins)
	})
}
