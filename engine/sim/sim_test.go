package sim_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/pacspace"
	"github.com/arbiter-dev/arbiter/engine/receiver"
	"github.com/arbiter-dev/arbiter/engine/sim"
	"github.com/arbiter-dev/arbiter/engine/store"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

const secret = "whsec_sim_test_secret"

// start runs s until the test ends, and checks Run then returns cleanly.
func start(t testing.TB, s *sim.Sim) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

func drain(t testing.TB, s *sim.Sim) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Drain(ctx))
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func createWebhook(t testing.TB, s *sim.Sim, spec sim.WebhookSpec) sim.Webhook {
	t.Helper()
	wh, _, err := s.CreateWebhook(spec)
	require.NoError(t, err)
	return wh
}

func publish(t testing.TB, s *sim.Sim, ev sim.Event) {
	t.Helper()
	require.NoError(t, s.Publish(context.Background(), ev))
}

func event(id, typ string) sim.Event {
	return sim.Event{ID: id, Type: typ, Body: []byte(`{"event":"` + typ + `","id":"` + id + `"}`)}
}

// attempts collects what OnAttempt reports.
type attempts struct {
	mu   sync.Mutex
	list []sim.Attempt
}

func (a *attempts) add(x sim.Attempt) {
	a.mu.Lock()
	a.list = append(a.list, x)
	a.mu.Unlock()
}

func (a *attempts) of(eventID string) []sim.Attempt {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []sim.Attempt
	for _, x := range a.list {
		if x.EventID == eventID {
			out = append(out, x)
		}
	}
	return out
}

// recorded is one request a test receiver got.
type recorded struct {
	at     time.Time
	path   string
	header http.Header
	body   []byte
}

// receiverServer is a loopback webhook receiver that records every
// request and answers with respond(n), n counting requests from 1.
type receiverServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recorded
}

func newReceiver(t testing.TB, respond func(w http.ResponseWriter, r *http.Request, n int)) *receiverServer {
	t.Helper()
	rs := &receiverServer{}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rs.mu.Lock()
		rs.reqs = append(rs.reqs, recorded{at: time.Now(), path: r.URL.Path, header: r.Header.Clone(), body: body})
		n := len(rs.reqs)
		rs.mu.Unlock()
		respond(w, r, n)
	}))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *receiverServer) requests() []recorded {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]recorded(nil), rs.reqs...)
}

func ok(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(http.StatusOK) }

func only(t testing.TB, s *sim.Sim, eventID string) sim.Delivery {
	t.Helper()
	ds, total := s.Deliveries(sim.DeliveryQuery{EventID: eventID})
	require.Equal(t, 1, total, eventID)
	return ds[0]
}

func TestSignedHeaders(t *testing.T) {
	now := time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC)
	rs := newReceiver(t, ok)
	s := sim.New(sim.Config{Now: func() time.Time { return now }})
	createWebhook(t, s, sim.WebhookSpec{URL: rs.URL + "/v1", Secret: secret})
	createWebhook(t, s, sim.WebhookSpec{URL: rs.URL + "/sha256", Scheme: sim.SchemeSHA256, Secret: secret})
	start(t, s)
	ev := event("evt_signed", "delta.verified")
	publish(t, s, ev)
	drain(t, s)

	reqs := rs.requests()
	require.Equal(t, 2, len(reqs))
	want := map[string]engine.Scheme{"/v1": engine.SchemeV1, "/sha256": engine.SchemeLegacy}
	for _, r := range reqs {
		require.Equal(t, string(ev.Body), string(r.body), r.path)
		require.Equal(t, "application/json", r.header.Get("Content-Type"))
		require.Equal(t, "PacSpace-Webhooks/1.0", r.header.Get("User-Agent"))
		require.Equal(t, ev.ID, r.header.Get(pacspace.HeaderEventID))
		sig, ts := r.header.Get(pacspace.HeaderSignature), r.header.Get(pacspace.HeaderTimestamp)
		scheme, err := pacspace.Verifier{AllowLegacy: true}.Verify(sig, ts, r.body, []string{secret}, now)
		require.NoError(t, err, r.path)
		require.Equal(t, want[r.path], scheme, r.path)
		if scheme == engine.SchemeV1 {
			require.Equal(t, strconv.FormatInt(now.Unix(), 10), ts)
		} else {
			require.Equal(t, "", ts, "the legacy scheme has no timestamp")
		}
		_, err = pacspace.Verifier{AllowLegacy: true}.Verify(sig, ts, r.body, []string{"whsec_other"}, now)
		require.ErrorIs(t, err, pacspace.ErrBadSignature)
	}
	st := s.Stats()
	require.Equal(t, sim.Stats{Events: 1, Published: 2, Attempts: 2, Delivered: 2}, st)
}

