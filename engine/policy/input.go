package policy

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/normalize"
)

// The builder below turns an *engine.Input into the ast.Value policies
// evaluate, field by field. It produces exactly the document that
// ast.MustParseTerm(json.Marshal(in)) would (the tests hold it to that), with
// omitempty fields left out the way encoding/json leaves them out, but
// without the JSON round trip: the input is built once per event on the hot
// path, and marshalling then parsing costs several times more (see
// BenchmarkDecide/json_roundtrip). Only the payload's raw JSON (Data,
// discrepancies) is parsed, as it arrives as JSON.

// Object keys, built once. Terms are immutable once built, so one key term
// can be shared by every input document.
var (
	kVersion, kEvent, kDelta, kVerification, kProof, kPeriod, kUsage, kBatch, kData, kDerived, kState = key("version"), key("event"), key("delta"), key("verification"), key("proof"), key("period"), key("usage"), key("batch"), key("data"), key("derived"), key("state")

	kID, kType, kTimestamp, kReceivedAt, kEndpoint, kScheme, kShape = key("id"), key("type"), key("timestamp"), key("receivedAt"), key("endpoint"), key("scheme"), key("shape")

	kCustomerID, kReferenceID, kAmount, kDeltaIndex, kReceiptID = key("customerId"), key("referenceId"), key("amount"), key("deltaIndex"), key("receiptId")

	kVerified, kDiscrepancies, kLatencyMs, kVerifiedAt = key("verified"), key("discrepancies"), key("latencyMs"), key("verifiedAt")

	kProofHash, kPreviousProofHash, kNetDelta = key("proofHash"), key("previousProofHash"), key("netDelta")

	kConsumedDeltas, kIncludedDeltas, kRemainingDeltas, kOverageRate, kCreditsConsumed, kRemainingBalance = key("consumedDeltas"), key("includedDeltas"), key("remainingDeltas"), key("overageRate"), key("creditsConsumed"), key("remainingBalance")

	kSeq, kItems, kSubmittedAt, kKey, kBits, kWrites = key("seq"), key("items"), key("submittedAt"), key("key"), key("bits"), key("writes")

	kUtilization = key("utilization")

	kRecord, kChain, kThrottle, kPeriodID, kTime = key("record"), key("chain"), key("throttle"), key("periodId"), key("time")

	kStatus, kHead, kLength, kExpected, kReceived, kOurs, kLastSeq, kLastBatchID = key("status"), key("head"), key("length"), key("expected"), key("received"), key("ours"), key("lastSeq"), key("lastBatchId")

	kActive, kSince, kReason = key("active"), key("since"), key("reason")
)

func key(s string) *ast.Term { return ast.StringTerm(s) }

// Values nearly every document carries, built once and shared like the
// keys: the version, signature schemes, shapes and the trackers' verdicts.
var common = func() map[string]*ast.Term {
	m := map[string]*ast.Term{}
	for _, s := range []string{
		engine.InputVersion, string(engine.SchemeV1), string(engine.SchemeLegacy),
		normalize.ShapeDelta, normalize.ShapeBatch, normalize.ShapeGeneric,
		engine.ChainGenesis, engine.ChainLinked, engine.ChainDuplicate, engine.ChainGap, engine.ChainFork, engine.ChainMismatch,
		engine.BatchFirst, engine.BatchNext, engine.BatchAhead, engine.BatchReplay, engine.BatchUnsequenced,
	} {
		m[s] = ast.StringTerm(s)
	}
	return m
}()

// The throttle as it nearly always is: off, or on with no details.
var (
	throttleOff = ast.ObjectTerm([2]*ast.Term{kActive, ast.InternedTerm(false)})
	throttleOn  = ast.ObjectTerm([2]*ast.Term{kActive, ast.InternedTerm(true)})
)

// inputBuilder collects the first error (a NaN, an infinity or invalid raw
// JSON: what json.Marshal would refuse) so the builders can stay linear.
type inputBuilder struct {
	termSlab
	err error
}

// termSlab hands out terms from slabs: one allocation for dozens of terms
// instead of one each. A slab lives as long as any of its terms, which is
// as long as the input document, or, for Decide's pooled builders, until
// the decision has been read (see inputBuilders).
type termSlab struct {
	slab []ast.Term
}

// slabSize fits the terms of a typical input document in one slab: a
// delta event takes about 40, shared values not counted.
const slabSize = 48

