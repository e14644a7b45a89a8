package sim

import (
	"encoding/csv"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/arbiter-dev/arbiter/engine/httpapi"
)

// Page sizes when the request gives no limit: seed 002 shows 10 webhooks a
// page and asks for 20 deliveries.
const (
	webhooksPerPage   = 10
	deliveriesPerPage = 20
)

// maxRequestBody bounds dashboard request bodies.
const maxRequestBody = 64 << 10

// Handler returns the dashboard API in seed 002's dialect, with both
// dialects also under their own prefixes (see DialectHandler).
func (s *Sim) Handler() http.Handler { return s.DialectHandler(DialectApp) }

// DialectHandler returns the dashboard API with d's routes under
// /dashboard, and each dialect also under a prefix named after it, as a
// client's base URL would name the host: /app/dashboard/… (seed 002) and
// /balance-api/dashboard/… (seed 003). Both serve the same webhooks.
func (s *Sim) DialectHandler(d Dialect) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/app/", http.StripPrefix("/app", s.app))
	mux.Handle("/balance-api/", http.StripPrefix("/balance-api", s.balance))
	if d == DialectBalanceAPI {
		mux.Handle("/", s.balance)
	} else {
		mux.Handle("/", s.app)
	}
	return mux
}

func (s *Sim) routes() {
	s.balance = s.balanceAPI()
	s.app = s.appAPI()
}

// appAPI serves seed 002's routes.
func (s *Sim) appAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /dashboard/login", s.login)
	mux.HandleFunc("POST /dashboard/logout", s.logout)
	auth := func(pattern string, h http.HandlerFunc) { mux.HandleFunc(pattern, s.requireAuth(h)) }
	auth("POST /dashboard/webhooks", s.createWebhook)
	auth("GET /dashboard/webhooks", s.listWebhooks)
	auth("GET /dashboard/webhooks/{id}", s.getWebhook)
	auth("POST /dashboard/webhooks/{id}/toggle", s.toggleWebhook)
	auth("POST /dashboard/webhooks/{id}/test", s.testWebhook)
	auth("DELETE /dashboard/webhooks/{id}", s.deleteWebhook)
	auth("GET /dashboard/webhooks/deliveries", s.listDeliveries)
	auth("GET /dashboard/webhooks/deliveries/export", s.exportDeliveries)
	auth("POST /dashboard/webhooks/deliveries/{eventId}/retry", s.retryDelivery)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteError(w, http.StatusNotFound, "no such route: "+r.Method+" "+r.URL.Path, nil)
	})
	return mux
}

// notFound answers 404 for ErrNotFound and reports whether it did.
func notFound(w http.ResponseWriter, err error) bool {
	if !errors.Is(err, ErrNotFound) {
		return false
	}
	httpapi.WriteError(w, http.StatusNotFound, err.Error(), nil)
	return true
}

