package admin

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/httpapi"
	"github.com/arbiter-dev/arbiter/engine/store"
)

// Delivery history, shaped like seed 002's webhook delivery history: the
// outbox rows, one per action and target plugin.

func (a *API) deliveryRoutes() {
	a.handle("GET /v1/deliveries", a.listDeliveries)
	a.handle("GET /v1/deliveries/export", a.exportDeliveries)
	a.handle("GET /v1/deliveries/{id}", a.getDelivery)
	a.handle("POST /v1/deliveries/{id}/retry", a.retryDelivery)
	a.handle("POST /v1/deliveries/retry", a.retryDeliveries)
}

// deliveryView is a delivery as the history lists it.
type deliveryView struct {
	ID            string     `json:"id"`
	EventID       string     `json:"eventId"`
	Plugin        string     `json:"plugin"`
	ActionType    string     `json:"actionType"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"lastError"`
	CreatedAt     time.Time  `json:"createdAt"`
	DeliveredAt   *time.Time `json:"deliveredAt"`   // null until delivered
	NextAttemptAt *time.Time `json:"nextAttemptAt"` // null unless pending
}

func newDeliveryView(d store.Delivery) deliveryView {
	return deliveryView{ID: d.ID, EventID: d.EventID, Plugin: d.Plugin, ActionType: d.ActionType,
		Status: string(d.Status), Attempts: d.Attempts, LastError: d.LastError, CreatedAt: d.CreatedAt,
		DeliveredAt: optionalTime(d.DeliveredAt), NextAttemptAt: optionalTime(d.NextAttemptAt)}
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// deliverySorts maps sortBy values to the store's orders.
var deliverySorts = map[string]store.DeliverySort{
	"createdAt":   store.SortCreated,
	"deliveredAt": store.SortDelivered,
	"attempts":    store.SortAttempts,
}

// deliveryQuery reads the filters and order shared by the list and the
// export.
func deliveryQuery(p *httpapi.Params) store.DeliveryQuery {
	h := p.History()
	return store.DeliveryQuery{
		Status:     engine.DeliveryStatus(h.Status),
		From:       h.From,
		To:         h.To,
		SortBy:     deliverySorts[h.SortBy],
		Desc:       h.Desc,
		Plugin:     p.Str("plugin"),
		EventID:    p.Str("eventId"),
		ActionType: p.Str("actionType"),
	}
}

func (a *API) listDeliveries(w http.ResponseWriter, r *http.Request) {
	p := httpapi.NewParams(r)
	q := deliveryQuery(p)
	page := p.Page(httpapi.DefaultLimit)
	if !p.OK(w) {
		return
	}
	q.Limit, q.Offset = page.Limit, page.Offset
	ds, total, err := a.cfg.Store.Deliveries(r.Context(), q)
	if err != nil {
		a.storeFailed(w, "listing deliveries", err)
		return
	}
	views := make([]deliveryView, len(ds))
	for i, d := range ds {
		views[i] = newDeliveryView(d)
	}
	httpapi.WriteList(w, "deliveries", views, page, total)
}

// deliveryDetail is one delivery with its action and every attempt.
type deliveryDetail struct {
	deliveryView
	EventType      string          `json:"eventType"`
	Endpoint       string          `json:"endpoint"`
	ActionIndex    int             `json:"actionIndex"`
	IdempotencyKey string          `json:"idempotencyKey"`
	Action         json.RawMessage `json:"action"`
	History        []attemptView   `json:"history"`
}

type attemptView struct {
	Attempt    int       `json:"attempt"`
	StartedAt  time.Time `json:"startedAt"`
	DurationMs float64   `json:"durationMs"`
	Result     string    `json:"result"` // ok, retry, fail or error
	Error      string    `json:"error"`
}

func (a *API) getDelivery(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, attempts, err := a.cfg.Store.Delivery(r.Context(), id)
	if errors.Is(err, engine.ErrNotFound) {
		httpapi.WriteError(w, http.StatusNotFound, "no delivery "+strconv.Quote(id), nil)
		return
	}
	if err != nil {
		a.storeFailed(w, "reading a delivery", err)
		return
	}
	out := deliveryDetail{deliveryView: newDeliveryView(d), EventType: d.EventType, Endpoint: d.Endpoint,
		ActionIndex: d.ActionIndex, IdempotencyKey: d.IdempotencyKey, Action: d.Action, History: []attemptView{}}
	for _, at := range attempts {
		out.History = append(out.History, attemptView{Attempt: at.Attempt, StartedAt: at.StartedAt,
			DurationMs: float64(at.Duration.Microseconds()) / 1000, Result: at.Result, Error: at.Error})
	}
	httpapi.WriteData(w, http.StatusOK, out)
}

// deliveryCSVHeader names the export's columns, as the list names them.
var deliveryCSVHeader = []string{"id", "eventId", "plugin", "actionType", "status", "attempts", "lastError",
	"createdAt", "deliveredAt", "nextAttemptAt"}

// exportFlushRows is how many rows the export writes between flushes.
const exportFlushRows = 1000

// exportStall is how long the export waits on a client that reads nothing
// before giving up. Each flush extends the server's write deadline by it, so
// an export may outlast the deadline as long as the client keeps reading.
const exportStall = time.Minute

// exportDeliveries streams the filtered history as CSV from the database
// cursor: it never holds more than a row, so an export of millions of rows
// runs in constant memory.
func (a *API) exportDeliveries(w http.ResponseWriter, r *http.Request) {
	p := httpapi.NewParams(r)
	q := deliveryQuery(p)
	q.Limit = p.Int("limit", 0, 1, math.MaxInt32)
	q.Offset = p.Int("offset", 0, 0, math.MaxInt32)
	if !p.OK(w) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="deliveries.csv"`)
	h.Set("Cache-Control", "no-store")
	out := &countingWriter{w: w}
	cw := csv.NewWriter(out)
	cw.UseCRLF = true // RFC 4180 line ends, in fields too
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(exportStall))
	cw.Write(deliveryCSVHeader)
	rec := make([]string, len(deliveryCSVHeader))
	rows := 0
	err := a.cfg.Store.EachDelivery(r.Context(), q, func(d store.Delivery) error {
		rec[0], rec[1], rec[2], rec[3], rec[4] = d.ID, d.EventID, d.Plugin, d.ActionType, string(d.Status)
		rec[5], rec[6] = strconv.Itoa(d.Attempts), d.LastError
		rec[7], rec[8], rec[9] = csvTime(d.CreatedAt), csvTime(d.DeliveredAt), csvTime(d.NextAttemptAt)
		if err := cw.Write(rec); err != nil {
			return err
		}
		if rows++; rows%exportFlushRows == 0 {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
			if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return err
			}
			rc.SetWriteDeadline(time.Now().Add(exportStall))
		}
		return nil
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	switch {
	case err == nil, r.Context().Err() != nil: // done, or the client went away
	case out.n == 0:
		h.Del("Content-Disposition")
		a.storeFailed(w, "exporting deliveries", err)
	default:
		// The 200 and part of the file are out: cut the response off so the
		// client sees a broken transfer, never a short file that looks whole.
		a.log.Error("delivery export cut short", "rows", rows, "error", err)
		panic(http.ErrAbortHandler)
	}
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

// countingWriter counts what reached the response.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// retryDelivery sends a failed delivery again: it becomes pending and due
// now, keeps its attempt history, and the dispatcher is woken for it.
func (a *API) retryDelivery(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	was, err := a.cfg.Store.RetryDelivery(r.Context(), id, time.Now())
	switch {
	case errors.Is(err, engine.ErrNotFound):
		httpapi.WriteError(w, http.StatusNotFound, "no delivery "+strconv.Quote(id), nil)
		return
	case err != nil:
		a.storeFailed(w, "retrying a delivery", err)
		return
	case was != engine.DeliveryFailed:
		httpapi.WriteError(w, http.StatusConflict,
			fmt.Sprintf("delivery %q is %s; only failed deliveries can be retried", id, was), nil)
		return
	}
	a.log.Info("delivery retried by an operator", "delivery", id)
	if a.cfg.NotifyDispatch != nil {
		a.cfg.NotifyDispatch()
	}
	d, _, err := a.cfg.Store.Delivery(r.Context(), id)
	if err != nil {
		a.storeFailed(w, "reading a delivery", err)
		return
	}
	httpapi.WriteData(w, http.StatusOK, newDeliveryView(d))
}

// storeFailed answers 500 for a store error, which is logged, not shown.
func (a *API) storeFailed(w http.ResponseWriter, doing string, err error) {
	a.log.Error(doing+" failed", "error", err)
	httpapi.WriteError(w, http.StatusInternalServerError, doing+" failed; see the agent's log", nil)
}
