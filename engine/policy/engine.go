package policy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
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
	bundle *BundleSource // nil unless the source is a bundle; defaults filled in
	state  atomic.Pointer[state]
	reload sync.Mutex // one reload at a time: Watch, Poll, SIGHUP and /-/reload may race
}

// state is everything Status reports, replaced whole on every reload.
type state struct {
	set         *Set
	loadedAt    time.Time
	lastErr     error
	lastErrAt   time.Time
	lastProblem []Problem
	bundle      BundleStatus // of a bundle source
}

// fetched is one download of a bundle source.
type fetched struct {
	at     time.Time
	result string // a Fetch… constant
	etag   string
	raw    []byte // the bundle, when one was downloaded
}

// record notes f in the state's bundle status; the ETag changes only with
// the active bundle, so that a refused one is fetched and judged again.
func (s *state) record(f *fetched) {
	if f != nil {
		s.bundle.LastFetchAt, s.bundle.LastFetch = f.at, f.result
	}
}

// New loads, compiles and tests cfg.Source and returns an engine with it
// active. An initial set that does not pass the gate is an error: the agent
// does not run without policies it can trust. For a bundle source whose
// server is down or serves a refused bundle, the last good bundle kept on
// disk is such a set (see startWithoutServer).
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
	if err := cfg.Source.validate(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, log: cfg.Logger.Named("policy"), m: newMetrics(cfg.Registerer)}
	if cfg.Source.Bundle != nil {
		e.bundle = cfg.Source.Bundle.withDefaults()
	}
	e.reload.Lock()
	defer e.reload.Unlock()
	f, err := e.reloadLocked(ctx)
	if err == nil {
		return e, nil
	}
	if e.bundle == nil || ctx.Err() != nil {
		return nil, err
	}
	if err := e.startWithoutServer(ctx, err, f); err != nil {
		return nil, err
	}
	return e, nil
}

