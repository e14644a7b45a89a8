package loadgen

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/pacspace"
)

func TestGeneratorBatchSequence(t *testing.T) {
	now := time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC)
	g := generator{scheme: engine.SchemeLegacy, shape: ShapeBatch, secret: "s", runID: "0123abcd", batchBase: now.Unix() * 1_000_000}
	last := int64(0)
	for _, seq := range []int64{0, 1, 2, 999_999, 5_000_000} {
		var ev struct {
			Data struct {
				BatchID string `json:"batchId"`
				Items   []struct {
					Key  string `json:"key"`
					Bits int64  `json:"bits"`
				} `json:"items"`
				SubmittedAt      time.Time `json:"submittedAt"`
				VerifiedAt       time.Time `json:"verifiedAt"`
				RemainingBalance int64     `json:"remainingBalance"`
			} `json:"data"`
		}
		r := g.build(seq, now)
		if err := json.Unmarshal(r.body, &ev); err != nil {
			t.Fatalf("seq %d: %v: %s", seq, err, r.body)
		}
		// The seed agent reads parseInt(batchId.split('_')[1]).
		num, err := strconv.ParseInt(strings.Split(ev.Data.BatchID, "_")[1], 10, 64)
		if err != nil || num <= last || num >= 1<<53 {
			t.Fatalf("seq %d: batch id %s after %d", seq, ev.Data.BatchID, last)
		}
		last = num
		if len(ev.Data.Items) != 3 || ev.Data.VerifiedAt.Sub(ev.Data.SubmittedAt) != 2*time.Second || ev.Data.RemainingBalance < 1000 {
			t.Fatalf("seq %d: %s", seq, r.body)
		}
		if _, err := (pacspace.Verifier{AllowLegacy: true}).Verify(r.sig, r.ts, r.body, []string{"s"}, now); err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
	}
}

func TestGeneratorDeltaChain(t *testing.T) {
	now := time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC)
	g := generator{scheme: engine.SchemeV1, shape: ShapeDelta, secret: "s", runID: "0123abcd"}
	type delta struct {
		Data struct {
			DeltaIndex int64 `json:"deltaIndex"`
			Delta      struct {
				CustomerID string  `json:"customerId"`
				Amount     float64 `json:"amount"`
			} `json:"delta"`
			Proof struct {
				ProofHash         string `json:"proofHash"`
				PreviousProofHash string `json:"previousProofHash"`
			} `json:"proof"`
			Period struct {
				NetDelta float64 `json:"netDelta"`
			} `json:"period"`
		} `json:"data"`
	}
	head := map[string]string{}
	for seq := range int64(3 * deltaCustomers) {
		r := g.build(seq, now)
		var d delta
		if err := json.Unmarshal(r.body, &d); err != nil {
			t.Fatalf("seq %d: %v: %s", seq, err, r.body)
		}
		c := d.Data.Delta.CustomerID
		want, seen := head[c]
		if !seen {
			want = strings.Repeat("0", 64)
		}
		if d.Data.Proof.PreviousProofHash != want {
			t.Fatalf("seq %d: customer %s: previous %s, head %s", seq, c, d.Data.Proof.PreviousProofHash, want)
		}
		head[c] = d.Data.Proof.ProofHash
		if got := d.Data.Delta.Amount * float64(d.Data.DeltaIndex+1); got != d.Data.Period.NetDelta {
			t.Fatalf("seq %d: netDelta %v, want %v", seq, d.Data.Period.NetDelta, got)
		}
		if _, err := (pacspace.Verifier{}).Verify(r.sig, r.ts, r.body, []string{"s"}, now); err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
	}
	if len(head) != deltaCustomers {
		t.Fatalf("%d customers", len(head))
	}
}

func BenchmarkBuild(b *testing.B) {
	now := time.Now()
	for _, shape := range []Shape{ShapeBatch, ShapeDelta} {
		for _, scheme := range []engine.Scheme{engine.SchemeV1, engine.SchemeLegacy} {
			b.Run(string(shape)+"/"+string(scheme), func(b *testing.B) {
				g := generator{scheme: scheme, shape: shape, secret: "whsec_bench", runID: "0123abcd", batchBase: now.Unix() * 1_000_000}
				b.ReportAllocs()
				var seq int64
				for b.Loop() {
					g.build(seq, now)
					seq++
				}
			})
		}
	}
}
