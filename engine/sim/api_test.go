package sim_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/testing/fakeclock"

	"github.com/arbiter-dev/arbiter/engine/testing/capture"

	"github.com/hashicorp/go-hclog"

	"github.com/arbiter-dev/arbiter/engine/pacspace"
	"github.com/arbiter-dev/arbiter/engine/sim"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

const token = "dashboard-test-token"

// dashboard is a Sim serving its API on loopback.
type dashboard struct {
	*sim.Sim
	url string
}

func newDashboard(t *testing.T, cfg sim.Config) *dashboard {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = token
	}
	s := sim.New(cfg)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	start(t, s)
	return &dashboard{Sim: s, url: srv.URL}
}

type envelope struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Message string          `json:"message"`
	Error   *struct {
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

type option func(*http.Request)

func bearer(tok string) option {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func withCookie(c *http.Cookie) option { return func(r *http.Request) { r.AddCookie(c) } }

func header(k, v string) option { return func(r *http.Request) { r.Header.Set(k, v) } }

// send makes a request and returns the response with its body read.
func (d *dashboard) send(t *testing.T, method, path string, body any, opts ...option) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, d.url+path, rd)
	require.NoError(t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, raw
}

// call is send with the bearer token, decoding the envelope.
func (d *dashboard) call(t *testing.T, method, path string, body any, opts ...option) (int, envelope) {
	t.Helper()
	resp, raw := d.send(t, method, path, body, append([]option{bearer(token)}, opts...)...)
	var env envelope
	require.NoError(t, json.Unmarshal(raw, &env), string(raw))
	require.Equal(t, resp.StatusCode < 300, env.Success, string(raw))
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	return resp.StatusCode, env
}

func decode[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(raw, &v), string(raw))
	return v
}

type pagination struct {
	Page, Limit, Offset, Total, TotalPages int
}

func TestAuth(t *testing.T) {
	now := fakeclock.At(time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC))
	d := newDashboard(t, sim.Config{Now: now.Now})
	get := func(opts ...option) (int, envelope) {
		resp, raw := d.send(t, http.MethodGet, "/dashboard/webhooks", nil, opts...)
		var env envelope
		require.NoError(t, json.Unmarshal(raw, &env), string(raw))
		if resp.StatusCode == http.StatusUnauthorized {
			require.Equal(t, `Bearer realm="pacspace"`, resp.Header.Get("WWW-Authenticate"))
			require.True(t, !env.Success && env.Error != nil && env.Error.Message != "", string(raw))
		}
		return resp.StatusCode, env
	}
	for name, opts := range map[string][]option{
		"nothing":        nil,
		"wrong token":    {bearer("wrong")},
		"empty token":    {bearer("")},
		"token prefix":   {bearer(token[:len(token)-1])},
		"basic auth":     {header("Authorization", "Basic "+token)},
		"unknown cookie": {withCookie(&http.Cookie{Name: sim.SessionCookie, Value: "forged"})},
	} {
		code, _ := get(opts...)
		require.Equal(t, http.StatusUnauthorized, code, name)
	}
	code, _ := get(bearer(token))
	require.Equal(t, http.StatusOK, code)

	// Seed 002's session: log in with the token, then use the cookie.
	resp, raw := d.send(t, http.MethodPost, "/dashboard/login", map[string]string{"token": "wrong"})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, string(raw), `"token"`)
	resp, raw = d.send(t, http.MethodPost, "/dashboard/login", map[string]string{"tok": token})
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(raw))
	resp, raw = d.send(t, http.MethodPost, "/dashboard/login", map[string]string{"token": token})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotContains(t, string(raw), token)
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sim.SessionCookie {
			session = c
		}
	}
	require.True(t, session != nil, resp.Header)
	require.True(t, session.HttpOnly)
	require.True(t, len(session.Value) >= 32 && !strings.Contains(session.Value, token))
	code, _ = get(withCookie(session))
	require.Equal(t, http.StatusOK, code)
	// A bearer token, when offered, decides alone.
	code, _ = get(withCookie(session), bearer("wrong"))
	require.Equal(t, http.StatusUnauthorized, code)

	resp, _ = d.send(t, http.MethodPost, "/dashboard/logout", nil, withCookie(session))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, len(resp.Cookies()) == 1 && resp.Cookies()[0].MaxAge < 0, resp.Header)
	code, _ = get(withCookie(session))
	require.Equal(t, http.StatusUnauthorized, code, "logged out")

	// Sessions expire.
	resp, _ = d.send(t, http.MethodPost, "/dashboard/login", map[string]string{"token": token})
	session = resp.Cookies()[0]
	now.Set(now.Now().Add(25 * time.Hour))
	code, _ = get(withCookie(session))
	require.Equal(t, http.StatusUnauthorized, code, "expired")
}

