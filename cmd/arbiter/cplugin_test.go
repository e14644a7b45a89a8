package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// ntfyModule is the example plugin written in C, as committed.
const ntfyModule = "../../examples/plugins/ntfy/ntfy.wasm"

// TestCPluginEndToEnd: the plugin written in C passes arbiter plugin
// check, and the real binary delivers a decided alert through it to a
// loopback ntfy.
func TestCPluginEndToEnd(t *testing.T) {
	out, err := exec.Command(arbiterBin, "plugin", "check", ntfyModule).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "PASS describe: ntfy 1.0.0 (notifier)")
	require.NotContains(t, string(out), "FAIL")

	titles := make(chan string, 16)
	ntfy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		titles <- r.Header.Get("Title")
		fmt.Fprintf(w, `{"id":"msg%d","event":"message","topic":"arbiter"}`, len(titles))
	}))
	defer ntfy.Close()
	module, err := filepath.Abs(ntfyModule)
	require.NoError(t, err)
	dataDir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "arbiter.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`
plugins:
  - name: ntfy
    path: %s
    allow_hosts: [%q]
    secrets: {topic: %q}
    config: {topic_url_secret: topic}
policy:
  data:
    routing: [{match: {type: [alert]}, targets: [ntfy]}]
    routing_default: []
`, module, ntfy.Listener.Addr().String(), ntfy.URL+"/arbiter")), 0o600))
	p := start(t, []string{"PACSPACE_WEBHOOK_SECRET=" + e2eSecret, "ARBITER_DATA_DIR=" + dataDir,
		"ARBITER_LISTEN=127.0.0.1:0", "ARBITER_ADMIN_TOKEN=arb_e2e_token_0123456789abcdef",
		"ARBITER_WORKER_GRACE=200ms"}, "serve", "--config", cfg)
	body, err := os.ReadFile("../../testdata/events/delta.verified.json")
	require.NoError(t, err)
	status, _, err := post(context.Background(), http.DefaultClient, p.url("/webhooks/pacspace"), e2eSecret, "evt_c_1", body)
	require.NoError(t, err)
	require.Equal(t, 200, status)

	// The delta matches no ledger record: unmatched_delta, and period_drift.
	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case title := <-titles:
			got[title] = true
		case <-time.After(30 * time.Second):
			t.Fatalf("ntfy received %v:\n%s", got, p.stderr.String())
		}
	}
	require.True(t, got["Arbiter: unmatched_delta"] && got["Arbiter: period_drift"], got)

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "arbiter.db")+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var total, delivered int
		db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(status = 'delivered'), 0) FROM deliveries
			WHERE event_id = 'evt_c_1' AND plugin = 'ntfy'`).Scan(&total, &delivered)
		if total == 2 && delivered == 2 {
			break
		}
		require.True(t, time.Now().Before(deadline), "deliveries through ntfy not recorded as delivered:", total, delivered)
	}
	require.True(t, strings.Contains(p.stderr.String(), "plugin loaded") && strings.Contains(p.stderr.String(), "version=1.0.0"), p.stderr.String())
}
