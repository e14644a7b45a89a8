package loadgen

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/pacspace"
)

// Shape is the payload shape of the generated events.
type Shape string

const (
	// ShapeBatch is seed 000's batch.verified body: a batch of record keys.
	// It holds only strings and integers, so the seed Express agent, which
	// verifies JSON.stringify(req.body), reproduces it byte for byte.
	ShapeBatch Shape = "batch"
	// ShapeDelta is seed 001's delta.verified body: one delta of one of 64
	// customers, each customer's proofs forming a chain.
	ShapeDelta Shape = "delta"
)

// deltaCustomers is how many customers delta-shaped events are spread over.
const deltaCustomers = 64

const tsLayout = "2006-01-02T15:04:05.000Z"

// request is one signed event, ready to send.
type request struct {
	eventID  string
	body     []byte
	sig, ts  string
	signedAt time.Time
}

// generator builds the seq-th event of a run. Every event differs from every
// other, within the run and across runs, in both its event id and its body,
// so that neither id nor body-digest deduplication can short-circuit it.
type generator struct {
	scheme engine.Scheme
	shape  Shape
	secret string
	runID  string // random, hex
	// batchBase is added to seq for batch numbers: the run's start in Unix
	// seconds × 10⁶, so batch ids keep increasing from one run to the next
	// (the seed agent escalates a batch id lower than the last) and stay
	// below 2⁵³, where JavaScript's parseInt is still exact.
	batchBase int64
}

func (g *generator) build(seq int64, now time.Time) request {
	r := request{eventID: "evt_lg_" + g.runID + "_" + strconv.FormatInt(seq, 10)}
	switch g.shape {
	case ShapeDelta:
		r.body = g.delta(seq, now)
	default:
		r.body = g.batch(seq, now)
	}
	g.sign(&r, now)
	return r
}

// sign (re)signs r's body at now.
func (g *generator) sign(r *request, now time.Time) {
	r.signedAt = now
	if g.scheme == engine.SchemeLegacy {
		r.sig, r.ts = pacspace.SignLegacy(g.secret, r.body), ""
		return
	}
	r.sig, r.ts = pacspace.SignV1(g.secret, now, r.body), strconv.FormatInt(now.Unix(), 10)
}

func (g *generator) batch(seq int64, now time.Time) []byte {
	now = now.UTC()
	batch := g.batchBase + seq + 1
	b := make([]byte, 0, 384)
	b = append(b, `{"event":"batch.verified","timestamp":"`...)
	b = now.AppendFormat(b, tsLayout)
	b = append(b, `","data":{"batchId":"batch_`...)
	b = strconv.AppendInt(b, batch, 10)
	b = append(b, `","items":[`...)
	for j := range 3 {
		if j > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"key":"acct:`...)
		b = strconv.AppendInt(b, batch, 10)
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(j+1), 10)
		b = append(b, `","bits":`...)
		b = strconv.AppendInt(b, 512<<j+seq%1024, 10)
		b = append(b, '}')
	}
	b = append(b, `],"submittedAt":"`...)
	b = now.Add(-2*time.Second).AppendFormat(b, tsLayout)
	b = append(b, `","verifiedAt":"`...)
	b = now.AppendFormat(b, tsLayout)
	b = append(b, `","creditsConsumed":12,"remainingBalance":`...)
	b = strconv.AppendInt(b, 100_000_000-seq%10_000_000, 10)
	return append(b, `}}`...)
}

func (g *generator) delta(seq int64, now time.Time) []byte {
	now = now.UTC()
	cust, n := seq%deltaCustomers, seq/deltaCustomers
	cents := 100*(cust+1) + 50 // amount = cust + 1.5, exact in binary
	b := make([]byte, 0, 768)
	b = append(b, `{"event":"delta.verified","timestamp":"`...)
	b = now.AppendFormat(b, tsLayout)
	b = append(b, `","data":{"receiptId":"rcpt_lg_`...)
	b = g.appendRunSeq(b, seq)
	b = append(b, `","deltaIndex":`...)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, `,"delta":{"customerId":"cus_lg_`...)
	b = g.appendRunSeq(b, cust)
	b = append(b, `","referenceId":"ref_lg_`...)
	b = g.appendRunSeq(b, seq)
	b = append(b, `","amount":`...)
	b = strconv.AppendFloat(b, float64(cents)/100, 'f', -1, 64)
	b = append(b, `},"verification":{"verified":true,"discrepancies":[],"latencyMs":`...)
	b = strconv.AppendInt(b, 200+seq%800, 10)
	b = append(b, `,"verifiedAt":"`...)
	b = now.AppendFormat(b, tsLayout)
	b = append(b, `"},"proof":{"proofHash":"`...)
	b = g.appendProof(b, cust, n)
	b = append(b, `","previousProofHash":"`...)
	b = g.appendProof(b, cust, n-1)
	b = append(b, `"},"period":{"id":"`...)
	b = now.AppendFormat(b, "2006-01")
	b = append(b, `","netDelta":`...)
	b = strconv.AppendFloat(b, float64(cents*(n+1))/100, 'f', -1, 64)
	b = append(b, `},"usage":{"consumedDeltas":`...)
	b = strconv.AppendInt(b, seq+1, 10)
	b = append(b, `,"includedDeltas":1000000000,"remainingDeltas":`...)
	b = strconv.AppendInt(b, 1_000_000_000-seq-1, 10)
	return append(b, `,"overageRate":0.002}}}`...)
}

func (g *generator) appendRunSeq(b []byte, n int64) []byte {
	b = append(b, g.runID...)
	b = append(b, '_')
	return strconv.AppendInt(b, n, 10)
}

// appendProof appends the proof hash of customer cust's n-th delta; the
// genesis delta's predecessor (n = -1) is all zeros.
func (g *generator) appendProof(b []byte, cust, n int64) []byte {
	var sum [sha256.Size]byte
	if n >= 0 {
		var in [16]byte
		binary.BigEndian.PutUint64(in[:8], uint64(cust))
		binary.BigEndian.PutUint64(in[8:], uint64(n))
		h := sha256.New()
		h.Write([]byte(g.runID))
		h.Write(in[:])
		h.Sum(sum[:0])
	}
	return hex.AppendEncode(b, sum[:])
}
