// Package dispatch delivers decided actions to plugins from the outbox, at
// least once. Each plugin has its own lane with bounded concurrency, so a
// slow or failing integration (Slack down, a plugin that hangs) holds only
// its own deliveries. Failures are retried with exponential backoff and full
// jitter, honouring a plugin's retry-after, until the attempt limit moves the
// delivery to failed: the dead letter, retried only by an operator.
package dispatch

import (
	"context"

	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/backoff"
	"github.com/arbiter-dev/arbiter/engine/store"
	"github.com/arbiter-dev/arbiter/engine/wasmhost"
)

// Invoker runs one delivery in a plugin; *wasmhost.Host is one.
type Invoker interface {
	Invoke(ctx context.Context, plugin string, req wasmhost.Request) (wasmhost.Result, error)
}

// Config tunes delivery. Zero values take the defaults.
type Config struct {
	MaxAttempts int           // before a delivery is failed; default 8
	BaseDelay   time.Duration // first retry delay cap; default 1s
	MaxDelay    time.Duration // cap of any retry delay; default 10m
	Concurrency int           // in-flight deliveries per plugin; default 4
	Lease       time.Duration // how long a claimed delivery is reserved; default 5m
	Poll        time.Duration // fallback poll of the outbox; default 1s
	Plugins     []string      // plugin instances with a lane; others fail at once
	Now         func() time.Time
	Rand        func(n int64) int64 // uniform in [0, n); default math/rand/v2
	Logger      hclog.Logger
	Registerer  prometheus.Registerer
}

// Dispatcher drains the outbox.
type Dispatcher struct {
	cfg   Config
	store *store.Store
	inv   Invoker
	log   hclog.Logger
	m     metrics
	wake  chan struct{}
	lanes map[string]*lane
	done  chan store.Attempt // finished attempts, recorded in batches

	backoff backoff.Policy
}

// lane is one plugin's queue: claimed deliveries wait in it for one of the
// plugin's Concurrency workers.
type lane struct {
	plugin  string
	queue   chan store.Delivery
	claimed atomic.Int64 // queued or in flight
}

// claimAhead is how many deliveries a lane claims per worker, so a claim
// round, one transaction, feeds several deliveries.
const claimAhead = 8

// New returns a dispatcher for the deliveries in st.
func New(cfg Config, st *store.Store, inv Invoker) *Dispatcher {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = time.Second
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = 10 * time.Minute
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 5 * time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Int64N
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	d := &Dispatcher{cfg: cfg, store: st, inv: inv, log: cfg.Logger, m: newMetrics(cfg.Registerer),
		wake: make(chan struct{}, 1), lanes: map[string]*lane{}, done: make(chan store.Attempt, 1024),
		backoff: backoff.Policy{Base: cfg.BaseDelay, Max: cfg.MaxDelay, Rand: cfg.Rand}}
	for _, p := range cfg.Plugins {
		d.lanes[p] = &lane{plugin: p, queue: make(chan store.Delivery, cfg.Concurrency*claimAhead)}
	}
	return d
}

// Notify tells the dispatcher new deliveries may be due. It never blocks.
func (d *Dispatcher) Notify() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is done, then lets deliveries in flight finish and
// records them. Claimed deliveries still queued keep their lease and are
// delivered after it by this or another process.
func (d *Dispatcher) Run(ctx context.Context) error {
	var workers sync.WaitGroup
	for _, l := range d.lanes {
		for range d.cfg.Concurrency {
			workers.Add(1)
			go func() {
				defer workers.Done()
				for {
					select {
					case <-ctx.Done():
						return
					case del := <-l.queue:
						d.done <- d.deliver(ctx, del)
						l.claimed.Add(-1)
						d.Notify()
					}
				}
			}()
		}
	}
	recorded := make(chan struct{})
	go func() { d.record(ctx); close(recorded) }()
	defer func() {
		workers.Wait()
		close(d.done)
		<-recorded
		d.releaseQueued()
	}()
	tick := time.NewTicker(d.cfg.Poll)
	defer tick.Stop()
	for {
		d.claimRound(ctx)
		if err := d.failUnrouted(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("failing deliveries to unknown plugins", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
		case <-tick.C:
		}
	}
}

// claimRound claims as many due deliveries as each lane has room for.
func (d *Dispatcher) claimRound(ctx context.Context) {
	for _, l := range d.lanes {
		room := cap(l.queue) - int(l.claimed.Load())
		if room <= 0 {
			continue
		}
		ds, err := d.store.ClaimDue(ctx, l.plugin, d.cfg.Now(), d.cfg.Lease, room)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Error("claiming deliveries failed", "plugin", l.plugin, "error", err)
			}
			continue
		}
		l.claimed.Add(int64(len(ds)))
		for _, del := range ds {
			l.queue <- del // room was reserved above
		}
	}
}

