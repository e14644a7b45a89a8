package agent_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/config"
	"github.com/arbiter-dev/arbiter/engine/loadgen"
	"github.com/arbiter-dev/arbiter/engine/testing/capture"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// TestAuditTrailThroughAdminAPI routes every alert to the bundled auditlog
// plugin and reads the trail it keeps back through the admin API.
func TestAuditTrailThroughAdminAPI(t *testing.T) {
	requireBundled(t)
	cfg := testConfig(t)
	cfg.Plugins = []config.Plugin{{Name: "audit", Path: "bundled:auditlog"}}
	cfg.Policy.Data = map[string]any{
		"routing":         []any{map[string]any{"match": map[string]any{"type": []any{"alert"}}, "targets": []any{"audit"}}},
		"routing_default": []any{},
	}
	var logs capture.Buffer
	a, stop := start(t, cfg, hclog.New(&hclog.LoggerOptions{Output: &logs}))
	defer stop()

	// Two deltas of one new customer, in chain order: each is unmatched (no
	// ledger record) and drifts, so each raises alerts.
	rep, err := loadgen.Run(context.Background(), loadgen.Config{URL: "http://" + a.Addr().String() + "/webhooks/pacspace",
		Secret: testSecret, Scheme: engine.SchemeV1, Shape: loadgen.ShapeDelta, Connections: 1, Count: 2})
	require.NoError(t, err)
	require.Equal(t, int64(2), rep.OK)

	type page struct {
		Entries []struct {
			Key   string          `json:"key"`
			Value json.RawMessage `json:"value"`
		} `json:"entries"`
		Pagination struct{ Total int } `json:"pagination"`
	}
	get := func(path string, auth string) (int, page) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+a.Addr().String()+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var env struct{ Data page }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
		return resp.StatusCode, env.Data
	}
	var entries page
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		status, p := get("/v1/plugins/audit/store?prefix=entry/", testToken)
		require.Equal(t, http.StatusOK, status)
		if p.Pagination.Total >= 4 { // at least two alerts per event
			entries = p
			break
		}
		require.True(t, time.Now().Before(deadline), "the audit trail stayed short; log:\n", logs.String())
	}
	reasons := map[string]int{}
	for i, e := range entries.Entries {
		var v struct {
			Seq     int    `json:"seq"`
			EventID string `json:"eventId"`
			Actions []struct {
				Reason  string `json:"reason"`
				EventID string `json:"eventId"`
			} `json:"actions"` // the action itself, as the plugin records one without an actions list
		}
		require.NoError(t, json.Unmarshal(e.Value, &v), string(e.Value))
		require.Equal(t, i+1, v.Seq, "entries in the order they were recorded")
		require.Equal(t, 1, len(v.Actions), string(e.Value))
		require.Equal(t, v.EventID, v.Actions[0].EventID)
		reasons[v.Actions[0].Reason]++
	}
	require.Equal(t, 2, reasons["unmatched_delta"], reasons)

	status, newest := get("/v1/plugins/audit/store?prefix=entry/&sortOrder=desc&limit=1", testToken)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 1, len(newest.Entries))
	require.Equal(t, entries.Entries[len(entries.Entries)-1].Key, newest.Entries[0].Key)
	status, seq := get("/v1/plugins/audit/store?prefix=seq", testToken)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 1, len(seq.Entries))

	status, _ = get("/v1/plugins/audit/store", "")
	require.Equal(t, http.StatusUnauthorized, status)
	status, _ = get("/v1/plugins/nope/store", testToken)
	require.Equal(t, http.StatusNotFound, status)
	status, _ = get("/v1/plugins/audit/store?sortOrder=up", testToken)
	require.Equal(t, http.StatusBadRequest, status)
}
