package policy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/arbiter-dev/arbiter/engine/testing/bundletest"
	"github.com/arbiter-dev/arbiter/engine/testing/capture"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// bundleEngine starts an engine on the bundle at url, keeping the last
// good bundle in lastGood; without one it waits 200 ms at most for the
// server.
func bundleEngine(t *testing.T, url, publicKey, lastGood string) (*Engine, *prometheus.Registry, *capture.Buffer, error) {
	t.Helper()
	return bundleEngineWaiting(t, url, publicKey, lastGood, 200*time.Millisecond)
}

func bundleEngineWaiting(t *testing.T, url, publicKey, lastGood string, wait time.Duration) (*Engine, *prometheus.Registry, *capture.Buffer, error) {
	t.Helper()
	reg := prometheus.NewRegistry()
	logs := &capture.Buffer{}
	e, err := New(context.Background(), Config{
		Source: Source{Bundle: &BundleSource{
			URL: url, VerificationKey: publicKey, LastGood: lastGood, PollInterval: 10 * time.Millisecond,
			StartTimeout: wait,
		}},
		Logger:     hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}),
		Registerer: reg,
	})
	return e, reg, logs, err
}

// TestBundleLifecycle runs one engine through a bundle server's life: a
// good bundle, polls answered 304, a new revision, a bad signature, an
// unsigned bundle, one whose tests fail, a tampered one, a changed bundle
// under the same revision, and the server down and back. Every refusal
// leaves the active revision deciding and shows in the log, the metrics
// and Status.
func TestBundleLifecycle(t *testing.T) {
	ctx := context.Background()
	a, b := bundletest.Keys(t)
	dir := basicSet(t)
	srv := bundletest.NewServer(t)
	srv.Serve(bundletest.Build(t, dir, "2026.04.10-1", a.Private))
	lastGood := filepath.Join(t.TempDir(), "policy", "bundle.tar.gz")

	e, reg, logs, err := bundleEngine(t, srv.URL+"/bundles/arbiter.tar.gz?token=s3cret", a.Public, lastGood)
	require.NoError(t, err)
	st := e.Status()
	require.Equal(t, "2026.04.10-1", st.Revision)
	require.Equal(t, 3, st.Tests.Passed)
	require.Equal(t, srv.URL+"/bundles/arbiter.tar.gz", st.Bundle.URL, "the query, which may hold a token, is not shown")
	require.Equal(t, srv.ETag(), st.Bundle.ETag)
	require.Equal(t, FetchOK, st.Bundle.LastFetch)
	require.Equal(t, "/rules_test.rego", st.Files[len(st.Files)-1], "files are named by their path in the bundle")
	d, err := e.Decide(ctx, driftInput(110))
	require.NoError(t, err)
	require.Equal(t, "2026.04.10-1", d.Revision, "the bundle's revision is recorded on the decision")
	require.Equal(t, 1, len(d.Actions))
	require.Equal(t, []string{"console", "pager"}, d.Actions[0].Targets, "data from the bundle's nested data file")
	kept, err := os.ReadFile(lastGood)
	require.NoError(t, err)
	require.True(t, bytes.Equal(kept, srv.Body()), "the good bundle is kept")

	// Polls send the ETag and are answered 304: nothing is loaded again.
	require.NoError(t, e.Reload(ctx))
	require.Equal(t, srv.ETag(), srv.LastIfNoneMatch())
	require.Equal(t, 1.0, counter(t, reg, "arbiter_policy_bundle_fetches_total", "result", FetchNotModified))
	require.Equal(t, 1.0, counter(t, reg, "arbiter_policy_reloads_total", "result", ResultOK), "a 304 is not a reload")
	require.Equal(t, FetchNotModified, e.Status().Bundle.LastFetch)

	// A new revision replaces it.
	writeFile(t, dir, "rules.rego", rulesWithMarker(t, "b"))
	srv.Serve(bundletest.Build(t, dir, "2026.04.10-2", a.Private))
	require.NoError(t, e.Reload(ctx))
	require.Equal(t, "2026.04.10-2", e.Status().Revision)
	require.Equal(t, 1.0, counter(t, reg, "arbiter_policy_active_revision_info", "revision", "2026.04.10-2"))
	d, err = e.Decide(ctx, driftInput(110))
	require.NoError(t, err)
	require.Equal(t, 1, len(d.Actions))
	require.Contains(t, string(d.Actions[0].Raw), `"marker":"b"`)

	good := "2026.04.10-2"
	goodETag := srv.ETag()
	failing := basicSet(t)
	writeFile(t, failing, "rules_test.rego", strings.Replace(mustRead(t, "testdata/basic/rules_test.rego"),
		`a.targets == ["console", "pager"]`, `a.targets == ["console"]`, 1))
	sameRevision := basicSet(t)
	writeFile(t, sameRevision, "rules.rego", rulesWithMarker(t, "c"))

	refusals := []struct {
		name, result, why string
		bundle            []byte
	}{
		{"signed with another key", ResultBundleError, "failed to verify JWT signature",
			bundletest.Build(t, dir, "2026.04.10-3", b.Private)},
		{"unsigned", ResultBundleError, "bundle missing .signatures.json file",
			bundletest.Build(t, dir, "2026.04.10-4", "")},
		{"tampered after signing", ResultBundleError, "digest mismatch",
			tamper(t, bundletest.Build(t, dir, "2026.04.10-5", a.Private))},
		{"its own tests fail", ResultTestFailure, "rules_test.rego:",
			bundletest.Build(t, failing, "2026.04.10-6", a.Private)},
		{"changed under the active revision", ResultBundleError, "revision 2026.04.10-2 is active with other content",
			bundletest.Build(t, sameRevision, good, a.Private)},
		{"not a bundle", ResultBundleError, "bundle refused", []byte("<html>login</html>")},
	}
	for _, r := range refusals {
		before := counter(t, reg, "arbiter_policy_reloads_total", "result", r.result)
		srv.Serve(r.bundle)
		err := e.Reload(ctx)
		require.True(t, err != nil, r.name, "was accepted")
		require.Contains(t, err.Error(), r.why, r.name)
		require.Equal(t, goodETag, srv.LastIfNoneMatch(), r.name, ": the active bundle's ETag is sent, so a refused bundle is judged again")
		st := e.Status()
		require.Equal(t, good, st.Revision, r.name, ": the active revision stays")
		require.Contains(t, st.LastError, r.why, r.name)
		require.Equal(t, goodETag, st.Bundle.ETag, r.name)
		require.Equal(t, before+1, counter(t, reg, "arbiter_policy_reloads_total", "result", r.result), r.name)
		require.Equal(t, 0.0, gauge(t, reg, "arbiter_policy_last_reload_successful"), r.name)
		require.Contains(t, logs.String(), "previous revision stays active", r.name)
		d, err := e.Decide(ctx, driftInput(110))
		require.NoError(t, err)
		require.Equal(t, good, d.Revision, r.name)
		kept, err := os.ReadFile(lastGood)
		require.NoError(t, err)
		require.True(t, !bytes.Contains(kept, []byte(`"marker": "c"`)) && len(kept) > 0, r.name, ": a refused bundle is not kept")
	}

	// The server goes down: the active revision stays, and says why.
	srv.SetDown(true)
	err = e.Reload(ctx)
	require.True(t, err != nil)
	require.Contains(t, err.Error(), "HTTP 503")
	require.NotContains(t, err.Error(), "s3cret")
	st = e.Status()
	require.Equal(t, good, st.Revision)
	require.Equal(t, FetchError, st.Bundle.LastFetch)
	require.Contains(t, st.LastError, "HTTP 503")
	require.Equal(t, 1.0, counter(t, reg, "arbiter_policy_bundle_fetches_total", "result", FetchError))
	require.Equal(t, 1.0, counter(t, reg, "arbiter_policy_reloads_total", "result", ResultLoadError))

	// Back, and serving the active bundle again: a 304 ends the failure.
	srv.ServeWithETag(kept, goodETag)
	require.NoError(t, e.Reload(ctx))
	st = e.Status()
	require.Equal(t, good, st.Revision)
	require.Equal(t, "", st.LastError)
	require.Equal(t, 1.0, gauge(t, reg, "arbiter_policy_last_reload_successful"))
	require.Contains(t, logs.String(), "policy bundle server answers again")
	require.NotContains(t, logs.String(), "s3cret")
}

