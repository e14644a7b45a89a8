# Chain validation.
#
# Proof chain (seed 001 §3): each delta's previousProofHash must be the proof
# hash stored last for the customer. The engine's chain tracker has already
# compared them and put its verdict in input.state.chain.status; a gap, a fork
# or a mismatch means deltas were inserted, removed or reordered.
#
# Batch sequence (seed 000 §2): batch ids must increase; a batch that is not
# after the last one seen is a possible replay.
#
# Each status is its own equality so that OPA's rule index skips all of them
# for a healthy chain without evaluating a body.
package arbiter.rules

actions contains _chain_alert if input.state.chain.status == "gap"

actions contains _chain_alert if input.state.chain.status == "fork"

actions contains _chain_alert if input.state.chain.status == "mismatch"

_chain_alert := {
	"type": "alert",
	"reason": "chain_discontinuity",
	"severity": "critical",
	"customerId": object.get(input, ["delta", "customerId"], null),
	"status": chain.status,
	"expected": object.get(chain, "expected", null),
	"received": object.get(chain, "received", null),
} if {
	chain := input.state.chain
}

actions contains {
	"type": "alert",
	"reason": "replay",
	"severity": "critical",
	"batchId": object.get(input, ["batch", "id"], null),
	"seq": object.get(input, ["batch", "seq"], null),
	"lastBatchId": object.get(input.state.batch, "lastBatchId", null),
	"lastSeq": object.get(input.state.batch, "lastSeq", null),
} if {
	input.state.batch.status == "replay"
}
