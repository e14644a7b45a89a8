package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/loadgen"
)

// defaultLoadDuration applies when neither --duration nor --count is given.
const defaultLoadDuration = 10 * time.Second

func newLoadCmd() *cobra.Command {
	var (
		cfg      loadgen.Config
		secret   string
		scheme   string
		shape    string
		asJSON   bool
		jsonFile string
		quietly  bool
	)
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Send signed events at a webhook receiver and report throughput and latency",
		Long: `Act as PacSpace under load: send signed events over --connections keep-alive
HTTP/1.1 connections, for --duration or --count (whichever ends first; 10s
when neither is given), as fast as the receiver answers or at --rate events
per second, and report 2xx events per second, other statuses, errors and
latency quantiles. --warmup sends load first, on the same connections and
without a pause, and leaves it out of the report.

Every event has its own X-Event-ID and its own body (batch shape: the batch
number, delta shape: the reference id), so deduplication never short-circuits
it. Bodies are built and signed before the clock starts (up to 100000; v1
requests whose timestamp grew older than 2 minutes are signed again when sent).

Legacy batch-shaped bodies contain only strings and integers, so they also
verify on the seed Express agent, which signs JSON.stringify(req.body).

Exits with status 1 if any request went without a 2xx response.`,
		Example: `  arbiter load --secret "$PACSPACE_WEBHOOK_SECRET" --duration 3s
  arbiter load --url http://127.0.0.1:3000/webhooks/pacspace --scheme legacy --shape batch --connections 32 --count 2000 --json
  arbiter load --count 4000 --rate 2000 --shape delta`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.Secret, err = webhookSecret(secret); err != nil {
				return fmt.Errorf("load: %w", err)
			}
			cfg.Scheme, cfg.Shape = engine.Scheme(scheme), loadgen.Shape(shape)
			if cfg.Duration == 0 && cfg.Count == 0 {
				cfg.Duration = defaultLoadDuration
			}
			if !quietly {
				what := fmt.Sprintf("%d events", cfg.Count)
				if cfg.Duration > 0 {
					what = cfg.Duration.String()
					if cfg.Count > 0 {
						what += fmt.Sprintf(" or %d events", cfg.Count)
					}
				}
				if cfg.Warmup > 0 {
					what += " after a " + cfg.Warmup.String() + " warm-up"
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "load: %s %s events to %s over %d connections for %s\n",
					scheme, shape, cfg.URL, cfg.Connections, what)
			}
			if cfg.Warmup > 0 {
				stderr := cmd.ErrOrStderr()
				cfg.Measuring = func() { fmt.Fprintln(stderr, "load: measuring") }
			}
			rep, err := loadgen.Run(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			if jsonFile != "" {
				if err := writeJSONReport(jsonFile, rep); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return fmt.Errorf("load: write report: %w", err)
				}
			} else if err := rep.WriteText(out); err != nil {
				return fmt.Errorf("load: write report: %w", err)
			}
			if rep.Failed() {
				return exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.URL, "url", defaultWebhookURL, "webhook URL to load")
	f.StringVar(&secret, "secret", "", "webhook signing secret (default $"+envWebhookSecret+")")
	f.StringVar(&scheme, "scheme", string(engine.SchemeV1), `signature scheme: "v1" or "legacy"`)
	f.StringVar(&shape, "shape", string(loadgen.ShapeBatch), `payload shape: "batch" (seed 000) or "delta" (seed 001)`)
	f.IntVarP(&cfg.Connections, "connections", "c", loadgen.DefaultConnections, "concurrent keep-alive connections")
	f.DurationVarP(&cfg.Duration, "duration", "d", 0, "how long to send (default 10s when --count is not set)")
	f.DurationVar(&cfg.Warmup, "warmup", 0, `load to send first, without a pause, and leave out of the report; "load: measuring" on standard error marks its end`)
	f.Int64VarP(&cfg.Count, "count", "n", 0, "how many events to send")
	f.Float64Var(&cfg.Rate, "rate", 0, "target events per second over all connections (default as fast as possible)")
	f.DurationVar(&cfg.Timeout, "timeout", loadgen.DefaultTimeout, "per-request timeout")
	f.IntVar(&cfg.Pregenerate, "pregenerate", 0, "requests to build before the clock starts (default sized from --count or --rate, at most 100000; -1 for none)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.StringVar(&jsonFile, "json-file", "", "also write the report as JSON to this file")
	f.BoolVarP(&quietly, "quiet", "q", false, "do not announce the run on standard error")
	return cmd
}

func writeJSONReport(path string, rep *loadgen.Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("load: write report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("load: write report: %w", err)
	}
	return nil
}
