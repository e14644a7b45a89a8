// Package loadgen acts as PacSpace under load: it sends signed, unique
// webhook events over a fixed number of keep-alive HTTP/1.1 connections, for
// a duration or a count, at full speed or a target rate, and reports
// throughput, status codes and latency quantiles. It backs `arbiter load`
// and the benchmark that compares Arbiter with the seed Express agent.
package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/pacspace"
)

// Defaults for zero Config fields.
const (
	DefaultConnections = 32
	DefaultTimeout     = 10 * time.Second
	// DefaultResignAfter is how old a pre-signed v1 timestamp may get before
	// the request is signed again at send time: well inside the receiver's
	// 5 minute tolerance.
	DefaultResignAfter = 2 * time.Minute
	// MaxPregenerate caps how many requests are built before the clock
	// starts (about 500 bytes each); later ones are built as they are sent.
	MaxPregenerate = 100_000
)

// maxSamples is how many distinct failure descriptions a report keeps.
const maxSamples = 8

// Config says what to send where. The zero value of each optional field
// selects its default.
type Config struct {
	URL    string
	Secret string
	Scheme engine.Scheme // v1 (default) or legacy
	Shape  Shape         // batch (default) or delta

	Connections int           // concurrent keep-alive connections; default 32
	Duration    time.Duration // stop starting requests after this long (after Warmup)
	// Warmup is load sent before the measurement, on the same connections
	// and without a pause, and left out of the report. Count and Rate
	// cover warm-up requests too.
	Warmup time.Duration
	// Measuring, when set, is called as the measurement begins.
	Measuring func()
	Count     int64         // stop after this many requests
	Rate      float64       // target requests per second over all connections; 0: as fast as possible
	Timeout   time.Duration // per request; default 10s

	// Pregenerate is how many requests to build and sign before the clock
	// starts: 0 sizes it from Count or Rate×Duration up to MaxPregenerate,
	// negative builds every request at send time.
	Pregenerate int
	ResignAfter time.Duration // default DefaultResignAfter

	// Clock stamps and signs events; default time.Now. Latency is always
	// measured on the monotonic clock.
	Clock func() time.Time
	// Client sends through net/http instead of the generator's own
	// connections (always used for https:// URLs).
	Client *http.Client
}

func (c Config) withDefaults() (Config, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("loadgen: url %q: want an http:// or https:// URL", c.URL)
	}
	if c.Secret == "" {
		return c, errors.New("loadgen: secret is empty")
	}
	if c.Scheme == "" {
		c.Scheme = engine.SchemeV1
	}
	if c.Scheme != engine.SchemeV1 && c.Scheme != engine.SchemeLegacy {
		return c, fmt.Errorf("loadgen: unknown scheme %q (want v1 or legacy)", c.Scheme)
	}
	if c.Shape == "" {
		c.Shape = ShapeBatch
	}
	if c.Shape != ShapeBatch && c.Shape != ShapeDelta {
		return c, fmt.Errorf("loadgen: unknown shape %q (want batch or delta)", c.Shape)
	}
	if c.Connections == 0 {
		c.Connections = DefaultConnections
	}
	switch {
	case c.Connections < 0 || c.Connections > 10_000:
		return c, fmt.Errorf("loadgen: %d connections: want 1 to 10000", c.Connections)
	case c.Duration < 0 || c.Count < 0 || c.Rate < 0 || c.Warmup < 0:
		return c, errors.New("loadgen: duration, warm-up, count and rate must not be negative")
	case c.Duration == 0 && c.Count == 0:
		return c, errors.New("loadgen: set a duration, a count or both")
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.ResignAfter <= 0 {
		c.ResignAfter = DefaultResignAfter
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	switch {
	case c.Pregenerate < 0:
		c.Pregenerate = 0
	case c.Pregenerate == 0 && c.Count > 0:
		c.Pregenerate = int(min(c.Count, MaxPregenerate))
	case c.Pregenerate == 0 && c.Rate > 0:
		c.Pregenerate = int(min(c.Rate*(c.Warmup+c.Duration).Seconds()+1, MaxPregenerate))
	case c.Pregenerate == 0:
		c.Pregenerate = MaxPregenerate
	}
	if c.Count > 0 {
		c.Pregenerate = int(min(int64(c.Pregenerate), c.Count))
	}
	return c, nil
}

// NewTransport is an HTTP/1.1 transport that keeps exactly conns connections
// to one host open and reuses them: no HTTP/2, no proxy, no compression.
func NewTransport(conns int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		// A non-nil empty map turns HTTP/2 off for TLS as well.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
}

// worker is one connection's sender and its private statistics.
type worker struct {
	conn    *conn // nil: through run.client
	hist    histogram
	sent    int64
	ok      int64
	errors  int64
	status  map[int]int64
	samples map[string]int64 // failure description → count, bounded
}

// run is the state shared by the workers of one Run.
type run struct {
	cfg      Config
	client   *http.Client
	gen      generator
	pool     []request
	next     atomic.Int64
	start    time.Time // the load's, warm-up included
	measured time.Time // the measurement's: start + Warmup
	deadline time.Time // zero: none
	headers  [3]string // canonical signature, timestamp and event id keys
}

// Run sends events as cfg says and reports what happened. Cancelling ctx
// stops it early; the report then covers what completed and says so.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var id [4]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("loadgen: run id: %w", err)
	}
	now := cfg.Clock()
	r := &run{
		cfg: cfg,
		gen: generator{
			scheme: cfg.Scheme, shape: cfg.Shape, secret: cfg.Secret,
			runID: hex.EncodeToString(id[:]), batchBase: now.Unix() * 1_000_000,
		},
		headers: [3]string{
			http.CanonicalHeaderKey(pacspace.HeaderSignature),
			http.CanonicalHeaderKey(pacspace.HeaderTimestamp),
			http.CanonicalHeaderKey(pacspace.HeaderEventID),
		},
	}
	u, _ := url.Parse(cfg.URL) // checked by withDefaults
	r.client = cfg.Client
	if r.client == nil && u.Scheme != "http" {
		tr := NewTransport(cfg.Connections)
		defer tr.CloseIdleConnections()
		r.client = &http.Client{Transport: tr, Timeout: cfg.Timeout}
	}
	r.pool = make([]request, cfg.Pregenerate)
	for i := range r.pool {
		r.pool[i] = r.gen.build(int64(i), now)
	}

	r.start = time.Now()
	r.measured = r.start.Add(cfg.Warmup)
	if cfg.Measuring != nil {
		t := time.AfterFunc(cfg.Warmup, cfg.Measuring)
		defer t.Stop()
	}
	if cfg.Duration > 0 {
		r.deadline = r.measured.Add(cfg.Duration)
	}
	workers := make([]*worker, cfg.Connections)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{status: map[int]int64{}, samples: map[string]int64{}}
		if r.client == nil {
			w.conn = newConn(u, cfg.Timeout)
		}
		workers[i] = w
		wg.Go(func() {
			r.work(ctx, w)
			if w.conn != nil {
				w.conn.close()
			}
		})
	}
	wg.Wait()
	elapsed := max(time.Since(r.measured), 0)
	r.pool = nil

	rep := &Report{
		URL: cfg.URL, Scheme: cfg.Scheme, Shape: cfg.Shape, Connections: cfg.Connections,
		TargetRate: cfg.Rate, Pregenerated: cfg.Pregenerate, Elapsed: elapsed,
		Status: map[int]int64{}, Interrupted: ctx.Err() != nil,
	}
	var h histogram
	samples := map[string]int64{}
	for _, w := range workers {
		h.merge(&w.hist)
		rep.Sent += w.sent
		rep.OK += w.ok
		rep.Errors += w.errors
		for code, n := range w.status {
			rep.Status[code] += n
		}
		for s, n := range w.samples {
			if _, ok := samples[s]; ok || len(samples) < maxSamples {
				samples[s] += n
			}
		}
	}
	for s, n := range samples {
		rep.Samples = append(rep.Samples, Sample{What: s, Count: n})
	}
	rep.finish(&h)
	return rep, nil
}