// releaseQueued hands deliveries claimed but not started back, so a restart
// delivers them at once instead of after their lease.
func (d *Dispatcher) releaseQueued() {
	var ids []string
	for _, l := range d.lanes {
		for {
			select {
			case del := <-l.queue:
				ids = append(ids, del.ID)
				l.claimed.Add(-1)
				continue
			default:
			}
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.store.ReleaseDeliveries(ctx, ids, d.cfg.Now()); err != nil {
		d.log.Warn("releasing queued deliveries failed; they are retried after their lease", "count", len(ids), "error", err)
	}
}

// record writes finished attempts, as many per transaction as have queued
// up. It outlives the workers so that every attempt made is recorded.
func (d *Dispatcher) record(ctx context.Context) {
	batch := make([]store.Attempt, 0, 256)
	for a := range d.done {
		batch = append(batch[:0], a)
	fill:
		for len(batch) < cap(batch) {
			select {
			case a, ok := <-d.done:
				if !ok {
					break fill
				}
				batch = append(batch, a)
			default:
				break fill
			}
		}
		// The attempts happened: record them even while shutting down.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if err := d.store.FinishAttempts(rctx, batch); err != nil {
			d.log.Error("recording delivery attempts failed; they will be retried after their lease", "count", len(batch), "error", err)
		}
		cancel()
	}
}

// deliver makes one attempt and says what it came to. The attempt's own
// deadline is the plugin's timeout (the host enforces it); shutdown does not
// cut it short, so a delivery in flight is recorded rather than left to its
// lease.
func (d *Dispatcher) deliver(ctx context.Context, del store.Delivery) store.Attempt {
	attempt := del.Attempts + 1
	start := d.cfg.Now()
	req := wasmhost.Request{
		Action: del.Action,
		Event: wasmhost.EventSummary{ID: del.EventID, Type: del.EventType, Endpoint: del.Endpoint,
			CustomerID: strings.TrimPrefix(del.Stream, "customer:"), ReceivedAt: del.EventReceived},
		DeliveryID: del.ID, IdempotencyKey: del.IdempotencyKey, Attempt: attempt,
	}
	if !strings.HasPrefix(del.Stream, "customer:") {
		req.Event.CustomerID = ""
	}
	res, err := d.inv.Invoke(context.WithoutCancel(ctx), del.Plugin, req)
	dur := d.cfg.Now().Sub(start)
	a := store.Attempt{DeliveryID: del.ID, Attempt: attempt, StartedAt: start, Duration: dur}
	retry, retryAfter := false, time.Duration(0)
	switch {
	case err != nil:
		a.Result, a.Error = "error", err.Error()
		retry = wasmhost.Retryable(err)
	case res.Status == wasmhost.StatusOK:
		a.Result, a.Error = "ok", res.Message
	case res.Status == wasmhost.StatusRetry:
		a.Result, a.Error, retry, retryAfter = "retry", res.Message, true, res.RetryAfter
	default:
		a.Result, a.Error = "fail", res.Message
	}
	switch {
	case a.Result == "ok":
		a.Status = engine.DeliveryDelivered
	case retry && attempt-del.RetriedAfter < d.cfg.MaxAttempts:
		a.Status = engine.DeliveryPending
		a.NextAttemptAt = d.cfg.Now().Add(d.backoff.Delay(attempt-del.RetriedAfter, retryAfter))
	default:
		a.Status = engine.DeliveryFailed
	}
	d.m.attempts.WithLabelValues(del.Plugin, a.Result).Inc()
	d.m.duration.WithLabelValues(del.Plugin).Observe(dur.Seconds())
	switch a.Status {
	case engine.DeliveryDelivered:
		d.m.delivered.WithLabelValues(del.Plugin).Inc()
	case engine.DeliveryFailed:
		d.m.deadLetters.WithLabelValues(del.Plugin).Inc()
		d.log.Error("delivery failed for good", "delivery", del.ID, "plugin", del.Plugin, "attempts", attempt, "error", a.Error)
	default:
		d.log.Warn("delivery will be retried", "delivery", del.ID, "plugin", del.Plugin, "attempt", attempt,
			"next_attempt_at", a.NextAttemptAt, "error", a.Error)
	}
	return a
}

// failUnrouted fails deliveries whose plugin is not loaded: routing named a
// plugin the configuration does not have, which no retry can fix.
func (d *Dispatcher) failUnrouted(ctx context.Context) error {
	n, err := d.store.FailUnknownPlugins(ctx, d.cfg.Plugins, d.cfg.Now())
	if err != nil {
		return err
	}
	if n > 0 {
		d.m.deadLetters.WithLabelValues("unknown").Add(float64(n))
		d.log.Error("deliveries routed to plugins that are not configured were failed", "count", n,
			"configured", strings.Join(d.cfg.Plugins, ","))
	}
	return nil
}
