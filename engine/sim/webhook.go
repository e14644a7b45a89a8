package sim

import (
	"errors"
	"time"
)

// Signature schemes a webhook may use.
const (
	SchemeV1     = "v1"     // v1=<hex HMAC of "{timestamp}.{body}">, seeds 001/002
	SchemeSHA256 = "sha256" // legacy sha256=<hex HMAC of body>, seed 003
)

// WebhookSpec describes a webhook to create.
type WebhookSpec struct {
	URL         string   `json:"url"`
	Description string   `json:"description"`
	Events      []string `json:"events"` // event types to receive; empty: all
	Scheme      string   `json:"scheme"` // "v1" (default) or "sha256"
	// Secret signs deliveries; empty generates a whsec_ secret.
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
	// SuccessCount and FailureCount count deliveries that ended delivered
	// and failed.
	SuccessCount int64 `json:"successCount"`
	FailureCount int64 `json:"failureCount"`
}

// CreateWebhook registers a webhook and returns it with its secret. An
// invalid spec gives a *SpecError.
func (s *Sim) CreateWebhook(spec WebhookSpec) (Webhook, string, error) {
	return Webhook{}, "", errors.New("sim: not implemented yet")
}

// SpecError names the invalid fields of a WebhookSpec by their JSON names.
type SpecError struct {
	Fields map[string]string
}

func (e *SpecError) Error() string { return "invalid webhook" }
