package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
)

// Signature schemes a webhook may use.
const (
	SchemeV1     = "v1"     // v1=<hex HMAC of "{timestamp}.{body}">, seeds 001/002
	SchemeSHA256 = "sha256" // legacy sha256=<hex HMAC of body>, seed 003
)

// maxDescription bounds a webhook's description.
const maxDescription = 1000

// WebhookSpec describes a webhook to create.
type WebhookSpec struct {
	URL         string   `json:"url"`
	Description string   `json:"description"`
	Events      []string `json:"events"` // event types to receive; empty: all
	Scheme      string   `json:"scheme"` // "v1" (default) or "sha256"
	// Secret signs deliveries; empty generates a whsec_ secret. The
	// dashboard API always generates it.
	Secret string `json:"-"`
}

// Webhook is a registered endpoint. Its secret is only returned when it is
// created.
type Webhook struct {
	ID            string     `json:"id"`
	URL           string     `json:"url"`
	Description   string     `json:"description"`
	Events        []string   `json:"events"`
	Scheme        string     `json:"scheme"`
	Enabled       bool       `json:"enabled"`
	CreatedAt     time.Time  `json:"createdAt"`
	LastTriggered *time.Time `json:"lastTriggered"`
	// SuccessCount and FailureCount count the deliveries that ended
	// delivered and failed; a failed delivery retried to success counts in
	// both.
	SuccessCount int64 `json:"successCount"`
	FailureCount int64 `json:"failureCount"`
}

// SpecError names the invalid fields of a WebhookSpec by their JSON names.
type SpecError struct {
	Fields map[string]string
}

func (e *SpecError) Error() string {
	names := make([]string, 0, len(e.Fields))
	for n := range e.Fields {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		names[i] = n + ": " + e.Fields[n]
	}
	return "invalid webhook: " + strings.Join(names, "; ")
}

// webhook is a Webhook with what is never shown again.
type webhook struct {
	Webhook
	secret string
	scheme engine.Scheme
}

func (w *webhook) subscribed(eventType string) bool {
	return len(w.Events) == 0 || slices.Contains(w.Events, eventType)
}

// CreateWebhook registers an enabled webhook and returns it with its
// secret. An invalid spec gives a *SpecError.
func (s *Sim) CreateWebhook(spec WebhookSpec) (Webhook, string, error) {
	fields := map[string]string{}
	u, err := url.Parse(spec.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		fields["url"] = "must be an http:// or https:// URL with a host"
	}
	scheme := engine.SchemeV1
	switch spec.Scheme {
	case "", SchemeV1:
		spec.Scheme = SchemeV1
	case SchemeSHA256:
		scheme = engine.SchemeLegacy
	default:
		fields["scheme"] = "must be one of: v1, sha256"
	}
	if len(spec.Description) > maxDescription {
		fields["description"] = fmt.Sprintf("must be at most %d bytes", maxDescription)
	}
	events := []string{}
	for _, e := range spec.Events {
		e = strings.TrimSpace(e)
		if e == "" {
			fields["events"] = "must not contain an empty event type"
			continue
		}
		if !slices.Contains(events, e) {
			events = append(events, e)
		}
	}
	if len(fields) > 0 {
		return Webhook{}, "", &SpecError{Fields: fields}
	}
	if spec.Secret == "" {
		spec.Secret = newID("whsec_")
	}
	wh := &webhook{
		Webhook: Webhook{
			ID: newID("webhook_"), URL: spec.URL, Description: spec.Description, Events: events,
			Scheme: spec.Scheme, Enabled: true,
		},
		secret: spec.Secret,
		scheme: scheme,
	}
	s.mu.Lock()
	wh.CreatedAt = s.now()
	s.webhooks[wh.ID] = wh
	s.hooks = append(s.hooks, wh)
	view := wh.Webhook
	s.mu.Unlock()
	// The host only: webhook URLs often carry a token in their path.
	s.log.Info("webhook created", "id", wh.ID, "host", u.Host, "scheme", wh.Scheme)
	return view, spec.Secret, nil
}

// Webhooks lists the webhooks in the order they were created.
func (s *Sim) Webhooks() []Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Webhook, len(s.hooks))
	for i, wh := range s.hooks {
		out[i] = wh.Webhook
	}
	return out
}

// Webhook returns the webhook with the given id, or ErrNotFound.
func (s *Sim) Webhook(id string) (Webhook, error) {
	return s.update(id, func(*webhook) {})
}

// SetEnabled enables or disables a webhook. Deliveries of a disabled
// webhook fail when their turn comes.
func (s *Sim) SetEnabled(id string, enabled bool) (Webhook, error) {
	return s.update(id, func(wh *webhook) { wh.Enabled = enabled })
}

// toggle flips a webhook between enabled and disabled.
func (s *Sim) toggle(id string) (Webhook, error) {
	wh, err := s.update(id, func(wh *webhook) { wh.Enabled = !wh.Enabled })
	if err == nil {
		s.log.Info("webhook toggled", "id", wh.ID, "enabled", wh.Enabled)
	}
	return wh, err
}

// update applies fn to a webhook under the lock and returns the result.
func (s *Sim) update(id string, fn func(*webhook)) (Webhook, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wh, ok := s.webhooks[id]
	if !ok {
		return Webhook{}, fmt.Errorf("webhook %q: %w", id, ErrNotFound)
	}
	fn(wh)
	return wh.Webhook, nil
}

// DeleteWebhook removes a webhook. Its queued deliveries fail with
// "webhook deleted"; its delivery history stays.
func (s *Sim) DeleteWebhook(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.webhooks[id]; !ok {
		return fmt.Errorf("webhook %q: %w", id, ErrNotFound)
	}
	delete(s.webhooks, id)
	s.hooks = slices.DeleteFunc(s.hooks, func(wh *webhook) bool { return wh.ID == id })
	s.log.Info("webhook deleted", "id", id)
	return nil
}

// TestResult is the outcome of SendTest, shaped as seed 002's answer.
type TestResult struct {
	Success    bool   `json:"success"`
	HTTPStatus int    `json:"httpStatus"` // 0: no response
	Message    string `json:"message"`
}

// testPayload is seed 002's test event.
type testPayload struct {
	Event     string    `json:"event"`
	Timestamp time.Time `json:"timestamp"`
	Data      struct {
		Message string `json:"message"`
	} `json:"data"`
}

// SendTest sends seed 002's test event to a webhook, enabled or not, and
// waits for the answer. It is not a delivery: it leaves the history and
// the counters alone.
func (s *Sim) SendTest(ctx context.Context, id string) (TestResult, error) {
	s.mu.Lock()
	wh, ok := s.webhooks[id]
	var t target
	if ok {
		t = wh.target()
	}
	s.mu.Unlock()
	if !ok {
		return TestResult{}, fmt.Errorf("webhook %q: %w", id, ErrNotFound)
	}
	p := testPayload{Event: "test", Timestamp: s.now()}
	p.Data.Message = "This is a test webhook event from PacSpace."
	body, err := json.Marshal(p)
	if err != nil {
		return TestResult{}, fmt.Errorf("test webhook: %w", err)
	}
	res := s.send(ctx, t, newID("evt_test_"), body, DeliveryFault{})
	if res.outcome() == delivered {
		return TestResult{Success: true, HTTPStatus: res.status, Message: "Test event sent successfully."}, nil
	}
	return TestResult{HTTPStatus: res.status, Message: "Test event failed: " + res.describe()}, nil
}
