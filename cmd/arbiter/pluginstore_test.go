package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// TestPluginStoreCLI routes an event's alerts to the bundled auditlog and
// reads its trail with `arbiter plugin store`.
func TestPluginStoreCLI(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "arbiter.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`plugins:
  - {name: audit, path: "bundled:auditlog"}
policy:
  data: {routing: [], routing_default: [audit]}
`), 0o600))
	p := start(t, []string{"PACSPACE_WEBHOOK_SECRET=" + e2eSecret, "ARBITER_DATA_DIR=" + filepath.Join(dir, "data"),
		"ARBITER_LISTEN=127.0.0.1:0", "ARBITER_ADMIN_TOKEN=" + cliToken, "ARBITER_WORKER_GRACE=100ms"}, "serve", "--config", cfg)
	body, err := os.ReadFile("../../testdata/events/delta.verified.json")
	require.NoError(t, err)
	status, _, err := post(context.Background(), http.DefaultClient, p.url("/webhooks/pacspace"), e2eSecret, "evt_store_1", body)
	require.NoError(t, err)
	require.Equal(t, 200, status)

	type page struct {
		Entries []struct {
			Key   string          `json:"key"`
			Value json.RawMessage `json:"value"`
		} `json:"entries"`
	}
	var trail page
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		cliJSON(t, p, &trail, "plugin", "store", "audit", "--prefix", "entry/")
		if len(trail.Entries) >= 2 { // unmatched_delta and period_drift
			break
		}
		require.True(t, time.Now().Before(deadline), "no audit trail; agent log:\n", p.stderr.String())
	}
	compact := func(raw []byte) string {
		var b bytes.Buffer
		require.NoError(t, json.Compact(&b, raw))
		return b.String()
	}
	for _, e := range trail.Entries {
		require.True(t, strings.HasPrefix(e.Key, "entry/"), e.Key)
		require.Contains(t, compact(e.Value), `"eventId":"evt_store_1"`)
	}

	stdout, stderr, code := runAdminCLI(t, p, "plugin", "store", "audit", "--prefix", "entry/", "--values", "--desc", "--limit", "1")
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Equal(t, 1, len(lines), stdout)
	require.Equal(t, compact(trail.Entries[len(trail.Entries)-1].Value), lines[0])

	stdout, _, code = runAdminCLI(t, p, "plugin", "store", "audit")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "KEY")
	require.Contains(t, stdout, "entry/")

	_, stderr, code = runAdminCLI(t, p, "plugin", "store", "nope")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "HTTP 404")
}
