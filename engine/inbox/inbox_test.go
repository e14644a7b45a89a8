package inbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/store"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

type env struct {
	t     testing.TB
	dir   string
	store *store.Store
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	e.openStore()
	t.Cleanup(func() { e.store.Close() })
	return e
}

func (e *env) openStore() {
	st, err := store.Open(context.Background(), store.Config{Path: filepath.Join(e.dir, "arbiter.db")})
	require.NoError(e.t, err)
	e.store = st
}

func (e *env) open(cfg Config) *Inbox {
	e.t.Helper()
	cfg.Dir = filepath.Join(e.dir, "journal")
	if cfg.SegmentBytes == 0 {
		cfg.SegmentBytes = 1 << 20
	}
	in, err := Open(context.Background(), cfg, e.store)
	require.NoError(e.t, err)
	return in
}

func (e *env) count() int {
	e.t.Helper()
	st, err := e.store.InboxStats(context.Background())
	require.NoError(e.t, err)
	return int(st.Events)
}

func event(id, body string) *engine.Event {
	sum := sha256.Sum256([]byte(body))
	return &engine.Event{
		Endpoint: "pacspace", EventID: id, Digest: hex.EncodeToString(sum[:]), Scheme: engine.SchemeV1,
		Headers: map[string]string{"X-Event-ID": id, "Content-Type": "application/json"}, Body: []byte(body),
		ReceivedAt: time.UnixMicro(time.Now().UnixMicro()).UTC(),
	}
}

func appendOK(t testing.TB, in *Inbox, ev *engine.Event) engine.AppendResult {
	t.Helper()
	res, err := in.Append(context.Background(), ev)
	require.NoError(t, err, ev.EventID)
	return res
}

// waitFilter waits for the background build of the dedupe filter.
func waitFilter(in *Inbox) { in.building.Wait() }

func TestAppendLoadAndDedupe(t *testing.T) {
	e := newEnv(t)
	var loaded atomic.Int64
	in := e.open(Config{Loaded: func() { loaded.Add(1) }})
	waitFilter(in)
	ctx := context.Background()

	dupes := func(stage string) {
		t.Helper()
		for _, ev := range []*engine.Event{
			event("evt_1", `{"n":99}`),     // same id
			event("evt_replay", `{"n":1}`), // same body under a new id
			func() *engine.Event { ev := event("evt_2", `{"n":2}`); return ev }(),
		} {
			require.True(t, appendOK(t, in, ev).Duplicate, stage, ev.EventID)
		}
	}
	require.False(t, appendOK(t, in, event("evt_1", `{"n":1}`)).Duplicate)
	require.False(t, appendOK(t, in, event("evt_2", `{"n":2}`)).Duplicate)
	other := event("evt_1", `{"n":1}`)
	other.Endpoint = "other"
	require.False(t, appendOK(t, in, other).Duplicate, "another endpoint's id and body are its own")
	require.Equal(t, uint64(3), in.Backlog())
	dupes("journaled, not loaded")

	require.NoError(t, in.Drain(ctx))
	require.Equal(t, uint64(0), in.Backlog())
	require.Equal(t, 3, e.count())
	require.True(t, loaded.Load() > 0, "Loaded called")
	dupes("loaded")

	// The stored event reads back as it was journaled.
	got, err := e.store.Event(ctx, 1)
	require.NoError(t, err)
	want := event("evt_1", `{"n":1}`)
	require.Equal(t, want.EventID, got.EventID)
	require.Equal(t, want.Digest, got.Digest)
	require.Equal(t, string(want.Body), string(got.Body))
	require.Equal(t, want.Headers, got.Headers)
	require.Equal(t, engine.SchemeV1, got.Scheme)

	// After a restart the filter comes from the store.
	require.NoError(t, in.Close())
	in = e.open(Config{})
	defer in.Close()
	waitFilter(in)
	dupes("after restart")
	require.False(t, appendOK(t, in, event("evt_3", `{"n":3}`)).Duplicate)
	require.Equal(t, 3, e.count(), "nothing stored by duplicates")
}

