package arbiter.rules_test

import data.arbiter.rules

_identify_delta := {"customerId": "cus_1", "referenceId": "ref_1", "amount": 10, "deltaIndex": 1}

_identify_record := {"referenceId": "ref_1", "customerId": "cus_1", "amount": 10, "periodId": "2026-04", "time": "2026-04-10T12:00:00Z"}

_identify_input(record) := {
	"event": {"id": "evt_1", "type": "delta.verified"},
	"delta": _identify_delta,
	"derived": {},
	"state": {"record": record, "throttle": {"active": false}},
}

_identify_fired(inp) := {a |
	all := rules.actions with input as inp
	some a in all
	a.reason == "unmatched_delta"
}

test_identify_unmatched_delta_alerts if {
	_identify_fired(_identify_input(null)) == {{
		"type": "alert",
		"reason": "unmatched_delta",
		"severity": "warning",
		"customerId": "cus_1",
		"referenceId": "ref_1",
	}}
}

test_identify_matched_delta_is_quiet if {
	count(_identify_fired(_identify_input(_identify_record))) == 0
}

test_identify_needs_a_delta_section if {
	inp := json.remove(_identify_input(null), ["delta"])
	count(_identify_fired(inp)) == 0
}

test_identify_null_delta_is_not_a_delta if {
	inp := json.patch(_identify_input(null), [{"op": "replace", "path": "/delta", "value": null}])
	count(_identify_fired(inp)) == 0
}

test_identify_needs_the_record_lookup if {
	count(_identify_fired({"delta": _identify_delta})) == 0
	count(_identify_fired({"delta": _identify_delta, "state": {}})) == 0
}

test_identify_unknown_event_type_with_delta if {
	inp := json.patch(_identify_input(null), [{"op": "replace", "path": "/event/type", "value": "delta.mystery"}])
	count(_identify_fired(inp)) == 1
}
