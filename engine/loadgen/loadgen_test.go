package loadgen_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/loadgen"
	"github.com/arbiter-dev/arbiter/engine/pacspace"
)

const secret = "whsec_loadgen_test_secret"

// receiver is a loopback PacSpace receiver that verifies every request with
// engine/pacspace and keeps count.
type receiver struct {
	*httptest.Server
	verifier pacspace.Verifier
	now      func() time.Time
	// respond, when set, may answer instead of the 200 (return false to
	// let the request through).
	respond func(n int64, w http.ResponseWriter, r *http.Request) bool

	requests atomic.Int64
	conns    atomic.Int64

	mu       sync.Mutex
	verified map[engine.Scheme]int
	rejected map[string]int // error → count
	ids      map[string]bool
	digests  map[[32]byte]bool
	bodies   [][]byte // the first few, for inspection
	tls      bool     // serve https
}

func newReceiver(t *testing.T, configure func(*receiver)) *receiver {
	t.Helper()
	rc := &receiver{
		verifier: pacspace.Verifier{AllowLegacy: true},
		now:      time.Now,
		verified: map[engine.Scheme]int{},
		rejected: map[string]int{},
		ids:      map[string]bool{},
		digests:  map[[32]byte]bool{},
	}
	if configure != nil {
		configure(rc)
	}
	rc.Server = httptest.NewUnstartedServer(http.HandlerFunc(rc.serve))
	rc.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			rc.conns.Add(1)
		}
	}
	want := "http://127.0.0.1:"
	if rc.tls {
		rc.StartTLS()
		want = "https://127.0.0.1:"
	} else {
		rc.Start()
	}
	if !strings.HasPrefix(rc.URL, want) {
		t.Fatalf("test server not on 127.0.0.1: %s", rc.URL)
	}
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	n := rc.requests.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if rc.respond != nil && rc.respond(n, w, r) {
		return
	}
	scheme, err := rc.verifier.Verify(r.Header.Get(pacspace.HeaderSignature), r.Header.Get(pacspace.HeaderTimestamp), body, []string{secret}, rc.now())
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err != nil {
		rc.rejected[err.Error()]++
		http.Error(w, `{"error":"invalid signature"}`, http.StatusUnauthorized)
		return
	}
	rc.verified[scheme]++
	rc.ids[r.Header.Get(pacspace.HeaderEventID)] = true
	rc.digests[sha256.Sum256(body)] = true
	if len(rc.bodies) < 200 {
		rc.bodies = append(rc.bodies, body)
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"received":true}`)
}

func run(t *testing.T, cfg loadgen.Config) *loadgen.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cfg.Secret = secret
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func TestRunCount(t *testing.T) {
	tests := []struct {
		scheme      engine.Scheme
		shape       loadgen.Shape
		conns       int
		count       int64
		pregenerate int
	}{
		{engine.SchemeV1, loadgen.ShapeBatch, 8, 500, 0},
		{engine.SchemeV1, loadgen.ShapeDelta, 8, 500, 0},
		{engine.SchemeLegacy, loadgen.ShapeBatch, 32, 1000, 0},
		{engine.SchemeLegacy, loadgen.ShapeDelta, 3, 200, 0},
		{engine.SchemeV1, loadgen.ShapeBatch, 4, 300, 100}, // the rest built at send time
		{engine.SchemeLegacy, loadgen.ShapeDelta, 1, 50, -1},
	}
	for _, tt := range tests {
		t.Run(string(tt.scheme)+"/"+string(tt.shape), func(t *testing.T) {
			rc := newReceiver(t, nil)
			rep := run(t, loadgen.Config{
				URL: rc.URL, Scheme: tt.scheme, Shape: tt.shape,
				Connections: tt.conns, Count: tt.count, Pregenerate: tt.pregenerate,
			})
			if rep.Sent != tt.count || rep.OK != tt.count || rep.Failed() {
				t.Fatalf("sent %d, ok %d, non-2xx %v, errors %d; want %d ok: %+v", rep.Sent, rep.OK, rep.Status, rep.Errors, tt.count, rep.Samples)
			}
			rc.mu.Lock()
			defer rc.mu.Unlock()
			if got := int64(rc.verified[tt.scheme]); got != tt.count || len(rc.rejected) > 0 {
				t.Fatalf("receiver verified %d as %s, rejected %v", got, tt.scheme, rc.rejected)
			}
			if int64(len(rc.ids)) != tt.count || int64(len(rc.digests)) != tt.count {
				t.Fatalf("%d distinct ids, %d distinct bodies of %d", len(rc.ids), len(rc.digests), tt.count)
			}
			if c := rc.conns.Load(); c > int64(tt.conns) {
				t.Fatalf("%d connections opened, limit %d", c, tt.conns)
			}
			for _, b := range rc.bodies {
				var ev struct {
					Event     string          `json:"event"`
					Timestamp time.Time       `json:"timestamp"`
					Data      json.RawMessage `json:"data"`
				}
				if err := json.Unmarshal(b, &ev); err != nil || ev.Event == "" || len(ev.Data) == 0 {
					t.Fatalf("body %s: %v", b, err)
				}
				var compact bytes.Buffer
				if err := json.Compact(&compact, b); err != nil || !bytes.Equal(compact.Bytes(), b) {
					t.Fatalf("body is not compact JSON: %s", b)
				}
			}
			if rep.Latency.P50 <= 0 || rep.Latency.P50 > rep.Latency.P99 || rep.Latency.P99 > rep.Latency.Max {
				t.Fatalf("latency %+v", rep.Latency)
			}
		})
	}
}

func TestRunDuration(t *testing.T) {
	rc := newReceiver(t, nil)
	const d = 300 * time.Millisecond
	began := time.Now()
	rep := run(t, loadgen.Config{URL: rc.URL, Connections: 4, Duration: d, Pregenerate: 1000})
	if took := time.Since(began); took > d+5*time.Second {
		t.Fatalf("a %v run took %v", d, took)
	}
	if rep.OK == 0 || rep.Sent != rep.OK || rep.Failed() {
		t.Fatalf("sent %d ok %d failed %v", rep.Sent, rep.OK, rep.Failed())
	}
	if got := rc.requests.Load(); got != rep.Sent {
		t.Fatalf("receiver saw %d, report says %d sent", got, rep.Sent)
	}
	if rep.Elapsed < d || rep.EventsPerSec <= 0 {
		t.Fatalf("elapsed %v, %f events/s", rep.Elapsed, rep.EventsPerSec)
	}
}

// A warm-up is sent on the same connections, straight before the
// measurement, and left out of the report.
func TestRunWarmup(t *testing.T) {
	rc := newReceiver(t, nil)
	const warm, d = 300 * time.Millisecond, 300 * time.Millisecond
	began := time.Now()
	measuring := make(chan time.Time, 1)
	rep := run(t, loadgen.Config{URL: rc.URL, Connections: 4, Warmup: warm, Duration: d, Pregenerate: 1000,
		Measuring: func() { measuring <- time.Now() }})
	if at := (<-measuring).Sub(began); at < warm || at > warm+d {
		t.Fatalf("Measuring called %v in, want at the end of the %v warm-up", at, warm)
	}
	if took := time.Since(began); took < warm+d {
		t.Fatalf("a %v warm-up and %v run took %v", warm, d, took)
	}
	if rep.OK == 0 || rep.Sent != rep.OK || rep.Failed() {
		t.Fatalf("sent %d ok %d failed %v", rep.Sent, rep.OK, rep.Failed())
	}
	if got := rc.requests.Load(); got <= rep.Sent {
		t.Fatalf("receiver saw %d requests, the report counts %d: the warm-up was counted", got, rep.Sent)
	}
	if rep.Elapsed < d || rep.Elapsed > warm+d {
		t.Fatalf("elapsed %v: want the measurement's %v, not the warm-up's", rep.Elapsed, d)
	}
	if got := rc.conns.Load(); got != 4 {
		t.Fatalf("%d connections opened, want 4 for warm-up and measurement together", got)
	}
}

func TestRunRate(t *testing.T) {
	rc := newReceiver(t, nil)
	// 60 requests at 200/s: the last may start 295 ms in.
	rep := run(t, loadgen.Config{URL: rc.URL, Connections: 4, Count: 60, Rate: 200})
	if rep.OK != 60 {
		t.Fatalf("ok %d", rep.OK)
	}
	if rep.Elapsed < 290*time.Millisecond || rep.Elapsed > 3*time.Second {
		t.Fatalf("60 requests at 200/s took %v", rep.Elapsed)
	}
	// A rate with a duration stops at the duration.
	rep = run(t, loadgen.Config{URL: rc.URL, Connections: 2, Duration: 200 * time.Millisecond, Rate: 50})
	if rep.OK < 5 || rep.OK > 11 {
		t.Fatalf("200 ms at 50/s: %d requests", rep.OK)
	}
}

func TestRunCountsFailures(t *testing.T) {
	rc := newReceiver(t, func(rc *receiver) {
		rc.respond = func(n int64, w http.ResponseWriter, r *http.Request) bool {
			switch {
			case n%10 == 0:
				// Drop the connection without a response.
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close()
				}
				return true
			case n%5 == 0:
				http.Error(w, "overloaded", http.StatusServiceUnavailable)
				return true
			case n%7 == 0:
				http.Error(w, "nope", http.StatusTeapot)
				return true
			}
			return false
		}
	})
	// One connection, so the server's request numbers are the send order.
	rep := run(t, loadgen.Config{URL: rc.URL, Connections: 1, Count: 100})
	// n%10: 10 dropped; n%5 but not n%10: 10 × 503; n%7 not n%5: 14 - 2 = 12 × 418.
	if rep.Sent != 100 || rep.Errors != 10 || rep.Status[503] != 10 || rep.Status[418] != 12 || rep.OK != 68 {
		t.Fatalf("sent %d ok %d errors %d status %v", rep.Sent, rep.OK, rep.Errors, rep.Status)
	}
	if !rep.Failed() || len(rep.Samples) == 0 {
		t.Fatal("failures not reported")
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"10×503", "12×418", "HTTP 503: overloaded"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, text.String())
		}
	}
	if !hasLine(text.String(), "errors", "10") {
		t.Errorf("report lacks errors 10:\n%s", text.String())
	}
	if strings.Contains(text.String(), secret) {
		t.Error("report shows the secret")
	}
}

// hasLine reports whether text has a line made of exactly these fields.
func hasLine(text string, fields ...string) bool {
	for line := range strings.Lines(text) {
		if slices.Equal(strings.Fields(line), fields) {
			return true
		}
	}
	return false
}

// TestRunResigns checks that pre-signed v1 requests whose timestamp has aged
// are signed again at send time instead of going out stale.
func TestRunResigns(t *testing.T) {
	var clock atomic.Int64
	start := time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC)
	clock.Store(start.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	rc := newReceiver(t, func(rc *receiver) {
		rc.now = now
		rc.verifier.Tolerance = 2 * time.Minute
		rc.respond = func(n int64, _ http.ResponseWriter, _ *http.Request) bool {
			clock.Add(int64(time.Minute)) // each delivery takes a minute
			return false
		}
	})
	rep := run(t, loadgen.Config{URL: rc.URL, Connections: 1, Count: 10, Clock: now, ResignAfter: time.Minute})
	if rep.OK != 10 || rep.Pregenerated != 10 {
		t.Fatalf("ok %d of 10 (pregenerated %d): %+v", rep.OK, rep.Pregenerated, rep.Samples)
	}
}

// An https:// target is sent to through net/http's client; plain http
// through the generator's own connections. Both keep one connection each.
func TestRunHTTPS(t *testing.T) {
	rc := newReceiver(t, func(rc *receiver) { rc.tls = true })
	tr := loadgen.NewTransport(4)
	tr.TLSClientConfig = rc.Client().Transport.(*http.Transport).TLSClientConfig
	client := &http.Client{Transport: tr}
	rep := run(t, loadgen.Config{URL: rc.URL, Connections: 4, Count: 200, Client: client})
	if rep.OK != 200 || rc.verified[engine.SchemeV1] != 200 {
		t.Fatalf("ok %d, verified %v, rejected %v", rep.OK, rc.verified, rc.rejected)
	}
	if n := rc.conns.Load(); n > 4 {
		t.Fatalf("%d connections for 4", n)
	}
}

func TestRunInterrupted(t *testing.T) {
	rc := newReceiver(t, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	rep, err := loadgen.Run(ctx, loadgen.Config{URL: rc.URL, Secret: secret, Connections: 2, Duration: time.Hour, Pregenerate: 10})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(began) > 5*time.Second || !rep.Interrupted || rep.Errors != 0 || rep.OK == 0 {
		t.Fatalf("interrupted run: %v, %+v", time.Since(began), rep)
	}
}

func TestRunConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  loadgen.Config
		want string
	}{
		{"no url", loadgen.Config{Secret: secret, Count: 1}, "url"},
		{"ftp url", loadgen.Config{URL: "ftp://127.0.0.1/", Secret: secret, Count: 1}, "url"},
		{"no secret", loadgen.Config{URL: "http://127.0.0.1:1/", Count: 1}, "secret is empty"},
		{"scheme", loadgen.Config{URL: "http://127.0.0.1:1/", Secret: secret, Count: 1, Scheme: "v2"}, `scheme "v2"`},
		{"shape", loadgen.Config{URL: "http://127.0.0.1:1/", Secret: secret, Count: 1, Shape: "tree"}, `shape "tree"`},
		{"no stop", loadgen.Config{URL: "http://127.0.0.1:1/", Secret: secret}, "duration, a count"},
		{"negative", loadgen.Config{URL: "http://127.0.0.1:1/", Secret: secret, Count: -1}, "negative"},
		{"negative warm-up", loadgen.Config{URL: "http://127.0.0.1:1/", Secret: secret, Count: 1, Warmup: -time.Second}, "negative"},
		{"conns", loadgen.Config{URL: "http://127.0.0.1:1/", Secret: secret, Count: 1, Connections: -2}, "connections"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadgen.Run(t.Context(), tt.cfg)
			if err == nil || !strings.HasPrefix(err.Error(), "loadgen: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want loadgen: …%s…", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatal("error shows the secret")
			}
		})
	}
}

func TestReportJSON(t *testing.T) {
	rc := newReceiver(t, nil)
	rep := run(t, loadgen.Config{URL: rc.URL, Connections: 2, Count: 20})
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"url", "scheme", "shape", "connections", "sent", "ok", "non2xx", "errors", "eventsPerSec", "elapsedSeconds", "latencyMs"} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON report lacks %q: %s", k, b)
		}
	}
	lat, _ := got["latencyMs"].(map[string]any)
	if p99, _ := lat["p99"].(float64); p99 <= 0 {
		t.Errorf("latencyMs.p99 = %v", lat["p99"])
	}
	if strings.Contains(string(b), secret) {
		t.Error("JSON report shows the secret")
	}
}

// TestBodiesSurviveJSONStringify runs the generated legacy bodies through
// JavaScript: the seed Express agent verifies HMAC(JSON.stringify(req.body)),
// so each body must come back byte for byte.
func TestBodiesSurviveJSONStringify(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	for _, shape := range []loadgen.Shape{loadgen.ShapeBatch, loadgen.ShapeDelta} {
		t.Run(string(shape), func(t *testing.T) {
			rc := newReceiver(t, nil)
			run(t, loadgen.Config{URL: rc.URL, Scheme: engine.SchemeLegacy, Shape: shape, Connections: 4, Count: 300})
			rc.mu.Lock()
			input := bytes.Join(rc.bodies, []byte("\n"))
			rc.mu.Unlock()
			cmd := exec.CommandContext(t.Context(), node, "-e", `
				const lines = require('fs').readFileSync(0, 'utf8').split('\n');
				let bad = 0;
				for (const l of lines) if (JSON.stringify(JSON.parse(l)) !== l) { bad++; console.log(l); }
				console.log('checked ' + lines.length + ', changed ' + bad);
				process.exit(bad ? 1 : 0);`)
			cmd.Stdin = bytes.NewReader(input)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "checked 200, changed 0") {
				t.Fatalf("node: %s", out)
			}
		})
	}
}
