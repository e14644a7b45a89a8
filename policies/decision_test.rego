package arbiter_test

import data.arbiter

_quiet_delta := {
	"version": "arbiter.input/v1",
	"event": {"id": "evt_q", "type": "delta.verified", "receivedAt": "2026-04-10T12:00:00Z", "endpoint": "pacspace", "scheme": "v1", "shape": "delta"},
	"delta": {"customerId": "cus_1", "referenceId": "ref_1", "amount": 10, "deltaIndex": 42, "receiptId": "rcpt_1"},
	"verification": {"verified": true, "discrepancies": [], "latencyMs": 840},
	"proof": {"proofHash": "h2", "previousProofHash": "h1"},
	"period": {"id": "2026-04", "netDelta": 100},
	"usage": {"consumedDeltas": 5120, "includedDeltas": 10000, "remainingDeltas": 4880, "overageRate": 0.002},
	"derived": {"utilization": 51.2},
	"state": {
		"record": {"referenceId": "ref_1", "customerId": "cus_1", "amount": 10, "periodId": "2026-04", "time": "2026-04-10T11:59:00Z"},
		"chain": {"status": "linked", "head": "h1", "length": 41, "expected": "h1", "received": "h1"},
		"period": {"ours": 100},
		"throttle": {"active": false},
	},
}

# Tests pin the data they assume (the shipped thresholds, everything routed
# to console) so that they hold whatever data.json an operator's copy of the
# policy set ships.
_thresholds := {
	"drift": 0.01,
	"discrepancy_ratio": 0.01,
	"utilization_pct": 90,
	"remaining_deltas": 100,
	"low_balance": 1000,
	"verification_latency_ms": 5000,
	"batch_latency_ms": 30000,
}

_decide(inp) := _decide_routed(inp, [])

_decide_routed(inp, routes) := d if {
	d := arbiter.decision with input as inp
		with data.thresholds as _thresholds
		with data.routing as routes
		with data.routing_default as ["console"]
}

# _decide_custom decides with rules replaced by the actions _custom.
_decide_custom(inp) := d if {
	d := arbiter.decision with input as inp
		with data.arbiter.rules.actions as _custom
		with data.routing as []
		with data.routing_default as ["console"]
}

_everything_fires := object.union(_quiet_delta, {
	"verification": {"verified": false, "discrepancies": [{"field": "amount"}], "latencyMs": 7200},
	"period": {"netDelta": 127.25},
	"usage": {"consumedDeltas": 9950, "remainingDeltas": 50},
	"derived": {"utilization": 99.5},
	"state": {"record": null, "chain": {"status": "mismatch", "expected": "h1", "received": "hx"}},
})

test_decision_quiet_event_has_no_actions if {
	_decide(_quiet_delta) == {"actions": []}
}

test_decision_is_defined_for_any_input if {
	_decide({}) == {"actions": []}
	_decide({"event": {"id": "evt_u", "type": "ledger.rebalanced", "shape": "generic"}, "data": {"x": 1}, "derived": {}, "state": {"record": null, "throttle": {"active": false}}}) == {"actions": []}
	_decide({"event": {"id": "evt_t", "type": "test"}, "data": null, "state": {"record": null}}) == {"actions": []}
}

test_decision_unknown_event_type_still_runs_rules if {
	inp := object.union(_everything_fires, {"event": {"type": "delta.mystery"}})
	count(_decide(inp).actions) == 7
}

test_decision_orders_by_type_then_reason if {
	[[a.type, a.reason] | some a in _decide(_everything_fires).actions] == [
		["alert", "chain_discontinuity"],
		["alert", "period_drift"],
		["alert", "unmatched_delta"],
		["flag_for_review", "verification_failed"],
		["notify", "high_utilization"],
		["sla_violation", "verification_latency"],
		["throttle", "approaching_limit"],
	]
}

test_decision_adds_targets_and_event_id if {
	actions := _decide(_everything_fires).actions
	count(actions) == 7
	every a in actions {
		a.targets == ["console"]
		a.eventId == "evt_q"
	}
}

test_decision_uses_routing if {
	routes := [{"match": {"type": ["alert"], "severity": ["critical"]}, "targets": ["slack", "pagerduty"]}]
	targets := {a.reason: a.targets | some a in _decide_routed(_everything_fires, routes).actions}
	targets.chain_discontinuity == ["pagerduty", "slack"]
	targets.period_drift == ["console"]
	targets.approaching_limit == ["console"]
}

test_decision_keeps_rule_details if {
	[a] := [a | some a in _decide(_everything_fires).actions; a.reason == "period_drift"]
	a == {
		"type": "alert",
		"reason": "period_drift",
		"severity": "high",
		"customerId": "cus_1",
		"periodId": "2026-04",
		"ours": 100,
		"pacspace": 127.25,
		"drift": 27.25,
		"eventId": "evt_q",
		"targets": ["console"],
	}
}

_custom := {
	{"type": "notify", "reason": "b", "severity": "info", "n": 2},
	{"type": "alert", "reason": "z", "severity": "high"},
	{"type": "notify", "reason": "b", "severity": "info", "n": 1},
	{"type": "alert", "reason": "a", "severity": "critical", "eventId": "evt_own"},
	{"type": "notify", "reason": "a", "severity": "info"},
	{"severity": "info", "note": "no type or reason"},
}

test_decision_sort_is_stable_within_type_and_reason if {
	[[object.get(a, "type", ""), object.get(a, "reason", ""), object.get(a, "n", 0)] | some a in _decide_custom({"event": {"id": "evt_c"}}).actions] == [
		["", "", 0],
		["alert", "a", 0],
		["alert", "z", 0],
		["notify", "a", 0],
		["notify", "b", 1],
		["notify", "b", 2],
	]
}

test_decision_rule_event_id_wins if {
	ids := [a.eventId | some a in _decide_custom({"event": {"id": "evt_c"}}).actions]
	ids == ["evt_c", "evt_own", "evt_c", "evt_c", "evt_c", "evt_c"]
}

test_decision_without_event_id if {
	actions := _decide_custom({}).actions
	[a.eventId | some a in actions] == [null, "evt_own", null, null, null, null]
	every a in actions {
		a.targets == ["console"]
	}
}

# An operator who edits data.json must keep every key the rules read: a
# missing threshold would silently switch its rule off.
test_default_data_is_complete if {
	every key in ["drift", "discrepancy_ratio", "utilization_pct", "remaining_deltas", "low_balance", "verification_latency_ms", "batch_latency_ms"] {
		is_number(data.thresholds[key])
	}
	is_array(data.routing)
	every route in data.routing {
		is_array(route.targets)
	}
	is_array(data.routing_default)
}