// TestFaultsAgainstReceiver sends each fault to Arbiter's real receiver
// backed by a real store: it must refuse the faulty ones, and the
// simulator must not retry a 4xx.
func TestFaultsAgainstReceiver(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Path: filepath.Join(t.TempDir(), "arbiter.db")})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	for _, name := range []string{"v1", "legacy"} {
		require.NoError(t, st.PutEndpoint(ctx, engine.Endpoint{
			Name: name, Enabled: true, AllowLegacy: name == "legacy", Secrets: []engine.Secret{{Value: secret}}}))
	}
	eps, err := receiver.NewEndpoints(ctx, st)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/webhooks/{endpoint}", receiver.New(receiver.Config{}, st, eps))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	var seen attempts
	s := sim.New(sim.Config{OnAttempt: seen.add, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond})
	createWebhook(t, s, sim.WebhookSpec{URL: srv.URL + "/webhooks/v1", Secret: secret, Events: []string{"v1"}})
	createWebhook(t, s, sim.WebhookSpec{URL: srv.URL + "/webhooks/legacy", Secret: secret, Events: []string{"legacy"},
		Scheme: sim.SchemeSHA256})
	start(t, s)

	cases := []struct {
		name, scheme string
		fault        sim.DeliveryFault
		status       int
		reason       string
	}{
		{"v1 good", "v1", sim.DeliveryFault{}, 200, ""},
		{"v1 bad signature", "v1", sim.DeliveryFault{BadSignature: true}, 401, receiver.ReasonBadSignature},
		{"v1 stale", "v1", sim.DeliveryFault{TimestampSkew: -10 * time.Minute}, 401, receiver.ReasonStale},
		{"v1 future", "v1", sim.DeliveryFault{TimestampSkew: 10 * time.Minute}, 401, receiver.ReasonFuture},
		{"v1 skew within tolerance", "v1", sim.DeliveryFault{TimestampSkew: -time.Minute}, 200, ""},
		{"legacy good", "legacy", sim.DeliveryFault{}, 200, ""},
		{"legacy bad signature", "legacy", sim.DeliveryFault{BadSignature: true}, 401, receiver.ReasonBadSignature},
	}
	for i, tc := range cases {
		ev := event(fmt.Sprintf("evt_fault_%d", i), tc.scheme)
		ev.Fault = tc.fault
		publish(t, s, ev)
	}
	drain(t, s)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("evt_fault_%d", i)
			as := seen.of(id)
			require.Equal(t, 1, len(as), "a 4xx is final at once")
			a := as[0]
			require.Equal(t, tc.status, a.Status, string(a.Body))
			require.True(t, a.Final)
			require.Equal(t, tc.status == 200, a.Delivered)
			if tc.reason != "" {
				require.Contains(t, string(a.Body), `"`+tc.reason+`"`)
			}
			d := only(t, s, id)
			require.Equal(t, 1, d.Attempts)
			require.Equal(t, tc.status, d.LastStatus)
			if tc.status == 200 {
				require.Equal(t, sim.StatusDelivered, d.Status)
				require.Equal(t, "", d.LastError)
			} else {
				require.Equal(t, sim.StatusFailed, d.Status)
				require.Contains(t, d.LastError, "HTTP 401")
			}
		})
	}
	// Only the good ones reached the inbox.
	inbox, err := st.InboxStats(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(3), inbox.Events)
}

