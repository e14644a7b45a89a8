package scenario

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Kind names one fault a scenario can inject.
type Kind string

// Fault kinds. Each maps to what the agent must do about it: an action of
// policies/README.md, a rejection, a duplicate acknowledgement, or nothing
// at all for the benign ones (reorder, duplicate).
const (
	ChainGap           Kind = "chain-gap"           // a delta is never sent: the next one is a gap
	ChainMismatch      Kind = "chain-mismatch"      // a recorded proof comes again with another predecessor
	ChainFork          Kind = "chain-fork"          // a new delta claims a predecessor that already has a successor
	Reorder            Kind = "reorder"             // two neighbours of a stream are sent swapped (benign)
	Duplicate          Kind = "duplicate"           // an event is delivered twice, same id and body (benign)
	Drift              Kind = "drift"               // period.netDelta disagrees with the ledger
	Unmatched          Kind = "unmatched"           // a delta has no internal ledger record
	Discrepancy        Kind = "discrepancy"         // a batch item disagrees with the local item total
	SLAVerification    Kind = "sla-verification"    // verification.latencyMs over the limit
	SLABatch           Kind = "sla-batch"           // batch submitted→verified over the limit
	VerificationFailed Kind = "verification-failed" // PacSpace could not verify a delta
	UsageHigh          Kind = "usage-high"          // plan utilization over the limit
	UsageLimit         Kind = "usage-limit"         // fewer remaining deltas than the limit
	LowCredits         Kind = "low-credits"         // credit balance under the limit
	BatchReplay        Kind = "batch-replay"        // a batch id applied before comes again
	BadSignature       Kind = "bad-signature"       // a tampered copy signed with the wrong secret
	StaleTimestamp     Kind = "stale-timestamp"     // a redelivery stamped ten minutes ago
	Replay             Kind = "replay"              // an event's body again under a new event id
)

// Kinds lists every fault kind in a fixed order.
var Kinds = []Kind{
	ChainGap, ChainMismatch, ChainFork, Reorder, Duplicate, Drift, Unmatched,
	Discrepancy, SLAVerification, SLABatch, VerificationFailed, UsageHigh,
	UsageLimit, LowCredits, BatchReplay, BadSignature, StaleTimestamp, Replay,
}

// aliases name groups of kinds; a rate given to a group is split evenly
// among its kinds, except for "all", which gives each kind the rate.
var aliases = map[string][]Kind{
	"chain-break": {ChainGap, ChainMismatch, ChainFork},
	"sla":         {SLAVerification, SLABatch},
	"usage":       {UsageHigh, UsageLimit},
}

// Faults holds the rate of each enabled kind: the chance that a step of a
// stream the kind applies to carries it. At most one fault is injected per
// step; rates that add up to more than 1 are scaled down.
type Faults map[Kind]float64

// Set parses one "kind=rate" setting into f, as --fault gives it. The kind
// may be a group: chain-break, sla, usage, or all.
func (f Faults) Set(s string) error {
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("fault %q: want kind=rate, e.g. reorder=0.05", s)
	}
	rate, err := strconv.ParseFloat(val, 64)
	if err != nil || rate < 0 || rate > 1 {
		return fmt.Errorf("fault %q: rate must be a number from 0 to 1", s)
	}
	switch kinds, group := aliases[name]; {
	case name == "all":
		for _, k := range Kinds {
			f[k] = rate
		}
	case group:
		for _, k := range kinds {
			f[k] = rate / float64(len(kinds))
		}
	case slices.Contains(Kinds, Kind(name)):
		f[Kind(name)] = rate
	default:
		return fmt.Errorf("fault %q: unknown kind %q (want one of %s, chain-break, sla, usage or all)", s, name, KindList())
	}
	return nil
}

// Enabled reports whether k has a rate above zero.
func (f Faults) Enabled(k Kind) bool { return f[k] > 0 }

// KindList is the kinds as a comma-separated list, for help and errors.
func KindList() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}
