package receiver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/inbox"
	"github.com/arbiter-dev/arbiter/engine/pacspace"
	"github.com/arbiter-dev/arbiter/engine/receiver"
	"github.com/arbiter-dev/arbiter/engine/store"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

const (
	secret    = "whsec_test_primary_secret"
	rotated   = "whsec_test_rotated_secret"
	expired   = "whsec_test_expired_secret"
	maxBody   = 4096
	fixedUnix = 1775822400 // 2026-04-10T12:00:00Z
)

var now = time.Unix(fixedUnix, 0)

type harness struct {
	url   string
	store *store.Store
	inbox *inbox.Inbox
	reg   *prometheus.Registry
	rc    *receiver.Receiver
}

// newHarness serves a receiver that appends to an inbox journal, as the
// agent's does, with room for maxBacklog unloaded events.
func newHarness(t *testing.T, maxBacklog int) *harness {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, store.Config{Path: filepath.Join(dir, "arbiter.db")})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	in, err := inbox.Open(ctx, inbox.Config{Dir: filepath.Join(dir, "journal"), MaxBacklog: maxBacklog}, st)
	require.NoError(t, err)
	t.Cleanup(func() { in.Close() })
	for _, ep := range []engine.Endpoint{
		{Name: "pacspace", Enabled: true, AllowLegacy: true, Secrets: []engine.Secret{
			{Value: secret}, {Value: rotated}, {Value: expired, ExpiresAt: now.Add(-time.Second)}}},
		{Name: "strict", Enabled: true, AllowLegacy: false, Secrets: []engine.Secret{{Value: secret}}},
		{Name: "off", Enabled: false, AllowLegacy: true, Secrets: []engine.Secret{{Value: secret}}},
	} {
		require.NoError(t, st.PutEndpoint(ctx, ep))
	}
	eps, err := receiver.NewEndpoints(ctx, st)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	rc := receiver.New(receiver.Config{MaxBodyBytes: maxBody, Now: func() time.Time { return now }, Registerer: reg}, in, eps)
	mux := http.NewServeMux()
	mux.Handle("/webhooks/{endpoint}", rc)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &harness{url: srv.URL, store: st, inbox: in, reg: reg, rc: rc}
}

// events counts what the inbox holds: journaled and stored.
func (h *harness) events(t *testing.T) int64 {
	t.Helper()
	stats, err := h.inbox.Stats(context.Background())
	require.NoError(t, err)
	return stats.Events
}

type request struct {
	method      string
	endpoint    string
	contentType string
	body        []byte
	chunked     bool
	headers     map[string]string
}

func (h *harness) do(t *testing.T, r request) (int, map[string]any) {
	t.Helper()
	resp := h.post(t, r)
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	require.NoError(t, json.Unmarshal(raw, &out), string(raw))
	return resp.StatusCode, out
}

