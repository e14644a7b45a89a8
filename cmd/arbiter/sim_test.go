package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/arbiter-dev/arbiter/engine/sim/scenario"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// TestSimScenarioEndToEnd runs a scenario with every fault kind through the
// real binary: the ledger imported with arbiter ledger import, the events
// delivered by arbiter sim run, the result scored by arbiter sim verify.
// Every anomaly must be met and nothing raised on clean events, reordered
// and duplicated deliveries included. A doctored truth file must fail.
func TestSimScenarioEndToEnd(t *testing.T) {
	p := start(t, []string{"PACSPACE_WEBHOOK_SECRET=" + cliTestSecret, "ARBITER_DATA_DIR=" + t.TempDir(),
		"ARBITER_LISTEN=127.0.0.1:0", "ARBITER_ADMIN_TOKEN=" + cliToken,
		"ARBITER_WORKER_GRACE=2s"}, "serve") // how long a delta waits for a missing predecessor
	dir := t.TempDir()
	truth, ledger := filepath.Join(dir, "truth.jsonl"), filepath.Join(dir, "ledger.csv")
	scenarioArgs := []string{"--seed", "5", "--start", "2026-04-10T12:00:00Z", "--customers", "6", "--count", "900",
		"--fault", "all=0.02", "--fault", "discrepancy=0.08", "--fault", "low-credits=0.06", "--fault", "batch-replay=0.06", "--fault", "sla-batch=0.06"}

	_, _, err := runCLI(t, newSimCmd(), "", append([]string{"run", "--dry-run", "--ledger-out", ledger}, scenarioArgs...)...)
	require.NoError(t, err)
	stdout, stderr, code := runAdminCLI(t, p, "ledger", "import", ledger)
	require.Equal(t, 0, code, stdout, stderr)
	require.Contains(t, stdout, "rejected 0")

	stdout, stderr, err = runCLI(t, newSimCmd(), "", append([]string{"run", "--target", p.url("/webhooks/pacspace"),
		"--secret", cliTestSecret, "--truth", truth, "--json"}, scenarioArgs...)...)
	require.NoError(t, err, stderr)
	var rep struct {
		Sent, Duplicates, RejectedAsIntended, Unexpected int64
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
	require.True(t, rep.Sent >= 900, "sent", rep.Sent)
	require.Equal(t, int64(0), rep.Unexpected)
	require.True(t, rep.RejectedAsIntended > 0 && rep.Duplicates > 0, stdout)
	require.Contains(t, stderr, "sim: scenario s5 (seed 5)")

	var res scenario.Result
	cliJSON(t, p, &res, "sim", "verify", "--truth", truth, "--wait", "60s")
	require.True(t, res.OK, res)
	require.Equal(t, 0, len(res.False))
	require.Equal(t, 0, res.Pending)
	require.True(t, res.Events > 800, "events", res.Events)
	found := map[scenario.Kind]scenario.KindResult{}
	for _, k := range res.Kinds {
		found[k.Kind] = k
	}
	for _, k := range scenario.Kinds {
		kr, ok := found[k]
		require.True(t, ok && kr.Expected > 0, "no", k, "in the scenario")
		require.Equal(t, 1.0, kr.Recall, k)
		require.Equal(t, kr.Expected, kr.Found, k)
	}

	// Doctored truth: one anomaly left out (its alert is now false), and one
	// invented on an event that is clean (now missed).
	lines, err := readJSONLFile[scenario.Truth](truth)
	require.NoError(t, err)
	i := slices.IndexFunc(lines, func(l scenario.Truth) bool { return l.Kind == scenario.ChainFork })
	dropped := lines[i]
	lines = slices.Delete(lines, i, i+1)
	clean := ""
	for n := 1; clean == ""; n++ {
		id := fmt.Sprintf("%s%06d", scenario.EventPrefix("s5"), n)
		if !slices.ContainsFunc(lines, func(l scenario.Truth) bool { return l.EventID == id }) {
			clean = id
		}
	}
	lines = append(lines, scenario.Truth{Scenario: "s5", EventID: clean, Kind: scenario.Drift, Expect: scenario.Expectations(scenario.Drift)[0]})
	bad := filepath.Join(dir, "doctored.jsonl")
	f, err := os.Create(bad)
	require.NoError(t, err)
	require.NoError(t, scenario.WriteJSONL(f, lines))
	require.NoError(t, f.Close())
	stdout, stderr, code = runAdminCLI(t, p, "sim", "verify", "--truth", bad, "--outcomes", outcomesPath(truth), "--output", "json")
	require.Equal(t, 1, code, stderr)
	res = scenario.Result{}
	require.NoError(t, json.Unmarshal([]byte(stdout), &res), stdout)
	require.True(t, !res.OK)
	require.Equal(t, 1, len(res.False), res.False)
	require.Equal(t, dropped.EventID, res.False[0].EventID)
	require.Equal(t, "chain_discontinuity", res.False[0].Reason)
	require.Equal(t, 1, len(res.Missed), res.Missed)
	require.Equal(t, clean, res.Missed[0].EventID)

	// The table says the same.
	stdout, _, code = runAdminCLI(t, p, "sim", "verify", "--truth", bad, "--outcomes", outcomesPath(truth))
	require.Equal(t, 1, code)
	require.Contains(t, stdout, "FAIL: scenario s5")
	require.True(t, regexp.MustCompile(`false alert +`+dropped.EventID+` +alert/chain_discontinuity`).MatchString(stdout), stdout)
}

// TestSimServe runs the dashboard alone: its routes need the token, which
// is never logged.
func TestSimServe(t *testing.T) {
	const token = "simtok_test_0123456789abcdef"
	p := start(t, []string{"ARBITER_SIM_TOKEN=" + token}, "sim", "serve", "--listen", "127.0.0.1:0")
	req, _ := http.NewRequest(http.MethodGet, p.url("/dashboard/webhooks"), nil)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 401, resp.StatusCode)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.NotContains(t, p.stderr.String()+p.stdout.String(), token)
}

// TestSimServeDialects: --dialect balance-api serves seed 003's dialect at
// /dashboard, which takes the JWT arbiter sim jwt prints and not the
// plain token; seed 002's stays under /app.
func TestSimServeDialects(t *testing.T) {
	const token = "simtok_test_0123456789abcdef"
	p := start(t, []string{"ARBITER_SIM_TOKEN=" + token}, "sim", "serve", "--listen", "127.0.0.1:0", "--dialect", "balance-api")
	jwt, err := exec.Command(arbiterBin, "sim", "jwt", "--token", token).Output()
	require.NoError(t, err)
	get := func(path, auth string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, p.url(path), nil)
		req.Header.Set("Authorization", "Bearer "+auth)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/dashboard/webhooks", strings.TrimSpace(string(jwt)))
	require.Equal(t, 200, code)
	require.Equal(t, `{"statusCode":200,"data":[]}`, strings.TrimSpace(body))
	code, _ = get("/dashboard/webhooks", token)
	require.Equal(t, 401, code)
	code, body = get("/app/dashboard/webhooks", token)
	require.Equal(t, 200, code)
	require.Contains(t, body, `"success":true`)

	out, err := exec.Command(arbiterBin, "sim", "serve", "--dialect", "v3").CombinedOutput()
	require.True(t, err != nil, string(out))
	require.Contains(t, string(out), `want "app" (seed 002) or "balance-api" (seed 003)`)
}
