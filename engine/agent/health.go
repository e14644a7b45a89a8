package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

func (a *Agent) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the agent can accept, durably queue and decide
// webhooks: the store answers (the policy set was loaded before serving).
// Plugins are reported, not waited for: while they load ("loading"),
// deliveries wait in the outbox. Plugins that failed to load ("failed")
// stop the agent, which is not ready meanwhile.
func (a *Agent) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	plugins := a.plugins.Status()
	if err := a.store.Ping(ctx); err != nil {
		a.log.Warn("not ready", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "store unreachable", "plugins": plugins})
		return
	}
	if err := a.inbox.Err(); err != nil {
		a.log.Warn("not ready", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "inbox journal failed; restart", "plugins": plugins})
		return
	}
	if plugins == "failed" {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "plugins failed to load", "plugins": plugins})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "plugins": plugins})
}

// seedHealth is the seed agent's /health shape, kept so existing monitors
// keep working after the switch.
type seedHealth struct {
	Status           string     `json:"status"`
	LedgerSize       int64      `json:"ledgerSize"`
	ProofChainLength int64      `json:"proofChainLength"`
	LastProof        *lastProof `json:"lastProof"`
	InboxEvents      int64      `json:"inboxEvents"`
	InboxPending     int64      `json:"inboxPending"`
}

type lastProof struct {
	CustomerID        string `json:"customerId"`
	ProofHash         string `json:"proofHash"`
	PreviousProofHash string `json:"previousProofHash"`
}

func (a *Agent) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	inbox, err := a.inbox.Stats(ctx)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, seedHealth{Status: "unavailable"})
		return
	}
	set, err := a.store.SettlementStats(ctx)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, seedHealth{Status: "unavailable"})
		return
	}
	h := seedHealth{Status: "ok", LedgerSize: set.LedgerSize, ProofChainLength: set.ProofChainLength,
		InboxEvents: inbox.Events, InboxPending: inbox.Pending}
	if p := set.LastProof; p != nil {
		h.LastProof = &lastProof{CustomerID: p.Customer, ProofHash: p.Hash, PreviousProofHash: p.Previous}
	}
	writeJSON(w, http.StatusOK, h)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