func (ts *termSlab) term(v ast.Value) *ast.Term {
	if len(ts.slab) == cap(ts.slab) {
		ts.slab = make([]ast.Term, 0, slabSize)
	}
	ts.slab = append(ts.slab, ast.Term{Value: v})
	return &ts.slab[len(ts.slab)-1]
}

// Decide takes its builder from a pool and puts it back once the decision
// has been read: by then nothing refers to the terms of the document, so
// its last slab can hold the next document's terms. The evaluator keeps no
// terms past an evaluation (no inter-query cache is set), and the Decision
// holds only Go strings and bytes of its own. What the terms point to
// (strings, numbers, objects) is never reused, only the Term cells.
var inputBuilders = sync.Pool{New: func() any { return new(inputBuilder) }}

func getInputBuilder() *inputBuilder { return inputBuilders.Get().(*inputBuilder) }

func putInputBuilder(b *inputBuilder) {
	clear(b.slab) // drop the document's values, which may be large
	b.slab = b.slab[:0]
	b.err = nil
	inputBuilders.Put(b)
}

func (b *inputBuilder) object(kv ...[2]*ast.Term) *ast.Term {
	if len(kv) == 0 {
		return ast.InternedEmptyObject
	}
	return b.term(ast.NewObject(kv...))
}

func (b *inputBuilder) array(elems []*ast.Term) *ast.Term {
	if len(elems) == 0 {
		return ast.InternedEmptyArray
	}
	return b.term(ast.NewArray(elems...))
}

func (b *inputBuilder) str(s string) *ast.Term { return b.term(strValue(s)) }

// enum is str for fields that take one of a few values.
func (b *inputBuilder) enum(s string) *ast.Term {
	if t, ok := common[s]; ok {
		return t
	}
	return b.str(s)
}

// inputValue returns in as the document policies see.
func inputValue(in *engine.Input) (ast.Value, error) {
	return new(inputBuilder).value(in)
}

// value builds in with b's slab; b must be empty.
func (b *inputBuilder) value(in *engine.Input) (ast.Value, error) {
	if in == nil {
		return nil, fmt.Errorf("policy: input: nil")
	}
	kv := make([][2]*ast.Term, 0, 11)
	kv = append(kv,
		[2]*ast.Term{kVersion, b.enum(in.Version)},
		[2]*ast.Term{kEvent, b.envelope(&in.Event)})
	if in.Delta != nil {
		kv = append(kv, [2]*ast.Term{kDelta, b.delta(in.Delta)})
	}
	if in.Verification != nil {
		kv = append(kv, [2]*ast.Term{kVerification, b.verification(in.Verification)})
	}
	if in.Proof != nil {
		kv = append(kv, [2]*ast.Term{kProof, b.object(
			[2]*ast.Term{kProofHash, b.str(in.Proof.ProofHash)},
			[2]*ast.Term{kPreviousProofHash, b.str(in.Proof.PreviousProofHash)})})
	}
	if in.Period != nil {
		kv = append(kv, [2]*ast.Term{kPeriod, b.object(
			[2]*ast.Term{kID, b.str(in.Period.ID)},
			[2]*ast.Term{kNetDelta, b.float(in.Period.NetDelta)})})
	}
	if in.Usage != nil {
		kv = append(kv, [2]*ast.Term{kUsage, b.usage(in.Usage)})
	}
	if in.Batch != nil {
		kv = append(kv, [2]*ast.Term{kBatch, b.batch(in.Batch)})
	}
	if len(in.Data) > 0 {
		kv = append(kv, [2]*ast.Term{kData, b.raw(in.Data)})
	}
	kv = append(kv,
		[2]*ast.Term{kDerived, b.derived(&in.Derived)},
		[2]*ast.Term{kState, b.state(&in.State)})
	if b.err != nil {
		return nil, fmt.Errorf("policy: input: %w", b.err)
	}
	return ast.NewObject(kv...), nil
}

func (b *inputBuilder) envelope(e *engine.Envelope) *ast.Term {
	kv := make([][2]*ast.Term, 0, 7)
	kv = append(kv, [2]*ast.Term{kID, b.str(e.ID)}, [2]*ast.Term{kType, b.str(e.Type)})
	if e.Timestamp != "" {
		kv = append(kv, [2]*ast.Term{kTimestamp, b.str(e.Timestamp)})
	}
	kv = append(kv,
		[2]*ast.Term{kReceivedAt, b.str(e.ReceivedAt)},
		[2]*ast.Term{kEndpoint, b.str(e.Endpoint)},
		[2]*ast.Term{kScheme, b.enum(string(e.Scheme))},
		[2]*ast.Term{kShape, b.enum(e.Shape)})
	return b.object(kv...)
}

