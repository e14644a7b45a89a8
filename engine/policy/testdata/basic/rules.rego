package arbiter.rules

_marker := "a"

actions contains {
	"type": "alert",
	"reason": "period_drift",
	"severity": "high",
	"drift": drift,
	"marker": _marker,
} if {
	drift := abs(input.state.period.ours - input.period.netDelta)
	drift > data.thresholds.drift
}

actions contains {
	"type": "flag_for_review",
	"reason": "verification_failed",
	"severity": "warning",
	"marker": _marker,
} if {
	input.verification.verified == false
}