// A dedupe filter that is not built yet asks the store for every event.
func TestDedupeBeforeFilterIsBuilt(t *testing.T) {
	e := newEnv(t)
	in := e.open(Config{})
	appendOK(t, in, event("evt_1", `{"n":1}`))
	require.NoError(t, in.Drain(context.Background()))
	waitFilter(in)
	in.dd.mu.Lock()
	in.dd.filter = nil
	in.dd.mu.Unlock()
	require.True(t, appendOK(t, in, event("evt_1", `{"x":1}`)).Duplicate)
	require.True(t, appendOK(t, in, event("evt_other", `{"n":1}`)).Duplicate)
	require.False(t, appendOK(t, in, event("evt_2", `{"n":2}`)).Duplicate)
	require.NoError(t, in.Close())
}

// A filter that holds more keys than it was sized for is rebuilt from the
// store, and keeps answering for every stored event.
func TestFilterRebuildsWhenFull(t *testing.T) {
	e := newEnv(t)
	in := e.open(Config{})
	defer in.Close()
	waitFilter(in)
	for i := range 3 {
		appendOK(t, in, event(fmt.Sprint("evt_", i), fmt.Sprint(i)))
	}
	require.NoError(t, in.Drain(context.Background()))
	in.dd.mu.Lock()
	first := in.dd.filter
	in.dd.capacity = 1 // as if sized for far fewer events
	in.dd.mu.Unlock()

	appendOK(t, in, event("evt_3", "3"))
	require.NoError(t, in.Drain(context.Background())) // finds the filter full: rebuilds it
	waitFilter(in)
	in.dd.mu.Lock()
	rebuilt, capacity, keys := in.dd.filter, in.dd.capacity, in.dd.keys
	in.dd.mu.Unlock()
	require.True(t, rebuilt != first, "a new filter")
	require.True(t, capacity >= minFilterKeys, capacity)
	require.Equal(t, uint(8), keys, "two keys for each of the four stored events")
	for i := range 4 {
		require.True(t, appendOK(t, in, event(fmt.Sprint("evt_", i), "other")).Duplicate, i)
		require.True(t, appendOK(t, in, event(fmt.Sprint("new_", i), fmt.Sprint(i))).Duplicate, i)
	}
}

// Acknowledged events that were never loaded are loaded after a restart,
// each once, and are duplicates meanwhile.
func TestRestartLoadsTheBacklogOnce(t *testing.T) {
	e := newEnv(t)
	in := e.open(Config{BatchSize: 7})
	const n = 50
	for i := range n {
		appendOK(t, in, event(fmt.Sprint("evt_", i), fmt.Sprintf(`{"n":%d}`, i)))
	}
	// Load part of it, then stop as a crash would: no drain.
	require.NoError(t, in.loadBatch(context.Background()))
	require.NoError(t, in.Close())
	require.Equal(t, 7, e.count())

	in = e.open(Config{BatchSize: 7})
	require.Equal(t, uint64(n-7), in.Backlog())
	for i := range n {
		require.True(t, appendOK(t, in, event(fmt.Sprint("evt_", i), `{}`)).Duplicate, i)
	}
	require.NoError(t, in.Drain(context.Background()))
	require.Equal(t, n, e.count())
	ck, err := e.store.JournalCheckpoint(context.Background())
	require.NoError(t, err)
	require.Equal(t, uint64(n), ck)
	require.NoError(t, in.Close())

	in = e.open(Config{})
	require.Equal(t, uint64(0), in.Backlog())
	require.NoError(t, in.Drain(context.Background()))
	require.Equal(t, n, e.count())
	require.NoError(t, in.Close())
}