func (b *inputBuilder) delta(d *engine.DeltaSection) *ast.Term {
	kv := make([][2]*ast.Term, 0, 5)
	kv = append(kv,
		[2]*ast.Term{kCustomerID, b.str(d.CustomerID)},
		[2]*ast.Term{kReferenceID, b.str(d.ReferenceID)},
		[2]*ast.Term{kAmount, b.float(d.Amount)},
		[2]*ast.Term{kDeltaIndex, b.integer(d.DeltaIndex)})
	if d.ReceiptID != "" {
		kv = append(kv, [2]*ast.Term{kReceiptID, b.str(d.ReceiptID)})
	}
	return b.object(kv...)
}

func (b *inputBuilder) verification(v *engine.VerificationSect) *ast.Term {
	var disc *ast.Term
	if v.Discrepancies == nil {
		disc = ast.InternedNullTerm
	} else {
		elems := make([]*ast.Term, len(v.Discrepancies))
		for i, d := range v.Discrepancies {
			elems[i] = b.raw(d)
		}
		disc = b.array(elems)
	}
	kv := make([][2]*ast.Term, 0, 4)
	kv = append(kv,
		[2]*ast.Term{kVerified, ast.InternedTerm(v.Verified)},
		[2]*ast.Term{kDiscrepancies, disc},
		[2]*ast.Term{kLatencyMs, b.float(v.LatencyMs)})
	if v.VerifiedAt != "" {
		kv = append(kv, [2]*ast.Term{kVerifiedAt, b.str(v.VerifiedAt)})
	}
	return b.object(kv...)
}

func (b *inputBuilder) usage(u *engine.UsageSection) *ast.Term {
	kv := make([][2]*ast.Term, 0, 6)
	kv = b.optFloat(kv, kConsumedDeltas, u.ConsumedDeltas)
	kv = b.optFloat(kv, kIncludedDeltas, u.IncludedDeltas)
	kv = b.optFloat(kv, kRemainingDeltas, u.RemainingDeltas)
	kv = b.optFloat(kv, kOverageRate, u.OverageRate)
	kv = b.optFloat(kv, kCreditsConsumed, u.CreditsConsumed)
	kv = b.optFloat(kv, kRemainingBalance, u.RemainingBalance)
	return b.object(kv...)
}

func (b *inputBuilder) batch(bs *engine.BatchSection) *ast.Term {
	var items *ast.Term
	if bs.Items == nil {
		items = ast.InternedNullTerm
	} else {
		elems := make([]*ast.Term, len(bs.Items))
		for i, it := range bs.Items {
			elems[i] = b.object(
				[2]*ast.Term{kKey, b.str(it.Key)},
				[2]*ast.Term{kBits, b.float(it.Bits)})
		}
		items = b.array(elems)
	}
	kv := make([][2]*ast.Term, 0, 5)
	kv = append(kv,
		[2]*ast.Term{kID, b.str(bs.ID)},
		[2]*ast.Term{kSeq, b.integer(bs.Seq)},
		[2]*ast.Term{kItems, items})
	if bs.SubmittedAt != "" {
		kv = append(kv, [2]*ast.Term{kSubmittedAt, b.str(bs.SubmittedAt)})
	}
	if bs.VerifiedAt != "" {
		kv = append(kv, [2]*ast.Term{kVerifiedAt, b.str(bs.VerifiedAt)})
	}
	return b.object(kv...)
}

func (b *inputBuilder) derived(d *engine.Derived) *ast.Term {
	kv := make([][2]*ast.Term, 0, 2)
	kv = b.optFloat(kv, kLatencyMs, d.LatencyMs)
	kv = b.optFloat(kv, kUtilization, d.Utilization)
	return b.object(kv...)
}

