package admin

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/httpapi"
	"github.com/arbiter-dev/arbiter/engine/store"
	"github.com/arbiter-dev/arbiter/engine/worker"
)

// Proof-chain status per customer: the head of the chain, the deltas held
// while they wait for their predecessor, and the proofs recorded as breaks.

func (a *API) chainRoutes() {
	a.handle("GET /v1/chains", a.listChains)
	a.handle("GET /v1/chains/{customerId}", a.getChain)
	a.handle("GET /v1/chains/{customerId}/timeline", a.chainTimeline)
}

// maxBreaks bounds the gaps and forks a chain's detail lists; the counts
// are complete.
const maxBreaks = 100

type chainView struct {
	CustomerID string     `json:"customerId"`
	Head       string     `json:"head"` // "" while the first proof is held
	Length     int64      `json:"length"`
	UpdatedAt  *time.Time `json:"updatedAt"` // null while the first proof is held
	HeldCount  int        `json:"heldCount"`
	GapCount   int64      `json:"gapCount"`
	ForkCount  int64      `json:"forkCount"`
}

func newChainView(c store.ChainSummary, held int) chainView {
	return chainView{CustomerID: c.Customer, Head: c.Head, Length: c.Length, UpdatedAt: optionalTime(c.UpdatedAt),
		HeldCount: held, GapCount: c.Gaps, ForkCount: c.Forks}
}

type chainDetail struct {
	chainView
	Held  []heldView  `json:"held"`
	Gaps  []breakView `json:"gaps"`  // newest first
	Forks []breakView `json:"forks"` // newest first
}

type heldView struct {
	EventID           string    `json:"eventId"`
	ProofHash         string    `json:"proofHash"`
	PreviousProofHash string    `json:"previousProofHash"`
	Since             time.Time `json:"since"`
	Until             time.Time `json:"until"` // when the grace window ends
}

type breakView struct {
	EventID           string    `json:"eventId"`
	ProofHash         string    `json:"proofHash"`
	PreviousProofHash string    `json:"previousProofHash"`
	ReceivedAt        time.Time `json:"receivedAt"`
}

// listChains lists the customers whose first proof is still held (they
// have no chain yet) first, then every chain by customer id.
func (a *API) listChains(w http.ResponseWriter, r *http.Request) {
	p := httpapi.NewParams(r)
	page := p.Page(httpapi.DefaultLimit)
	if !p.OK(w) {
		return
	}
	held := map[string]int{}
	var customers []string
	for _, h := range a.cfg.Holds.Holds() {
		if held[h.Customer] == 0 {
			customers = append(customers, h.Customer)
		}
		held[h.Customer]++
	}
	heads, err := a.cfg.Store.Chains(r.Context(), customers)
	if err != nil {
		a.storeFailed(w, "listing chains", err)
		return
	}
	waiting := slices.DeleteFunc(customers, func(c string) bool { _, ok := heads[c]; return ok })
	out := []chainView{}
	for _, c := range waiting[min(page.Offset, len(waiting)):min(page.Offset+page.Limit, len(waiting))] {
		out = append(out, chainView{CustomerID: c, HeldCount: held[c]})
	}
	sums, total, err := a.cfg.Store.ChainSummaries(r.Context(), page.Limit-len(out), max(page.Offset-len(waiting), 0))
	if err != nil {
		a.storeFailed(w, "listing chains", err)
		return
	}
	for _, c := range sums {
		out = append(out, newChainView(c, held[c.Customer]))
	}
	httpapi.WriteList(w, "chains", out, page, total+len(waiting))
}

func (a *API) getChain(w http.ResponseWriter, r *http.Request) {
	customer := r.PathValue("customerId")
	sum, ok, err := a.cfg.Store.ChainSummary(r.Context(), customer)
	if err != nil {
		a.storeFailed(w, "reading a chain", err)
		return
	}
	var holds []worker.Hold
	for _, h := range a.cfg.Holds.Holds() {
		if h.Customer == customer {
			holds = append(holds, h)
		}
	}
	if !ok && len(holds) == 0 {
		httpapi.WriteError(w, http.StatusNotFound, "no proof chain for customer "+strconv.Quote(customer), nil)
		return
	}
	sum.Customer = customer
	out := chainDetail{chainView: newChainView(sum, len(holds)), Held: []heldView{}, Gaps: []breakView{}, Forks: []breakView{}}
	for _, h := range holds {
		out.Held = append(out.Held, heldView{EventID: h.EventID, ProofHash: h.ProofHash,
			PreviousProofHash: h.PreviousProofHash, Since: h.Since, Until: h.Until})
	}
	breaks, err := a.cfg.Store.ChainBreaks(r.Context(), customer, maxBreaks)
	if err != nil {
		a.storeFailed(w, "reading a chain", err)
		return
	}
	for _, b := range breaks {
		v := breakView{EventID: b.EventID, ProofHash: b.Hash, PreviousProofHash: b.Previous, ReceivedAt: b.ReceivedAt}
		if b.Verdict == engine.ChainGap {
			out.Gaps = append(out.Gaps, v)
		} else {
			out.Forks = append(out.Forks, v)
		}
	}
	httpapi.WriteData(w, http.StatusOK, out)
}
