package dispatch_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/dispatch"
	"github.com/arbiter-dev/arbiter/engine/store"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
	"github.com/arbiter-dev/arbiter/engine/wasmhost"
	"github.com/arbiter-dev/arbiter/engine/wasmhost/wasmtest"
)

var guests map[string]string
var compileCache string

func TestMain(m *testing.M) {
	wasmtest.Main(m, "dispatch", func(paths map[string]string, cache string) {
		guests, compileCache = paths, cache
	}, "plugins/bundled", "testdata/plugins/loop")
}

// fakeSlack answers each post with the next status in script (the last
// repeats) and records the bodies.
type fakeSlack struct {
	srv    *httptest.Server
	script []int
	calls  atomic.Int64
	mu     sync.Mutex
	bodies []map[string]any
}

func newFakeSlack(t *testing.T, script ...int) *fakeSlack {
	f := &fakeSlack{script: script}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(f.calls.Add(1)) - 1
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		f.bodies = append(f.bodies, body)
		f.mu.Unlock()
		status := f.script[min(n, len(f.script)-1)]
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(status)
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(f.srv.Close)
	return f
}

type harness struct {
	store *store.Store
	host  *wasmhost.Host
	seq   int
}

func newHarness(t *testing.T, slackURL string) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Path: filepath.Join(t.TempDir(), "arbiter.db")})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	u, _ := url.Parse(slackURL)
	host, err := wasmhost.New(ctx, wasmhost.Config{CacheDir: compileCache, Plugins: []wasmhost.PluginConfig{
		{Name: "slack", Path: guests["bundled"], Entry: "slack", AllowHosts: []string{u.Host}, Secrets: wasmhost.Secrets{"url": slackURL},
			Config: json.RawMessage(`{"webhook_url_secret":"url"}`), Timeout: 2 * time.Second},
		{Name: "hang", Path: guests["loop"], Timeout: 200 * time.Millisecond},
	}}, wasmhost.WithKV(st.PluginKV()))
	require.NoError(t, err)
	t.Cleanup(func() { host.Close(context.Background()) })
	return &harness{store: st, host: host}
}

// queue stores an event with one action routed to each plugin.
func (h *harness) queue(t *testing.T, plugins ...string) []string {
	t.Helper()
	ctx := context.Background()
	h.seq++
	id := fmt.Sprintf("evt_%d", h.seq)
	body := fmt.Appendf(nil, `{"event":"delta.verified","n":%d}`, h.seq)
	sum := sha256.Sum256(body)
	res, err := h.store.Append(ctx, &engine.Event{Endpoint: "pacspace", EventID: id, Digest: hex.EncodeToString(sum[:]),
		Scheme: engine.SchemeV1, Body: body, ReceivedAt: time.Now()})
	require.NoError(t, err)
	c := &store.Changes{Outcomes: []store.Outcome{{Seq: res.Seq, Status: engine.StatusProcessed, Type: "delta.verified", Stream: "customer:cus_1"}}}
	var ids []string
	for i, p := range plugins {
		d := store.NewDelivery{ID: fmt.Sprintf("dlv_%s_%s", id, p), EventSeq: res.Seq, EventID: id, Plugin: p, ActionIndex: i,
			ActionType: "alert", IdempotencyKey: fmt.Sprintf("key_%s_%s", id, p),
			Action: []byte(`{"type":"alert","reason":"period_drift","severity":"high","customerId":"cus_1","drift":2.5,"ours":10,"pacspace":12.5}`)}
		c.Deliveries = append(c.Deliveries, d)
		ids = append(ids, d.ID)
	}
	require.NoError(t, h.store.Apply(ctx, c))
	return ids
}

func (h *harness) run(t *testing.T, cfg dispatch.Config) *dispatch.Dispatcher {
	t.Helper()
	cfg.Plugins = []string{"slack", "hang"}
	cfg.Poll = 20 * time.Millisecond
	d := dispatch.New(cfg, h.store, h.host)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return d
}

// waitFor polls the delivery until it leaves pending.
func (h *harness) waitFor(t *testing.T, id string, within time.Duration) (store.Delivery, []store.DeliveryAttempt) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		d, attempts, err := h.store.Delivery(context.Background(), id)
		require.NoError(t, err)
		if d.Status != engine.DeliveryPending {
			return d, attempts
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s still pending after %s (attempts %d, last error %q)", id, within, d.Attempts, d.LastError)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRetryAfterThenDelivered(t *testing.T) {
	slack := newFakeSlack(t, http.StatusTooManyRequests, http.StatusOK)
	h := newHarness(t, slack.srv.URL)
	ids := h.queue(t, "slack")
	h.run(t, dispatch.Config{MaxAttempts: 5, BaseDelay: 10 * time.Millisecond, MaxDelay: 5 * time.Second})
	d, attempts := h.waitFor(t, ids[0], 10*time.Second)
	require.Equal(t, engine.DeliveryDelivered, d.Status)
	require.Equal(t, 2, len(attempts))
	require.Equal(t, "retry", attempts[0].Result)
	require.Equal(t, "ok", attempts[1].Result)
	gap := attempts[1].StartedAt.Sub(attempts[0].StartedAt)
	require.True(t, gap >= time.Second, "Retry-After: 1 honoured", gap)
	require.True(t, !d.DeliveredAt.IsZero())
	slack.mu.Lock()
	defer slack.mu.Unlock()
	require.Equal(t, 2, len(slack.bodies))
	require.Contains(t, fmt.Sprint(slack.bodies[1]["text"]), "cus_1")
}

