package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arbiter-dev/arbiter/engine/testing/bundletest"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// runPolicyCmd runs "arbiter policy ARGS..." in process.
func runPolicyCmd(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newPolicyCmd()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

// policyDir writes a small policy set: one rule, one passing test, and
// what extra adds or replaces.
func policyDir(t *testing.T, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"decision.rego": `package arbiter

decision := {"actions": [{"type": "alert", "reason": "big", "severity": "high", "targets": ["console"], "amount": input.delta.amount} |
	input.delta.amount > data.thresholds.big
]}
`,
		"decision_test.rego": `package arbiter_test

import data.arbiter

test_big_alerts if {
	count(arbiter.decision.actions) == 1 with input as {"delta": {"amount": 1000}}
}
`,
		"data.json": `{"thresholds": {"big": 100}}`,
	}
	for k, v := range extra {
		files[k] = v
	}
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	return dir
}

func TestPolicyTestCmd(t *testing.T) {
	tests := []struct {
		name     string
		dir      func(t *testing.T) string
		args     []string
		exit     bool     // exitError{1}: results printed, then status 1
		err      string   // any other error
		contains []string // in stdout
	}{
		{name: "default set passes", dir: func(*testing.T) string { return "../../policies" },
			contains: []string{"PASS ", "chain_test.rego:", "data.arbiter.rules_test.test_chain_breaks_alert", "revision "}},
		{name: "own set passes", dir: func(t *testing.T) string { return policyDir(t, nil) },
			contains: []string{"decision_test.rego:5  data.arbiter_test.test_big_alerts", "PASS: 1/1"}},
		{name: "failing test", dir: func(t *testing.T) string {
			return policyDir(t, map[string]string{"more_test.rego": "package more_test\n\ntest_wrong if {\n\tprint(\"checking\")\n\t1 == 2\n}\n"})
		}, exit: true,
			contains: []string{"FAIL  ", "more_test.rego:5  data.more_test.test_wrong", "failed: 1 == 2", "| checking", "PASS: 1/2  FAIL: 1/2"}},
		{name: "compile error", dir: func(t *testing.T) string {
			return policyDir(t, map[string]string{"decision.rego": "package arbiter\n\ndecision := {\n"})
		}, err: "decision.rego:4: rego_parse_error"},
		{name: "override", dir: func(t *testing.T) string { return policyDir(t, nil) },
			args: []string{"--data-override", "testdata-override.json"}, contains: []string{"PASS: 1/1"}},
		{name: "override with a typo", dir: func(t *testing.T) string { return policyDir(t, nil) },
			args: []string{"--data-override", "testdata-typo.json"}, err: "data.thresholds.bgi: no such key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			args := []string{"test", "--dir", dir}
			for _, a := range tc.args {
				if strings.HasPrefix(a, "testdata-") {
					a = writeOverride(t, a)
				}
				args = append(args, a)
			}
			out, _, err := runPolicyCmd(t, "", args...)
			switch {
			case tc.exit:
				var ee exitError
				require.True(t, errors.As(err, &ee) && ee.code == 1, "want exit status 1, got", err)
			case tc.err != "":
				require.True(t, err != nil, "want an error")
				require.Contains(t, err.Error(), tc.err)
			default:
				require.NoError(t, err, out)
			}
			for _, c := range tc.contains {
				require.Contains(t, out, c)
			}
		})
	}
}

