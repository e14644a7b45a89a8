package agent_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/agent"
	"github.com/arbiter-dev/arbiter/engine/loadgen"
	"github.com/arbiter-dev/arbiter/engine/testing/bundletest"
	"github.com/arbiter-dev/arbiter/engine/testing/capture"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// TestPolicyBundle runs an agent on the default policy set published as a
// signed bundle on a loopback server: its decisions record the bundle's
// revision, the server going down shows in /v1/policies and /metrics while
// the revision stays, and a restart while it is down starts on the last
// good bundle kept in the data directory.
func TestPolicyBundle(t *testing.T) {
	requireBundled(t)
	key, _ := bundletest.Keys(t)
	srv := bundletest.NewServer(t)
	srv.Serve(bundletest.Build(t, "../../policies", "prod-2026.04.10", key.Private))
	keyFile := filepath.Join(t.TempDir(), "bundle.pub.pem")
	require.NoError(t, os.WriteFile(keyFile, []byte(key.Public), 0o600))

	cfg := testConfig(t)
	cfg.Policy.BundleURL = srv.URL + "/bundles/arbiter.tar.gz"
	cfg.Policy.BundleVerificationKeyFile = keyFile
	cfg.Policy.BundlePollInterval = 20 * time.Millisecond
	var logs capture.Buffer
	a, stop := start(t, cfg, hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug}))

	rep, err := loadgen.Run(context.Background(), loadgen.Config{URL: "http://" + a.Addr().String() + "/webhooks/pacspace",
		Secret: testSecret, Scheme: engine.SchemeV1, Shape: loadgen.ShapeBatch, Connections: 1, Count: 1})
	require.NoError(t, err)
	require.Equal(t, int64(1), rep.OK)
	var events struct {
		Events []struct {
			Status   string `json:"status"`
			Revision string `json:"revision"`
		} `json:"events"`
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		adminGet(t, a, "/v1/events", &events)
		if len(events.Events) == 1 && events.Events[0].Revision != "" {
			break
		}
		require.True(t, time.Now().Before(deadline), "the event was not decided; log:\n", logs.String())
	}
	require.Equal(t, "prod-2026.04.10", events.Events[0].Revision, "the bundle's revision is recorded with the decision")

	type status struct {
		Revision  string `json:"revision"`
		LastError string `json:"lastError"`
		Bundle    struct {
			URL               string `json:"url"`
			ETag              string `json:"etag"`
			LastFetch         string `json:"lastFetch"`
			StartedOnLastGood bool   `json:"startedOnLastGood"`
		} `json:"bundle"`
	}
	var st status
	adminGet(t, a, "/v1/policies", &st)
	require.Equal(t, "prod-2026.04.10", st.Revision)
	require.Equal(t, cfg.Policy.BundleURL, st.Bundle.URL)
	require.Equal(t, srv.ETag(), st.Bundle.ETag)
	n := srv.Requests()
	for deadline := time.Now().Add(time.Minute); srv.Requests() < n+2; time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the agent does not poll")
	}
	require.Equal(t, srv.ETag(), srv.LastIfNoneMatch(), "polls send the active bundle's ETag")

	srv.SetDown(true)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		adminGet(t, a, "/v1/policies", &st)
		if st.LastError != "" {
			break
		}
		require.True(t, time.Now().Before(deadline), "the server being down does not show")
	}
	require.Contains(t, st.LastError, "HTTP 503")
	require.Equal(t, "prod-2026.04.10", st.Revision, "the active revision stays")
	metrics := get(t, "http://"+a.Addr().String()+"/metrics")
	require.Contains(t, metrics, `arbiter_policy_bundle_fetches_total{result="error"}`)
	require.Contains(t, metrics, `arbiter_policy_active_revision_info{revision="prod-2026.04.10"} 1`)
	require.Contains(t, metrics, "arbiter_policy_last_reload_successful 0")
	require.Contains(t, logs.String(), "previous revision stays active")
	stop()

	// Restarted while the server is down: it starts on the last good bundle.
	a, stop = start(t, cfg, hclog.New(&hclog.LoggerOptions{Output: &logs}))
	defer stop()
	adminGet(t, a, "/v1/policies", &st)
	require.Equal(t, "prod-2026.04.10", st.Revision)
	require.True(t, st.Bundle.StartedOnLastGood)
	require.Contains(t, st.LastError, "HTTP 503")

	// Without one, it waits for the server a while, then does not start.
	cfg.DataDir = t.TempDir()
	cfg.Policy.BundleStartTimeout = 300 * time.Millisecond
	_, err = agent.New(context.Background(), cfg, agent.Options{})
	require.True(t, err != nil, "started without a policy set")
	require.Contains(t, err.Error(), "no last good bundle to start on")
	require.Contains(t, err.Error(), "did not answer within 300ms")
}

// adminGet decodes the data of an admin API answer into v.
func adminGet(t *testing.T, a *agent.Agent, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+a.Addr().String()+path, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, path, string(b))
	var env struct{ Data json.RawMessage }
	require.NoError(t, json.Unmarshal(b, &env))
	require.NoError(t, json.Unmarshal(env.Data, v), strings.TrimSpace(string(b)))
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}