func TestNoTokenRefusesEverything(t *testing.T) {
	s := sim.New(sim.Config{})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	for _, req := range []struct{ path, auth, body string }{
		{"/dashboard/webhooks", "Bearer ", ""},
		{"/dashboard/webhooks", "Bearer x", ""},
		{"/dashboard/login", "", `{"token":""}`},
	} {
		method := http.MethodGet
		if req.body != "" {
			method = http.MethodPost
		}
		r, err := http.NewRequest(method, srv.URL+req.path, strings.NewReader(req.body))
		require.NoError(t, err)
		if req.auth != "" {
			r.Header.Set("Authorization", req.auth)
		}
		resp, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, req)
	}
}

type createdWebhook struct {
	sim.Webhook
	Secret string `json:"secret"`
}

func TestWebhookRoutes(t *testing.T) {
	d := newDashboard(t, sim.Config{})

	code, env := d.call(t, http.MethodPost, "/dashboard/webhooks", map[string]any{
		"url": "https://127.0.0.1/webhooks/pacspace", "description": "Production webhook"})
	require.Equal(t, http.StatusCreated, code)
	require.Equal(t, "Webhook created successfully. Save your secret securely - it won't be shown again.", env.Message)
	first := decode[createdWebhook](t, env.Data)
	require.True(t, strings.HasPrefix(first.Secret, "whsec_"), first.Secret)
	require.True(t, strings.HasPrefix(first.ID, "webhook_"), first.ID)
	require.True(t, first.Enabled)
	require.Equal(t, "Production webhook", first.Description)
	require.Equal(t, sim.SchemeV1, first.Scheme)
	require.Equal(t, []string{}, first.Events)
	require.True(t, !first.CreatedAt.IsZero())

	code, env = d.call(t, http.MethodPost, "/dashboard/webhooks", map[string]any{
		"url": "http://127.0.0.1:9/hook", "events": []string{"verification.completed"}, "scheme": "sha256"})
	require.Equal(t, http.StatusCreated, code)
	second := decode[createdWebhook](t, env.Data)
	require.Equal(t, sim.SchemeSHA256, second.Scheme)
	require.Equal(t, []string{"verification.completed"}, second.Events)
	d.call(t, http.MethodPost, "/dashboard/webhooks", map[string]any{"url": "http://127.0.0.1:9/third"})

	t.Run("bad bodies", func(t *testing.T) {
		for _, tc := range []struct {
			body   string
			code   int
			fields []string
		}{
			{`{"url":"ftp://127.0.0.1/x"}`, 400, []string{"url"}},
			{`{"url":"http://"}`, 400, []string{"url"}},
			{`{}`, 400, []string{"url"}},
			{`{"url":"http://127.0.0.1/","scheme":"md5"}`, 400, []string{"scheme"}},
			{`{"url":"nope","scheme":"md5"}`, 400, []string{"scheme", "url"}},
			{`{"url":"http://127.0.0.1/","events":[""]}`, 400, []string{"events"}},
			{`{"url":"http://127.0.0.1/","secret":"whsec_mine"}`, 400, []string{"secret"}},
			{`{"url":5}`, 400, []string{"url"}},
			{`{"url":"http://127.0.0.1/"} {}`, 400, nil},
			{`not json`, 400, nil},
			{``, 400, nil},
		} {
			code, env := d.call(t, http.MethodPost, "/dashboard/webhooks", tc.body)
			require.Equal(t, tc.code, code, tc.body)
			require.True(t, env.Error.Message != "", tc.body)
			require.Equal(t, len(tc.fields), len(env.Error.Fields), tc.body, env.Error.Fields)
			for _, f := range tc.fields {
				require.True(t, env.Error.Fields[f] != "", tc.body, f)
			}
		}
		code, _ := d.call(t, http.MethodPost, "/dashboard/webhooks", `{"url":"http://127.0.0.1/"}`,
			header("Content-Type", "text/plain"))
		require.Equal(t, http.StatusUnsupportedMediaType, code)
		require.Equal(t, 3, len(d.Webhooks()), "nothing bad was created")
	})

	t.Run("get", func(t *testing.T) {
		resp, raw := d.send(t, http.MethodGet, "/dashboard/webhooks/"+first.ID, nil, bearer(token))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NotContains(t, string(raw), first.Secret)
		require.NotContains(t, string(raw), `"secret"`)
		env := decode[envelope](t, raw)
		got := decode[map[string]any](t, env.Data)
		for _, k := range []string{"id", "url", "enabled", "createdAt", "lastTriggered", "successCount", "failureCount"} {
			_, ok := got[k]
			require.True(t, ok, k, got)
		}
		require.Equal(t, first.ID, got["id"])
		require.Equal(t, nil, got["lastTriggered"])
	})

	t.Run("list", func(t *testing.T) {
		resp, raw := d.send(t, http.MethodGet, "/dashboard/webhooks", nil, bearer(token))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NotContains(t, string(raw), first.Secret)
		require.NotContains(t, string(raw), second.Secret)
		for _, tc := range []struct {
			query string
			ids   []string
			page  pagination
		}{
			{"", nil, pagination{Page: 1, Limit: 10, Total: 3, TotalPages: 1}},
			{"?limit=2", []string{first.ID, second.ID}, pagination{Page: 1, Limit: 2, Total: 3, TotalPages: 2}},
			{"?limit=2&page=2", nil, pagination{Page: 2, Limit: 2, Offset: 2, Total: 3, TotalPages: 2}},
			{"?limit=2&offset=1", []string{second.ID}, pagination{Page: 1, Limit: 2, Offset: 1, Total: 3, TotalPages: 2}},
			{"?page=9", []string{}, pagination{Page: 9, Limit: 10, Offset: 80, Total: 3, TotalPages: 1}},
		} {
			code, env := d.call(t, http.MethodGet, "/dashboard/webhooks"+tc.query, nil)
			require.Equal(t, http.StatusOK, code)
			list := decode[struct {
				Webhooks   []sim.Webhook
				Pagination pagination
			}](t, env.Data)
			require.Equal(t, tc.page, list.Pagination, tc.query)
			if tc.ids != nil {
				var ids []string
				for _, w := range list.Webhooks {
					ids = append(ids, w.ID)
				}
				if len(tc.ids) == 0 {
					require.Equal(t, 0, len(ids), tc.query)
				} else {
					require.Equal(t, tc.ids[0], ids[0], tc.query)
				}
			}
		}
		code, env := d.call(t, http.MethodGet, "/dashboard/webhooks?limit=0&page=x", nil)
		require.Equal(t, http.StatusBadRequest, code)
		require.Equal(t, 2, len(env.Error.Fields), env.Error.Fields)
		require.True(t, env.Error.Fields["limit"] != "" && env.Error.Fields["page"] != "")
		code, env = d.call(t, http.MethodGet, "/dashboard/webhooks?page=1&offset=0", nil)
		require.Equal(t, http.StatusBadRequest, code)
		require.True(t, env.Error.Fields["offset"] != "")
	})

	t.Run("toggle", func(t *testing.T) {
		for _, want := range []bool{false, true} {
			code, env := d.call(t, http.MethodPost, "/dashboard/webhooks/"+first.ID+"/toggle", nil)
			require.Equal(t, http.StatusOK, code)
			got := decode[map[string]any](t, env.Data)
			require.Equal(t, map[string]any{"id": first.ID, "enabled": want}, got)
			wh, err := d.Webhook(first.ID)
			require.NoError(t, err)
			require.Equal(t, want, wh.Enabled)
		}
	})

	t.Run("delete", func(t *testing.T) {
		code, env := d.call(t, http.MethodDelete, "/dashboard/webhooks/"+second.ID, nil)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "Webhook deleted successfully.", env.Message)
		code, _ = d.call(t, http.MethodGet, "/dashboard/webhooks/"+second.ID, nil)
		require.Equal(t, http.StatusNotFound, code)
		require.Equal(t, 2, len(d.Webhooks()))
	})

	t.Run("unknown ids", func(t *testing.T) {
		for _, r := range []struct{ method, path string }{
			{http.MethodGet, "/dashboard/webhooks/webhook_nope"},
			{http.MethodPost, "/dashboard/webhooks/webhook_nope/toggle"},
			{http.MethodPost, "/dashboard/webhooks/webhook_nope/test"},
			{http.MethodDelete, "/dashboard/webhooks/webhook_nope"},
			{http.MethodPost, "/dashboard/webhooks/deliveries/evt_nope/retry"},
			{http.MethodGet, "/dashboard/nothing-here"},
		} {
			code, env := d.call(t, r.method, r.path, nil)
			require.Equal(t, http.StatusNotFound, code, r)
			require.True(t, env.Error.Message != "", r)
		}
	})
}