func (s *Sim) createWebhook(w http.ResponseWriter, r *http.Request) {
	var spec WebhookSpec
	if !httpapi.DecodeBody(w, r, &spec, maxRequestBody) {
		return
	}
	wh, secret, err := s.CreateWebhook(spec)
	if err != nil {
		var specErr *SpecError
		if errors.As(err, &specErr) {
			httpapi.WriteError(w, http.StatusBadRequest, "invalid webhook", specErr.Fields)
			return
		}
		httpapi.WriteError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	created := struct {
		Webhook
		Secret string `json:"secret"`
	}{wh, secret}
	httpapi.WriteMessage(w, http.StatusCreated, created,
		"Webhook created successfully. Save your secret securely - it won't be shown again.")
}

func (s *Sim) listWebhooks(w http.ResponseWriter, r *http.Request) {
	p := httpapi.NewParams(r)
	q := p.Page(webhooksPerPage)
	if !p.OK(w) {
		return
	}
	all := s.Webhooks()
	page := all[min(q.Offset, len(all)):]
	page = page[:min(q.Limit, len(page))]
	httpapi.WriteList(w, "webhooks", page, q, len(all))
}

func (s *Sim) getWebhook(w http.ResponseWriter, r *http.Request) {
	wh, err := s.Webhook(r.PathValue("id"))
	if notFound(w, err) {
		return
	}
	httpapi.WriteData(w, http.StatusOK, wh)
}

func (s *Sim) toggleWebhook(w http.ResponseWriter, r *http.Request) {
	wh, err := s.toggle(r.PathValue("id"))
	if notFound(w, err) {
		return
	}
	httpapi.WriteData(w, http.StatusOK, struct {
		ID      string `json:"id"`
		Enabled bool   `json:"enabled"`
	}{wh.ID, wh.Enabled})
}

func (s *Sim) testWebhook(w http.ResponseWriter, r *http.Request) {
	res, err := s.SendTest(r.Context(), r.PathValue("id"))
	if notFound(w, err) {
		return
	}
	httpapi.WriteData(w, http.StatusOK, res)
}

func (s *Sim) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	if notFound(w, s.DeleteWebhook(r.PathValue("id"))) {
		return
	}
	httpapi.WriteMessage(w, http.StatusOK, nil, "Webhook deleted successfully.")
}

// deliveryQuery reads the filters and order shared by the list and the
// export.
func deliveryQuery(p *httpapi.Params) DeliveryQuery {
	h := p.History()
	return DeliveryQuery{
		Status:    Status(h.Status),
		From:      h.From,
		To:        h.To,
		SortBy:    h.SortBy,
		Desc:      h.Desc,
		EventID:   p.Str("eventId"),
		WebhookID: p.Str("webhookId"),
	}
}

func (s *Sim) listDeliveries(w http.ResponseWriter, r *http.Request) {
	p := httpapi.NewParams(r)
	q := deliveryQuery(p)
	pq := p.Page(deliveriesPerPage)
	if !p.OK(w) {
		return
	}
	q.Limit, q.Offset = pq.Limit, pq.Offset
	page, total := s.Deliveries(q)
	httpapi.WriteList(w, "deliveries", page, pq, total)
}

// csvHeader names the export's columns, the records' JSON names.
var csvHeader = []string{
	"id", "eventId", "webhookId", "eventType", "status", "attempts",
	"lastStatus", "lastError", "createdAt", "deliveredAt",
}

// exportDeliveries streams every matching record as CSV, flushing as it
// goes rather than building the file in memory.
func (s *Sim) exportDeliveries(w http.ResponseWriter, r *http.Request) {
	p := httpapi.NewParams(r)
	q := deliveryQuery(p)
	if !p.OK(w) {
		return
	}
	ds, _ := s.Deliveries(q)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="webhook-deliveries.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write(csvHeader)
	for i, d := range ds {
		delivered := ""
		if d.DeliveredAt != nil {
			delivered = d.DeliveredAt.Format(time.RFC3339Nano)
		}
		cw.Write([]string{
			d.ID, d.EventID, d.WebhookID, d.EventType, string(d.Status), strconv.Itoa(d.Attempts),
			strconv.Itoa(d.LastStatus), d.LastError, d.CreatedAt.Format(time.RFC3339Nano), delivered,
		})
		if i%1000 == 999 {
			cw.Flush()
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		s.log.Debug("delivery export cut short", "error", err)
	}
}

func (s *Sim) retryDelivery(w http.ResponseWriter, r *http.Request) {
	ds, err := s.Retry(r.PathValue("eventId"))
	switch {
	case notFound(w, err):
	case errors.Is(err, ErrNotFailed):
		httpapi.WriteError(w, http.StatusConflict, err.Error(), nil)
	default:
		httpapi.WriteMessage(w, http.StatusAccepted, map[string]any{"deliveries": ds}, "Retry scheduled.")
	}
}
