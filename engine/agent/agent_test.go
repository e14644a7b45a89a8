package agent_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/agent"
	"github.com/arbiter-dev/arbiter/engine/config"
	"github.com/arbiter-dev/arbiter/engine/loadgen"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
	"github.com/arbiter-dev/arbiter/plugins"
)

// BenchmarkEndToEnd measures events per second from receipt to delivered at
// a loopback Slack fake: b.N signed delta events over 32 connections to the
// real agent, each raising an unmatched_delta alert routed to the bundled
// Slack plugin; the clock stops when Slack has received one message per
// event.
func BenchmarkEndToEnd(b *testing.B) {
	if !plugins.Built() {
		b.Skip("bundled plugins not built: run `make plugins` first")
	}
	var posts atomic.Int64
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		posts.Add(1)
	}))
	defer slack.Close()
	u, _ := url.Parse(slack.URL)

	const secret = "whsec_e2e_bench_0123456789"
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Endpoints = map[string]config.Endpoint{config.DefaultEndpoint: {Secrets: []string{secret}}}
	cfg.Admin.Tokens = []string{"arb_bench_token_0123456789"}
	cfg.Plugins = []config.Plugin{{Name: "slack", Path: "bundled:slack", AllowHosts: []string{u.Host},
		Secrets: map[string]string{"url": slack.URL}, Config: map[string]any{"webhook_url_secret": "url"}}}
	// Only the unmatched_delta alert goes to Slack: one message per event.
	cfg.Policy.Data = map[string]any{
		"routing":         []any{map[string]any{"match": map[string]any{"type": []any{"alert"}, "reason": []any{"unmatched_delta"}}, "targets": []any{"slack"}}},
		"routing_default": []any{},
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := agent.New(ctx, cfg, agent.Options{Logger: hclog.NewNullLogger()})
	require.NoError(b, err)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); require.NoError(b, <-done) }()
	for _, plugins := readyz(b, a); plugins != "ready"; _, plugins = readyz(b, a) {
		require.Equal(b, "loading", plugins) // compiling Slack is not delivery
		time.Sleep(10 * time.Millisecond)
	}

	b.ResetTimer()
	start := time.Now()
	rep, err := loadgen.Run(context.Background(), loadgen.Config{URL: "http://" + a.Addr().String() + "/webhooks/pacspace",
		Secret: secret, Scheme: engine.SchemeV1, Shape: loadgen.ShapeDelta, Connections: 32, Count: int64(b.N)})
	require.NoError(b, err)
	require.Equal(b, int64(b.N), rep.OK)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "acked/s")
	for posts.Load() < int64(b.N) {
		require.True(b, time.Since(start) < 5*time.Minute, "slack received", posts.Load(), "of", b.N)
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}
