package arbiter.rules_test

import data.arbiter.rules

_discrepancy_input(items, totals) := {
	"event": {"id": "evt_1", "type": "batch.verified"},
	"batch": {"id": "batch_42", "seq": 42, "items": items},
	"derived": {},
	"state": {"record": null, "items": totals, "throttle": {"active": false}},
}

# Tests pin the thresholds they assume, so that they hold whatever data.json
# an operator's copy of the policy set ships.
_discrepancy_fired(inp) := _discrepancy_fired_at(inp, 0.01)

_discrepancy_fired_at(inp, ratio) := {a |
	all := rules.actions with input as inp with data.thresholds.discrepancy_ratio as ratio
	some a in all
	a.reason == "discrepancy"
}

_one_item(reported, local) := _discrepancy_input([{"key": "acct:1", "bits": reported}], {"acct:1": {"bits": local, "writes": 2}})

test_discrepancy_above_tolerance_alerts if {
	_discrepancy_fired(_one_item(1011, 1000)) == {{
		"type": "alert",
		"reason": "discrepancy",
		"severity": "high",
		"batchId": "batch_42",
		"key": "acct:1",
		"localBits": 1000,
		"reportedBits": 1011,
		"difference": 11,
		"percentOff": 1.1,
	}}
}

test_discrepancy_below_local_alerts if {
	[a] := [a | some a in _discrepancy_fired(_one_item(989, 1000))]
	a.difference == 11
	a.percentOff == 1.1
}

test_discrepancy_at_tolerance_is_quiet if {
	count(_discrepancy_fired(_one_item(1010, 1000))) == 0
	count(_discrepancy_fired(_one_item(990, 1000))) == 0
}

test_discrepancy_below_tolerance_is_quiet if {
	count(_discrepancy_fired(_one_item(1005, 1000))) == 0
	count(_discrepancy_fired(_one_item(1000, 1000))) == 0
}

test_discrepancy_percent_rounds_to_two_decimals if {
	[a] := [a | some a in _discrepancy_fired(_one_item(1, 3))]
	a.percentOff == 66.67
}

test_discrepancy_ratio_is_data if {
	count(_discrepancy_fired_at(_one_item(1011, 1000), 0.05)) == 0
	count(_discrepancy_fired_at(_one_item(1051, 1000), 0.05)) == 1
}

test_discrepancy_one_action_per_item if {
	inp := _discrepancy_input(
		[
			{"key": "acct:1", "bits": 2000},
			{"key": "acct:2", "bits": 500},
			{"key": "acct:3", "bits": 10},
			{"key": "acct:4", "bits": 7},
			{"key": "acct:5", "bits": 99},
		],
		{
			"acct:1": {"bits": 1000, "writes": 1},
			"acct:2": {"bits": 500, "writes": 1},
			"acct:3": {"bits": 20, "writes": 1},
			"acct:4": {"bits": 0, "writes": 0},
			"acct:9": {"bits": 1, "writes": 1},
		},
	)
	{a.key | some a in _discrepancy_fired(inp)} == {"acct:1", "acct:3"}
}

test_discrepancy_no_local_record_is_quiet if {
	count(_discrepancy_fired(_discrepancy_input([{"key": "acct:new", "bits": 5}], {"acct:1": {"bits": 1, "writes": 1}}))) == 0
	count(_discrepancy_fired(json.remove(_one_item(5, 1), ["state/items"]))) == 0
}

test_discrepancy_zero_local_total_is_quiet if {
	count(_discrepancy_fired(_one_item(5, 0))) == 0
}

test_discrepancy_needs_batch_items if {
	count(_discrepancy_fired(json.remove(_one_item(5, 1), ["batch"]))) == 0
	count(_discrepancy_fired(_discrepancy_input(null, {"acct:1": {"bits": 1, "writes": 1}}))) == 0
	count(_discrepancy_fired(_discrepancy_input([], {"acct:1": {"bits": 1, "writes": 1}}))) == 0
}

test_discrepancy_item_without_bits_is_quiet if {
	count(_discrepancy_fired(_discrepancy_input([{"key": "acct:1"}], {"acct:1": {"bits": 1000, "writes": 1}}))) == 0
}
