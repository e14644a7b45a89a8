package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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

func TestMain(m *testing.M) { wasmtest.MainBundled(m, "pagerduty", &wasmPath, &compileCache) }

const routingKey = "R0UT1NGK3Y0000000000000000000000"

// fakePagerDuty is a loopback Events API v2 endpoint.
func fakePagerDuty(t *testing.T, reply http.HandlerFunc) (*httptest.Server, chan []byte) {
	bodies := make(chan []byte, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/enqueue" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %s %s as %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		b, _ := io.ReadAll(r.Body)
		bodies <- b
		reply(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, bodies
}

func accepted(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"status":"success","message":"Event processed"}`)
}

func newHost(t *testing.T, srv *httptest.Server, httpTimeout time.Duration) *wasmhost.Host {
	t.Helper()
	cfg := fmt.Sprintf(`{"routing_key_secret":"pd_key","url":%q,"component":"settlement"}`, srv.URL+"/v2/enqueue")
	h, err := wasmhost.New(context.Background(), wasmhost.Config{
		CacheDir: compileCache,
		Plugins: []wasmhost.PluginConfig{{
			Name: "pagerduty", Path: wasmPath, Entry: "pagerduty", Config: json.RawMessage(cfg),
			AllowHosts:  []string{srv.Listener.Addr().String()},
			Secrets:     wasmhost.Secrets{"pd_key": routingKey},
			HTTPTimeout: httpTimeout,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

func request(action string) wasmhost.Request {
	return wasmhost.Request{
		Action: json.RawMessage(action),
		Event: wasmhost.EventSummary{ID: "evt_7", Type: "delta.verified", Endpoint: "pacspace", CustomerID: "cus_42",
			ReceivedAt: time.Date(2026, 2, 11, 10, 0, 0, 0, time.UTC)},
		DeliveryID: "dlv_7", IdempotencyKey: "evt_7/1/pagerduty", Attempt: 1,
	}
}

func TestTriggerAndResolve(t *testing.T) {
	srv, bodies := fakePagerDuty(t, accepted)
	h := newHost(t, srv, 0)

	tests := []struct {
		name, action, want string
	}{
		{
			name:   "trigger",
			action: `{"type":"alert","reason":"chain_discontinuity","severity":"critical","expected":"0xaa","received":"0xbb"}`,
			want: `{"routing_key":"` + routingKey + `","event_action":"trigger",
			  "dedup_key":"arbiter:alert:chain_discontinuity:cus_42",
			  "payload":{"summary":"[critical] alert: chain_discontinuity for customer cus_42","source":"arbiter",
			    "severity":"critical","timestamp":"2026-02-11T10:00:00Z","component":"settlement","class":"alert",
			    "custom_details":{"type":"alert","reason":"chain_discontinuity","severity":"critical",
			      "expected":"0xaa","received":"0xbb","eventId":"evt_7","idempotencyKey":"evt_7/1/pagerduty"}},
			  "client":"Arbiter"}`,
		},
		{
			name:   "resolve by object",
			action: `{"type":"resolve","reason":"chain_restored","severity":"info","resolves":{"type":"alert","reason":"chain_discontinuity"}}`,
			want: `{"routing_key":"` + routingKey + `","event_action":"resolve",
			  "dedup_key":"arbiter:alert:chain_discontinuity:cus_42","client":"Arbiter"}`,
		},
		{
			name:   "resolve by string, other customer",
			action: `{"type":"resolve","reason":"sla_ok","severity":"info","customerId":"cus_9","resolves":"sla_violation:latency"}`,
			want: `{"routing_key":"` + routingKey + `","event_action":"resolve",
			  "dedup_key":"arbiter:sla_violation:latency:cus_9","client":"Arbiter"}`,
		},
		{
			name:   "policy dedup key, high is error",
			action: `{"type":"flag_for_review","reason":"verification_failed","severity":"high","dedupKey":"review-cus_42"}`,
			want: `{"routing_key":"` + routingKey + `","event_action":"trigger","dedup_key":"review-cus_42",
			  "payload":{"summary":"[high] flag_for_review: verification_failed for customer cus_42","source":"arbiter",
			    "severity":"error","timestamp":"2026-02-11T10:00:00Z","component":"settlement","class":"flag_for_review",
			    "custom_details":{"type":"flag_for_review","reason":"verification_failed","severity":"high",
			      "dedupKey":"review-cus_42","eventId":"evt_7","idempotencyKey":"evt_7/1/pagerduty"}},
			  "client":"Arbiter"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := h.Invoke(context.Background(), "pagerduty", request(tc.action))
			if err != nil || res.Status != wasmhost.StatusOK {
				t.Fatalf("got %+v, %v", res, err)
			}
			requireJSONEqual(t, tc.want, <-bodies)
		})
	}
}

