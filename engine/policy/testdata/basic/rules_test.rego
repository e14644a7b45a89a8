package arbiter.rules_test

import data.arbiter

_drifting := {"period": {"netDelta": 105}, "state": {"period": {"ours": 100}}}

test_drift_fires if {
	[a] := arbiter.decision.actions with input as _drifting
	a.reason == "period_drift"
	a.targets == ["console", "pager"]
}

test_small_drift_is_quiet if {
	arbiter.decision.actions == [] with input as {"period": {"netDelta": 100.5}, "state": {"period": {"ours": 100}}}
}

test_failed_verification_flags if {
	[a] := arbiter.decision.actions with input as {"verification": {"verified": false}}
	a.type == "flag_for_review"
}
