package policy

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// fullInput has every section and every optional field set.
func fullInput() *engine.Input {
	return &engine.Input{
		Version: engine.InputVersion,
		Event: engine.Envelope{ID: "evt_1", Type: "delta.verified", Timestamp: "2026-04-10T12:00:00.000Z",
			ReceivedAt: "2026-04-10T12:00:00.412Z", Endpoint: "pacspace", Scheme: engine.SchemeV1, Shape: "delta"},
		Delta: &engine.DeltaSection{CustomerID: "cus_8421", ReferenceID: "ref_1", Amount: 125.5, DeltaIndex: 42, ReceiptID: "rcpt_1"},
		Verification: &engine.VerificationSect{Verified: false, LatencyMs: 7200, VerifiedAt: "2026-04-10T11:59:59.160Z",
			Discrepancies: []json.RawMessage{json.RawMessage(`{"field":"amount","expected":125.5,"actual":152.5}`), json.RawMessage(` "free text" `)}},
		Proof:  &engine.ProofSection{ProofHash: "h2", PreviousProofHash: "h1"},
		Period: &engine.PeriodSection{ID: "2026-04", NetDelta: 1234.5},
		Usage: &engine.UsageSection{ConsumedDeltas: ptr(5120.0), IncludedDeltas: ptr(10000.0), RemainingDeltas: ptr(4880.0),
			OverageRate: ptr(0.002), CreditsConsumed: ptr(3.0), RemainingBalance: ptr(750.0)},
		Batch: &engine.BatchSection{ID: "batch_42", Seq: 42, SubmittedAt: "2026-04-10T12:00:00Z", VerifiedAt: "2026-04-10T12:00:45Z",
			Items: []engine.BatchItem{{Key: "acct:1", Bits: 2048}, {Key: "acct:2", Bits: 0.5}}},
		Data:    json.RawMessage(`{"receiptId":"rcpt_1","nested":{"a":[1,2.50,true,null]},"big":1e400}`),
		Derived: engine.Derived{LatencyMs: ptr(45000.0), Utilization: ptr(51.2)},
		State: engine.State{
			Record:   &engine.LedgerRecord{ReferenceID: "ref_1", CustomerID: "cus_8421", Amount: 125.5, PeriodID: "2026-04", Time: "2026-04-10T11:59:58.500Z"},
			Chain:    &engine.ChainState{Status: engine.ChainMismatch, Head: "h1", Length: 41, Expected: "h1", Received: "hx"},
			Period:   &engine.PeriodState{Ours: 1234.5},
			Batch:    &engine.BatchState{Status: engine.BatchReplay, LastSeq: 42, LastBatchID: "batch_42"},
			Items:    map[string]engine.ItemTotal{"acct:1": {Bits: 2048, Writes: 3}, "acct:2": {Bits: 1, Writes: 1}},
			Throttle: engine.ThrottleState{Active: true, Since: "2026-04-10T00:00:00Z", Reason: "approaching_limit"},
		},
	}
}