// Of many concurrent deliveries of one event exactly one is new.
func TestConcurrentDuplicates(t *testing.T) {
	e := newEnv(t)
	in := e.open(Config{})
	defer in.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	var fresh atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 40 {
				ev := event(fmt.Sprint("evt_", i), fmt.Sprintf(`{"n":%d}`, i))
				if g%2 == 1 {
					ev.EventID = fmt.Sprint("evt_replay_", g, "_", i) // same body, new id
				}
				res, err := in.Append(ctx, ev)
				require.NoError(t, err)
				if !res.Duplicate {
					fresh.Add(1)
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, int64(40), fresh.Load())
	cancel()
	require.NoError(t, <-done)
	require.NoError(t, in.Drain(context.Background()))
	require.Equal(t, 40, e.count())
}

func TestBacklogLimit(t *testing.T) {
	e := newEnv(t)
	in := e.open(Config{MaxBacklog: 3})
	defer in.Close()
	for i := range 3 {
		appendOK(t, in, event(fmt.Sprint("evt_", i), fmt.Sprint(i)))
	}
	_, err := in.Append(context.Background(), event("evt_3", "3"))
	require.ErrorIs(t, err, engine.ErrInboxFull)
	require.NoError(t, in.Drain(context.Background()))
	require.False(t, appendOK(t, in, event("evt_3", "3")).Duplicate, "accepted once the backlog shrank")
}

// The loader gives way to a stream of acknowledgements while the backlog
// is over a batch, for at most MaxLag, then catches up until it is under a
// batch again.
func TestLoaderGivesWayToAcknowledgements(t *testing.T) {
	e := newEnv(t)
	in := e.open(Config{BatchSize: 10, MaxLag: time.Second, MaxBacklog: 1000})
	defer in.Close()
	t0 := time.Now()

	in.peak.Store(busy - 1)
	require.False(t, in.wait(200, t0), "a trickle: load")
	in.peak.Store(busy)
	require.True(t, in.wait(200, t0), "a burst: wait")
	require.True(t, in.wait(200, t0.Add(window)), "still a burst: a commit has just let its waiters go")
	require.True(t, in.wait(200, t0.Add(2*window)), "the window before saw the burst")
	require.False(t, in.wait(200, t0.Add(3*window)), "a pause in the burst: load")
	t0 = t0.Add(3 * window)

	in.peak.Store(busy)
	require.True(t, in.wait(200, t0.Add(2*time.Second)), "a burst again: wait")
	require.False(t, in.wait(300, t0.Add(3*time.Second)), "waited MaxLag: catch up")
	require.False(t, in.wait(100, t0.Add(3*time.Second)), "catching up until under a batch")
	require.False(t, in.wait(10, t0.Add(3*time.Second)), "under a batch")
	in.peak.Store(busy)
	require.True(t, in.wait(11, t0.Add(3*time.Second)), "caught up: waits again")
	require.False(t, in.wait(500, t0.Add(3*time.Second)), "half of MaxBacklog: catch up")

	never := e.open(Config{BatchSize: 10})
	defer never.Close()
	never.peak.Store(busy)
	require.False(t, never.wait(500, t0), "MaxLag 0: never waits")
}

// A journal that ends before the store's checkpoint (another database's,
// or one a power cut set back under store.sync normal) holds nothing the
// store lacks: the inbox loads none of it and numbers on after the
// checkpoint. One that is missing records the store has not loaded is
// refused.
func TestJournalMustMatchTheStore(t *testing.T) {
	e := newEnv(t)
	in := e.open(Config{})
	for i := range 3 {
		appendOK(t, in, event(fmt.Sprint("evt_", i), fmt.Sprint(i)))
	}
	require.NoError(t, in.Close())

	other := newEnv(t)
	in = other.open(Config{})
	for i := range 5 {
		appendOK(t, in, event(fmt.Sprint("o_", i), fmt.Sprint("o", i)))
	}
	require.NoError(t, in.Drain(context.Background()))
	require.NoError(t, in.Close())

	// other's store has loaded up to 5; e's journal ends at 3.
	in, err := Open(context.Background(), Config{Dir: filepath.Join(e.dir, "journal")}, other.store)
	require.NoError(t, err)
	require.Equal(t, uint64(0), in.Backlog())
	appendOK(t, in, event("o_5", "o5"))
	require.NoError(t, in.Drain(context.Background()))
	require.Equal(t, 6, other.count())
	ck, err := other.store.JournalCheckpoint(context.Background())
	require.NoError(t, err)
	require.Equal(t, uint64(6), ck)
	require.NoError(t, in.Close())

	// other's own journal ends at 5, before the checkpoint: it starts over
	// at 7. A new store has loaded none of 1-6.
	in = other.open(Config{})
	require.Equal(t, uint64(7), in.j.First())
	appendOK(t, in, event("o_6", "o6"))
	require.NoError(t, in.Drain(context.Background()))
	require.Equal(t, 7, other.count())
	require.NoError(t, in.Close())
	fresh := newEnv(t)
	_, err = Open(context.Background(), Config{Dir: filepath.Join(other.dir, "journal")}, fresh.store)
	require.True(t, err != nil, "a journal missing records the store has not loaded")
	require.Contains(t, err.Error(), "are missing")
}

func TestRecordRoundTrip(t *testing.T) {
	ev := event("evt_1", `{"a":[1,2,3]}`)
	ev.Scheme = engine.SchemeLegacy
	got, err := decodeEvent(encodeEvent(nil, ev))
	require.NoError(t, err)
	ev.Status = engine.StatusReceived
	require.Equal(t, ev, got)

	noHeaders := event("evt_2", "")
	noHeaders.Headers = nil
	got, err = decodeEvent(encodeEvent(nil, noHeaders))
	require.NoError(t, err)
	require.Equal(t, 0, len(got.Headers))
	require.Equal(t, 0, len(got.Body))
}

func FuzzDecodeEvent(f *testing.F) {
	f.Add(encodeEvent(nil, event("evt_1", `{"a":1}`)))
	f.Add([]byte{recordVersion, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := decodeEvent(b)
		if err != nil {
			return
		}
		again, err := decodeEvent(encodeEvent(nil, ev))
		require.NoError(t, err)
		require.Equal(t, ev.EventID, again.EventID)
		require.Equal(t, string(ev.Body), string(again.Body))
	})
}

// BenchmarkAppend is the acknowledgement's share of the inbox: dedupe and a
// journal append, 32 goroutines as the load generator's connections.
func BenchmarkAppend(b *testing.B) {
	e := newEnv(b)
	in := e.open(Config{SegmentBytes: 16 << 20, MaxBacklog: 1 << 30, MaxLag: time.Hour})
	defer in.Close()
	waitFilter(in)
	body := make([]byte, 600)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	var next atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			ev := event(fmt.Sprint("evt_", n), fmt.Sprintf(`{"n":%d,"pad":"%s"}`, n, body))
			if _, err := in.Append(context.Background(), ev); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// damage changes a byte of the event whose body is body, in the journal's
// first segment.
func (e *env) damage(body string) {
	e.t.Helper()
	seg := filepath.Join(e.dir, "journal", fmt.Sprintf("%020d.journal", 1))
	data, err := os.ReadFile(seg)
	require.NoError(e.t, err)
	at := bytes.Index(data, []byte(body))
	require.True(e.t, at > 0, "the event is in the segment", body)
	data[at+2] ^= 0x20
	require.NoError(e.t, os.WriteFile(seg, data, 0o600))
}

// A damaged record the store has already loaded costs nothing: the inbox
// opens, and what comes after loads as before.
func TestDamageTheStoreHasLoaded(t *testing.T) {
	e := newEnv(t)
	in := e.open(Config{})
	for i := range 50 {
		appendOK(t, in, event(fmt.Sprint("evt_", i), fmt.Sprintf(`{"n":%d}`, i)))
	}
	require.NoError(t, in.Drain(context.Background()))
	require.NoError(t, in.Close())
	e.damage(`{"n":19}`)

	in = e.open(Config{})
	defer in.Close()
	require.Equal(t, uint64(0), in.Backlog())
	appendOK(t, in, event("evt_50", `{"n":50}`))
	require.NoError(t, in.Drain(context.Background()))
	require.Equal(t, 51, e.count())
}

// An acknowledged event the journal lost to damage before it was loaded
// is counted and logged, and the checkpoint moves past it: the events
// after it load.
func TestDamageBeforeTheLoad(t *testing.T) {
	e := newEnv(t)
	reg := prometheus.NewRegistry()
	in := e.open(Config{})
	for i := range 10 {
		appendOK(t, in, event(fmt.Sprint("evt_", i), fmt.Sprintf(`{"n":%d}`, i)))
	}
	require.NoError(t, in.Close())
	e.damage(`{"n":4}`)

	in = e.open(Config{Registerer: reg})
	defer in.Close()
	require.Equal(t, uint64(10), in.Backlog())
	require.NoError(t, in.Drain(context.Background()))
	require.Equal(t, 9, e.count())
	ck, err := e.store.JournalCheckpoint(context.Background())
	require.NoError(t, err)
	require.Equal(t, uint64(10), ck)
	require.Equal(t, 1.0, counterValue(t, reg, "arbiter_inbox_lost_total"))
}

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// An empty journal beside a store whose checkpoint is ahead (the journal
// directory was lost, or replaced by a new one) numbers on from the
// checkpoint: events acknowledged into it and not loaded before a crash
// load after it, instead of wedging every later start.
func TestEmptyJournalNumbersOnFromTheCheckpoint(t *testing.T) {
	e := newEnv(t)
	in := e.open(Config{})
	for i := range 5 {
		appendOK(t, in, event(fmt.Sprint("evt_", i), fmt.Sprint(i)))
	}
	require.NoError(t, in.Drain(context.Background()))
	require.NoError(t, in.Close())
	require.NoError(t, os.RemoveAll(filepath.Join(e.dir, "journal")))

	in = e.open(Config{})
	for i := 5; i < 8; i++ {
		appendOK(t, in, event(fmt.Sprint("evt_", i), fmt.Sprint(i)))
	}
	require.NoError(t, in.Close()) // a crash before the first load

	in = e.open(Config{})
	defer in.Close()
	require.Equal(t, uint64(3), in.Backlog())
	require.NoError(t, in.Drain(context.Background()))
	require.Equal(t, 8, e.count())
}

// syncStore is the real store; at each Sync it notes the checkpoint that
// Sync makes durable and the journal segments still there.
type syncStore struct {
	*store.Store
	dir   string
	syncs []syncPoint
}

type syncPoint struct {
	ck   uint64
	segs []string
}

func (s *syncStore) Sync(ctx context.Context) error {
	ck, err := s.JournalCheckpoint(ctx)
	if err != nil {
		return err
	}
	segs, err := filepath.Glob(filepath.Join(s.dir, "*.journal"))
	if err != nil {
		return err
	}
	s.syncs = append(s.syncs, syncPoint{ck, segs})
	return s.Store.Sync(ctx)
}

// With store.sync normal the checkpoint's commit is not fsynced: a journal
// segment it covers may only be deleted once Sync has made it durable, or
// a power cut leaves the store's checkpoint before segments already gone.
func TestNoSyncDeletesOnlyWhatTheStoreMadeDurable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, store.Config{Path: filepath.Join(dir, "arbiter.db"), Sync: store.SyncNormal})
	require.NoError(t, err)
	defer st.Close()
	ss := &syncStore{Store: st, dir: filepath.Join(dir, "journal")}
	in, err := Open(ctx, Config{Dir: ss.dir, NoSync: true, SegmentBytes: 4096, BatchSize: 10}, ss)
	require.NoError(t, err)
	defer in.Close()
	for i := range 100 {
		appendOK(t, in, event(fmt.Sprint("evt_", i), fmt.Sprintf(`{"n":%d,"pad":"%0200d"}`, i, i)))
	}
	before, err := filepath.Glob(filepath.Join(ss.dir, "*.journal"))
	require.NoError(t, err)
	require.True(t, len(before) > 3, len(before))
	require.NoError(t, in.Drain(ctx))
	after, err := filepath.Glob(filepath.Join(ss.dir, "*.journal"))
	require.NoError(t, err)
	require.True(t, len(after) < len(before), "segments were deleted")
	for i, seg := range before[:len(before)-1] {
		if slices.Contains(after, seg) {
			continue
		}
		var next uint64
		_, err := fmt.Sscanf(filepath.Base(before[i+1]), "%020d.journal", &next)
		require.NoError(t, err)
		durable := slices.ContainsFunc(ss.syncs, func(p syncPoint) bool {
			return p.ck >= next-1 && slices.Contains(p.segs, seg)
		})
		require.True(t, durable, "deleted before a Sync made a checkpoint covering it durable", seg)
	}
}
