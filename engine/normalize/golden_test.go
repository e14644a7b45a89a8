package normalize_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/normalize"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	sch, err := c.Compile("input.schema.json")
	require.NoError(t, err)
	return sch
}

// TestGoldenInputsMatchSchema validates every golden input document.
func TestGoldenInputsMatchSchema(t *testing.T) {
	sch := compileSchema(t)
	files, err := filepath.Glob("../../testdata/inputs/*.input.json")
	require.NoError(t, err)
	require.True(t, len(files) >= 10, "golden inputs", len(files))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			require.NoError(t, err)
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
			require.NoError(t, err)
			require.NoError(t, sch.Validate(doc))
			// And it is exactly what engine.Input encodes.
			var in engine.Input
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			require.NoError(t, dec.Decode(&in))
		})
	}
}

// TestNormalizeMatchesGolden: the normalizer turns each fixture into its
// golden document, apart from the parts it does not own (the worker fills
// state; id and receivedAt come from the inbox).
func TestNormalizeMatchesGolden(t *testing.T) {
	sch := compileSchema(t)
	files, err := filepath.Glob("../../testdata/inputs/*.input.json")
	require.NoError(t, err)
	matched := 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".input.json")
		fixture := filepath.Join("../../testdata/events", name+".json")
		body, err := os.ReadFile(fixture)
		if err != nil {
			continue // a golden input with no fixture: a hand-made state case
		}
		matched++
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			require.NoError(t, err)
			var want engine.Input
			require.NoError(t, json.Unmarshal(raw, &want))
			recv, err := time.Parse(time.RFC3339Nano, want.Event.ReceivedAt)
			require.NoError(t, err)
			n, err := normalize.Normalize(&engine.Event{Endpoint: want.Event.Endpoint, EventID: want.Event.ID,
				Scheme: want.Event.Scheme, Body: body, ReceivedAt: recv})
			require.NoError(t, err)
			got := n.Input
			got.State = want.State
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(want)
			require.Equal(t, string(wantJSON), string(gotJSON))
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(gotJSON))
			require.NoError(t, err)
			require.NoError(t, sch.Validate(doc))
		})
	}
	require.True(t, matched >= 9, "fixtures with golden inputs", matched)
}
