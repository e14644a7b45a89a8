package engine

import "encoding/json"

// InputVersion identifies the shape of the input document given to policies.
const InputVersion = "arbiter.input/v1"

// TimeFormat is how the input document writes times Arbiter sets: RFC 3339
// in UTC with milliseconds, as PacSpace does.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// Input is the one document every policy rule sees for an event: the
// envelope, the normalized payload sections of either PacSpace payload shape,
// derived values, and a snapshot of settlement state read for this event.
// Absent sections are omitted. Its JSON Schema is engine/normalize/input.schema.json.
type Input struct {
	Version      string            `json:"version"`
	Event        Envelope          `json:"event"`
	Delta        *DeltaSection     `json:"delta,omitempty"`
	Verification *VerificationSect `json:"verification,omitempty"`
	Proof        *ProofSection     `json:"proof,omitempty"`
	Period       *PeriodSection    `json:"period,omitempty"`
	Usage        *UsageSection     `json:"usage,omitempty"`
	Batch        *BatchSection     `json:"batch,omitempty"`
	Data         json.RawMessage   `json:"data,omitempty"` // the payload's data object, as sent
	Derived      Derived           `json:"derived"`
	State        State             `json:"state"`
}

// Envelope identifies the event.
type Envelope struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Timestamp  string `json:"timestamp,omitempty"` // payload timestamp, RFC 3339
	ReceivedAt string `json:"receivedAt"`
	Endpoint   string `json:"endpoint"`
	Scheme     Scheme `json:"scheme"`
	Shape      string `json:"shape"` // "delta", "batch" or "generic"
}

// DeltaSection is the delta a delta-shaped event reports on.
type DeltaSection struct {
	CustomerID  string  `json:"customerId"`
	ReferenceID string  `json:"referenceId"`
	Amount      float64 `json:"amount"`
	DeltaIndex  int64   `json:"deltaIndex"`
	ReceiptID   string  `json:"receiptId,omitempty"`
}

// VerificationSect is PacSpace's verdict on the delta.
type VerificationSect struct {
	Verified      bool              `json:"verified"`
	Discrepancies []json.RawMessage `json:"discrepancies"`
	LatencyMs     float64           `json:"latencyMs"`
	VerifiedAt    string            `json:"verifiedAt,omitempty"`
}

// ProofSection links the delta into the customer's proof chain.
type ProofSection struct {
	ProofHash         string `json:"proofHash"`
	PreviousProofHash string `json:"previousProofHash"`
}

// PeriodSection is PacSpace's running total for the settlement period.
type PeriodSection struct {
	ID       string  `json:"id"`
	NetDelta float64 `json:"netDelta"`
}

// UsageSection carries the plan counters (delta shape) and credits (batch shape).
type UsageSection struct {
	ConsumedDeltas   *float64 `json:"consumedDeltas,omitempty"`
	IncludedDeltas   *float64 `json:"includedDeltas,omitempty"`
	RemainingDeltas  *float64 `json:"remainingDeltas,omitempty"`
	OverageRate      *float64 `json:"overageRate,omitempty"`
	CreditsConsumed  *float64 `json:"creditsConsumed,omitempty"`
	RemainingBalance *float64 `json:"remainingBalance,omitempty"`
}

// BatchSection is a seed-000 batch: items written and its timings.
type BatchSection struct {
	ID          string      `json:"id"`
	Seq         int64       `json:"seq"`
	Items       []BatchItem `json:"items"`
	SubmittedAt string      `json:"submittedAt,omitempty"`
	VerifiedAt  string      `json:"verifiedAt,omitempty"`
}

// BatchItem is one key written by a batch.
type BatchItem struct {
	Key  string  `json:"key"`
	Bits float64 `json:"bits"`
}

// Derived values are computed once so rules need not repeat arithmetic.
type Derived struct {
	LatencyMs   *float64 `json:"latencyMs,omitempty"`   // batch verifiedAt − submittedAt
	Utilization *float64 `json:"utilization,omitempty"` // consumed / included × 100
}

// State is settlement state read for exactly this event, before it is applied.
type State struct {
	Record   *LedgerRecord        `json:"record"` // internal ledger match by referenceId
	Chain    *ChainState          `json:"chain,omitempty"`
	Period   *PeriodState         `json:"period,omitempty"`
	Batch    *BatchState          `json:"batch,omitempty"`
	Items    map[string]ItemTotal `json:"items,omitempty"`
	Throttle ThrottleState        `json:"throttle"`
}

// LedgerRecord is one delta we submitted, from the internal ledger.
type LedgerRecord struct {
	ReferenceID string  `json:"referenceId"`
	CustomerID  string  `json:"customerId"`
	Amount      float64 `json:"amount"`
	PeriodID    string  `json:"periodId"`
	Time        string  `json:"time"`
}

// Chain link verdicts, decided by the chain tracker before policies run.
const (
	ChainGenesis   = "genesis"   // first proof seen for the customer
	ChainLinked    = "linked"    // previousProofHash is the stored head
	ChainDuplicate = "duplicate" // this proof is already in the chain, same link
	ChainGap       = "gap"       // predecessor still unknown after the grace window
	ChainFork      = "fork"      // another proof already claims the same predecessor
	ChainMismatch  = "mismatch"  // proof stored before with a different predecessor
)

// ChainState is the customer's proof chain as it stands for this event.
type ChainState struct {
	Status   string `json:"status"`
	Head     string `json:"head,omitempty"`
	Length   int64  `json:"length"`
	Expected string `json:"expected,omitempty"` // hash the chain expected as predecessor
	Received string `json:"received,omitempty"` // previousProofHash the event claimed
}

// PeriodState is our own total for the period, including this event's match.
type PeriodState struct {
	Ours float64 `json:"ours"`
}

// Batch sequence verdicts.
const (
	BatchFirst       = "first"       // first batch seen on the stream
	BatchNext        = "next"        // the batch right after the watermark
	BatchAhead       = "ahead"       // after the watermark, with batches between not seen yet
	BatchReplay      = "replay"      // applied before, or at or below the watermark
	BatchUnsequenced = "unsequenced" // its id carries no sequence number
)

// BatchState is the batch stream's sequence as it stands for this event.
// LastSeq is the watermark: every batch up to it was applied or given up on.
type BatchState struct {
	Status      string `json:"status"`
	LastSeq     int64  `json:"lastSeq"`
	LastBatchID string `json:"lastBatchId,omitempty"`
}

// ItemTotal is the local ledger's running total for one key.
type ItemTotal struct {
	Bits   float64 `json:"bits"`
	Writes int64   `json:"writes"`
}

// ThrottleState is whether low-priority submission should be held back.
type ThrottleState struct {
	Active bool   `json:"active"`
	Since  string `json:"since,omitempty"`
	Reason string `json:"reason,omitempty"`
}
