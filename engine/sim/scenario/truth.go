package scenario

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// What the agent is expected to do about an anomaly (Expect.Outcome).
const (
	ExpectAction    = "action"    // decide the event with an action of Type and Reason
	ExpectRejected  = "rejected"  // refuse the delivery with a 4xx naming Reason
	ExpectDuplicate = "duplicate" // acknowledge the delivery as a duplicate
	ExpectNone      = "none"      // process the event and raise nothing
)

// How the receiver answered a delivery (Answer.Outcome).
const (
	Accepted   = "accepted"  // 2xx, stored
	Duplicated = "duplicate" // 2xx, {"duplicate":true}
	Rejected   = "rejected"  // 4xx
	Failed     = "failed"    // no answer, or 5xx, after every attempt
)

// Expect is what one anomaly must lead to.
type Expect struct {
	Outcome string `json:"outcome"`
	Type    string `json:"type,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Truth is one line of the ground truth: an injected anomaly, the event
// that carries it, and what the agent must do about it.
type Truth struct {
	// Scenario names the run; every event id of it starts with
	// EventPrefix(Scenario).
	Scenario string `json:"scenario"`
	EventID  string `json:"eventId"`
	Kind     Kind   `json:"kind"`
	Expect   Expect `json:"expect"`
}

// Answer is how the receiver answers one delivery.
type Answer struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"` // a rejection's reason
}

// Outcome records a delivery that was not expected to be, or was not, a
// plain acceptance: rejections, duplicates, failures. A run writes them
// next to the ground truth, since the agent keeps no trace of what it
// refused.
type Outcome struct {
	EventID  string `json:"eventId"`
	Kind     Kind   `json:"kind,omitempty"` // the fault the delivery carried
	Expected Answer `json:"expected"`
	Got      Answer `json:"got"`
	Status   int    `json:"status,omitempty"`
}

// expectations are the lines each kind writes, in order. Usage over the
// remaining-deltas limit is also over the utilization limit, and a delta
// missing from the ledger also leaves our period total short.
var expectations = map[Kind][]Expect{
	ChainGap:           {action("alert", "chain_discontinuity")},
	ChainMismatch:      {action("alert", "chain_discontinuity")},
	ChainFork:          {action("alert", "chain_discontinuity")},
	Reorder:            {{Outcome: ExpectNone}},
	Duplicate:          {{Outcome: ExpectNone}},
	Drift:              {action("alert", "period_drift")},
	Unmatched:          {action("alert", "unmatched_delta"), action("alert", "period_drift")},
	Discrepancy:        {action("alert", "discrepancy")},
	SLAVerification:    {action("sla_violation", "verification_latency")},
	SLABatch:           {action("sla_violation", "batch_latency")},
	VerificationFailed: {action("flag_for_review", "verification_failed")},
	UsageHigh:          {action("notify", "high_utilization")},
	UsageLimit:         {action("throttle", "approaching_limit"), action("notify", "high_utilization")},
	LowCredits:         {action("notify", "low_balance")},
	BatchReplay:        {action("alert", "replay")},
	BadSignature:       {{Outcome: ExpectRejected, Reason: "bad_signature"}},
	StaleTimestamp:     {{Outcome: ExpectRejected, Reason: "stale_timestamp"}},
	Replay:             {{Outcome: ExpectDuplicate}},
}

func action(typ, reason string) Expect {
	return Expect{Outcome: ExpectAction, Type: typ, Reason: reason}
}

// Expectations returns what the agent must do about an anomaly of kind k.
func Expectations(k Kind) []Expect { return expectations[k] }

// EventPrefix is how every event id of scenario starts.
func EventPrefix(scenario string) string { return "evt_" + scenario + "_" }

// WriteJSONL writes one JSON object per line.
func WriteJSONL[T any](w io.Writer, lines []T) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i := range lines {
		if err := enc.Encode(&lines[i]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ReadJSONL reads what WriteJSONL wrote. Blank lines are skipped; a bad line
// is an error naming its number.
func ReadJSONL[T any](r io.Reader) ([]T, error) {
	var out []T
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, v)
	}
	return out, sc.Err()
}
