package admin

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/httpapi"
	"github.com/arbiter-dev/arbiter/engine/normalize"
	"github.com/arbiter-dev/arbiter/engine/pacspace"
	"github.com/arbiter-dev/arbiter/engine/store"
)

// The inbox as the operator sees it: every received event, what was decided
// for it, and where its actions went.

func (a *API) eventRoutes() {
	a.handle("GET /v1/events", a.listEvents)
	a.handle("GET /v1/events/{id}", a.getEvent)
	a.handle("GET /v1/webhooks/{id}/events", a.listEvents)
	a.handle("POST /v1/replay", a.replay)
}

// eventView is an event as lists show it.
type eventView struct {
	Seq         int64           `json:"seq"`
	ID          string          `json:"id"`
	Endpoint    string          `json:"endpoint"`
	Type        string          `json:"type"`
	Status      string          `json:"status"`
	Error       string          `json:"error"`
	Scheme      string          `json:"scheme"`
	ReceivedAt  time.Time       `json:"receivedAt"`
	ProcessedAt *time.Time      `json:"processedAt"` // null until the worker took it up
	Revision    string          `json:"revision"`    // of the policy set that decided it; "" when undecided
	Actions     []engine.Action `json:"actions"`     // type, reason, severity and targets of each
}

func newEventView(ev store.EventSummary) eventView {
	v := eventView{Seq: ev.Seq, ID: ev.EventID, Endpoint: ev.Endpoint, Type: ev.Type, Status: string(ev.Status),
		Error: ev.Error, Scheme: string(ev.Scheme), ReceivedAt: ev.ReceivedAt, ProcessedAt: optionalTime(ev.ProcessedAt),
		Revision: ev.Revision, Actions: []engine.Action{}}
	// engine.Action's JSON is the compact form; details are in the detail view.
	if len(ev.Actions) > 0 && json.Unmarshal(ev.Actions, &v.Actions) != nil {
		v.Actions = []engine.Action{}
	}
	return v
}

// eventQuery reads the list filters. The received-at bounds of
// startDate/endDate and since/until combine: both must hold.
func eventQuery(p *httpapi.Params) store.EventQuery {
	q := store.EventQuery{
		Endpoint: p.Str("endpoint"),
		Type:     p.Str("type"),
		Status: engine.EventStatus(p.OneOf("status", "", string(engine.StatusReceived), string(engine.StatusHeld),
			string(engine.StatusProcessed), string(engine.StatusFailed))),
		Reason:   p.Str("reason"),
		AfterSeq: int64(p.Int("afterSeq", 0, 0, 1<<53)),
		Desc:     p.OneOf("sortOrder", "desc", "asc", "desc") == "desc",
	}
	switch p.OneOf("hasActions", "", "true", "false") {
	case "true":
		q.HasActions = new(true)
	case "false":
		q.HasActions = new(false)
	}
	if c := p.Str("customer"); c != "" {
		q.Stream = normalize.CustomerStream(c)
	}
	q.From, q.To = p.DateRange()
	since, _ := p.Timestamp("since")
	until, _ := p.Timestamp("until")
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		p.Fail("until", "must be after since")
	}
	q.From, q.To = narrow(q.From, q.To, since, until)
	return q
}

// narrow intersects the half-open interval [from, to) with [since, until);
// a zero bound is open.
func narrow(from, to, since, until time.Time) (time.Time, time.Time) {
	if from.IsZero() || since.After(from) {
		from = since
	}
	if to.IsZero() || (!until.IsZero() && until.Before(to)) {
		to = until
	}
	return from, to
}

// listEvents serves GET /v1/events and, with the endpoint fixed by the
// path, GET /v1/webhooks/{id}/events.
func (a *API) listEvents(w http.ResponseWriter, r *http.Request) {
	p := httpapi.NewParams(r)
	q := eventQuery(p)
	endpoint := r.PathValue("id")
	if endpoint != "" && q.Endpoint != "" {
		p.Fail("endpoint", "the path names the endpoint already")
	}
	page := p.Page(httpapi.DefaultLimit)
	q.MaxTotal = p.Int("maxTotal", 0, 1, math.MaxInt32)
	if !p.OK(w) {
		return
	}
	if endpoint != "" {
		if _, ok := a.endpoint(w, r); !ok {
			return
		}
		q.Endpoint = endpoint
	}
	q.Limit, q.Offset = page.Limit, page.Offset
	evs, total, err := a.cfg.Store.Events(r.Context(), q)
	if err != nil {
		a.storeFailed(w, "listing events", err)
		return
	}
	views := make([]eventView, len(evs))
	for i, ev := range evs {
		views[i] = newEventView(ev)
	}
	pg := httpapi.NewPagination(page, total)
	if q.MaxTotal > 0 && total > q.MaxTotal {
		pg = httpapi.NewPagination(page, q.MaxTotal)
		pg.TotalCapped = true
	}
	httpapi.WriteData(w, http.StatusOK, map[string]any{"events": views, "pagination": pg})
}