// work sends requests until the count, the deadline or ctx says to stop.
func (r *run) work(ctx context.Context, w *worker) {
	for ctx.Err() == nil {
		seq := r.next.Add(1) - 1
		if r.cfg.Count > 0 && seq >= r.cfg.Count {
			return
		}
		if r.cfg.Rate > 0 {
			at := r.start.Add(time.Duration(float64(seq) / r.cfg.Rate * float64(time.Second)))
			if !r.deadline.IsZero() && !at.Before(r.deadline) {
				return
			}
			if !sleepUntil(ctx, at) {
				return
			}
		}
		if !r.deadline.IsZero() && !time.Now().Before(r.deadline) {
			return
		}
		r.send(ctx, w, r.request(seq))
	}
}

// request returns the seq-th request, pre-built when there is one.
func (r *run) request(seq int64) request {
	if seq >= int64(len(r.pool)) {
		return r.gen.build(seq, r.cfg.Clock())
	}
	req := r.pool[seq]
	if r.cfg.Scheme == engine.SchemeV1 {
		if now := r.cfg.Clock(); now.Sub(req.signedAt) > r.cfg.ResignAfter {
			r.gen.sign(&req, now)
		}
	}
	return req
}

func (r *run) send(ctx context.Context, w *worker, q request) {
	began := time.Now()
	var (
		status  int
		snippet []byte
		err     error
	)
	if w.conn != nil {
		status, snippet, err = w.conn.do(ctx, q, r.headers)
	} else {
		status, snippet, err = r.post(ctx, q)
	}
	if err != nil && ctx.Err() != nil {
		return // interrupted: neither sent nor failed
	}
	if began.Before(r.measured) {
		return // warm-up
	}
	w.sent++
	w.hist.record(time.Since(began))
	w.result(status, snippet, err)
}

// post is conn.do through net/http's client.
func (r *run) post(ctx context.Context, q request) (status int, snippet []byte, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.URL, bytes.NewReader(q.body))
	if err != nil {
		return 0, nil, fmt.Errorf("build request: %w", err)
	}
	req.Header = http.Header{
		"Content-Type": {"application/json"},
		r.headers[0]:   {q.sig},
		r.headers[2]:   {q.eventID},
	}
	if q.ts != "" {
		req.Header[r.headers[1]] = []string{q.ts}
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		snippet, _ = io.ReadAll(io.LimitReader(resp.Body, 200))
	}
	// Drain so the connection goes back to the pool.
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, snippet, fmt.Errorf("read response: %w", err)
	}
	return resp.StatusCode, snippet, nil
}

// result counts one answered or failed request.
func (w *worker) result(status int, snippet []byte, err error) {
	switch {
	case err != nil:
		w.fail(describe(err))
	case status >= 200 && status < 300:
		w.ok++
	default:
		w.status[status]++
		w.sample("HTTP " + strconv.Itoa(status) + ": " + string(bytes.TrimSpace(snippet)))
	}
}

func (w *worker) fail(what string) {
	w.errors++
	w.sample(what)
}

func (w *worker) sample(what string) {
	if _, ok := w.samples[what]; ok || len(w.samples) < maxSamples {
		w.samples[what]++
	}
}

// describe shortens a client error to what went wrong, without the method
// and URL that *url.Error repeats on every line.
func describe(err error) string {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	return err.Error()
}

// sleepUntil waits for t or ctx, and reports whether t came first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
