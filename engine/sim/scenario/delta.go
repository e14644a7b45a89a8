package scenario

import (
	"fmt"
	"math"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
)

// Seed 001's delta payload, keys in the order the seeds show.
type deltaData struct {
	ReceiptID    string       `json:"receiptId"`
	DeltaIndex   int64        `json:"deltaIndex"`
	Delta        deltaFields  `json:"delta"`
	Verification verification `json:"verification"`
	Proof        proof        `json:"proof"`
	Period       period       `json:"period"`
	Usage        usage        `json:"usage"`
}

type deltaFields struct {
	CustomerID  string  `json:"customerId"`
	ReferenceID string  `json:"referenceId"`
	Amount      float64 `json:"amount"`
}

type verification struct {
	Verified      bool          `json:"verified"`
	Discrepancies []discrepancy `json:"discrepancies"`
	LatencyMs     int64         `json:"latencyMs"`
	VerifiedAt    string        `json:"verifiedAt"`
}

type discrepancy struct {
	Field    string  `json:"field"`
	Expected float64 `json:"expected"`
	Actual   float64 `json:"actual"`
}

type proof struct {
	ProofHash         string `json:"proofHash"`
	PreviousProofHash string `json:"previousProofHash"`
}

type period struct {
	ID       string  `json:"id"`
	NetDelta float64 `json:"netDelta"`
}

type usage struct {
	ConsumedDeltas  int64   `json:"consumedDeltas"`
	IncludedDeltas  int64   `json:"includedDeltas"`
	RemainingDeltas int64   `json:"remainingDeltas"`
	OverageRate     float64 `json:"overageRate"`
}

type checkpointData struct {
	CheckpointID string `json:"checkpointId"`
	CustomerID   string `json:"customerId"`
	ProofHash    string `json:"proofHash"`
	DeltaCount   int64  `json:"deltaCount"`
	Period       period `json:"period"`
}

type receiptData struct {
	ReceiptID  string `json:"receiptId"`
	CustomerID string `json:"customerId"`
	DeltaIndex int64  `json:"deltaIndex"`
	ProofHash  string `json:"proofHash"`
	URL        string `json:"url"`
}

// customer is one delta stream: a proof chain, the current period's running
// total, and the plan's usage counters.
type customer struct {
	id, stream string
	included   int64 // plan deltas per period
	consumed   int64
	deltas     int64  // chain length, dropped deltas included: the next deltaIndex
	head       string // proof hash of the last delta of the chain
	headPrev   string
	// last is the head when it went out clean and was decided in order:
	// the template of a mismatch, and the proof of a fork's predecessor.
	last     *deltaData
	lastType string
	period   int
	periodID string
	left     int   // deltas left in the period
	netCents int64 // PacSpace's running total, which is also the agent's
	cooldown int   // steps before the next chain fault
}

func (g *Generator) newCustomer(i int) *customer {
	c := &customer{id: fmt.Sprintf("cus_%s_%03d", g.tag, i+1), period: -1, head: GenesisHash}
	c.stream = "customer:" + c.id
	c.included = []int64{10_000, 20_000, 50_000}[g.rng.IntN(3)]
	g.newPeriod(c)
	return c
}

// newPeriod starts the customer's next billing period: the running total
// and the plan's usage start again.
func (g *Generator) newPeriod(c *customer) {
	c.period++
	s := g.cfg.Start
	c.periodID = time.Date(s.Year(), s.Month()+time.Month(c.period), 1, 0, 0, 0, 0, time.UTC).Format("2006-01")
	c.left = int(g.between(8, 30))
	c.netCents = 0
	// Well under the utilization limit however long the period runs.
	hi := max(g.cfg.Thresholds.UtilizationPct/100*0.6, 0.06)
	c.consumed = int64(float64(c.included) * (0.05 + g.rng.Float64()*(hi-0.05)))
}

// amountCents draws a delta amount: mostly charges, some refunds, never
// small enough to hide under the drift threshold.
func (g *Generator) amountCents() int64 {
	floor := int64(math.Ceil(g.cfg.Thresholds.Drift*100)) + 100
	if g.rng.IntN(10) == 0 {
		return -g.between(floor, floor+20_000)
	}
	return g.between(floor, floor+50_000)
}

