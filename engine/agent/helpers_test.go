package agent_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/arbiter-dev/arbiter/engine/agent"
	"github.com/arbiter-dev/arbiter/engine/config"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
	"github.com/arbiter-dev/arbiter/plugins"
)

// The test agents' webhook secret and admin token.
const testSecret, testToken = "whsec_agent_test_0123456789", "arb_agent_test_0123456789"

func requireBundled(tb testing.TB) {
	tb.Helper()
	if !plugins.Built() {
		tb.Skip("bundled plugins not built: run `make plugins` first")
	}
}

// testConfig is an agent on loopback with the default endpoint and one
// admin token, in a fresh data directory (so an empty compilation cache).
func testConfig(tb testing.TB) config.Config {
	cfg := config.Default()
	cfg.DataDir = tb.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Endpoints = map[string]config.Endpoint{config.DefaultEndpoint: {Secrets: []string{testSecret}}}
	cfg.Admin.Tokens = []string{testToken}
	return cfg
}

// routeUnmatchedToSlack gives cfg the bundled Slack plugin, posting to a
// loopback fake, and routes the unmatched_delta alert there and nothing
// else: one message per unmatched delta. It returns the fake's count.
func routeUnmatchedToSlack(tb testing.TB, cfg *config.Config) *atomic.Int64 {
	var posts atomic.Int64
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		posts.Add(1)
	}))
	tb.Cleanup(slack.Close)
	u, _ := url.Parse(slack.URL)
	cfg.Plugins = []config.Plugin{{Name: "slack", Path: "bundled:slack", AllowHosts: []string{u.Host},
		Secrets: map[string]string{"url": slack.URL}, Config: map[string]any{"webhook_url_secret": "url"}}}
	cfg.Policy.Data = map[string]any{
		"routing":         []any{map[string]any{"match": map[string]any{"type": []any{"alert"}, "reason": []any{"unmatched_delta"}}, "targets": []any{"slack"}}},
		"routing_default": []any{},
	}
	return &posts
}

// start runs an agent built from cfg; stop shuts it down and requires a
// clean exit. (Not a Cleanup: a benchmark function runs several times.)
func start(tb testing.TB, cfg config.Config, log hclog.Logger) (a *agent.Agent, stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a, err := agent.New(ctx, cfg, agent.Options{Logger: log})
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	return a, func() { cancel(); require.NoError(tb, <-done) }
}

// readyz returns /readyz's status code and its "plugins" member.
func readyz(tb testing.TB, a *agent.Agent) (int, string) {
	tb.Helper()
	resp, err := http.Get("http://" + a.Addr().String() + "/readyz")
	require.NoError(tb, err)
	defer resp.Body.Close()
	var body map[string]string
	require.NoError(tb, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body["plugins"]
}
