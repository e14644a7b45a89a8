# Usage (seed 001 §5, seed 000 §5): cost-aware decisions from the plan
# counters of a delta event and the credit balance of a batch event.
package arbiter.rules

# Plan utilization (consumed / included × 100, derived by the engine) above
# data.thresholds.utilization_pct: time to consider upgrading.
actions contains {
	"type": "notify",
	"reason": "high_utilization",
	"severity": "warning",
	"utilization": u,
	"threshold": data.thresholds.utilization_pct,
} if {
	u := input.derived.utilization
	u > data.thresholds.utilization_pct
}

# Fewer than data.thresholds.remaining_deltas deltas left on the plan:
# throttle low-priority deltas.
actions contains {
	"type": "throttle",
	"reason": "approaching_limit",
	"severity": "warning",
	"remainingDeltas": r,
	"threshold": data.thresholds.remaining_deltas,
} if {
	r := input.usage.remainingDeltas
	r < data.thresholds.remaining_deltas
}

# Throttling is on but the plan has room again: lift it.
actions contains {
	"type": "unthrottle",
	"reason": "usage_recovered",
	"severity": "info",
	"resolves": "throttle",
	"remainingDeltas": r,
	"threshold": data.thresholds.remaining_deltas,
} if {
	input.state.throttle.active == true
	r := input.usage.remainingDeltas
	r >= data.thresholds.remaining_deltas
}

# Credit balance below data.thresholds.low_balance.
actions contains {
	"type": "notify",
	"reason": "low_balance",
	"severity": "warning",
	"remainingBalance": b,
	"threshold": data.thresholds.low_balance,
} if {
	b := input.usage.remainingBalance
	b < data.thresholds.low_balance
}
