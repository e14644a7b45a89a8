package wasmhost

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/arbiter-dev/arbiter/plugins/abi"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// probe runs one op of the probe guest and returns its result.
func probe(t *testing.T, h *Host, plugin, op string, args ...any) Result {
	t.Helper()
	m := map[string]any{"type": "probe", "op": op}
	for i := 0; i+1 < len(args); i += 2 {
		m[args[i].(string)] = args[i+1]
	}
	b, _ := json.Marshal(m)
	res, err := h.Invoke(context.Background(), plugin, action(string(b)))
	requireNoError(t, err)
	return res
}

func TestInputReachesGuest(t *testing.T) {
	h := newHost(t, []PluginConfig{{Name: "probe", Path: guest["probe"], Config: json.RawMessage(`{"mode":"a"}`)}})
	req := action(`{"type":"probe","op":"echo","note":"tab\t \"quote\" é"}`)
	req.Event.ReceivedAt = time.Date(2026, 2, 11, 10, 0, 0, 123456789, time.UTC)
	req.Attempt = 3
	res, err := h.Invoke(context.Background(), "probe", req)
	requireNoError(t, err)
	want := `{"abi":1,"action":{"type":"probe","op":"echo","note":"tab\t \"quote\" é"},"attempt":3,"config":{"mode":"a"},` +
		`"deliveryId":"dlv_1","event":{"ID":"evt_1","Type":"delta.verified","Endpoint":"pacspace","CustomerID":"cus_1",` +
		`"ReceivedAt":"2026-02-11T10:00:00.123456789Z"},"idempotencyKey":"evt_1/0/test"}`
	requireEqual(t, want, res.Message)
}

func TestResultsFromGuest(t *testing.T) {
	h := newHost(t, []PluginConfig{{Name: "probe", Path: guest["probe"]}})
	tests := []struct {
		status string
		ms     int
		want   Result
	}{
		{"ok", 0, Result{Status: StatusOK, Message: "m"}},
		{"retry", 1500, Result{Status: StatusRetry, Message: "m", RetryAfter: 1500 * time.Millisecond}},
		{"fail", 0, Result{Status: StatusFail, Message: "m"}},
		{"maybe", 0, Result{Status: StatusFail, Message: `plugin returned unknown status "maybe"`}}, // the SDK's guard
	}
	for _, tc := range tests {
		t.Run(tc.status, func(t *testing.T) {
			requireEqual(t, tc.want, probe(t, h, "probe", "result", "status", tc.status, "retryAfterMs", tc.ms, "msg", "m"))
		})
	}
}

func TestLog(t *testing.T) {
	logger, buf := newLogger()
	h := newHost(t, []PluginConfig{{Name: "probe", Path: guest["probe"]}}, WithLogger(logger))
	for level, want := range map[int]string{abi.LogTrace: "[TRACE]", abi.LogDebug: "[DEBUG]", abi.LogInfo: "[INFO] ", abi.LogWarn: "[WARN] ", abi.LogError: "[ERROR]", 99: "[INFO] "} {
		msg := fmt.Sprintf("hello level %d", level)
		probe(t, h, "probe", "log", "level", level, "msg", msg)
		line := lineWith(buf.String(), msg)
		requireContains(t, line, want)
		requireContains(t, line, "arbiter.probe: "+msg)
		requireContains(t, line, "delivery=dlv_1")
	}
	probe(t, h, "probe", "log", "level", abi.LogInfo, "msg", strings.Repeat("x", abi.MaxLogBytes+100))
	if line := lineWith(buf.String(), "xxxx"); !strings.Contains(line, strings.Repeat("x", abi.MaxLogBytes)) || strings.Contains(line, strings.Repeat("x", abi.MaxLogBytes+1)) {
		t.Errorf("long message not truncated to %d bytes", abi.MaxLogBytes)
	}
}

func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

func TestClock(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)
	h := newHost(t, []PluginConfig{{Name: "probe", Path: guest["probe"]}}, WithClock(func() time.Time { return at }))
	// Both the now host function and the guest's own time.Now (WASI wall
	// clock) read the injected clock.
	requireEqual(t, "2030-01-02T03:04:05.0000006Z 2030-01-02T03:04:05Z", probe(t, h, "probe", "now").Message)
}

func TestSecret(t *testing.T) {
	h := newHost(t, []PluginConfig{
		{Name: "a", Path: guest["probe"], Secrets: Secrets{"token": "tok-a-123456"}},
		{Name: "b", Path: guest["probe"]},
	})
	// The value reaches the guest; what comes back out is redacted.
	requireEqual(t, Result{Status: StatusOK, Message: "[redacted]"}, probe(t, h, "a", "secret", "name", "token"))
	requireEqual(t, StatusFail, probe(t, h, "a", "secret", "name", "other").Status)
	requireEqual(t, StatusFail, probe(t, h, "b", "secret", "name", "token").Status) // not granted to b
}

