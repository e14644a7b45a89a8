package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/store"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

func openStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{Path: filepath.Join(dir, "arbiter.db")})
	require.NoError(t, err)
	return st
}

func event(id, body string) *engine.Event {
	return &engine.Event{
		Endpoint: "pacspace", EventID: id, Digest: "d-" + body, Scheme: engine.SchemeV1,
		Headers: map[string]string{"X-Event-ID": id}, Body: []byte(body), ReceivedAt: time.Now(),
	}
}

func TestAppendDedupes(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	defer st.Close()

	tests := []struct {
		name string
		ev   *engine.Event
		dup  bool
	}{
		{"new", event("evt_1", `{"a":1}`), false},
		{"same id", event("evt_1", `{"a":2}`), true},
		{"same body new id", event("evt_2", `{"a":1}`), true},
		{"other endpoint same id", func() *engine.Event { e := event("evt_1", `{"a":1}`); e.Endpoint = "other"; return e }(), false},
		{"new again", event("evt_3", `{"a":3}`), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := st.Append(ctx, tc.ev)
			require.NoError(t, err)
			require.Equal(t, tc.dup, res.Duplicate)
			require.True(t, tc.dup == (res.Seq == 0), "seq", res.Seq)
		})
	}
	stats, err := st.InboxStats(ctx)
	require.NoError(t, err)
	require.Equal(t, engine.InboxStats{Events: 3, Pending: 3}, stats)
}

func TestAppendKeepsEverything(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	defer st.Close()
	in := event("evt_keep", `{"event":"test"}`)
	res, err := st.Append(ctx, in)
	require.NoError(t, err)
	got, err := st.Event(ctx, res.Seq)
	require.NoError(t, err)
	require.Equal(t, in.Body, got.Body)
	require.Equal(t, in.Headers, got.Headers)
	require.Equal(t, in.Scheme, got.Scheme)
	require.Equal(t, engine.StatusReceived, got.Status)
	require.Equal(t, in.ReceivedAt.UnixMicro(), got.ReceivedAt.UnixMicro())
	_, err = st.Event(ctx, res.Seq+100)
	require.ErrorIs(t, err, engine.ErrNotFound)
}

// TestAppendHammer appends concurrently, with every event sent twice, and
// checks each is stored once and dedupe survives a reopen.
func TestAppendHammer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, dir)
	const workers, perWorker = 32, 50
	var wg sync.WaitGroup
	dups := make([]int, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				id := fmt.Sprintf("evt_%d_%d", w, i)
				for range 2 {
					res, err := st.Append(ctx, event(id, id))
					if err != nil {
						t.Error(err)
						return
					}
					if res.Duplicate {
						dups[w]++
					}
				}
			}
		}()
	}
	wg.Wait()
	for w, d := range dups {
		require.Equal(t, perWorker, d, "worker", w)
	}
	// The kept count of stored events leaves the duplicates out, and a
	// restart counts the same.
	stats, err := st.InboxStats(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(workers*perWorker), stats.Events)
	require.NoError(t, st.Close())

	st = openStore(t, dir)
	defer st.Close()
	stats, err = st.InboxStats(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(workers*perWorker), stats.Events)
	require.Equal(t, int64(workers*perWorker), stats.Pending)
	res, err := st.Append(ctx, event("evt_0_0", "fresh body"))
	require.NoError(t, err)
	require.True(t, res.Duplicate, "event id dedupe must survive a restart")
}

func TestAppendAfterClose(t *testing.T) {
	st := openStore(t, t.TempDir())
	require.NoError(t, st.Close())
	_, err := st.Append(context.Background(), event("x", "x"))
	require.ErrorIs(t, err, store.ErrClosed)
}

func TestEndpoints(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	defer st.Close()
	_, err := st.Endpoint(ctx, "pacspace")
	require.ErrorIs(t, err, engine.ErrNotFound)
	exp := time.Now().Add(time.Hour).Truncate(time.Microsecond).UTC()
	ep := engine.Endpoint{Name: "pacspace", Enabled: true, AllowLegacy: false,
		Secrets: []engine.Secret{{Value: "whsec_one_1234567890"}, {Value: "whsec_two_1234567890", ExpiresAt: exp}}}
	require.NoError(t, st.PutEndpoint(ctx, ep))
	got, err := st.Endpoint(ctx, "pacspace")
	require.NoError(t, err)
	require.Equal(t, ep.Secrets, got.Secrets)
	require.Equal(t, true, got.Enabled)
	require.Equal(t, false, got.AllowLegacy)

	ep.Enabled = false
	require.NoError(t, st.PutEndpoint(ctx, ep))
	list, err := st.Endpoints(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, len(list))
	require.Equal(t, false, list[0].Enabled)
	require.Equal(t, got.CreatedAt, list[0].CreatedAt)
}

// BenchmarkAppend measures durable appends from 16 × GOMAXPROCS concurrent
// callers, and reports their latency quantiles.
//
//	go test -run '^$' -bench Append -benchtime 20000x -count 3 ./engine/store
func BenchmarkAppend(b *testing.B) {
	st := openStore(b, b.TempDir())
	defer st.Close()
	body := make([]byte, 600)
	b.SetParallelism(16)
	var (
		n     atomic.Int64
		mu    sync.Mutex
		taken []time.Duration
	)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			id := "evt_" + strconv.FormatInt(n.Add(1), 10)
			ev := &engine.Event{Endpoint: "pacspace", EventID: id, Digest: id, Scheme: engine.SchemeV1, Body: body, ReceivedAt: time.Now()}
			began := time.Now()
			if _, err := st.Append(context.Background(), ev); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(began))
		}
		mu.Lock()
		taken = append(taken, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	slices.Sort(taken)
	if len(taken) > 0 {
		b.ReportMetric(float64(taken[len(taken)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(taken[len(taken)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(taken[len(taken)-1].Microseconds())/1000, "max-ms")
	}
}

// BenchmarkLoadJournal measures the inbox loader's write: journaled events
// stored in batches of 64 with the journal checkpoint, one transaction
// (and, with the default sync, one fsync) a batch. Per event.
//
//	go test -run '^$' -bench LoadJournal -benchmem -count 3 ./engine/store
func BenchmarkLoadJournal(b *testing.B) {
	st := openStore(b, b.TempDir())
	defer st.Close()
	const batch = 64
	body := make([]byte, 600)
	headers := map[string]string{"Content-Type": "application/json", "X-Event-Id": "", "X-Pacspace-Signature": "t=1,v1=00"}
	evs := make([]*engine.Event, 0, batch)
	var through uint64
	flush := func() {
		if _, err := st.LoadJournal(context.Background(), evs, through); err != nil {
			b.Fatal(err)
		}
		evs = evs[:0]
	}
	b.ReportAllocs()
	for i := range b.N {
		id := fmt.Sprintf("evt_%016d", i)
		through++
		evs = append(evs, &engine.Event{Endpoint: "pacspace", EventID: id, Digest: fmt.Sprintf("%064d", i),
			Scheme: engine.SchemeV1, Headers: headers, Body: body, ReceivedAt: time.Now()})
		if len(evs) == batch {
			flush()
		}
	}
	if len(evs) > 0 {
		flush()
	}
}