// TestBundleServerDownAtStart: without a last good bundle the engine
// refuses to start, naming the URL; with one it starts on it, says so,
// and takes the server's bundle once it is up.
func TestBundleServerDownAtStart(t *testing.T) {
	ctx := context.Background()
	a, _ := bundletest.Keys(t)
	dir := basicSet(t)
	srv := bundletest.NewServer(t)
	srv.SetDown(true)
	lastGood := filepath.Join(t.TempDir(), "bundle.tar.gz")

	_, _, _, err := bundleEngine(t, srv.URL+"/b.tar.gz", a.Public, lastGood)
	require.True(t, err != nil, "started without a bundle")
	require.Contains(t, err.Error(), "fetch "+srv.URL+"/b.tar.gz: HTTP 503")
	require.Contains(t, err.Error(), "no last good bundle to start on")
	require.Contains(t, err.Error(), "the server did not answer within 200ms")
	require.True(t, srv.Requests() > 1, "it asked again while it waited")

	// Nothing listening at all is the same.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	_, _, _, err = bundleEngine(t, closed.URL+"/b.tar.gz", a.Public, lastGood)
	require.True(t, err != nil, "started without a bundle")
	require.Contains(t, err.Error(), "connection refused")

	// A bundle from an earlier run.
	require.NoError(t, keepLastGood(lastGood, bundletest.Build(t, dir, "r1", a.Private)))
	e, reg, logs, err := bundleEngine(t, srv.URL+"/b.tar.gz", a.Public, lastGood)
	require.NoError(t, err)
	st := e.Status()
	require.Equal(t, "r1", st.Revision)
	require.True(t, st.Bundle.StartedOnLastGood)
	require.Contains(t, st.LastError, "HTTP 503")
	require.Equal(t, FetchError, st.Bundle.LastFetch)
	require.Equal(t, 0.0, gauge(t, reg, "arbiter_policy_last_reload_successful"))
	require.Contains(t, logs.String(), "started on the last good bundle")
	d, err := e.Decide(ctx, driftInput(110))
	require.NoError(t, err)
	require.Equal(t, "r1", d.Revision)

	// Still down: it stays on r1.
	require.True(t, e.Reload(ctx) != nil)
	require.Equal(t, "r1", e.Status().Revision)

	// Up, with a newer bundle: Poll takes it.
	writeFile(t, dir, "rules.rego", rulesWithMarker(t, "b"))
	srv.Serve(bundletest.Build(t, dir, "r2", a.Private))
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Poll(pctx) }()
	eventually(t, 10*time.Second, func() bool { return e.Status().Revision == "r2" })
	n := srv.Requests()
	eventually(t, 10*time.Second, func() bool { return srv.Requests() > n+1 }, "polling goes on")
	stop()
	require.NoError(t, <-done)
	st = e.Status()
	require.Equal(t, "", st.LastError)
	require.Equal(t, srv.ETag(), srv.LastIfNoneMatch(), "polls after the download send its ETag")
	d, err = e.Decide(ctx, driftInput(110))
	require.NoError(t, err)
	require.Equal(t, 1, len(d.Actions))
	require.Contains(t, string(d.Actions[0].Raw), `"marker":"b"`)
}