// startWithoutServer is what New does when the server's bundle could not
// be had (cause): it makes the bundle kept in LastGood active, so that the
// agent decides with the last bundle that passed the gate and Poll keeps
// asking for a new one. Without one, it waits up to StartTimeout for a
// server that does not answer (one that starts beside the agent), and
// otherwise fails: a refused bundle does not change by waiting.
func (e *Engine) startWithoutServer(ctx context.Context, cause error, f *fetched) error {
	path := e.bundle.LastGood
	raw, err := os.ReadFile(path)
	switch {
	case path != "" && err == nil:
		return e.startOnLastGood(ctx, cause, f, raw)
	case path != "" && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w; last good bundle: %w", cause, err)
	case f == nil || f.result != FetchError:
		return fmt.Errorf("%w; no last good bundle to start on (%s)", cause, path)
	}
	e.log.Warn("policy bundle server unavailable and no last good bundle; waiting for it",
		"url", displayURL(e.bundle.URL), "for", e.bundle.StartTimeout, "error", cause)
	deadline := time.Now().Add(e.bundle.StartTimeout)
	for delay := 250 * time.Millisecond; time.Now().Before(deadline); delay = min(2*delay, 4*time.Second) {
		t := time.NewTimer(min(delay, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		if f, cause = e.reloadLocked(ctx); cause == nil {
			return nil
		}
		if f == nil || f.result != FetchError {
			return fmt.Errorf("%w; no last good bundle to start on (%s)", cause, path)
		}
	}
	return fmt.Errorf("%w; no last good bundle to start on (%s), and the server did not answer within %s", cause, path, e.bundle.StartTimeout)
}

// startOnLastGood makes raw, the bundle kept in LastGood, active.
func (e *Engine) startOnLastGood(ctx context.Context, cause error, f *fetched, raw []byte) error {
	path := e.bundle.LastGood
	set, err := LoadBundle(ctx, raw, e.cfg.Source)
	if err != nil {
		return fmt.Errorf("%w; last good bundle %s: %w", cause, path, err)
	}
	now := e.cfg.Now()
	st := &state{set: set, loadedAt: now, lastErr: cause, lastErrAt: now, lastProblem: ProblemsOf(cause)}
	st.bundle.URL, st.bundle.StartedOnLastGood = displayURL(e.bundle.URL), true
	st.record(f)
	e.activate(st)
	e.log.Warn("policy bundle unavailable at start; started on the last good bundle and polling for a new one",
		"revision", ShortRevision(set.Revision()), "file", path, "error", cause)
	return nil
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
//
// For a bundle source it asks the server for a new bundle, sending the
// active bundle's ETag: a 304 changes nothing (and ends a failure from in
// between, such as the server being down); a new bundle must verify and
// pass the gate, and is then kept as the last good one.
func (e *Engine) Reload(ctx context.Context) error {
	e.reload.Lock()
	defer e.reload.Unlock()
	_, err := e.reloadLocked(ctx)
	return err
}

func (e *Engine) reloadLocked(ctx context.Context) (*fetched, error) {
	set, f, err := e.load(ctx)
	if err != nil && ctx.Err() != nil {
		return f, err // shutting down: not a verdict on the policies
	}
	now := e.cfg.Now()
	cur := e.state.Load()
	if errors.Is(err, errNotModified) && cur != nil {
		next := *cur
		next.record(f)
		if cur.lastErr != nil {
			e.log.Info("policy bundle server answers again; the active bundle is current",
				"revision", ShortRevision(cur.set.Revision()))
			next.lastErr, next.lastErrAt, next.lastProblem = nil, time.Time{}, nil
			e.m.lastOK.Set(1)
		}
		e.state.Store(&next)
		return f, nil
	}
	if err == nil && cur != nil && cur.set.Revision() == set.Revision() && cur.set.digest != set.digest {
		err = &BundleError{Err: fmt.Errorf("revision %s is active with other content: a changed bundle needs a new revision", set.Revision())}
	}
	if err != nil {
		result := resultOf(err)
		e.m.reloads.WithLabelValues(result).Inc()
		e.m.lastOK.Set(0)
		if cur == nil {
			e.log.Error("policy set rejected", "result", result, "error", err)
			return f, err
		}
		next := *cur
		next.lastErr, next.lastErrAt, next.lastProblem = err, now, ProblemsOf(err)
		next.record(f)
		e.state.Store(&next)
		e.log.Error("policy set rejected, previous revision stays active",
			"result", result, "active", ShortRevision(cur.set.Revision()), "error", err)
		return f, err
	}
	e.m.reloads.WithLabelValues(ResultOK).Inc()
	e.m.lastOK.Set(1)
	e.m.lastSuccess.Set(float64(now.UnixNano()) / 1e9)
	next := &state{set: set, loadedAt: now}
	if f != nil {
		next.bundle.URL, next.bundle.ETag = displayURL(e.bundle.URL), f.etag
		next.record(f)
		if e.bundle.LastGood != "" {
			if err := keepLastGood(e.bundle.LastGood, f.raw); err != nil {
				e.log.Warn("cannot keep the last good policy bundle; a start while the server is down will fail",
					"file", e.bundle.LastGood, "error", err)
			}
		}
	}
	if cur != nil && cur.set.digest == set.digest {
		// Nothing changed (a touch, a save without edits, the same bundle
		// again): keep the set, and when it was loaded, but clear a
		// failure from in between.
		next.set, next.loadedAt = cur.set, cur.loadedAt
		e.state.Store(next)
		e.log.Debug("policy set unchanged", "revision", ShortRevision(set.Revision()))
		return f, nil
	}
	e.activate(next)
	args := []any{"revision", ShortRevision(set.Revision()), "files", len(set.files), "tests", set.tests.Passed}
	if cur != nil {
		args = append(args, "previous", ShortRevision(cur.set.Revision()))
	}
	e.log.Info("policy set active", args...)
	return f, nil
}

// activate makes st's set the active one.
func (e *Engine) activate(st *state) {
	e.state.Store(st)
	e.m.revision.Reset()
	e.m.revision.WithLabelValues(ShortRevision(st.set.Revision())).Set(1)
}

// load reads the source: the directory or file system, or, for a bundle,
// a new bundle unless the server answers that the active one is current
// (errNotModified).
func (e *Engine) load(ctx context.Context) (*Set, *fetched, error) {
	if e.bundle == nil {
		set, err := Load(ctx, e.cfg.Source)
		return set, nil, err
	}
	var etag string
	if cur := e.state.Load(); cur != nil {
		etag = cur.bundle.ETag
	}
	raw, tag, err := e.bundle.fetch(ctx, etag)
	f := &fetched{at: e.cfg.Now(), result: FetchOK, etag: tag, raw: raw}
	switch {
	case errors.Is(err, errNotModified):
		f.result = FetchNotModified
	case err != nil:
		f.result = FetchError
	}
	e.m.fetches.WithLabelValues(f.result).Inc()
	if err != nil {
		return nil, f, err
	}
	set, err := LoadBundle(ctx, raw, e.cfg.Source)
	return set, f, err
}

// Poll asks the bundle server for a new bundle every PollInterval until
// ctx is done, as Reload does. Failures are logged, counted and kept for
// Status; the active revision stays. It returns an error only when the
// source is not a bundle.
func (e *Engine) Poll(ctx context.Context) error {
	if e.bundle == nil {
		return errors.New("policy: poll: the policy source is not a bundle")
	}
	t := time.NewTicker(e.bundle.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_ = e.Reload(ctx) // logged, counted and kept by Reload
		}
	}
}

func resultOf(err error) string {
	if _, ok := errors.AsType[*CompileError](err); ok {
		return ResultCompileError
	}
	if _, ok := errors.AsType[*GateError](err); ok {
		return ResultTestFailure
	}
	if _, ok := errors.AsType[*BundleError](err); ok {
		return ResultBundleError
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
	// Bundle is set for a bundle source.
	Bundle *BundleStatus `json:"bundle,omitempty"`
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
	if e.bundle != nil {
		b := s.bundle
		st.Bundle = &b
	}
	return st
}
