# The seven checks of seed 001's Express agent (handleDeltaVerified), ported
# to Rego as they are written there: no thresholds in data, no routing.
# BenchmarkDecide/quiet_vs_seed_checks evaluates it the naive way as the
# reference the issue's 32 µs figure describes ("naive OPA evaluation of a
# similar 7-rule set"); it is not a policy set the agent loads.
package seedchecks

actions contains {"type": "alert", "reason": "unmatched_delta"} if input.state.record == null

actions contains {"type": "flag_for_review", "reason": "verification_failed", "discrepancies": input.verification.discrepancies} if {
	input.verification.verified == false
}

actions contains {"type": "alert", "reason": "chain_discontinuity", "expected": last, "received": input.proof.previousProofHash} if {
	last := input.state.chain.head
	input.proof.previousProofHash != last
}

actions contains {"type": "alert", "reason": "period_drift", "ours": ours, "pacspace": input.period.netDelta, "drift": drift} if {
	ours := input.state.period.ours
	drift := abs(ours - input.period.netDelta)
	drift > 0.01
}

actions contains {"type": "notify", "reason": "high_utilization", "utilization": utilization} if {
	utilization := (input.usage.consumedDeltas / input.usage.includedDeltas) * 100
	utilization > 90
}

actions contains {"type": "throttle", "reason": "approaching_limit"} if input.usage.remainingDeltas < 100

actions contains {"type": "sla_violation", "latencyMs": input.verification.latencyMs} if input.verification.latencyMs > 5000
