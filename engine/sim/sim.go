package sim

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Defaults for zero Config fields.
const (
	DefaultMaxAttempts = 5
	DefaultBaseDelay   = 500 * time.Millisecond
	DefaultMaxDelay    = 30 * time.Second
	DefaultConcurrency = 32
	DefaultTimeout     = 10 * time.Second
	DefaultQueue       = 1024
	DefaultHistory     = 1_000_000
)

// Config tunes a Sim. The zero value of each field selects its default.
type Config struct {
	// Token is the bearer token of the dashboard API (seed 003) and the
	// secret POST /dashboard/login accepts for a session cookie (seed 002).
	// With no token every protected route answers 401.
	Token string

	MaxAttempts int           // attempts per delivery; default 5
	BaseDelay   time.Duration // first backoff window; default 500ms
	MaxDelay    time.Duration // backoff cap, also for Retry-After; default 30s
	Concurrency int           // delivery workers; default 32
	Timeout     time.Duration // per attempt; default 10s
	Queue       int           // deliveries waiting for a worker before Publish blocks; default 1024
	History     int           // delivery records kept, oldest final ones dropped first; default 1,000,000

	// Client sends deliveries; default a keep-alive transport sized for
	// Concurrency that does not follow redirects.
	Client *http.Client
	// OnAttempt is called after every attempt, from delivery goroutines.
	OnAttempt func(Attempt)
	Logger    hclog.Logger
	// Now stamps records and signatures; default time.Now.
	Now func() time.Time
}

// Attempt is one try at a delivery, as reported to Config.OnAttempt.
type Attempt struct {
	DeliveryID, EventID, WebhookID string
	// Number counts attempts from 1; it is 0 when the delivery ended
	// without a request (webhook disabled or deleted).
	Number int
	// Status is the HTTP status, 0 when no response arrived.
	Status int
	// Body is up to 4 KiB of the response body.
	Body []byte
	// Err is the transport error, or ErrWebhookDisabled / ErrWebhookDeleted.
	Err     error
	Latency time.Duration
	// Final is true when this attempt ended the delivery; Delivered says
	// whether it succeeded.
	Final, Delivered bool
}

// Stats counts deliveries. Published == Delivered + Failed + InFlight.
type Stats struct {
	Events    int64 // events published
	Published int64 // deliveries created: one per subscribed, enabled webhook per event
	Attempts  int64 // HTTP attempts made
	Retried   int64 // attempts after a delivery's first
	Delivered int64 // deliveries that ended with a 2xx
	// Failed counts deliveries that ended failed; a retry through the
	// dashboard moves one back to InFlight.
	Failed   int64
	InFlight int64 // queued, being sent, or waiting to retry
}

// Errors callers may branch on.
var (
	ErrNotFound        = errors.New("not found")
	ErrNotFailed       = errors.New("only failed deliveries can be retried")
	ErrWebhookDisabled = errors.New("webhook disabled")
	ErrWebhookDeleted  = errors.New("webhook deleted")
	ErrRunning         = errors.New("sim: already running")
)

// Sim is a local PacSpace. Its methods are safe for concurrent use.
type Sim struct {
	cfg Config
}

// New returns a Sim with cfg's defaults filled in.
func New(cfg Config) *Sim {
	return &Sim{cfg: cfg}
}

// Publish queues one delivery of ev to every enabled webhook subscribed to
// ev.Type, giving ev an id when it has none. It blocks while the queue is
// full and returns ctx.Err() if ctx ends first.
func (s *Sim) Publish(ctx context.Context, ev Event) error {
	return errors.New("sim: not implemented yet")
}

// Run delivers queued events until ctx is done; attempts in flight then
// finish. It returns ErrRunning if Run is already running.
func (s *Sim) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// Drain waits until every published delivery is final. Deliveries move
// only while Run runs.
func (s *Sim) Drain(ctx context.Context) error {
	return errors.New("sim: not implemented yet")
}

// Stats returns the delivery counters.
func (s *Sim) Stats() Stats { return Stats{} }
