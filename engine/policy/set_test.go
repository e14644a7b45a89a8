package policy

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

func TestLoadGoodSetAndDecide(t *testing.T) {
	ctx := context.Background()
	dir := basicSet(t)
	set, err := Load(ctx, Source{Dir: dir})
	require.NoError(t, err)
	require.Equal(t, 64, len(set.Revision()))
	require.Equal(t, set.Revision()[:12], ShortRevision(set.Revision()))
	require.Equal(t, []string{
		filepath.Join(dir, "data.json"),
		filepath.Join(dir, "decision.rego"),
		filepath.Join(dir, "routing", "data.json"),
		filepath.Join(dir, "rules.rego"),
		filepath.Join(dir, "rules_test.rego"),
	}, set.Files(), "README.md is not policy")
	rep := set.Tests()
	require.Equal(t, 3, rep.Passed)
	require.Equal(t, 0, rep.Failed)
	require.Equal(t, "data.arbiter.rules_test.test_drift_fires", rep.Results[0].Name)
	require.Equal(t, filepath.Join(dir, "rules_test.rego"), rep.Results[0].File)
	require.Equal(t, 7, rep.Results[0].Row)

	failed := quietInput()
	failed.Verification.Verified = false
	tests := []struct {
		name string
		in   *engine.Input
		want []string // raw actions
	}{
		{"quiet", quietInput(), nil},
		{"drift fires", driftInput(103.25), []string{
			`{"drift":3.25,"marker":"a","reason":"period_drift","severity":"high","targets":["console","pager"],"type":"alert"}`,
		}},
		{"two rules fire", func() *engine.Input { in := driftInput(90); in.Verification.Verified = false; return in }(), []string{
			`{"drift":10,"marker":"a","reason":"period_drift","severity":"high","targets":["console","pager"],"type":"alert"}`,
			`{"marker":"a","reason":"verification_failed","severity":"warning","targets":["console","pager"],"type":"flag_for_review"}`,
		}},
		{"no sections at all", &engine.Input{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := set.Decide(ctx, tc.in)
			require.NoError(t, err)
			require.Equal(t, set.Revision(), d.Revision)
			require.True(t, d.EvalDuration > 0)
			require.Equal(t, len(tc.want), len(d.Actions), d.Actions)
			for i, a := range d.Actions {
				require.Equal(t, tc.want[i], string(a.Raw))
				var fields struct{ Type, Reason, Severity string }
				require.NoError(t, json.Unmarshal(a.Raw, &fields))
				require.Equal(t, fields.Type, a.Type)
				require.Equal(t, fields.Reason, a.Reason)
				require.Equal(t, fields.Severity, a.Severity)
				require.Equal(t, []string{"console", "pager"}, a.Targets)
			}
		})
	}
}

