package admin

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/config"
	"github.com/arbiter-dev/arbiter/engine/httpapi"
	"github.com/arbiter-dev/arbiter/engine/pacspace"
	"github.com/arbiter-dev/arbiter/engine/store"
)

// Webhook endpoints, shaped like seed 002's webhook configuration: the
// receiving paths /webhooks/{name}, their secrets and what they received.
// The id of an endpoint is its name.

func (a *API) webhookRoutes() {
	a.handle("POST /v1/webhooks", a.createWebhook)
	a.handle("GET /v1/webhooks", a.listWebhooks)
	a.handle("GET /v1/webhooks/{id}", a.getWebhook)
	a.handle("DELETE /v1/webhooks/{id}", a.deleteWebhook)
	a.handle("POST /v1/webhooks/{id}/toggle", a.toggleWebhook)
	a.handle("POST /v1/webhooks/{id}/test", a.testWebhook)
	a.handle("POST /v1/webhooks/{id}/rotate", a.rotateWebhook)
}

// Limits of the webhook routes.
const (
	maxDescription     = 500
	defaultGracePeriod = 24 * time.Hour
	maxGracePeriod     = 30 * 24 * time.Hour
)

// webhookView is an endpoint as every route shows it.
type webhookView struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	URL         string    `json:"url"`
	Description string    `json:"description"`
	Enabled     bool      `json:"enabled"`
	AllowLegacy bool      `json:"allowLegacy"`
	Configured  bool      `json:"configured"` // declared in the config file
	CreatedAt   time.Time `json:"createdAt"`
}

// webhookDetail adds what the endpoint received and its secrets, never
// their values.
type webhookDetail struct {
	webhookView
	LastTriggered *time.Time       `json:"lastTriggered"` // last accepted event; null when none
	SuccessCount  int64            `json:"successCount"`  // events accepted
	FailureCount  int64            `json:"failureCount"`  // requests refused
	Failures      map[string]int64 `json:"failures"`      // refused requests by reason
	ActiveSecrets int              `json:"activeSecrets"`
	Secrets       []secretView     `json:"secrets"` // the active ones, newest first
}

type secretView struct {
	ExpiresAt *time.Time `json:"expiresAt"` // null: never
}

func (a *API) newWebhookView(r *http.Request, ep engine.Endpoint, description string) webhookView {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	_, configured := a.cfg.Configured[ep.Name]
	return webhookView{ID: ep.Name, Name: ep.Name, URL: scheme + "://" + r.Host + "/webhooks/" + ep.Name,
		Description: description, Enabled: ep.Enabled, AllowLegacy: ep.AllowLegacy, Configured: configured,
		CreatedAt: ep.CreatedAt}
}

// webhookDetail reads the description and counts of ep.
func (a *API) webhookDetail(r *http.Request, ep engine.Endpoint) (webhookDetail, error) {
	desc, err := a.cfg.Store.EndpointDescription(r.Context(), ep.Name)
	if err != nil {
		return webhookDetail{}, err
	}
	st, err := a.cfg.Counters.Stats(r.Context(), ep.Name)
	if err != nil {
		return webhookDetail{}, err
	}
	d := webhookDetail{webhookView: a.newWebhookView(r, ep, desc), LastTriggered: optionalTime(st.LastAccepted),
		SuccessCount: st.Accepted, FailureCount: st.Failures(), Failures: st.Rejected, Secrets: []secretView{}}
	now := time.Now()
	for _, s := range ep.Secrets {
		if s.Active(now) {
			d.Secrets = append(d.Secrets, secretView{ExpiresAt: optionalTime(s.ExpiresAt)})
		}
	}
	d.ActiveSecrets = len(d.Secrets)
	return d, nil
}

// endpoint reads the endpoint named by the path's id; if there is none it
// has answered 404 and ok is false.
func (a *API) endpoint(w http.ResponseWriter, r *http.Request) (ep engine.Endpoint, ok bool) {
	id := r.PathValue("id")
	ep, err := a.cfg.Store.Endpoint(r.Context(), id)
	if errors.Is(err, engine.ErrNotFound) {
		httpapi.WriteError(w, http.StatusNotFound, "no webhook endpoint "+strconv.Quote(id), nil)
		return ep, false
	}
	if err != nil {
		a.storeFailed(w, "reading a webhook endpoint", err)
		return ep, false
	}
	return ep, true
}

