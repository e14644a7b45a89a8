package arbiter.rules_test

import data.arbiter.rules

_drift_input(ours, pacspace) := {
	"event": {"id": "evt_1", "type": "delta.verified"},
	"delta": {"customerId": "cus_1", "referenceId": "ref_1", "amount": 10, "deltaIndex": 1},
	"period": {"id": "2026-04", "netDelta": pacspace},
	"derived": {},
	"state": {"record": null, "period": {"ours": ours}, "throttle": {"active": false}},
}

# Tests pin the thresholds they assume, so that they hold whatever data.json
# an operator's copy of the policy set ships.
_drift_fired(inp) := _drift_fired_at(inp, 0.01)

_drift_fired_at(inp, threshold) := {a |
	all := rules.actions with input as inp with data.thresholds.drift as threshold
	some a in all
	a.reason == "period_drift"
}

test_drift_above_threshold_alerts if {
	_drift_fired(_drift_input(1234.5, 1234)) == {{
		"type": "alert",
		"reason": "period_drift",
		"severity": "high",
		"customerId": "cus_1",
		"periodId": "2026-04",
		"ours": 1234.5,
		"pacspace": 1234,
		"drift": 0.5,
	}}
}

test_drift_either_direction if {
	[a] := [a | some a in _drift_fired(_drift_input(100, 100.25))]
	a.drift == 0.25
}

test_drift_just_above_threshold if {
	[a] := [a | some a in _drift_fired(_drift_input(100.02, 100))]
	a.drift == 0.02
}

test_drift_at_threshold_is_quiet if {
	# 100.01 - 100 is 0.010000000000000002 in binary floating point.
	count(_drift_fired(_drift_input(100.01, 100))) == 0
	count(_drift_fired(_drift_input(0.01, 0))) == 0
}

test_drift_below_threshold_is_quiet if {
	count(_drift_fired(_drift_input(100.005, 100))) == 0
	count(_drift_fired(_drift_input(1234.5, 1234.5))) == 0
}

test_drift_threshold_is_data if {
	count(_drift_fired_at(_drift_input(1234.5, 1234), 0.5)) == 0
	count(_drift_fired_at(_drift_input(1234.5, 1234), 0.49)) == 1
}

test_drift_without_delta if {
	inp := json.remove(_drift_input(5, 1), ["delta"])
	[a] := [a | some a in _drift_fired(inp)]
	a.customerId == null
	a.drift == 4
}

test_drift_needs_both_totals if {
	count(_drift_fired(json.remove(_drift_input(5, 1), ["period"]))) == 0
	count(_drift_fired(json.remove(_drift_input(5, 1), ["state/period"]))) == 0
	count(_drift_fired(json.remove(_drift_input(5, 1), ["period/netDelta"]))) == 0
}
