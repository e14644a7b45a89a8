// Package ntfy_test runs the C plugin's committed module in the real host:
// the conformance checks, and deliveries to a loopback ntfy. It also
// checks that the committed module is what ntfy.c builds to, where the
// toolchain that built it is installed.
package ntfy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/wasmhost"
	"github.com/arbiter-dev/arbiter/engine/wasmhost/wasmtest"
)

const module = "../ntfy.wasm"

// TestModuleIsCurrent rebuilds ntfy.c and requires the committed module
// to be byte for byte the result. It skips only when clang or wasi-libc
// is missing, or clang is another version than the one that built the
// module (its producers section names it): another compiler gives other
// bytes.
func TestModuleIsCurrent(t *testing.T) {
	if err := exec.Command("../build.sh", "--available").Run(); err != nil {
		t.Skip("clang, wasm-ld or wasi-libc is not installed: make plugin-ntfy needs them (apt-get install clang lld wasi-libc libclang-rt-dev-wasm32)")
	}
	committed, err := os.ReadFile(module)
	if err != nil {
		t.Fatal(err)
	}
	v, err := exec.Command("clang", "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	local := regexp.MustCompile(`clang version (\d+\.\d+\.\d+)`).FindSubmatch(v)
	if local == nil {
		t.Fatalf("clang --version: no version in %q", v)
	}
	if !bytes.Contains(committed, append([]byte("clang"), append([]byte{byte(len(local[1]))}, local[1]...)...)) {
		t.Skipf("ntfy.wasm was built by another clang than %s; its bytes cannot be compared", local[1])
	}
	rebuilt := filepath.Join(t.TempDir(), "ntfy.wasm")
	if out, err := exec.Command("../build.sh", rebuilt).CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	b, err := os.ReadFile(rebuilt)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, committed) {
		t.Fatal("ntfy.wasm is not what ntfy.c builds to: run make plugin-ntfy and commit ntfy.wasm")
	}
}

// TestConformance runs the checks of arbiter plugin check.
func TestConformance(t *testing.T) {
	for _, r := range wasmhost.CheckModule(context.Background(), module, "") {
		if !r.Passed() {
			t.Errorf("%s", r)
		}
	}
}

// published is one request the fake ntfy received.
type published struct {
	path   string
	header http.Header
	body   string
}

func TestNtfy(t *testing.T) {
	cache, err := wasmtest.CompileCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	action := json.RawMessage(`{"type":"alert","reason":"period_drift","severity":"high","drift":12.5,` +
		`"note":"caf\u00e9 \ud83d\udcb8 \"quoted\"\nline","targets":["ntfy"],"nested":{"a":[1,{"b":"}"}]}}`)
	const wantBody = "alert: period_drift (high)\ncustomer cus_42, event evt_9f2\ndrift: 12.5\n" +
		"note: café 💸 \"quoted\"\nline\nnested: {\"a\":[1,{\"b\":\"}\"}]}\n"
	tests := []struct {
		name       string
		reply      http.HandlerFunc
		config     string
		allow      bool
		want       wasmhost.Status
		message    string
		retryAfter time.Duration
		wantPost   bool
	}{
		{name: "published", reply: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"id":"sPs2Pz0tLa9c","time":1775822400,"event":"message","topic":"arbiter"}`)
		}, config: `{"topic_url_secret":"topic","token_secret":"token"}`, allow: true,
			want: wasmhost.StatusOK, message: "ntfy: published as sPs2Pz0tLa9c", wantPost: true},
		{name: "rate limited", reply: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"code":42901,"http":429,"error":"limit reached"}`)
		}, config: `{"topic_url_secret":"topic","token_secret":"token"}`, allow: true,
			want: wasmhost.StatusRetry, retryAfter: 7 * time.Second, wantPost: true},
		{name: "server error", reply: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
		}, config: `{"topic_url_secret":"topic","token_secret":"token"}`, allow: true,
			want: wasmhost.StatusRetry, message: "ntfy: HTTP 502: ", wantPost: true},
		{name: "unauthorized", reply: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"code":40101,"http":401,"error":"unauthorized"}`)
		}, config: `{"topic_url_secret":"topic","token_secret":"token"}`, allow: true,
			want: wasmhost.StatusFail, message: `ntfy: HTTP 401: {"code":40101,"http":401,"error":"unauthorized"}`, wantPost: true},
		{name: "host not allowed", config: `{"topic_url_secret":"topic"}`,
			want: wasmhost.StatusFail},
		{name: "secret not granted", config: `{"topic_url_secret":"other"}`, allow: true,
			want: wasmhost.StatusFail, message: "ntfy: no secret granted under the name other"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan published, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got <- published{r.URL.Path, r.Header.Clone(), string(b)}
				tc.reply(w, r)
			}))
			defer srv.Close()
			allow := []string{"ntfy.example"}
			if tc.allow {
				allow = []string{srv.Listener.Addr().String()}
			}
			h, err := wasmhost.New(context.Background(), wasmhost.Config{
				CacheDir: cache,
				Plugins: []wasmhost.PluginConfig{{
					Name: "ntfy", Path: module, Config: json.RawMessage(tc.config), AllowHosts: allow,
					Secrets: wasmhost.Secrets{"topic": srv.URL + "/arbiter-alerts", "token": "tk_secret0123456789"},
				}},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close(context.Background())
			res, err := h.Invoke(context.Background(), "ntfy", wasmhost.Request{
				Action:     action,
				Event:      wasmhost.EventSummary{ID: "evt_9f2", Type: "delta.verified", CustomerID: "cus_42", ReceivedAt: time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC)},
				DeliveryID: "dlv_1", IdempotencyKey: "evt_9f2/0/ntfy", Attempt: 1,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.want || res.RetryAfter != tc.retryAfter || (tc.message != "" && res.Message != tc.message) {
				t.Errorf("got %+v, want %s %q after %s", res, tc.want, tc.message, tc.retryAfter)
			}
			if !tc.wantPost {
				if len(got) != 0 {
					t.Errorf("published %+v", <-got)
				}
				return
			}
			p := <-got
			want := map[string]string{
				"Title": "Arbiter: period_drift", "Priority": "4", "Tags": "warning,high",
				"Authorization": "Bearer tk_secret0123456789", "Content-Type": "text/plain; charset=utf-8",
			}
			for k, v := range want {
				if p.header.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, p.header.Get(k), v)
				}
			}
			if p.path != "/arbiter-alerts" || p.body != wantBody {
				t.Errorf("published to %s:\n%q\nwant\n%q", p.path, p.body, wantBody)
			}
		})
	}
}
