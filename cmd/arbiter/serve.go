package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/arbiter-dev/arbiter/engine/agent"
	"github.com/arbiter-dev/arbiter/engine/config"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the agent: receive webhooks, decide, deliver",
		Long: `Run the agent.

Configuration is read, later sources winning, from built-in defaults, the YAML
file named by --config or ARBITER_CONFIG, the seed agent's PORT and
PACSPACE_WEBHOOK_SECRET, ARBITER_* variables (ARBITER_DATA_DIR is data_dir,
ARBITER_LOG_LEVEL is log.level), and flags. Unknown keys are errors.

With no webhook secret configured, the first run generates one for the
"pacspace" endpoint, prints it once, and keeps it in the data directory; the
same goes for the admin API's bearer token (admin.tokens,
ARBITER_ADMIN_TOKEN).

With policy.bundle_url (--policy-bundle-url) the policies come from a
signed OPA bundle, as opa build --signing-key makes it, polled every
policy.bundle_poll_interval (1m) with its ETag. A bundle that does not
verify with the configured key or fails its own tests is refused and the
active revision stays. The last good bundle is kept in the data directory:
a start while the server is down, or serving a bundle that is refused,
starts on it; a first start without one waits up to
policy.bundle_start_timeout (30s) for the server, then fails.

The operator console is served at /ui/ beside the admin API: sign in with an
admin token, or one from admin.read_only_tokens to look without changing
anything. Behind a reverse proxy that adds a path prefix, set
console.base_path.

SIGTERM or SIGINT stops gracefully; SIGHUP reloads the policies (for a
bundle: asks the server now).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd.Flags())
			if err != nil {
				return err
			}
			log := newLogger(cfg)
			a, err := agent.New(cmd.Context(), cfg, agent.Options{Logger: log, Announce: os.Stdout})
			if err != nil {
				return err
			}
			return a.Run(cmd.Context())
		},
	}
	addConfigFlags(cmd.Flags())
	return cmd
}

// addConfigFlags declares the flags that override config keys; a flag named
// data-dir sets data_dir.
func addConfigFlags(fs *pflag.FlagSet) {
	def := config.Default()
	fs.String("config", "", "YAML configuration file (env ARBITER_CONFIG)")
	fs.String("listen", def.Listen, "address for webhooks, health and metrics (env PORT or ARBITER_LISTEN)")
	fs.String("data-dir", def.DataDir, "directory for the journal, the database and caches (env ARBITER_DATA_DIR)")
	fs.String("log-level", def.Log.Level, "trace, debug, info, warn or error")
	fs.String("log-format", def.Log.Format, "text or json")
	fs.String("policy-dir", "", "policy directory to load, watch and hot-reload (default: the built-in set)")
	fs.String("policy-bundle-url", "", "signed OPA bundle to load and poll instead of a directory (env ARBITER_POLICY_BUNDLE_URL)")
	fs.String("policy-bundle-verification-key-file", "", "PEM public key (or HMAC secret) the bundle's signature must verify with")
}

func loadConfig(fs *pflag.FlagSet) (config.Config, error) {
	file, _ := fs.GetString("config")
	if file == "" {
		file = os.Getenv(config.EnvConfigFile)
	}
	// Only flags the user set override; defaults come from config.Default.
	changed := pflag.NewFlagSet("changed", pflag.ContinueOnError)
	fs.Visit(func(f *pflag.Flag) {
		if f.Name != "config" {
			changed.AddFlag(f)
		}
	})
	cfg, err := config.Load(config.Sources{File: file, Environ: os.Environ(), Flags: changed,
		NotConfig: []string{envServer, envOutput, envSimToken}})
	if err != nil {
		return cfg, fmt.Errorf("%w (see arbiter serve --help)", err)
	}
	return cfg, nil
}

func newLogger(cfg config.Config) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "arbiter",
		Level:      hclog.LevelFromString(cfg.Log.Level),
		JSONFormat: cfg.Log.Format == "json",
		Output:     os.Stderr,
	})
}
