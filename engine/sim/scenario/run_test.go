package scenario

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/pacspace"
	"github.com/arbiter-dev/arbiter/engine/sim"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// receiver is a loopback webhook receiver that answers as arbiter does:
// 401 with a reason for a bad or stale signature, 200 duplicate for an id
// or body seen before, else 200. It records what it accepted, in order.
type receiver struct {
	secret  string
	mu      sync.Mutex
	ids     map[string]bool
	digests map[[32]byte]bool
	got     []string // accepted event ids
	slow    time.Duration
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	time.Sleep(rc.slow)
	_, err := (pacspace.Verifier{AllowLegacy: true}).Verify(r.Header.Get(pacspace.HeaderSignature),
		r.Header.Get(pacspace.HeaderTimestamp), body, []string{rc.secret}, time.Now())
	w.Header().Set("Content-Type", "application/json")
	switch {
	case errors.Is(err, pacspace.ErrStaleTimestamp):
		w.WriteHeader(401)
		io.WriteString(w, `{"error":"stale","reason":"stale_timestamp"}`)
		return
	case err != nil:
		w.WriteHeader(401)
		io.WriteString(w, `{"error":"bad","reason":"bad_signature"}`)
		return
	}
	id, digest := r.Header.Get(pacspace.HeaderEventID), sha256.Sum256(body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.ids[id] || rc.digests[digest] {
		io.WriteString(w, `{"received":true,"duplicate":true}`)
		return
	}
	rc.ids[id], rc.digests[digest] = true, true
	rc.got = append(rc.got, id)
	io.WriteString(w, `{"received":true}`)
}

// TestRunKeepsStreamOrder sends a scenario with every fault over many
// workers to a slow receiver and checks each stream arrived in the
// scenario's order, and every answer was the one expected.
func TestRunKeepsStreamOrder(t *testing.T) {
	const secret = "whsec_run_test"
	rc := &receiver{secret: secret, ids: map[string]bool{}, digests: map[[32]byte]bool{}, slow: time.Millisecond}
	srv := httptest.NewServer(rc)
	defer srv.Close()

	cfg := Config{Seed: 11, Customers: 6, Faults: allFaults(0.04)}
	r, err := NewRunner(RunConfig{Scenario: cfg, Target: srv.URL, Secret: secret, Count: 800, Concurrency: 16})
	require.NoError(t, err)
	rep, err := r.Run(context.Background())
	require.NoError(t, err)

	want, err := Generate(cfg, 800)
	require.NoError(t, err)
	require.Equal(t, int64(len(want.Items)), rep.Sent)
	require.Equal(t, len(want.Truth), len(rep.Truth))
	require.Equal(t, len(want.Records), len(rep.Records))
	require.Equal(t, int64(0), rep.Unexpected, rep.Outcomes)
	require.True(t, rep.RejectedAsIntended > 0 && rep.Duplicates > 0, "rejected", rep.RejectedAsIntended, "duplicates", rep.Duplicates)
	require.Equal(t, rep.Sent, rep.Acknowledged+rep.Duplicates+rep.RejectedAsIntended)
	require.True(t, rep.Latency.P50 >= time.Millisecond && rep.Latency.Max >= rep.Latency.P99, "latency", rep.Latency)

	// Per stream, the receiver accepted exactly the scenario's order.
	pos := map[string]int{}
	for i, id := range rc.got {
		pos[id] = i
	}
	last := map[string]int{}
	accepted := 0
	for _, it := range want.Items {
		if it.Expect.Outcome != Accepted {
			continue
		}
		accepted++
		p, ok := pos[it.Event.ID]
		require.True(t, ok, "not received", it.Event.ID)
		if prev, seen := last[it.Stream]; seen {
			require.True(t, p > prev, "out of order in", it.Stream, it.Event.ID)
		}
		last[it.Stream] = p
	}
	require.Equal(t, accepted, len(rc.got))
	require.True(t, len(last) == 7, "streams", len(last))
}

func TestRunDuration(t *testing.T) {
	rc := &receiver{secret: "s", ids: map[string]bool{}, digests: map[[32]byte]bool{}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	r, err := NewRunner(RunConfig{Scenario: Config{Seed: 2}, Target: srv.URL, Secret: "s", Scheme: sim.SchemeSHA256,
		Duration: 300 * time.Millisecond, Rate: 100})
	require.NoError(t, err)
	start := time.Now()
	rep, err := r.Run(context.Background())
	require.NoError(t, err)
	// About 30 at 100/s over 300ms; a step in progress may add a few.
	require.True(t, rep.Sent >= 20 && rep.Sent <= 40, "sent", rep.Sent)
	require.True(t, time.Since(start) < 2*time.Second, "took", time.Since(start))
	require.Equal(t, rep.Sent, rep.Acknowledged)
}

func TestRunConfigErrors(t *testing.T) {
	f := Faults{}
	require.NoError(t, f.Set("all=0.01"))
	tests := []struct {
		name string
		cfg  RunConfig
		want string
	}{
		{"stale on sha256", RunConfig{Scenario: Config{Faults: f}, Target: "http://127.0.0.1:1/", Secret: "s", Scheme: "sha256", Count: 1}, "stale-timestamp needs the v1 scheme"},
		{"no end", RunConfig{Target: "http://127.0.0.1:1/", Secret: "s"}, "count, a duration"},
		{"no secret", RunConfig{Target: "http://127.0.0.1:1/", Count: 1}, "secret"},
		{"bad target", RunConfig{Target: "ftp://x", Secret: "s", Count: 1}, "url"},
		{"bad scheme", RunConfig{Target: "http://127.0.0.1:1/", Secret: "s", Scheme: "md5", Count: 1}, "scheme"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRunner(tc.cfg)
			require.True(t, err != nil, "no error")
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestFaultsSet(t *testing.T) {
	f := Faults{}
	require.NoError(t, f.Set("chain-break=0.03"))
	require.NoError(t, f.Set("reorder=0.5"))
	require.True(t, f[ChainGap] == 0.01 && f[ChainFork] == 0.01 && f[ChainMismatch] == 0.01, f)
	require.Equal(t, 0.5, f[Reorder])
	for _, bad := range []string{"reorder", "reorder=2", "reorder=x", "nosuch=0.1"} {
		require.True(t, f.Set(bad) != nil, bad)
	}
	require.True(t, slices.Contains(Kinds, StaleTimestamp))
}