func TestRetries(t *testing.T) {
	cases := []struct {
		name      string
		statuses  []int // answered in turn; 200 once they run out
		want      []int // statuses of the attempts made
		delivered bool
	}{
		{"fails twice then succeeds", []int{503, 503}, []int{503, 503, 200}, true},
		{"retries exhausted", []int{500, 502, 500, 500}, []int{500, 502, 500}, false},
		{"408 is retried", []int{408}, []int{408, 200}, true},
		{"429 is retried", []int{429}, []int{429, 200}, true},
		{"400 is final", []int{400}, []int{400}, false},
		{"401 is final", []int{401}, []int{401}, false},
		{"404 is final", []int{404}, []int{404}, false},
		{"409 is final", []int{409}, []int{409}, false},
		{"422 is final", []int{422}, []int{422}, false},
		{"3xx is final: redirects are not followed", []int{302}, []int{302}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int) {
				code := 200
				if n <= len(tc.statuses) {
					code = tc.statuses[n-1]
				}
				if code == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(code)
				fmt.Fprintf(w, "answer %d", n)
			})
			var seen attempts
			s := sim.New(sim.Config{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond,
				OnAttempt: seen.add})
			wh := createWebhook(t, s, sim.WebhookSpec{URL: rs.URL, Secret: secret})
			start(t, s)
			publish(t, s, event("evt_retry", "delta.verified"))
			drain(t, s)

			as := seen.of("evt_retry")
			require.Equal(t, len(tc.want), len(as))
			require.Equal(t, len(tc.want), len(rs.requests()), "one request per attempt")
			for i, a := range as {
				last := i == len(as)-1
				require.Equal(t, i+1, a.Number)
				require.Equal(t, tc.want[i], a.Status)
				require.Equal(t, fmt.Sprintf("answer %d", i+1), string(a.Body))
				require.Equal(t, last, a.Final, i)
				require.Equal(t, last && tc.delivered, a.Delivered, i)
				require.Equal(t, wh.ID, a.WebhookID)
				require.NoError(t, a.Err)
				require.True(t, a.Latency > 0)
			}
			d := only(t, s, "evt_retry")
			require.Equal(t, len(tc.want), d.Attempts)
			require.Equal(t, tc.want[len(tc.want)-1], d.LastStatus)
			require.Equal(t, as[0].DeliveryID, d.ID)
			got, _ := s.Webhook(wh.ID)
			require.True(t, got.LastTriggered != nil)
			if tc.delivered {
				require.Equal(t, sim.StatusDelivered, d.Status)
				require.True(t, d.DeliveredAt != nil)
				require.Equal(t, "", d.LastError)
				require.Equal(t, int64(1), got.SuccessCount)
			} else {
				require.Equal(t, sim.StatusFailed, d.Status)
				require.True(t, d.DeliveredAt == nil)
				require.Equal(t, fmt.Sprintf("HTTP %d: answer %d", d.LastStatus, d.Attempts), d.LastError)
				require.Equal(t, int64(1), got.FailureCount)
			}
			st := s.Stats()
			require.Equal(t, int64(len(tc.want)), st.Attempts)
			require.Equal(t, int64(len(tc.want)-1), st.Retried)
			require.Equal(t, st.Published, st.Delivered+st.Failed+st.InFlight)
		})
	}
}

