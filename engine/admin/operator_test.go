package admin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/agent"
	"github.com/arbiter-dev/arbiter/engine/config"
	"github.com/arbiter-dev/arbiter/engine/pacspace"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// chainBody is customer's delta whose proof is hash, linked to prev.
func chainBody(customer string, n int, hash, prev string, netDelta float64) string {
	return fmt.Sprintf(`{"event":"delta.verified","timestamp":"2026-04-10T12:00:0%d.000Z","data":{"receiptId":"rcpt_%d","deltaIndex":%d,`+
		`"delta":{"customerId":%q,"referenceId":"ref_%s_%d","amount":10},"verification":{"verified":true,"discrepancies":[],"latencyMs":100},`+
		`"proof":{"proofHash":%q,"previousProofHash":%q},"period":{"id":"2026-04","netDelta":%g}}}`,
		n, n, n, customer, customer, n, hash, prev, netDelta)
}

// TestOperatorViews runs a real agent, its "console" target served by the
// minimal WAT test plugin (no runtime: it loads at once), and reads what
// the console shows from the API: the overview, the plugins with their
// grants, a test delivery, a customer's chain timeline and events.
func TestOperatorViews(t *testing.T) {
	const secretValue = "sk_live_never_shown_0123456789"
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Endpoints = map[string]config.Endpoint{"pacspace": {Secrets: []string{eventsSecret}}}
	cfg.Admin.Tokens = []string{token}
	cfg.Admin.ReadOnlyTokens = []string{readOnlyToken}
	cfg.Worker.Grace = 50 * time.Millisecond
	cfg.Plugins = []config.Plugin{{Name: "console", Path: "../../testdata/plugins/minimal/minimal.wasm", AllowHosts: []string{"hooks.example.com"},
		Secrets: map[string]string{"api_key": secretValue}}}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := agent.New(ctx, cfg, agent.Options{})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	la := &eventsAgent{base: "http://" + a.Addr().String(), db: filepath.Join(cfg.DataDir, "arbiter.db")}
	// Deliveries settle once the plugin is up.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		var p struct{ Plugins []struct{ Status string } }
		_, r := la.call(t, "GET", "/v1/plugins", nil)
		require.NoError(t, json.Unmarshal(r.Data, &p))
		if p.Plugins[0].Status == "ready" {
			break
		}
		require.True(t, time.Now().Before(deadline), "plugins not ready")
	}

	h1, h2, h3 := strings.Repeat("1", 64), strings.Repeat("2", 64), strings.Repeat("3", 64)
	la.post(t, "pacspace", "evt_c1", chainBody("cus_t", 1, h1, strings.Repeat("0", 64), 10))
	waitEventsSettled(t, la, 1)
	la.post(t, "pacspace", "evt_c2", chainBody("cus_t", 2, h2, h1, 20))
	la.post(t, "pacspace", "evt_c3", chainBody("cus_t", 3, h3, h2, 99))
	waitEventsSettled(t, la, 3)
	req, _ := http.NewRequest(http.MethodPost, la.base+"/webhooks/pacspace", strings.NewReader(`{"event":"test"}`))
	require.NoError(t, pacspace.Sign(req.Header, engine.SchemeV1, "whsec_wrong_secret_0123456789", "evt_bad", time.Now(), []byte(`{"event":"test"}`)))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 401, resp.StatusCode)

	t.Run("overview", func(t *testing.T) {
		var ov struct {
			Webhooks struct {
				Received, Acknowledged int
				RejectedByReason       map[string]int
			}
			Decisions          int
			DecisionsPerMinute []float64
			Inbox              struct{ Events, Pending int }
			LastEvent          struct{ ID string }
			Policy             struct{ Revision string }
			Plugins            []struct{ Name string }
		}
		_, r := la.call(t, "GET", "/v1/overview", nil)
		require.NoError(t, json.Unmarshal(r.Data, &ov))
		require.Equal(t, 3, ov.Webhooks.Received) // authenticated: the bad signature is a rejection
		require.Equal(t, 3, ov.Webhooks.Acknowledged)
		require.Equal(t, map[string]int{"bad_signature": 1}, ov.Webhooks.RejectedByReason)
		require.Equal(t, 3, ov.Decisions)
		require.Equal(t, 60, len(ov.DecisionsPerMinute))
		require.Equal(t, 3.0, ov.DecisionsPerMinute[59]+ov.DecisionsPerMinute[58])
		require.Equal(t, 3, ov.Inbox.Events)
		require.Equal(t, "evt_c3", ov.LastEvent.ID)
		require.Equal(t, 1, len(ov.Plugins))
		var pol struct{ Revision string }
		_, r = la.call(t, "GET", "/v1/policies", nil)
		require.NoError(t, json.Unmarshal(r.Data, &pol))
		require.Equal(t, pol.Revision, ov.Policy.Revision)
	})

	t.Run("plugins", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, la.base+"/v1/plugins", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NotContains(t, string(raw), secretValue)
		var p struct {
			Data struct {
				Plugins []struct {
					Name, Path, Version, Kind string
					AllowHosts                []string
					Secrets                   []string
					Pool                      struct{ Size, Calls int }
				}
			}
		}
		require.NoError(t, json.Unmarshal(raw, &p))
		got := p.Data.Plugins[0]
		require.Equal(t, "console", got.Name)
		require.Equal(t, "../../testdata/plugins/minimal/minimal.wasm", got.Path)
		require.Equal(t, "1.0.0", got.Version)
		require.Equal(t, []string{"hooks.example.com"}, got.AllowHosts)
		require.Equal(t, []string{"api_key"}, got.Secrets)
		require.True(t, got.Pool.Size > 0, "a pool")

		var res struct{ Status, DeliveryID string }
		_, r := la.call(t, "POST", "/v1/plugins/console/test", nil)
		require.NoError(t, json.Unmarshal(r.Data, &res))
		require.Equal(t, "ok", res.Status)
		status, _ := la.call(t, "POST", "/v1/plugins/nothing/test", nil)
		require.Equal(t, 404, status)
		req, _ = http.NewRequest(http.MethodPost, la.base+"/v1/plugins/console/test", nil)
		req.Header.Set("Authorization", "Bearer "+readOnlyToken)
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 403, resp.StatusCode)
	})

	t.Run("timeline", func(t *testing.T) {
		var tl struct {
			Events []struct {
				EventID, Chain, ProofHash, PreviousProofHash, PeriodID string
				PacSpaceTotal                                          *float64 `json:"pacspaceTotal"`
			}
			Next int64
		}
		_, r := la.call(t, "GET", "/v1/chains/cus_t/timeline?limit=2", nil)
		require.NoError(t, json.Unmarshal(r.Data, &tl))
		require.Equal(t, 2, len(tl.Events))
		require.Equal(t, "evt_c3", tl.Events[0].EventID)
		require.Equal(t, "linked", tl.Events[0].Chain)
		require.Equal(t, h3, tl.Events[0].ProofHash)
		require.Equal(t, h2, tl.Events[0].PreviousProofHash)
		require.Equal(t, "2026-04", tl.Events[0].PeriodID)
		require.Equal(t, 99.0, *tl.Events[0].PacSpaceTotal)
		require.True(t, tl.Next > 0, "a next page")
		_, r = la.call(t, "GET", fmt.Sprintf("/v1/chains/cus_t/timeline?before=%d", tl.Next), nil)
		require.NoError(t, json.Unmarshal(r.Data, &tl))
		require.Equal(t, 1, len(tl.Events))
		require.Equal(t, "evt_c1", tl.Events[0].EventID)
		require.Equal(t, int64(0), tl.Next)

		_, ids := la.list(t, "/v1/events?customer=cus_t&sortOrder=asc")
		require.Equal(t, []string{"pacspace/evt_c1", "pacspace/evt_c2", "pacspace/evt_c3"}, ids)
		_, ids = la.list(t, "/v1/events?customer=cus_other")
		require.Equal(t, 0, len(ids))

		// Counting stops past maxTotal when asked.
		type page struct {
			Pagination struct {
				Total, TotalPages int
				TotalCapped       bool
			}
		}
		for q, want := range map[string][3]int{"limit=1&maxTotal=2": {2, 2, 1}, "limit=1&maxTotal=3": {3, 3, 0},
			"maxTotal=2": {2, 1, 1}, "limit=1": {3, 3, 0}} {
			var capped page
			_, r := la.call(t, "GET", "/v1/events?customer=cus_t&"+q, nil)
			require.NoError(t, json.Unmarshal(r.Data, &capped))
			require.Equal(t, want[0], capped.Pagination.Total, q)
			require.Equal(t, want[1], capped.Pagination.TotalPages, q)
			require.Equal(t, want[2] == 1, capped.Pagination.TotalCapped, q)
		}

		var periods struct {
			Periods []struct {
				PeriodID      string   `json:"periodId"`
				PacSpaceTotal *float64 `json:"pacspaceTotal"`
				ReportedBy    string   `json:"reportedBy"`
			}
		}
		_, r = la.call(t, "GET", "/v1/ledger/periods?customerId=cus_t", nil)
		require.NoError(t, json.Unmarshal(r.Data, &periods))
		require.Equal(t, 1, len(periods.Periods))
		require.Equal(t, 99.0, *periods.Periods[0].PacSpaceTotal)
		require.Equal(t, "evt_c3", periods.Periods[0].ReportedBy)
	})
}
