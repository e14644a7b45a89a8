// Package inbox is where the receiver puts authenticated events. An event is
// acknowledged once it is in the inbox's journal (engine/journal), an
// append-only file written with one fsync per group of concurrent requests;
// a loader then moves journaled events into the store in large batches,
// where the worker takes them. The journal's position the store has loaded
// through is committed with the events, so a crash at any point replays
// exactly the events the store lacks, and none twice.
//
// # Why it is built this way
//
// Committing each acknowledgement straight into SQLite took about 120 µs
// per event, against about 30 µs through the journal (BenchmarkAck in
// engine/receiver), so acknowledgements keep up with bursts far beyond
// what the worker decides per second. The loader gives way to them: while
// a burst keeps many requests in flight, it waits, for at most MaxLag, and
// then catches up at full speed until the backlog is under a batch again.
// Bursts are acknowledged at the journal's rate and decided right after;
// sustained overload ends with decisions MaxLag behind and, at MaxBacklog,
// 503s that PacSpace retries.
//
// Duplicates are answered without the store for almost every new event:
// keys of journaled events are held exactly, keys of stored events in a
// Bloom filter, and only a filter hit is confirmed against the store (see
// dedupe). The store's unique keys stay the last word: a duplicate that
// reached the journal is skipped when loaded.
package inbox

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/journal"
)

// Store is what the inbox needs from the store.
type Store interface {
	// LoadJournal stores evs and records through as the last journal
	// record loaded, in one transaction.
	LoadJournal(ctx context.Context, evs []*engine.Event, through uint64) ([]engine.AppendResult, error)
	JournalCheckpoint(ctx context.Context) (uint64, error)
	// Sync makes every commit so far durable (see NoSync).
	Sync(ctx context.Context) error
	Seen(ctx context.Context, endpoint, eventID, digest string) (bool, error)
	DedupeKeys(ctx context.Context, fn func(endpoint, eventID, digest string)) error
	InboxStats(ctx context.Context) (engine.InboxStats, error)
}

// Config opens an inbox.
type Config struct {
	Dir string // journal directory
	// NoSync: no fsync per group commit (see store's sync "normal"). The
	// store's commits are not fsynced either, so before a segment the
	// checkpoint covers is deleted the store is synced.
	NoSync       bool
	MaxBatch     int   // appends per journal group commit; 0: the journal's default
	SegmentBytes int64 // journal segment size; 0: the journal's default
	// BatchSize is how many events one store transaction loads.
	BatchSize int
	// MaxLag is how long loading may wait while acknowledgements stream in;
	// 0: never wait (config.Inbox holds the agent's default).
	MaxLag time.Duration
	// MaxBacklog is how many journaled events may wait to be loaded before
	// Append refuses more with engine.ErrInboxFull.
	MaxBacklog int
	// Loaded is called after each batch is stored, to wake the worker.
	Loaded     func()
	Logger     hclog.Logger
	Registerer prometheus.Registerer
}

// Defaults.
const (
	DefaultBatchSize  = 1024
	DefaultMaxBacklog = 1_000_000
)

// busy is how many acknowledgements in flight at once make a burst: the
// receiver is then saturated (by Little's law, many requests or slow ones)
// and loading gives way to it. A steady trickle keeps one or two in flight
// and is loaded as it comes.
const busy = 8

// window is how long each window of the in-flight peak is.
const window = 50 * time.Millisecond

// poll is how often a loader that gives way looks again.
const poll = 10 * time.Millisecond

// Inbox implements the receiver's Append on a journal and loads the journal
// into the store.
type Inbox struct {
	cfg   Config
	j     *journal.Journal
	store Store
	dd    *dedupe
	log   hclog.Logger
	m     metrics

	loaded   atomic.Uint64 // last journal record in the store
	inflight atomic.Int64  // Appends under way
	peak     atomic.Int64  // most Appends under way at once since the loader last looked
	bufs     sync.Pool

	// Loader state.
	window     time.Time // when the current peak window began
	lastPeak   int64     // peak of the window before
	catchingUp bool
	waiting    time.Time // when the loader began to wait; zero when not
	building   sync.WaitGroup
}

// Open opens the journal in cfg.Dir, finds where the store's copy of it
// ends, and takes up the keys of the events still to load.
func Open(ctx context.Context, cfg Config, st Store) (*Inbox, error) {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.MaxBacklog <= 0 {
		cfg.MaxBacklog = DefaultMaxBacklog
	}
	if cfg.Loaded == nil {
		cfg.Loaded = func() {}
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	ck, err := st.JournalCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("open inbox: %w", err)
	}
	j, err := journal.Open(cfg.Dir, journal.Options{NoSync: cfg.NoSync, MaxBatch: cfg.MaxBatch, SegmentBytes: cfg.SegmentBytes,
		Loaded: ck, Logger: cfg.Logger.Named("journal")})
	if err != nil {
		return nil, fmt.Errorf("open inbox: %w", err)
	}
	in := &Inbox{cfg: cfg, j: j, store: st, dd: newDedupe(), log: cfg.Logger}
	if err := in.recover(ck); err != nil {
		j.Close()
		return nil, fmt.Errorf("open inbox: %w", err)
	}
	in.m = newMetrics(cfg.Registerer, in)
	in.building.Add(1)
	go func() {
		defer in.building.Done()
		in.buildFilter(context.Background())
	}()
	return in, nil
}

