package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/wasmhost"
	"github.com/arbiter-dev/arbiter/engine/wasmhost/wasmtest"
)

var wasmPath, compileCache string

// TestMain builds this plugin to Wasm once; the tests run it in the real
// host, as Arbiter will.
func TestMain(m *testing.M) {
	wasmtest.Main(m, "discord", func(paths map[string]string, cache string) {
		wasmPath, compileCache = paths["discord"], cache
	}, "examples/plugins/discord")
}

func TestDiscord(t *testing.T) {
	tests := []struct {
		name       string
		reply      http.HandlerFunc
		want       wasmhost.Status
		retryAfter time.Duration
	}{
		{"sent", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }, wasmhost.StatusOK, 0},
		{"rate limited", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"message":"You are being rate limited.","retry_after":1.5,"global":false}`)
		}, wasmhost.StatusRetry, 1500 * time.Millisecond},
		{"bad request", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadRequest) }, wasmhost.StatusFail, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bodies := make(chan []byte, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				bodies <- b
				tc.reply(w, r)
			}))
			defer srv.Close()
			h, err := wasmhost.New(context.Background(), wasmhost.Config{
				CacheDir: compileCache,
				Plugins: []wasmhost.PluginConfig{{
					Name: "discord", Path: wasmPath,
					Config:     json.RawMessage(`{"webhook_url_secret":"discord_url","username":"Arbiter"}`),
					AllowHosts: []string{srv.Listener.Addr().String()},
					Secrets:    wasmhost.Secrets{"discord_url": srv.URL + "/api/webhooks/1/token"},
				}},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close(context.Background())
			res, err := h.Invoke(context.Background(), "discord", wasmhost.Request{
				Action:     json.RawMessage(`{"type":"alert","reason":"period_drift","severity":"high","drift":12.5}`),
				Event:      wasmhost.EventSummary{ID: "evt_1", CustomerID: "cus_1", ReceivedAt: time.Date(2026, 2, 11, 10, 0, 0, 0, time.UTC)},
				DeliveryID: "dlv_1", Attempt: 1,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.want || res.RetryAfter != tc.retryAfter {
				t.Errorf("got %+v, want %s after %s", res, tc.want, tc.retryAfter)
			}
			const want = `{"username":"Arbiter","content":"Arbiter: period_drift","embeds":[{"title":"HIGH · alert: period_drift",` +
				`"color":16098851,"fields":[{"name":"Customer","value":"cus_1","inline":true},{"name":"drift","value":"12.5","inline":true}],` +
				`"footer":{"text":"event evt_1 · delivery dlv_1"},"timestamp":"2026-02-11T10:00:00Z"}]}`
			if got := string(<-bodies); got != want {
				t.Errorf("payload:\n got %s\nwant %s", got, want)
			}
		})
	}
}
