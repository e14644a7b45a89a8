# Drift (seed 001 §4): PacSpace's running total for the period
# (input.period.netDelta) must agree with ours (input.state.period.ours, which
# already includes this event's delta). More than data.thresholds.drift apart
# means a delta is missing or extra on one side.
package arbiter.rules

# Drift is rounded to this many parts of a unit before it is compared, so that
# binary floating-point noise (100.01 - 100 = 0.010000000000000002) neither
# fires nor shows in the alert.
_drift_scale := 1000000000

actions contains {
	"type": "alert",
	"reason": "period_drift",
	"severity": "high",
	"customerId": object.get(input, ["delta", "customerId"], null),
	"periodId": input.period.id,
	"ours": ours,
	"pacspace": pacspace,
	"drift": drift,
} if {
	ours := input.state.period.ours
	pacspace := input.period.netDelta
	ours != pacspace # cheap: the quiet case does no arithmetic
	raw := abs(ours - pacspace)
	raw > data.thresholds.drift
	drift := round(raw * _drift_scale) / _drift_scale
	drift > data.thresholds.drift
}