// recover lines the journal up with the store's checkpoint and claims the
// keys of every journaled event not yet loaded.
func (in *Inbox) recover(ck uint64) error {
	// The journal numbers on after ck (journal.Options.Loaded), so it never
	// ends before it.
	committed, first := in.j.Committed(), in.j.First()
	if ck+1 < first {
		return fmt.Errorf("journal %s starts at record %d but the store has loaded only up to %d: records %d-%d are missing",
			in.cfg.Dir, first, ck, ck+1, first-1)
	}
	in.loaded.Store(ck)
	for from := ck + 1; from <= committed; {
		n, err := in.j.Read(from, in.cfg.BatchSize, func(seq uint64, p []byte) error {
			if p == nil {
				return nil // lost to damage; loadBatch reports it
			}
			ev, err := decodeEvent(p)
			if err != nil {
				return fmt.Errorf("record %d: %w", seq, err)
			}
			in.dd.take(keysOf(ev.Endpoint, ev.EventID, ev.Digest))
			return nil
		})
		if err != nil {
			return fmt.Errorf("replay journal: %w", err)
		}
		if n == 0 {
			break
		}
		from += uint64(n)
	}
	if backlog := committed - ck; backlog > 0 {
		in.log.Info("journal has events to load", "events", backlog)
	}
	return nil
}

// Append journals ev unless it is a duplicate, and returns once the journal
// is durable. The result's Seq is 0: the store numbers the event when it
// loads it.
func (in *Inbox) Append(ctx context.Context, ev *engine.Event) (engine.AppendResult, error) {
	if in.Backlog() >= uint64(in.cfg.MaxBacklog) {
		return engine.AppendResult{}, engine.ErrInboxFull
	}
	for n, p := in.inflight.Add(1), in.peak.Load(); n > p && !in.peak.CompareAndSwap(p, n); p = in.peak.Load() {
	}
	defer in.inflight.Add(-1)
	ks := keysOf(ev.Endpoint, ev.EventID, ev.Digest)
	outcome, gen := in.dd.reserve(ks)
	for outcome == ask {
		in.m.lookups.Inc()
		seen, err := in.store.Seen(ctx, ev.Endpoint, ev.EventID, ev.Digest)
		switch {
		case err != nil:
			return engine.AppendResult{}, err
		case seen:
			outcome = duplicate
		default:
			if outcome = in.dd.claim(ks, gen); outcome == retry {
				outcome, gen = in.dd.reserve(ks)
			}
		}
	}
	if outcome == duplicate {
		return engine.AppendResult{Duplicate: true}, nil
	}
	buf, _ := in.bufs.Get().(*[]byte)
	if buf == nil {
		buf = new([]byte)
	}
	*buf = encodeEvent((*buf)[:0], ev)
	_, err := in.j.Append(ctx, *buf)
	in.bufs.Put(buf)
	if err != nil {
		in.dd.release(ks)
		return engine.AppendResult{}, err
	}
	return engine.AppendResult{}, nil
}

// Err returns the error that stopped the journal taking appends, if any:
// after a failed write or fsync nothing more is acknowledged until a
// restart.
func (in *Inbox) Err() error { return in.j.Err() }

// Backlog is how many journaled events the store does not have yet.
func (in *Inbox) Backlog() uint64 {
	return in.j.Committed() - in.loaded.Load()
}

// Stats adds the journal's backlog to the store's inbox counts.
func (in *Inbox) Stats(ctx context.Context) (engine.InboxStats, error) {
	backlog := int64(in.Backlog())
	st, err := in.store.InboxStats(ctx)
	st.Events += backlog
	st.Pending += backlog
	return st, err
}

// Run loads the journal into the store until ctx ends.
func (in *Inbox) Run(ctx context.Context) error {
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		if err := in.loadReady(ctx, false); err != nil && ctx.Err() == nil {
			in.m.loadErrors.Inc()
			in.log.Error("loading the journal into the store failed; retrying", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-in.j.Commits():
		case <-tick.C:
		}
	}
}

// Drain loads everything journaled, without waiting for a pause in the
// stream, until the backlog is empty or ctx ends. The agent drains on
// shutdown, once the receiver has stopped.
func (in *Inbox) Drain(ctx context.Context) error {
	return in.loadReady(ctx, true)
}

