package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/testing/capture"

	"github.com/hashicorp/go-hclog"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/admin"
	"github.com/arbiter-dev/arbiter/engine/config"
	"github.com/arbiter-dev/arbiter/engine/inbox"
	"github.com/arbiter-dev/arbiter/engine/pacspace"
	"github.com/arbiter-dev/arbiter/engine/policy"
	"github.com/arbiter-dev/arbiter/engine/receiver"
	"github.com/arbiter-dev/arbiter/engine/store"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
	"github.com/arbiter-dev/arbiter/engine/worker"
	"github.com/arbiter-dev/arbiter/policies"
)

// agentEnv is the receiving half of an agent on loopback: the real store,
// receiver, policies and worker, with the admin API beside the webhook
// route as the agent mounts them.
type agentEnv struct {
	url      string
	store    *store.Store
	counters *store.EndpointCounters
	worker   *worker.Worker
	inbox    *inbox.Inbox
	now      func() time.Time
	logs     *capture.Buffer
}

// loaded waits until every acknowledged event is in the store: the inbox
// loads its journal a moment after the acknowledgement.
func (e *agentEnv) loaded(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); e.inbox.Backlog() > 0; time.Sleep(5 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "journal not loaded", e.inbox.Backlog())
	}
}

type agentOptions struct {
	configured map[string]config.Endpoint // stored, and passed to the API as declared in the config file
	now        func() time.Time           // the receiver's and worker's clock; default time.Now
	grace      time.Duration
}

func newAgentEnv(t *testing.T, opts agentOptions) *agentEnv {
	t.Helper()
	ctx := context.Background()
	if opts.now == nil {
		opts.now = time.Now
	}
	logs := &capture.Buffer{}
	log := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})
	st, err := store.Open(ctx, store.Config{Path: filepath.Join(t.TempDir(), "arbiter.db"), Logger: log})
	require.NoError(t, err)
	for name, ec := range opts.configured {
		ep := engine.Endpoint{Name: name, AllowLegacy: !ec.RefuseLegacy, Enabled: !ec.Disabled}
		for _, s := range ec.Secrets {
			ep.Secrets = append(ep.Secrets, engine.Secret{Value: s})
		}
		require.NoError(t, st.PutEndpoint(ctx, ep))
	}
	eps, err := receiver.NewEndpoints(ctx, st)
	require.NoError(t, err)
	pe, err := policy.New(ctx, policy.Config{Source: policy.Source{FS: policies.FS}})
	require.NoError(t, err)
	w, err := worker.New(ctx, worker.Config{Partitions: 1, Grace: opts.grace, Poll: 20 * time.Millisecond, Now: opts.now,
		Logger: log}, st, pe)
	require.NoError(t, err)
	counters := store.NewEndpointCounters(st)
	in, err := inbox.Open(ctx, inbox.Config{Dir: filepath.Join(t.TempDir(), "journal"), Loaded: w.Notify, Logger: log}, st)
	require.NoError(t, err)
	rc := receiver.New(receiver.Config{Now: opts.now, Logger: log, Rejected: counters.Reject}, in, eps)
	api := admin.New(admin.Config{Tokens: []string{token}, Store: st, Policies: pe, Throttles: w, Logger: log,
		Endpoints: eps, Counters: counters, Webhooks: rc, Configured: opts.configured, Holds: w})
	mux := http.NewServeMux()
	mux.Handle("/webhooks/{endpoint}", rc)
	for _, r := range admin.Routes() {
		mux.Handle(r, api)
	}
	srv := httptest.NewServer(mux)

	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 2)
	go func() { done <- w.Run(wctx) }()
	go func() { done <- in.Run(wctx) }()
	t.Cleanup(func() {
		srv.Close()
		stop()
		require.NoError(t, <-done)
		require.NoError(t, <-done)
		require.NoError(t, in.Close())
		require.NoError(t, st.Close())
	})
	return &agentEnv{url: srv.URL, store: st, inbox: in, counters: counters, worker: w, now: opts.now, logs: logs}
}

