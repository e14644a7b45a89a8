package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

const cliToken = "arb_cli_token_0123456789abcdef"

// runAdminCLI runs `arbiter args...` against the agent p and returns its
// stdout, stderr and exit code.
func runAdminCLI(t *testing.T, p *process, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, arbiterBin, append(args, "--server", p.url(""), "--token", cliToken)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// cliJSON runs a command with --output json, which must succeed, and
// decodes what it prints.
func cliJSON(t *testing.T, p *process, out any, args ...string) {
	t.Helper()
	stdout, stderr, code := runAdminCLI(t, p, append(args, "--output", "json")...)
	require.Equal(t, 0, code, stderr)
	require.NoError(t, json.Unmarshal([]byte(stdout), out), stdout)
}

type cliDelivery struct {
	ID          string     `json:"id"`
	EventID     string     `json:"eventId"`
	Plugin      string     `json:"plugin"`
	ActionType  string     `json:"actionType"`
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"lastError"`
	CreatedAt   time.Time  `json:"createdAt"`
	DeliveredAt *time.Time `json:"deliveredAt"`
	History     []struct {
		Attempt int    `json:"attempt"`
		Result  string `json:"result"`
		Error   string `json:"error"`
	} `json:"history"`
}

type cliDeliveryPage struct {
	Deliveries []cliDelivery `json:"deliveries"`
	Pagination struct {
		Total int `json:"total"`
	} `json:"pagination"`
}

// TestDeliveriesCLI runs the agent with the bundled webhook plugin posting
// to a loopback receiver that refuses, so every delivery fails; then it
// inspects, exports and retries them with `arbiter deliveries` once the
// receiver accepts.
func TestDeliveriesCLI(t *testing.T) {
	var accept atomic.Bool
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if !accept.Load() {
			http.Error(w, `refused: "bad", payload`, http.StatusBadRequest) // a plugin failure: no automatic retry
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	u, _ := url.Parse(receiver.URL)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "arbiter.yaml")
	require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, `plugins:
  - name: hook
    path: "bundled:webhook"
    allow_hosts: [%q]
    secrets: {signing: whsec_hook_0123456789}
    config: {url: %q, secret_name: signing}
policy:
  data: {routing: [], routing_default: [hook]}
`, u.Host, receiver.URL+"/arbiter"), 0o600))
	p := start(t, []string{"PACSPACE_WEBHOOK_SECRET=" + e2eSecret, "ARBITER_DATA_DIR=" + filepath.Join(dir, "data"),
		"ARBITER_LISTEN=127.0.0.1:0", "ARBITER_ADMIN_TOKEN=" + cliToken, "ARBITER_WORKER_GRACE=100ms"}, "serve", "--config", cfg)
	body, err := os.ReadFile("../../testdata/events/delta.verified.json")
	require.NoError(t, err)
	status, _, err := post(context.Background(), http.DefaultClient, p.url("/webhooks/pacspace"), e2eSecret, "evt_cli_1", body)
	require.NoError(t, err)
	require.Equal(t, 200, status)

	// Every action of the event fails at the receiver.
	var failed cliDeliveryPage
	for deadline := time.Now().Add(30 * time.Second); ; {
		cliJSON(t, p, &failed, "deliveries", "list", "--event-id", "evt_cli_1")
		done := len(failed.Deliveries) > 0
		for _, d := range failed.Deliveries {
			done = done && d.Status == "failed"
		}
		if done {
			break
		}
		require.True(t, time.Now().Before(deadline), "deliveries not failed in time", failed)
		time.Sleep(100 * time.Millisecond)
	}
	n := len(failed.Deliveries)
	require.True(t, n >= 2, "the fixture raises several actions", n)
	id := failed.Deliveries[0].ID
	for _, d := range failed.Deliveries {
		require.Equal(t, "hook", d.Plugin)
		require.Equal(t, 1, d.Attempts)
		require.Equal(t, `webhook: HTTP 400: refused: "bad", payload`, d.LastError)
	}

	t.Run("list", func(t *testing.T) {
		stdout, stderr, code := runAdminCLI(t, p, "deliveries", "list", "--status", "failed", "--plugin", "hook")
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "ID")
		require.Contains(t, stdout, "LAST ERROR")
		require.Contains(t, stdout, id)
		require.Contains(t, stdout, fmt.Sprintf("page 1 of 1, %d deliveries", n))

		var page cliDeliveryPage
		cliJSON(t, p, &page, "deliveries", "list", "--sort-by", "createdAt", "--sort-order", "asc", "--limit", "1", "--offset", "1")
		require.Equal(t, n, page.Pagination.Total)
		require.Equal(t, 1, len(page.Deliveries))
		require.Equal(t, failed.Deliveries[n-2].ID, page.Deliveries[0].ID, "ascending is the default order reversed")

		cliJSON(t, p, &page, "deliveries", "list", "--status", "delivered")
		require.Equal(t, 0, page.Pagination.Total)
		today := time.Now().UTC().Format(time.DateOnly)
		cliJSON(t, p, &page, "deliveries", "list", "--start-date", today, "--end-date", today, "--action-type", failed.Deliveries[0].ActionType)
		require.True(t, page.Pagination.Total >= 1, page)

		_, stderr, code = runAdminCLI(t, p, "deliveries", "list", "--status", "lost", "--sort-by", "size")
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "invalid query parameters (HTTP 400)")
		require.Contains(t, stderr, "status: must be one of: pending, delivered, failed")
		require.Contains(t, stderr, "sortBy: must be one of")
	})

	t.Run("get", func(t *testing.T) {
		stdout, stderr, code := runAdminCLI(t, p, "deliveries", "get", id)
		require.Equal(t, 0, code, stderr)
		for _, want := range []string{"status:", "failed", "idempotency key:", "action:", `"type":`, "ATTEMPT", "fail", "HTTP 400"} {
			require.Contains(t, stdout, want)
		}
		_, stderr, code = runAdminCLI(t, p, "deliveries", "get", "dlv_nope")
		require.Equal(t, 1, code)
		require.Contains(t, stderr, `no delivery "dlv_nope" (HTTP 404)`)
	})

	t.Run("export", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "failed.csv")
		_, stderr, code := runAdminCLI(t, p, "deliveries", "export", "--status", "failed", "--sort-order", "asc", "--out", out)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stderr, "wrote "+out)
		raw, err := os.ReadFile(out)
		require.NoError(t, err)
		recs, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
		require.NoError(t, err)
		require.Equal(t, "id", recs[0][0])
		require.Equal(t, n+1, len(recs))
		for i, rec := range recs[1:] {
			d := failed.Deliveries[n-1-i]
			require.Equal(t, []string{d.ID, d.EventID, d.Plugin, d.ActionType, "failed", "1", d.LastError,
				d.CreatedAt.Format(time.RFC3339Nano), "", ""}, rec)
		}
		// To stdout, the same file.
		stdout, stderr, code := runAdminCLI(t, p, "deliveries", "export", "--status", "failed", "--sort-order", "asc")
		require.Equal(t, 0, code, stderr)
		require.Equal(t, string(raw), stdout)
		stdout, _, _ = runAdminCLI(t, p, "deliveries", "export", "--limit", "1")
		require.Equal(t, 2, strings.Count(stdout, "\r\n"))

		_, stderr, code = runAdminCLI(t, p, "deliveries", "export", "--end-date", "soon", "--out", out+".bad")
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "endDate: must be a date as YYYY-MM-DD")
		_, err = os.Stat(out + ".bad")
		require.True(t, os.IsNotExist(err), "no file is left for a refused export")
	})

	t.Run("retry", func(t *testing.T) {
		accept.Store(true)
		stdout, stderr, code := runAdminCLI(t, p, "deliveries", "retry", id)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stdout, "retried "+id+": ")

		var d cliDelivery
		for deadline := time.Now().Add(20 * time.Second); ; {
			cliJSON(t, p, &d, "deliveries", "get", id)
			if d.Status == "delivered" {
				break
			}
			require.True(t, time.Now().Before(deadline), "retried delivery not delivered", d)
			time.Sleep(50 * time.Millisecond)
		}
		require.Equal(t, 2, d.Attempts, "the attempt count goes on")
		require.Equal(t, 2, len(d.History))
		require.Equal(t, "fail", d.History[0].Result)
		require.Equal(t, "ok", d.History[1].Result)
		require.True(t, d.DeliveredAt != nil, "delivered at a time")

		// The others are still failed: a retry touches only its delivery.
		var page cliDeliveryPage
		cliJSON(t, p, &page, "deliveries", "list", "--status", "failed")
		require.Equal(t, n-1, page.Pagination.Total)

		_, stderr, code = runAdminCLI(t, p, "deliveries", "retry", id)
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "is delivered; only failed deliveries can be retried (HTTP 409)")
		_, stderr, code = runAdminCLI(t, p, "deliveries", "retry", "dlv_nope")
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "(HTTP 404)")
	})

	t.Run("auth", func(t *testing.T) {
		cmd := exec.Command(arbiterBin, "deliveries", "list", "--server", p.url(""), "--token", "arb_wrong_token_0123456789")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		out, err := cmd.CombinedOutput()
		require.True(t, err != nil, string(out))
		require.Contains(t, string(out), "missing or invalid bearer token (HTTP 401)")
	})
	require.NotContains(t, p.stderr.String(), cliToken)
}
