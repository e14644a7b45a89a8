# Verify (seed 001 §2): a delta that failed PacSpace's verification is flagged
# for review with the discrepancies PacSpace found.
package arbiter.rules

actions contains {
	"type": "flag_for_review",
	"reason": "verification_failed",
	"severity": "high",
	"customerId": object.get(input, ["delta", "customerId"], null),
	"receiptId": object.get(input, ["delta", "receiptId"], null),
	"discrepancies": _verify_discrepancies,
} if {
	input.verification.verified == false
}

# The discrepancies as an array: a payload without any serializes as null.
_verify_discrepancies := d if {
	d := input.verification.discrepancies
	is_array(d)
} else := []
