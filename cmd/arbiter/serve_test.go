package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/pacspace"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

const e2eSecret = "whsec_e2e_0123456789abcdef"

type posted struct {
	id   string
	body []byte
}

func post(ctx context.Context, client *http.Client, url, secret, id string, body []byte) (int, map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if err := pacspace.Sign(req.Header, engine.SchemeV1, secret, id, time.Now(), body); err != nil {
		return 0, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var out map[string]any
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out, nil
}

func deltaBody(n int) []byte {
	return fmt.Appendf(nil, `{"event":"delta.verified","timestamp":"2026-04-10T12:00:00.000Z","data":{"receiptId":"rcpt_%d","deltaIndex":%d,"delta":{"customerId":"cus_%d","referenceId":"ref_%d","amount":10}}}`, n, n, n%7, n)
}

// TestCrashLosesNothing kills the agent with SIGKILL while it is acknowledging
// events, restarts it, and checks every acknowledged event is stored exactly
// once and is still recognized as a duplicate.
func TestCrashLosesNothing(t *testing.T) {
	dataDir := t.TempDir()
	env := []string{"PACSPACE_WEBHOOK_SECRET=" + e2eSecret, "ARBITER_DATA_DIR=" + dataDir, "ARBITER_LISTEN=127.0.0.1:0"}
	p := start(t, env, "serve")
	url := p.url("/webhooks/pacspace")

	var (
		mu    sync.Mutex
		acked []posted
		next  atomic.Int64
	)
	ctx, cancel := context.WithCancel(context.Background())
	client := &http.Client{Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n := int(next.Add(1))
				if n > 20000 {
					return
				}
				ev := posted{id: fmt.Sprintf("evt_crash_%d", n), body: deltaBody(n)}
				status, out, err := post(ctx, client, url, e2eSecret, ev.id, ev.body)
				if err != nil {
					continue // the crash cut this one off: it was never acknowledged
				}
				if status == 200 && out["received"] == true && out["duplicate"] == nil {
					mu.Lock()
					acked = append(acked, ev)
					mu.Unlock()
				}
			}
		}()
	}
	// Let a few hundred acknowledgements through, then pull the plug mid-stream.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	p.wait(t, 10*time.Second)
	cancel()
	wg.Wait()
	require.True(t, len(acked) >= 300, "acknowledged before the crash", len(acked))

	// After a restart every acknowledged event is in the database exactly
	// once (the journal holds what the store had not loaded), and the same
	// events, by id and by body under a new id, are duplicates.
	p2 := start(t, env, "serve")
	url = p2.url("/webhooks/pacspace")
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "arbiter.db")+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	loaded := time.Now().Add(30 * time.Second)
	for _, ev := range acked {
		var n int
		var body []byte
		for {
			require.NoError(t, db.QueryRow(`SELECT COUNT(*), MAX(body) FROM events WHERE event_id = ?`, ev.id).Scan(&n, &body))
			if n > 0 || time.Now().After(loaded) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		require.Equal(t, 1, n, ev.id)
		require.Equal(t, string(ev.body), string(body), ev.id)
	}
	for i, ev := range acked {
		id := ev.id
		if i%2 == 1 {
			id = "evt_replayed_" + ev.id
		}
		status, out, err := post(context.Background(), client, url, e2eSecret, id, ev.body)
		require.NoError(t, err)
		require.Equal(t, 200, status)
		require.Equal(t, true, out["duplicate"], ev.id)
	}
	var total int
	require.NoError(t, db.QueryRow(`SELECT COUNT(*) FROM events`).Scan(&total))
	require.True(t, total >= len(acked), "stored", total, "acked", len(acked))
	require.NoError(t, p2.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p2.wait(t, 30*time.Second))
}

