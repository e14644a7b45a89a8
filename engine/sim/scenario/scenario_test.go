package scenario

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// run generates n steps of cfg.
func run(t *testing.T, cfg Config, n int) (items []Item, truth []Truth, records []engine.LedgerRecord) {
	t.Helper()
	g, err := New(cfg)
	require.NoError(t, err)
	for range n {
		s := g.Next()
		items = append(items, s.Items...)
		truth = append(truth, s.Truth...)
		records = append(records, s.Records...)
	}
	return items, truth, records
}

func allFaults(rate float64) Faults {
	f := Faults{}
	for _, k := range Kinds {
		f[k] = rate
	}
	return f
}

func TestDeterministic(t *testing.T) {
	dump := func(seed uint64) []byte {
		items, truth, records := run(t, Config{Seed: seed, Customers: 5, Faults: allFaults(0.03)}, 2000)
		var b bytes.Buffer
		for _, it := range items {
			fmt.Fprintf(&b, "%s %s %s %+v %+v %+v\n%s\n", it.Stream, it.Event.ID, it.Event.Type, it.Event.Fault, it.Expect, it.Kind, it.Event.Body)
		}
		require.NoError(t, WriteJSONL(&b, truth))
		require.NoError(t, WriteLedgerCSV(&b, records))
		return b.Bytes()
	}
	a, b := dump(7), dump(7)
	require.True(t, bytes.Equal(a, b), "the same seed gave different scenarios")
	require.True(t, !bytes.Equal(a, dump(8)), "another seed gave the same scenario")
}

// TestCleanStreams checks a scenario without faults against the seeds'
// rules: every chain links from the genesis hash with recomputable proof
// hashes, every netDelta is the period's sum of ledger amounts, usage and
// latencies stay inside the limits, batch ids increase and a key reported
// again carries its total so far.
func TestCleanStreams(t *testing.T) {
	th, err := DefaultThresholds()
	require.NoError(t, err)
	items, truth, records := run(t, Config{Seed: 1, Customers: 6}, 3000)
	require.Equal(t, 0, len(truth))
	ledger := map[string]engine.LedgerRecord{}
	for _, r := range records {
		ledger[r.ReferenceID] = r
	}

	heads := map[string]string{}
	index := map[string]int64{}
	totals := map[string]float64{} // customer, period → ledger sum
	keys := map[string]int64{}
	var lastBatch int64
	deltas, batches := 0, 0
	for _, it := range items {
		require.True(t, json.Valid(it.Event.Body), it.Event.ID)
		var compact bytes.Buffer
		require.NoError(t, json.Compact(&compact, it.Event.Body))
		require.Equal(t, compact.String(), string(it.Event.Body), "bodies are compact")
		require.Equal(t, Answer{Outcome: Accepted}, it.Expect)
		var env struct {
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
		}
		require.NoError(t, json.Unmarshal(it.Event.Body, &env))
		require.Equal(t, it.Event.Type, env.Event)
		switch {
		case strings.HasPrefix(it.Stream, "customer:") && bytes.Contains(env.Data, []byte(`"delta":`)):
			deltas++
			var d deltaData
			require.NoError(t, json.Unmarshal(env.Data, &d))
			c := d.Delta.CustomerID
			require.Equal(t, "customer:"+c, it.Stream)
			prev, ok := heads[c]
			if !ok {
				prev = GenesisHash
			}
			require.Equal(t, prev, d.Proof.PreviousProofHash, it.Event.ID)
			require.Equal(t, ProofHash(c, d.Delta.ReferenceID, d.Delta.Amount, prev), d.Proof.ProofHash, it.Event.ID)
			require.Equal(t, index[c], d.DeltaIndex)
			heads[c], index[c] = d.Proof.ProofHash, index[c]+1

			rec, ok := ledger[d.Delta.ReferenceID]
			require.True(t, ok, "ledger record for", d.Delta.ReferenceID)
			require.Equal(t, d.Delta.Amount, rec.Amount)
			require.Equal(t, d.Period.ID, rec.PeriodID)
			totals[c+" "+d.Period.ID] += rec.Amount
			require.True(t, math.Abs(totals[c+" "+d.Period.ID]-d.Period.NetDelta) < 1e-6, "netDelta", d.Period.NetDelta, totals[c+" "+d.Period.ID])

			u := d.Usage
			require.Equal(t, u.IncludedDeltas-u.ConsumedDeltas, u.RemainingDeltas)
			require.True(t, float64(u.ConsumedDeltas)/float64(u.IncludedDeltas)*100 <= th.UtilizationPct, "utilization", u)
			require.True(t, float64(u.RemainingDeltas) >= th.RemainingDeltas, "remaining", u)
			require.True(t, d.Verification.Verified && float64(d.Verification.LatencyMs) <= th.VerificationLatencyMs, "verification", d.Verification)
		case it.Stream == batchStreamKey:
			batches++
			var b batchData
			require.NoError(t, json.Unmarshal(env.Data, &b))
			seq := int64(0)
			fmt.Sscanf(b.BatchID, "batch_%d", &seq)
			require.True(t, seq > lastBatch && seq < 1<<53, "batch ids increase", b.BatchID)
			lastBatch = seq
			for _, item := range b.Items {
				if total, ok := keys[item.Key]; ok {
					require.Equal(t, total, item.Bits, "a key again reports its total", item.Key)
				}
				keys[item.Key] += item.Bits
			}
			sub, _ := time.Parse(time.RFC3339, b.SubmittedAt)
			ver, _ := time.Parse(time.RFC3339, b.VerifiedAt)
			require.True(t, ver.After(sub) && float64(ver.Sub(sub).Milliseconds()) <= th.BatchLatencyMs, "batch latency", b)
			require.True(t, float64(b.RemainingBalance) >= th.LowBalance, "balance", b.RemainingBalance)
		}
	}
	require.True(t, deltas > 1500 && batches > 300, "deltas", deltas, "batches", batches)
	require.Equal(t, deltas, len(records))
	require.Equal(t, 6, len(heads))
}

