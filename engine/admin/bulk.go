package admin

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/arbiter-dev/arbiter/engine/httpapi"
	"github.com/arbiter-dev/arbiter/engine/store"
)

// bulkRetryRequest confirms a bulk retry. A client first asks with dryRun
// for the count, shows it, and sends it back as expect with the asOf it
// was given: the retry then acts on exactly the deliveries counted, or on
// none if they changed meanwhile.
type bulkRetryRequest struct {
	DryRun bool   `json:"dryRun"`
	AsOf   string `json:"asOf"`   // deliveries that failed at or before; default now
	Expect *int   `json:"expect"` // the count confirmed; 409 if it differs
}

type bulkRetryResult struct {
	Count  int       `json:"count"` // matched (dryRun) or retried
	AsOf   time.Time `json:"asOf"`
	DryRun bool      `json:"dryRun"`
}

// retryDeliveries retries every failed delivery that the list's filters
// (the query string, as GET /v1/deliveries reads it) select.
func (a *API) retryDeliveries(w http.ResponseWriter, r *http.Request) {
	p := httpapi.NewParams(r)
	q := deliveryQuery(p)
	if q.Status != "" && q.Status != "failed" {
		p.Fail("status", "only failed deliveries can be retried")
	}
	if !p.OK(w) {
		return
	}
	var req bulkRetryRequest
	if !decodeOptionalBody(w, r, &req) {
		return
	}
	now := time.Now()
	asOf := now
	if req.AsOf != "" {
		t, err := time.Parse(time.RFC3339Nano, req.AsOf)
		if err != nil || t.After(now) {
			httpapi.WriteError(w, http.StatusBadRequest, "invalid request body",
				map[string]string{"asOf": "must be an RFC 3339 time, not in the future"})
			return
		}
		asOf = t
	}
	expect := -1
	if req.Expect != nil {
		if *req.Expect < 0 {
			httpapi.WriteError(w, http.StatusBadRequest, "invalid request body", map[string]string{"expect": "must not be negative"})
			return
		}
		expect = *req.Expect
	}
	q.UpdatedThrough = asOf
	n, err := a.cfg.Store.RetryDeliveries(r.Context(), q, expect, req.DryRun, now)
	switch {
	case errors.Is(err, store.ErrCountChanged):
		httpapi.WriteEnvelope(w, http.StatusConflict, httpapi.Envelope{Data: bulkRetryResult{Count: n, AsOf: asOf},
			Error: &httpapi.Error{Message: fmt.Sprintf("%d deliveries match now, not %d; nothing was retried", n, expect)}})
		return
	case err != nil:
		a.storeFailed(w, "retrying deliveries", err)
		return
	}
	if !req.DryRun && n > 0 {
		a.log.Info("deliveries retried by an operator", "count", n)
		if a.cfg.NotifyDispatch != nil {
			a.cfg.NotifyDispatch()
		}
	}
	httpapi.WriteData(w, http.StatusOK, bulkRetryResult{Count: n, AsOf: asOf, DryRun: req.DryRun})
}
