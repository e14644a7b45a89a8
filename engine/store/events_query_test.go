package store_test

import (
	"context"
	"testing"

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