// eventDetail is one event with its body, its decision and its deliveries.
type eventDetail struct {
	eventView
	Digest     string            `json:"digest"`
	Headers    map[string]string `json:"headers"`
	Body       json.RawMessage   `json:"body"`
	Decision   *decisionView     `json:"decision"` // null until decided
	Deliveries []deliveryView    `json:"deliveries"`
}

// decisionView is the record of the policy evaluation for an event.
type decisionView struct {
	Revision    string          `json:"revision"`
	InputDigest string          `json:"inputDigest"`
	Input       json.RawMessage `json:"input"`   // the input document, state snapshot included
	Actions     json.RawMessage `json:"actions"` // whole action objects, details included
	EvalMicros  int64           `json:"evalMicros"`
	Error       string          `json:"error"`
	DecidedAt   time.Time       `json:"decidedAt"`
}

// redacted replaces signature values: a signature is not a secret, but an
// operator never needs it and it would let a copied body be replayed.
const redacted = "[redacted]"

func (a *API) getEvent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p := httpapi.NewParams(r)
	q := store.EventQuery{Endpoint: p.Str("endpoint"), Limit: 2}
	if s, ok := strings.CutPrefix(id, "seq:"); ok {
		seq, err := strconv.ParseInt(s, 10, 64)
		if err != nil || seq < 1 {
			httpapi.WriteError(w, http.StatusBadRequest, "invalid event id", map[string]string{"id": "seq: must be followed by a positive integer"})
			return
		}
		q.Seq = seq
	} else {
		q.EventIDs = []string{id}
	}
	ctx := r.Context()
	evs, _, err := a.cfg.Store.Events(ctx, q)
	switch {
	case err != nil:
		a.storeFailed(w, "reading an event", err)
		return
	case len(evs) == 0:
		httpapi.WriteError(w, http.StatusNotFound, "no event "+strconv.Quote(id), nil)
		return
	case len(evs) > 1:
		httpapi.WriteError(w, http.StatusBadRequest, "event id "+strconv.Quote(id)+" is on more than one endpoint",
			map[string]string{"endpoint": "required to tell them apart: " + evs[0].Endpoint + ", " + evs[1].Endpoint})
		return
	}
	sum := evs[0]
	ev, err := a.cfg.Store.Event(ctx, sum.Seq)
	if err != nil {
		a.storeFailed(w, "reading an event", err)
		return
	}
	out := eventDetail{eventView: newEventView(sum), Digest: ev.Digest,
		Headers: ev.Headers, Body: ev.Body, Deliveries: []deliveryView{}}
	if _, ok := out.Headers[pacspace.HeaderSignature]; ok {
		out.Headers[pacspace.HeaderSignature] = redacted
	}
	if !json.Valid(out.Body) {
		out.Body, _ = json.Marshal(string(ev.Body)) // the receiver refuses such bodies; older rows may differ
	}
	if sum.Decided {
		ds, err := a.cfg.Store.Decisions(ctx, sum.Seq-1, 1)
		if err != nil {
			a.storeFailed(w, "reading a decision", err)
			return
		}
		if len(ds) == 1 && ds[0].EventSeq == sum.Seq {
			d := ds[0]
			out.Decision = &decisionView{Revision: d.Revision, InputDigest: d.InputDigest, Input: d.Input,
				Actions: d.Actions, EvalMicros: d.Eval.Microseconds(), Error: d.Error, DecidedAt: d.DecidedAt}
		}
	}
	dels, _, err := a.cfg.Store.Deliveries(ctx, store.DeliveryQuery{EventSeq: sum.Seq})
	if err != nil {
		a.storeFailed(w, "listing an event's deliveries", err)
		return
	}
	for _, d := range dels {
		out.Deliveries = append(out.Deliveries, newDeliveryView(d))
	}
	httpapi.WriteData(w, http.StatusOK, out)
}