// TestFaultsMatchTruth runs each fault kind alone, and all of them
// together, through a model of the agent's checks, and requires that what
// the model raises is exactly what the ground truth says.
func TestFaultsMatchTruth(t *testing.T) {
	th, err := DefaultThresholds()
	require.NoError(t, err)
	for _, k := range append(slices.Clone(Kinds), "all") {
		t.Run(string(k), func(t *testing.T) {
			faults := Faults{k: 0.25}
			if k == "all" {
				faults = allFaults(0.04)
			}
			items, truth, records := run(t, Config{Seed: 3, Customers: 4, Faults: faults}, 1500)
			m := newModel(th, records)
			for _, it := range items {
				got := m.deliver(it)
				require.Equal(t, it.Expect, got, it.Event.ID, it.Kind)
			}
			m.finish()

			kinds := map[Kind]int{}
			for _, tr := range truth {
				kinds[tr.Kind]++
			}
			if kinds[UsageLimit] > 0 {
				// A throttle is lifted by whichever delta comes next: not
				// an alert, and allowed anywhere.
				for id, reasons := range m.actions {
					m.actions[id] = slices.DeleteFunc(reasons, func(r string) bool { return r == "usage_recovered" })
				}
			}
			want := map[string]bool{} // eventId reason
			for _, tr := range truth {
				require.Equal(t, Expectations(tr.Kind)[0].Outcome, tr.Expect.Outcome)
				switch tr.Expect.Outcome {
				case ExpectAction:
					want[tr.EventID+" "+tr.Expect.Reason] = true
					require.True(t, slices.Contains(m.actions[tr.EventID], tr.Expect.Reason), "missing", tr)
				case ExpectNone:
					require.True(t, m.decided[tr.EventID], "not decided", tr)
					require.Equal(t, 0, len(m.actions[tr.EventID]), tr)
				default:
					found := false
					for _, it := range items {
						found = found || (it.Kind == tr.Kind && (it.Event.ID == tr.EventID) && it.Expect.Outcome == tr.Expect.Outcome)
					}
					require.True(t, found, "no delivery carries", tr)
				}
			}
			for id, reasons := range m.actions {
				for _, r := range reasons {
					require.True(t, want[id+" "+r], "raised without a truth line", id, r)
				}
			}
			if k == "all" {
				require.Equal(t, len(Kinds), len(kinds), kinds)
			} else {
				require.Equal(t, 1, len(kinds), kinds)
				require.True(t, kinds[k] >= 5, "injected", kinds[k])
			}
		})
	}
}

// model mirrors what the agent decides for events delivered one stream at
// a time: the receiver's checks and dedupe, the worker's chain, period and
// batch state, and the default policies.
type model struct {
	th      Thresholds
	ledger  map[string]float64
	ids     map[string]bool
	digests map[[32]byte]bool
	heads   map[string]string
	proofs  map[string]string // customer, hash → previous
	held    []heldDelta
	// released waits to be applied, in order, after the event that
	// released it, as in the worker's release queue.
	released  []heldDelta
	releasing bool
	periods   map[string]float64
	items     map[string]int64
	batches   map[string]bool
	throttle  bool
	actions   map[string][]string
	decided   map[string]bool
}

type heldDelta struct {
	id string
	d  deltaData
}

func newModel(th Thresholds, records []engine.LedgerRecord) *model {
	m := &model{th: th, ledger: map[string]float64{}, ids: map[string]bool{}, digests: map[[32]byte]bool{},
		heads: map[string]string{}, proofs: map[string]string{}, periods: map[string]float64{},
		items: map[string]int64{}, batches: map[string]bool{}, actions: map[string][]string{}, decided: map[string]bool{}}
	for _, r := range records {
		m.ledger[r.ReferenceID] = r.Amount
	}
	return m
}