func TestWebhookTestRoute(t *testing.T) {
	var status sync.Map // "code" → int
	status.Store("code", http.StatusOK)
	rs := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		code, _ := status.Load("code")
		w.WriteHeader(code.(int))
		io.WriteString(w, "nope")
	})
	d := newDashboard(t, sim.Config{})
	_, env := d.call(t, http.MethodPost, "/dashboard/webhooks", map[string]any{"url": rs.URL})
	wh := decode[createdWebhook](t, env.Data)

	code, env := d.call(t, http.MethodPost, "/dashboard/webhooks/"+wh.ID+"/test", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, sim.TestResult{Success: true, HTTPStatus: 200, Message: "Test event sent successfully."},
		decode[sim.TestResult](t, env.Data))
	r := rs.requests()[0]
	_, err := pacspace.Verifier{}.Verify(r.header.Get(pacspace.HeaderSignature), r.header.Get(pacspace.HeaderTimestamp),
		r.body, []string{wh.Secret}, time.Now())
	require.NoError(t, err)
	payload := decode[struct {
		Event     string
		Timestamp time.Time
		Data      struct{ Message string }
	}](t, r.body)
	require.Equal(t, "test", payload.Event)
	require.Equal(t, "This is a test webhook event from PacSpace.", payload.Data.Message)
	require.True(t, time.Since(payload.Timestamp) < time.Minute, payload.Timestamp)

	status.Store("code", http.StatusInternalServerError)
	code, env = d.call(t, http.MethodPost, "/dashboard/webhooks/"+wh.ID+"/test", nil)
	require.Equal(t, http.StatusOK, code)
	res := decode[sim.TestResult](t, env.Data)
	require.Equal(t, false, res.Success)
	require.Equal(t, 500, res.HTTPStatus)
	require.Contains(t, res.Message, "HTTP 500: nope")

	_, total := d.Deliveries(sim.DeliveryQuery{})
	require.Equal(t, 0, total, "a test is not a delivery")
	require.Equal(t, sim.Stats{}, d.Stats())
}

