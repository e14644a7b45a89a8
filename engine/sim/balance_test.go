package sim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/pacspace"
	"github.com/arbiter-dev/arbiter/engine/sim"
	"github.com/arbiter-dev/arbiter/engine/testing/fakeclock"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// balanceBody is seed 003's envelope, kept raw to check its exact members.
type balanceBody struct {
	StatusCode int                        `json:"statusCode"`
	Data       json.RawMessage            `json:"data"`
	Message    string                     `json:"message"`
	Error      string                     `json:"error"`
	Fields     map[string]string          `json:"fields"`
	Members    map[string]json.RawMessage `json:"-"`
}

// balance calls the balance-api dialect with a JWT, or with opts instead.
func (d *dashboard) balance(t *testing.T, method, path string, body any, opts ...option) balanceBody {
	t.Helper()
	if len(opts) == 0 {
		jwt, err := d.IssueJWT()
		require.NoError(t, err)
		opts = []option{bearer(jwt)}
	}
	resp, raw := d.send(t, method, path, body, opts...)
	var b balanceBody
	require.NoError(t, json.Unmarshal(raw, &b), string(raw))
	require.NoError(t, json.Unmarshal(raw, &b.Members), string(raw))
	require.Equal(t, resp.StatusCode, b.StatusCode, "the envelope repeats the status: ", string(raw))
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	return b
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

var jsTimeRE = regexp.MustCompile(`^"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$`)

// TestBalanceAPIDialect walks seed 003's six routes under /balance-api, as
// its documentation shows them: statusCode envelopes, active and
// lastTriggeredAt, the list as a plain array, and sha256= signatures.
func TestBalanceAPIDialect(t *testing.T) {
	rs := newReceiver(t, ok)
	d := newDashboard(t, sim.Config{})
	const base = "/balance-api/dashboard/webhooks"

	b := d.balance(t, http.MethodPost, base, map[string]any{
		"url": rs.URL + "/webhooks/pacspace", "events": []string{"verification.completed", "verification.failed"},
		"description": "Production webhook"})
	require.Equal(t, http.StatusCreated, b.StatusCode)
	require.Equal(t, []string{"data", "statusCode"}, keys(b.Members))
	created := decode[map[string]json.RawMessage](t, b.Data)
	require.Equal(t, []string{"active", "createdAt", "description", "events", "id", "secret", "url"}, keys(created))
	require.Equal(t, "true", string(created["active"]))
	require.True(t, jsTimeRE.Match(created["createdAt"]), string(created["createdAt"]))
	require.Equal(t, `["verification.completed","verification.failed"]`, string(created["events"]))
	var id, secret string
	require.NoError(t, json.Unmarshal(created["id"], &id))
	require.NoError(t, json.Unmarshal(created["secret"], &secret))
	wh, err := d.Webhook(id)
	require.NoError(t, err)
	require.Equal(t, sim.SchemeSHA256, wh.Scheme, "seed 003 documents sha256= signatures")

	// Listed as a plain array; never triggered, so no lastTriggeredAt.
	b = d.balance(t, http.MethodGet, base, nil)
	require.Equal(t, http.StatusOK, b.StatusCode)
	list := decode[[]map[string]json.RawMessage](t, b.Data)
	require.Equal(t, 1, len(list))
	require.Equal(t, []string{"active", "createdAt", "description", "events", "id", "url"}, keys(list[0]))

	// A delivery triggers it; get shows when, and the signature is sha256=.
	require.NoError(t, d.Publish(context.Background(), sim.Event{ID: "evt_1", Type: "verification.completed",
		Body: []byte(`{"event":"verification.completed","data":{}}`)}))
	drain(t, d.Sim)
	r := rs.requests()[0]
	scheme, err := pacspace.Verifier{AllowLegacy: true}.Verify(r.header.Get(pacspace.HeaderSignature), "", r.body, []string{secret}, time.Now())
	require.NoError(t, err)
	require.Equal(t, engine.SchemeLegacy, scheme)
	b = d.balance(t, http.MethodGet, base+"/"+id, nil)
	got := decode[map[string]json.RawMessage](t, b.Data)
	require.Equal(t, []string{"active", "createdAt", "description", "events", "id", "lastTriggeredAt", "url"}, keys(got))
	require.True(t, jsTimeRE.Match(got["lastTriggeredAt"]), string(got["lastTriggeredAt"]))

	for _, want := range []struct {
		active  bool
		message string
	}{{false, "Webhook has been disabled."}, {true, "Webhook has been enabled."}} {
		b = d.balance(t, http.MethodPost, base+"/"+id+"/toggle", nil)
		require.Equal(t, http.StatusOK, b.StatusCode)
		require.Equal(t, map[string]any{"id": id, "active": want.active, "message": want.message}, decode[map[string]any](t, b.Data))
	}

	b = d.balance(t, http.MethodPost, base+"/"+id+"/test", nil)
	require.Equal(t, sim.TestResult{Success: true, HTTPStatus: 200, Message: "Test event sent successfully."},
		decode[sim.TestResult](t, b.Data))

	b = d.balance(t, http.MethodDelete, base+"/"+id, nil)
	require.Equal(t, []string{"message", "statusCode"}, keys(b.Members))
	require.Equal(t, "Webhook deleted successfully.", b.Message)

	// Errors, in the NestJS shape the envelope suggests.
	b = d.balance(t, http.MethodGet, base+"/"+id, nil)
	require.Equal(t, http.StatusNotFound, b.StatusCode)
	require.Equal(t, "Not Found", b.Error)
	b = d.balance(t, http.MethodPost, base, map[string]any{"url": "ftp://x"})
	require.Equal(t, http.StatusBadRequest, b.StatusCode)
	require.Equal(t, "Bad Request", b.Error)
	require.True(t, b.Fields["url"] != "", b.Fields)
	b = d.balance(t, http.MethodPost, base, map[string]any{"url": rs.URL, "enabled": true})
	require.Equal(t, http.StatusBadRequest, b.StatusCode)
	require.Equal(t, "unknown field", b.Fields["enabled"])
	b = d.balance(t, http.MethodGet, "/balance-api/dashboard/webhooks/deliveries/export", nil)
	require.Equal(t, http.StatusNotFound, b.StatusCode, "seed 003 has no delivery history")
}

func TestBalanceAPIAuth(t *testing.T) {
	now := fakeclock.At(time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC))
	d := newDashboard(t, sim.Config{Now: now.Now})
	const path = "/balance-api/dashboard/webhooks"
	good, err := d.IssueJWT()
	require.NoError(t, err)
	other, err := sim.IssueJWT("another-token", now.Now())
	require.NoError(t, err)
	unsigned, err := jwt.NewBuilder().Issuer("arbiter-sim").Expiration(now.Now().Add(time.Hour)).Build()
	require.NoError(t, err)
	none, err := jwt.Sign(unsigned, jwt.WithInsecureNoSignature())
	require.NoError(t, err)
	handmade, err := jwt.Sign(unsigned, jwt.WithKey(jwa.HS256(), []byte(token)))
	require.NoError(t, err)
	elsewhere, err := jwt.NewBuilder().Issuer("someone-else").Expiration(now.Now().Add(time.Hour)).Build()
	require.NoError(t, err)
	otherIssuer, err := jwt.Sign(elsewhere, jwt.WithKey(jwa.HS256(), []byte(token)))
	require.NoError(t, err)

	resp, _ := d.send(t, http.MethodPost, "/dashboard/login", map[string]string{"token": token})
	session := resp.Cookies()[0]
	for name, opt := range map[string]option{
		"nothing":                  header("X-Nothing", "1"),
		"the plain token":          bearer(token),
		"signed with another key":  bearer(other),
		"alg none":                 bearer(string(none)),
		"another issuer":           bearer(string(otherIssuer)),
		"seed 002's session":       withCookie(session),
		"basic":                    header("Authorization", "Basic "+good),
		"a JWT cut short":          bearer(good[:len(good)-2]),
		"not a JWT at all":         bearer("eyJ.x.y"),
		"lower-case bearer prefix": header("Authorization", "bearer "+good),
	} {
		b := d.balance(t, http.MethodGet, path, nil, opt)
		require.Equal(t, http.StatusUnauthorized, b.StatusCode, name)
		require.Equal(t, "Unauthorized", b.Message, name)
	}
	require.Equal(t, http.StatusOK, d.balance(t, http.MethodGet, path, nil, bearer(good)).StatusCode)
	require.Equal(t, http.StatusOK, d.balance(t, http.MethodGet, path, nil, bearer(string(handmade))).StatusCode,
		"a JWT made elsewhere with the token, as arbiter sim jwt does")

	now.Set(now.Now().Add(25 * time.Hour))
	require.Equal(t, http.StatusUnauthorized, d.balance(t, http.MethodGet, path, nil, bearer(good)).StatusCode, "expired")

	// Without a token nothing is accepted, and nothing can be issued.
	_, err = sim.New(sim.Config{}).IssueJWT()
	require.True(t, err != nil)
}