// TestSeedDropIn runs the agent the way the seed agent is run: only PORT and
// PACSPACE_WEBHOOK_SECRET in the environment.
func TestSeedDropIn(t *testing.T) {
	port := freePort(t)
	dir := t.TempDir()
	p := start(t, []string{"PORT=" + port, "PACSPACE_WEBHOOK_SECRET=" + e2eSecret, "ARBITER_DATA_DIR=" + dir}, "serve")
	require.Contains(t, p.addr, ":"+port)
	body := []byte(`{"event":"batch.verified","timestamp":"2026-04-10T12:00:00.000Z","data":{"batchId":"batch_1","items":[{"key":"acct:1","bits":10}],"submittedAt":"2026-04-10T11:59:59.000Z","verifiedAt":"2026-04-10T12:00:00.000Z","creditsConsumed":1,"remainingBalance":5000}}`)
	for range 2 { // the second is a duplicate
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:"+port+"/webhooks/pacspace", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(pacspace.HeaderSignature, pacspace.SignLegacy(e2eSecret, body))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
	}

	status, raw := getJSON(t, "http://127.0.0.1:"+port+"/health")
	require.Equal(t, 200, status)
	var h map[string]any
	require.NoError(t, json.Unmarshal([]byte(raw), &h))
	for _, k := range []string{"status", "ledgerSize", "proofChainLength", "lastProof"} {
		_, ok := h[k]
		require.True(t, ok, "missing /health field", k, raw)
	}
	require.Equal(t, "ok", h["status"])
	for _, path := range []string{"/healthz", "/readyz"} {
		status, _ := getJSON(t, "http://127.0.0.1:"+port+path)
		require.Equal(t, 200, status, path)
	}
	_, metrics := getJSON(t, "http://127.0.0.1:"+port+"/metrics")
	for _, m := range []string{"arbiter_webhooks_received_total", "arbiter_webhooks_acknowledged_total", "arbiter_webhooks_duplicates_total",
		`arbiter_webhooks_rejected_total{reason="bad_signature"}`, "arbiter_inbox_depth", "arbiter_webhook_ack_seconds_bucket",
		`arbiter_webhooks_legacy_signature_total{endpoint="pacspace"} 2`, `arbiter_webhooks_duplicates_total{endpoint="pacspace"} 1`} {
		require.Contains(t, metrics, m)
	}
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	require.Equal(t, 0, p.wait(t, 30*time.Second))
}

var secretRE = regexp.MustCompile(`whsec_[0-9a-f]{64}`)

// TestGeneratedSecret: with no secret configured the first run generates
// one, shows it once on stdout (never in the log), and keeps it.
func TestGeneratedSecret(t *testing.T) {
	dir := t.TempDir()
	env := []string{"ARBITER_DATA_DIR=" + dir, "ARBITER_LISTEN=127.0.0.1:0"}
	p := start(t, env, "serve")
	secret := secretRE.FindString(p.stdout.String())
	require.True(t, secret != "", "secret printed on stdout", p.stdout.String())
	require.NotContains(t, p.stderr.String(), secret)
	status, _, err := post(context.Background(), http.DefaultClient, p.url("/webhooks/pacspace"), secret, "evt_gen_1", deltaBody(1))
	require.NoError(t, err)
	require.Equal(t, 200, status)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.wait(t, 30*time.Second))

	p = start(t, env, "serve")
	require.True(t, !secretRE.MatchString(p.stdout.String()), "secret shown again", p.stdout.String())
	status, _, err = post(context.Background(), http.DefaultClient, p.url("/webhooks/pacspace"), secret, "evt_gen_2", deltaBody(2))
	require.NoError(t, err)
	require.Equal(t, 200, status, "the kept secret still verifies")
}

func TestBadConfigIsAnError(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unknown env", []string{"ARBITER_NO_SUCH_KEY=1"}, nil, "ARBITER_NO_SUCH_KEY"},
		{"bad level", []string{"ARBITER_LOG_LEVEL=loud"}, nil, "log.level"},
		{"bad duration", []string{"ARBITER_RECEIVER_TOLERANCE=soon"}, nil, "tolerance"},
		{"missing file", nil, []string{"--config", "/nonexistent/arbiter.yaml"}, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(arbiterBin, append([]string{"serve", "--data-dir", t.TempDir()}, tc.args...)...)
			cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, tc.env...)
			out, err := cmd.CombinedOutput()
			require.True(t, err != nil, "expected a non-zero exit", string(out))
			require.Contains(t, string(out), tc.want)
		})
	}
}

