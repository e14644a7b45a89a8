package arbiter.rules_test

import data.arbiter.rules

_usage_input(usage, derived, throttle) := {
	"event": {"id": "evt_1", "type": "delta.verified"},
	"usage": usage,
	"derived": derived,
	"state": {"record": null, "throttle": throttle},
}

_usage_quiet := _usage_input({"consumedDeltas": 5120, "includedDeltas": 10000, "remainingDeltas": 4880}, {"utilization": 51.2}, {"active": false})

# Tests pin the thresholds they assume, so that they hold whatever data.json
# an operator's copy of the policy set ships.
_usage_thresholds := {"utilization_pct": 90, "remaining_deltas": 100, "low_balance": 1000}

_usage_fired(inp, reason) := _usage_fired_with(inp, reason, {})

_usage_fired_with(inp, reason, thresholds) := {a |
	all := rules.actions with input as inp with data.thresholds as object.union(_usage_thresholds, thresholds)
	some a in all
	a.reason == reason
}

_usage_reasons := {"high_utilization", "approaching_limit", "usage_recovered", "low_balance"}

_usage_any(inp) := {a |
	all := rules.actions with input as inp with data.thresholds as _usage_thresholds
	some a in all
	a.reason in _usage_reasons
}

test_usage_quiet_event_is_quiet if {
	count(_usage_any(_usage_quiet)) == 0
}

test_usage_rules_fire_together if {
	inp := _usage_input({"remainingDeltas": 10, "remainingBalance": 10}, {"utilization": 99.9}, {"active": false})
	{a.reason | some a in _usage_any(inp)} == {"high_utilization", "approaching_limit", "low_balance"}
}

test_usage_high_utilization_notifies if {
	_usage_fired(_usage_input({}, {"utilization": 90.01}, {"active": false}), "high_utilization") == {{
		"type": "notify",
		"reason": "high_utilization",
		"severity": "warning",
		"utilization": 90.01,
		"threshold": 90,
	}}
}

test_usage_utilization_at_threshold_is_quiet if {
	count(_usage_fired(_usage_input({}, {"utilization": 90}, {"active": false}), "high_utilization")) == 0
	count(_usage_fired(_usage_input({}, {"utilization": 89.99}, {"active": false}), "high_utilization")) == 0
}

test_usage_utilization_threshold_is_data if {
	count(_usage_fired_with(_usage_input({}, {"utilization": 51.2}, {"active": false}), "high_utilization", {"utilization_pct": 50})) == 1
}

test_usage_utilization_absent_is_quiet if {
	count(_usage_fired(_usage_input({}, {}, {"active": false}), "high_utilization")) == 0
	count(_usage_fired(json.remove(_usage_quiet, ["derived"]), "high_utilization")) == 0
}

test_usage_approaching_limit_throttles if {
	_usage_fired(_usage_input({"remainingDeltas": 99}, {}, {"active": false}), "approaching_limit") == {{
		"type": "throttle",
		"reason": "approaching_limit",
		"severity": "warning",
		"remainingDeltas": 99,
		"threshold": 100,
	}}
	count(_usage_fired(_usage_input({"remainingDeltas": 0}, {}, {"active": true}), "approaching_limit")) == 1
}

test_usage_remaining_at_threshold_does_not_throttle if {
	count(_usage_fired(_usage_input({"remainingDeltas": 100}, {}, {"active": false}), "approaching_limit")) == 0
}

test_usage_remaining_threshold_is_data if {
	count(_usage_fired_with(_usage_input({"remainingDeltas": 150}, {}, {"active": false}), "approaching_limit", {"remaining_deltas": 200})) == 1
}

test_usage_remaining_absent_does_not_throttle if {
	count(_usage_fired(_usage_input({"creditsConsumed": 3}, {}, {"active": false}), "approaching_limit")) == 0
	count(_usage_fired(json.remove(_usage_quiet, ["usage"]), "approaching_limit")) == 0
}

test_usage_recovered_unthrottles if {
	_usage_fired(_usage_input({"remainingDeltas": 100}, {}, {"active": true, "since": "2026-04-10T11:00:00Z", "reason": "approaching_limit"}), "usage_recovered") == {{
		"type": "unthrottle",
		"reason": "usage_recovered",
		"severity": "info",
		"resolves": "throttle",
		"remainingDeltas": 100,
		"threshold": 100,
	}}
}

test_usage_still_low_keeps_throttle if {
	inp := _usage_input({"remainingDeltas": 99}, {}, {"active": true})
	count(_usage_fired(inp, "usage_recovered")) == 0
	count(_usage_fired(inp, "approaching_limit")) == 1
}

test_usage_no_unthrottle_when_not_throttled if {
	count(_usage_fired(_usage_input({"remainingDeltas": 5000}, {}, {"active": false}), "usage_recovered")) == 0
	count(_usage_fired(json.remove(_usage_quiet, ["state/throttle"]), "usage_recovered")) == 0
	count(_usage_fired(_usage_input({"remainingDeltas": 5000}, {}, {"active": "true"}), "usage_recovered")) == 0
}

test_usage_no_unthrottle_without_counters if {
	count(_usage_fired(_usage_input({"remainingBalance": 5000}, {}, {"active": true}), "usage_recovered")) == 0
	count(_usage_fired(json.remove(_usage_input({}, {}, {"active": true}), ["usage"]), "usage_recovered")) == 0
}

test_usage_low_balance_notifies if {
	_usage_fired(_usage_input({"creditsConsumed": 12, "remainingBalance": 999}, {}, {"active": false}), "low_balance") == {{
		"type": "notify",
		"reason": "low_balance",
		"severity": "warning",
		"remainingBalance": 999,
		"threshold": 1000,
	}}
}

test_usage_balance_at_threshold_is_quiet if {
	count(_usage_fired(_usage_input({"remainingBalance": 1000}, {}, {"active": false}), "low_balance")) == 0
}

test_usage_balance_threshold_is_data if {
	count(_usage_fired_with(_usage_input({"remainingBalance": 8800}, {}, {"active": false}), "low_balance", {"low_balance": 10000})) == 1
}

test_usage_balance_absent_is_quiet if {
	count(_usage_fired(_usage_quiet, "low_balance")) == 0
	count(_usage_fired(_usage_input({"creditsConsumed": 12}, {}, {"active": false}), "low_balance")) == 0
}
