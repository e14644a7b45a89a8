package policy

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// basicSet copies testdata/basic, a small policy set with its own tests,
// into a fresh directory the test may edit.
func basicSet(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	err := filepath.WalkDir("testdata/basic", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/basic", p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dir, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, rel), b, 0o644)
	})
	require.NoError(t, err)
	return dir
}

// writeFile replaces dir/name atomically (write, then rename), as editors
// and config management do, so a concurrent reload never reads half a file.
func writeFile(t testing.TB, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	tmp := p + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o644))
	require.NoError(t, os.Rename(tmp, p))
}

// rulesWithMarker is testdata/basic/rules.rego with another marker: a
// different revision whose actions say which one decided.
func rulesWithMarker(t testing.TB, marker string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/basic/rules.rego")
	require.NoError(t, err)
	const from = `_marker := "a"`
	require.Contains(t, string(b), from)
	return strings.Replace(string(b), from, `_marker := "`+marker+`"`, 1)
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, cond func() bool, msg ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v %v", timeout, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// counter is the value of the counter series name{label=value}.
func counter(t testing.TB, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return -1
}

func ptr[T any](v T) *T { return &v }

// quietInput and driftInput are decided by testdata/basic.
func quietInput() *engine.Input {
	return &engine.Input{
		Version:      engine.InputVersion,
		Event:        engine.Envelope{ID: "evt_q", Type: "delta.verified", ReceivedAt: "2026-04-10T12:00:00Z", Endpoint: "pacspace", Scheme: engine.SchemeV1, Shape: "delta"},
		Delta:        &engine.DeltaSection{CustomerID: "cus_1", ReferenceID: "ref_1", Amount: 10, DeltaIndex: 42},
		Verification: &engine.VerificationSect{Verified: true, Discrepancies: nil, LatencyMs: 840},
		Period:       &engine.PeriodSection{ID: "2026-04", NetDelta: 100.5},
		State:        engine.State{Period: &engine.PeriodState{Ours: 100}},
	}
}

func driftInput(netDelta float64) *engine.Input {
	in := quietInput()
	in.Period.NetDelta = netDelta
	return in
}
