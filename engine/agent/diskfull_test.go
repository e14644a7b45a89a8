package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/pacspace"
	"github.com/arbiter-dev/arbiter/engine/store"
	"github.com/arbiter-dev/arbiter/engine/testing/capture"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
	"github.com/arbiter-dev/arbiter/engine/testing/tmpfs"
)

// TestDiskFull runs the agent on a small tmpfs that fills up right after
// it starts, while its plugins still compile and webhooks arrive. The
// plugins compile in memory; webhooks are acknowledged while the journal's
// first segment has room, then get 503 with Retry-After; /readyz says 503
// and /healthz 200 (a restart would not make room). Once space returns the
// journal takes appends again by itself, /readyz turns 200, the refused
// webhooks sent again are acknowledged, and every acknowledged event is
// stored once and processed.
func TestDiskFull(t *testing.T) {
	requireBundled(t)
	dir := tmpfs.Mount(t, 64<<20)
	cfg := testConfig(t)
	cfg.DataDir = dir
	var logs capture.Buffer
	a, stop := start(t, cfg, hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Info}))
	free := tmpfs.Fill(t, dir)

	base := "http://" + a.Addr().String()
	send := func(i int) *http.Response {
		t.Helper()
		body := []byte(fmt.Sprintf(`{"type":"test.padding","id":"evt_%d","pad":%q}`, i, strings.Repeat("x", 16<<10)))
		req, err := http.NewRequest("POST", base+"/webhooks/pacspace", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		require.NoError(t, pacspace.Sign(req.Header, engine.SchemeV1, testSecret, fmt.Sprint("evt_", i), time.Now(), body))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	status := func(path string) int {
		t.Helper()
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}

	acked := map[int]bool{}
	var refused []int
	for i := 0; len(refused) < 5; i++ {
		require.True(t, i < 1000, "the journal never refused a webhook")
		switch resp := send(i); resp.StatusCode {
		case http.StatusOK:
			acked[i] = true
		case http.StatusServiceUnavailable:
			require.Equal(t, "5", resp.Header.Get("Retry-After"))
			refused = append(refused, i)
		default:
			t.Fatalf("webhook %d: %s", i, resp.Status)
		}
	}
	require.True(t, len(acked) > 20, "acknowledged before the disk was full:", len(acked))
	require.Equal(t, http.StatusServiceUnavailable, status("/readyz"))
	require.Equal(t, http.StatusOK, status("/healthz"))
	// The plugins come up with the disk still full, compiled in memory.
	for _, plugins := readyz(t, a); plugins != "ready"; _, plugins = readyz(t, a) {
		require.Equal(t, "loading", plugins, "log:\n", logs.String())
		time.Sleep(20 * time.Millisecond)
	}
	require.True(t, strings.Contains(logs.String(), "the compilation cache cannot be written; compiling in memory"),
		"the plugins compiled in memory; log:\n", logs.String())

	free()
	for deadline := time.Now().Add(time.Minute); status("/readyz") != http.StatusOK; time.Sleep(20 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "/readyz stayed 503 after space returned; log:\n", logs.String())
	}
	for _, i := range refused {
		require.Equal(t, http.StatusOK, send(i).StatusCode, "refused webhook", i, "sent again")
		acked[i] = true
	}
	waitProcessed(t, base, len(acked), logs.String)
	stop()

	st, err := store.Open(context.Background(), store.Config{Path: filepath.Join(dir, "arbiter.db")})
	require.NoError(t, err)
	defer st.Close()
	stats, err := st.InboxStats(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(len(acked)), stats.Events, "every acknowledged event stored once")
	require.Equal(t, int64(0), stats.Pending)
	for i := range acked {
		seen, err := st.Seen(context.Background(), "pacspace", fmt.Sprint("evt_", i), "")
		require.NoError(t, err)
		require.True(t, seen, "acknowledged event", i, "is stored")
	}
	t.Logf("%d events acknowledged (%d of them after a 503 while the disk was full), %d stored, %d lost",
		len(acked), len(refused), stats.Events, len(acked)-int(stats.Events))
}

// waitProcessed waits until /health counts n events, none pending.
func waitProcessed(t *testing.T, base string, n int, logs func() string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(base + "/health")
		require.NoError(t, err)
		var h struct{ InboxEvents, InboxPending int64 }
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&h))
		resp.Body.Close()
		if h.InboxEvents == int64(n) && h.InboxPending == 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "events", h.InboxEvents, "pending", h.InboxPending, "want", n, "log:\n", logs())
	}
}