// history builds the delivery history the list tests read, one event a day
// on a settable clock:
//
//	evt_a  04-01  delivered 04-07 (400, then retried through the API)  attempts 2
//	evt_b  04-02  failed (400)                                          attempts 1
//	evt_c  04-03  delivered 04-03 (503, then 200)                       attempts 2
//	evt_d  04-04  pending (503, Retry-After an hour)                    attempts 1
//	evt_e  04-05  delivered 04-05                                       attempts 1
func history(t *testing.T) (*dashboard, sim.Webhook) {
	t.Helper()
	var mu sync.Mutex
	script := map[string][]int{"evt_a": {400}, "evt_b": {400, 400, 400}, "evt_c": {503}, "evt_d": {503}}
	rs := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		id := r.Header.Get(pacspace.HeaderEventID)
		mu.Lock()
		code := 200
		if next := script[id]; len(next) > 0 {
			code, script[id] = next[0], next[1:]
		}
		mu.Unlock()
		if id == "evt_d" {
			w.Header().Set("Retry-After", "3600")
		}
		w.WriteHeader(code)
	})
	now := &fakeclock.Clock{}
	d := newDashboard(t, sim.Config{Now: now.Now, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Hour})
	wh := createWebhook(t, d.Sim, sim.WebhookSpec{URL: rs.URL, Secret: secret})
	day := func(n int) { now.Set(time.Date(2026, 4, n, 10, 0, 0, 0, time.UTC)) }
	for i, id := range []string{"evt_a", "evt_b", "evt_c", "evt_d", "evt_e"} {
		day(i + 1)
		publish(t, d.Sim, event(id, "delta.verified"))
		waitFor(t, id, func() bool {
			ds, _ := d.Deliveries(sim.DeliveryQuery{EventID: id})
			// evt_d stays pending once its first answer is recorded.
			return ds[0].Status != sim.StatusPending || ds[0].LastStatus == 503 && id == "evt_d"
		})
	}
	day(7)
	code, env := d.call(t, http.MethodPost, "/dashboard/webhooks/deliveries/evt_a/retry", nil)
	require.Equal(t, http.StatusAccepted, code)
	require.Equal(t, "Retry scheduled.", env.Message)
	waitFor(t, "evt_a retried", func() bool {
		ds, _ := d.Deliveries(sim.DeliveryQuery{EventID: "evt_a"})
		return ds[0].Status == sim.StatusDelivered
	})
	return d, wh
}

