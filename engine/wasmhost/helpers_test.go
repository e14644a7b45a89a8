package wasmhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/testing/capture"

	"github.com/hashicorp/go-hclog"
)

// memKV is an in-memory KV, for tests only: the engine's store is the real one.
type memKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

var _ KV = (*memKV)(nil)

func newMemKV() *memKV { return &memKV{m: map[string][]byte{}} }

func (kv *memKV) Get(_ context.Context, plugin, key string) ([]byte, bool, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	v, ok := kv.m[plugin+"\x00"+key]
	return bytes.Clone(v), ok, nil
}

func (kv *memKV) Put(_ context.Context, plugin, key string, value []byte) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	kv.m[plugin+"\x00"+key] = bytes.Clone(value)
	return nil
}

// newLogger returns a trace-level logger writing into a buffer.
func newLogger() (hclog.Logger, *capture.Buffer) {
	buf := &capture.Buffer{}
	return hclog.New(&hclog.LoggerOptions{Name: "arbiter", Level: hclog.Trace, Output: buf}), buf
}

// newHost starts a Host with the shared compilation cache and closes it at
// the end of the test.
func newHost(t testing.TB, plugins []PluginConfig, opts ...Option) *Host {
	t.Helper()
	h, err := New(context.Background(), Config{CacheDir: compileCache, Plugins: plugins}, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

// action builds a request for action JSON.
func action(js string) Request {
	return Request{
		Action:         json.RawMessage(js),
		Event:          EventSummary{ID: "evt_1", Type: "delta.verified", Endpoint: "pacspace", CustomerID: "cus_1", ReceivedAt: time.Date(2026, 2, 11, 10, 0, 0, 0, time.UTC)},
		DeliveryID:     "dlv_1",
		IdempotencyKey: "evt_1/0/test",
		Attempt:        1,
	}
}

func requireNoError(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func requireEqual[T comparable](t testing.TB, want, got T) {
	t.Helper()
	if want != got {
		t.Fatalf("want %v, got %v", want, got)
	}
}

func requireErrorIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("want error %v, got %v", target, err)
	}
}

func requireContains(t testing.TB, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%q does not contain %q", s, sub)
	}
}

// requireOK invokes and requires an ok result.
func requireOK(t testing.TB, h *Host, plugin string, req Request) Result {
	t.Helper()
	res, err := h.Invoke(context.Background(), plugin, req)
	requireNoError(t, err)
	if res.Status != StatusOK {
		t.Fatalf("want ok, got %s: %s", res.Status, res.Message)
	}
	return res
}

func mustParseURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	requireNoError(t, err)
	return u
}
