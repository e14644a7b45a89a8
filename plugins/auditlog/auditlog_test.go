package auditlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/wasmhost"
	"github.com/arbiter-dev/arbiter/engine/wasmhost/wasmtest"
)

var wasmPath, compileCache string

func TestMain(m *testing.M) { wasmtest.MainBundled(m, "auditlog", &wasmPath, &compileCache) }

// memKV is an in-memory wasmhost.KV for tests; failPut makes writes of a key
// fail, to simulate a crash between writes.
type memKV struct {
	mu      sync.Mutex
	m       map[string][]byte
	failPut string
}

func (kv *memKV) Get(_ context.Context, plugin, key string) ([]byte, bool, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	v, ok := kv.m[plugin+"/"+key]
	return bytes.Clone(v), ok, nil
}

func (kv *memKV) Put(_ context.Context, plugin, key string, value []byte) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if kv.failPut != "" && strings.HasPrefix(key, kv.failPut) {
		return errors.New("disk full")
	}
	kv.m[plugin+"/"+key] = bytes.Clone(value)
	return nil
}

var now = time.Date(2026, 2, 11, 10, 0, 1, 0, time.UTC)

func newHost(t *testing.T, kv wasmhost.KV) *wasmhost.Host {
	t.Helper()
	var opts []wasmhost.Option
	if kv != nil {
		opts = append(opts, wasmhost.WithKV(kv))
	}
	opts = append(opts, wasmhost.WithClock(func() time.Time { return now }))
	h, err := wasmhost.New(context.Background(), wasmhost.Config{
		CacheDir: compileCache,
		Plugins:  []wasmhost.PluginConfig{{Name: "audit", Path: wasmPath, Entry: "auditlog", PoolSize: 4}},
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

func store(n int) wasmhost.Request {
	return wasmhost.Request{
		Action: json.RawMessage(fmt.Sprintf(`{"type":"store","reason":"audit","severity":"info",`+
			`"receiptId":"rcpt_%d","deltaIndex":%d,"proofHash":"0xp%d","verified":true,`+
			`"actions":[{"type":"alert","reason":"period_drift"}]}`, n, n, n)),
		Event:      wasmhost.EventSummary{ID: fmt.Sprintf("evt_%d", n), Type: "delta.verified", CustomerID: "cus_1"},
		DeliveryID: fmt.Sprintf("dlv_%d", n), IdempotencyKey: fmt.Sprintf("evt_%d/2/audit", n), Attempt: 1,
	}
}

func TestAppends(t *testing.T) {
	kv := &memKV{m: map[string][]byte{}}
	h := newHost(t, kv)
	if info, _ := h.Describe("audit"); info.Kind != wasmhost.KindStore || info.MaxInstances != 1 {
		t.Fatalf("describe: %+v", info)
	}
	for i := 1; i <= 3; i++ {
		res, err := h.Invoke(context.Background(), "audit", store(i))
		if err != nil || res.Status != wasmhost.StatusOK {
			t.Fatalf("store %d: %+v, %v", i, res, err)
		}
	}
	want := `{"seq":2,"receiptId":"rcpt_2","deltaIndex":2,"proofHash":"0xp2","verified":true,` +
		`"actions":[{"type":"alert","reason":"period_drift"}],"processedAt":"2026-02-11T10:00:01Z",` +
		`"eventId":"evt_2","eventType":"delta.verified","customerId":"cus_1","deliveryId":"dlv_2"}`
	if got := string(kv.m["audit/"+EntryKey(2)]); got != want {
		t.Errorf("entry 2:\n got %s\nwant %s", got, want)
	}
	if got := string(kv.m["audit/seq"]); got != "3" {
		t.Errorf("seq = %q, want 3", got)
	}
}

func TestRetryDoesNotDuplicate(t *testing.T) {
	kv := &memKV{m: map[string][]byte{}}
	h := newHost(t, kv)
	ctx := context.Background()

	// The seq write fails after entry and idem were written: a crash
	// between writes, as far as the plugin can tell.
	kv.failPut = "seq"
	res, err := h.Invoke(ctx, "audit", store(1))
	if err != nil || res.Status != wasmhost.StatusRetry {
		t.Fatalf("want retry on a store error, got %+v, %v", res, err)
	}
	kv.failPut = ""
	for range 2 { // the dispatcher's retry, then a duplicate delivery
		res, err = h.Invoke(ctx, "audit", store(1))
		if err != nil || res.Status != wasmhost.StatusOK || !strings.Contains(res.Message, "already recorded as entry 1") {
			t.Fatalf("retry: %+v, %v", res, err)
		}
	}
	if got := string(kv.m["audit/seq"]); got != "1" {
		t.Errorf("seq = %q, want 1", got)
	}
	res, _ = h.Invoke(ctx, "audit", store(2))
	if !strings.Contains(res.Message, "recorded entry 2") {
		t.Errorf("next delivery: %+v", res)
	}
}

func TestConcurrentDeliveriesKeepOrder(t *testing.T) {
	kv := &memKV{m: map[string][]byte{}}
	h := newHost(t, kv)
	var wg sync.WaitGroup
	for i := 1; i <= 20; i++ {
		wg.Go(func() {
			if res, err := h.Invoke(context.Background(), "audit", store(i)); err != nil || res.Status != wasmhost.StatusOK {
				t.Errorf("store %d: %+v, %v", i, res, err)
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := int64(1); i <= 20; i++ {
		var e Entry
		if err := json.Unmarshal(kv.m["audit/"+EntryKey(i)], &e); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		seen[e.ReceiptID] = true
	}
	if len(seen) != 20 {
		t.Errorf("want 20 distinct receipts, got %d", len(seen))
	}
}

func TestNoStore(t *testing.T) {
	h := newHost(t, nil)
	res, err := h.Invoke(context.Background(), "audit", store(1))
	if err != nil || res.Status != wasmhost.StatusFail || !strings.Contains(res.Message, "unavailable") {
		t.Fatalf("want fail without a store, got %+v, %v", res, err)
	}
}
