package policy

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/testing/capture"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// newEngine starts an engine on dir with a registry and a log buffer the
// test can read.
func newEngine(t *testing.T, dir string) (*Engine, *prometheus.Registry, *capture.Buffer) {
	t.Helper()
	reg := prometheus.NewRegistry()
	logs := &capture.Buffer{}
	e, err := New(context.Background(), Config{
		Source:     Source{Dir: dir},
		Logger:     hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}),
		Registerer: reg,
		Debounce:   20 * time.Millisecond,
	})
	require.NoError(t, err)
	return e, reg, logs
}

// TestReloadKeepsPreviousOnFailure runs a sequence of edits and reloads
// against one engine: each rejected set leaves the last good revision
// active and deciding, and is logged with file:row, kept for Status and
// counted.
func TestReloadKeepsPreviousOnFailure(t *testing.T) {
	ctx := context.Background()
	dir := basicSet(t)
	e, reg, logs := newEngine(t, dir)
	first := e.Status()
	require.Equal(t, 3, first.Tests.Passed)
	require.Equal(t, "", first.LastError)
	require.True(t, !first.LoadedAt.IsZero())

	good := rulesWithMarker(t, "b")
	steps := []struct {
		name     string
		file     string
		content  string
		result   string
		location string // in the error, the log and Status
		marker   string // of the revision active afterwards
	}{
		{"compile error", "rules.rego", "package arbiter.rules\n\nactions contains x if {\n\tx := input.a +\n}\n", ResultCompileError, "rules.rego:5:1: rego_parse_error", "a"},
		{"fixed", "rules.rego", good, ResultOK, "", "b"},
		{"own test fails", "rules_test.rego", "package arbiter.rules_test\n\ntest_wrong if {\n\t1 == 2\n}\n", ResultTestFailure, "rules_test.rego:4: test_failed: data.arbiter.rules_test.test_wrong: failed: 1 == 2", "b"},
		{"tests removed", "rules_test.rego", "package arbiter.rules_test\n", ResultOK, "", "b"},
		{"data.json syntax error", "data.json", `{"thresholds": {"drift": 1,}}`, ResultCompileError, "data.json:1:28: data_error: invalid character '}'", "b"},
		{"data.json fixed", "data.json", `{"thresholds": {"drift": 2}, "targets": ["console"]}`, ResultOK, "", "b"},
	}
	counts := map[string]float64{ResultOK: 1} // the first load
	prev := first
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			writeFile(t, dir, s.file, s.content)
			err := e.Reload(ctx)
			counts[s.result]++
			st := e.Status()
			if s.result == ResultOK {
				require.NoError(t, err)
				require.Equal(t, "", st.LastError)
				require.True(t, st.LastErrorAt.IsZero())
			} else {
				require.True(t, err != nil)
				require.Contains(t, err.Error(), filepath.Join(dir, s.location))
				require.Contains(t, st.LastError, filepath.Join(dir, s.location))
				require.Contains(t, logs.String(), filepath.Join(dir, s.location))
				require.True(t, !st.LastErrorAt.IsZero())
				require.True(t, len(st.Problems) > 0)
				require.Equal(t, prev.Revision, st.Revision, "the previous revision stays active")
				require.Equal(t, prev.LoadedAt, st.LoadedAt)
			}
			d, err := e.Decide(ctx, driftInput(105))
			require.NoError(t, err)
			require.Equal(t, st.Revision, d.Revision)
			require.Equal(t, 1, len(d.Actions))
			require.Contains(t, string(d.Actions[0].Raw), `"marker":"`+s.marker+`"`)
			for _, r := range []string{ResultOK, ResultCompileError, ResultTestFailure, ResultLoadError} {
				require.Equal(t, counts[r], counter(t, reg, "arbiter_policy_reloads_total", "result", r), r)
			}
			require.Equal(t, 1.0, counter(t, reg, "arbiter_policy_active_revision_info", "revision", ShortRevision(st.Revision)))
			prev = st
		})
	}
	require.Equal(t, TestCounts{}, prev.Tests, "a set without tests passes the gate")
}