type deliveryList struct {
	Deliveries []sim.Delivery
	Pagination pagination
}

func eventIDs(ds []sim.Delivery) []string {
	ids := []string{}
	for _, d := range ds {
		ids = append(ids, d.EventID)
	}
	return ids
}

func TestDeliveryList(t *testing.T) {
	d, wh := history(t)
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"evt_e", "evt_d", "evt_c", "evt_b", "evt_a"}},
		{"?sortOrder=asc", []string{"evt_a", "evt_b", "evt_c", "evt_d", "evt_e"}},
		{"?sortBy=createdAt&sortOrder=desc", []string{"evt_e", "evt_d", "evt_c", "evt_b", "evt_a"}},
		{"?status=pending", []string{"evt_d"}},
		{"?status=failed", []string{"evt_b"}},
		{"?status=delivered", []string{"evt_e", "evt_c", "evt_a"}},
		{"?startDate=2026-04-02&endDate=2026-04-04", []string{"evt_d", "evt_c", "evt_b"}},
		{"?startDate=2026-04-04", []string{"evt_e", "evt_d"}},
		{"?endDate=2026-04-01", []string{"evt_a"}},
		{"?startDate=2026-04-03&endDate=2026-04-03", []string{"evt_c"}},
		{"?startDate=2026-05-01", []string{}},
		// Ties keep creation order, reversed for desc.
		{"?sortBy=attempts&sortOrder=asc", []string{"evt_b", "evt_d", "evt_e", "evt_a", "evt_c"}},
		{"?sortBy=attempts", []string{"evt_c", "evt_a", "evt_e", "evt_d", "evt_b"}},
		// Records not delivered come last in both orders.
		{"?sortBy=deliveredAt&sortOrder=asc", []string{"evt_c", "evt_e", "evt_a", "evt_b", "evt_d"}},
		{"?sortBy=deliveredAt&sortOrder=desc", []string{"evt_a", "evt_e", "evt_c", "evt_d", "evt_b"}},
		{"?status=delivered&sortBy=deliveredAt&sortOrder=asc&startDate=2026-04-02", []string{"evt_c", "evt_e"}},
		{"?eventId=evt_c", []string{"evt_c"}},
		{"?webhookId=" + wh.ID + "&limit=500", []string{"evt_e", "evt_d", "evt_c", "evt_b", "evt_a"}},
		{"?webhookId=webhook_other", []string{}},
		{"?limit=2&offset=1", []string{"evt_d", "evt_c"}},
		{"?limit=2&page=3", []string{"evt_a"}},
	} {
		code, env := d.call(t, http.MethodGet, "/dashboard/webhooks/deliveries"+tc.query, nil)
		require.Equal(t, http.StatusOK, code, tc.query)
		list := decode[deliveryList](t, env.Data)
		require.Equal(t, tc.want, eventIDs(list.Deliveries), tc.query)
	}

	code, env := d.call(t, http.MethodGet, "/dashboard/webhooks/deliveries?limit=2&offset=1", nil)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, pagination{Page: 1, Limit: 2, Offset: 1, Total: 5, TotalPages: 3},
		decode[deliveryList](t, env.Data).Pagination)

	// The records themselves.
	_, env = d.call(t, http.MethodGet, "/dashboard/webhooks/deliveries?sortOrder=asc", nil)
	ds := decode[deliveryList](t, env.Data).Deliveries
	at := func(day int) time.Time { return time.Date(2026, 4, day, 10, 0, 0, 0, time.UTC) }
	a, b, c, dd := ds[0], ds[1], ds[2], ds[3]
	require.Equal(t, 2, a.Attempts)
	require.Equal(t, at(1), a.CreatedAt)
	require.Equal(t, at(7), *a.DeliveredAt)
	require.Equal(t, 200, a.LastStatus)
	require.Equal(t, "", a.LastError)
	require.Equal(t, wh.ID, a.WebhookID)
	require.Equal(t, "delta.verified", a.EventType)
	require.True(t, strings.HasPrefix(a.ID, "dlv_"), a.ID)
	require.Equal(t, sim.StatusFailed, b.Status)
	require.Equal(t, 400, b.LastStatus)
	require.Equal(t, "HTTP 400", b.LastError)
	require.True(t, b.DeliveredAt == nil)
	require.Equal(t, at(3), *c.DeliveredAt)
	require.Equal(t, 503, dd.LastStatus)
	wantWH, err := d.Webhook(wh.ID)
	require.NoError(t, err)
	require.Equal(t, int64(3), wantWH.SuccessCount)
	require.Equal(t, int64(2), wantWH.FailureCount, "evt_a and evt_b each failed once")
	require.Equal(t, at(7), *wantWH.LastTriggered)

	t.Run("bad parameters", func(t *testing.T) {
		for _, tc := range []struct {
			query  string
			fields []string
		}{
			{"status=done", []string{"status"}},
			{"startDate=2026-13-01", []string{"startDate"}},
			{"endDate=04/01/2026", []string{"endDate"}},
			{"startDate=2026-04-05&endDate=2026-04-01", []string{"endDate"}},
			{"sortBy=id", []string{"sortBy"}},
			{"sortOrder=up", []string{"sortOrder"}},
			{"limit=0", []string{"limit"}},
			{"limit=501", []string{"limit"}},
			{"offset=-1", []string{"offset"}},
			{"offset=x&page=2", []string{"offset"}},
			{"status=x&sortBy=y&sortOrder=z&limit=-5", []string{"status", "sortBy", "sortOrder", "limit"}},
		} {
			paths := []string{"/dashboard/webhooks/deliveries?", "/dashboard/webhooks/deliveries/export?"}
			if strings.Contains(tc.query, "limit=") || strings.Contains(tc.query, "offset=") {
				paths = paths[:1] // the export has no pages
			}
			for _, path := range paths {
				code, env := d.call(t, http.MethodGet, path+tc.query, nil)
				require.Equal(t, http.StatusBadRequest, code, path+tc.query)
				require.Equal(t, len(tc.fields), len(env.Error.Fields), tc.query, env.Error.Fields)
				for _, f := range tc.fields {
					require.True(t, env.Error.Fields[f] != "", tc.query, f)
				}
			}
		}
	})
}

