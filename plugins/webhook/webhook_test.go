package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
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
)

var wasmPath, compileCache string

func TestMain(m *testing.M) { wasmtest.MainBundled(m, "webhook", &wasmPath, &compileCache) }

const signingSecret = "whsec_0123456789abcdef"

var now = time.Date(2026, 2, 11, 10, 0, 5, 0, time.UTC)

type received struct {
	header http.Header
	body   []byte
}

func receiver(t *testing.T, reply http.HandlerFunc) (*httptest.Server, chan received) {
	got := make(chan received, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- received{r.Header.Clone(), b}
		reply(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func newHost(t *testing.T, srv *httptest.Server, httpTimeout time.Duration) *wasmhost.Host {
	t.Helper()
	cfg := fmt.Sprintf(`{"url":%q,"secret_name":"hook_secret","headers":{"X-Team":"settlement"}}`, srv.URL+"/arbiter")
	h, err := wasmhost.New(context.Background(), wasmhost.Config{
		CacheDir: compileCache,
		Plugins: []wasmhost.PluginConfig{{
			Name: "webhook", Path: wasmPath, Entry: "webhook", Config: json.RawMessage(cfg),
			AllowHosts:  []string{srv.Listener.Addr().String()},
			Secrets:     wasmhost.Secrets{"hook_secret": signingSecret},
			HTTPTimeout: httpTimeout,
		}},
	}, wasmhost.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

var slaRequest = wasmhost.Request{
	Action: json.RawMessage(`{"type":"sla_violation","reason":"latency","severity":"warning","latencyMs":7250}`),
	Event: wasmhost.EventSummary{ID: "evt_3", Type: "delta.verified", Endpoint: "pacspace", CustomerID: "cus_1",
		ReceivedAt: time.Date(2026, 2, 11, 10, 0, 0, 0, time.UTC)},
	DeliveryID: "dlv_3", IdempotencyKey: "evt_3/0/webhook", Attempt: 2,
}

func TestSignedDelivery(t *testing.T) {
	srv, got := receiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := newHost(t, srv, 0)
	res, err := h.Invoke(context.Background(), "webhook", slaRequest)
	if err != nil || res.Status != wasmhost.StatusOK {
		t.Fatalf("got %+v, %v", res, err)
	}
	r := <-got
	wantBody := `{"action":{"type":"sla_violation","reason":"latency","severity":"warning","latencyMs":7250},` +
		`"event":{"id":"evt_3","type":"delta.verified","endpoint":"pacspace","customerId":"cus_1","receivedAt":"2026-02-11T10:00:00Z"},` +
		`"deliveryId":"dlv_3","idempotencyKey":"evt_3/0/webhook","attempt":2}`
	if string(r.body) != wantBody {
		t.Errorf("body:\n got %s\nwant %s", r.body, wantBody)
	}
	// The receiver's side of the contract: recompute the signature.
	ts := r.header.Get("X-Arbiter-Timestamp")
	if ts != "1770804005" {
		t.Errorf("X-Arbiter-Timestamp = %q, want the injected clock", ts)
	}
	mac := hmac.New(sha256.New, []byte(signingSecret))
	mac.Write([]byte(ts + "." + string(r.body)))
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	if sig := r.header.Get("X-Arbiter-Signature"); !hmac.Equal([]byte(sig), []byte(want)) {
		t.Errorf("X-Arbiter-Signature = %q, want %q", sig, want)
	}
	for k, v := range map[string]string{
		"Content-Type": "application/json", "X-Arbiter-Delivery": "dlv_3", "X-Arbiter-Event": "evt_3",
		"Idempotency-Key": "evt_3/0/webhook", "X-Team": "settlement",
	} {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestSignVector(t *testing.T) {
	// A fixed vector (computed independently), for receivers in other
	// languages to test against.
	const want = "v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
	if got := Sign("secret", "1700000000", []byte(`{"a":1}`)); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestResponses(t *testing.T) {
	tests := []struct {
		name       string
		reply      http.HandlerFunc
		timeout    time.Duration
		want       wasmhost.Status
		retryAfter time.Duration
	}{
		{"accepted", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }, 0, wasmhost.StatusOK, 0},
		{"rate limited", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "Wed, 11 Feb 2026 10:01:05 GMT") // a minute after the injected clock
			w.WriteHeader(http.StatusTooManyRequests)
		}, 0, wasmhost.StatusRetry, time.Minute},
		{"server error", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }, 0, wasmhost.StatusRetry, 0},
		{"rejected", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) }, 0, wasmhost.StatusFail, 0},
		{"timeout", func(w http.ResponseWriter, r *http.Request) { time.Sleep(500 * time.Millisecond) }, 100 * time.Millisecond, wasmhost.StatusRetry, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := receiver(t, tc.reply)
			h := newHost(t, srv, tc.timeout)
			res, err := h.Invoke(context.Background(), "webhook", slaRequest)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.want || res.RetryAfter != tc.retryAfter {
				t.Errorf("got %+v, want %s after %s", res, tc.want, tc.retryAfter)
			}
			if strings.Contains(res.Message, signingSecret) {
				t.Errorf("message leaks the secret: %q", res.Message)
			}
		})
	}
}