// answer is an admin API response.
type answer struct {
	status int
	raw    string
	Data   json.RawMessage `json:"data"`
	Error  *struct {
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

// call makes an admin request with the token.
func (e *agentEnv) call(t *testing.T, method, path, body string) answer {
	t.Helper()
	return e.callAs(t, "Bearer "+token, method, path, body)
}

func (e *agentEnv) callAs(t *testing.T, auth, method, path, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := answer{status: resp.StatusCode, raw: string(raw)}
	require.NoError(t, json.Unmarshal(raw, &a), string(raw))
	return a
}

// want checks the status and decodes the data into out (if not nil).
func (a answer) want(t *testing.T, status int, out any) answer {
	t.Helper()
	require.Equal(t, status, a.status, a.raw)
	if out != nil {
		require.NoError(t, json.Unmarshal(a.Data, out), a.raw)
	}
	return a
}

// field checks a failure names field.
func (a answer) field(t *testing.T, status int, field string) {
	t.Helper()
	require.Equal(t, status, a.status, a.raw)
	require.True(t, a.Error != nil && a.Error.Fields[field] != "", "expected an error naming", field, a.raw)
}

// deliver posts a webhook signed with secret (v1) and returns the status
// and the receiver's reason.
func (e *agentEnv) deliver(t *testing.T, endpoint, secret, eventID string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+"/webhooks/"+endpoint, bytes.NewReader(body))
	require.NoError(t, err)
	require.NoError(t, pacspace.Sign(req.Header, engine.SchemeV1, secret, eventID, e.now(), body))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Reason string `json:"reason"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.Reason
}

// eventually polls cond until it holds or 10 seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type webhook struct {
	ID            string           `json:"id"`
	Name          string           `json:"name"`
	URL           string           `json:"url"`
	Description   string           `json:"description"`
	Enabled       bool             `json:"enabled"`
	AllowLegacy   bool             `json:"allowLegacy"`
	Configured    bool             `json:"configured"`
	CreatedAt     time.Time        `json:"createdAt"`
	Secret        string           `json:"secret"`
	LastTriggered *time.Time       `json:"lastTriggered"`
	SuccessCount  int64            `json:"successCount"`
	FailureCount  int64            `json:"failureCount"`
	Failures      map[string]int64 `json:"failures"`
	ActiveSecrets int              `json:"activeSecrets"`
	Secrets       []struct {
		ExpiresAt *time.Time `json:"expiresAt"`
	} `json:"secrets"`
}

type webhookPage struct {
	Webhooks   []webhook `json:"webhooks"`
	Pagination struct {
		Page, Limit, Total, TotalPages int
	} `json:"pagination"`
}

type testResult struct {
	Success    bool   `json:"success"`
	HTTPStatus int    `json:"httpStatus"`
	Message    string `json:"message"`
	EventID    string `json:"eventId"`
}

type rotated struct {
	ID                      string     `json:"id"`
	Secret                  string     `json:"secret"`
	PreviousSecretExpiresAt *time.Time `json:"previousSecretExpiresAt"`
	ActiveSecrets           int        `json:"activeSecrets"`
}

var secretFormat = regexp.MustCompile(`^whsec_[0-9a-f]{64}$`)

const configuredSecret = "whsec_configured_0123456789"

func eventBody(n string) []byte {
	return []byte(`{"event":"receipt.generated","timestamp":"2026-04-10T12:00:00.000Z","data":{"receiptId":"rcpt_` + n + `"}}`)
}

// TestWebhookLifecycle drives one endpoint through every route and checks
// each against what the receiver then does.
func TestWebhookLifecycle(t *testing.T) {
	e := newAgentEnv(t, agentOptions{configured: map[string]config.Endpoint{
		"pacspace": {Secrets: []string{configuredSecret}},
	}})
	ctx := context.Background()
	var secrets []string // every secret handed out: none may show up again

	var shop webhook
	e.call(t, "POST", "/v1/webhooks", `{"name":"shop","description":"Production webhook"}`).want(t, 201, &shop)
	require.Equal(t, "shop", shop.ID)
	require.Equal(t, "shop", shop.Name)
	require.Equal(t, e.url+"/webhooks/shop", shop.URL)
	require.Equal(t, "Production webhook", shop.Description)
	require.True(t, shop.Enabled && !shop.AllowLegacy && !shop.Configured, shop)
	require.True(t, secretFormat.MatchString(shop.Secret), shop.Secret)
	require.True(t, time.Since(shop.CreatedAt) < time.Minute, shop.CreatedAt)
	secrets = append(secrets, shop.Secret)

	t.Run("create", func(t *testing.T) {
		var gen webhook
		e.call(t, "POST", "/v1/webhooks", "").want(t, 201, &gen)
		require.True(t, regexp.MustCompile(`^wh_[0-9a-f]{16}$`).MatchString(gen.ID), gen.ID)
		require.True(t, secretFormat.MatchString(gen.Secret) && gen.Secret != shop.Secret, gen.Secret)
		secrets = append(secrets, gen.Secret)

		e.call(t, "POST", "/v1/webhooks", `{"name":"shop"}`).field(t, 409, "name")
		e.call(t, "POST", "/v1/webhooks", `{"name":"pacspace"}`).field(t, 409, "name")
		bad := e.call(t, "POST", "/v1/webhooks", `{"name":"Shop Two","description":"`+strings.Repeat("x", 501)+`"}`)
		bad.field(t, 400, "name")
		bad.field(t, 400, "description")
		e.call(t, "POST", "/v1/webhooks", `{"name":"x","secret":"mine"}`).field(t, 400, "secret")
		e.call(t, "POST", "/v1/webhooks", `{"allowLegacy":"yes"}`).field(t, 400, "allowLegacy")
	})

	t.Run("counts what the receiver accepted and refused", func(t *testing.T) {
		status, _ := e.deliver(t, "shop", shop.Secret, "evt_1", eventBody("1"))
		require.Equal(t, 200, status)
		status, reason := e.deliver(t, "shop", "whsec_wrong_0123456789", "evt_2", eventBody("2"))
		require.Equal(t, 401, status)
		require.Equal(t, receiver.ReasonBadSignature, reason)
		status, reason = e.deliver(t, "nope", shop.Secret, "evt_3", eventBody("3"))
		require.Equal(t, 404, status, reason)
		e.loaded(t)

		var got webhook
		e.call(t, "GET", "/v1/webhooks/shop", "").want(t, 200, &got)
		require.Equal(t, int64(1), got.SuccessCount)
		require.Equal(t, int64(1), got.FailureCount)
		require.Equal(t, map[string]int64{"bad_signature": 1}, got.Failures)
		require.True(t, got.LastTriggered != nil && time.Since(*got.LastTriggered) < time.Minute, got.LastTriggered)
		require.Equal(t, 1, got.ActiveSecrets)
		require.True(t, len(got.Secrets) == 1 && got.Secrets[0].ExpiresAt == nil, got.Secrets)
		require.Equal(t, "Production webhook", got.Description)

		// The counts outlive the process: flushed, a fresh reader sees them.
		require.NoError(t, e.counters.Flush(ctx))
		st, err := store.NewEndpointCounters(e.store).Stats(ctx, "shop")
		require.NoError(t, err)
		require.Equal(t, int64(1), st.Failures())
		require.Equal(t, int64(1), st.Accepted)
	})

	t.Run("list", func(t *testing.T) {
		var page webhookPage
		e.call(t, "GET", "/v1/webhooks", "").want(t, 200, &page)
		require.Equal(t, 3, page.Pagination.Total)
		require.Equal(t, 3, len(page.Webhooks))
		require.Equal(t, "pacspace", page.Webhooks[0].ID) // created first, at startup
		require.Equal(t, "shop", page.Webhooks[1].ID)
		require.True(t, page.Webhooks[0].Configured, page.Webhooks[0])
		require.Equal(t, int64(1), page.Webhooks[1].SuccessCount)

		e.call(t, "GET", "/v1/webhooks?limit=1&page=2", "").want(t, 200, &page)
		require.Equal(t, 1, len(page.Webhooks))
		require.Equal(t, "shop", page.Webhooks[0].ID)
		require.Equal(t, 3, page.Pagination.TotalPages)

		e.call(t, "GET", "/v1/webhooks?limit=0", "").field(t, 400, "limit")
		e.call(t, "GET", "/v1/webhooks?page=first", "").field(t, 400, "page")
	})

	t.Run("test event is stored and decided", func(t *testing.T) {
		var res testResult
		e.call(t, "POST", "/v1/webhooks/shop/test", "").want(t, 200, &res)
		require.True(t, res.Success, res)
		require.Equal(t, 200, res.HTTPStatus)
		require.Equal(t, "Test event sent successfully.", res.Message)
		require.True(t, strings.HasPrefix(res.EventID, "evt_test_"), res.EventID)

		var decided store.DecisionRecord
		eventually(t, "the test event's decision", func() bool {
			ds, err := e.store.Decisions(ctx, 0, 1000)
			require.NoError(t, err)
			for _, d := range ds {
				if d.EventID == res.EventID {
					decided = d
					return true
				}
			}
			return false
		})
		require.Equal(t, "test", decided.EventType)
		require.Equal(t, engine.StatusProcessed, decided.Status)
		require.Equal(t, "", decided.Error)
		require.Contains(t, string(decided.Input), `"endpoint":"shop"`)

		var got webhook
		e.call(t, "GET", "/v1/webhooks/shop", "").want(t, 200, &got)
		require.Equal(t, int64(2), got.SuccessCount)
	})

	t.Run("toggle", func(t *testing.T) {
		var tg struct {
			ID      string `json:"id"`
			Enabled bool   `json:"enabled"`
		}
		e.call(t, "POST", "/v1/webhooks/shop/toggle", "").want(t, 200, &tg)
		require.Equal(t, "shop", tg.ID)
		require.Equal(t, false, tg.Enabled)

		status, reason := e.deliver(t, "shop", shop.Secret, "evt_off", eventBody("off"))
		require.Equal(t, 403, status)
		require.Equal(t, receiver.ReasonDisabled, reason)
		var res testResult
		e.call(t, "POST", "/v1/webhooks/shop/test", "").want(t, 200, &res)
		require.Equal(t, false, res.Success)
		require.Equal(t, 403, res.HTTPStatus)
		require.Contains(t, res.Message, receiver.ReasonDisabled)

		e.call(t, "POST", "/v1/webhooks/shop/toggle", "").want(t, 200, &tg)
		require.Equal(t, true, tg.Enabled)
		status, _ = e.deliver(t, "shop", shop.Secret, "evt_on", eventBody("on"))
		require.Equal(t, 200, status)

		var got webhook
		e.call(t, "GET", "/v1/webhooks/shop", "").want(t, 200, &got)
		require.Equal(t, int64(2), got.Failures[receiver.ReasonDisabled])
	})

	t.Run("rotate with a grace period", func(t *testing.T) {
		e.call(t, "POST", "/v1/webhooks/shop/rotate", `{"gracePeriod":"soon"}`).field(t, 400, "gracePeriod")
		e.call(t, "POST", "/v1/webhooks/shop/rotate", `{"gracePeriod":"721h"}`).field(t, 400, "gracePeriod")
		e.call(t, "POST", "/v1/webhooks/shop/rotate", `{"gracePeriod":"-1s"}`).field(t, 400, "gracePeriod")
		e.call(t, "POST", "/v1/webhooks/pacspace/rotate", "").want(t, 409, nil)

		old := shop.Secret
		var rot rotated
		before := time.Now()
		e.call(t, "POST", "/v1/webhooks/shop/rotate", `{"gracePeriod":"1s"}`).want(t, 200, &rot)
		require.Equal(t, "shop", rot.ID)
		require.True(t, secretFormat.MatchString(rot.Secret) && rot.Secret != old, rot.Secret)
		require.Equal(t, 2, rot.ActiveSecrets)
		require.True(t, rot.PreviousSecretExpiresAt != nil, rot)
		expires := *rot.PreviousSecretExpiresAt
		require.True(t, expires.After(before.Add(time.Second-time.Millisecond)) && expires.Before(time.Now().Add(time.Second)), expires)
		secrets = append(secrets, rot.Secret)

		// During the grace period both secrets verify.
		status, _ := e.deliver(t, "shop", old, "evt_grace_old", eventBody("grace_old"))
		require.Equal(t, 200, status)
		status, _ = e.deliver(t, "shop", rot.Secret, "evt_grace_new", eventBody("grace_new"))
		require.Equal(t, 200, status)
		var got webhook
		e.call(t, "GET", "/v1/webhooks/shop", "").want(t, 200, &got)
		require.Equal(t, 2, got.ActiveSecrets)
		require.True(t, got.Secrets[0].ExpiresAt == nil && got.Secrets[1].ExpiresAt.Equal(expires), got.Secrets)

		// After it only the new one does, and the test event uses it.
		time.Sleep(time.Until(expires) + 50*time.Millisecond)
		status, reason := e.deliver(t, "shop", old, "evt_after_old", eventBody("after_old"))
		require.Equal(t, 401, status)
		require.Equal(t, receiver.ReasonBadSignature, reason)
		status, _ = e.deliver(t, "shop", rot.Secret, "evt_after_new", eventBody("after_new"))
		require.Equal(t, 200, status)
		var res testResult
		e.call(t, "POST", "/v1/webhooks/shop/test", "").want(t, 200, &res)
		require.True(t, res.Success, res)
		e.call(t, "GET", "/v1/webhooks/shop", "").want(t, 200, &got)
		require.Equal(t, 1, got.ActiveSecrets)

		// With no body the grace period is a day.
		e.call(t, "POST", "/v1/webhooks/shop/rotate", "").want(t, 200, &rot)
		require.True(t, time.Until(*rot.PreviousSecretExpiresAt) > 23*time.Hour, rot.PreviousSecretExpiresAt)
		secrets = append(secrets, rot.Secret)
	})

	t.Run("delete", func(t *testing.T) {
		conflict := e.call(t, "DELETE", "/v1/webhooks/pacspace", "")
		require.Equal(t, 409, conflict.status)
		require.Contains(t, conflict.Error.Message, "config file")

		var del struct {
			ID      string `json:"id"`
			Deleted bool   `json:"deleted"`
		}
		e.call(t, "DELETE", "/v1/webhooks/shop", "").want(t, 200, &del)
		require.Equal(t, "shop", del.ID)
		require.True(t, del.Deleted)
		status, reason := e.deliver(t, "shop", newest(secrets), "evt_gone", eventBody("gone"))
		require.Equal(t, 404, status)
		require.Equal(t, receiver.ReasonUnknownEndpoint, reason)
		for _, r := range []struct{ method, path string }{
			{"GET", "/v1/webhooks/shop"}, {"DELETE", "/v1/webhooks/shop"}, {"POST", "/v1/webhooks/shop/toggle"},
			{"POST", "/v1/webhooks/shop/test"}, {"POST", "/v1/webhooks/shop/rotate"},
		} {
			a := e.call(t, r.method, r.path, "")
			require.Equal(t, 404, a.status, r)
			require.Equal(t, `no webhook endpoint "shop"`, a.Error.Message)
		}
		// Its events stay.
		e.loaded(t)
		events, err := e.store.InboxStats(ctx)
		require.NoError(t, err)
		require.True(t, events.Events >= 6, events)
	})

	t.Run("secrets are shown once", func(t *testing.T) {
		list := e.call(t, "GET", "/v1/webhooks?limit=500", "").want(t, 200, nil)
		logs := e.logs.String()
		require.Contains(t, logs, "webhook secret rotated") // the log is captured
		for _, s := range secrets {
			require.NotContains(t, list.raw, s)
			require.NotContains(t, logs, s)
		}
	})
}

// newest returns the newest secret handed out.
func newest(secrets []string) string { return secrets[len(secrets)-1] }

// TestWebhooksNeedToken: every webhook and chain route refuses a request
// without a valid token, and changes nothing.
func TestWebhooksNeedToken(t *testing.T) {
	e := newAgentEnv(t, agentOptions{configured: map[string]config.Endpoint{"pacspace": {}}})
	for _, r := range []struct{ method, path string }{
		{"POST", "/v1/webhooks"}, {"GET", "/v1/webhooks"}, {"GET", "/v1/webhooks/pacspace"},
		{"DELETE", "/v1/webhooks/pacspace"}, {"POST", "/v1/webhooks/pacspace/toggle"},
		{"POST", "/v1/webhooks/pacspace/test"}, {"POST", "/v1/webhooks/pacspace/rotate"},
		{"GET", "/v1/chains"}, {"GET", "/v1/chains/cus_1"},
	} {
		for _, auth := range []string{"", "Bearer arb_wrong_token_0123456789"} {
			a := e.callAs(t, auth, r.method, r.path, "")
			require.Equal(t, 401, a.status, r, auth)
			require.Equal(t, "missing or invalid bearer token", a.Error.Message)
		}
	}
	ep, err := e.store.Endpoint(context.Background(), "pacspace")
	require.NoError(t, err)
	require.True(t, ep.Enabled, "a refused toggle changed nothing")
	stats, err := e.store.InboxStats(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(0), stats.Events)
}
