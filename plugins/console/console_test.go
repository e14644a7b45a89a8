package console

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/testing/capture"

	"github.com/hashicorp/go-hclog"

	"github.com/arbiter-dev/arbiter/engine/wasmhost"
	"github.com/arbiter-dev/arbiter/engine/wasmhost/wasmtest"
)

var wasmPath, compileCache string

func TestMain(m *testing.M) { wasmtest.MainBundled(m, "console", &wasmPath, &compileCache) }

func TestLogsAction(t *testing.T) {
	tests := []struct {
		name, config, action, wantLevel string
	}{
		{"critical is error", `{}`, `{"type":"alert","reason":"chain_discontinuity","severity":"critical","expected":"0xaa"}`, "[ERROR]"},
		{"warning is warn", `{}`, `{"type":"sla_violation","reason":"latency","severity":"warning","latencyMs":7250}`, "[WARN] "},
		{"info is info", `{}`, `{"type":"notify","reason":"high_utilization","severity":"info","utilization":93.5}`, "[INFO] "},
		{"configured level wins", `{"level":"debug"}`, `{"type":"alert","reason":"x","severity":"critical"}`, "[DEBUG]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf capture.Buffer
			logger := hclog.New(&hclog.LoggerOptions{Name: "arbiter", Level: hclog.Trace, Output: &buf})
			h, err := wasmhost.New(context.Background(), wasmhost.Config{
				CacheDir: compileCache,
				Plugins:  []wasmhost.PluginConfig{{Name: "console", Path: wasmPath, Entry: "console", Config: json.RawMessage(tc.config)}},
			}, wasmhost.WithLogger(logger))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close(context.Background())
			res, err := h.Invoke(context.Background(), "console", wasmhost.Request{
				Action:     json.RawMessage(tc.action),
				Event:      wasmhost.EventSummary{ID: "evt_1", CustomerID: "cus_1", ReceivedAt: time.Now()},
				DeliveryID: "dlv_1", IdempotencyKey: "k", Attempt: 1,
			})
			if err != nil || res.Status != wasmhost.StatusOK {
				t.Fatalf("got %+v, %v", res, err)
			}
			var line string
			for _, l := range strings.Split(buf.String(), "\n") {
				if strings.Contains(l, "arbiter.console: action ") {
					line = l
				}
			}
			var act map[string]any
			_ = json.Unmarshal([]byte(tc.action), &act)
			for _, want := range []string{tc.wantLevel, "customer=cus_1", "event=evt_1", "delivery=dlv_1", "action={"} {
				if !strings.Contains(line, want) {
					t.Errorf("log line %q lacks %q", line, want)
				}
			}
			if !strings.Contains(line, fmt.Sprintf("action %s/%s", act["type"], act["reason"])) {
				t.Errorf("log line %q lacks type/reason", line)
			}
		})
	}
}
