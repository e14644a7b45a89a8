package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/wasmhost"
	"github.com/arbiter-dev/arbiter/engine/wasmhost/wasmtest"
	"github.com/arbiter-dev/arbiter/plugins/sdk"
)

var wasmPath, compileCache string

func TestMain(m *testing.M) { wasmtest.MainBundled(m, "slack", &wasmPath, &compileCache) }

// fakeSlack is a loopback Slack incoming webhook. Each request is recorded
// and answered by reply.
type fakeSlack struct {
	*httptest.Server
	requests chan recorded
	reply    http.HandlerFunc
}

type recorded struct {
	path, contentType string
	body              []byte
}

func newFakeSlack(t *testing.T, reply http.HandlerFunc) *fakeSlack {
	f := &fakeSlack{requests: make(chan recorded, 10), reply: reply}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.requests <- recorded{r.URL.Path, r.Header.Get("Content-Type"), body}
		f.reply(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

const hookPath = "/services/T0001/B0001/s3cr3tT0k3n"

func newHost(t *testing.T, srv *fakeSlack, config string, httpTimeout time.Duration) *wasmhost.Host {
	t.Helper()
	h, err := wasmhost.New(context.Background(), wasmhost.Config{
		CacheDir: compileCache,
		Plugins: []wasmhost.PluginConfig{{
			Name:        "slack",
			Path:        wasmPath,
			Entry:       "slack",
			Config:      json.RawMessage(config),
			AllowHosts:  []string{srv.Listener.Addr().String()},
			Secrets:     wasmhost.Secrets{"slack_url": srv.URL + hookPath},
			HTTPTimeout: httpTimeout,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

var driftRequest = wasmhost.Request{
	Action: json.RawMessage(`{"type":"alert","reason":"period_drift","severity":"high",` +
		`"ours":1250.5,"pacspace":1238,"drift":12.5,"percentOff":1.01,"periodId":"2026-02","targets":["slack"]}`),
	Event: wasmhost.EventSummary{
		ID: "evt_9f2", Type: "delta.verified", Endpoint: "pacspace", CustomerID: "cus_42",
		ReceivedAt: time.Date(2026, 2, 11, 10, 0, 0, 0, time.UTC),
	},
	DeliveryID: "dlv_1", IdempotencyKey: "evt_9f2/0/slack", Attempt: 1,
}

func TestMessage(t *testing.T) {
	srv := newFakeSlack(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	h := newHost(t, srv, `{"webhook_url_secret":"slack_url","channel":"#settlement"}`, 0)

	res, err := h.Invoke(context.Background(), "slack", driftRequest)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != wasmhost.StatusOK {
		t.Fatalf("want ok, got %+v", res)
	}
	got := <-srv.requests
	if got.path != hookPath || got.contentType != "application/json" {
		t.Errorf("request to %s as %q", got.path, got.contentType)
	}
	want := `{
	  "channel": "#settlement",
	  "text": "[HIGH] Period drift — customer cus_42",
	  "blocks": [
	    {"type": "header", "text": {"type": "plain_text", "text": ":red_circle: Period drift", "emoji": true}},
	    {"type": "section", "fields": [
	      {"type": "mrkdwn", "text": "*Severity*\nHIGH"},
	      {"type": "mrkdwn", "text": "*Action*\nalert"},
	      {"type": "mrkdwn", "text": "*Reason*\nperiod_drift"},
	      {"type": "mrkdwn", "text": "*Customer*\ncus_42"}
	    ]},
	    {"type": "section", "fields": [
	      {"type": "mrkdwn", "text": "*Ours*\n1250.5"},
	      {"type": "mrkdwn", "text": "*PacSpace*\n1238"},
	      {"type": "mrkdwn", "text": "*Drift*\n12.5"},
	      {"type": "mrkdwn", "text": "*Percent off*\n1.01%"},
	      {"type": "mrkdwn", "text": "*Period id*\n2026-02"}
	    ]},
	    {"type": "context", "elements": [
	      {"type": "mrkdwn", "text": "Event ` + "`evt_9f2`" + ` · delta.verified · received 2026-02-11T10:00:00Z"}
	    ]}
	  ]
	}`
	requireJSONEqual(t, want, got.body)
}

func TestChainBreakFigures(t *testing.T) {
	f, err := sdk.ParseFields([]byte(`{"type":"alert","reason":"chain_discontinuity","severity":"critical",` +
		`"expected":"0xabc","received":"0xdef","latencyMs":7250,"discrepancies":[{"field":"amount"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, f := range keyFigures(f) {
		texts = append(texts, f.Text)
	}
	want := []string{"*Expected*\n`0xabc`", "*Received*\n`0xdef`", "*Latency*\n7250 ms", "*Discrepancies*\n1 item(s)"}
	if strings.Join(texts, "|") != strings.Join(want, "|") {
		t.Errorf("figures:\n got %q\nwant %q", texts, want)
	}
}

func TestResponses(t *testing.T) {
	tests := []struct {
		name       string
		reply      http.HandlerFunc
		timeout    time.Duration
		want       wasmhost.Status
		retryAfter time.Duration
		message    string
	}{
		{
			name: "rate limited",
			reply: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "30")
				w.WriteHeader(http.StatusTooManyRequests)
				io.WriteString(w, "rate_limited")
			},
			want: wasmhost.StatusRetry, retryAfter: 30 * time.Second, message: "HTTP 429: rate_limited",
		},
		{
			name: "server error",
			reply: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, "service unavailable")
			},
			want: wasmhost.StatusRetry, message: "HTTP 503",
		},
		{
			name: "bad payload",
			reply: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, "invalid_payload")
			},
			want: wasmhost.StatusFail, message: "HTTP 400: invalid_payload",
		},
		{
			name: "revoked webhook",
			reply: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNotFound)
				io.WriteString(w, "no_service")
			},
			want: wasmhost.StatusFail, message: "no_service",
		},
		{
			name:    "timeout",
			reply:   func(w http.ResponseWriter, r *http.Request) { time.Sleep(500 * time.Millisecond) },
			timeout: 100 * time.Millisecond,
			want:    wasmhost.StatusRetry, message: "timed out",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFakeSlack(t, tc.reply)
			h := newHost(t, srv, `{"webhook_url_secret":"slack_url"}`, tc.timeout)
			res, err := h.Invoke(context.Background(), "slack", driftRequest)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.want || res.RetryAfter != tc.retryAfter || !strings.Contains(res.Message, tc.message) {
				t.Errorf("got %+v, want %s after %s with %q", res, tc.want, tc.retryAfter, tc.message)
			}
			if strings.Contains(res.Message, "s3cr3tT0k3n") {
				t.Errorf("message leaks the webhook URL: %q", res.Message)
			}
		})
	}
}

func TestSecretNotGranted(t *testing.T) {
	srv := newFakeSlack(t, func(w http.ResponseWriter, r *http.Request) {})
	h := newHost(t, srv, `{"webhook_url_secret":"other"}`, 0)
	res, err := h.Invoke(context.Background(), "slack", driftRequest)
	if err != nil || res.Status != wasmhost.StatusFail || !strings.Contains(res.Message, "other is not granted") {
		t.Fatalf("got %+v, %v", res, err)
	}
	if len(srv.requests) != 0 {
		t.Error("request sent without a webhook URL")
	}
}

func TestConfigValidated(t *testing.T) {
	_, err := wasmhost.New(context.Background(), wasmhost.Config{
		CacheDir: compileCache,
		Plugins:  []wasmhost.PluginConfig{{Name: "slack", Path: wasmPath, Entry: "slack", Config: json.RawMessage(`{"chanel":"#x"}`)}},
	})
	if err == nil || !strings.Contains(err.Error(), "config does not match") {
		t.Fatalf("want a schema error, got %v", err)
	}
}

func requireJSONEqual(t *testing.T, want string, got []byte) {
	t.Helper()
	var w, g bytes.Buffer
	if err := json.Indent(&w, []byte(compact(want)), "", "  "); err != nil {
		t.Fatalf("want is not JSON: %v", err)
	}
	if err := json.Indent(&g, got, "", "  "); err != nil {
		t.Fatalf("got is not JSON: %v\n%s", err, got)
	}
	if w.String() != g.String() {
		t.Errorf("payload:\n got %s\nwant %s", g.String(), w.String())
	}
}

func compact(s string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return s
	}
	return b.String()
}
