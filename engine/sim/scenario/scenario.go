// Package scenario generates realistic PacSpace event streams for the
// simulator: customers whose deltas form real proof chains over running
// periods and draining plan usage, a seed-000 batch stream with per-key item
// totals and a credit balance, and the internal ledger records that match
// them. Faults are injected at chosen rates, and each is written down as a
// line of ground truth saying what the agent must do about it.
//
// A scenario is a pure function of its Config: the same seed gives the same
// bytes. What the ground truth promises holds when the events of each stream
// are delivered one after another, in order (Item.Stream), to an agent that
// has the scenario's ledger records and runs the default thresholds. A
// Runner delivers a scenario that way through an in-process sim, and
// records how each delivery was answered; Verify compares the ground truth
// and those answers with what the agent decided.
package scenario

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/sim"
	"github.com/arbiter-dev/arbiter/policies"
)

// Payload shapes a scenario may generate.
const (
	ShapeMixed = "mixed" // customers' delta streams and one batch stream
	ShapeDelta = "delta" // seed 001 deltas only
	ShapeBatch = "batch" // seed 000 batches only
)

// Defaults for zero Config fields.
const (
	DefaultCustomers  = 8
	DefaultBatchShare = 0.2
)

// DefaultStart is the scenario clock's start when Config.Start is zero.
var DefaultStart = time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC)

// StaleSkew is how far back a stale-timestamp delivery is stamped: twice
// the receiver's default tolerance.
const StaleSkew = -10 * time.Minute

// Config describes a scenario.
type Config struct {
	Seed       uint64
	Customers  int     // delta streams; default 8
	Shape      string  // mixed (default), delta or batch
	BatchShare float64 // in mixed, the share of steps on the batch stream; default 0.2
	// Start is when the scenario's clock starts: event times, and batch
	// numbers (Unix seconds × 10⁶ onwards, as arbiter load numbers them, so
	// later runs continue an agent's batch stream). Default DefaultStart.
	Start      time.Time
	Faults     Faults
	Thresholds Thresholds // default: the shipped policies/data.json
}

// Thresholds are the policy thresholds faults must cross and clean events
// must not: data.thresholds of the policy set.
type Thresholds struct {
	Drift                 float64 `json:"drift"`
	DiscrepancyRatio      float64 `json:"discrepancy_ratio"`
	UtilizationPct        float64 `json:"utilization_pct"`
	RemainingDeltas       float64 `json:"remaining_deltas"`
	LowBalance            float64 `json:"low_balance"`
	VerificationLatencyMs float64 `json:"verification_latency_ms"`
	BatchLatencyMs        float64 `json:"batch_latency_ms"`
}

