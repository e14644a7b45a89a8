package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/store"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// TestEventsByReason checks that the reason index follows decisions when
// they are written, decided again, and written with actions that are not
// JSON, which must not fail the worker's transaction.
func TestEventsByReason(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	defer st.Close()
	var seqs []int64
	for _, id := range []string{"evt_1", "evt_2"} {
		res, err := st.Append(ctx, event(id, `{"id":"`+id+`"}`))
		require.NoError(t, err)
		seqs = append(seqs, res.Seq)
	}
	decide := func(seq int64, actions string) {
		t.Helper()
		require.NoError(t, st.Apply(ctx, &store.Changes{
			Outcomes:  []store.Outcome{{Seq: seq, Status: engine.StatusProcessed, Type: "delta.verified"}},
			Decisions: []store.Decision{{EventSeq: seq, Revision: "r1", Input: []byte("{}"), Actions: []byte(actions)}},
		}))
	}
	matching := func(q store.EventQuery) []int64 {
		t.Helper()
		evs, total, err := st.Events(ctx, q)
		require.NoError(t, err)
		require.Equal(t, len(evs), total)
		out := []int64{}
		for _, ev := range evs {
			out = append(out, ev.Seq)
		}
		return out
	}
	yes, no := true, false

	decide(seqs[0], `[{"type":"alert","reason":"period_drift"},{"type":"alert","reason":"unmatched_delta"}]`)
	decide(seqs[1], `[]`)
	require.Equal(t, []int64{seqs[0]}, matching(store.EventQuery{Reason: "unmatched_delta"}))
	require.Equal(t, []int64{seqs[0]}, matching(store.EventQuery{HasActions: &yes}))
	require.Equal(t, []int64{seqs[1]}, matching(store.EventQuery{HasActions: &no}))

	decide(seqs[0], `[{"type":"alert","reason":"period_drift"}]`) // decided again
	require.Equal(t, []int64{}, matching(store.EventQuery{Reason: "unmatched_delta"}))
	require.Equal(t, []int64{seqs[0]}, matching(store.EventQuery{Reason: "period_drift"}))

	decide(seqs[1], `not json`)
	require.Equal(t, []int64{seqs[1]}, matching(store.EventQuery{HasActions: &no}))
	require.Equal(t, []int64{seqs[1], seqs[0]}, matching(store.EventQuery{Desc: true}))

	var records []store.DecisionRecord
	require.NoError(t, st.EachDecision(ctx, store.EventQuery{EventIDs: []string{"evt_1", "evt_2"}, AfterSeq: seqs[0]},
		func(d store.DecisionRecord) error { records = append(records, d); return nil }))
	require.Equal(t, 1, len(records))
	require.Equal(t, "evt_2", records[0].EventID)
	require.Equal(t, "not json", string(records[0].Actions))
}

// TestEventsByTimeAndID: the inbox has no index on received_at or on a bare
// event id, so time ranges are narrowed to seq ranges and ids looked up per
// endpoint. Arrival times out of commit order (as concurrent requests
// commit them) must still select exactly the events received in range.
func TestEventsByTimeAndID(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	defer st.Close()
	base := time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	type got struct {
		seq      int64
		endpoint string
		at       time.Time
	}
	var all []got
	for i := range 300 {
		ev := event(fmt.Sprint("evt_", i), fmt.Sprint(`{"i":`, i, `}`))
		if i%3 == 0 {
			ev.Endpoint = "other"
		}
		// a second per event, arriving up to a minute out of order
		ev.ReceivedAt = base.Add(time.Duration(i)*time.Second + time.Duration(rng.IntN(120)-60)*time.Second)
		res, err := st.Append(ctx, ev)
		require.NoError(t, err)
		all = append(all, got{res.Seq, ev.Endpoint, ev.ReceivedAt.Truncate(time.Microsecond)})
	}
	for _, tc := range []struct {
		from, to time.Duration
		endpoint string
	}{{0, 0, ""}, {10 * time.Second, 50 * time.Second, ""}, {-time.Hour, 30 * time.Second, ""},
		{150 * time.Second, 0, ""}, {100 * time.Second, 200 * time.Second, "other"}, {290 * time.Second, time.Hour, "pacspace"},
		{time.Hour, 2 * time.Hour, ""}} {
		q := store.EventQuery{Endpoint: tc.endpoint}
		var from, to time.Time
		if tc.from != 0 {
			from = base.Add(tc.from)
			q.From = from
		}
		if tc.to != 0 {
			to = base.Add(tc.to)
			q.To = to
		}
		want := []int64{}
		for _, g := range all {
			if (from.IsZero() || !g.at.Before(from)) && (to.IsZero() || g.at.Before(to)) &&
				(tc.endpoint == "" || g.endpoint == tc.endpoint) {
				want = append(want, g.seq)
			}
		}
		evs, total, err := st.Events(ctx, q)
		require.NoError(t, err)
		have := []int64{}
		for _, ev := range evs {
			have = append(have, ev.Seq)
		}
		require.Equal(t, want, have, "from %v to %v endpoint %q", tc.from, tc.to, tc.endpoint)
		require.Equal(t, len(want), total)
		page, total, err := st.Events(ctx, store.EventQuery{Endpoint: q.Endpoint, From: q.From, To: q.To, Limit: 7, Offset: 3, Desc: true})
		require.NoError(t, err)
		require.Equal(t, len(want), total)
		if len(want) > 3 {
			require.Equal(t, want[len(want)-4], page[0].Seq)
		}
	}

	evs, _, err := st.Events(ctx, store.EventQuery{EventIDs: []string{"evt_3", "evt_4", "evt_none"}})
	require.NoError(t, err)
	require.Equal(t, 2, len(evs))
	require.Equal(t, "other", evs[0].Endpoint)
	require.Equal(t, "pacspace", evs[1].Endpoint)
	evs, _, err = st.Events(ctx, store.EventQuery{EventIDs: []string{"evt_3"}, Endpoint: "pacspace"})
	require.NoError(t, err)
	require.Equal(t, 0, len(evs))
}
