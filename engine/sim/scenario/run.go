package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/loadgen"
	"github.com/arbiter-dev/arbiter/engine/sim"
)

// Generate returns the first steps of cfg's scenario, merged, up to at
// least count deliveries: what a run of the same count sends.
func Generate(cfg Config, count int64) (Step, error) {
	g, err := New(cfg)
	if err != nil {
		return Step{}, err
	}
	var all Step
	for int64(len(all.Items)) < count {
		s := g.Next()
		all.Items = append(all.Items, s.Items...)
		all.Truth = append(all.Truth, s.Truth...)
		all.Records = append(all.Records, s.Records...)
	}
	return all, nil
}

// RunConfig says what a Runner sends where.
type RunConfig struct {
	Scenario Config
	Target   string // webhook URL
	Secret   string // signing secret
	Scheme   string // sim.SchemeV1 (default) or sim.SchemeSHA256

	// Count stops generating after this many deliveries, Duration after
	// this long; whichever comes first. A step is never cut short, so a
	// run may send a few more.
	Count    int64
	Duration time.Duration
	Rate     float64 // deliveries per second; 0: as fast as answers come

	Concurrency int           // delivery workers; default sim.DefaultConcurrency
	Timeout     time.Duration // per attempt; default sim.DefaultTimeout
	MaxAttempts int           // per delivery; default sim.DefaultMaxAttempts
	// Token guards the sim's dashboard API, for a caller that serves
	// Runner.Sim().Handler(). Empty: every dashboard route answers 401.
	Token  string
	Logger hclog.Logger
}

// Runner delivers a scenario through an in-process sim to one webhook.
// Each stream's deliveries are sent one after another, so the agent
// receives them in the scenario's order; different streams go in parallel.
type Runner struct {
	cfg     RunConfig
	gen     *Generator
	sim     *sim.Sim
	webhook string
	lat     loadgen.Latencies

	mu     sync.Mutex
	finals []sim.Attempt
	wake   chan struct{}

	sent, acked, rejected, inFlight atomic.Int64
}

// NewRunner checks cfg and builds the sim.
func NewRunner(cfg RunConfig) (*Runner, error) {
	if cfg.Scheme == "" {
		cfg.Scheme = sim.SchemeV1
	}
	switch {
	case cfg.Scheme != sim.SchemeV1 && cfg.Scheme != sim.SchemeSHA256:
		return nil, fmt.Errorf("scenario: unknown scheme %q (want v1 or sha256)", cfg.Scheme)
	case cfg.Scheme == sim.SchemeSHA256 && cfg.Scenario.Faults.Enabled(StaleTimestamp):
		return nil, errors.New("scenario: stale-timestamp needs the v1 scheme: sha256= signatures carry no timestamp (set stale-timestamp=0)")
	case cfg.Secret == "":
		return nil, errors.New("scenario: no webhook secret")
	case cfg.Count < 0 || cfg.Duration < 0 || cfg.Rate < 0:
		return nil, errors.New("scenario: count, duration and rate must not be negative")
	case cfg.Count == 0 && cfg.Duration == 0:
		return nil, errors.New("scenario: set a count, a duration or both")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = sim.DefaultConcurrency
	}
	g, err := New(cfg.Scenario)
	if err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, gen: g, wake: make(chan struct{}, 1)}
	r.sim = sim.New(sim.Config{
		Token: cfg.Token, Concurrency: cfg.Concurrency, Timeout: cfg.Timeout, MaxAttempts: cfg.MaxAttempts,
		OnAttempt: r.attempted, Logger: cfg.Logger,
	})
	wh, _, err := r.sim.CreateWebhook(sim.WebhookSpec{URL: cfg.Target, Scheme: cfg.Scheme, Secret: cfg.Secret,
		Description: "arbiter sim run, scenario " + g.Scenario()})
	if err != nil {
		return nil, fmt.Errorf("scenario: target: %w", err)
	}
	r.webhook = wh.ID
	return r, nil
}

// Sim is the runner's sim, for serving its dashboard API.
func (r *Runner) Sim() *sim.Sim { return r.sim }

// Scenario names the scenario being sent.
func (r *Runner) Scenario() string { return r.gen.Scenario() }

// Progress counts deliveries so far.
type Progress struct {
	Sent, Acknowledged, Rejected, InFlight int64
}