func TestServerErrorsEndInDeadLetter(t *testing.T) {
	slack := newFakeSlack(t, http.StatusInternalServerError)
	h := newHarness(t, slack.srv.URL)
	ids := h.queue(t, "slack")
	h.run(t, dispatch.Config{MaxAttempts: 3, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond})
	d, attempts := h.waitFor(t, ids[0], 10*time.Second)
	require.Equal(t, engine.DeliveryFailed, d.Status)
	require.Equal(t, 3, d.Attempts)
	require.Equal(t, 3, len(attempts))
	require.Equal(t, int64(3), slack.calls.Load())
	require.True(t, d.LastError != "", "the last error is kept")
}

// TestRetryGetsFreshAttempts: a failed delivery an operator retries is
// retried with backoff again, not failed after one more attempt, and its
// attempts go on counting.
func TestRetryGetsFreshAttempts(t *testing.T) {
	slack := newFakeSlack(t, 500, 500, 500, 500, 500, http.StatusOK)
	h := newHarness(t, slack.srv.URL)
	ids := h.queue(t, "slack")
	d := h.run(t, dispatch.Config{MaxAttempts: 3, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond})
	del, _ := h.waitFor(t, ids[0], 10*time.Second)
	require.Equal(t, engine.DeliveryFailed, del.Status)
	require.Equal(t, 3, del.Attempts)

	was, err := h.store.RetryDelivery(context.Background(), ids[0], time.Now())
	require.NoError(t, err)
	require.Equal(t, engine.DeliveryFailed, was)
	d.Notify()
	del, attempts := h.waitFor(t, ids[0], 10*time.Second)
	require.Equal(t, engine.DeliveryDelivered, del.Status)
	require.Equal(t, 6, del.Attempts) // two more failures were retried, the third attempt after the retry delivered
	require.Equal(t, 6, len(attempts))
	require.Equal(t, 6, attempts[5].Attempt)
	require.Equal(t, int64(6), slack.calls.Load())
}

func TestClientErrorFailsAtOnce(t *testing.T) {
	slack := newFakeSlack(t, http.StatusBadRequest)
	h := newHarness(t, slack.srv.URL)
	ids := h.queue(t, "slack")
	h.run(t, dispatch.Config{MaxAttempts: 5, BaseDelay: 10 * time.Millisecond})
	d, attempts := h.waitFor(t, ids[0], 10*time.Second)
	require.Equal(t, engine.DeliveryFailed, d.Status)
	require.Equal(t, 1, len(attempts))
	require.Equal(t, "fail", attempts[0].Result)
}

// TestHangingPluginDoesNotBlockOthers: a plugin that never returns times out
// on its own deliveries while Slack's go through.
func TestHangingPluginDoesNotBlockOthers(t *testing.T) {
	slack := newFakeSlack(t, http.StatusOK)
	h := newHarness(t, slack.srv.URL)
	var slackIDs, hangIDs []string
	for range 10 {
		ids := h.queue(t, "hang", "slack")
		hangIDs, slackIDs = append(hangIDs, ids[0]), append(slackIDs, ids[1])
	}
	h.run(t, dispatch.Config{MaxAttempts: 2, BaseDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond, Concurrency: 2})
	for _, id := range slackIDs {
		d, _ := h.waitFor(t, id, 10*time.Second)
		require.Equal(t, engine.DeliveryDelivered, d.Status)
	}
	for _, id := range hangIDs {
		d, attempts := h.waitFor(t, id, 20*time.Second)
		require.Equal(t, engine.DeliveryFailed, d.Status)
		require.Equal(t, 2, len(attempts))
		require.Contains(t, d.LastError, "timed out")
	}
}

func TestUnknownPluginFails(t *testing.T) {
	slack := newFakeSlack(t, http.StatusOK)
	h := newHarness(t, slack.srv.URL)
	ids := h.queue(t, "nosuchplugin")
	h.run(t, dispatch.Config{})
	d, _ := h.waitFor(t, ids[0], 5*time.Second)
	require.Equal(t, engine.DeliveryFailed, d.Status)
	require.Contains(t, d.LastError, "no plugin")
}
