package policy

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

func FuzzRawValue(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":[true,false,null,-0.5e+10,"x"],"c":{}}`,
		` [ ] `, `"\u00e9\ud83d\ude00\n\"\/"`, `{"a":1,"a":2}`, "\"caf\xe9\"", `1E400`, `{"a":`, `nul`, ``,
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k0":"last"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := ast.ValueFromReader(bytes.NewReader(b))
		got, gerr := rawValue(b)
		if werr != nil || gerr != nil {
			// ValueFromReader reads one value and ignores what follows;
			// rawValue, like json.Marshal of a RawMessage, refuses it.
			require.True(t, gerr != nil || werr == nil, "rawValue accepted what ValueFromReader refused", werr)
			return
		}
		require.True(t, want.Compare(got) == 0, "want "+want.String()+" got "+got.String())
		wj, err := appendJSON(nil, want)
		require.NoError(t, err)
		gj, err := appendJSON(nil, got)
		require.NoError(t, err)
		require.Equal(t, string(wj), string(gj))
	})
}

// BenchmarkRawValue parses a webhook payload's data object, as the builder
// does for input.data, against ast.ValueFromReader.
func BenchmarkRawValue(b *testing.B) {
	body, err := os.ReadFile("../../testdata/events/delta.verified.json")
	require.NoError(b, err)
	var payload struct{ Data json.RawMessage }
	require.NoError(b, json.Unmarshal(body, &payload))
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rawValue(payload.Data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("value_from_reader", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ast.ValueFromReader(bytes.NewReader(payload.Data)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
