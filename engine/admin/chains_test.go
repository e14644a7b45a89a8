package admin_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/testing/fakeclock"

	"github.com/arbiter-dev/arbiter/engine/config"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

func proofHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

var genesis = strings.Repeat("0", 64)

func proofDelta(customer, ref, hash, prev string) []byte {
	return fmt.Appendf(nil, `{"event":"delta.verified","timestamp":"2026-04-10T12:00:00.000Z","data":{"receiptId":"rcpt_%s",`+
		`"delta":{"customerId":%q,"referenceId":%q,"amount":10},"proof":{"proofHash":%q,"previousProofHash":%q}}}`,
		ref, customer, ref, hash, prev)
}

type chain struct {
	CustomerID string     `json:"customerId"`
	Head       string     `json:"head"`
	Length     int64      `json:"length"`
	UpdatedAt  *time.Time `json:"updatedAt"`
	HeldCount  int        `json:"heldCount"`
	GapCount   int64      `json:"gapCount"`
	ForkCount  int64      `json:"forkCount"`
	Held       []struct {
		EventID           string    `json:"eventId"`
		ProofHash         string    `json:"proofHash"`
		PreviousProofHash string    `json:"previousProofHash"`
		Since             time.Time `json:"since"`
		Until             time.Time `json:"until"`
	} `json:"held"`
	Gaps, Forks []struct {
		EventID           string `json:"eventId"`
		ProofHash         string `json:"proofHash"`
		PreviousProofHash string `json:"previousProofHash"`
	}
}

type chainPage struct {
	Chains     []chain `json:"chains"`
	Pagination struct{ Total int }
}

// TestChains runs deltas through the real receiver and worker: a chain
// with a fork and a delta held for a missing predecessor, and a customer
// whose first proof is held. Once the grace window is over the held delta
// is a gap and the waiting customer's proof starts its chain.
func TestChains(t *testing.T) {
	const grace = 10 * time.Second
	clk := fakeclock.At(time.Now())
	e := newAgentEnv(t, agentOptions{now: clk.Now, grace: grace, configured: map[string]config.Endpoint{
		"pacspace": {Secrets: []string{configuredSecret}},
	}})
	send := func(id string, body []byte) {
		t.Helper()
		status, reason := e.deliver(t, "pacspace", configuredSecret, id, body)
		require.Equal(t, 200, status, reason)
	}
	a1, a2, a3, a4, a5 := proofHash("a1"), proofHash("a2"), proofHash("a3"), proofHash("a4"), proofHash("a5")
	b1, b2 := proofHash("b1"), proofHash("b2")
	send("evt_a1", proofDelta("cus_a", "ref_a1", a1, genesis))
	send("evt_a2", proofDelta("cus_a", "ref_a2", a2, a1))
	send("evt_a3", proofDelta("cus_a", "ref_a3", a3, a1)) // a fork: a2 already follows a1
	send("evt_a5", proofDelta("cus_a", "ref_a5", a5, a4)) // a4 has not come: held
	send("evt_b2", proofDelta("cus_b", "ref_b2", b2, b1)) // cus_b's first proof, and not its chain's first: held
	eventually(t, "two held deltas", func() bool { return len(e.worker.Holds()) == 2 })
	eventually(t, "the fork recorded", func() bool {
		var c chain
		e.call(t, "GET", "/v1/chains/cus_a", "").want(t, 200, &c)
		return c.ForkCount == 1
	})

	var page chainPage
	e.call(t, "GET", "/v1/chains", "").want(t, 200, &page)
	require.Equal(t, 2, page.Pagination.Total)
	require.Equal(t, 2, len(page.Chains))
	b := page.Chains[0] // waiting for its first proof, so listed first
	require.Equal(t, "cus_b", b.CustomerID)
	require.True(t, b.Head == "" && b.Length == 0 && b.UpdatedAt == nil && b.HeldCount == 1, b)
	a := page.Chains[1]
	require.Equal(t, "cus_a", a.CustomerID)
	require.Equal(t, a2, a.Head)
	require.Equal(t, int64(2), a.Length)
	require.True(t, a.UpdatedAt != nil, a)
	require.True(t, a.HeldCount == 1 && a.ForkCount == 1 && a.GapCount == 0, a)
	require.True(t, a.Held == nil, "the list has no detail")

	e.call(t, "GET", "/v1/chains?limit=1&page=2", "").want(t, 200, &page)
	require.Equal(t, 1, len(page.Chains))
	require.Equal(t, "cus_a", page.Chains[0].CustomerID)
	e.call(t, "GET", "/v1/chains?limit=1&page=1", "").want(t, 200, &page)
	require.Equal(t, "cus_b", page.Chains[0].CustomerID)

	var c chain
	e.call(t, "GET", "/v1/chains/cus_a", "").want(t, 200, &c)
	require.Equal(t, 1, len(c.Held))
	h := c.Held[0]
	require.Equal(t, "evt_a5", h.EventID)
	require.Equal(t, a5, h.ProofHash)
	require.Equal(t, a4, h.PreviousProofHash)
	// Received and held at one instant of the test clock (stored to the microsecond).
	require.True(t, h.Until.Sub(h.Since) > grace-time.Millisecond && h.Until.Sub(h.Since) <= grace, h)
	require.Equal(t, 1, len(c.Forks))
	require.Equal(t, "evt_a3", c.Forks[0].EventID)
	require.Equal(t, a3, c.Forks[0].ProofHash)
	require.Equal(t, a1, c.Forks[0].PreviousProofHash)
	require.Equal(t, 0, len(c.Gaps))

	e.call(t, "GET", "/v1/chains/cus_b", "").want(t, 200, &c)
	require.True(t, c.Length == 0 && len(c.Held) == 1 && c.Held[0].PreviousProofHash == b1, c)

	e.call(t, "GET", "/v1/chains/cus_nobody", "").want(t, 404, nil)
	e.call(t, "GET", "/v1/chains?limit=many", "").field(t, 400, "limit")
	e.call(t, "GET", "/v1/chains?page=1&offset=2", "").field(t, 400, "offset")

	// The window closes; the next delivery wakes the worker, which decides
	// what it held.
	clk.Advance(3 * grace)
	send("evt_c1", proofDelta("cus_c", "ref_c1", proofHash("c1"), genesis))
	eventually(t, "the gap recorded", func() bool {
		e.call(t, "GET", "/v1/chains/cus_a", "").want(t, 200, &c)
		return c.GapCount == 1
	})
	require.Equal(t, 0, len(c.Held))
	require.Equal(t, int64(3), c.Length)
	require.Equal(t, a5, c.Head)
	require.Equal(t, 1, len(c.Gaps))
	require.Equal(t, "evt_a5", c.Gaps[0].EventID)
	require.Equal(t, a4, c.Gaps[0].PreviousProofHash)

	e.call(t, "GET", "/v1/chains/cus_b", "").want(t, 200, &c)
	require.True(t, c.Length == 1 && c.Head == b2 && c.HeldCount == 0 && c.GapCount == 0, c)
	e.call(t, "GET", "/v1/chains", "").want(t, 200, &page)
	require.Equal(t, 3, page.Pagination.Total)
	require.Equal(t, "cus_a", page.Chains[0].CustomerID)
	require.Equal(t, 0, len(e.worker.Holds()))
}