// TestDialectSelection: both dialects serve the same webhooks; the
// handler's dialect is the one at /dashboard, and each is also under its
// prefix.
func TestDialectSelection(t *testing.T) {
	s := sim.New(sim.Config{Token: token})
	start(t, s)
	jwt, err := s.IssueJWT()
	require.NoError(t, err)
	for _, tc := range []struct {
		handler http.Handler
		auth    option // what /dashboard takes
		plain   string // and the envelope it answers with
	}{
		{s.Handler(), bearer(token), `"success":true`},
		{s.DialectHandler(sim.DialectApp), bearer(token), `"success":true`},
		{s.DialectHandler(sim.DialectBalanceAPI), bearer(jwt), `"statusCode":200`},
	} {
		srv := httptest.NewServer(tc.handler)
		d := &dashboard{Sim: s, url: srv.URL}
		_, raw := d.send(t, http.MethodGet, "/dashboard/webhooks", nil, tc.auth)
		require.Contains(t, string(raw), tc.plain)
		_, raw = d.send(t, http.MethodGet, "/app/dashboard/webhooks", nil, bearer(token))
		require.Contains(t, string(raw), `"success":true`)
		_, raw = d.send(t, http.MethodGet, "/balance-api/dashboard/webhooks", nil, bearer(jwt))
		require.Contains(t, string(raw), `"statusCode":200`)

		// Seed 002's session works under its prefix: the cookie's path
		// follows it.
		resp, _ := d.send(t, http.MethodPost, "/app/dashboard/login", map[string]string{"token": token})
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "/app/dashboard", resp.Cookies()[0].Path)
		srv.Close()
	}
	created := sim.WebhookSpec{URL: "http://127.0.0.1:9/hook"}
	_, _, err = s.CreateWebhook(created)
	require.NoError(t, err)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	d := &dashboard{Sim: s, url: srv.URL}
	_, app := d.send(t, http.MethodGet, "/app/dashboard/webhooks", nil, bearer(token))
	_, bal := d.send(t, http.MethodGet, "/balance-api/dashboard/webhooks", nil, bearer(jwt))
	require.Contains(t, string(app), `"enabled":true`)
	require.Contains(t, string(bal), `"active":true`)
	require.True(t, strings.Count(string(app), "webhook_") == 1 && strings.Count(string(bal), "webhook_") == 1)

	_, err = sim.ParseDialect("balance")
	require.True(t, err != nil)
	dl, err := sim.ParseDialect("balance-api")
	require.NoError(t, err)
	require.Equal(t, sim.DialectBalanceAPI, dl)
}
