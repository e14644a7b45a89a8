// Package worker turns inbox events into decisions. A dispatcher reads
// pending events in inbox order and hands each to the partition that owns
// its stream (a customer's deltas, a batch stream), so a stream is applied in
// order while different streams run in parallel. A partition normalizes,
// reads the settlement state for the event, asks the policies, and commits
// state, decision, outbox and event status in one transaction per batch.
package worker

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"runtime"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/normalize"
	"github.com/arbiter-dev/arbiter/engine/policy"
	"github.com/arbiter-dev/arbiter/engine/store"
)

// Decider evaluates the active policies for one input document;
// *policy.Engine is one.
type Decider interface {
	Decide(ctx context.Context, in *engine.Input) (policy.Decision, error)
}

// Config tunes the worker. Zero values take the defaults.
type Config struct {
	Partitions int           // parallel streams; default GOMAXPROCS
	BatchSize  int           // events per transaction; default 256
	Grace      time.Duration // how long an out-of-order event waits for its predecessor; default 30s
	Poll       time.Duration // fallback poll of the inbox; default 1s
	Now        func() time.Time
	Logger     hclog.Logger
	Registerer prometheus.Registerer
	// Committed is called after a batch that queued deliveries commits, to
	// wake the dispatcher for them.
	Committed func()
}

// Worker processes the inbox.
type Worker struct {
	cfg    Config
	store  *store.Store
	decide Decider
	log    hclog.Logger
	m      metrics
	wake   chan struct{}

	throttleMu sync.Mutex
	throttles  map[string]store.Throttle

	holds holdSet // a copy of the partitions' holds, for Holds
}

// New returns a worker over st deciding with decide, with the throttle
// state read from the store.
func New(ctx context.Context, cfg Config, st *store.Store, decide Decider) (*Worker, error) {
	if cfg.Partitions <= 0 {
		cfg.Partitions = runtime.GOMAXPROCS(0)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 256
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 30 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Committed == nil {
		cfg.Committed = func() {}
	}
	w := &Worker{cfg: cfg, store: st, decide: decide, log: cfg.Logger, m: newMetrics(cfg.Registerer),
		wake: make(chan struct{}, 1), throttles: map[string]store.Throttle{}}
	ths, err := st.Throttles(ctx)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	for _, t := range ths {
		w.throttles[t.Scope] = t
	}
	return w, nil
}

// Notify tells the worker new events are in the inbox. It never blocks.
func (w *Worker) Notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Throttle returns the throttle state of scope (an endpoint name).
func (w *Worker) Throttle(scope string) store.Throttle {
	w.throttleMu.Lock()
	defer w.throttleMu.Unlock()
	t := w.throttles[scope]
	t.Scope = scope
	return t
}

// Throttles returns every known throttle scope.
func (w *Worker) Throttles() []store.Throttle {
	w.throttleMu.Lock()
	defer w.throttleMu.Unlock()
	out := make([]store.Throttle, 0, len(w.throttles))
	for _, t := range w.throttles {
		out = append(out, t)
	}
	return out
}

type job struct {
	ev   engine.Event
	norm *normalize.Event
	err  error
}

// Run processes events until ctx is done. It returns an error only when the
// store keeps failing; everything it had not committed is still pending in
// the inbox and is processed again on the next start.
func (w *Worker) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	parts := make([]*partition, w.cfg.Partitions)
	var wg sync.WaitGroup
	for i := range parts {
		parts[i] = w.newPartition(i)
		wg.Add(1)
		go func(p *partition) {
			defer wg.Done()
			if err := p.run(ctx); err != nil {
				cancel(err)
			}
		}(parts[i])
	}
	err := w.dispatch(ctx, parts)
	for _, p := range parts {
		close(p.in)
	}
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return fmt.Errorf("worker: %w", cause)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("worker: %w", err)
	}
	return nil
}

// dispatch reads pending events in inbox order and routes each to the
// partition owning its stream. Events are read once per process: the cursor
// only moves forward, and a restart begins again from what is still pending.
func (w *Worker) dispatch(ctx context.Context, parts []*partition) error {
	var cursor int64
	tick := time.NewTicker(w.cfg.Poll)
	defer tick.Stop()
	for {
		evs, err := w.store.Pending(ctx, cursor, 1024)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			w.log.Error("reading the inbox failed; retrying", "error", err)
			evs = nil
		}
		for i := range evs {
			ev := evs[i]
			cursor = ev.Seq
			j := &job{ev: ev}
			j.norm, j.err = normalize.Normalize(&ev)
			key := ev.Endpoint
			if j.norm != nil {
				key = j.norm.Stream
			}
			p := parts[partitionOf(key, len(parts))]
			select {
			case p.in <- j:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if len(evs) == 1024 {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.wake:
		case <-tick.C:
		}
	}
}

func partitionOf(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

func (w *Worker) setThrottle(t store.Throttle) {
	w.throttleMu.Lock()
	w.throttles[t.Scope] = t
	w.throttleMu.Unlock()
}