// Progress may be called while Run runs.
func (r *Runner) Progress() Progress {
	return Progress{Sent: r.sent.Load(), Acknowledged: r.acked.Load(), Rejected: r.rejected.Load(), InFlight: r.inFlight.Load()}
}

func (r *Runner) attempted(a sim.Attempt) {
	if a.WebhookID != r.webhook {
		return // a webhook added through the dashboard
	}
	if a.Number > 0 {
		r.lat.Record(a.Latency)
	}
	if !a.Final {
		return
	}
	r.mu.Lock()
	r.finals = append(r.finals, a)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Report is what a run sent and how it was answered.
type Report struct {
	Scenario    string        `json:"scenario"`
	Seed        uint64        `json:"seed"`
	Target      string        `json:"target"`
	Scheme      string        `json:"scheme"`
	Elapsed     time.Duration `json:"-"`
	Interrupted bool          `json:"interrupted,omitempty"`

	Sent                 int64 `json:"sent"`
	Acknowledged         int64 `json:"acknowledged"`
	Duplicates           int64 `json:"duplicates"`
	RejectedAsIntended   int64 `json:"rejectedAsIntended"`
	RejectedUnexpectedly int64 `json:"rejectedUnexpectedly"`
	Failed               int64 `json:"failed"`
	// Unexpected counts every answer other than the scenario expected,
	// the unexpected rejections and the failures included.
	Unexpected   int64           `json:"unexpected"`
	EventsPerSec float64         `json:"eventsPerSec"` // answered deliveries per second
	Latency      loadgen.Latency `json:"latencyMs"`

	Truth    []Truth               `json:"-"`
	Outcomes []Outcome             `json:"-"`
	Records  []engine.LedgerRecord `json:"-"`
}

// MarshalJSON adds the elapsed time in seconds.
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report
	return json.Marshal(struct {
		*plain
		ElapsedSeconds float64 `json:"elapsedSeconds"`
	}{(*plain)(r), r.Elapsed.Seconds()})
}

// session is the state of one Run, owned by its loop.
type session struct {
	*Runner
	rep      *Report
	queues   map[string][]Item
	busy     map[string]bool
	ready    []string
	inflight map[string]Item // by event id: a stream has one delivery in flight
	queued   int
}

// Run generates and sends the scenario, and returns once every delivery
// is answered. When ctx ends first it stops sending, waits a little for
// what is in flight, and reports what it has.
func (r *Runner) Run(ctx context.Context) (*Report, error) {
	simCtx, stopSim := context.WithCancel(context.Background())
	simDone := make(chan struct{})
	go func() { r.sim.Run(simCtx); close(simDone) }()
	defer func() { stopSim(); <-simDone }()

	u := &session{Runner: r, queues: map[string][]Item{}, busy: map[string]bool{}, inflight: map[string]Item{},
		rep: &Report{Scenario: r.gen.Scenario(), Seed: r.cfg.Scenario.Seed, Target: r.cfg.Target, Scheme: r.cfg.Scheme}}
	start := time.Now()
	var deadline <-chan time.Time
	if r.cfg.Duration > 0 {
		t := time.NewTimer(r.cfg.Duration)
		defer t.Stop()
		deadline = t.C
	}
	// Steps are generated only while no stream is free to send, so a
	// duration ends close to on time; the window bounds what waits behind
	// busy streams.
	window := 4 * r.cfg.Concurrency
	generating := true
	for ctx.Err() == nil {
		for generating && len(u.ready) == 0 && u.queued < window {
			if r.cfg.Count > 0 && r.sent.Load()+int64(u.queued) >= r.cfg.Count {
				generating = false
				break
			}
			u.add(r.gen.Next())
		}
		if len(u.ready) == 0 {
			if !generating && u.queued == 0 && len(u.inflight) == 0 {
				break
			}
			select {
			case <-r.wake:
			case <-deadline:
				generating, deadline = false, nil
			case <-ctx.Done():
			}
			u.collect()
			continue
		}
		if r.cfg.Rate > 0 {
			at := start.Add(time.Duration(float64(r.sent.Load()) / r.cfg.Rate * float64(time.Second)))
			if d := time.Until(at); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-ctx.Done():
				}
				t.Stop()
			}
		}
		if err := u.publish(ctx); err != nil {
			break
		}
		select {
		case <-deadline:
			generating, deadline = false, nil
		default:
		}
		u.collect()
	}
	if ctx.Err() != nil {
		u.rep.Interrupted = true
		// What was sent may still be answered: give it a moment.
		grace, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for len(u.inflight) > 0 && grace.Err() == nil {
			select {
			case <-r.wake:
			case <-grace.Done():
			}
			u.collect()
		}
		cancel()
	}
	u.rep.Elapsed = time.Since(start)
	answered := u.rep.Acknowledged + u.rep.Duplicates + u.rep.RejectedAsIntended + u.rep.RejectedUnexpectedly
	if s := u.rep.Elapsed.Seconds(); s > 0 {
		u.rep.EventsPerSec = float64(answered) / s
	}
	u.rep.Latency = r.lat.Summary()
	return u.rep, nil
}

