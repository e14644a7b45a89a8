package arbiter.rules_test

import data.arbiter.rules

_refund_input(amount) := {
	"event": {"id": "evt_1", "type": "delta.verified"},
	"delta": {"customerId": "cus_1", "referenceId": "ref_1", "amount": amount, "deltaIndex": 1},
	"derived": {},
	"state": {"record": {"referenceId": "ref_1"}, "throttle": {"active": false}},
}

_refund_fired(inp) := {a |
	all := rules.actions with input as inp
	some a in all
	a.reason == "large_refund"
}

test_large_refund_flags_above_threshold if {
	_refund_fired(_refund_input(-1500)) == {{
		"type": "flag_for_review",
		"reason": "large_refund",
		"severity": "high",
		"customerId": "cus_1",
		"referenceId": "ref_1",
		"amount": -1500,
		"threshold": 1000,
	}}
}

test_large_refund_quiet_at_threshold if {
	count(_refund_fired(_refund_input(-1000))) == 0
}

test_large_refund_quiet_for_charges if {
	count(_refund_fired(_refund_input(5000))) == 0
}

test_large_refund_threshold_from_data if {
	count(_refund_fired(_refund_input(-1500))) == 0 with data.large_refund.threshold as 2500
}

test_large_refund_quiet_without_delta if {
	count(_refund_fired({"event": {"id": "e", "type": "test"}, "derived": {}, "state": {"record": null, "throttle": {"active": false}}})) == 0
}