// reloadEndpoints makes the receiver see a change at once.
func (a *API) reloadEndpoints(w http.ResponseWriter, r *http.Request) bool {
	if err := a.cfg.Endpoints.Reload(r.Context()); err != nil {
		a.storeFailed(w, "reloading the webhook endpoints", err)
		return false
	}
	return true
}

// decodeOptionalBody is decodeBody for routes whose body may be left out.
func decodeOptionalBody(w http.ResponseWriter, r *http.Request, dst any) bool {
	return r.ContentLength == 0 || httpapi.DecodeBody(w, r, dst, maxRequestBody)
}

// randomToken returns prefix followed by n random bytes in hex.
func randomToken(prefix string, n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails: a broken random source crashes the program instead
	return prefix + hex.EncodeToString(b)
}

// newSecret returns a webhook secret in the format the agent generates.
func newSecret() string { return randomToken("whsec_", 32) }

type createWebhookRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	AllowLegacy bool   `json:"allowLegacy"`
}

// createdWebhook is the only answer that carries the secret.
type createdWebhook struct {
	webhookView
	Secret string `json:"secret"`
}

func (a *API) createWebhook(w http.ResponseWriter, r *http.Request) {
	var req createWebhookRequest
	if !decodeOptionalBody(w, r, &req) {
		return
	}
	fields := map[string]string{}
	if req.Name == "" {
		req.Name = randomToken("wh_", 8)
	} else if !config.ValidEndpointName(req.Name) {
		fields["name"] = "must be 1 to 64 characters of a-z, 0-9, _ and -"
	}
	if len(req.Description) > maxDescription {
		fields["description"] = fmt.Sprintf("must be at most %d bytes", maxDescription)
	}
	if len(fields) > 0 {
		httpapi.WriteError(w, http.StatusBadRequest, "invalid request body", fields)
		return
	}
	secret := newSecret()
	ep := engine.Endpoint{Name: req.Name, Secrets: []engine.Secret{{Value: secret}}, AllowLegacy: req.AllowLegacy, Enabled: true}
	err := a.cfg.Store.CreateEndpoint(r.Context(), ep, req.Description)
	if errors.Is(err, store.ErrExists) {
		httpapi.WriteError(w, http.StatusConflict, "a webhook endpoint named "+strconv.Quote(req.Name)+" exists",
			map[string]string{"name": "is taken"})
		return
	}
	if err != nil {
		a.storeFailed(w, "creating a webhook endpoint", err)
		return
	}
	if !a.reloadEndpoints(w, r) {
		return
	}
	ep, err = a.cfg.Store.Endpoint(r.Context(), req.Name)
	if err != nil {
		a.storeFailed(w, "reading a webhook endpoint", err)
		return
	}
	a.log.Info("webhook endpoint created", "endpoint", ep.Name)
	httpapi.WriteData(w, http.StatusCreated, createdWebhook{webhookView: a.newWebhookView(r, ep, req.Description), Secret: secret})
}

func (a *API) listWebhooks(w http.ResponseWriter, r *http.Request) {
	p := httpapi.NewParams(r)
	page := p.Page(httpapi.DefaultLimit)
	if !p.OK(w) {
		return
	}
	eps, err := a.cfg.Store.Endpoints(r.Context()) // by name; there are few
	if err != nil {
		a.storeFailed(w, "listing webhook endpoints", err)
		return
	}
	slices.SortStableFunc(eps, func(x, y engine.Endpoint) int { return x.CreatedAt.Compare(y.CreatedAt) })
	total := len(eps)
	eps = eps[min(page.Offset, total):min(page.Offset+page.Limit, total)]
	out := make([]webhookDetail, len(eps))
	for i, ep := range eps {
		if out[i], err = a.webhookDetail(r, ep); err != nil {
			a.storeFailed(w, "listing webhook endpoints", err)
			return
		}
	}
	httpapi.WriteList(w, "webhooks", out, page, total)
}

