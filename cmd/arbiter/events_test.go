package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// TestEventsCLI runs `arbiter events list/get/replay` against the real
// binary, with events decided by the default policies and delivered by the
// bundled console plugin.
func TestEventsCLI(t *testing.T) {
	dataDir := t.TempDir()
	p := start(t, []string{"PACSPACE_WEBHOOK_SECRET=" + e2eSecret, "ARBITER_DATA_DIR=" + dataDir,
		"ARBITER_LISTEN=127.0.0.1:0", "ARBITER_ADMIN_TOKEN=" + cliToken}, "serve")
	delta := func(customer string, latencyMs int) []byte {
		return fmt.Appendf(nil, `{"event":"delta.verified","timestamp":"2026-04-10T12:00:00.000Z","data":{"receiptId":"rcpt_%s",`+
			`"delta":{"customerId":%q,"referenceId":"ref_%s","amount":10},"verification":{"verified":true,"discrepancies":[],"latencyMs":%d}}}`,
			customer, customer, customer, latencyMs)
	}
	for i, body := range [][]byte{delta("cus_a", 840), delta("cus_b", 6000)} { // seq 1 and 2
		id := []string{"evt_cli_a", "evt_cli_b"}[i]
		status, _, err := post(context.Background(), http.DefaultClient, p.url("/webhooks/pacspace"), e2eSecret, id, body)
		require.NoError(t, err)
		require.Equal(t, 200, status)
	}
	// Wait for both events' three actions to be delivered to console.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var page struct {
			Deliveries []struct{ Status string } `json:"deliveries"`
		}
		cliJSON(t, p, &page, "deliveries", "list", "--status", "delivered")
		if len(page.Deliveries) == 3 {
			break
		}
		require.True(t, time.Now().Before(deadline), "deliveries not delivered after 30s:", p.stderr.String())
	}

	t.Run("list", func(t *testing.T) {
		out, stderr, code := runAdminCLI(t, p, "events", "list")
		require.Equal(t, 0, code, stderr)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Equal(t, 4, len(lines), out)
		require.True(t, hasFields(lines[0], "SEQ", "ID", "ENDPOINT", "TYPE", "STATUS", "RECEIVED", "ACTIONS"), lines[0])
		require.True(t, strings.Contains(out, "evt_cli_a") && strings.Contains(out, "evt_cli_b"), out)
		require.Contains(t, out, "alert/unmatched_delta, sla_violation/verification_latency")
		require.Contains(t, lines[3], "page 1 of 1, 2 events")

		var page struct {
			Events []struct {
				ID      string `json:"id"`
				Actions []struct {
					Reason  string   `json:"reason"`
					Targets []string `json:"targets"`
				} `json:"actions"`
			} `json:"events"`
		}
		cliJSON(t, p, &page, "events", "list", "--reason", "verification_latency")
		require.Equal(t, 1, len(page.Events))
		require.Equal(t, "evt_cli_b", page.Events[0].ID)
		require.Equal(t, []string{"console"}, page.Events[0].Actions[1].Targets)

		_, stderr, code = runAdminCLI(t, p, "events", "list", "--status", "done")
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "status: must be one of")
	})

	t.Run("get", func(t *testing.T) {
		out, stderr, code := runAdminCLI(t, p, "events", "get", "evt_cli_b")
		require.Equal(t, 0, code, stderr)
		require.Contains(t, out, "sla_violation/verification_latency warning customerId=cus_b latencyMs=6000 receiptId=rcpt_cus_b threshold=5000 -> console")
		require.Contains(t, out, `"latencyMs":6000`) // the body
		require.True(t, hasFields(out, "DELIVERY", "PLUGIN", "ACTION", "STATUS", "ATTEMPTS", "LAST", "ERROR"), out)
		require.Equal(t, 2, strings.Count(out, " delivered "), out)

		var ev struct {
			Seq     int64             `json:"seq"`
			Headers map[string]string `json:"headers"`
		}
		cliJSON(t, p, &ev, "events", "get", "evt_cli_b")
		require.Equal(t, "[redacted]", ev.Headers["X-PacSpace-Signature"])
		out, stderr, code = runAdminCLI(t, p, "events", "get", fmt.Sprintf("seq:%d", ev.Seq))
		require.Equal(t, 0, code, stderr)
		require.Contains(t, out, "evt_cli_b")

		_, stderr, code = runAdminCLI(t, p, "events", "get", "evt_cli_nope")
		require.Equal(t, 1, code)
		require.Contains(t, stderr, `no event "evt_cli_nope" (HTTP 404)`)
	})

	t.Run("replay", func(t *testing.T) {
		out, stderr, code := runAdminCLI(t, p, "events", "replay")
		require.Equal(t, 0, code, stderr)
		require.Contains(t, out, "evaluated 2 events: 0 changed, 2 unchanged, 0 failed")

		dir := filepath.Join(t.TempDir(), "policies")
		require.NoError(t, os.CopyFS(dir, os.DirFS("../../policies")))
		data, err := os.ReadFile(filepath.Join(dir, "data.json"))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "data.json"),
			bytes.Replace(data, []byte(`"verification_latency_ms": 5000`), []byte(`"verification_latency_ms": 700`), 1), 0o644))
		out, stderr, code = runAdminCLI(t, p, "events", "replay", "--policy-dir", dir)
		require.Equal(t, 0, code, stderr)
		for _, want := range []string{
			"evt_cli_a (seq 1), 1 unchanged\n" +
				"  + sla_violation/verification_latency warning customerId=cus_a latencyMs=840 receiptId=rcpt_cus_a threshold=700 -> console\n",
			"evt_cli_b (seq 2), 1 unchanged\n" +
				"  - sla_violation/verification_latency warning customerId=cus_b latencyMs=6000 receiptId=rcpt_cus_b threshold=5000 -> console\n" +
				"  + sla_violation/verification_latency warning customerId=cus_b latencyMs=6000 receiptId=rcpt_cus_b threshold=700 -> console\n",
			"evaluated 2 events: 2 changed, 0 unchanged, 0 failed\n",
			"added:   verification_latency 2\n",
			"removed: verification_latency 1\n",
		} {
			require.Contains(t, out, want)
		}

		var res struct {
			Events  []struct{ ID string } `json:"events"`
			Summary struct{ Evaluated, Changed int }
		}
		cliJSON(t, p, &res, "events", "replay", "--policy-dir", dir, "--event", "evt_cli_a")
		require.Equal(t, 1, res.Summary.Evaluated)
		require.Equal(t, 1, res.Summary.Changed)
		require.Equal(t, "evt_cli_a", res.Events[0].ID)

		require.NoError(t, os.WriteFile(filepath.Join(dir, "broken.rego"), []byte("package arbiter.rules\n\nactions contains x if {\n"), 0o644))
		_, stderr, code = runAdminCLI(t, p, "events", "replay", "--policy-dir", dir)
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "the candidate policy set was rejected (HTTP 422)")
		require.Contains(t, stderr, "broken.rego:")
	})
	require.NotContains(t, p.stderr.String(), cliToken)
}