// TestBundleServerUpDuringStart: without a last good bundle, a start waits
// for a server that comes up beside it.
func TestBundleServerUpDuringStart(t *testing.T) {
	a, _ := bundletest.Keys(t)
	srv := bundletest.NewServer(t)
	srv.SetDown(true)
	raw := bundletest.Build(t, basicSet(t), "r1", a.Private)
	go func() {
		for srv.Requests() < 2 {
			time.Sleep(time.Millisecond)
		}
		srv.Serve(raw)
	}()
	e, _, logs, err := bundleEngineWaiting(t, srv.URL, a.Public, filepath.Join(t.TempDir(), "b.tar.gz"), time.Minute)
	require.NoError(t, err)
	require.Equal(t, "r1", e.Status().Revision)
	require.Equal(t, "", e.Status().LastError)
	require.Contains(t, logs.String(), "waiting for it")
}

// TestBundleStartRefusesBadBundle: a server whose bundle does not verify
// at start is treated as down: the last good bundle, or no start.
func TestBundleStartRefusesBadBundle(t *testing.T) {
	a, b := bundletest.Keys(t)
	dir := basicSet(t)
	srv := bundletest.NewServer(t)
	srv.Serve(bundletest.Build(t, dir, "evil", b.Private))
	_, _, _, err := bundleEngine(t, srv.URL, a.Public, "")
	require.True(t, err != nil, "a bundle signed with another key was accepted")
	require.Contains(t, err.Error(), "failed to verify JWT signature")

	lastGood := filepath.Join(t.TempDir(), "bundle.tar.gz")
	require.NoError(t, keepLastGood(lastGood, bundletest.Build(t, dir, "good", a.Private)))
	e, _, _, err := bundleEngine(t, srv.URL, a.Public, lastGood)
	require.NoError(t, err)
	require.Equal(t, "good", e.Status().Revision)
	require.Contains(t, e.Status().LastError, "failed to verify JWT signature")

	// A last good bundle that no longer verifies (the key was rotated) is
	// no way to start either.
	srv.SetDown(true)
	_, _, _, err = bundleEngine(t, srv.URL, b.Public, lastGood)
	require.True(t, err != nil, "started on a bundle that does not verify")
	require.Contains(t, err.Error(), "HTTP 503; last good bundle")
}

