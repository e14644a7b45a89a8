package admin

import (
	"net/http"
	"time"

	"github.com/arbiter-dev/arbiter/engine/httpapi"
	"github.com/arbiter-dev/arbiter/engine/normalize"
)

// timelineEntry is one of a customer's events as its chain saw it.
type timelineEntry struct {
	Seq               int64      `json:"seq"`
	EventID           string     `json:"eventId"`
	Type              string     `json:"type"`
	Status            string     `json:"status"`
	ReceivedAt        time.Time  `json:"receivedAt"`
	Chain             string     `json:"chain"` // genesis, linked, duplicate, gap, fork, mismatch; held while held; "" undecided
	ProofHash         string     `json:"proofHash"`
	PreviousProofHash string     `json:"previousProofHash"`
	PeriodID          string     `json:"periodId"`
	PacSpaceTotal     *float64   `json:"pacspaceTotal"` // null until decided
	OurTotal          *float64   `json:"ourTotal"`
	Reasons           []string   `json:"reasons"`   // of the decided actions
	HeldUntil         *time.Time `json:"heldUntil"` // while held: when its grace window ends
}

// chainTimeline pages through a customer's events, newest first, with the
// chain verdict and the period totals each decision recorded; before is
// the seq to continue below.
func (a *API) chainTimeline(w http.ResponseWriter, r *http.Request) {
	customer := r.PathValue("customerId")
	p := httpapi.NewParams(r)
	before := int64(p.Int("before", 0, 0, 1<<53))
	limit := p.Int("limit", 50, 1, httpapi.MaxLimit)
	if !p.OK(w) {
		return
	}
	entries, err := a.cfg.Store.Timeline(r.Context(), normalize.CustomerStream(customer), before, limit)
	if err != nil {
		a.storeFailed(w, "reading a chain's timeline", err)
		return
	}
	held := map[int64]time.Time{}
	for _, h := range a.cfg.Holds.Holds() {
		if h.Customer == customer {
			held[h.EventSeq] = h.Until
		}
	}
	out := make([]timelineEntry, len(entries))
	for i, e := range entries {
		v := timelineEntry{Seq: e.Seq, EventID: e.EventID, Type: e.Type, Status: string(e.Status), ReceivedAt: e.ReceivedAt,
			Chain: e.Chain, ProofHash: e.ProofHash, PreviousProofHash: e.PreviousProofHash, PeriodID: e.Period,
			Reasons: e.Reasons}
		if v.Reasons == nil {
			v.Reasons = []string{}
		}
		if e.PacSpaceTotal.Valid {
			v.PacSpaceTotal = &e.PacSpaceTotal.Float64
		}
		if e.OurTotal.Valid {
			v.OurTotal = &e.OurTotal.Float64
		}
		if until, ok := held[e.Seq]; ok {
			v.Chain, v.HeldUntil = "held", &until
		}
		out[i] = v
	}
	next := int64(0)
	if len(entries) == limit {
		next = entries[len(entries)-1].Seq
	}
	httpapi.WriteData(w, http.StatusOK, map[string]any{"events": out, "next": next})
}
