# A custom rule an operator adds to the default set: flag refunds (negative
# deltas) larger than a threshold for review, whatever else the event shows.
# Copy this file and its test into your policy directory; the threshold is
# data, so it can be tuned from the agent's config without editing Rego:
#
#   policy: {data: {large_refund: {threshold: 2500}}}
package arbiter.rules

default _large_refund_threshold := 1000

_large_refund_threshold := data.large_refund.threshold

actions contains {
	"type": "flag_for_review",
	"reason": "large_refund",
	"severity": "high",
	"customerId": input.delta.customerId,
	"referenceId": input.delta.referenceId,
	"amount": input.delta.amount,
	"threshold": _large_refund_threshold,
} if {
	input.delta.amount < 0
	0 - input.delta.amount > _large_refund_threshold
}
