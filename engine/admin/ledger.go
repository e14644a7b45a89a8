package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/httpapi"
	"github.com/arbiter-dev/arbiter/engine/normalize"
	"github.com/arbiter-dev/arbiter/engine/store"
)

// The internal ledger: the deltas we submitted to PacSpace, which verified
// deltas are matched against by referenceId. Stored records never change
// (see store.ImportLedger): re-importing an identical record is accepted, a
// differing one is rejected.

func (a *API) ledgerRoutes() {
	a.handle("POST /v1/ledger", a.createLedgerRecord)
	a.handle("POST /v1/ledger/bulk", a.importLedger)
	a.handle("GET /v1/ledger/periods", a.ledgerPeriods)
	a.handle("GET /v1/ledger/{referenceId}", a.getLedgerRecord)
}

// maxBulkRecords bounds one bulk import; the CLI sends chunks of 1,000.
const maxBulkRecords = 10_000

// ledgerInput is one record as clients send it.
type ledgerInput struct {
	ReferenceID string   `json:"referenceId"`
	CustomerID  string   `json:"customerId"`
	Amount      *float64 `json:"amount"`
	PeriodID    string   `json:"periodId"`
	Time        string   `json:"time"` // RFC 3339; optional
}

// entry validates the input; on failure it names every bad field.
func (in ledgerInput) entry() (store.LedgerEntry, map[string]string) {
	bad := map[string]string{}
	for name, v := range map[string]string{"referenceId": in.ReferenceID, "customerId": in.CustomerID, "periodId": in.PeriodID} {
		if strings.TrimSpace(v) == "" {
			bad[name] = "required"
		}
	}
	e := store.LedgerEntry{ReferenceID: in.ReferenceID, CustomerID: in.CustomerID, PeriodID: in.PeriodID}
	switch {
	case in.Amount == nil:
		bad["amount"] = "required"
	case math.IsNaN(*in.Amount) || math.IsInf(*in.Amount, 0):
		bad["amount"] = "must be a finite number"
	default:
		e.Amount = *in.Amount
	}
	if in.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, in.Time)
		if err != nil {
			bad["time"] = "must be an RFC 3339 time"
		}
		e.Time = t.UTC()
	}
	if len(bad) > 0 {
		return e, bad
	}
	return e, nil
}

// ledgerView is a stored record.
type ledgerView struct {
	ReferenceID string     `json:"referenceId"`
	CustomerID  string     `json:"customerId"`
	Amount      float64    `json:"amount"`
	PeriodID    string     `json:"periodId"`
	Time        *time.Time `json:"time"` // null when the record gave none
	CreatedAt   time.Time  `json:"createdAt"`
}

func newLedgerView(e store.LedgerEntry) ledgerView {
	return ledgerView{ReferenceID: e.ReferenceID, CustomerID: e.CustomerID, Amount: e.Amount, PeriodID: e.PeriodID,
		Time: optionalTime(e.Time), CreatedAt: e.CreatedAt}
}

// conflictReason says why a record was refused for differing from the
// stored one.
func conflictReason(fields []string) string {
	return "already stored with a different " + strings.Join(fields, ", ") + "; stored records do not change"
}

func (a *API) createLedgerRecord(w http.ResponseWriter, r *http.Request) {
	var in ledgerInput
	if !httpapi.DecodeBody(w, r, &in, maxRequestBody) {
		return
	}
	e, bad := in.entry()
	if bad != nil {
		httpapi.WriteError(w, http.StatusBadRequest, "invalid ledger record", bad)
		return
	}
	conflicts, err := a.cfg.Store.ImportLedger(r.Context(), []store.LedgerEntry{e})
	if err != nil {
		a.storeFailed(w, "storing a ledger record", err)
		return
	}
	if len(conflicts) > 0 {
		fields := map[string]string{}
		for _, f := range conflicts[0].Fields {
			fields[f] = "differs from the stored record"
		}
		httpapi.WriteError(w, http.StatusConflict, fmt.Sprintf("ledger record %q is %s", e.ReferenceID, conflictReason(conflicts[0].Fields)), fields)
		return
	}
	stored, err := a.cfg.Store.LedgerEntry(r.Context(), e.ReferenceID)
	if err != nil {
		a.storeFailed(w, "reading a ledger record", err)
		return
	}
	httpapi.WriteData(w, http.StatusCreated, newLedgerView(stored))
}

// rejection is a bulk row that was not stored.
type rejection struct {
	Index       int    `json:"index"` // 0-based, in the request's records
	ReferenceID string `json:"referenceId"`
	Reason      string `json:"reason"`
}

