package scenario

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Seed 000's batch payload, keys in the order the seeds show.
type batchData struct {
	BatchID          string      `json:"batchId"`
	Items            []batchItem `json:"items"`
	SubmittedAt      string      `json:"submittedAt"`
	VerifiedAt       string      `json:"verifiedAt"`
	CreditsConsumed  int64       `json:"creditsConsumed"`
	RemainingBalance int64       `json:"remainingBalance"`
}

type batchItem struct {
	Key  string `json:"key"`
	Bits int64  `json:"bits"`
}

// reusePool is how many recent keys a batch may write again.
const reusePool = 1024

// topUp is the credit balance after the account is topped up.
const topUp = 500_000

// batchStream is the endpoint's one batch stream. totals mirrors the
// agent's per-key item totals: a batch reporting a key again must report
// its total so far (seed 000 compares the two), so a clean reuse doubles it.
type batchStream struct {
	base, seq int64
	keys      int64
	recent    []string // the reuse pool, oldest first
	totals    map[string]int64
	balance   int64
	// last is the previous batch when all its keys were new and nothing
	// was wrong with it: replaying it trips nothing but the replay check.
	last     *batchData
	lastType string
	cooldown int
}

const batchStreamKey = "batch"

func (g *Generator) newBatchStream() *batchStream {
	return &batchStream{base: g.cfg.Start.Unix() * 1_000_000, totals: map[string]int64{},
		balance: topUp - g.between(0, 100_000)}
}

func (b *batchStream) nextSeq() int64 {
	b.seq++
	return b.base + b.seq
}

func (g *Generator) possibleBatch(k Kind) bool {
	b := g.batch
	switch k {
	case Reorder:
		return b.cooldown == 0
	case BatchReplay:
		return b.cooldown == 0 && b.last != nil
	case Discrepancy:
		return len(b.recent) > 0
	case SLABatch, LowCredits:
		return true
	}
	return isDeliveryFault(k)
}

func (g *Generator) batchStep() {
	b := g.batch
	b.cooldown = max(b.cooldown-1, 0)
	k := g.pick(g.possibleBatch)
	switch k {
	case Reorder:
		// Generated in the order they are sent, which is the order the
		// agent adds their items up in.
		first, second := b.nextSeq(), b.nextSeq()
		it := g.sendBatch("batch.verified", g.nextBatch(second, ""))
		g.sendBatch("batch.verified", g.nextBatch(first, ""))
		g.truth(it.Event.ID, k)
		b.last, b.cooldown = nil, 2
	case BatchReplay:
		it := g.sendBatch(b.lastType, b.last) // a new timestamp: not a byte-for-byte duplicate
		g.truth(it.Event.ID, k)
		b.last, b.cooldown = nil, 2
	default:
		typ := "batch.verified"
		if g.rng.IntN(7) == 0 {
			typ = "verification.completed"
		}
		d := g.nextBatch(b.nextSeq(), k)
		it := g.sendBatch(typ, d)
		b.last = nil
		switch {
		case isDeliveryFault(k):
			t := *d
			t.Items = append([]batchItem(nil), d.Items...)
			t.Items[0].Bits = t.Items[0].Bits*10 + 1
			g.deliveryFault(k, len(g.step.Items)-1, marshal(envelope{Event: typ, Timestamp: g.timestamp(g.clock), Data: &t}))
		case k != "":
			g.truth(it.Event.ID, k)
			return
		}
		if b.fresh(d) {
			b.last, b.lastType = d, typ
		}
	}
}

// fresh reports whether every key of d was first written by d.
func (b *batchStream) fresh(d *batchData) bool {
	for _, it := range d.Items {
		if b.totals[it.Key] != it.Bits {
			return false
		}
	}
	return true
}

func (g *Generator) sendBatch(typ string, d *batchData) *Item {
	return g.emit(batchStreamKey, typ, marshal(envelope{Event: typ, Timestamp: g.timestamp(g.clock), Data: d}))
}

// nextBatch builds batch number seq with fault k in what it says, and adds
// its items to the totals.
func (g *Generator) nextBatch(seq int64, k Kind) *batchData {
	b, th := g.batch, g.cfg.Thresholds
	d := &batchData{BatchID: "batch_" + strconv.FormatInt(seq, 10)}
	used := map[string]bool{}
	if k == Discrepancy {
		key := b.recent[g.rng.IntN(len(b.recent))]
		total := b.totals[key]
		off := int64(math.Ceil(float64(total)*th.DiscrepancyRatio*2)) + g.between(1, max(total/2, 1))
		bits := total + off
		if off < total && g.rng.IntN(2) == 0 {
			bits = total - off
		}
		used[key] = true
		d.Items = append(d.Items, batchItem{Key: key, Bits: bits})
	}
	for n := g.between(1, 4); int64(len(d.Items)) < n; {
		if len(b.recent) > 0 && g.rng.IntN(7) == 0 {
			key := b.recent[g.rng.IntN(len(b.recent))]
			if total := b.totals[key]; !used[key] && total < 1<<40 {
				used[key] = true
				d.Items = append(d.Items, batchItem{Key: key, Bits: total}) // agrees with the agent
				continue
			}
		}
		b.keys++
		d.Items = append(d.Items, batchItem{Key: fmt.Sprintf("acct:%s:%d", g.tag, b.keys), Bits: g.between(64, 8192)})
	}
	for _, it := range d.Items {
		b.add(it)
	}

	latency := g.between(500, int64(th.BatchLatencyMs*0.6))
	if k == SLABatch {
		latency = int64(th.BatchLatencyMs) + g.between(1_000, 90_000)
	}
	verified := g.clock.Add(-time.Duration(g.between(50, 900)) * time.Millisecond)
	d.VerifiedAt = g.timestamp(verified)
	d.SubmittedAt = g.timestamp(verified.Add(-time.Duration(latency) * time.Millisecond))

	d.CreditsConsumed = 3*int64(len(d.Items)) + g.between(0, 9)
	if b.balance-d.CreditsConsumed < int64(th.LowBalance)*3 {
		b.balance = topUp
	}
	b.balance -= d.CreditsConsumed
	d.RemainingBalance = b.balance
	if k == LowCredits {
		d.RemainingBalance = g.between(0, int64(th.LowBalance)-1)
		b.balance = topUp // the account is topped up before the next batch
	}
	return d
}

// add counts an applied item into its key's total, and keeps the key in
// the reuse pool.
func (b *batchStream) add(it batchItem) {
	if _, ok := b.totals[it.Key]; !ok {
		b.recent = append(b.recent, it.Key)
		if len(b.recent) > reusePool {
			delete(b.totals, b.recent[0])
			b.recent = b.recent[1:]
		}
	}
	b.totals[it.Key] += it.Bits
}