func TestDeliveryExport(t *testing.T) {
	d, _ := history(t)
	export := func(query string) [][]string {
		t.Helper()
		resp, raw := d.send(t, http.MethodGet, "/dashboard/webhooks/deliveries/export"+query, nil, bearer(token))
		require.Equal(t, http.StatusOK, resp.StatusCode, string(raw))
		require.Equal(t, "text/csv; charset=utf-8", resp.Header.Get("Content-Type"))
		require.Contains(t, resp.Header.Get("Content-Disposition"), "attachment")
		rows, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
		require.NoError(t, err)
		require.Equal(t, []string{"id", "eventId", "webhookId", "eventType", "status", "attempts",
			"lastStatus", "lastError", "createdAt", "deliveredAt"}, rows[0])
		return rows[1:]
	}

	// Every row parses back to the record the JSON list gives.
	rows := export("?sortOrder=asc")
	_, env := d.call(t, http.MethodGet, "/dashboard/webhooks/deliveries?sortOrder=asc", nil)
	ds := decode[deliveryList](t, env.Data).Deliveries
	require.Equal(t, len(ds), len(rows))
	for i, row := range rows {
		got := sim.Delivery{ID: row[0], EventID: row[1], WebhookID: row[2], EventType: row[3],
			Status: sim.Status(row[4]), LastError: row[7]}
		got.Attempts = atoi(t, row[5])
		got.LastStatus = atoi(t, row[6])
		var err error
		got.CreatedAt, err = time.Parse(time.RFC3339Nano, row[8])
		require.NoError(t, err)
		if row[9] != "" {
			at, err := time.Parse(time.RFC3339Nano, row[9])
			require.NoError(t, err)
			got.DeliveredAt = &at
		}
		require.Equal(t, ds[i], got)
	}

	rows = export("?status=failed&startDate=2026-04-01&endDate=2026-04-10")
	require.Equal(t, 1, len(rows))
	require.Equal(t, "evt_b", rows[0][1])
	rows = export("?sortBy=attempts&startDate=2026-04-03")
	require.Equal(t, []string{"evt_c", "evt_e", "evt_d"}, []string{rows[0][1], rows[1][1], rows[2][1]})
	require.Equal(t, 0, len(export("?startDate=2027-01-01")))

	resp, _ := d.send(t, http.MethodGet, "/dashboard/webhooks/deliveries/export", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	require.NoError(t, json.Unmarshal([]byte(s), &n), s)
	return n
}

func TestRetryRoute(t *testing.T) {
	d, _ := history(t)
	retry := func(id string) (int, envelope) {
		return d.call(t, http.MethodPost, "/dashboard/webhooks/deliveries/"+id+"/retry", nil)
	}
	for id, want := range map[string]int{
		"evt_unknown": http.StatusNotFound,
		"evt_a":       http.StatusConflict, // delivered after its retry
		"evt_e":       http.StatusConflict, // delivered
		"evt_d":       http.StatusConflict, // pending
	} {
		code, env := retry(id)
		require.Equal(t, want, code, id)
		require.True(t, env.Error.Message != "", id)
	}

	code, env := retry("evt_b")
	require.Equal(t, http.StatusAccepted, code)
	queued := decode[struct{ Deliveries []sim.Delivery }](t, env.Data).Deliveries
	require.Equal(t, 1, len(queued))
	require.Equal(t, sim.StatusPending, queued[0].Status)

	// evt_b's receiver answers 400 twice more: the retry fails again, once.
	waitFor(t, "evt_b to fail again", func() bool {
		return only(t, d.Sim, "evt_b").Status == sim.StatusFailed
	})
	b := only(t, d.Sim, "evt_b")
	require.Equal(t, 2, b.Attempts)
	code, _ = retry("evt_b")
	require.Equal(t, http.StatusAccepted, code)
	waitFor(t, "evt_b to fail a third time", func() bool {
		return only(t, d.Sim, "evt_b").Attempts == 3 && only(t, d.Sim, "evt_b").Status == sim.StatusFailed
	})
	code, _ = retry("evt_b")
	require.Equal(t, http.StatusAccepted, code)
	waitFor(t, "evt_b delivered", func() bool { return only(t, d.Sim, "evt_b").Status == sim.StatusDelivered })
	code, _ = retry("evt_b")
	require.Equal(t, http.StatusConflict, code)

	st := d.Stats()
	require.Equal(t, st.Published, st.Delivered+st.Failed+st.InFlight)
	require.Equal(t, int64(0), st.Failed)
	require.Equal(t, int64(1), st.InFlight, "evt_d")
}

func TestNoSecretsInLogs(t *testing.T) {
	var logs capture.Buffer
	rs := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	d := newDashboard(t, sim.Config{BaseDelay: time.Millisecond,
		Logger: hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Trace})})
	_, env := d.call(t, http.MethodPost, "/dashboard/webhooks", map[string]any{"url": rs.URL + "/hook/tok_in_path"})
	wh := decode[createdWebhook](t, env.Data)
	d.call(t, http.MethodPost, "/dashboard/webhooks/"+wh.ID+"/toggle", nil)
	d.call(t, http.MethodPost, "/dashboard/webhooks/"+wh.ID+"/toggle", nil)
	d.send(t, http.MethodPost, "/dashboard/login", map[string]string{"token": token})
	d.send(t, http.MethodPost, "/dashboard/login", map[string]string{"token": "wrong-" + token})
	publish(t, d.Sim, event("evt_logged", "delta.verified"))
	drain(t, d.Sim)

	out := logs.String()
	require.Contains(t, out, "delivery will be retried", "the logger was used")
	require.Contains(t, out, wh.ID)
	for _, secret := range []string{wh.Secret, token, "tok_in_path"} {
		require.NotContains(t, out, secret)
	}
}