// nextDelta builds the customer's next delta with amount cents and moves
// the chain on. counted says whether it is in PacSpace's running total:
// a delta that is never sent is not, so that the agent's total, which only
// has what it received, still agrees.
func (g *Generator) nextDelta(c *customer, cents int64, counted bool) *deltaData {
	g.refs++
	amount := float64(cents) / 100
	ref := fmt.Sprintf("ref_%s_%06d", g.tag, g.refs)
	verifiedAt := g.clock.Add(-time.Duration(g.between(50, 900)) * time.Millisecond)
	d := &deltaData{
		ReceiptID:  fmt.Sprintf("rcpt_%s_%06d", g.tag, g.refs),
		DeltaIndex: c.deltas,
		Delta:      deltaFields{CustomerID: c.id, ReferenceID: ref, Amount: amount},
		Verification: verification{Verified: true, Discrepancies: []discrepancy{},
			LatencyMs:  g.between(120, int64(g.cfg.Thresholds.VerificationLatencyMs*0.8)),
			VerifiedAt: g.timestamp(verifiedAt)},
		Proof:  proof{ProofHash: ProofHash(c.id, ref, amount, c.head), PreviousProofHash: c.head},
		Period: period{ID: c.periodID},
	}
	c.consumed++
	d.Usage = c.usage()
	if counted {
		c.netCents += cents
	}
	d.Period.NetDelta = float64(c.netCents) / 100
	c.headPrev, c.head = c.head, d.Proof.ProofHash
	c.deltas++
	c.left--
	return d
}

func (c *customer) usage() usage {
	return usage{ConsumedDeltas: c.consumed, IncludedDeltas: c.included,
		RemainingDeltas: c.included - c.consumed, OverageRate: 0.002}
}

// sendDelta emits d, with its ledger record unless the ledger is to miss it.
func (g *Generator) sendDelta(c *customer, typ string, d *deltaData, record bool) *Item {
	ts := g.timestamp(g.clock)
	if record {
		g.step.Records = append(g.step.Records, engine.LedgerRecord{ReferenceID: d.Delta.ReferenceID,
			CustomerID: c.id, Amount: d.Delta.Amount, PeriodID: d.Period.ID, Time: ts})
	}
	return g.emit(c.stream, typ, marshal(envelope{Event: typ, Timestamp: ts, Data: d}))
}

// possibleDelta reports whether fault k can be injected in c's next step.
// Chain faults need a head decided in order, and leave the chain alone for
// a few steps, so each is judged against a settled chain.
func (g *Generator) possibleDelta(c *customer, k Kind) bool {
	settled := c.cooldown == 0
	switch k {
	case ChainGap:
		return settled && c.deltas >= 1
	case ChainMismatch:
		return settled && c.last != nil
	case ChainFork:
		return settled && c.last != nil && c.deltas >= 2
	case Reorder:
		return settled
	case UsageHigh:
		lo, hi := g.usageHigh(c)
		return lo <= hi
	case Drift, Unmatched, SLAVerification, VerificationFailed, UsageLimit:
		return true
	}
	return isDeliveryFault(k)
}

// usageHigh is the range of consumed deltas over the utilization limit
// that still leave at least the remaining-deltas limit.
func (g *Generator) usageHigh(c *customer) (lo, hi int64) {
	th := g.cfg.Thresholds
	lo = int64(math.Floor(float64(c.included)*th.UtilizationPct/100)) + 1
	hi = c.included - int64(math.Ceil(th.RemainingDeltas))
	return lo, hi
}

func (g *Generator) deltaStep(c *customer) {
	c.cooldown = max(c.cooldown-1, 0)
	k := g.pick(func(k Kind) bool { return g.possibleDelta(c, k) })
	endPeriod := false
	switch k {
	case ChainGap:
		g.nextDelta(c, g.amountCents(), false) // never sent
		d := g.nextDelta(c, g.amountCents(), true)
		it := g.sendDelta(c, "delta.verified", d, true)
		g.truth(it.Event.ID, k)
		c.last, c.cooldown = nil, 3
	case ChainMismatch:
		// The head again, claiming another predecessor.
		m := *c.last
		m.Proof.PreviousProofHash = g.randomHash()
		ts := g.timestamp(g.clock)
		it := g.emit(c.stream, c.lastType, marshal(envelope{Event: c.lastType, Timestamp: ts, Data: &m}))
		g.truth(it.Event.ID, k)
		c.cooldown = 3
	case ChainFork:
		// A new delta in the head's place, claiming the head's predecessor.
		head, prev, n := c.head, c.headPrev, c.deltas
		c.head, c.deltas = prev, n-1
		f := g.nextDelta(c, g.amountCents(), true)
		c.head, c.headPrev, c.deltas = head, prev, n
		it := g.sendDelta(c, "delta.verified", f, true)
		g.truth(it.Event.ID, k)
		c.cooldown = 3
	case Reorder:
		d1 := g.nextDelta(c, g.amountCents(), true)
		d2 := g.nextDelta(c, g.amountCents(), true)
		it := g.sendDelta(c, "delta.verified", d2, true)
		g.sendDelta(c, "delta.verified", d1, true)
		g.truth(it.Event.ID, k)
		c.last, c.lastType, c.cooldown = d2, "delta.verified", 2
	default:
		endPeriod = g.deltaContent(c, k)
	}
	if endPeriod || c.left <= 0 {
		g.checkpoint(c)
		g.newPeriod(c)
	}
}

