package worker_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/policy"
	"github.com/arbiter-dev/arbiter/engine/store"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
	"github.com/arbiter-dev/arbiter/engine/worker"
)

// harness runs the real worker with the real default policies on a real
// SQLite store.
type harness struct {
	t      *testing.T
	store  *store.Store
	worker *worker.Worker
	cancel context.CancelFunc
	done   chan error
	n      int
	wakes  atomic.Int64 // calls of Config.Committed
}

func newHarness(t *testing.T, dir string, grace time.Duration) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Path: filepath.Join(dir, "arbiter.db")})
	require.NoError(t, err)
	pe, err := policy.New(ctx, policy.Config{Source: policy.Source{Dir: "../../policies"}})
	require.NoError(t, err)
	h := &harness{t: t, store: st, done: make(chan error, 1)}
	w, err := worker.New(ctx, worker.Config{Grace: grace, Poll: 20 * time.Millisecond,
		Committed: func() { h.wakes.Add(1) }}, st, pe)
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	h.worker, h.cancel = w, cancel
	go func() { h.done <- w.Run(rctx) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	require.NoError(h.t, <-h.done)
	h.cancel = nil
	h.store.Close()
}

// send appends a raw body to the inbox as the receiver would.
func (h *harness) send(body []byte) {
	h.t.Helper()
	h.n++
	sum := sha256.Sum256(body)
	res, err := h.store.Append(context.Background(), &engine.Event{
		Endpoint: "pacspace", EventID: fmt.Sprintf("evt_%d", h.n), Digest: hex.EncodeToString(sum[:]),
		Scheme: engine.SchemeV1, Body: body, ReceivedAt: time.Now(),
	})
	require.NoError(h.t, err)
	require.True(h.t, !res.Duplicate, "test bodies are unique")
	h.worker.Notify()
}

