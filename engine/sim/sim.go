package sim

import (
	"container/list"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/arbiter-dev/arbiter/engine/backoff"
	"github.com/arbiter-dev/arbiter/engine/loadgen"
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
	// Token guards the dashboard API: in the app dialect (seed 002) it is
	// the secret POST /dashboard/login takes for a session cookie, and a
	// bearer token; in the balance-api dialect (seed 003) the key of the
	// bearer JWTs (IssueJWT). With no token every protected route answers
	// 401.
	Token string

	MaxAttempts int           // attempts per delivery; default 5
	BaseDelay   time.Duration // first backoff window; default 500ms
	MaxDelay    time.Duration // backoff cap, also for Retry-After; default 30s
	Concurrency int           // delivery workers; default 32
	Timeout     time.Duration // per attempt; default 10s
	Queue       int           // deliveries waiting for a worker before Publish blocks; default 1024
	History     int           // delivery records kept, oldest finished ones dropped first; default 1,000,000

	// Client sends deliveries; default a keep-alive transport sized for
	// Concurrency that does not follow redirects.
	Client *http.Client
	// OnAttempt is called after every attempt, from delivery goroutines,
	// before the attempt is recorded: once Drain returns, every attempt has
	// been reported.
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
	cfg     Config
	log     hclog.Logger
	token   [32]byte // sha256 of cfg.Token: compared in constant time, length included
	ready   chan *delivery
	running atomic.Bool
	app     http.Handler // seed 002's dialect
	balance http.Handler // seed 003's
	backoff backoff.Policy

	mu       sync.Mutex
	webhooks map[string]*webhook
	hooks    []*webhook // creation order
	hist     *list.List // of *delivery, in creation order
	byEvent  map[string][]*delivery
	seq      uint64
	stats    Stats
	idle     chan struct{} // closed while nothing is in flight

	sessMu   sync.Mutex
	sessions map[string]time.Time // session id → expiry
}

// New returns a Sim with cfg's defaults filled in.
func New(cfg Config) *Sim {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = DefaultBaseDelay
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = DefaultMaxDelay
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.History <= 0 {
		cfg.History = DefaultHistory
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			Transport: loadgen.NewTransport(cfg.Concurrency),
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if cfg.OnAttempt == nil {
		cfg.OnAttempt = func(Attempt) {}
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Sim{
		cfg:      cfg,
		log:      cfg.Logger.Named("sim"),
		token:    sha256.Sum256([]byte(cfg.Token)),
		ready:    make(chan *delivery, cfg.Queue),
		webhooks: map[string]*webhook{},
		hist:     list.New(),
		byEvent:  map[string][]*delivery{},
		idle:     make(chan struct{}),
		sessions: map[string]time.Time{},
		backoff:  backoff.Policy{Base: cfg.BaseDelay, Max: cfg.MaxDelay},
	}
	close(s.idle)
	s.routes()
	return s
}

// Publish queues one delivery of ev to every enabled webhook subscribed to
// ev.Type, giving ev an id when it has none. It blocks while the queue is
// full and returns ctx.Err() if ctx ends first; deliveries it could not
// queue are then recorded as failed.
func (s *Sim) Publish(ctx context.Context, ev Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ev.ID == "" {
		ev.ID = newID("evt_")
	}
	s.mu.Lock()
	now := s.now()
	var ds []*delivery
	for _, wh := range s.hooks {
		if !wh.Enabled || !wh.subscribed(ev.Type) {
			continue
		}
		d := &delivery{
			Delivery: Delivery{
				ID: newID("dlv_"), EventID: ev.ID, WebhookID: wh.ID, EventType: ev.Type,
				Status: StatusPending, CreatedAt: now,
			},
			body: ev.Body, fault: ev.Fault, limit: s.cfg.MaxAttempts,
		}
		s.add(d)
		ds = append(ds, d)
	}
	s.stats.Events++
	s.mu.Unlock()

	for i, d := range ds {
		select {
		case s.ready <- d:
		case <-ctx.Done():
			s.mu.Lock()
			for _, d := range ds[i:] {
				d.LastError = "not queued: " + ctx.Err().Error()
				s.finish(d, false)
			}
			s.mu.Unlock()
			return ctx.Err()
		}
	}
	return nil
}

// Run delivers queued events with Config.Concurrency workers until ctx is
// done; attempts in flight then finish, and what is still queued waits for
// the next Run. It returns ErrRunning if Run is already running.
func (s *Sim) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer s.running.Store(false)
	var wg sync.WaitGroup
	for range s.cfg.Concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case d := <-s.ready:
					s.attempt(d)
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// Drain waits until every published delivery is final: delivered, or
// failed. Deliveries move only while Run runs.
func (s *Sim) Drain(ctx context.Context) error {
	s.mu.Lock()
	idle := s.idle
	s.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns the delivery counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// now is the time records are stamped with: UTC to the millisecond, as
// PacSpace's timestamps.
func (s *Sim) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// inFlight moves the in-flight count by n, keeping idle closed exactly while
// it is zero. s.mu must be held.
func (s *Sim) inFlight(n int64) {
	if s.stats.InFlight == 0 && n > 0 {
		s.idle = make(chan struct{})
	}
	s.stats.InFlight += n
	if s.stats.InFlight == 0 && n < 0 {
		close(s.idle)
	}
}

// newID returns prefix followed by 24 random hex digits.
func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
