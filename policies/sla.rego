# SLA (seed 001 §6, seed 000 §4).
package arbiter.rules

# PacSpace took longer than data.thresholds.verification_latency_ms to verify
# a delta.
actions contains {
	"type": "sla_violation",
	"reason": "verification_latency",
	"severity": "warning",
	"customerId": object.get(input, ["delta", "customerId"], null),
	"receiptId": object.get(input, ["delta", "receiptId"], null),
	"latencyMs": l,
	"threshold": data.thresholds.verification_latency_ms,
} if {
	l := input.verification.latencyMs
	l > data.thresholds.verification_latency_ms
}

# A batch took longer than data.thresholds.batch_latency_ms from submittedAt
# to verifiedAt (derived by the engine).
actions contains {
	"type": "sla_violation",
	"reason": "batch_latency",
	"severity": "warning",
	"batchId": object.get(input, ["batch", "id"], null),
	"latencyMs": l,
	"threshold": data.thresholds.batch_latency_ms,
} if {
	l := input.derived.latencyMs
	l > data.thresholds.batch_latency_ms
}