func (a *API) getWebhook(w http.ResponseWriter, r *http.Request) {
	ep, ok := a.endpoint(w, r)
	if !ok {
		return
	}
	d, err := a.webhookDetail(r, ep)
	if err != nil {
		a.storeFailed(w, "reading a webhook endpoint", err)
		return
	}
	httpapi.WriteData(w, http.StatusOK, d)
}

func (a *API) toggleWebhook(w http.ResponseWriter, r *http.Request) {
	a.endpointMu.Lock()
	defer a.endpointMu.Unlock()
	ep, ok := a.endpoint(w, r)
	if !ok {
		return
	}
	ep.Enabled = !ep.Enabled
	if err := a.cfg.Store.PutEndpoint(r.Context(), ep); err != nil {
		a.storeFailed(w, "toggling a webhook endpoint", err)
		return
	}
	if !a.reloadEndpoints(w, r) {
		return
	}
	a.log.Info("webhook endpoint toggled", "endpoint", ep.Name, "enabled", ep.Enabled)
	httpapi.WriteData(w, http.StatusOK, struct {
		ID      string `json:"id"`
		Enabled bool   `json:"enabled"`
	}{ep.Name, ep.Enabled})
}

func (a *API) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	a.endpointMu.Lock()
	defer a.endpointMu.Unlock()
	ep, ok := a.endpoint(w, r)
	if !ok {
		return
	}
	if _, configured := a.cfg.Configured[ep.Name]; configured {
		httpapi.WriteError(w, http.StatusConflict, "webhook endpoint "+strconv.Quote(ep.Name)+
			" is declared in the config file and would come back at the next start; remove it from the config file first", nil)
		return
	}
	if err := a.cfg.Store.DeleteEndpoint(r.Context(), ep.Name); err != nil {
		a.storeFailed(w, "deleting a webhook endpoint", err)
		return
	}
	if !a.reloadEndpoints(w, r) {
		return
	}
	a.log.Info("webhook endpoint deleted", "endpoint", ep.Name)
	httpapi.WriteData(w, http.StatusOK, struct {
		ID      string `json:"id"`
		Deleted bool   `json:"deleted"`
	}{ep.Name, true})
}

type rotateRequest struct {
	GracePeriod string `json:"gracePeriod"`
}

type rotatedWebhook struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
	// PreviousSecretExpiresAt is when the secrets active before the
	// rotation stop verifying; null when there were none.
	PreviousSecretExpiresAt *time.Time `json:"previousSecretExpiresAt"`
	ActiveSecrets           int        `json:"activeSecrets"`
}

func (a *API) rotateWebhook(w http.ResponseWriter, r *http.Request) {
	var req rotateRequest
	if !decodeOptionalBody(w, r, &req) {
		return
	}
	grace := defaultGracePeriod
	if req.GracePeriod != "" {
		d, err := time.ParseDuration(req.GracePeriod)
		if err != nil || d < 0 || d > maxGracePeriod {
			httpapi.WriteError(w, http.StatusBadRequest, "invalid request body",
				map[string]string{"gracePeriod": "must be a duration from 0s to 720h (30 days), such as 24h or 90m"})
			return
		}
		grace = d
	}
	a.endpointMu.Lock()
	defer a.endpointMu.Unlock()
	ep, ok := a.endpoint(w, r)
	if !ok {
		return
	}
	if len(a.cfg.Configured[ep.Name].Secrets) > 0 {
		httpapi.WriteError(w, http.StatusConflict, "the secrets of webhook endpoint "+strconv.Quote(ep.Name)+
			" are set in the config file, which restores them at the next start; rotate them there", nil)
		return
	}
	now := time.Now()
	until := now.Add(grace).UTC().Truncate(time.Microsecond) // as stored
	secret := newSecret()
	out := rotatedWebhook{ID: ep.Name, Secret: secret}
	secrets := []engine.Secret{{Value: secret}}
	for _, s := range ep.Secrets {
		if !s.Active(now) {
			continue // expired: no need to keep it
		}
		if s.ExpiresAt.IsZero() || s.ExpiresAt.After(until) {
			s.ExpiresAt = until
		}
		secrets = append(secrets, s)
		out.PreviousSecretExpiresAt = &until
	}
	ep.Secrets = secrets
	if err := a.cfg.Store.PutEndpoint(r.Context(), ep); err != nil {
		a.storeFailed(w, "rotating a webhook secret", err)
		return
	}
	if !a.reloadEndpoints(w, r) {
		return
	}
	for _, s := range secrets {
		if s.Active(now) {
			out.ActiveSecrets++
		}
	}
	a.log.Info("webhook secret rotated", "endpoint", ep.Name, "previous_expire_at", until)
	httpapi.WriteData(w, http.StatusOK, out)
}