// post sends r; the caller closes the response body.
func (h *harness) post(t *testing.T, r request) *http.Response {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.endpoint == "" {
		r.endpoint = "pacspace"
	}
	var body io.Reader = bytes.NewReader(r.body)
	if r.chunked {
		body = io.MultiReader(bytes.NewReader(r.body)) // hides the length: sent chunked
	}
	req, err := http.NewRequest(r.method, h.url+"/webhooks/"+r.endpoint, body)
	require.NoError(t, err)
	ct := r.contentType
	if ct == "" {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	for k, v := range r.headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp
}

func v1(sec string, ts time.Time, id string, body []byte) map[string]string {
	return map[string]string{
		pacspace.HeaderSignature: pacspace.SignV1(sec, ts, body),
		pacspace.HeaderTimestamp: fmt.Sprint(ts.Unix()),
		pacspace.HeaderEventID:   id,
	}
}

func legacy(sec, id string, body []byte) map[string]string {
	return map[string]string{pacspace.HeaderSignature: pacspace.SignLegacy(sec, body), pacspace.HeaderEventID: id}
}

func TestRejections(t *testing.T) {
	h := newHarness(t, 1000)
	body := []byte(`{"event":"test","timestamp":"2026-04-10T12:00:00.000Z","data":{"message":"hi"}}`)
	big := []byte(`{"pad":"` + strings.Repeat("x", maxBody) + `"}`)
	arr := []byte(`[1,2,3]`)
	bad := []byte(`{"event":`)
	tests := []struct {
		name   string
		req    request
		status int
		reason string
	}{
		{"unknown endpoint", request{endpoint: "nope", body: body, headers: v1(secret, now, "e1", body)}, 404, receiver.ReasonUnknownEndpoint},
		{"disabled endpoint", request{endpoint: "off", body: body, headers: v1(secret, now, "e1", body)}, 403, receiver.ReasonDisabled},
		{"wrong method", request{method: http.MethodPut, body: body, headers: v1(secret, now, "e1", body)}, 405, receiver.ReasonMethod},
		{"wrong content type", request{contentType: "text/plain", body: body, headers: v1(secret, now, "e1", body)}, 415, receiver.ReasonContentType},
		{"too large", request{body: big, headers: v1(secret, now, "e1", big)}, 413, receiver.ReasonTooLarge},
		{"too large chunked", request{body: big, chunked: true, headers: v1(secret, now, "e1", big)}, 413, receiver.ReasonTooLarge},
		{"missing signature", request{body: body, headers: map[string]string{pacspace.HeaderEventID: "e1"}}, 401, receiver.ReasonMissingSignature},
		{"malformed signature", request{body: body, headers: map[string]string{pacspace.HeaderSignature: "v1=zz"}}, 400, receiver.ReasonMalformed},
		{"bad signature", request{body: body, headers: v1("whsec_someone_else_entirely", now, "e1", body)}, 401, receiver.ReasonBadSignature},
		{"expired secret", request{body: body, headers: v1(expired, now, "e1", body)}, 401, receiver.ReasonBadSignature},
		{"body altered", request{body: append([]byte(" "), body...), headers: v1(secret, now, "e1", body)}, 401, receiver.ReasonBadSignature},
		{"missing timestamp", request{body: body, headers: map[string]string{pacspace.HeaderSignature: pacspace.SignV1(secret, now, body)}}, 400, receiver.ReasonMissingTimestamp},
		{"stale timestamp", request{body: body, headers: v1(secret, now.Add(-5*time.Minute-time.Second), "e1", body)}, 401, receiver.ReasonStale},
		{"future timestamp", request{body: body, headers: v1(secret, now.Add(5*time.Minute+time.Second), "e1", body)}, 401, receiver.ReasonFuture},
		{"legacy refused", request{endpoint: "strict", body: body, headers: legacy(secret, "e1", body)}, 401, receiver.ReasonLegacyRefused},
		{"not json", request{body: bad, headers: v1(secret, now, "e1", bad)}, 400, receiver.ReasonInvalidJSON},
		{"not an object", request{body: arr, headers: v1(secret, now, "e1", arr)}, 400, receiver.ReasonNotObject},
		{"bad event id", request{body: body, headers: v1(secret, now, "has space", body)}, 400, receiver.ReasonBadEventID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := counter(h.reg, "arbiter_webhooks_rejected_total", map[string]string{"reason": tc.reason})
			status, out := h.do(t, tc.req)
			require.Equal(t, tc.status, status, out)
			require.Equal(t, tc.reason, out["reason"])
			require.True(t, out["error"] != "", "error message")
			require.Equal(t, before+1, counter(h.reg, "arbiter_webhooks_rejected_total", map[string]string{"reason": tc.reason}))
			require.Equal(t, int64(0), h.events(t), "a rejected request must store nothing")
		})
	}
}

// A full inbox answers 503 with Retry-After and keeps nothing, until the
// backlog shrinks.
func TestInboxFull(t *testing.T) {
	h := newHarness(t, 1)
	first, second := []byte(`{"event":"a"}`), []byte(`{"event":"b"}`)
	status, out := h.do(t, request{body: first, headers: v1(secret, now, "evt_a", first)})
	require.Equal(t, 200, status, out)
	resp := h.post(t, request{body: second, headers: v1(secret, now, "evt_b", second)})
	require.Equal(t, 503, resp.StatusCode)
	require.Equal(t, "5", resp.Header.Get("Retry-After"))
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	resp.Body.Close()
	require.Equal(t, receiver.ReasonInboxFull, body["reason"])
	require.Equal(t, 1.0, counter(h.reg, "arbiter_webhooks_rejected_total", map[string]string{"reason": receiver.ReasonInboxFull}))
	require.Equal(t, int64(1), h.events(t))

	require.NoError(t, h.inbox.Drain(context.Background()))
	status, out = h.do(t, request{body: second, headers: v1(secret, now, "evt_b", second)})
	require.Equal(t, 200, status, out)
	_, dup := out["duplicate"]
	require.False(t, dup, "the refused event was not kept")
	require.Equal(t, int64(2), h.events(t))
}

// An inbox that cannot take the event (its journal cannot write, here
// because it is closed) answers 503 with Retry-After, as PacSpace retries.
func TestInboxUnavailable(t *testing.T) {
	h := newHarness(t, 10)
	require.NoError(t, h.inbox.Close())
	body := []byte(`{"event":"a"}`)
	resp := h.post(t, request{body: body, headers: v1(secret, now, "evt_a", body)})
	defer resp.Body.Close()
	require.Equal(t, 503, resp.StatusCode)
	require.Equal(t, "5", resp.Header.Get("Retry-After"))
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(t, "store_unavailable", out["reason"])
}

