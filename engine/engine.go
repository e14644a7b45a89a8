// Package engine holds the types shared by Arbiter's components: the stored
// webhook event, endpoints and their secrets, and the store contract. Each
// concern (receiving, storage, policy, delivery) lives in its own package
// beneath this one.
package engine

import (
	"context"
	"errors"
	"time"
)

// Scheme names the signature scheme an event was verified with.
type Scheme string

const (
	// SchemeV1 is "v1=" HMAC-SHA256 over "{timestamp}.{raw body}".
	SchemeV1 Scheme = "v1"
	// SchemeLegacy is "sha256=" HMAC-SHA256 over the raw body, with no timestamp.
	SchemeLegacy Scheme = "legacy"
)

// EventStatus is where an inbox event is in its processing.
type EventStatus string

const (
	StatusReceived  EventStatus = "received"
	StatusHeld      EventStatus = "held"
	StatusProcessed EventStatus = "processed"
	StatusFailed    EventStatus = "failed"
)

// Event is one authenticated webhook delivery as kept in the inbox. Body is
// the raw request body exactly as signed.
type Event struct {
	Seq        int64 // inbox order, assigned by the store
	Endpoint   string
	EventID    string // X-Event-ID, or a digest-derived id when absent
	Digest     string // hex SHA-256 of Body: dedupes replays under a new id
	Scheme     Scheme
	Headers    map[string]string
	Body       []byte
	ReceivedAt time.Time
	Status     EventStatus
	Error      string
}

// AppendResult says what the store did with an appended event.
type AppendResult struct {
	Seq       int64
	Duplicate bool
}

// Secret is one signing secret of an endpoint. Several may be active at once
// so that a rotation does not drop deliveries signed with the old one.
type Secret struct {
	Value     string
	ExpiresAt time.Time // zero: never
}

// Active reports whether the secret may verify a request at now.
func (s Secret) Active(now time.Time) bool {
	return s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt)
}

// Endpoint is a named webhook receiving path, /webhooks/{Name}.
type Endpoint struct {
	Name        string
	Secrets     []Secret
	AllowLegacy bool // accept the timestamp-less sha256= scheme
	Enabled     bool
	CreatedAt   time.Time
}

// InboxStats are the counters behind /health and the inbox depth gauge.
type InboxStats struct {
	Events  int64 // stored events
	Pending int64 // not yet processed
}

// Store is the durable state Arbiter keeps: the inbox and endpoints. It is
// implemented by engine/store on SQLite.
type Store interface {
	// Append commits ev to the inbox unless an event with the same endpoint
	// and event id, or the same body digest, is already there. It returns
	// only after the commit is durable.
	Append(ctx context.Context, ev *Event) (AppendResult, error)
	InboxStats(ctx context.Context) (InboxStats, error)

	Endpoint(ctx context.Context, name string) (Endpoint, error)
	Endpoints(ctx context.Context) ([]Endpoint, error)
	PutEndpoint(ctx context.Context, ep Endpoint) error

	Ping(ctx context.Context) error
	Close() error
}

// ErrInboxFull is returned by an inbox that holds as many unprocessed
// events as it may: the sender should retry later.
var ErrInboxFull = errors.New("inbox is full")

// ErrNotFound is returned by lookups that match nothing.
var ErrNotFound = errors.New("not found")