// add queues a step's deliveries on their streams.
func (u *session) add(s Step) {
	u.rep.Truth = append(u.rep.Truth, s.Truth...)
	u.rep.Records = append(u.rep.Records, s.Records...)
	for _, it := range s.Items {
		q := u.queues[it.Stream]
		if len(q) == 0 && !u.busy[it.Stream] {
			u.ready = append(u.ready, it.Stream)
		}
		u.queues[it.Stream] = append(q, it)
		u.queued++
	}
}

// publish sends the next delivery of the first ready stream.
func (u *session) publish(ctx context.Context) error {
	stream := u.ready[0]
	u.ready = u.ready[1:]
	q := u.queues[stream]
	it := q[0]
	if len(q) == 1 {
		delete(u.queues, stream)
	} else {
		u.queues[stream] = q[1:]
	}
	u.queued--
	u.busy[stream] = true
	u.inflight[it.Event.ID] = it
	u.inFlight.Add(1)
	if err := u.sim.Publish(ctx, it.Event); err != nil {
		// Not queued: the sim recorded it failed, and no attempt will
		// be reported.
		delete(u.inflight, it.Event.ID)
		u.inFlight.Add(-1)
		return err
	}
	u.sent.Add(1)
	u.rep.Sent++
	return nil
}

// collect takes the answers that came in and frees their streams.
func (u *session) collect() {
	u.mu.Lock()
	finals := u.finals
	u.finals = nil
	u.mu.Unlock()
	for _, a := range finals {
		it, ok := u.inflight[a.EventID]
		if !ok {
			continue // a delivery retried through the dashboard
		}
		delete(u.inflight, a.EventID)
		u.inFlight.Add(-1)
		u.record(it, answerOf(a), a.Status)
		u.busy[it.Stream] = false
		if len(u.queues[it.Stream]) > 0 {
			u.ready = append(u.ready, it.Stream)
		}
	}
}

// record counts one answer against what was expected.
func (u *session) record(it Item, got Answer, status int) {
	rep := u.rep
	switch got.Outcome {
	case Accepted:
		rep.Acknowledged++
		u.acked.Add(1)
	case Duplicated:
		rep.Duplicates++
		u.acked.Add(1)
	case Rejected:
		u.rejected.Add(1)
		if got == it.Expect {
			rep.RejectedAsIntended++
		} else {
			rep.RejectedUnexpectedly++
		}
	case Failed:
		rep.Failed++
	}
	if got != it.Expect {
		rep.Unexpected++
	}
	if got.Outcome != Accepted || it.Expect.Outcome != Accepted {
		rep.Outcomes = append(rep.Outcomes, Outcome{EventID: it.Event.ID, Kind: it.Kind, Expected: it.Expect, Got: got, Status: status})
	}
}

// answerOf reads a final attempt: arbiter answers {"received":true},
// {"received":true,"duplicate":true}, or an error with a "reason".
func answerOf(a sim.Attempt) Answer {
	var body struct {
		Duplicate bool   `json:"duplicate"`
		Reason    string `json:"reason"`
	}
	json.Unmarshal(a.Body, &body)
	switch {
	case a.Delivered && body.Duplicate:
		return Answer{Outcome: Duplicated}
	case a.Delivered:
		return Answer{Outcome: Accepted}
	case a.Status >= 400 && a.Status < 500 && a.Status != http.StatusRequestTimeout && a.Status != http.StatusTooManyRequests:
		return Answer{Outcome: Rejected, Reason: body.Reason}
	}
	return Answer{Outcome: Failed}
}