func writeOverride(t *testing.T, name string) string {
	t.Helper()
	content := map[string]string{
		"testdata-override.json": `{"thresholds": {"big": 5000}}`,
		"testdata-typo.json":     `{"thresholds": {"bgi": 5000}}`,
	}[name]
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

func TestPolicyEvalCmd(t *testing.T) {
	// A golden input and its golden decision, by the default set.
	out, _, err := runPolicyCmd(t, "", "eval", "--dir", "../../policies", "--input", "../../testdata/inputs/delta.failed.input.json")
	require.NoError(t, err)
	var got struct {
		Input    map[string]any
		Decision struct {
			Revision string
			Actions  []map[string]any
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	require.Equal(t, "arbiter.input/v1", got.Input["version"])
	require.Equal(t, 64, len(got.Decision.Revision))
	wantBytes, err := os.ReadFile("../../testdata/inputs/delta.failed.decision.json")
	require.NoError(t, err)
	var want struct{ Actions []map[string]any }
	require.NoError(t, json.Unmarshal(wantBytes, &want))
	require.Equal(t, want.Actions, got.Decision.Actions)

	tests := []struct {
		name  string
		input string // file contents, passed on stdin
		dir   string
		want  string // in stdout, or in the error
		isErr bool
	}{
		{"quiet, from stdin", `{"version": "arbiter.input/v1", "event": {"id": "e"}, "delta": {"amount": 5}}`, "", `"actions": []`, false},
		{"firing", `{"version": "arbiter.input/v1", "event": {"id": "e"}, "delta": {"amount": 500}}`, "",
			`"actions": [
      {
        "amount": 500,
        "reason": "big",
        "severity": "high",
        "targets": [
          "console"
        ],
        "type": "alert"
      }
    ]`, false},
		{"raw webhook body, normalized", `{"event": "delta.verified", "data": {"delta": {"customerId": "c", "referenceId": "r", "amount": 500}}}`, "",
			`"reason": "big"`, false},
		{"malformed webhook body", `{"event": "delta.verified", "data": 5}`, "", `neither an input document (no "version") nor a webhook body`, true},
		{"other version", `{"version": "arbiter.input/v9"}`, "", `input version "arbiter.input/v9", want "arbiter.input/v1"`, true},
		{"unknown field", `{"version": "arbiter.input/v1", "delta": {"amuont": 5}}`, "", `unknown field "amuont"`, true},
		{"not an object", `[1]`, "", "not a JSON object", true},
		{"set that does not compile", `{"version": "arbiter.input/v1"}`, "broken", "rego_parse_error", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := policyDir(t, nil)
			if tc.dir == "broken" {
				dir = policyDir(t, map[string]string{"decision.rego": "package arbiter\n\ndecision := \n"})
			}
			out, _, err := runPolicyCmd(t, tc.input, "eval", "--dir", dir, "--input", "-")
			if tc.isErr {
				require.True(t, err != nil, "want an error")
				require.Contains(t, err.Error(), tc.want)
				return
			}
			require.NoError(t, err)
			require.Contains(t, out, tc.want)
		})
	}
}

func TestPolicyCmdDefaultsToBuiltInSet(t *testing.T) {
	t.Chdir(t.TempDir()) // no ./policies here
	out, stderr, err := runPolicyCmd(t, "", "test")
	require.NoError(t, err)
	require.Contains(t, stderr, "using the default policies built into arbiter")
	require.Contains(t, out, "PASS: ")
	require.NotContains(t, out, "FAIL")
}

// TestPolicyTestBundle: policy test and eval take a signed bundle file, as
// the agent takes policy.bundle_url's: verified, then gated.
func TestPolicyTestBundle(t *testing.T) {
	a, b := bundletest.Keys(t)
	dir := t.TempDir()
	write := func(name string, content []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, content, 0o600))
		return p
	}
	good := write("good.tar.gz", bundletest.Build(t, policyDir(t, nil), "2026.04.10-1", a.Private))
	other := write("other.tar.gz", bundletest.Build(t, policyDir(t, nil), "2026.04.10-2", b.Private))
	key := write("pub.pem", []byte(a.Public))

	out, _, err := runPolicyCmd(t, "", "test", "--bundle", good, "--verification-key-file", key)
	require.NoError(t, err)
	require.Contains(t, out, "PASS  /decision_test.rego:")
	require.Contains(t, out, "revision 2026.04.10-1: 3 files")

	out, _, err = runPolicyCmd(t, `{"event":"delta.verified","data":{"delta":{"customerId":"c","referenceId":"r","amount":1000}}}`,
		"eval", "--bundle", good, "--verification-key-file", key, "--input", "-")
	require.NoError(t, err)
	require.Contains(t, out, `"revision": "2026.04.10-1"`)
	require.Contains(t, out, `"reason": "big"`)

	_, _, err = runPolicyCmd(t, "", "test", "--bundle", other, "--verification-key-file", key)
	require.True(t, err != nil, "a bundle signed with another key passed")
	require.Contains(t, err.Error(), "policy: bundle refused: failed to verify JWT signature")
	_, _, err = runPolicyCmd(t, "", "test", "--bundle", good)
	require.True(t, err != nil)
	require.Contains(t, err.Error(), "bundles must be signed")
}
