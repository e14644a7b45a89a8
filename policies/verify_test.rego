package arbiter.rules_test

import data.arbiter.rules

_verify_input(verification) := {
	"event": {"id": "evt_1", "type": "delta.failed"},
	"delta": {"customerId": "cus_1", "referenceId": "ref_1", "amount": 10, "deltaIndex": 1, "receiptId": "rcpt_1"},
	"verification": verification,
	"derived": {},
	"state": {"record": null, "throttle": {"active": false}},
}

_verify_failed := {
	"verified": false,
	"discrepancies": [{"field": "amount", "expected": 125.5, "actual": 152.5}],
	"latencyMs": 900,
}

_verify_fired(inp) := {a |
	all := rules.actions with input as inp
	some a in all
	a.reason == "verification_failed"
}

test_verify_failed_is_flagged if {
	_verify_fired(_verify_input(_verify_failed)) == {{
		"type": "flag_for_review",
		"reason": "verification_failed",
		"severity": "high",
		"customerId": "cus_1",
		"receiptId": "rcpt_1",
		"discrepancies": [{"field": "amount", "expected": 125.5, "actual": 152.5}],
	}}
}

test_verify_null_discrepancies_become_empty if {
	v := object.union(_verify_failed, {"discrepancies": null})
	[a] := [a | some a in _verify_fired(_verify_input(v))]
	a.discrepancies == []
}

test_verify_missing_discrepancies_become_empty if {
	v := json.remove(_verify_failed, ["discrepancies"])
	[a] := [a | some a in _verify_fired(_verify_input(v))]
	a.discrepancies == []
}

test_verify_without_delta_has_null_ids if {
	inp := json.remove(_verify_input(_verify_failed), ["delta"])
	[a] := [a | some a in _verify_fired(inp)]
	a.customerId == null
	a.receiptId == null
}

test_verify_without_receipt_id if {
	inp := json.remove(_verify_input(_verify_failed), ["delta/receiptId"])
	[a] := [a | some a in _verify_fired(inp)]
	a.customerId == "cus_1"
	a.receiptId == null
}

test_verify_verified_is_quiet if {
	v := object.union(_verify_failed, {"verified": true, "discrepancies": []})
	count(_verify_fired(_verify_input(v))) == 0
}

test_verify_needs_a_verification_section if {
	inp := json.remove(_verify_input(_verify_failed), ["verification"])
	count(_verify_fired(inp)) == 0
}

test_verify_missing_or_non_boolean_verdict_is_quiet if {
	count(_verify_fired(_verify_input(json.remove(_verify_failed, ["verified"])))) == 0
	count(_verify_fired(_verify_input(object.union(_verify_failed, {"verified": "false"})))) == 0
	count(_verify_fired(_verify_input(object.union(_verify_failed, {"verified": null})))) == 0
}