func (b *inputBuilder) state(s *engine.State) *ast.Term {
	kv := make([][2]*ast.Term, 0, 6)
	if r := s.Record; r != nil {
		kv = append(kv, [2]*ast.Term{kRecord, b.object(
			[2]*ast.Term{kReferenceID, b.str(r.ReferenceID)},
			[2]*ast.Term{kCustomerID, b.str(r.CustomerID)},
			[2]*ast.Term{kAmount, b.float(r.Amount)},
			[2]*ast.Term{kPeriodID, b.str(r.PeriodID)},
			[2]*ast.Term{kTime, b.str(r.Time)})})
	} else {
		kv = append(kv, [2]*ast.Term{kRecord, ast.InternedNullTerm})
	}
	if c := s.Chain; c != nil {
		ckv := make([][2]*ast.Term, 0, 5)
		ckv = append(ckv, [2]*ast.Term{kStatus, b.enum(c.Status)})
		ckv = b.optStr(ckv, kHead, c.Head)
		ckv = append(ckv, [2]*ast.Term{kLength, b.integer(c.Length)})
		ckv = b.optStr(ckv, kExpected, c.Expected)
		ckv = b.optStr(ckv, kReceived, c.Received)
		kv = append(kv, [2]*ast.Term{kChain, b.object(ckv...)})
	}
	if p := s.Period; p != nil {
		kv = append(kv, [2]*ast.Term{kPeriod, b.object([2]*ast.Term{kOurs, b.float(p.Ours)})})
	}
	if bs := s.Batch; bs != nil {
		bkv := make([][2]*ast.Term, 0, 3)
		bkv = append(bkv,
			[2]*ast.Term{kStatus, b.enum(bs.Status)},
			[2]*ast.Term{kLastSeq, b.integer(bs.LastSeq)})
		bkv = b.optStr(bkv, kLastBatchID, bs.LastBatchID)
		kv = append(kv, [2]*ast.Term{kBatch, b.object(bkv...)})
	}
	if len(s.Items) > 0 {
		ikv := make([][2]*ast.Term, 0, len(s.Items))
		for k, it := range s.Items {
			ikv = append(ikv, [2]*ast.Term{b.str(k), b.object(
				[2]*ast.Term{kBits, b.float(it.Bits)},
				[2]*ast.Term{kWrites, b.integer(it.Writes)})})
		}
		kv = append(kv, [2]*ast.Term{kItems, b.object(ikv...)})
	}
	kv = append(kv, [2]*ast.Term{kThrottle, b.throttle(&s.Throttle)})
	return b.object(kv...)
}

func (b *inputBuilder) throttle(t *engine.ThrottleState) *ast.Term {
	if t.Since == "" && t.Reason == "" {
		if t.Active {
			return throttleOn
		}
		return throttleOff
	}
	kv := make([][2]*ast.Term, 0, 3)
	kv = append(kv, [2]*ast.Term{kActive, ast.InternedTerm(t.Active)})
	kv = b.optStr(kv, kSince, t.Since)
	kv = b.optStr(kv, kReason, t.Reason)
	return b.object(kv...)
}

// raw parses JSON that arrives as JSON: the payload's data object and
// PacSpace's discrepancy objects.
func (b *inputBuilder) raw(msg json.RawMessage) *ast.Term {
	v, err := b.rawValue(msg)
	if err != nil {
		if b.err == nil {
			b.err = fmt.Errorf("raw JSON: %w", err)
		}
		return ast.InternedNullTerm
	}
	return b.term(v)
}

func (b *inputBuilder) optFloat(kv [][2]*ast.Term, k *ast.Term, f *float64) [][2]*ast.Term {
	if f == nil {
		return kv
	}
	return append(kv, [2]*ast.Term{k, b.float(*f)})
}

func (b *inputBuilder) optStr(kv [][2]*ast.Term, k *ast.Term, s string) [][2]*ast.Term {
	if s == "" {
		return kv
	}
	return append(kv, [2]*ast.Term{k, b.str(s)})
}

// float formats f as encoding/json does, so that a rule echoing a number
// into an action shows it the way the JSON form of the input would.
func (b *inputBuilder) float(f float64) *ast.Term {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		if b.err == nil {
			b.err = fmt.Errorf("unsupported number %v", f)
		}
		return ast.InternedNullTerm
	}
	var buf [32]byte
	return b.term(ast.Number(appendJSONFloat(buf[:0], f)))
}

// appendJSONFloat is encoding/json's float64 encoding: shortest decimal,
// exponent form only below 1e-6 or from 1e21, with a two-digit exponent
// trimmed ("1e-07" → "1e-7").
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

func (b *inputBuilder) integer(i int64) *ast.Term {
	if ast.HasInternedValue(i) {
		return ast.InternedTerm(i)
	}
	return b.term(ast.Number(strconv.FormatInt(i, 10)))
}

// strValue is a string holding what encoding/json would send: invalid
// UTF-8 bytes each become U+FFFD.
func strValue(s string) ast.Value {
	if utf8.ValidString(s) {
		return ast.String(s)
	}
	out := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, s[i:i+size]...)
		}
		i += size
	}
	return ast.String(out)
}
