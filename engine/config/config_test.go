package config_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/arbiter-dev/arbiter/engine/config"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

func TestLoad(t *testing.T) {
	file := filepath.Join(t.TempDir(), "arbiter.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
listen: ":4000"
log: {level: debug}
endpoints:
  pacspace:
    secrets: [whsec_file_secret_0123456789]
  partner:
    secrets: [whsec_partner_secret_0123456]
    refuse_legacy: true
policy:
  data: {thresholds: {drift: 0.5}}
plugins:
  - name: slack
    path: bundled:slack
    allow_hosts: [hooks.slack.com]
    secrets: {slack_url: "https://hooks.slack.com/services/x"}
    config: {webhook_url_secret: slack_url}
    timeout: 5s
`), 0o600))

	tests := []struct {
		name  string
		src   config.Sources
		flags []string
		check func(t *testing.T, c config.Config)
	}{
		{"defaults", config.Sources{}, nil, func(t *testing.T, c config.Config) {
			require.Equal(t, config.Default(), c)
			require.Equal(t, ":3000", c.Listen)
			require.Equal(t, 5*time.Minute, c.Receiver.Tolerance)
			require.Equal(t, int64(1<<20), c.Receiver.MaxBodyBytes)
			require.Equal(t, []config.Plugin{{Name: "console", Path: "bundled:console"}}, c.Plugins)
		}},
		{"seed environment", config.Sources{Environ: []string{"PORT=8080", "PACSPACE_WEBHOOK_SECRET=whsec_seed_secret_0123456789"}}, nil,
			func(t *testing.T, c config.Config) {
				require.Equal(t, ":8080", c.Listen)
				require.Equal(t, []string{"whsec_seed_secret_0123456789"}, c.Endpoints["pacspace"].Secrets)
			}},
		{"ARBITER_ variables", config.Sources{Environ: []string{"ARBITER_DATA_DIR=/var/lib/arbiter", "ARBITER_LOG_LEVEL=warn",
			"ARBITER_RECEIVER_TOLERANCE=90s", "ARBITER_ADMIN_TOKEN=arb_token_0123456789abcdef", "ARBITER_STORE_SYNC=normal"}}, nil,
			func(t *testing.T, c config.Config) {
				require.Equal(t, "/var/lib/arbiter", c.DataDir)
				require.Equal(t, "warn", c.Log.Level)
				require.Equal(t, 90*time.Second, c.Receiver.Tolerance)
				require.Equal(t, []string{"arb_token_0123456789abcdef"}, c.Admin.Tokens)
				require.Equal(t, "normal", c.Store.Sync)
			}},
		{"file", config.Sources{File: file}, nil, func(t *testing.T, c config.Config) {
			require.Equal(t, ":4000", c.Listen)
			require.Equal(t, "debug", c.Log.Level)
			require.Equal(t, "info", config.Default().Log.Level)
			require.Equal(t, true, c.Endpoints["partner"].RefuseLegacy)
			require.Equal(t, false, c.Endpoints["partner"].Disabled)
			require.Equal(t, map[string]any{"thresholds": map[string]any{"drift": 0.5}}, c.Policy.Data)
			require.Equal(t, 1, len(c.Plugins))
			require.Equal(t, "slack", c.Plugins[0].Name)
			require.Equal(t, 5*time.Second, c.Plugins[0].Timeout)
			require.Equal(t, map[string]any{"webhook_url_secret": "slack_url"}, c.Plugins[0].Config)
		}},
		{"precedence: flags over env over PORT over file", config.Sources{File: file, Environ: []string{"PORT=5000", "ARBITER_LISTEN=:6000"}},
			[]string{"--listen=:7000", "--policy-dir=policies"}, func(t *testing.T, c config.Config) {
				require.Equal(t, ":7000", c.Listen)
				require.Equal(t, "policies", c.Policy.Dir)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src
			if tc.flags != nil {
				fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
				fs.String("listen", "", "")
				fs.String("policy-dir", "", "")
				fs.String("unrelated", "", "")
				require.NoError(t, fs.Parse(append(tc.flags, "--unrelated=x")))
				src.Flags = fs
			}
			c, err := config.Load(src)
			require.NoError(t, err)
			tc.check(t, c)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	write := func(body string) string {
		f := filepath.Join(t.TempDir(), "arbiter.yaml")
		require.NoError(t, os.WriteFile(f, []byte(body), 0o600))
		return f
	}
	tests := []struct {
		name string
		src  config.Sources
		want string
	}{
		{"unknown env", config.Sources{Environ: []string{"ARBITER_LISTNE=:1"}}, "ARBITER_LISTNE"},
		{"unknown file key", config.Sources{File: write("listne: ':1'\n")}, "listne"},
		{"unknown nested key", config.Sources{File: write("receiver: {tolerence: 1m}\n")}, "tolerence"},
		{"bad duration", config.Sources{Environ: []string{"ARBITER_WORKER_GRACE=later"}}, "grace"},
		{"bad level", config.Sources{Environ: []string{"ARBITER_LOG_LEVEL=loud"}}, "log.level"},
		{"bad sync", config.Sources{Environ: []string{"ARBITER_STORE_SYNC=sometimes"}}, "store.sync"},
		{"short secret", config.Sources{Environ: []string{"PACSPACE_WEBHOOK_SECRET=short"}}, "shorter than 16"},
		{"bad endpoint name", config.Sources{File: write("endpoints: {'Bad Name': {}}\n")}, "endpoints.Bad Name"},
		{"missing file", config.Sources{File: "/nonexistent/arbiter.yaml"}, "no such file"},
		{"unknown plugin key", config.Sources{File: write("plugins: [{name: x, path: x.wasm, alow_hosts: [a]}]\n")}, "alow_hosts"},
		{"plugin twice", config.Sources{File: write("plugins: [{name: x, path: x.wasm}, {name: x, path: y.wasm}]\n")}, "used twice"},
		{"unsigned bundle", config.Sources{Environ: []string{"ARBITER_POLICY_BUNDLE_URL=http://127.0.0.1:8181/b.tar.gz"}}, "bundles must be signed"},
		{"bundle and dir", config.Sources{File: write("policy: {dir: policies, bundle_url: 'http://127.0.0.1/b.tar.gz', bundle_verification_key_file: k.pem}\n")}, "dir or bundle_url, not both"},
		{"two bundle keys", config.Sources{File: write("policy: {bundle_url: 'http://127.0.0.1/b.tar.gz', bundle_verification_key: k, bundle_verification_key_file: k.pem}\n")}, "set one of bundle_verification_key"},
		{"short read-only token", config.Sources{File: write("admin: {read_only_tokens: [short]}\n")}, "admin.read_only_tokens[0]: shorter"},
		{"token of both kinds", config.Sources{File: write("admin: {tokens: [arb_both_0123456789], read_only_tokens: [arb_both_0123456789]}\n")},
			"also in admin.tokens"},
		{"base path without slash", config.Sources{File: write("console: {base_path: arbiter}\n")}, "console.base_path"},
		{"base path with trailing slash", config.Sources{File: write("console: {base_path: /arbiter/}\n")}, "console.base_path"},
		{"session max below idle", config.Sources{File: write("console: {session_idle: 2h, session_max: 1h}\n")}, "console.session_max"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load(tc.src)
			require.True(t, err != nil, "expected an error")
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestNotConfigEnvironment: the variables other commands read (the admin
// client's ARBITER_SERVER, the sim's token) do not stop arbiter serve, and
// any other unknown ARBITER_ variable still does.
func TestNotConfigEnvironment(t *testing.T) {
	env := []string{"ARBITER_SERVER=http://127.0.0.1:3000", "ARBITER_SIM_TOKEN=simtok_x", "ARBITER_LOG_LEVEL=debug"}
	c, err := config.Load(config.Sources{Environ: env, NotConfig: []string{"ARBITER_SERVER", "ARBITER_SIM_TOKEN"}})
	require.NoError(t, err)
	require.Equal(t, "debug", c.Log.Level)
	_, err = config.Load(config.Sources{Environ: env, NotConfig: []string{"ARBITER_SERVER"}})
	require.True(t, err != nil)
	require.Contains(t, err.Error(), "unknown environment variables ARBITER_SIM_TOKEN")
}