func TestRetryAfter(t *testing.T) {
	cases := []struct {
		name       string
		retryAfter string
		maxDelay   time.Duration
		min, max   time.Duration // gap between the two attempts
	}{
		{"seconds honoured", "1", 5 * time.Second, time.Second, 4 * time.Second},
		{"http date honoured", "", 5 * time.Second, time.Second, 4 * time.Second},
		{"capped at MaxDelay", "3600", 50 * time.Millisecond, 0, 2 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int) {
				if n == 1 {
					ra := tc.retryAfter
					if ra == "" {
						// HTTP dates have whole seconds: two seconds on
						// leaves at least one.
						ra = time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat)
					}
					w.Header().Set("Retry-After", ra)
					w.WriteHeader(http.StatusTooManyRequests)
				}
			})
			s := sim.New(sim.Config{BaseDelay: time.Millisecond, MaxDelay: tc.maxDelay})
			createWebhook(t, s, sim.WebhookSpec{URL: rs.URL, Secret: secret})
			start(t, s)
			publish(t, s, event("evt_ra", "delta.verified"))
			drain(t, s)
			reqs := rs.requests()
			require.Equal(t, 2, len(reqs))
			gap := reqs[1].at.Sub(reqs[0].at)
			require.True(t, gap >= tc.min && gap < tc.max, gap)
			require.Equal(t, sim.StatusDelivered, only(t, s, "evt_ra").Status)
		})
	}
}

func TestNetworkErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := "http://" + ln.Addr().String() + "/webhooks/pacspace"
	ln.Close()

	release := make(chan struct{})
	hang := newReceiver(t, func(_ http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before hang.Close

	var seen attempts
	s := sim.New(sim.Config{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond,
		Timeout: 100 * time.Millisecond, OnAttempt: seen.add})
	createWebhook(t, s, sim.WebhookSpec{URL: closed, Secret: secret, Events: []string{"refused"}})
	createWebhook(t, s, sim.WebhookSpec{URL: hang.URL, Secret: secret, Events: []string{"timeout"}})
	start(t, s)
	publish(t, s, event("evt_refused", "refused"))
	publish(t, s, event("evt_timeout", "timeout"))
	drain(t, s)

	for _, id := range []string{"evt_refused", "evt_timeout"} {
		as := seen.of(id)
		require.Equal(t, 2, len(as), id, "network errors are retried")
		for _, a := range as {
			require.True(t, a.Err != nil, id)
			require.Equal(t, 0, a.Status)
		}
		require.True(t, as[1].Final && !as[1].Delivered)
		d := only(t, s, id)
		require.Equal(t, sim.StatusFailed, d.Status)
		require.Equal(t, 0, d.LastStatus)
		require.Equal(t, as[1].Err.Error(), d.LastError)
	}
	require.ErrorIs(t, seen.of("evt_timeout")[0].Err, context.DeadlineExceeded)
	require.Equal(t, 2, len(hang.requests()))
}

func TestDisabledAndDeletedWebhooks(t *testing.T) {
	rs := newReceiver(t, ok)
	var seen attempts
	s := sim.New(sim.Config{OnAttempt: seen.add})
	disabled := createWebhook(t, s, sim.WebhookSpec{URL: rs.URL, Secret: secret})
	deleted := createWebhook(t, s, sim.WebhookSpec{URL: rs.URL, Secret: secret})
	// Queued before Run: both webhooks change before the deliveries' turn.
	publish(t, s, event("evt_queued", "delta.verified"))
	_, err := s.SetEnabled(disabled.ID, false)
	require.NoError(t, err)
	require.NoError(t, s.DeleteWebhook(deleted.ID))
	// Published after: no webhook is enabled, so no delivery.
	publish(t, s, event("evt_after", "delta.verified"))
	start(t, s)
	drain(t, s)

	require.Equal(t, 0, len(rs.requests()))
	ds, total := s.Deliveries(sim.DeliveryQuery{EventID: "evt_queued"})
	require.Equal(t, 2, total)
	reasons := map[string]string{}
	for _, d := range ds {
		require.Equal(t, sim.StatusFailed, d.Status)
		require.Equal(t, 0, d.Attempts)
		reasons[d.WebhookID] = d.LastError
	}
	require.Equal(t, map[string]string{disabled.ID: "webhook disabled", deleted.ID: "webhook deleted"}, reasons)
	_, total = s.Deliveries(sim.DeliveryQuery{EventID: "evt_after"})
	require.Equal(t, 0, total)

	as := seen.of("evt_queued")
	require.Equal(t, 2, len(as))
	for _, a := range as {
		require.Equal(t, 0, a.Number)
		require.True(t, a.Final && !a.Delivered)
		want := sim.ErrWebhookDisabled
		if a.WebhookID == deleted.ID {
			want = sim.ErrWebhookDeleted
		}
		require.ErrorIs(t, a.Err, want)
	}
	wh, err := s.Webhook(disabled.ID)
	require.NoError(t, err)
	require.Equal(t, int64(1), wh.FailureCount)
	require.Equal(t, sim.Stats{Events: 2, Published: 2, Failed: 2}, s.Stats())
}

func TestSubscriptions(t *testing.T) {
	rs := newReceiver(t, ok)
	s := sim.New(sim.Config{})
	createWebhook(t, s, sim.WebhookSpec{URL: rs.URL + "/some", Secret: secret, Events: []string{"delta.verified"}})
	createWebhook(t, s, sim.WebhookSpec{URL: rs.URL + "/all", Secret: secret})
	start(t, s)
	publish(t, s, event("evt_delta", "delta.verified"))
	publish(t, s, event("evt_batch", "batch.verified"))
	drain(t, s)
	got := map[string][]string{}
	for _, r := range rs.requests() {
		got[r.path] = append(got[r.path], r.header.Get(pacspace.HeaderEventID))
	}
	require.Equal(t, []string{"evt_delta"}, got["/some"])
	require.Equal(t, 2, len(got["/all"]))
}

func TestPublishAssignsEventID(t *testing.T) {
	rs := newReceiver(t, ok)
	s := sim.New(sim.Config{})
	createWebhook(t, s, sim.WebhookSpec{URL: rs.URL, Secret: secret})
	start(t, s)
	publish(t, s, sim.Event{Type: "delta.verified", Body: []byte(`{}`)})
	drain(t, s)
	id := rs.requests()[0].header.Get(pacspace.HeaderEventID)
	require.True(t, strings.HasPrefix(id, "evt_"), id)
	require.Equal(t, sim.StatusDelivered, only(t, s, id).Status)
}

func TestDrainWaitsForEveryDelivery(t *testing.T) {
	release := make(chan struct{})
	rs := newReceiver(t, func(_ http.ResponseWriter, _ *http.Request, _ int) { <-release })
	s := sim.New(sim.Config{})
	createWebhook(t, s, sim.WebhookSpec{URL: rs.URL, Secret: secret})
	start(t, s)
	for i := range 5 {
		publish(t, s, event(fmt.Sprint("evt_drain_", i), "delta.verified"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, s.Drain(ctx), context.DeadlineExceeded)
	require.Equal(t, int64(5), s.Stats().InFlight)

	close(release)
	drain(t, s)
	st := s.Stats()
	require.Equal(t, int64(5), st.Delivered)
	require.Equal(t, int64(0), st.InFlight)
	require.Equal(t, 5, len(rs.requests()))
}

func TestPublishBackpressure(t *testing.T) {
	rs := newReceiver(t, ok)
	s := sim.New(sim.Config{Queue: 1})
	createWebhook(t, s, sim.WebhookSpec{URL: rs.URL, Secret: secret})
	// Not running yet: the first delivery fills the queue, the second waits.
	publish(t, s, event("evt_first", "delta.verified"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, s.Publish(ctx, event("evt_second", "delta.verified")), context.DeadlineExceeded)
	d := only(t, s, "evt_second")
	require.Equal(t, sim.StatusFailed, d.Status)
	require.Contains(t, d.LastError, "not queued")
	require.Equal(t, sim.Stats{Events: 2, Published: 2, Failed: 1, InFlight: 1}, s.Stats())

	start(t, s)
	drain(t, s)
	require.Equal(t, sim.StatusDelivered, only(t, s, "evt_first").Status)
	// What could not be queued can be retried.
	_, err := s.Retry("evt_second")
	require.NoError(t, err)
	drain(t, s)
	require.Equal(t, sim.StatusDelivered, only(t, s, "evt_second").Status)
	require.Equal(t, 2, len(rs.requests()))
}

func TestHistoryDropsOldestFinishedFirst(t *testing.T) {
	rs := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.Header.Get(pacspace.HeaderEventID) == "evt_slow" {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	s := sim.New(sim.Config{History: 2, MaxDelay: time.Hour})
	createWebhook(t, s, sim.WebhookSpec{URL: rs.URL, Secret: secret})
	start(t, s)
	delivered := func(id string) func() bool {
		return func() bool {
			ds, n := s.Deliveries(sim.DeliveryQuery{EventID: id, Status: sim.StatusDelivered})
			return n == 1 && ds[0].Attempts == 1
		}
	}
	publish(t, s, event("evt_slow", "delta.verified"))
	waitFor(t, "the first attempt", func() bool { return len(rs.requests()) == 1 })
	publish(t, s, event("evt_a", "delta.verified"))
	waitFor(t, "evt_a", delivered("evt_a"))
	publish(t, s, event("evt_b", "delta.verified"))
	waitFor(t, "evt_b", delivered("evt_b"))

	ds, total := s.Deliveries(sim.DeliveryQuery{})
	require.Equal(t, 2, total)
	require.Equal(t, "evt_slow", ds[0].EventID, "pending records are kept")
	require.Equal(t, sim.StatusPending, ds[0].Status)
	require.Equal(t, "evt_b", ds[1].EventID)
	_, err := s.Retry("evt_a")
	require.ErrorIs(t, err, sim.ErrNotFound)
	require.Equal(t, int64(3), s.Stats().Published, "counters outlive the records")
}

func TestRunTwice(t *testing.T) {
	rs := newReceiver(t, ok)
	s := sim.New(sim.Config{})
	createWebhook(t, s, sim.WebhookSpec{URL: rs.URL, Secret: secret})
	start(t, s)
	publish(t, s, event("evt_run", "delta.verified"))
	drain(t, s) // Run is running
	require.ErrorIs(t, s.Run(context.Background()), sim.ErrRunning)
}

func TestCreateWebhookValidation(t *testing.T) {
	s := sim.New(sim.Config{})
	cases := []struct {
		spec   sim.WebhookSpec
		fields []string
	}{
		{sim.WebhookSpec{}, []string{"url"}},
		{sim.WebhookSpec{URL: "ftp://example.test/x"}, []string{"url"}},
		{sim.WebhookSpec{URL: "http://"}, []string{"url"}},
		{sim.WebhookSpec{URL: "/webhooks/pacspace"}, []string{"url"}},
		{sim.WebhookSpec{URL: "http://127.0.0.1/", Scheme: "legacy"}, []string{"scheme"}},
		{sim.WebhookSpec{URL: "http://127.0.0.1/", Events: []string{"delta.verified", " "}}, []string{"events"}},
		{sim.WebhookSpec{URL: "x", Scheme: "md5", Description: strings.Repeat("d", 1001)}, []string{"description", "scheme", "url"}},
	}
	for _, tc := range cases {
		_, _, err := s.CreateWebhook(tc.spec)
		var se *sim.SpecError
		require.True(t, errors.As(err, &se), tc.spec, err)
		var names []string
		for _, f := range tc.fields {
			names = append(names, f)
			require.True(t, se.Fields[f] != "", tc.spec, f)
		}
		require.Equal(t, len(names), len(se.Fields), se.Fields)
	}
	require.Equal(t, 0, len(s.Webhooks()))

	wh, sec, err := s.CreateWebhook(sim.WebhookSpec{URL: "https://127.0.0.1/hook", Events: []string{"a", "a", "b"}})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(sec, "whsec_") && len(sec) > 20, sec)
	require.True(t, strings.HasPrefix(wh.ID, "webhook_"), wh.ID)
	require.Equal(t, []string{"a", "b"}, wh.Events)
	require.Equal(t, sim.SchemeV1, wh.Scheme)
	require.True(t, wh.Enabled)
}
