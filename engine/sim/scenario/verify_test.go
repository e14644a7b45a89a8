package scenario

import (
	"testing"

	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

func TestVerify(t *testing.T) {
	line := func(id string, k Kind, e int) Truth {
		return Truth{Scenario: "s1", EventID: id, Kind: k, Expect: expectations[k][e]}
	}
	truth := []Truth{
		line("evt_s1_1", ChainGap, 0),
		line("evt_s1_2", UsageLimit, 0),
		line("evt_s1_2", UsageLimit, 1),
		line("evt_s1_3", Reorder, 0),
		line("evt_s1_9", BadSignature, 0),
		line("evt_s1_10", Replay, 0),
	}
	outcomes := []Outcome{
		{EventID: "evt_s1_9", Kind: BadSignature, Expected: Answer{Rejected, "bad_signature"}, Got: Answer{Rejected, "bad_signature"}, Status: 401},
		{EventID: "evt_s1_10", Kind: Replay, Expected: Answer{Outcome: Duplicated}, Got: Answer{Outcome: Duplicated}, Status: 200},
	}
	act := func(typ, reason string) DecidedAction { return DecidedAction{Type: typ, Reason: reason} }
	events := func() []Decided {
		return []Decided{
			{ID: "evt_s1_1", Status: "processed", Actions: []DecidedAction{act("alert", "chain_discontinuity")}},
			{ID: "evt_s1_2", Status: "processed", Actions: []DecidedAction{act("notify", "high_utilization"), act("throttle", "approaching_limit")}},
			{ID: "evt_s1_3", Status: "processed", Actions: []DecidedAction{}},
			{ID: "evt_s1_4", Status: "processed", Actions: []DecidedAction{act("unthrottle", "usage_recovered")}},
			{ID: "evt_other_1", Status: "held", Actions: []DecidedAction{act("alert", "period_drift")}}, // another run's
		}
	}

	res := Verify(truth, outcomes, events())
	require.True(t, res.OK, res)
	require.Equal(t, 4, res.Events)
	require.Equal(t, 1, res.ThrottleLifts)
	require.Equal(t, 5, len(res.Kinds))
	for _, k := range res.Kinds {
		require.Equal(t, 1.0, k.Recall, k.Kind)
		require.Equal(t, k.Kind == Reorder, k.Precision == nil, k.Kind)
	}

	// A missed alert, a false one, a wrong answer and an undecided event.
	evs := events()
	evs[0].Actions = nil
	evs[2].Actions = []DecidedAction{act("alert", "period_drift")}
	evs = append(evs, Decided{ID: "evt_s1_5", Status: "held"})
	bad := append([]Outcome(nil), outcomes...)
	bad[0].Got = Answer{Outcome: Accepted}
	res = Verify(truth, bad, evs)
	require.True(t, !res.OK)
	require.Equal(t, 1, res.Pending)
	require.Equal(t, 3, len(res.Missed), res.Missed) // the gap, the reorder, the bad signature
	require.Equal(t, 1, len(res.False), res.False)   // the drift on the reordered event
	require.Equal(t, 1, len(res.Unexpected), res.Unexpected)
	for _, k := range res.Kinds {
		switch k.Kind {
		case ChainGap, Reorder, BadSignature:
			require.Equal(t, 0.0, k.Recall, k.Kind)
		default:
			require.Equal(t, 1.0, k.Recall, k.Kind)
		}
	}

	// Without a usage-limit fault, lifting a throttle is a false alert.
	res = Verify(truth[:1], nil, events()[:1:1])
	require.True(t, res.OK)
	res = Verify(truth[:1], nil, events()[3:4])
	require.Equal(t, 1, len(res.False))
	require.Equal(t, "usage_recovered", res.False[0].Reason)
}