// TestCustomDetails: the action's members go through as the policy wrote
// them (no float rounding), one per key, the event's ids over them, sorted.
func TestCustomDetails(t *testing.T) {
	f, err := sdk.ParseFields([]byte(`{"type":"alert","eventId":"spoofed","amount":12345678901234567890,"ratio":1e2,"type":"flag"}`))
	if err != nil {
		t.Fatal(err)
	}
	ev := Event{RoutingKey: "k", EventAction: "trigger", DedupKey: "d", Payload: &Payload{
		Summary: "s", Source: "arbiter", Severity: "error",
		CustomDetails: customDetails(f, map[string]string{"eventId": "evt_1", "idempotencyKey": "evt_1/0/pd"}),
	}}
	want := `{"routing_key":"k","event_action":"trigger","dedup_key":"d","payload":{"summary":"s","source":"arbiter","severity":"error",` +
		`"custom_details":{"amount":12345678901234567890,"eventId":"evt_1","idempotencyKey":"evt_1/0/pd","ratio":1e2,"type":"flag"}}}`
	if got := string(ev.JSON()); got != want {
		t.Errorf("JSON:\n got %s\nwant %s", got, want)
	}
}

func TestSeverity(t *testing.T) {
	for in, want := range map[string]string{"critical": "critical", "high": "error", "warning": "warning", "info": "info", "": "error"} {
		if got := Severity(in); got != want {
			t.Errorf("Severity(%q) = %q, want %q", in, got, want)
		}
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
		{"throttled", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
		}, 0, wasmhost.StatusRetry, 2 * time.Second, "HTTP 429"},
		{"server error", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) },
			0, wasmhost.StatusRetry, 0, "HTTP 502"},
		{"invalid event", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"status":"invalid event","errors":["'routing_key' is invalid"]}`)
		}, 0, wasmhost.StatusFail, 0, "routing_key' is invalid"},
		{"timeout", func(w http.ResponseWriter, r *http.Request) { time.Sleep(500 * time.Millisecond) },
			100 * time.Millisecond, wasmhost.StatusRetry, 0, "timed out"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := fakePagerDuty(t, tc.reply)
			h := newHost(t, srv, tc.timeout)
			res, err := h.Invoke(context.Background(), "pagerduty", request(`{"type":"alert","reason":"x","severity":"warning"}`))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.want || res.RetryAfter != tc.retryAfter || !strings.Contains(res.Message, tc.message) {
				t.Errorf("got %+v, want %s after %s with %q", res, tc.want, tc.retryAfter, tc.message)
			}
			if strings.Contains(res.Message, routingKey) {
				t.Errorf("message leaks the routing key: %q", res.Message)
			}
		})
	}
}

func requireJSONEqual(t *testing.T, want string, got []byte) {
	t.Helper()
	var w, g any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v", err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got is not JSON: %v\n%s", err, got)
	}
	wb, _ := json.MarshalIndent(w, "", "  ")
	gb, _ := json.MarshalIndent(g, "", "  ")
	if !bytes.Equal(wb, gb) {
		t.Errorf("payload:\n got %s\nwant %s", gb, wb)
	}
}
