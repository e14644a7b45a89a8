package wasmhost

import (
	"encoding/json"
	"github.com/arbiter-dev/arbiter/plugins/abi"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendInput(t *testing.T) {
	req := Request{
		Action:         json.RawMessage(`{"type":"alert","n":1}`),
		Event:          EventSummary{ID: "e\"1", Type: "t\n", Endpoint: "ep", CustomerID: "c<>&", ReceivedAt: time.Date(2026, 2, 11, 10, 0, 0, 5, time.FixedZone("x", 3600))},
		DeliveryID:     "d\u2028",
		IdempotencyKey: "k\x01",
		Attempt:        2,
	}
	got := string(appendInput(nil, &req, json.RawMessage(`{"a":[1]}`)))
	want := `{"abi":1,"event":{"id":"e\"1","type":"t\n","endpoint":"ep",` +
		`"customerId":"c<>&","receivedAt":"2026-02-11T09:00:00.000000005Z"},"deliveryId":"d` + "\u2028" +
		`","idempotencyKey":"k\u0001","attempt":2,"config":{"a":[1]},"action":{"type":"alert","n":1}}`
	requireEqual(t, want, got)

	req.Event.ReceivedAt = time.Time{}
	got = string(appendInput(nil, &req, json.RawMessage(`{}`)))
	if strings.Contains(got, "receivedAt") || !json.Valid([]byte(got)) {
		t.Errorf("zero receivedAt: %s", got)
	}
}

// FuzzAppendString: whatever the string, the result is valid JSON that
// decodes back to it (invalid UTF-8 as U+FFFD, as encoding/json does).
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"b\`, "\x00\x1f\x7f", "é😀", "\xff\xfe", "a\u2028b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := abi.AppendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("abi.AppendString(%q) = %s: %v", s, b, err)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if !utf8.ValidString(s) {
			want = string([]rune(s)) // one U+FFFD per bad byte
		}
		if got != want {
			t.Fatalf("round trip of %q: got %q", s, got)
		}
	})
}

func TestParseOutput(t *testing.T) {
	tests := []struct {
		out  string
		want Result
		err  string
	}{
		{`{"status":"ok"}`, Result{Status: StatusOK}, ""},
		{`{"status":"retry","message":"slow down","retryAfterMs":2500,"extra":true}`, Result{Status: StatusRetry, Message: "slow down", RetryAfter: 2500 * time.Millisecond}, ""},
		{`{"status":"retry","retryAfterMs":-5}`, Result{Status: StatusRetry}, ""},
		{`{"status":"retry","retryAfterMs":9999999999999}`, Result{Status: StatusRetry, RetryAfter: 24 * time.Hour}, ""},
		{`{"status":"fail","message":"` + strings.Repeat("é", 2000) + `"}`, Result{Status: StatusFail, Message: strings.Repeat("é", 1024) + "…"}, ""},
		{`{"status":"maybe"}`, Result{}, `output status "maybe"`},
		{`{}`, Result{}, `no "status"`},
		{`not json`, Result{}, "not a result object"},
		{`{"status":1}`, Result{}, "not a result object"},
	}
	for _, tc := range tests {
		got, err := parseOutput([]byte(tc.out))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseOutput(%.40s): err %v, want %q", tc.out, err, tc.err)
			}
			continue
		}
		requireNoError(t, err)
		requireEqual(t, tc.want, got)
	}
}

// FuzzParseOutput: guest output is untrusted; parsing never panics and
// accepts only the three statuses.
func FuzzParseOutput(f *testing.F) {
	f.Add([]byte(`{"status":"ok","message":"x","retryAfterMs":1}`))
	f.Add([]byte(`{"status":"retry","retryAfterMs":1e30}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := parseOutput(b)
		if err == nil && res.Status != StatusOK && res.Status != StatusRetry && res.Status != StatusFail {
			t.Fatalf("accepted status %q", res.Status)
		}
		if res.RetryAfter < 0 || res.RetryAfter > maxRetryAfter {
			t.Fatalf("retry after %s", res.RetryAfter)
		}
	})
}

func TestSecretsString(t *testing.T) {
	s := Secrets{"b": "v2secret", "a": "v1secret"}
	requireEqual(t, "map[a:[redacted] b:[redacted]]", s.String())
	requireEqual(t, s.String(), s.GoString())
}

func TestParseAllowHost(t *testing.T) {
	tests := []struct {
		in   string
		want allowHost
		err  bool
	}{
		{in: "hooks.slack.com", want: allowHost{host: "hooks.slack.com"}},
		{in: "Hooks.Slack.com.", want: allowHost{host: "hooks.slack.com"}},
		{in: "127.0.0.1:8080", want: allowHost{host: "127.0.0.1", port: "8080"}},
		{in: "[::1]:443", want: allowHost{host: "::1", port: "443"}},
		{in: "[::1]", want: allowHost{host: "::1"}},
		{in: "", err: true},
		{in: "https://x.com", err: true},
		{in: "x.com/path", err: true},
		{in: "x.com:0", err: true},
		{in: "x.com:99999", err: true},
		{in: "user@x.com", err: true},
	}
	for _, tc := range tests {
		got, err := parseAllowHost(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseAllowHost(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

// FuzzScanOutput: the fast path agrees with encoding/json whenever it
// accepts.
func FuzzScanOutput(f *testing.F) {
	for _, s := range []string{
		`{"status":"ok"}`, ` { "status" : "retry" , "message":"m", "retryAfterMs": 1500 } `,
		`{"status":"ok","status":"fail"}`, `{"retryAfterMs":-0}`, `{"retryAfterMs":01}`, `{"message":"\u00e9"}`,
		`{}`, `{"status":"ok"}x`, `{"retryAfterMs":1e3}`, `{"retryAfterMs":99999999999999999999}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := scanOutput(b)
		if !ok {
			return
		}
		var want output
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("scanOutput accepted %q, json.Unmarshal: %v", b, err)
		}
		if fast != want {
			t.Fatalf("scanOutput(%q) = %+v, json.Unmarshal %+v", b, fast, want)
		}
	})
}
