package arbiter.rules_test

import data.arbiter.rules

_sla_delta_input(latency) := {
	"event": {"id": "evt_1", "type": "delta.verified"},
	"delta": {"customerId": "cus_1", "referenceId": "ref_1", "amount": 10, "deltaIndex": 1, "receiptId": "rcpt_1"},
	"verification": {"verified": true, "discrepancies": [], "latencyMs": latency},
	"derived": {},
	"state": {"record": null, "throttle": {"active": false}},
}

_sla_batch_input(latency) := {
	"event": {"id": "evt_2", "type": "batch.verified"},
	"batch": {"id": "batch_42", "seq": 42, "items": []},
	"derived": {"latencyMs": latency},
	"state": {"record": null, "throttle": {"active": false}},
}

# Tests pin the thresholds they assume, so that they hold whatever data.json
# an operator's copy of the policy set ships.
_sla_thresholds := {"verification_latency_ms": 5000, "batch_latency_ms": 30000}

_sla_fired(inp, reason) := _sla_fired_with(inp, reason, {})

_sla_fired_with(inp, reason, thresholds) := {a |
	all := rules.actions with input as inp with data.thresholds as object.union(_sla_thresholds, thresholds)
	some a in all
	a.reason == reason
}

test_sla_verification_latency_violation if {
	_sla_fired(_sla_delta_input(5001), "verification_latency") == {{
		"type": "sla_violation",
		"reason": "verification_latency",
		"severity": "warning",
		"customerId": "cus_1",
		"receiptId": "rcpt_1",
		"latencyMs": 5001,
		"threshold": 5000,
	}}
}

test_sla_verification_latency_within if {
	count(_sla_fired(_sla_delta_input(5000), "verification_latency")) == 0
	count(_sla_fired(_sla_delta_input(840), "verification_latency")) == 0
	count(_sla_fired(_sla_delta_input(0), "verification_latency")) == 0
}

test_sla_verification_latency_threshold_is_data if {
	count(_sla_fired_with(_sla_delta_input(840), "verification_latency", {"verification_latency_ms": 500})) == 1
}

test_sla_verification_latency_without_delta if {
	inp := json.remove(_sla_delta_input(6400), ["delta"])
	[a] := [a | some a in _sla_fired(inp, "verification_latency")]
	a.customerId == null
	a.receiptId == null
}

test_sla_verification_latency_absent_is_quiet if {
	count(_sla_fired(json.remove(_sla_delta_input(6400), ["verification"]), "verification_latency")) == 0
	count(_sla_fired(json.remove(_sla_delta_input(6400), ["verification/latencyMs"]), "verification_latency")) == 0
}

test_sla_batch_latency_violation if {
	_sla_fired(_sla_batch_input(30001), "batch_latency") == {{
		"type": "sla_violation",
		"reason": "batch_latency",
		"severity": "warning",
		"batchId": "batch_42",
		"latencyMs": 30001,
		"threshold": 30000,
	}}
}

test_sla_batch_latency_within if {
	count(_sla_fired(_sla_batch_input(30000), "batch_latency")) == 0
	count(_sla_fired(_sla_batch_input(12000), "batch_latency")) == 0
	count(_sla_fired(_sla_batch_input(-500), "batch_latency")) == 0
}

test_sla_batch_latency_threshold_is_data if {
	count(_sla_fired_with(_sla_batch_input(12000), "batch_latency", {"batch_latency_ms": 10000})) == 1
}

test_sla_batch_latency_without_batch if {
	inp := json.remove(_sla_batch_input(45000), ["batch"])
	[a] := [a | some a in _sla_fired(inp, "batch_latency")]
	a.batchId == null
}

test_sla_batch_latency_absent_is_quiet if {
	count(_sla_fired(json.remove(_sla_batch_input(45000), ["derived/latencyMs"]), "batch_latency")) == 0
	count(_sla_fired(json.remove(_sla_batch_input(45000), ["derived"]), "batch_latency")) == 0
}