func TestRevisionIsContentHash(t *testing.T) {
	ctx := context.Background()
	a, err := Load(ctx, Source{Dir: basicSet(t)})
	require.NoError(t, err)
	b, err := Load(ctx, Source{Dir: basicSet(t)})
	require.NoError(t, err)
	require.Equal(t, a.Revision(), b.Revision(), "same files in another directory")

	fsys := fstest.MapFS{}
	for _, name := range []string{"data.json", "decision.rego", "routing/data.json", "rules.rego", "rules_test.rego"} {
		data, err := os.ReadFile(filepath.Join("testdata/basic", name))
		require.NoError(t, err)
		fsys[name] = &fstest.MapFile{Data: data}
	}
	c, err := Load(ctx, Source{FS: fsys})
	require.NoError(t, err)
	require.Equal(t, a.Revision(), c.Revision(), "same files from an fs.FS")
	require.Equal(t, "rules.rego", c.Files()[3])

	dir := basicSet(t)
	writeFile(t, dir, "rules.rego", rulesWithMarker(t, "b"))
	d, err := Load(ctx, Source{Dir: dir})
	require.NoError(t, err)
	require.True(t, d.Revision() != a.Revision(), "an edited module")

	e, err := Load(ctx, Source{Dir: basicSet(t), DataOverrides: map[string]any{"thresholds": map[string]any{"drift": 5}}})
	require.NoError(t, err)
	require.True(t, e.Revision() != a.Revision(), "overridden data")
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(t *testing.T, dir string)
		src     func(dir string) Source
		gate    bool     // a *GateError rather than a *CompileError
		want    []string // substrings of the error
		problem Problem  // the first problem, message compared by prefix
	}{
		{
			name: "parse error",
			edit: func(t *testing.T, dir string) {
				writeFile(t, dir, "rules.rego", "package arbiter.rules\n\nactions contains x if {\n\tx := \n}\n")
			},
			want:    []string{"rules.rego:5:1: rego_parse_error: "},
			problem: Problem{File: "rules.rego", Row: 5, Col: 1, Code: "rego_parse_error"},
		},
		{
			name: "compile error",
			edit: func(t *testing.T, dir string) {
				writeFile(t, dir, "extra.rego", "package arbiter.extra\n\np if {\n\tq\n}\n")
			},
			want:    []string{"extra.rego:4:2: rego_unsafe_var_error: var q is unsafe"},
			problem: Problem{File: "extra.rego", Row: 4, Col: 2, Code: "rego_unsafe_var_error", Message: "var q is unsafe"},
		},
		{
			name: "compile error in a test module",
			edit: func(t *testing.T, dir string) {
				writeFile(t, dir, "more_test.rego", "package arbiter.more_test\n\ntest_x if {\n\tundefined_fn(1)\n}\n")
			},
			want:    []string{"more_test.rego:4:2: rego_type_error: undefined function undefined_fn"},
			problem: Problem{File: "more_test.rego", Row: 4, Col: 2, Code: "rego_type_error"},
		},
		{
			name: "own test fails",
			edit: func(t *testing.T, dir string) {
				writeFile(t, dir, "data.json", `{"thresholds": {"drift": 10, "latency_ms": 5000}, "targets": ["console"]}`)
			},
			gate:    true,
			want:    []string{"1 of 3 tests failed", "rules_test.rego:8: test_failed: data.arbiter.rules_test.test_drift_fires: failed: [a] := arbiter.decision.actions with input as _drifting"},
			problem: Problem{File: "rules_test.rego", Row: 8, Code: CodeTestFailed, Test: "data.arbiter.rules_test.test_drift_fires", Message: "failed: [a] := "},
		},
		{
			name: "test errors",
			edit: func(t *testing.T, dir string) {
				writeFile(t, dir, "err_test.rego", "package arbiter.err_test\n\nf(x) := 1\nf(x) := 2\n\ntest_conflict if {\n\tf(1) == 1\n}\n")
			},
			gate:    true,
			want:    []string{"err_test.rego:6: test_error: data.arbiter.err_test.test_conflict: eval_conflict_error: function data.arbiter.err_test.f produced conflicting values"},
			problem: Problem{File: "err_test.rego", Row: 6, Code: "test_error", Test: "data.arbiter.err_test.test_conflict"},
		},
		{
			name: "data.json syntax error",
			edit: func(t *testing.T, dir string) {
				writeFile(t, dir, "routing/data.json", "{\n  \"extra\": [\"pager\",]\n}\n")
			},
			want:    []string{filepath.Join("routing", "data.json") + ":2:21: data_error: invalid character ']'"},
			problem: Problem{File: filepath.Join("routing", "data.json"), Row: 2, Col: 21, Code: CodeDataError},
		},
		{
			name: "data.yaml error",
			edit: func(t *testing.T, dir string) {
				writeFile(t, dir, "more/data.yaml", "a: 1\nb: [\n")
			},
			want:    []string{filepath.Join("more", "data.yaml") + ":", "data_error"},
			problem: Problem{File: filepath.Join("more", "data.yaml"), Row: 2, Code: CodeDataError},
		},
		{
			name: "data.json not an object",
			edit: func(t *testing.T, dir string) {
				writeFile(t, dir, "data.json", `[1, 2]`)
			},
			want:    []string{"data.json: data_error: document must be of type object"},
			problem: Problem{File: "data.json", Code: CodeDataError, Message: "document must be of type object"},
		},
		{
			name: "override of a key the data does not have",
			src: func(dir string) Source {
				return Source{Dir: dir, DataOverrides: map[string]any{"thresholds": map[string]any{"drfit": 0.5}}}
			},
			want:    []string{"override_error: data.thresholds.drfit: no such key in the policy data"},
			problem: Problem{Code: CodeOverrideError, Message: "data.thresholds.drfit: no such key"},
		},
		{
			name: "override of an object by a scalar",
			src: func(dir string) Source {
				return Source{Dir: dir, DataOverrides: map[string]any{"thresholds": 1}}
			},
			want:    []string{"override_error: data.thresholds: an object cannot be overridden by a non-object"},
			problem: Problem{Code: CodeOverrideError},
		},
		{
			name: "network builtin",
			edit: func(t *testing.T, dir string) {
				writeFile(t, dir, "fetch.rego", "package arbiter.fetch\n\nr := http.send({\"method\": \"get\", \"url\": \"http://example.com\"})\n")
			},
			want:    []string{"fetch.rego:3:6: rego_type_error: undefined function http.send"},
			problem: Problem{File: "fetch.rego", Row: 3, Col: 6, Code: "rego_type_error", Message: "undefined function http.send"},
		},
		{
			name: "network builtin in a test",
			edit: func(t *testing.T, dir string) {
				writeFile(t, dir, "fetch_test.rego", "package arbiter.fetch_test\n\ntest_lookup if {\n\tnet.lookup_ip_addr(\"example.com\")\n}\n")
			},
			want:    []string{"fetch_test.rego:4:2: rego_type_error: undefined function net.lookup_ip_addr"},
			problem: Problem{File: "fetch_test.rego", Row: 4, Col: 2, Code: "rego_type_error"},
		},
		{
			name: "no decision rule",
			edit: func(t *testing.T, dir string) {
				require.NoError(t, os.Remove(filepath.Join(dir, "decision.rego")))
				require.NoError(t, os.Remove(filepath.Join(dir, "rules_test.rego")))
			},
			want:    []string{"missing_decision: no rule defines data.arbiter.decision"},
			problem: Problem{Code: CodeMissingDecision},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := basicSet(t)
			if tc.edit != nil {
				tc.edit(t, dir)
			}
			src := Source{Dir: dir}
			if tc.src != nil {
				src = tc.src(dir)
			}
			set, err := Load(context.Background(), src)
			require.True(t, set == nil && err != nil, "the set must be rejected")
			msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
			for _, w := range tc.want {
				require.Contains(t, msg, w)
			}
			var ps []Problem
			if tc.gate {
				ge, ok := errors.AsType[*GateError](err)
				require.True(t, ok, "want a *GateError, got", err)
				ps = ge.Problems
				require.True(t, ge.Tests.Failed > 0 && ge.Tests.Total() >= 3, ge.Tests)
			} else {
				ce, ok := errors.AsType[*CompileError](err)
				require.True(t, ok, "want a *CompileError, got", err)
				ps = ce.Problems
			}
			require.Equal(t, ps, ProblemsOf(err))
			p := ps[0]
			p.File = strings.TrimPrefix(p.File, dir+string(filepath.Separator))
			require.True(t, strings.HasPrefix(p.Message, tc.problem.Message), p)
			p.Message = tc.problem.Message
			require.Equal(t, tc.problem, p)
		})
	}
}

func TestLoadSourceErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		src  Source
		want string
	}{
		{"nothing", Source{}, "policy: source: no Dir, FS or Bundle"},
		{"both", Source{Dir: "x", FS: fstest.MapFS{}}, "policy: source: set one of Dir, FS or Bundle"},
		{"a bundle", Source{Bundle: &BundleSource{URL: "http://127.0.0.1/b.tar.gz", VerificationKey: "k"}}, "fetched by an Engine"},
		{"missing dir", Source{Dir: filepath.Join(t.TempDir(), "nope")}, "no such file or directory"},
		{"a file", Source{Dir: "testdata/basic/data.json"}, "not a directory"},
		{"empty dir", Source{Dir: t.TempDir()}, "missing_decision"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(ctx, tc.src)
			require.True(t, err != nil)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestOverridesChangeAThreshold(t *testing.T) {
	ctx := context.Background()
	dir := basicSet(t)
	in := driftInput(103) // drift 3: over the file's 1, under an override of 5
	tests := []struct {
		name      string
		overrides map[string]any
		fires     bool
	}{
		{"file threshold", nil, true},
		{"overridden up", map[string]any{"thresholds": map[string]any{"drift": 5}}, false},
		{"overridden down, float", map[string]any{"thresholds": map[string]any{"drift": 2.5}}, true},
		{"sibling threshold only", map[string]any{"thresholds": map[string]any{"latency_ms": 1}}, true},
		// Tests pin the file's thresholds and still pass: they run without overrides.
		{"override that would break the tests", map[string]any{"thresholds": map[string]any{"drift": 1000}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := Load(ctx, Source{Dir: dir, DataOverrides: tc.overrides})
			require.NoError(t, err)
			d, err := set.Decide(ctx, in)
			require.NoError(t, err)
			require.Equal(t, tc.fires, len(d.Actions) == 1, d.Actions)
		})
	}
}

// TestDecisionShape holds Decide to the contract of the decision document.
func TestDecisionShape(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		rego    string
		want    []string // Type/Reason/Severity/Targets of each action
		wantErr string
	}{
		{"undefined decision", `decision := {"actions": []} if input.never`, nil, ""},
		{"no actions key", `decision := {}`, nil, ""},
		{"actions as a set", `decision := {"actions": {{"type": "b", "reason": "r", "severity": "info"}, {"type": "a", "reason": "r", "severity": "info", "targets": {"y", "x"}}}}`,
			[]string{"a r info [x y]", "b r info []"}, ""},
		{"action without severity", `decision := {"actions": [{"type": "alert", "reason": "x", "severity": "high"}, {"type": "alert", "reason": "drift"}]}`,
			nil, `data.arbiter.decision.actions[1] {"reason": "drift", "type": "alert"}: lacks a non-empty string severity`},
		{"action with empty type", `decision := {"actions": [{"type": "", "reason": "x", "severity": 3}]}`,
			nil, "lacks a non-empty string type, severity"},
		{"action not an object", `decision := {"actions": ["alert"]}`, nil, `actions[0] "alert": is string, want an object`},
		{"targets not strings", `decision := {"actions": [{"type": "a", "reason": "r", "severity": "info", "targets": [1]}]}`, nil, "targets has 1, want strings"},
		{"targets not an array", `decision := {"actions": [{"type": "a", "reason": "r", "severity": "info", "targets": "slack"}]}`, nil, "targets is string"},
		{"actions not an array", `decision := {"actions": "none"}`, nil, "data.arbiter.decision.actions is string, want an array"},
		{"decision not an object", `decision := ["x"]`, nil, "data.arbiter.decision is array, want an object"},
		{"evaluation error", "decision := {\"actions\": [x]} if { x := input.data.a }\ndecision := {\"actions\": []} if input.data.b", nil, "eval_conflict_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "decision.rego", "package arbiter\n\n"+tc.rego+"\n")
			set, err := Load(ctx, Source{Dir: dir})
			require.NoError(t, err)
			d, err := set.Decide(ctx, &engine.Input{Data: json.RawMessage(`{"a":1,"b":true}`)})
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrDecision)
				require.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			var got []string
			for _, a := range d.Actions {
				got = append(got, a.Type+" "+a.Reason+" "+a.Severity+" "+"["+strings.Join(a.Targets, " ")+"]")
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestAppendJSON(t *testing.T) {
	tests := []struct{ rego, want string }{
		{`{"b": 1, "a": [true, null, 1.5e300], "c": {"z": "\"q\"\n\t\u0001<&>", "y": set()}}`,
			`{"a":[true,null,1.5e300],"b":1,"c":{"y":[],"z":"\"q\"\n\t\u0001<&>"}}`},
		{`{3, 1, 2}`, `[1,2,3]`},
		{`"caf\u00e9 \ud83d\ude00"`, `"café 😀"`},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			v, err := parseValue(tc.rego)
			require.NoError(t, err)
			b, err := appendJSON(nil, v)
			require.NoError(t, err)
			require.Equal(t, tc.want, string(b))
			require.True(t, json.Valid(b))
		})
	}
}

func parseValue(s string) (ast.Value, error) {
	t, err := ast.ParseTerm(s)
	if err != nil {
		return nil, err
	}
	return t.Value, nil
}

// TestDecideStopsWhenCanceled evaluates a policy that would run for
// half a minute and cancels its context: the evaluation must stop with an error.
func TestDecideStopsWhenCanceled(t *testing.T) {
	set, err := Load(context.Background(), Source{FS: fstest.MapFS{
		"decision.rego": {Data: []byte(`package arbiter

decision := {"actions": []} if {
	some i in numbers.range(1, 3000)
	some j in numbers.range(1, 3000)
	i * j < 0
}
`)},
	}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = set.Decide(ctx, quietInput())
	require.True(t, errors.Is(err, ErrDecision), err)
	require.True(t, time.Since(start) < 5*time.Second, "evaluation went on after the context ended")
}
