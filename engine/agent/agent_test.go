package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/loadgen"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// BenchmarkEndToEnd measures events per second from receipt to delivered at
// a loopback Slack fake: b.N signed delta events over 32 connections to the
// real agent, each raising an unmatched_delta alert routed to the bundled
// Slack plugin; the clock stops when Slack has received one message per
// event.
func BenchmarkEndToEnd(b *testing.B) {
	requireBundled(b)
	cfg := testConfig(b)
	posts := routeUnmatchedToSlack(b, &cfg)
	a, stop := start(b, cfg, hclog.NewNullLogger())
	defer stop()
	for _, plugins := readyz(b, a); plugins != "ready"; _, plugins = readyz(b, a) {
		require.Equal(b, "loading", plugins) // compiling Slack is not delivery
		time.Sleep(10 * time.Millisecond)
	}

	b.ResetTimer()
	start := time.Now()
	rep, err := loadgen.Run(context.Background(), loadgen.Config{URL: "http://" + a.Addr().String() + "/webhooks/pacspace",
		Secret: testSecret, Scheme: engine.SchemeV1, Shape: loadgen.ShapeDelta, Connections: 32, Count: int64(b.N)})
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
