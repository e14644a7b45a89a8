package policy

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/arbiter-dev/arbiter/engine"
)

// DefaultDebounce is how long Watch waits after the last change before it
// reloads, so that saving several files, or an editor's write-then-rename,
// reloads once.
const DefaultDebounce = 200 * time.Millisecond

// Config configures an Engine.
type Config struct {
	Source     Source
	Logger     hclog.Logger          // named "policy" below it; nil discards
	Registerer prometheus.Registerer // nil: metrics are kept but not exported
	Debounce   time.Duration         // Watch; default DefaultDebounce
	Now        func() time.Time      // default time.Now
}

// Engine holds the active policy set and replaces it on Reload. Decide
// always uses the set active when it starts, so evaluations in flight
// during a reload finish on the old set; a set that fails to load or to
// pass its tests never becomes active.
type Engine struct {
	cfg    Config
	log    hclog.Logger
	m      metrics
	state  atomic.Pointer[state]
	reload sync.Mutex // one reload at a time: Watch, SIGHUP and /-/reload may race
}

// state is everything Status reports, replaced whole on every reload.
type state struct {
	set         *Set
	loadedAt    time.Time
	lastErr     error
	lastErrAt   time.Time
	lastProblem []Problem
}

// New loads, compiles and tests cfg.Source and returns an engine with it
// active. An initial set that does not pass the gate is an error: the agent
// does not run without policies it can trust.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Engine{cfg: cfg, log: cfg.Logger.Named("policy"), m: newMetrics(cfg.Registerer)}
	if err := e.Reload(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// Set is the active policy set.
func (e *Engine) Set() *Set { return e.state.Load().set }

// Decide evaluates in with the active policy set.
func (e *Engine) Decide(ctx context.Context, in *engine.Input) (Decision, error) {
	d, err := e.state.Load().set.Decide(ctx, in)
	if err != nil {
		e.m.decideErrors.Inc()
		return d, err
	}
	e.m.evalSeconds.Observe(d.EvalDuration.Seconds())
	return d, nil
}

// Reload loads, compiles and tests the source again and makes the new set
// active if, and only if, all of that succeeds. On failure the previous set
// stays active, and the error, with file:row for each problem, is logged,
// counted and kept for Status; it is also returned.
func (e *Engine) Reload(ctx context.Context) error {
	e.reload.Lock()
	defer e.reload.Unlock()

	set, err := Load(ctx, e.cfg.Source)
	if err != nil && ctx.Err() != nil {
		return err // shutting down: not a verdict on the policies
	}
	now := e.cfg.Now()
	cur := e.state.Load()
	if err != nil {
		result := resultOf(err)
		e.m.reloads.WithLabelValues(result).Inc()
		e.m.lastOK.Set(0)
		if cur == nil {
			e.log.Error("policy set rejected", "result", result, "error", err)
			return err
		}
		next := *cur
		next.lastErr, next.lastErrAt, next.lastProblem = err, now, ProblemsOf(err)
		e.state.Store(&next)
		e.log.Error("policy set rejected, previous revision stays active",
			"result", result, "active", ShortRevision(cur.set.Revision()), "error", err)
		return err
	}
	e.m.reloads.WithLabelValues(ResultOK).Inc()
	e.m.lastOK.Set(1)
	e.m.lastSuccess.Set(float64(now.UnixNano()) / 1e9)
	if cur != nil && cur.set.Revision() == set.Revision() {
		// Nothing changed (a touch, a save without edits): keep the set,
		// and when it was loaded, but clear a failure from in between.
		e.state.Store(&state{set: cur.set, loadedAt: cur.loadedAt})
		e.log.Debug("policy set unchanged", "revision", ShortRevision(set.Revision()))
		return nil
	}
	e.state.Store(&state{set: set, loadedAt: now})
	e.m.revision.Reset()
	e.m.revision.WithLabelValues(ShortRevision(set.Revision())).Set(1)
	args := []any{"revision", ShortRevision(set.Revision()), "files", len(set.files), "tests", set.tests.Passed}
	if cur != nil {
		args = append(args, "previous", ShortRevision(cur.set.Revision()))
	}
	e.log.Info("policy set active", args...)
	return nil
}

func resultOf(err error) string {
	if _, ok := errors.AsType[*CompileError](err); ok {
		return ResultCompileError
	}
	if _, ok := errors.AsType[*GateError](err); ok {
		return ResultTestFailure
	}
	return ResultLoadError
}

// Status is where the engine's policies stand, for the admin API and the
// CLI.
type Status struct {
	Revision    string     `json:"revision"`
	LoadedAt    time.Time  `json:"loadedAt"`
	LastError   string     `json:"lastError,omitempty"` // the last reload's error, if it was rejected; cleared by a successful reload
	LastErrorAt time.Time  `json:"lastErrorAt,omitzero"`
	Problems    []Problem  `json:"problems,omitempty"` // LastError's problems, located
	Files       []string   `json:"files"`
	Tests       TestCounts `json:"tests"` // of the active set
}

// TestCounts summarizes a TestReport.
type TestCounts struct {
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
}

// Status reports the active revision and the outcome of the last reload.
func (e *Engine) Status() Status {
	s := e.state.Load()
	st := Status{
		Revision:    s.set.Revision(),
		LoadedAt:    s.loadedAt,
		LastErrorAt: s.lastErrAt,
		Problems:    slices.Clone(s.lastProblem),
		Files:       s.set.Files(),
		Tests:       TestCounts{Passed: s.set.tests.Passed, Failed: s.set.tests.Failed, Skipped: s.set.tests.Skipped},
	}
	if s.lastErr != nil {
		st.LastError = s.lastErr.Error()
	}
	return st
}