// TestPipelineEndToEnd: a signed event goes through the real binary to a
// decision and a delivery the bundled console plugin carries out, visible in
// the database, the log, /health and the admin API.
func TestPipelineEndToEnd(t *testing.T) {
	dataDir := t.TempDir()
	const token = "arb_e2e_token_0123456789abcdef"
	p := start(t, []string{"PACSPACE_WEBHOOK_SECRET=" + e2eSecret, "ARBITER_DATA_DIR=" + dataDir,
		"ARBITER_LISTEN=127.0.0.1:0", "ARBITER_ADMIN_TOKEN=" + token,
		"ARBITER_WORKER_GRACE=500ms"}, "serve") // the first proof of a customer waits for an older one this long
	body, err := os.ReadFile("../../testdata/events/delta.verified.json")
	require.NoError(t, err)
	status, _, err := post(context.Background(), http.DefaultClient, p.url("/webhooks/pacspace"), e2eSecret, "evt_pipeline_1", body)
	require.NoError(t, err)
	require.Equal(t, 200, status)

	// No internal ledger record matches: identify raises unmatched_delta,
	// routed to console, delivered.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "arbiter.db")+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Every action of the event (unmatched_delta, and period_drift since
		// no ledger record adds to our total) is delivered to console.
		var total, delivered int
		db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(status = 'delivered'), 0) FROM deliveries
			WHERE event_id = 'evt_pipeline_1' AND plugin = 'console'`).Scan(&total, &delivered)
		if total > 0 && delivered == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivered console delivery after 20s:\n%s", p.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var actions, revision string
	require.NoError(t, db.QueryRow(`SELECT actions, revision FROM decisions WHERE event_id = 'evt_pipeline_1'`).Scan(&actions, &revision))
	require.Contains(t, actions, `"reason":"unmatched_delta"`)
	require.True(t, len(revision) == 64, "revision is a content hash", revision)
	p.waitLog(t, "action alert/unmatched_delta", 20*time.Second) // the console plugin logged it

	_, health := getJSON(t, p.url("/health"))
	require.Contains(t, health, `"proofChainLength":1`)

	req, _ := http.NewRequest(http.MethodGet, p.url("/v1/policies"), nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 401, resp.StatusCode)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, string(raw), revision)
	require.NotContains(t, p.stderr.String(), token)
	require.NotContains(t, p.stderr.String(), e2eSecret)
}

// TestPolicyHotReload runs the agent on a policy directory and changes it
// under the agent: a good edit goes live on its own, a broken one is
// rejected with its file:row and the previous revision stays, and SIGHUP
// reloads too.
func TestPolicyHotReload(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policies")
	require.NoError(t, os.CopyFS(pol, os.DirFS("../../policies")))
	const token = "arb_reload_token_0123456789abcdef"
	p := start(t, []string{"PACSPACE_WEBHOOK_SECRET=" + e2eSecret, "ARBITER_DATA_DIR=" + filepath.Join(dir, "data"),
		"ARBITER_LISTEN=127.0.0.1:0", "ARBITER_ADMIN_TOKEN=" + token, "ARBITER_LOG_LEVEL=debug"}, "serve", "--policy-dir", pol)
	p.waitLog(t, "watching policy directory", 10*time.Second)
	status := func() map[string]any {
		req, _ := http.NewRequest(http.MethodGet, p.url("/v1/policies"), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var env struct {
			Data map[string]any `json:"data"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
		return env.Data
	}
	waitFor := func(what string, cond func(map[string]any) bool) map[string]any {
		deadline := time.Now().Add(15 * time.Second)
		for {
			st := status()
			if cond(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: policy status still %v", what, st)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	first := status()["revision"].(string)

	// A good edit: a threshold in data.json.
	data, err := os.ReadFile(filepath.Join(pol, "data.json"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(pol, "data.json"), bytes.Replace(data, []byte(`"drift": 0.01`), []byte(`"drift": 0.02`), 1), 0o644))
	second := waitFor("good edit", func(st map[string]any) bool { return st["revision"] != first })["revision"].(string)

	// A broken edit is rejected; the second revision stays active.
	require.NoError(t, os.WriteFile(filepath.Join(pol, "broken.rego"), []byte("package arbiter.rules\n\nactions contains x if {\n"), 0o644))
	st := waitFor("broken edit", func(st map[string]any) bool { return st["lastError"] != nil })
	require.Equal(t, second, st["revision"])
	require.Contains(t, fmt.Sprint(st["lastError"]), "broken.rego:")
	p.waitLog(t, "broken.rego:", 10*time.Second)

	// Fixed, then reloaded by SIGHUP as well.
	require.NoError(t, os.Remove(filepath.Join(pol, "broken.rego")))
	waitFor("fixed", func(st map[string]any) bool { return st["lastError"] == nil })
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	p.waitLog(t, "SIGHUP: reloading policies", 10*time.Second)
	require.Equal(t, second, status()["revision"])
}