// deltaContent sends the customer's next delta with fault k in what it
// says, or around how it is delivered, and reports whether the period must
// end after it.
func (g *Generator) deltaContent(c *customer, k Kind) (endPeriod bool) {
	th := g.cfg.Thresholds
	typ := "delta.verified"
	if g.rng.IntN(10) == 0 {
		typ = "verification.completed"
	}
	d := g.nextDelta(c, g.amountCents(), true)
	record := true
	switch k {
	case Drift:
		off := g.between(max(100, int64(math.Ceil(th.Drift*200))), 10_000)
		if g.rng.IntN(2) == 0 {
			off = -off
		}
		d.Period.NetDelta = float64(c.netCents+off) / 100
	case Unmatched:
		// The agent's total lacks this amount for the rest of the period,
		// so the period ends here.
		record, endPeriod = false, true
	case SLAVerification:
		d.Verification.LatencyMs = int64(th.VerificationLatencyMs) + g.between(1, 10_000)
	case VerificationFailed:
		typ = []string{"delta.failed", "verification.failed"}[g.rng.IntN(2)]
		d.Verification.Verified = false
		d.Verification.Discrepancies = []discrepancy{{Field: "amount", Expected: d.Delta.Amount,
			Actual: d.Delta.Amount + float64(g.between(1, 5000))/100}}
	case UsageHigh:
		lo, hi := g.usageHigh(c)
		c.consumed = g.between(lo, hi)
		d.Usage, endPeriod = c.usage(), true // a new period renews the plan
	case UsageLimit:
		c.consumed = c.included - g.between(0, int64(math.Ceil(th.RemainingDeltas))-1)
		d.Usage, endPeriod = c.usage(), true
	}
	it := g.sendDelta(c, typ, d, record)
	i := len(g.step.Items) - 1
	switch {
	case isDeliveryFault(k):
		t := *d
		t.Delta.Amount *= 10
		g.deliveryFault(k, i, marshal(envelope{Event: typ, Timestamp: g.timestamp(g.clock), Data: &t}))
		c.last, c.lastType = d, typ
	case k != "":
		g.truth(it.Event.ID, k)
		c.last = nil
	default:
		c.last, c.lastType = d, typ
	}
	if g.rng.IntN(10) == 0 {
		g.receipt(c, d)
	}
	return endPeriod
}

func (g *Generator) receipt(c *customer, d *deltaData) {
	r := receiptData{ReceiptID: d.ReceiptID, CustomerID: c.id, DeltaIndex: d.DeltaIndex,
		ProofHash: d.Proof.ProofHash, URL: "https://app.pacspace.io/receipts/" + d.ReceiptID}
	const typ = "receipt.generated"
	g.emit(c.stream, typ, marshal(envelope{Event: typ, Timestamp: g.timestamp(g.clock), Data: r}))
}

// checkpoint closes the customer's period with the chain head and the
// period's total.
func (g *Generator) checkpoint(c *customer) {
	cp := checkpointData{CheckpointID: fmt.Sprintf("ckpt_%s_%s_%s", c.periodID, g.tag, c.id[len("cus_"):]),
		CustomerID: c.id, ProofHash: c.head, DeltaCount: c.deltas,
		Period: period{ID: c.periodID, NetDelta: float64(c.netCents) / 100}}
	const typ = "checkpoint.verified"
	g.emit(c.stream, typ, marshal(envelope{Event: typ, Timestamp: g.timestamp(g.clock), Data: cp}))
}