func TestInputValueMatchesJSON(t *testing.T) {
	tests := []struct {
		name string
		in   *engine.Input
	}{
		{"zero", &engine.Input{}},
		{"all sections", fullInput()},
		{"nil pointers and empty sections", &engine.Input{
			Version:      engine.InputVersion,
			Delta:        &engine.DeltaSection{},
			Verification: &engine.VerificationSect{},
			Proof:        &engine.ProofSection{},
			Period:       &engine.PeriodSection{},
			Usage:        &engine.UsageSection{},
			Batch:        &engine.BatchSection{},
			State:        engine.State{Chain: &engine.ChainState{}, Period: &engine.PeriodState{}, Batch: &engine.BatchState{}},
		}},
		{"empty slices and maps", &engine.Input{
			Verification: &engine.VerificationSect{Discrepancies: []json.RawMessage{}},
			Batch:        &engine.BatchSection{Items: []engine.BatchItem{}},
			State:        engine.State{Items: map[string]engine.ItemTotal{}},
		}},
		{"data null", &engine.Input{Data: json.RawMessage(`null`)}},
		{"data scalar", &engine.Input{Data: json.RawMessage(` 42 `)}},
		{"numbers as encoding/json writes them", &engine.Input{
			Delta:   &engine.DeltaSection{Amount: 1e21, DeltaIndex: math.MaxInt64},
			Period:  &engine.PeriodSection{NetDelta: -1e-7},
			Derived: engine.Derived{LatencyMs: ptr(0.000001), Utilization: ptr(math.Copysign(0, -1))},
			Usage:   &engine.UsageSection{ConsumedDeltas: ptr(123456789.125), OverageRate: ptr(0.1), RemainingBalance: ptr(1e20)},
			Batch:   &engine.BatchSection{Seq: math.MinInt64, Items: []engine.BatchItem{{Bits: 5e-324}, {Bits: math.MaxFloat64}}},
		}},
		{"strings needing escapes and invalid UTF-8", &engine.Input{
			Event: engine.Envelope{ID: "a\"b\\c\n\t\u2028<>&", Type: "caf\xe9", Endpoint: "\xff\xfe", Shape: "ok \U0001F600"},
			State: engine.State{Items: map[string]engine.ItemTotal{"k\x80": {Bits: 1}}},
		}},
	}
	// Every golden input document of the repository, too.
	golden, _ := filepath.Glob("../../testdata/inputs/*.input.json")
	for _, p := range golden {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		var in engine.Input
		require.NoError(t, json.Unmarshal(b, &in), p)
		tests = append(tests, struct {
			name string
			in   *engine.Input
		}{filepath.Base(p), &in})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			requireSameAsJSON(t, tc.in)
		})
	}
}

// requireSameAsJSON checks that the builder makes exactly the document the
// JSON form parses to: equal values, and the same number literals (checked
// through appendJSON, which writes them verbatim).
func requireSameAsJSON(t testing.TB, in *engine.Input) {
	t.Helper()
	b, err := json.Marshal(in)
	require.NoError(t, err)
	want := ast.MustParseTerm(string(b)).Value
	got, err := inputValue(in)
	require.NoError(t, err)
	require.True(t, want.Compare(got) == 0, "builder and JSON differ:\n json:    "+want.String()+"\n builder: "+got.String())
	wantJSON, err := appendJSON(nil, want)
	require.NoError(t, err)
	gotJSON, err := appendJSON(nil, got)
	require.NoError(t, err)
	require.Equal(t, string(wantJSON), string(gotJSON))
}

func TestInputValueRefusesWhatJSONRefuses(t *testing.T) {
	tests := []struct {
		name string
		in   *engine.Input
	}{
		{"nil", nil},
		{"NaN", &engine.Input{Period: &engine.PeriodSection{NetDelta: math.NaN()}}},
		{"infinity", &engine.Input{Derived: engine.Derived{Utilization: ptr(math.Inf(1))}}},
		{"invalid raw data", &engine.Input{Data: json.RawMessage(`{"a":`)}},
		{"invalid discrepancy", &engine.Input{Verification: &engine.VerificationSect{Discrepancies: []json.RawMessage{json.RawMessage(`nope`)}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := inputValue(tc.in)
			require.True(t, err != nil, "expected an error")
			if tc.in != nil {
				_, jerr := json.Marshal(tc.in)
				require.True(t, jerr != nil, "json.Marshal accepts what the builder refused")
			}
		})
	}
}

func FuzzInputValue(f *testing.F) {
	f.Add("evt_1", "cus\xff", 125.5, int64(42), `{"a":1}`)
	f.Add("", "", 0.0, int64(0), `null`)
	f.Add("\u2028", "k", 1e-7, int64(-1), `[1,"x",{"y":false}]`)
	f.Fuzz(func(t *testing.T, s, k string, x float64, n int64, raw string) {
		in := fullInput()
		in.Event.ID, in.Delta.CustomerID, in.Delta.ReceiptID = s, k, s
		in.Delta.Amount, in.Delta.DeltaIndex, in.Usage.OverageRate = x, n, &x
		in.State.Items = map[string]engine.ItemTotal{k: {Bits: x, Writes: n}}
		in.Data = json.RawMessage(raw)
		if _, err := json.Marshal(in); err != nil {
			_, berr := inputValue(in)
			require.True(t, berr != nil, "builder accepted what json.Marshal refused: ", err)
			return
		}
		requireSameAsJSON(t, in)
	})
}
