# Identify (seed 001 §1): every delta PacSpace reports on must match a delta
# we submitted. The engine looks the delta up in the internal ledger by
# referenceId and puts the match in input.state.record, null when there is
# none.
package arbiter.rules

actions contains {
	"type": "alert",
	"reason": "unmatched_delta",
	"severity": "warning",
	"customerId": input.delta.customerId,
	"referenceId": ref,
} if {
	input.state.record == null
	ref := input.delta.referenceId
}