// TestBundleRevisionWithOverrides: local overrides change what decides,
// so the recorded revision says so.
func TestBundleRevisionWithOverrides(t *testing.T) {
	a, _ := bundletest.Keys(t)
	raw := bundletest.Build(t, basicSet(t), "r7", a.Private)
	src := Source{Bundle: &BundleSource{VerificationKey: a.Public}, DataOverrides: map[string]any{"thresholds": map[string]any{"drift": 50}}}
	set, err := LoadBundle(context.Background(), raw, src)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(set.Revision(), "r7+data."), set.Revision())
	d, err := set.Decide(context.Background(), driftInput(110))
	require.NoError(t, err)
	require.Equal(t, 0, len(d.Actions), "the override applies")
	src.DataOverrides = map[string]any{"thresholdz": 1}
	_, err = LoadBundle(context.Background(), raw, src)
	require.True(t, err != nil)
	require.Contains(t, err.Error(), "data.thresholdz: no such key")
}

func TestBundleSourceValidation(t *testing.T) {
	for _, tc := range []struct {
		src  BundleSource
		want string
	}{
		{BundleSource{URL: "ftp://x/b.tar.gz", VerificationKey: "k"}, "want an http:// or https:// URL"},
		{BundleSource{URL: "http://127.0.0.1/b.tar.gz"}, "bundles must be signed"},
	} {
		_, err := New(context.Background(), Config{Source: Source{Bundle: &tc.src}})
		require.True(t, err != nil, tc.want)
		require.Contains(t, err.Error(), tc.want)
	}
	_, err := New(context.Background(), Config{Source: Source{Dir: "x", Bundle: &BundleSource{}}})
	require.Contains(t, err.Error(), "one of Dir, FS or Bundle")
}

// tamper changes a byte of a module inside a signed bundle, keeping its
// signature, and packs it again.
func tamper(t testing.TB, raw []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	changed := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		orig := bytes.Clone(b)
		if strings.HasSuffix(h.Name, "/rules.rego") {
			b = bytes.Replace(b, []byte(`_marker := "`), []byte(`_marker := "z`), 1)
			changed = !bytes.Equal(b, orig)
		}
		h.Size = int64(len(b))
		require.NoError(t, tw.WriteHeader(h))
		_, err = tw.Write(b)
		require.NoError(t, err)
	}
	require.True(t, changed, "no rules.rego in the bundle")
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	return out.Bytes()
}

func mustRead(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return string(b)
}

// gauge is the value of the unlabelled gauge name.
func gauge(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return -1
}
