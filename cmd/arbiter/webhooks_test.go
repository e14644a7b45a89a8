package main

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

type cliWebhook struct {
	ID            string           `json:"id"`
	URL           string           `json:"url"`
	Enabled       bool             `json:"enabled"`
	Secret        string           `json:"secret"`
	SuccessCount  int64            `json:"successCount"`
	FailureCount  int64            `json:"failureCount"`
	Failures      map[string]int64 `json:"failures"`
	ActiveSecrets int              `json:"activeSecrets"`
}

// TestWebhooksCLI manages an endpoint of the real agent with `arbiter
// webhooks` from creation to deletion, delivering to it at each step, and
// reads a held delta with `arbiter chains`.
func TestWebhooksCLI(t *testing.T) {
	dir := t.TempDir()
	p := start(t, []string{"PACSPACE_WEBHOOK_SECRET=" + e2eSecret, "ARBITER_DATA_DIR=" + dir,
		"ARBITER_LISTEN=127.0.0.1:0", "ARBITER_ADMIN_TOKEN=" + cliToken, "ARBITER_WORKER_GRACE=1h"}, "serve")
	ctx := context.Background()
	deliver := func(secret, id string) int {
		t.Helper()
		status, _, err := post(ctx, http.DefaultClient, p.url("/webhooks/shop"), secret, id,
			[]byte(`{"event":"receipt.generated","timestamp":"2026-04-10T12:00:00.000Z","data":{"receiptId":"`+id+`"}}`))
		require.NoError(t, err)
		return status
	}
	var secrets []string

	// create: the secret once on stdout, the warning on stderr.
	stdout, stderr, code := runAdminCLI(t, p, "webhooks", "create", "shop", "--description", "Production webhook")
	require.Equal(t, 0, code, stderr)
	secret := secretRE.FindString(stdout)
	require.True(t, secret != "", "no secret in", stdout)
	secrets = append(secrets, secret)
	require.Contains(t, stderr, "it will not be shown again")
	require.Contains(t, stdout, p.url("/webhooks/shop"))
	require.Equal(t, 200, deliver(secret, "evt_cli_wh_1"))

	_, stderr, code = runAdminCLI(t, p, "webhooks", "create", "shop")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "(HTTP 409)")
	_, stderr, code = runAdminCLI(t, p, "webhooks", "create", "Not A Name")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "(HTTP 400)")
	require.Contains(t, stderr, "name: must be 1 to 64 characters")

	// list and get never show the secret.
	stdout, stderr, code = runAdminCLI(t, p, "webhooks", "list")
	require.Equal(t, 0, code, stderr)
	require.True(t, hasFields(stdout, "ID", "STATE", "ACCEPTED", "REFUSED", "LAST", "ACCEPTED", "SECRETS", "CREATED", "URL"), stdout)
	require.True(t, regexp.MustCompile(`(?m)^shop +enabled +1 +0 `).MatchString(stdout), stdout)
	require.True(t, regexp.MustCompile(`(?m)^pacspace +enabled `).MatchString(stdout), stdout)
	require.Contains(t, stdout, "2 endpoints")
	require.NotContains(t, stdout, secret)
	var page struct {
		Webhooks []cliWebhook `json:"webhooks"`
	}
	cliJSON(t, p, &page, "webhooks", "list", "--limit", "1", "--page", "2")
	require.Equal(t, 1, len(page.Webhooks))
	require.Equal(t, "shop", page.Webhooks[0].ID)
	require.Equal(t, "", page.Webhooks[0].Secret)
	stdout, stderr, code = runAdminCLI(t, p, "webhooks", "get", "shop")
	require.Equal(t, 0, code, stderr)
	require.True(t, hasFields(stdout, "accepted:", "1"), stdout)
	require.True(t, hasFields(stdout, "description:", "Production", "webhook"), stdout)
	require.NotContains(t, stdout, secret)
	_, stderr, code = runAdminCLI(t, p, "webhooks", "get", "nope")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `no webhook endpoint "nope" (HTTP 404)`)

	// test: through the receiver into the inbox, and decided.
	stdout, stderr, code = runAdminCLI(t, p, "webhooks", "test", "shop")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "HTTP 200, Test event sent successfully.")
	var res struct {
		Success bool   `json:"success"`
		EventID string `json:"eventId"`
	}
	cliJSON(t, p, &res, "webhooks", "test", "shop")
	require.True(t, res.Success, res)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "arbiter.db")+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	for deadline := time.Now().Add(30 * time.Second); ; {
		var status, typ string
		var decisions int
		err := db.QueryRow(`SELECT e.status, e.event_type, (SELECT COUNT(*) FROM decisions d WHERE d.event_seq = e.seq)
			FROM events e WHERE e.endpoint = 'shop' AND e.event_id = ?`, res.EventID).Scan(&status, &typ, &decisions)
		if !errors.Is(err, sql.ErrNoRows) { // acknowledged from the journal, loaded a moment later
			require.NoError(t, err)
		}
		if status == "processed" {
			require.Equal(t, "test", typ)
			require.Equal(t, 1, decisions)
			break
		}
		require.True(t, time.Now().Before(deadline), "test event not processed", status)
		time.Sleep(50 * time.Millisecond)
	}
	var wh cliWebhook
	cliJSON(t, p, &wh, "webhooks", "get", "shop")
	require.Equal(t, int64(3), wh.SuccessCount)

	// toggle: a disabled endpoint refuses at once, and so does its test.
	stdout, stderr, code = runAdminCLI(t, p, "webhooks", "toggle", "shop")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "shop is now disabled")
	require.Equal(t, 403, deliver(secret, "evt_cli_wh_off"))
	stdout, _, code = runAdminCLI(t, p, "webhooks", "test", "shop")
	require.Equal(t, 1, code)
	require.Contains(t, stdout, "HTTP 403")
	stdout, _, _ = runAdminCLI(t, p, "webhooks", "toggle", "shop")
	require.Contains(t, stdout, "shop is now enabled")
	cliJSON(t, p, &wh, "webhooks", "get", "shop")
	require.Equal(t, int64(2), wh.Failures["endpoint_disabled"])

	// rotate: both secrets verify during the grace period, the new one after.
	_, stderr, code = runAdminCLI(t, p, "webhooks", "rotate", "shop", "--grace-period", "a while")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "gracePeriod: must be a duration")
	stdout, stderr, code = runAdminCLI(t, p, "webhooks", "rotate", "shop", "--grace-period", "2s")
	require.Equal(t, 0, code, stderr)
	rotatedAt := time.Now()
	require.Contains(t, stderr, "it will not be shown again")
	newSecret := secretRE.FindString(stdout)
	require.True(t, newSecret != "" && newSecret != secret, stdout)
	secrets = append(secrets, newSecret)
	require.Equal(t, 200, deliver(secret, "evt_cli_wh_grace_old"))
	require.Equal(t, 200, deliver(newSecret, "evt_cli_wh_grace_new"))
	cliJSON(t, p, &wh, "webhooks", "get", "shop")
	require.Equal(t, 2, wh.ActiveSecrets)
	time.Sleep(time.Until(rotatedAt.Add(2*time.Second + 100*time.Millisecond)))
	require.Equal(t, 401, deliver(secret, "evt_cli_wh_after_old"))
	require.Equal(t, 200, deliver(newSecret, "evt_cli_wh_after_new"))

	// chains: the fixture's delta links to a proof never seen, so it is held.
	body, err := os.ReadFile("../../testdata/events/delta.verified.json")
	require.NoError(t, err)
	status, _, err := post(ctx, http.DefaultClient, p.url("/webhooks/pacspace"), e2eSecret, "evt_cli_chain", body)
	require.NoError(t, err)
	require.Equal(t, 200, status)
	for deadline := time.Now().Add(30 * time.Second); ; {
		stdout, stderr, code = runAdminCLI(t, p, "chains")
		require.Equal(t, 0, code, stderr)
		if hasFields(stdout, "cus_8421", "0", "-", "1", "0", "0", "-") {
			break
		}
		require.True(t, time.Now().Before(deadline), "no held delta listed", stdout)
		time.Sleep(50 * time.Millisecond)
	}
	require.True(t, hasFields(stdout, "CUSTOMER", "LENGTH", "HEAD", "HELD", "GAPS", "FORKS", "UPDATED"), stdout)
	var ch struct {
		HeldCount int `json:"heldCount"`
		Held      []struct {
			EventID           string `json:"eventId"`
			PreviousProofHash string `json:"previousProofHash"`
		} `json:"held"`
	}
	cliJSON(t, p, &ch, "chains", "cus_8421")
	require.Equal(t, 1, ch.HeldCount)
	require.Equal(t, "evt_cli_chain", ch.Held[0].EventID)
	require.Equal(t, "af471cde9b2bebec3b4e47e647df2353c760ab83f91309622c971812bb4669a3", ch.Held[0].PreviousProofHash)
	stdout, _, _ = runAdminCLI(t, p, "chains", "cus_8421")
	require.True(t, hasFields(stdout, "HELD", "EVENT", "PROOF", "WAITS", "FOR", "SINCE", "UNTIL"), stdout)
	require.Contains(t, stdout, "evt_cli_chain")
	_, stderr, code = runAdminCLI(t, p, "chains", "cus_nobody")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "(HTTP 404)")

	// delete: not an endpoint of the config file; the deleted one is gone.
	_, stderr, code = runAdminCLI(t, p, "webhooks", "delete", "pacspace")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "remove it from the config file first (HTTP 409)")
	stdout, stderr, code = runAdminCLI(t, p, "webhooks", "delete", "shop")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "deleted shop")
	require.Equal(t, 404, deliver(newSecret, "evt_cli_wh_gone"))
	_, _, code = runAdminCLI(t, p, "webhooks", "get", "shop")
	require.Equal(t, 1, code)

	// A wrong token is refused.
	wrong := exec.Command(arbiterBin, "webhooks", "list", "--server", p.url(""), "--token", "arb_wrong_token_0123456789")
	out, err := wrong.CombinedOutput()
	require.Equal(t, 1, wrong.ProcessState.ExitCode(), err)
	require.Contains(t, string(out), "missing or invalid bearer token (HTTP 401)")

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, p.wait(t, 30*time.Second))
	for _, s := range secrets {
		require.NotContains(t, p.stderr.String(), s, "the log")
		require.NotContains(t, p.stdout.String(), s, "the agent's terminal")
	}
	// The refusals were stored on the way out.
	var refused int64
	require.NoError(t, db.QueryRow(`SELECT COALESCE(SUM(rejected), 0) FROM endpoint_stats WHERE endpoint = 'shop'`).Scan(&refused))
	require.Equal(t, int64(3), refused) // the delivery and the test while disabled, the old secret after the grace period
}
