package normalize_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/normalize"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

func load(t testing.TB, path string) *engine.Event {
	t.Helper()
	body, err := os.ReadFile(path)
	require.NoError(t, err)
	return &engine.Event{Seq: 1, Endpoint: "pacspace", EventID: "evt_" + filepath.Base(path), Scheme: engine.SchemeV1,
		Body: body, ReceivedAt: time.Date(2026, 4, 10, 12, 0, 1, 0, time.UTC)}
}

func TestFixtures(t *testing.T) {
	tests := []struct {
		file, shape, stream string
		check               func(t *testing.T, in *engine.Input)
	}{
		{"delta.verified", normalize.ShapeDelta, "customer:cus_8421", func(t *testing.T, in *engine.Input) {
			require.Equal(t, "ref_inv_20260410_0042", in.Delta.ReferenceID)
			require.Equal(t, 125.5, in.Delta.Amount)
			require.Equal(t, int64(42), in.Delta.DeltaIndex)
			require.Equal(t, true, in.Verification.Verified)
			require.Equal(t, 51.2, *in.Derived.Utilization)
			require.Equal(t, "2026-04", in.Period.ID)
			require.True(t, in.Data == nil, "delta events do not repeat the raw data")
		}},
		{"delta.failed", normalize.ShapeDelta, "customer:cus_8421", func(t *testing.T, in *engine.Input) {
			require.Equal(t, false, in.Verification.Verified)
			require.Equal(t, 1, len(in.Verification.Discrepancies))
		}},
		{"verification.completed", normalize.ShapeDelta, "customer:cus_8421", nil},
		{"verification.failed", normalize.ShapeDelta, "customer:cus_8421", func(t *testing.T, in *engine.Input) {
			require.Equal(t, 6400.0, in.Verification.LatencyMs)
		}},
		{"batch.verified", normalize.ShapeBatch, "batch:pacspace", func(t *testing.T, in *engine.Input) {
			require.Equal(t, int64(42), in.Batch.Seq)
			require.Equal(t, 3, len(in.Batch.Items))
			require.Equal(t, 12000.0, *in.Derived.LatencyMs)
			require.Equal(t, 8800.0, *in.Usage.RemainingBalance)
		}},
		{"verification.completed.batch", normalize.ShapeBatch, "batch:pacspace", nil},
		{"checkpoint.verified", normalize.ShapeGeneric, "customer:cus_8421", func(t *testing.T, in *engine.Input) {
			require.Equal(t, "2026-04", in.Period.ID)
			require.True(t, len(in.Data) > 0, "generic events keep their data")
		}},
		{"receipt.generated", normalize.ShapeGeneric, "customer:cus_8421", nil},
		{"test", normalize.ShapeGeneric, "endpoint:pacspace", func(t *testing.T, in *engine.Input) {
			require.Contains(t, string(in.Data), "This is a test webhook event")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			ev := load(t, filepath.Join("../../testdata/events", tc.file+".json"))
			n, err := normalize.Normalize(ev)
			require.NoError(t, err)
			in := &n.Input
			require.Equal(t, engine.InputVersion, in.Version)
			require.Equal(t, tc.shape, in.Event.Shape)
			require.Equal(t, tc.stream, n.Stream)
			require.Equal(t, ev.EventID, in.Event.ID)
			require.Equal(t, "pacspace", in.Event.Endpoint)
			require.Equal(t, "2026-04-10T12:00:01.000Z", in.Event.ReceivedAt)
			if tc.check != nil {
				tc.check(t, in)
			}
		})
	}
}

func TestUnknownTypeIsGeneric(t *testing.T) {
	ev := &engine.Event{Endpoint: "pacspace", Body: []byte(`{"event":"invoice.settled","data":{"invoiceId":"inv_1","total":12}}`)}
	n, err := normalize.Normalize(ev)
	require.NoError(t, err)
	require.Equal(t, "invoice.settled", n.Input.Event.Type)
	require.Equal(t, normalize.ShapeGeneric, n.Input.Event.Shape)
	require.Equal(t, `{"invoiceId":"inv_1","total":12}`, string(n.Input.Data))
}