// counter sums the series of the named counter whose labels include labels.
func counter(reg *prometheus.Registry, name string, labels map[string]string) float64 {
	mfs, _ := reg.Gather()
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func TestAcceptAndDedupe(t *testing.T) {
	h := newHarness(t, 1000)
	body := []byte(`{"event":"delta.verified","timestamp":"2026-04-10T12:00:00.000Z","data":{"receiptId":"r1"}}`)
	other := []byte(`{"event":"delta.verified","timestamp":"2026-04-10T12:00:01.000Z","data":{"receiptId":"r2"}}`)
	third := []byte(`{"event":"test"}`)
	steps := []struct {
		name string
		req  request
		dup  bool
	}{
		{"v1 new", request{body: body, headers: v1(secret, now, "evt_1", body)}, false},
		{"same id again", request{body: body, headers: v1(secret, now, "evt_1", body)}, true},
		{"same body under a new id", request{body: body, headers: v1(secret, now.Add(time.Second), "evt_replayed", body)}, true},
		{"rotated secret", request{body: other, headers: v1(rotated, now, "evt_2", other)}, false},
		{"edge of window", request{body: third, headers: v1(secret, now.Add(-5*time.Minute), "evt_3", third)}, false},
		{"legacy", request{body: []byte(`{"event":"x"}`), headers: legacy(secret, "evt_4", []byte(`{"event":"x"}`))}, false},
		{"no event id: body digest", request{body: []byte(`{"event":"y"}`), headers: legacy(secret, "", []byte(`{"event":"y"}`))}, false},
		{"no event id again", request{body: []byte(`{"event":"y"}`), headers: legacy(secret, "", []byte(`{"event":"y"}`))}, true},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			status, out := h.do(t, s.req)
			require.Equal(t, 200, status, out)
			require.Equal(t, true, out["received"])
			if s.dup {
				require.Equal(t, true, out["duplicate"])
			} else {
				_, has := out["duplicate"]
				require.True(t, !has, out)
			}
		})
	}
	require.Equal(t, int64(5), h.events(t))
	require.Equal(t, 3.0, counter(h.reg, "arbiter_webhooks_legacy_signature_total", nil)) // three legacy requests, one a duplicate

	require.NoError(t, h.inbox.Drain(context.Background()))
	stats, err := h.store.InboxStats(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(5), stats.Events, "all loaded into the store")
	ev, err := h.store.Event(context.Background(), 1)
	require.NoError(t, err)
	require.Equal(t, body, ev.Body)
	require.Equal(t, engine.SchemeV1, ev.Scheme)
	require.Equal(t, "evt_1", ev.EventID)
	require.Equal(t, pacspace.SignV1(secret, now, body), ev.Headers[pacspace.HeaderSignature])
}

// BenchmarkAck acknowledges signed events in process: through the inbox's
// journal, as the agent does (its loader not running: bursts are
// acknowledged before they are loaded), and straight into SQLite.
func BenchmarkAck(b *testing.B) {
	for _, target := range []string{"journal", "store"} {
		b.Run(target, func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			st, err := store.Open(ctx, store.Config{Path: filepath.Join(dir, "arbiter.db")})
			require.NoError(b, err)
			defer st.Close()
			require.NoError(b, st.PutEndpoint(ctx, engine.Endpoint{Name: "pacspace", Enabled: true, Secrets: []engine.Secret{{Value: secret}}}))
			eps, err := receiver.NewEndpoints(ctx, st)
			require.NoError(b, err)
			var in receiver.Inbox = st
			if target == "journal" {
				jin, err := inbox.Open(ctx, inbox.Config{Dir: filepath.Join(dir, "journal"), MaxBacklog: 1 << 30}, st)
				require.NoError(b, err)
				defer jin.Close()
				in = jin
			}
			benchmarkAck(b, receiver.New(receiver.Config{}, in, eps))
		})
	}
}

func benchmarkAck(b *testing.B, rc *receiver.Receiver) {
	mux := http.NewServeMux()
	mux.Handle("/webhooks/{endpoint}", rc)
	ts := time.Now()
	b.SetParallelism(16) // 32 in flight on 2 cores, like the load test
	b.ResetTimer()
	var seq atomicCounter
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.next()
			body := fmt.Appendf(nil, `{"event":"delta.verified","timestamp":"2026-04-10T12:00:00.000Z","data":{"receiptId":"rcpt_%d","delta":{"customerId":"cus_1","referenceId":"ref_%d","amount":125.5}}}`, n, n)
			req := httptest.NewRequest(http.MethodPost, "/webhooks/pacspace", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			for k, v := range v1(secret, ts, fmt.Sprint("evt_", n), body) {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}