// importLedger validates every row and stores the valid ones in one
// transaction, whatever the others hold.
func (a *API) importLedger(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Records []json.RawMessage `json:"records"`
	}
	if !httpapi.DecodeBody(w, r, &body, maxRequestBody) {
		return
	}
	switch n := len(body.Records); {
	case n == 0:
		httpapi.WriteError(w, http.StatusBadRequest, "invalid request body", map[string]string{"records": "must hold at least one record"})
		return
	case n > maxBulkRecords:
		httpapi.WriteError(w, http.StatusBadRequest, "invalid request body",
			map[string]string{"records": fmt.Sprintf("at most %d records per request; got %d", maxBulkRecords, n)})
		return
	}
	var (
		rejected = []rejection{}
		entries  []store.LedgerEntry
		indexes  []int // request index of each entry
	)
	for i, raw := range body.Records {
		e, reason := decodeLedgerRow(raw)
		if reason != "" {
			rejected = append(rejected, rejection{Index: i, ReferenceID: e.ReferenceID, Reason: reason})
			continue
		}
		entries = append(entries, e)
		indexes = append(indexes, i)
	}
	conflicts, err := a.cfg.Store.ImportLedger(r.Context(), entries)
	if err != nil {
		a.storeFailed(w, "importing ledger records", err)
		return
	}
	for _, c := range conflicts {
		rejected = append(rejected, rejection{Index: indexes[c.Index], ReferenceID: entries[c.Index].ReferenceID,
			Reason: conflictReason(c.Fields)})
	}
	slices.SortFunc(rejected, func(x, y rejection) int { return x.Index - y.Index })
	if len(rejected) > 0 {
		a.log.Info("ledger import rejected rows", "accepted", len(entries)-len(conflicts), "rejected", len(rejected))
	}
	httpapi.WriteData(w, http.StatusOK, map[string]any{"accepted": len(entries) - len(conflicts), "rejected": rejected})
}

// decodeLedgerRow decodes and validates one bulk row; reason says what is
// wrong with it, naming each bad field.
func decodeLedgerRow(raw json.RawMessage) (store.LedgerEntry, string) {
	var in ledgerInput
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return store.LedgerEntry{ReferenceID: in.ReferenceID}, typeErr.Field + ": must be " + jsonType(typeErr)
		case errors.As(err, &typeErr):
			return store.LedgerEntry{}, "not a JSON object"
		default:
			return store.LedgerEntry{ReferenceID: in.ReferenceID}, strings.TrimPrefix(err.Error(), "json: ")
		}
	}
	e, bad := in.entry()
	if bad == nil {
		return e, ""
	}
	names := make([]string, 0, len(bad))
	for name := range bad {
		names = append(names, name)
	}
	slices.Sort(names)
	for i, name := range names {
		names[i] = name + ": " + bad[name]
	}
	return e, strings.Join(names, "; ")
}

// jsonType names what a field should have held. A number too large for
// float64 is a type error too.
func jsonType(e *json.UnmarshalTypeError) string {
	if e.Type.Kind() == reflect.String {
		return "a string"
	}
	return "a finite number"
}

func (a *API) getLedgerRecord(w http.ResponseWriter, r *http.Request) {
	ref := r.PathValue("referenceId")
	e, err := a.cfg.Store.LedgerEntry(r.Context(), ref)
	if errors.Is(err, engine.ErrNotFound) {
		httpapi.WriteError(w, http.StatusNotFound, "no ledger record "+strconv.Quote(ref), nil)
		return
	}
	if err != nil {
		a.storeFailed(w, "reading a ledger record", err)
		return
	}
	httpapi.WriteData(w, http.StatusOK, newLedgerView(e))
}

// periodView compares our running total for a period with the internal
// ledger's records for it.
type periodView struct {
	CustomerID    string  `json:"customerId"`
	PeriodID      string  `json:"periodId"`
	OurTotal      float64 `json:"ourTotal"`      // from verified deltas matched to ledger records
	Deltas        int64   `json:"deltas"`        // verified deltas counted
	LedgerTotal   float64 `json:"ledgerTotal"`   // sum of the ledger records' amounts
	LedgerRecords int64   `json:"ledgerRecords"` // ledger records in the period
	// PacSpaceTotal is the period's netDelta as PacSpace last reported it
	// among the customer's newest events; null when none of them did.
	// ReportedOurs is our total as that event found it, and Drift whether
	// its decision raised period_drift.
	PacSpaceTotal *float64 `json:"pacspaceTotal"`
	ReportedOurs  *float64 `json:"reportedOurs"`
	ReportedBy    string   `json:"reportedBy,omitempty"` // the event
	Drift         bool     `json:"drift"`
}

func (a *API) ledgerPeriods(w http.ResponseWriter, r *http.Request) {
	p := httpapi.NewParams(r)
	customer := p.Str("customerId")
	if customer == "" {
		p.Fail("customerId", "required")
	}
	period := p.Str("periodId")
	page := p.Page(httpapi.DefaultLimit)
	if !p.OK(w) {
		return
	}
	ps, total, err := a.cfg.Store.LedgerPeriods(r.Context(), customer, period, page.Limit, page.Offset)
	if err != nil {
		a.storeFailed(w, "listing ledger periods", err)
		return
	}
	reported, err := a.cfg.Store.ReportedTotals(r.Context(), normalize.CustomerStream(customer))
	if err != nil {
		a.storeFailed(w, "listing ledger periods", err)
		return
	}
	views := make([]periodView, len(ps))
	for i, p := range ps {
		views[i] = periodView{CustomerID: p.Customer, PeriodID: p.Period, OurTotal: p.Total, Deltas: p.Deltas,
			LedgerTotal: p.LedgerAmount, LedgerRecords: p.LedgerRecords}
		if rep, ok := reported[p.Period]; ok {
			views[i].PacSpaceTotal = &rep.PacSpace
			if rep.Ours.Valid {
				views[i].ReportedOurs = &rep.Ours.Float64
			}
			views[i].ReportedBy, views[i].Drift = rep.EventID, rep.Drift
		}
	}
	httpapi.WriteList(w, "periods", views, page, total)
}