func (m *model) deliver(it Item) Answer {
	switch {
	case it.Event.Fault.BadSignature:
		return Answer{Outcome: Rejected, Reason: "bad_signature"}
	case it.Event.Fault.TimestampSkew < -5*time.Minute:
		return Answer{Outcome: Rejected, Reason: "stale_timestamp"}
	}
	digest := sha256.Sum256(it.Event.Body)
	if m.ids[it.Event.ID] || m.digests[digest] {
		return Answer{Outcome: Duplicated}
	}
	m.ids[it.Event.ID], m.digests[digest] = true, true
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	json.Unmarshal(it.Event.Body, &env)
	switch {
	case bytes.Contains(env.Data, []byte(`"batchId":`)):
		var b batchData
		json.Unmarshal(env.Data, &b)
		m.batch(it.Event.ID, b)
	case bytes.Contains(env.Data, []byte(`"delta":`)):
		var d deltaData
		json.Unmarshal(env.Data, &d)
		m.delta(it.Event.ID, d, false)
	default:
		m.decided[it.Event.ID] = true
	}
	return Answer{Outcome: Accepted}
}

func (m *model) raise(id, reason string) { m.actions[id] = append(m.actions[id], reason) }

func (m *model) delta(id string, d deltaData, expired bool) {
	c, hash, prev := d.Delta.CustomerID, d.Proof.ProofHash, d.Proof.PreviousProofHash
	head, hasHead := m.heads[c]
	stored, known := m.proofs[c+hash]
	_, prevKnown := m.proofs[c+prev]
	counts, extend := true, false
	switch {
	case known && stored == prev: // the same proof again
		counts = false
	case known:
		m.raise(id, "chain_discontinuity") // mismatch
		counts = false
	case !hasHead && (prev == GenesisHash || expired):
		extend = true
	case hasHead && prev == head:
		extend = true
	case hasHead && prevKnown:
		m.raise(id, "chain_discontinuity") // fork
		m.proofs[c+hash] = prev
	case !expired:
		m.held = append(m.held, heldDelta{id, d})
		return
	default:
		m.raise(id, "chain_discontinuity") // gap
		extend = true
	}
	m.decided[id] = true
	amount, matched := m.ledger[d.Delta.ReferenceID]
	if !matched {
		m.raise(id, "unmatched_delta")
	}
	if counts {
		k := c + " " + d.Period.ID
		m.periods[k] += amount
		if drift := math.Round(math.Abs(m.periods[k]-d.Period.NetDelta)*1e9) / 1e9; drift > m.th.Drift {
			m.raise(id, "period_drift")
		}
	}
	if !d.Verification.Verified {
		m.raise(id, "verification_failed")
	}
	if float64(d.Verification.LatencyMs) > m.th.VerificationLatencyMs {
		m.raise(id, "verification_latency")
	}
	u := d.Usage
	if float64(u.ConsumedDeltas)/float64(u.IncludedDeltas)*100 > m.th.UtilizationPct {
		m.raise(id, "high_utilization")
	}
	switch remaining := float64(u.RemainingDeltas); {
	case remaining < m.th.RemainingDeltas:
		m.raise(id, "approaching_limit")
		m.throttle = true
	case m.throttle:
		m.raise(id, "usage_recovered")
		m.throttle = false
	}
	if extend {
		m.proofs[c+hash], m.heads[c] = prev, hash
		// What waited for this proof goes next, behind what was released
		// before it.
		m.held = slices.DeleteFunc(m.held, func(h heldDelta) bool {
			if h.d.Delta.CustomerID == c && h.d.Proof.PreviousProofHash == hash {
				m.released = append(m.released, h)
				return true
			}
			return false
		})
	}
	if m.releasing {
		return
	}
	m.releasing = true
	for len(m.released) > 0 {
		h := m.released[0]
		m.released = m.released[1:]
		m.delta(h.id, h.d, false)
	}
	m.releasing = false
}

// finish expires what is still held: the grace window is over.
func (m *model) finish() {
	for len(m.held) > 0 {
		h := m.held[0]
		m.held = m.held[1:]
		m.delta(h.id, h.d, true)
	}
}

func (m *model) batch(id string, b batchData) {
	m.decided[id] = true
	for _, it := range b.Items {
		if local := m.items[it.Key]; local > 0 && math.Abs(float64(local-it.Bits)) > float64(local)*m.th.DiscrepancyRatio {
			m.raise(id, "discrepancy")
		}
	}
	sub, _ := time.Parse(time.RFC3339, b.SubmittedAt)
	ver, _ := time.Parse(time.RFC3339, b.VerifiedAt)
	if float64(ver.Sub(sub).Milliseconds()) > m.th.BatchLatencyMs {
		m.raise(id, "batch_latency")
	}
	if float64(b.RemainingBalance) < m.th.LowBalance {
		m.raise(id, "low_balance")
	}
	if m.batches[b.BatchID] {
		m.raise(id, "replay")
		return
	}
	m.batches[b.BatchID] = true
	for _, it := range b.Items {
		m.items[it.Key] += it.Bits
	}
}