// testEvent is seed 002's test event.
type testEvent struct {
	Event     string `json:"event"`
	Timestamp string `json:"timestamp"`
	Data      struct {
		Message string `json:"message"`
	} `json:"data"`
}

const testMessage = "This is a test webhook event from PacSpace."

type testResult struct {
	Success    bool   `json:"success"`
	HTTPStatus int    `json:"httpStatus"`
	Message    string `json:"message"`
	EventID    string `json:"eventId"`
}

// testWebhook signs a test event with the endpoint's newest secret and
// serves it through the receiver in process: the same checks, inbox and
// worker as a delivery from PacSpace.
func (a *API) testWebhook(w http.ResponseWriter, r *http.Request) {
	ep, ok := a.endpoint(w, r)
	if !ok {
		return
	}
	now := time.Now()
	secret := ""
	for _, s := range ep.Secrets {
		if s.Active(now) {
			secret = s.Value // the first active one: rotation puts the new secret first
			break
		}
	}
	if secret == "" {
		httpapi.WriteError(w, http.StatusConflict, "webhook endpoint "+strconv.Quote(ep.Name)+" has no active secret; rotate it", nil)
		return
	}
	var ev testEvent
	ev.Event, ev.Timestamp, ev.Data.Message = "test", now.UTC().Format(engine.TimeFormat), testMessage
	body, _ := json.Marshal(ev) // strings only: cannot fail
	id := randomToken("evt_test_", 12)
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, "/webhooks/"+ep.Name, bytes.NewReader(body))
	if err != nil {
		httpapi.WriteError(w, http.StatusInternalServerError, "building the test event: "+err.Error(), nil)
		return
	}
	req.Host, req.RemoteAddr = r.Host, r.RemoteAddr
	req.SetPathValue("endpoint", ep.Name)
	req.Header.Set("User-Agent", "arbiter-webhook-test")
	if err := pacspace.Sign(req.Header, engine.SchemeV1, secret, id, now, body); err != nil {
		httpapi.WriteError(w, http.StatusInternalServerError, "signing the test event: "+err.Error(), nil)
		return
	}
	rec := httpapi.NewRecorder()
	a.cfg.Webhooks.ServeHTTP(rec, req)

	res := testResult{Success: rec.Status == http.StatusOK, HTTPStatus: rec.Status, EventID: id}
	var answer struct {
		Duplicate bool   `json:"duplicate"`
		Error     string `json:"error"`
		Reason    string `json:"reason"`
	}
	json.Unmarshal(rec.Body.Bytes(), &answer)
	switch {
	case res.Success && answer.Duplicate:
		res.Message = "Test event accepted as a duplicate of one already received."
	case res.Success:
		res.Message = "Test event sent successfully."
	case answer.Reason != "":
		res.Message = answer.Error + " (" + answer.Reason + ")"
	default:
		res.Message = "The receiver answered HTTP " + strconv.Itoa(rec.Status) + "."
	}
	a.log.Info("webhook test event sent", "endpoint", ep.Name, "event_id", id, "status", rec.Status)
	httpapi.WriteData(w, http.StatusOK, res)
}