func TestReloadLoadError(t *testing.T) {
	dir := basicSet(t)
	e, reg, _ := newEngine(t, dir)
	rev := e.Status().Revision
	moved := dir + ".moved"
	require.NoError(t, os.Rename(dir, moved))
	t.Cleanup(func() { os.RemoveAll(moved) })
	err := e.Reload(context.Background())
	require.True(t, err != nil)
	require.Equal(t, ResultLoadError, resultOf(err))
	require.Equal(t, rev, e.Status().Revision)
	require.Equal(t, 1.0, counter(t, reg, "arbiter_policy_reloads_total", "result", ResultLoadError))
}

func TestReloadCanceled(t *testing.T) {
	e, reg, _ := newEngine(t, basicSet(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.True(t, e.Reload(ctx) != nil)
	require.Equal(t, "", e.Status().LastError, "a canceled reload is not a verdict on the policies")
	for _, r := range []string{ResultCompileError, ResultTestFailure, ResultLoadError} {
		require.Equal(t, 0.0, counter(t, reg, "arbiter_policy_reloads_total", "result", r), r)
	}
}

func TestNewRejectsABadInitialSet(t *testing.T) {
	dir := basicSet(t)
	writeFile(t, dir, "rules.rego", "package arbiter.rules\n\nactions contains 1 if {\n")
	_, err := New(context.Background(), Config{Source: Source{Dir: dir}})
	_, ok := errors.AsType[*CompileError](err)
	require.True(t, ok, err)
}

// TestHammerDecideDuringReloads decides from several goroutines while
// another reloads, alternating two valid revisions. Every decision must
// come from exactly one of the two sets: its revision is one of them and its
// actions are that revision's.
func TestHammerDecideDuringReloads(t *testing.T) {
	ctx := context.Background()
	revOf := map[string]string{} // revision → marker
	for _, m := range []string{"a", "b"} {
		dir := basicSet(t)
		writeFile(t, dir, "rules.rego", rulesWithMarker(t, m))
		set, err := Load(ctx, Source{Dir: dir})
		require.NoError(t, err)
		revOf[set.Revision()] = m
	}
	dir := basicSet(t)
	e, _, _ := newEngine(t, dir)

	const reloads, deciders = 20, 4
	var done atomic.Bool
	var wg sync.WaitGroup
	seen := make([]map[string]int, deciders)
	errs := make(chan error, deciders)
	for g := range deciders {
		seen[g] = map[string]int{}
		wg.Go(func() {
			in := driftInput(105)
			for !done.Load() {
				d, err := e.Decide(ctx, in)
				if err != nil {
					errs <- err
					return
				}
				marker, ok := revOf[d.Revision]
				if !ok {
					errs <- errors.New("decision from an unknown revision " + d.Revision)
					return
				}
				if len(d.Actions) != 1 || !strings.Contains(string(d.Actions[0].Raw), `"marker":"`+marker+`"`) {
					errs <- errors.New("revision " + marker + " decided " + string(d.Actions[0].Raw))
					return
				}
				seen[g][marker]++
			}
		})
	}
	for i := range reloads {
		writeFile(t, dir, "rules.rego", rulesWithMarker(t, []string{"b", "a"}[i%2]))
		require.NoError(t, e.Reload(ctx))
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := map[string]int{}
	for _, s := range seen {
		for m, n := range s {
			total[m] += n
		}
	}
	require.True(t, total["a"] > 0 && total["b"] > 0, "both revisions decided", total)
}

// TestWatch edits files under a watched directory and waits, bounded, for
// Status to show the outcome.
func TestWatch(t *testing.T) {
	dir := basicSet(t)
	e, _, _ := newEngine(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	watchErr := make(chan error, 1)
	go func() { watchErr <- e.Watch(ctx) }()

	revOf := func(files map[string]string) string {
		d := basicSet(t)
		for name, content := range files {
			writeFile(t, d, name, content)
		}
		set, err := Load(context.Background(), Source{Dir: d})
		require.NoError(t, err)
		return set.Revision()
	}
	b := rulesWithMarker(t, "b")
	extra := "package arbiter.extra\n\nx := 1\n"
	steps := []struct {
		name   string
		edit   func()
		want   string // revision; "" for a rejected edit
		errHas string
	}{
		{"edited module", func() { writeFile(t, dir, "rules.rego", b) }, revOf(map[string]string{"rules.rego": b}), ""},
		{"module in a new subdirectory", func() { writeFile(t, dir, "sub/deeper/extra.rego", extra) },
			revOf(map[string]string{"rules.rego": b, "sub/deeper/extra.rego": extra}), ""},
		{"broken module in the subdirectory", func() { writeFile(t, dir, "sub/deeper/extra.rego", "package arbiter.extra\n\nx := \n") }, "",
			filepath.Join(dir, "sub", "deeper", "extra.rego") + ":4: rego_parse_error"},
		{"subdirectory removed", func() { require.NoError(t, os.RemoveAll(filepath.Join(dir, "sub"))) }, revOf(map[string]string{"rules.rego": b}), ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			before := e.Status()
			// The watcher starts asynchronously: repeat the edit until it is
			// seen. Rewriting the same content is harmless.
			eventually(t, 10*time.Second, func() bool {
				s.edit()
				deadline := time.Now().Add(500 * time.Millisecond)
				for time.Now().Before(deadline) {
					st := e.Status()
					if s.want != "" && st.Revision == s.want && st.LastError == "" {
						return true
					}
					if s.want == "" && st.LastErrorAt != before.LastErrorAt && strings.Contains(st.LastError, s.errHas) {
						return true
					}
					time.Sleep(5 * time.Millisecond)
				}
				return false
			}, "status", e.Status())
			if s.want == "" {
				require.Equal(t, before.Revision, e.Status().Revision, "the previous revision stays active")
			}
		})
	}
	cancel()
	select {
	case err := <-watchErr:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after its context was canceled")
	}
}

func TestWatchNeedsADirectory(t *testing.T) {
	fsys := os.DirFS("testdata/basic")
	e, err := New(context.Background(), Config{Source: Source{FS: fsys}})
	require.NoError(t, err)
	require.Contains(t, e.Watch(context.Background()).Error(), "not a directory")
}

func TestReloadHandler(t *testing.T) {
	dir := basicSet(t)
	e, _, _ := newEngine(t, dir)
	srv := httptest.NewServer(e.ReloadHandler())
	defer srv.Close()
	first := e.Status().Revision

	tests := []struct {
		name   string
		method string
		edit   func()
		status int
		result string
		rev    func() string
	}{
		{"unchanged", http.MethodPost, func() {}, 200, ResultOK, func() string { return first }},
		{"GET", http.MethodGet, func() {}, 405, "method_not_allowed", func() string { return first }},
		{"rejected", http.MethodPost, func() { writeFile(t, dir, "rules.rego", "package arbiter.rules\n\nactions contains x if {\n") }, 422, ResultCompileError, func() string { return first }},
		{"new revision", http.MethodPost, func() { writeFile(t, dir, "rules.rego", rulesWithMarker(t, "c")) }, 200, ResultOK, func() string { return e.Status().Revision }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.edit()
			req, err := http.NewRequest(tc.method, srv.URL+ReloadPath, nil)
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tc.status, resp.StatusCode)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var body ReloadResponse
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			require.Equal(t, tc.result, body.Result)
			require.Equal(t, tc.rev(), body.Revision)
			if tc.status == 422 {
				require.Equal(t, filepath.Join(dir, "rules.rego"), body.Problems[0].File)
				require.Equal(t, 4, body.Problems[0].Row)
				require.Equal(t, "rego_parse_error", body.Problems[0].Code)
			}
		})
	}
	require.True(t, e.Status().Revision != first)
}
