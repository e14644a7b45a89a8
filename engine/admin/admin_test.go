package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/admin"
	"github.com/arbiter-dev/arbiter/engine/policy"
	"github.com/arbiter-dev/arbiter/engine/store"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
	"github.com/arbiter-dev/arbiter/policies"
)

type throttles []store.Throttle

func (t throttles) Throttles() []store.Throttle { return t }

const (
	token         = "arb_admin_test_token_0123456789"
	readOnlyToken = "arb_read_only_test_token_0123456789"
)

func TestAdmin(t *testing.T) {
	pe, err := policy.New(context.Background(), policy.Config{Source: policy.Source{FS: policies.FS}})
	require.NoError(t, err)
	since := time.Date(2026, 4, 10, 12, 0, 0, 0, time.UTC)
	api := admin.New(admin.Config{Tokens: []string{token}, ReadOnlyTokens: []string{readOnlyToken}, Policies: pe,
		Throttles: throttles{{Scope: "pacspace", Active: true, Since: since, Reason: "approaching_limit"}}})
	mux := http.NewServeMux()
	for _, r := range admin.Routes() {
		mux.Handle(r, api)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	tests := []struct {
		name, method, path, auth string
		status                   int
		check                    func(t *testing.T, body map[string]any)
	}{
		{"no token", "GET", "/v1/throttle", "", 401, func(t *testing.T, b map[string]any) {
			require.Equal(t, false, b["success"])
			require.Equal(t, "missing or invalid bearer token", b["error"].(map[string]any)["message"])
		}},
		{"wrong token", "GET", "/v1/throttle", "Bearer arb_wrong_token_0123456789", 401, nil},
		{"wrong scheme", "GET", "/v1/throttle", "Basic " + token, 401, nil},
		{"throttle", "GET", "/v1/throttle", "Bearer " + token, 200, func(t *testing.T, b map[string]any) {
			d := b["data"].(map[string]any)
			require.Equal(t, true, d["active"])
			scope := d["scopes"].([]any)[0].(map[string]any)
			require.Equal(t, "pacspace", scope["scope"])
			require.Equal(t, "2026-04-10T12:00:00Z", scope["since"])
		}},
		{"policies", "GET", "/v1/policies", "Bearer " + token, 200, func(t *testing.T, b map[string]any) {
			d := b["data"].(map[string]any)
			require.Equal(t, pe.Set().Revision(), d["revision"])
			require.True(t, d["tests"].(map[string]any)["passed"].(float64) > 0)
		}},
		{"unknown route", "GET", "/v1/nope", "Bearer " + token, 404, func(t *testing.T, b map[string]any) {
			require.Equal(t, false, b["success"])
		}},
		{"reload", "POST", "/-/reload", "Bearer " + token, 200, nil},
		{"reload without token", "POST", "/-/reload", "", 401, nil},
		{"read-only reads", "GET", "/v1/throttle", "Bearer " + readOnlyToken, 200, nil},
		{"read-only may not reload", "POST", "/-/reload", "Bearer " + readOnlyToken, 403, func(t *testing.T, b map[string]any) {
			require.Contains(t, b["error"].(map[string]any)["message"].(string), "read-only")
		}},
		{"read-only may not retry", "POST", "/v1/deliveries/d1/retry", "Bearer " + readOnlyToken, 403, nil},
		{"read-only may not delete", "DELETE", "/v1/webhooks/pacspace", "Bearer " + readOnlyToken, 403, nil},
		{"read-only may not profile", "GET", "/debug/pprof/", "Bearer " + readOnlyToken, 403, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tc.status, resp.StatusCode)
			var body map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
}
