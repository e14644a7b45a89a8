# Discrepancy (seed 000 §3): each item of a batch is compared with the local
# ledger's total for its key (input.state.items[key]). A difference of more
# than data.thresholds.discrepancy_ratio of the local total is escalated, one
# action per item. A key with no local total, or a zero total, is a first
# write: nothing to compare (seed 000's "no_local_record").
package arbiter.rules

actions contains {
	"type": "alert",
	"reason": "discrepancy",
	"severity": "high",
	"batchId": input.batch.id,
	"key": item.key,
	"localBits": local,
	"reportedBits": item.bits,
	"difference": diff,
	"percentOff": round((diff / local) * 10000) / 100,
} if {
	some item in input.batch.items
	local := input.state.items[item.key].bits
	item.bits != local # cheap: an item that agrees does no arithmetic
	local > 0
	diff := abs(local - item.bits)
	diff > local * data.thresholds.discrepancy_ratio
}