// loadReady loads batches while there is a backlog and the loader need not
// give way to acknowledgements.
func (in *Inbox) loadReady(ctx context.Context, force bool) error {
	for ctx.Err() == nil {
		backlog := in.Backlog()
		if backlog == 0 || (!force && in.wait(backlog, time.Now())) {
			return nil
		}
		if err := in.loadBatch(ctx); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// wait decides whether the loader gives way to acknowledgements now: while
// a burst lasts, for at most MaxLag; then it catches up until the backlog
// is under a batch.
func (in *Inbox) wait(backlog uint64, now time.Time) bool {
	if backlog <= uint64(in.cfg.BatchSize) {
		in.catchingUp = false
	}
	// The loader looks right after each commit, when the commit's waiters
	// have just left: the peaks over this window and the last say more.
	cur := in.peak.Load()
	peak := max(cur, in.lastPeak)
	if now.Sub(in.window) >= window {
		in.lastPeak, in.window = cur, now
		in.peak.Store(in.inflight.Load())
	}
	if in.cfg.MaxLag <= 0 || in.catchingUp || peak < busy {
		in.stopWaiting(now)
		return false
	}
	if in.waiting.IsZero() {
		in.waiting = now
		in.m.waiting.Set(1)
	}
	if now.Sub(in.waiting) >= in.cfg.MaxLag || backlog >= uint64(in.cfg.MaxBacklog)/2 {
		in.log.Warn("acknowledgements have outpaced decisions for too long; catching up", "backlog", backlog,
			"waited", now.Sub(in.waiting).Round(time.Millisecond))
		in.catchingUp = true
		in.stopWaiting(now)
		return false
	}
	return true
}

func (in *Inbox) stopWaiting(now time.Time) {
	if !in.waiting.IsZero() {
		in.m.waited.Add(now.Sub(in.waiting).Seconds())
		in.m.waiting.Set(0)
		in.waiting = time.Time{}
	}
}

// loadBatch moves the next BatchSize journaled events into the store.
func (in *Inbox) loadBatch(ctx context.Context) error {
	from := in.loaded.Load() + 1
	evs := make([]*engine.Event, 0, min(in.Backlog(), uint64(in.cfg.BatchSize)))
	var last uint64
	lost := 0
	_, err := in.j.Read(from, in.cfg.BatchSize, func(seq uint64, p []byte) error {
		last = seq
		if p == nil {
			lost++
			in.log.Error("an acknowledged event was lost to damage in the journal; the damaged segment was kept aside (see the journal's log)", "record", seq)
			return nil
		}
		ev, err := decodeEvent(p)
		if err != nil {
			return fmt.Errorf("journal record %d: %w", seq, err)
		}
		evs = append(evs, ev)
		return nil
	})
	if err != nil {
		return err
	}
	if last == 0 {
		return nil
	}
	began := time.Now()
	res, err := in.store.LoadJournal(ctx, evs, last)
	if err != nil {
		return err
	}
	in.m.loadSeconds.Observe(time.Since(began).Seconds())
	in.loaded.Store(last)
	in.m.lost.Add(float64(lost))
	keys := make([][2]key, len(evs))
	for i, ev := range evs {
		keys[i] = keysOf(ev.Endpoint, ev.EventID, ev.Digest)
		if res[i].Duplicate {
			// Only a store that gained the event some other way (an older
			// binary's direct append, a restored backup) gets here.
			in.m.lateDuplicates.Inc()
			in.log.Warn("journaled event was already stored; skipped", "endpoint", ev.Endpoint, "event_id", ev.EventID)
		}
	}
	in.m.loaded.Add(float64(len(evs)))
	if in.dd.stored(keys) {
		in.building.Add(1)
		go func() {
			defer in.building.Done()
			in.buildFilter(context.Background())
		}()
	}
	in.release(ctx, last)
	in.cfg.Loaded()
	return nil
}

// release deletes the journal segments that hold nothing after last, the
// store's checkpoint, once the checkpoint is durable.
func (in *Inbox) release(ctx context.Context, last uint64) {
	if !in.j.Releasable(last) {
		return
	}
	if in.cfg.NoSync {
		if err := in.store.Sync(ctx); err != nil {
			in.log.Error("syncing the store before releasing journal segments failed; they are kept", "error", err)
			return
		}
	}
	if err := in.j.Release(last); err != nil {
		in.log.Error("releasing loaded journal segments failed", "error", err)
	}
}

// buildFilter fills a Bloom filter with every stored event's keys, sized
// for twice as many, and puts it in place of the current one.
func (in *Inbox) buildFilter(ctx context.Context) {
	st, err := in.store.InboxStats(ctx)
	if err != nil {
		in.log.Error("counting events for the dedupe filter failed; every event is checked against the store", "error", err)
		return
	}
	if !in.dd.startBuild(4 * uint(max(st.Events, 0))) {
		return
	}
	began := time.Now()
	batch := make([][2]key, 0, 1024)
	err = in.store.DedupeKeys(ctx, func(endpoint, eventID, digest string) {
		batch = append(batch, keysOf(endpoint, eventID, digest))
		if len(batch) == cap(batch) {
			in.dd.add(batch)
			batch = batch[:0]
		}
	})
	if err != nil {
		in.dd.abandonBuild()
		in.log.Error("building the dedupe filter failed; every event is checked against the store", "error", err)
		return
	}
	in.dd.add(batch)
	in.dd.finishBuild()
	in.log.Debug("dedupe filter built", "events", st.Events, "took", time.Since(began).Round(time.Millisecond))
}

// Close closes the journal; appends after it fail. Run must have returned.
func (in *Inbox) Close() error {
	in.building.Wait()
	return in.j.Close()
}
