package arbiter.rules_test

import data.arbiter.rules

_chain_input(chain) := {
	"event": {"id": "evt_1", "type": "delta.verified"},
	"delta": {"customerId": "cus_1", "referenceId": "ref_1", "amount": 10, "deltaIndex": 1},
	"proof": {"proofHash": "h2", "previousProofHash": "hx"},
	"derived": {},
	"state": {"record": null, "chain": chain, "throttle": {"active": false}},
}

_chain_fired(inp) := {a |
	all := rules.actions with input as inp
	some a in all
	a.reason == "chain_discontinuity"
}

_batch_input(batch_state) := {
	"event": {"id": "evt_2", "type": "batch.verified"},
	"batch": {"id": "batch_40", "seq": 40, "items": []},
	"derived": {},
	"state": {"record": null, "batch": batch_state, "throttle": {"active": false}},
}

_replay_fired(inp) := {a |
	all := rules.actions with input as inp
	some a in all
	a.reason == "replay"
}

test_chain_breaks_alert if {
	every status in ["gap", "fork", "mismatch"] {
		_chain_fired(_chain_input({"status": status, "head": "h1", "length": 7, "expected": "h1", "received": "hx"})) == {{
			"type": "alert",
			"reason": "chain_discontinuity",
			"severity": "critical",
			"customerId": "cus_1",
			"status": status,
			"expected": "h1",
			"received": "hx",
		}}
	}
}

test_chain_break_without_hashes if {
	[a] := [a | some a in _chain_fired(_chain_input({"status": "gap", "length": 0}))]
	a.expected == null
	a.received == null
}

test_chain_break_without_delta if {
	inp := json.remove(_chain_input({"status": "fork", "length": 3}), ["delta"])
	[a] := [a | some a in _chain_fired(inp)]
	a.customerId == null
}

test_chain_healthy_statuses_are_quiet if {
	every status in ["genesis", "linked", "duplicate", "", "GAP"] {
		count(_chain_fired(_chain_input({"status": status, "head": "h1", "length": 7}))) == 0
	}
}

test_chain_absent_is_quiet if {
	count(_chain_fired(json.remove(_chain_input({}), ["state/chain"]))) == 0
	count(_chain_fired(_chain_input({}))) == 0
	count(_chain_fired(_chain_input(null))) == 0
}

test_chain_replay_alerts if {
	_replay_fired(_batch_input({"status": "replay", "lastSeq": 42, "lastBatchId": "batch_42"})) == {{
		"type": "alert",
		"reason": "replay",
		"severity": "critical",
		"batchId": "batch_40",
		"seq": 40,
		"lastBatchId": "batch_42",
		"lastSeq": 42,
	}}
}

test_chain_replay_with_missing_details if {
	inp := json.remove(_batch_input({"status": "replay"}), ["batch"])
	[a] := [a | some a in _replay_fired(inp)]
	a.batchId == null
	a.seq == null
	a.lastBatchId == null
	a.lastSeq == null
}

test_chain_batch_in_sequence_is_quiet if {
	every status in ["first", "next", "gap"] {
		count(_replay_fired(_batch_input({"status": status, "lastSeq": 39, "lastBatchId": "batch_39"}))) == 0
	}
}

test_chain_batch_state_absent_is_quiet if {
	count(_replay_fired(json.remove(_batch_input({}), ["state/batch"]))) == 0
	count(_replay_fired(_batch_input(null))) == 0
}
