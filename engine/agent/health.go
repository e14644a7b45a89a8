package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/arbiter-dev/arbiter/engine/journal"
)

// healthz answers 503 only when a restart would help: the inbox journal
// found its file no longer holding what it had committed, and only a new
// Open can tell what the disk holds. Everything else mends itself or needs
// more than a restart: a full disk, while it lasts, makes the agent
// unready (readyz), not unhealthy.
func (a *Agent) healthz(w http.ResponseWriter, _ *http.Request) {
	if err := a.inbox.Err(); errors.Is(err, journal.ErrBroken) {
		a.log.Error("unhealthy: restart to recover the inbox journal", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "error": "inbox journal broken; restart"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the agent can accept, durably queue and decide
// webhooks: the store answers (the policy set was loaded before serving),
// and the inbox journal can write (after a failed write, such as on a full
// disk, it repairs itself and readyz turns 200 again).
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
		msg := "inbox journal cannot write; retrying"
		if errors.Is(err, journal.ErrBroken) {
			msg = "inbox journal broken; restart"
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": msg, "plugins": plugins})
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