func TestMalformed(t *testing.T) {
	tests := []struct{ name, body, reason string }{
		{"not json", `{"event":`, "envelope"},
		{"array", `[1]`, "envelope"},
		{"no event", `{"data":{}}`, `"event" must be`},
		{"event not string", `{"event":5,"data":{}}`, "event must be"},
		{"data not object", `{"event":"x","data":5}`, `"data" must be an object`},
		{"no data", `{"event":"x"}`, `"data" must be an object`},
		{"delta without customer", `{"event":"delta.verified","data":{"delta":{"referenceId":"r"}}}`, "customerId is required"},
		{"amount not number", `{"event":"delta.verified","data":{"delta":{"customerId":"c","referenceId":"r","amount":"12"}}}`, "delta.amount must be a number"},
		{"verified not bool", `{"event":"delta.verified","data":{"delta":{"customerId":"c","referenceId":"r"},"verification":{"verified":"yes"}}}`, "verification.verified must be a boolean"},
		{"verification without verdict", `{"event":"delta.verified","data":{"delta":{"customerId":"c","referenceId":"r"},"verification":{"latencyMs":5}}}`, "verified is required"},
		{"period without netDelta", `{"event":"delta.verified","data":{"delta":{"customerId":"c","referenceId":"r"},"period":{"id":"2026-04"}}}`, "netDelta is required"},
		{"bad timestamp", `{"event":"test","timestamp":"yesterday","data":{}}`, "RFC 3339"},
		{"proof without hash", `{"event":"delta.verified","data":{"delta":{"customerId":"c","referenceId":"r"},"proof":{}}}`, "proofHash is required"},
		{"items not array", `{"event":"batch.verified","data":{"batchId":"batch_1","items":5}}`, "items must be an array"},
		{"item without key", `{"event":"batch.verified","data":{"batchId":"batch_1","items":[{"bits":1}]}}`, "items[0].key is required"},
		{"bad batch times", `{"event":"batch.verified","data":{"batchId":"batch_1","submittedAt":"yesterday","verifiedAt":"now"}}`, "RFC 3339"},
		{"batch id not string", `{"event":"batch.verified","data":{"batchId":7}}`, "batchId must be"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := normalize.Normalize(&engine.Event{Body: []byte(tc.body)})
			require.True(t, errors.Is(err, normalize.ErrMalformed), err)
			require.Contains(t, err.Error(), tc.reason)
		})
	}
	entries, err := os.ReadDir("../../testdata/events/bad")
	require.NoError(t, err)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		t.Run("fixture "+e.Name(), func(t *testing.T) {
			_, err := normalize.Normalize(load(t, filepath.Join("../../testdata/events/bad", e.Name())))
			require.True(t, errors.Is(err, normalize.ErrMalformed), e.Name(), err)
		})
	}
}

func TestBatchSeq(t *testing.T) {
	for id, want := range map[string]int64{"batch_42": 42, "batch-7": 7, "42": 42, "batch": 0, "batch_x": 0} {
		require.Equal(t, want, normalize.BatchSeq(id), id)
	}
}

func FuzzNormalize(f *testing.F) {
	entries, _ := os.ReadDir("../../testdata/events")
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join("../../testdata/events", e.Name())); err == nil && strings.HasSuffix(e.Name(), ".json") {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := normalize.Normalize(&engine.Event{Endpoint: "pacspace", Body: body})
		if err != nil {
			if !errors.Is(err, normalize.ErrMalformed) {
				t.Fatalf("error not wrapped as malformed: %v", err)
			}
			return
		}
		if n.Stream == "" || n.Input.Event.Type == "" || n.Input.Event.Shape == "" {
			t.Fatalf("normalized event lacks stream, type or shape: %+v", n)
		}
	})
}

// FuzzDecoderAgrees: the normalizer decodes with github.com/goccy/go-json
// for speed while the receiver accepts what encoding/json calls valid; for
// every such body both must read the same document.
func FuzzDecoderAgrees(f *testing.F) {
	entries, _ := os.ReadDir("../../testdata/events")
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join("../../testdata/events", e.Name())); err == nil && strings.HasSuffix(e.Name(), ".json") {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		var std, fast any
		stdErr, fastErr := json.Unmarshal(body, &std), gojson.Unmarshal(body, &fast)
		if (stdErr == nil) != (fastErr == nil) {
			t.Fatalf("decoders disagree: encoding/json %v, go-json %v", stdErr, fastErr)
		}
		if stdErr != nil {
			return // both refuse it (a number out of range, say)
		}
		if !reflect.DeepEqual(std, fast) {
			t.Fatalf("decoders disagree:\nencoding/json %#v\ngo-json       %#v", std, fast)
		}
	})
}