// DefaultThresholds reads the shipped policies/data.json.
func DefaultThresholds() (Thresholds, error) {
	raw, err := policies.FS.ReadFile("data.json")
	if err != nil {
		return Thresholds{}, err
	}
	var d struct {
		Thresholds Thresholds `json:"thresholds"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return Thresholds{}, fmt.Errorf("policies/data.json: %w", err)
	}
	return d.Thresholds, nil
}

// Item is one delivery to make.
type Item struct {
	Event sim.Event
	// Stream orders delivery: an item is sent only once the one before it
	// in its stream was answered.
	Stream string
	// Expect is how the receiver should answer.
	Expect Answer
	// Kind is set on the extra delivery a delivery fault adds: the second
	// of a duplicate, a replayed body, a stale redelivery, a forgery.
	Kind Kind
}

// Step is what one step of one stream produced.
type Step struct {
	Items   []Item
	Truth   []Truth
	Records []engine.LedgerRecord
}

// Generator produces a scenario step by step. It is not safe for
// concurrent use.
type Generator struct {
	cfg    Config
	rng    *rand.Rand
	tag    string
	clock  time.Time
	nextID int64
	refs   int64
	custs  []*customer
	batch  *batchStream
	step   *Step // being built
}

// New returns a generator for cfg.
func New(cfg Config) (*Generator, error) {
	if cfg.Shape == "" {
		cfg.Shape = ShapeMixed
	}
	if cfg.Customers == 0 {
		cfg.Customers = DefaultCustomers
	}
	if cfg.BatchShare == 0 {
		cfg.BatchShare = DefaultBatchShare
	}
	if cfg.Start.IsZero() {
		cfg.Start = DefaultStart
	}
	cfg.Start = cfg.Start.UTC().Truncate(time.Millisecond)
	if cfg.Thresholds == (Thresholds{}) {
		th, err := DefaultThresholds()
		if err != nil {
			return nil, fmt.Errorf("scenario: %w", err)
		}
		cfg.Thresholds = th
	}
	switch {
	case cfg.Shape != ShapeMixed && cfg.Shape != ShapeDelta && cfg.Shape != ShapeBatch:
		return nil, fmt.Errorf("scenario: unknown shape %q (want mixed, delta or batch)", cfg.Shape)
	case cfg.Customers < 1 || cfg.Customers > 1_000_000:
		return nil, fmt.Errorf("scenario: %d customers: want 1 to 1000000", cfg.Customers)
	case cfg.BatchShare < 0 || cfg.BatchShare > 1:
		return nil, errors.New("scenario: batch share must be from 0 to 1")
	}
	for k, r := range cfg.Faults {
		if r < 0 || r > 1 {
			return nil, fmt.Errorf("scenario: fault %s: rate must be from 0 to 1", k)
		}
		if expectations[k] == nil {
			return nil, fmt.Errorf("scenario: unknown fault kind %q", k)
		}
	}
	g := &Generator{
		cfg:   cfg,
		rng:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed5ce7a7105)),
		tag:   "s" + strconv.FormatUint(cfg.Seed, 16),
		clock: cfg.Start,
	}
	if cfg.Shape != ShapeBatch {
		for i := range cfg.Customers {
			g.custs = append(g.custs, g.newCustomer(i))
		}
	}
	if cfg.Shape != ShapeDelta {
		g.batch = g.newBatchStream()
	}
	return g, nil
}

// Scenario names this scenario in its ids and in the ground truth.
func (g *Generator) Scenario() string { return g.tag }

// Next generates the next step: one stream moves on by one or a few events.
func (g *Generator) Next() Step {
	g.step = &Step{}
	g.clock = g.clock.Add(time.Duration(100+g.rng.IntN(1900)) * time.Millisecond)
	if g.batch != nil && (g.custs == nil || g.rng.Float64() < g.cfg.BatchShare) {
		g.batchStep()
	} else {
		g.deltaStep(g.custs[g.rng.IntN(len(g.custs))])
	}
	s := *g.step
	g.step = nil
	return s
}

// pick draws at most one fault among the kinds possible for this step.
func (g *Generator) pick(possible func(Kind) bool) Kind {
	var kinds []Kind
	total := 0.0
	for _, k := range Kinds {
		if g.cfg.Faults[k] > 0 && possible(k) {
			kinds = append(kinds, k)
			total += g.cfg.Faults[k]
		}
	}
	u := g.rng.Float64() * max(total, 1)
	for _, k := range kinds {
		if u < g.cfg.Faults[k] {
			return k
		}
		u -= g.cfg.Faults[k]
	}
	return ""
}

func (g *Generator) newID() string {
	g.nextID++
	return fmt.Sprintf("%s%06d", EventPrefix(g.tag), g.nextID)
}

// emit adds a delivery of a new event to the step.
func (g *Generator) emit(stream, typ string, body []byte) *Item {
	g.step.Items = append(g.step.Items, Item{
		Event:  sim.Event{ID: g.newID(), Type: typ, Body: body},
		Stream: stream,
		Expect: Answer{Outcome: Accepted},
	})
	return &g.step.Items[len(g.step.Items)-1]
}

// truth records that the event eventID carries an anomaly of kind k.
func (g *Generator) truth(eventID string, k Kind) {
	for _, e := range expectations[k] {
		g.step.Truth = append(g.step.Truth, Truth{Scenario: g.tag, EventID: eventID, Kind: k, Expect: e})
	}
}

// deliveryFault applies a fault of how an event is delivered, rather than
// of what it says, around the step's item at index i. tampered is a body
// that differs from the item's in a way a forger would want.
func (g *Generator) deliveryFault(k Kind, i int, tampered []byte) {
	it := g.step.Items[i]
	var extra Item
	switch k {
	case Duplicate:
		extra = it
		extra.Expect = Answer{Outcome: Duplicated}
		g.truth(it.Event.ID, k)
	case Replay:
		extra = it
		extra.Event.ID = g.newID()
		extra.Expect = Answer{Outcome: Duplicated}
		g.truth(extra.Event.ID, k)
	case StaleTimestamp:
		extra = it
		extra.Event.Fault.TimestampSkew = StaleSkew
		extra.Expect = Answer{Outcome: Rejected, Reason: "stale_timestamp"}
		g.truth(it.Event.ID, k)
	case BadSignature:
		extra = it
		extra.Event.ID = g.newID()
		extra.Event.Body = tampered
		extra.Event.Fault.BadSignature = true
		extra.Expect = Answer{Outcome: Rejected, Reason: "bad_signature"}
		g.truth(extra.Event.ID, k)
	default:
		return
	}
	extra.Kind = k
	at := i + 1
	if k == BadSignature {
		at = i // the forgery comes first, so the real event is still new
	}
	g.step.Items = slices.Insert(g.step.Items, at, extra)
}

// isDeliveryFault reports whether k is about delivery rather than content,
// which applies to any stream.
func isDeliveryFault(k Kind) bool {
	return k == Duplicate || k == Replay || k == StaleTimestamp || k == BadSignature
}

func (g *Generator) timestamp(t time.Time) string { return t.UTC().Format(timeLayout) }

// timeLayout is PacSpace's timestamp: RFC 3339, milliseconds, UTC.
const timeLayout = "2006-01-02T15:04:05.000Z"

type envelope struct {
	Event     string `json:"event"`
	Timestamp string `json:"timestamp"`
	Data      any    `json:"data"`
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("scenario: " + err.Error()) // only our own plain structs are marshalled
	}
	return b
}

// ProofHash is the proof hash of a delta: the hex SHA-256 of its canonical
// fields, {"customerId":…,"referenceId":…,"amount":…} as compact JSON, then
// the previous proof hash (64 zeros for a customer's first delta).
func ProofHash(customerID, referenceID string, amount float64, previous string) string {
	h := sha256.New()
	h.Write(marshal(deltaFields{CustomerID: customerID, ReferenceID: referenceID, Amount: amount}))
	h.Write([]byte(previous))
	return hex.EncodeToString(h.Sum(nil))
}

// GenesisHash is the previous proof hash of a customer's first delta.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

func (g *Generator) randomHash() string {
	var b [32]byte
	for i := 0; i < len(b); i += 8 {
		v := g.rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return hex.EncodeToString(b[:])
}

// between returns a uniform integer in [lo, hi].
func (g *Generator) between(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + g.rng.Int64N(hi-lo+1)
}