// settle waits until nothing is pending or held.
func (h *harness) settle(within time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, err := h.store.InboxStats(context.Background())
		require.NoError(h.t, err)
		if st.Pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("still %d events pending after %s", st.Pending, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type alert struct {
	EventID string
	Type    string `json:"type"`
	Reason  string `json:"reason"`
	Status  string `json:"status"`
	BatchID string `json:"batchId"`
}

// actions returns every action decided so far.
func (h *harness) actions() []alert {
	h.t.Helper()
	ds, err := h.store.Decisions(context.Background(), 0, 1_000_000)
	require.NoError(h.t, err)
	var out []alert
	for _, d := range ds {
		require.Equal(h.t, "", d.Error)
		var as []alert
		require.NoError(h.t, json.Unmarshal(d.Actions, &as))
		for _, a := range as {
			a.EventID = d.EventID
			out = append(out, a)
		}
	}
	return out
}

// delta is one generated delta of a customer's chain.
type delta struct {
	customer, ref, prev, hash string
	index                     int
	amount, net               float64
}

// chain makes n linked deltas for customer, with matching ledger records.
func chain(customer string, n int) []delta {
	out := make([]delta, n)
	prev := hex.EncodeToString(make([]byte, 32))
	net := 0.0
	for i := range out {
		amount := float64(10 + i%5)
		net += amount
		ref := fmt.Sprintf("ref_%s_%d", customer, i)
		sum := sha256.Sum256([]byte(prev + ref + fmt.Sprint(amount)))
		out[i] = delta{customer: customer, ref: ref, prev: prev, hash: hex.EncodeToString(sum[:]), index: i, amount: amount, net: net}
		prev = out[i].hash
	}
	return out
}

func (d delta) body(attempt int) []byte {
	return fmt.Appendf(nil, `{"event":"delta.verified","timestamp":"2026-04-10T12:00:%02d.000Z","data":{"receiptId":"rcpt_%s","deltaIndex":%d,`+
		`"delta":{"customerId":%q,"referenceId":%q,"amount":%g},"verification":{"verified":true,"discrepancies":[],"latencyMs":800},`+
		`"proof":{"proofHash":%q,"previousProofHash":%q},"period":{"id":"2026-04","netDelta":%g},`+
		`"usage":{"consumedDeltas":100,"includedDeltas":10000,"remainingDeltas":9900,"overageRate":0.002}}}`,
		attempt, d.ref, d.index, d.customer, d.ref, d.amount, d.hash, d.prev, d.net)
}

func ledger(ds []delta) []engine.LedgerRecord {
	out := make([]engine.LedgerRecord, len(ds))
	for i, d := range ds {
		out[i] = engine.LedgerRecord{ReferenceID: d.ref, CustomerID: d.customer, Amount: d.amount, PeriodID: "2026-04"}
	}
	return out
}

// TestShuffledAndDuplicatedStreams: deltas of several customers arrive out of
// order (within a window) and some twice; nothing is a real break, so
// nothing may be alerted, and every total counts each delta once.
func TestShuffledAndDuplicatedStreams(t *testing.T) {
	h := newHarness(t, t.TempDir(), 2*time.Second)
	rng := rand.New(rand.NewPCG(1, 2))
	var all []delta
	for c := range 4 {
		ds := chain(fmt.Sprintf("cus_%d", c), 40)
		require.NoError(t, h.store.PutLedgerRecords(context.Background(), ledger(ds)))
		all = append(all, ds...)
	}
	// Interleave customers, then shuffle inside small windows (PacSpace
	// retries reorder neighbours), and deliver ~20% of deltas twice.
	rng.Shuffle(len(all), func(i, j int) {
		if all[i].customer == all[j].customer {
			return
		}
		all[i], all[j] = all[j], all[i]
	})
	sort.SliceStable(all, func(i, j int) bool { return all[i].index/5 < all[j].index/5 })
	for i := 0; i+1 < len(all); i += 2 {
		if rng.IntN(2) == 0 {
			all[i], all[i+1] = all[i+1], all[i]
		}
	}
	for _, d := range all {
		h.send(d.body(0))
		if rng.IntN(5) == 0 {
			h.send(d.body(1)) // a retry: same delta, new body, new id
		}
	}
	h.settle(10 * time.Second)
	noAlerts(t, h.actions())
	for c := range 4 {
		head, ok, err := h.store.Chain(context.Background(), fmt.Sprintf("cus_%d", c))
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, int64(40), head.Length)
		per, err := h.store.PeriodTotal(context.Background(), fmt.Sprintf("cus_%d", c), "2026-04")
		require.NoError(t, err)
		require.Equal(t, chain(fmt.Sprintf("cus_%d", c), 40)[39].net, per.Total)
		require.Equal(t, int64(40), per.Deltas)
	}
}

// TestRealBreaksAreCaught: a removed delta (gap), a fork and a contradicting
// hash each raise exactly one chain_discontinuity, nothing else alerts.
func TestRealBreaksAreCaught(t *testing.T) {
	h := newHarness(t, t.TempDir(), 300*time.Millisecond)
	ds := chain("cus_gap", 10)
	fork := chain("cus_fork", 5)
	mis := chain("cus_mis", 5)
	for _, set := range [][]delta{ds, fork, mis} {
		require.NoError(t, h.store.PutLedgerRecords(context.Background(), ledger(set)))
	}
	// Gap: delta 4 never arrives. Our total then misses its amount, so the
	// netDelta of every later delta drifts: that is the policy's business too.
	for i, d := range ds {
		if i != 4 {
			h.send(d.body(0))
		}
	}
	// Fork: a second delta claiming fork[2]'s predecessor.
	for _, d := range fork {
		h.send(d.body(0))
	}
	rogue := fork[2]
	rogue.ref, rogue.hash = "ref_rogue", hex.EncodeToString(sha256.New().Sum([]byte("rogue")))[:64]
	require.NoError(t, h.store.PutLedgerRecords(context.Background(), ledger([]delta{rogue})))
	rogue.net = fork[4].net // PacSpace's total is unchanged by a rejected branch
	h.send(rogue.body(0))
	// Mismatch: mis[3] resent with a different predecessor.
	for _, d := range mis {
		h.send(d.body(0))
	}
	bad := mis[3]
	bad.prev = mis[0].hash
	h.send(bad.body(1))
	h.settle(10 * time.Second)

	got := map[string]int{}
	for _, a := range h.actions() {
		if a.Reason == "chain_discontinuity" {
			got[a.Status]++
		}
	}
	require.Equal(t, map[string]int{"gap": 1, "fork": 1, "mismatch": 1}, got)
}

// TestBatchReplays: seed-000 batches out of order are tolerated; a batch
// applied before, or not after the last, is a replay and never counts twice.
func TestBatchReplays(t *testing.T) {
	h := newHarness(t, t.TempDir(), 300*time.Millisecond)
	batch := func(seq int, bits int) []byte {
		return fmt.Appendf(nil, `{"event":"batch.verified","timestamp":"2026-04-10T12:00:%02d.000Z","data":{"batchId":"batch_%d","items":[{"key":"acct:1","bits":%d}],`+
			`"submittedAt":"2026-04-10T12:00:00.000Z","verifiedAt":"2026-04-10T12:00:01.000Z","creditsConsumed":1,"remainingBalance":5000}}`, seq, seq, bits)
	}
	// 1, 3, 2 (reordered, tolerated), 4, 2 again (replay: new body), 5.
	h.send(batch(1, 100))
	h.send(batch(3, 100))
	h.send(batch(2, 100))
	h.send(batch(4, 100))
	replay := batch(2, 100)
	replay = append(replay[:len(replay)-1:len(replay)-1], ' ', '}') // same batch, different bytes
	h.send(replay)
	h.send(batch(5, 100))
	h.settle(10 * time.Second)
	// Once the grace window is over the watermark covers 1..5, so a late copy
	// of batch 3 is a replay too.
	deadline := time.Now().Add(5 * time.Second)
	for {
		bs, _, err := h.store.BatchStream(context.Background(), "batch:pacspace")
		require.NoError(t, err)
		if bs.LastSeq == 5 {
			require.Equal(t, "batch_5", bs.LastBatchID)
			break
		}
		require.True(t, time.Now().Before(deadline), "watermark stuck at", bs.LastSeq)
		time.Sleep(20 * time.Millisecond)
	}
	late := batch(3, 100)
	late = append(late[:len(late)-1:len(late)-1], ' ', ' ', '}')
	h.send(late)
	h.settle(10 * time.Second)
	var replays []string
	for _, a := range h.actions() {
		if a.Reason == "replay" {
			replays = append(replays, a.BatchID)
		}
	}
	require.Equal(t, []string{"batch_2", "batch_3"}, replays)
	it, ok, err := h.store.Item(context.Background(), "acct:1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 500.0, it.Bits)
	require.Equal(t, int64(5), it.Writes)
}

// TestRestartReplaysCleanly: a worker stopped mid-stream and started again
// processes each event exactly once.
func TestRestartReplaysCleanly(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir, time.Second)
	ds := chain("cus_restart", 60)
	require.NoError(t, h.store.PutLedgerRecords(context.Background(), ledger(ds)))
	for _, d := range ds[:30] {
		h.send(d.body(0))
	}
	h.stop()
	h2 := newHarness(t, dir, time.Second)
	h2.n = 1000
	for _, d := range ds[30:] {
		h2.send(d.body(0))
	}
	h2.settle(10 * time.Second)
	noAlerts(t, h2.actions())
	head, _, err := h2.store.Chain(context.Background(), "cus_restart")
	require.NoError(t, err)
	require.Equal(t, int64(60), head.Length)
	ds2, err := h2.store.Decisions(context.Background(), 0, 1000)
	require.NoError(t, err)
	require.Equal(t, 60, len(ds2))
}

// TestWakesDispatcherForDeliveriesOnly: the dispatcher is woken for a
// batch that queued deliveries, and left alone for quiet ones, whose wakes
// would only have it poll the outbox in the writer's time.
func TestWakesDispatcherForDeliveriesOnly(t *testing.T) {
	h := newHarness(t, t.TempDir(), time.Second)
	ds := chain("cus_wake", 4)
	require.NoError(t, h.store.PutLedgerRecords(context.Background(), ledger(ds[:3])))
	for _, d := range ds[:3] {
		h.send(d.body(0))
	}
	h.settle(5 * time.Second)
	noAlerts(t, h.actions())
	h.send(ds[3].body(0)) // no ledger record: unmatched_delta, routed to console
	h.settle(5 * time.Second)
	require.True(t, len(h.actions()) > 0, "no action for an unmatched delta")
	// The wake follows the commit that settle sees. One customer is one
	// partition, so a wake for the quiet batches would have come first.
	deadline := time.Now().Add(5 * time.Second)
	for h.wakes.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	require.Equal(t, int64(1), h.wakes.Load())
}

func noAlerts(t *testing.T, as []alert) {
	t.Helper()
	if len(as) > 0 {
		t.Fatalf("expected no actions, got %d, first: %+v", len(as), as[:min(5, len(as))])
	}
}

// BenchmarkPipeline measures events per second from inbox to committed
// decision with state updates: b.N delta events of 64 customers, each with
// its ledger record, are appended first, then processed by the real worker
// with the default policies.
func BenchmarkPipeline(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Path: filepath.Join(b.TempDir(), "arbiter.db")})
	require.NoError(b, err)
	defer st.Close()
	pe, err := policy.New(ctx, policy.Config{Source: policy.Source{Dir: "../../policies"}})
	require.NoError(b, err)
	const customers = 64
	per := b.N/customers + 1
	var recs []engine.LedgerRecord
	var bodies [][]byte
	chains := make([][]delta, customers)
	for c := range customers {
		chains[c] = chain(fmt.Sprintf("cus_%d", c), per)
		recs = append(recs, ledger(chains[c])...)
	}
	for i := range per {
		for c := range customers {
			if len(bodies) < b.N {
				bodies = append(bodies, chains[c][i].body(0))
			}
		}
	}
	require.NoError(b, st.PutLedgerRecords(ctx, recs))
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(bodies); i += 32 {
				sum := sha256.Sum256(bodies[i])
				if _, err := st.Append(ctx, &engine.Event{Endpoint: "pacspace", EventID: fmt.Sprint("evt_", i),
					Digest: hex.EncodeToString(sum[:]), Scheme: engine.SchemeV1, Body: bodies[i], ReceivedAt: time.Now()}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	w, err := worker.New(ctx, worker.Config{Poll: 5 * time.Millisecond}, st, pe)
	require.NoError(b, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	b.ResetTimer()
	start := time.Now()
	go func() { done <- w.Run(rctx) }()
	for {
		// The oldest pending event, if any: one index lookup, where counting
		// the backlog on every poll would take CPU from the worker measured.
		pending, err := st.Pending(ctx, 0, 1)
		require.NoError(b, err)
		if len(pending) == 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	cancel()
	require.NoError(b, <-done)
}

// TestThrottleFollowsUsage: a throttle action sets the throttle state apps
// read, and usage recovering clears it; both survive a restart.
func TestThrottleFollowsUsage(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir, 100*time.Millisecond)
	ds := chain("cus_t", 3)
	require.NoError(t, h.store.PutLedgerRecords(context.Background(), ledger(ds)))
	body := func(d delta, remaining int) []byte {
		b := d.body(0)
		return []byte(strings.Replace(string(b), `"remainingDeltas":9900`, fmt.Sprintf(`"remainingDeltas":%d`, remaining), 1))
	}
	h.send(body(ds[0], 5000))
	h.settle(5 * time.Second)
	require.Equal(t, false, h.worker.Throttle("pacspace").Active)
	h.send(body(ds[1], 50))
	h.settle(5 * time.Second)
	th := h.worker.Throttle("pacspace")
	require.Equal(t, true, th.Active)
	require.Equal(t, "approaching_limit", th.Reason)
	h.stop()

	h2 := newHarness(t, dir, 100*time.Millisecond)
	h2.n = 100
	require.Equal(t, true, h2.worker.Throttle("pacspace").Active) // read back from the store at start
	h2.send(body(ds[2], 5000))
	h2.settle(5 * time.Second)
	require.Equal(t, false, h2.worker.Throttle("pacspace").Active)
}

// TestMalformedDoesNotBlock: a payload that cannot be normalized is recorded
// as failed with its reason, and the events after it are processed.
func TestMalformedDoesNotBlock(t *testing.T) {
	h := newHarness(t, t.TempDir(), 100*time.Millisecond)
	ds := chain("cus_m", 2)
	require.NoError(t, h.store.PutLedgerRecords(context.Background(), ledger(ds)))
	h.send(ds[0].body(0))
	h.send([]byte(`{"event":"delta.verified","data":{"delta":{"customerId":"cus_m","referenceId":"r","amount":"lots"}}}`))
	h.send(ds[1].body(0))
	h.settle(5 * time.Second)
	counts, err := h.store.EventCounts(context.Background())
	require.NoError(t, err)
	require.Equal(t, map[engine.EventStatus]int64{engine.StatusProcessed: 2, engine.StatusFailed: 1}, counts)
	ev, err := h.store.Event(context.Background(), 2)
	require.NoError(t, err)
	require.Equal(t, engine.StatusFailed, ev.Status)
	require.Contains(t, ev.Error, "delta.amount must be a number")
	ds2, err := h.store.Decisions(context.Background(), 0, 10)
	require.NoError(t, err)
	require.Equal(t, 2, len(ds2))
	for _, d := range ds2 {
		require.True(t, d.Eval > 0, "evaluation time is recorded", d.EventID)
	}
	noAlerts(t, h.actions())
}