func TestKV(t *testing.T) {
	kv := newMemKV()
	h := newHost(t, []PluginConfig{{Name: "a", Path: guest["probe"]}, {Name: "b", Path: guest["probe"]}}, WithKV(kv))
	requireEqual(t, StatusOK, probe(t, h, "a", "kvset", "key", "k", "value", "va").Status)
	requireEqual(t, "va", probe(t, h, "a", "kvget", "key", "k").Message)
	// Scoped per plugin instance: b does not see a's key.
	requireEqual(t, Result{Status: StatusFail, Message: "not found"}, probe(t, h, "b", "kvget", "key", "k"))
	v, ok, _ := kv.Get(context.Background(), "a", "k")
	requireEqual(t, true, ok)
	requireEqual(t, "va", string(v))

	res := probe(t, h, "a", "kvset", "key", strings.Repeat("k", abi.MaxKeyBytes+1), "value", "v")
	requireEqual(t, StatusFail, res.Status)
	requireContains(t, res.Message, "kv_set: invalid")
	res = probe(t, h, "a", "kvget", "key", "")
	requireContains(t, res.Message, "kv_get: invalid")
}

func TestKVUnavailable(t *testing.T) {
	h := newHost(t, []PluginConfig{{Name: "a", Path: guest["probe"]}})
	res := probe(t, h, "a", "kvget", "key", "k")
	requireEqual(t, StatusFail, res.Status)
	requireContains(t, res.Message, "kv_get: unavailable: no key-value store is configured")
}

func TestHTTPAllowlist(t *testing.T) {
	var outsideHits atomic.Int32
	outside := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		outsideHits.Add(1)
		fmt.Fprint(w, "outside")
	}))
	defer outside.Close()
	inside := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			body := make([]byte, r.ContentLength)
			r.Body.Read(body)
			fmt.Fprintf(w, "%s %s probe=%s", r.Method, body, r.Header.Get("X-Probe"))
		case "/escape":
			http.Redirect(w, r, outside.URL+"/stolen", http.StatusFound)
		case "/hop":
			http.Redirect(w, r, "/echo", http.StatusTemporaryRedirect)
		case "/big":
			w.Write(make([]byte, 2048))
		case "/slow":
			time.Sleep(500 * time.Millisecond)
		}
	}))
	defer inside.Close()

	// outside runs on the same loopback address, other port: the entry
	// names the port, so only inside is allowed.
	allow := []string{inside.Listener.Addr().String()}
	h := newHost(t, []PluginConfig{
		{Name: "p", Path: guest["probe"], AllowHosts: allow, MaxResponseBytes: 1024},
		{Name: "impatient", Path: guest["probe"], AllowHosts: allow, HTTPTimeout: 100 * time.Millisecond},
	})
	tests := []struct {
		name, method, url string
		plugin            string
		want              Result
		contains          string
	}{
		{name: "allowed", method: "POST", url: inside.URL + "/echo", want: Result{Status: StatusOK, Message: "200 POST hi probe=1"}},
		{name: "redirect inside", method: "POST", url: inside.URL + "/hop", want: Result{Status: StatusOK, Message: "200 POST hi probe=1"}},
		{name: "not allowed", url: outside.URL + "/x", contains: "http: denied: host \"" + outside.Listener.Addr().String() + "\" is not in allow_hosts"},
		{name: "redirect outside", url: inside.URL + "/escape", contains: "http: denied: redirect to a host outside allow_hosts"},
		{name: "scheme", url: "file:///etc/passwd", contains: "http: invalid"},
		{name: "too large", url: inside.URL + "/big", contains: "http: too large: response body exceeds 1024 bytes"},
		{name: "timeout", url: inside.URL + "/slow", plugin: "impatient", contains: "http: timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plugin := tc.plugin
			if plugin == "" {
				plugin = "p"
			}
			res := probe(t, h, plugin, "http", "method", tc.method, "url", tc.url, "body", "hi")
			if tc.contains != "" {
				requireEqual(t, StatusFail, res.Status)
				requireContains(t, res.Message, tc.contains)
				return
			}
			requireEqual(t, tc.want, res)
		})
	}
	requireEqual(t, int32(0), outsideHits.Load())
}

func TestAllowed(t *testing.T) {
	p := &plugin{}
	for _, h := range []string{"hooks.slack.com", "127.0.0.1:8080", "[::1]:9000", "Events.PagerDuty.com."} {
		a, err := parseAllowHost(h)
		requireNoError(t, err)
		p.allow = append(p.allow, a)
	}
	tests := []struct {
		url  string
		want bool
	}{
		{"https://hooks.slack.com/services/x", true},
		{"http://hooks.slack.com:8443/x", true}, // no port in the entry: any port
		{"https://HOOKS.SLACK.COM./x", true},
		{"https://hooks.slack.com.evil.io/x", false},
		{"https://evil.io/hooks.slack.com", false},
		{"http://127.0.0.1:8080/x", true},
		{"http://127.0.0.1:8081/x", false},
		{"http://127.0.0.1/x", false},
		{"http://[::1]:9000/", true},
		{"https://events.pagerduty.com/v2/enqueue", true},
		{"ftp://hooks.slack.com/x", false},
		{"https://user:pw@evil.io@hooks.slack.com/", true}, // host is what url.Parse says
	}
	for _, tc := range tests {
		u := mustParseURL(t, tc.url)
		if got := p.allowed(u); got != tc.want {
			t.Errorf("allowed(%s) = %v, want %v", tc.url, got, tc.want)
		}
	}
}
