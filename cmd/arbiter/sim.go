package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/sim"
	"github.com/arbiter-dev/arbiter/engine/sim/scenario"
)

// envSimToken is the sim dashboard's bearer token.
const envSimToken = "ARBITER_SIM_TOKEN"

func newSimCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "A local PacSpace: dashboard API, signed deliveries, scenarios with faults",
		Long: `A local stand-in for PacSpace, for development, end-to-end tests and load.

  sim serve    the dashboard webhook API and the delivery engine alone
  sim run      generate a scenario with injected faults and deliver it to a receiver
  sim verify   score a running agent against the ground truth of a run
  sim jwt      a bearer JWT for the dashboard's balance-api dialect`,
	}
	cmd.AddCommand(newSimServeCmd(), newSimRunCmd(), newSimVerifyCmd(), newSimJWTCmd())
	return cmd
}

func newSimLogger(level string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "arbiter", Level: hclog.LevelFromString(level), Output: os.Stderr})
}

// simToken is the flag, else $ARBITER_SIM_TOKEN, else a generated token
// shown once on w.
func simToken(flag string, w io.Writer) string {
	if flag != "" {
		return flag
	}
	if t := os.Getenv(envSimToken); t != "" {
		return t
	}
	var b [16]byte
	rand.Read(b[:])
	t := "simtok_" + hex.EncodeToString(b[:])
	fmt.Fprintf(w, "sim dashboard token (shown once; pass --token or set %s to choose one): %s\n", envSimToken, t)
	return t
}

// serveDashboard serves a sim's dashboard API on addr, in dialect at
// /dashboard, until ctx ends.
func serveDashboard(ctx context.Context, s *sim.Sim, addr string, dialect sim.Dialect, log hclog.Logger) (<-chan error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sim: dashboard: %w", err)
	}
	srv := &http.Server{Handler: s.DialectHandler(dialect), ReadHeaderTimeout: 10 * time.Second}
	log.Info("listening", "addr", ln.Addr().String(), "dialect", string(dialect))
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	return done, nil
}

// dialectFlag is --dialect: which dialect the dashboard serves at
// /dashboard.
type dialectFlag struct{ d sim.Dialect }

func (v *dialectFlag) String() string { return string(v.d) }
func (v *dialectFlag) Type() string   { return "app|balance-api" }
func (v *dialectFlag) Set(s string) (err error) {
	v.d, err = sim.ParseDialect(s)
	return err
}

func addDialectFlag(f *pflag.FlagSet, v *dialectFlag) {
	v.d = sim.DialectApp
	f.Var(v, "dialect", "the dashboard's dialect at /dashboard: app (seed 002) or balance-api (seed 003); both are also under /app and /balance-api")
}

func newSimServeCmd() *cobra.Command {
	var (
		listen, token, level string
		dialect              dialectFlag
		cfg                  sim.Config
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the dashboard webhook API and deliver what it is asked to",
		Long: `Serve PacSpace's dashboard webhook API: create, list, toggle, test and delete
webhooks, and (seed 002) the delivery history with its filters, CSV export
and retries. Deliveries are signed per webhook (v1 or sha256) and retried
with exponential backoff.

The API speaks both documented dialects over the same webhooks, one of them
at /dashboard (--dialect), and each under a prefix as a client's base URL
would name its host:

  app          seed 002 (app.pacspace.io), at /app/dashboard: {"success":true,"data":…}
               envelopes, a paginated list, enabled and lastTriggered; a session
               cookie from POST /dashboard/login {"token":…}, or the token as a bearer
  balance-api  seed 003 (balance-api.pacspace.io), at /balance-api/dashboard:
               {"statusCode":200,"data":…} envelopes, the list as a plain array,
               active and lastTriggeredAt, sha256= signatures by default; a bearer
               JWT signed with the token (arbiter sim jwt makes one)

Without --token or ` + envSimToken + ` a token is generated and shown once.`,
		Example: `  export ` + envSimToken + `=simtok_example_0123456789
  arbiter sim serve --listen 127.0.0.1:8090 &
  curl -sS --fail-with-body --retry 5 --retry-connrefused -H "Authorization: Bearer $` + envSimToken + `" \
    -H 'Content-Type: application/json' -d '{"url":"http://127.0.0.1:3000/webhooks/pacspace"}' \
    127.0.0.1:8090/dashboard/webhooks
  curl -sS --fail-with-body -H "Authorization: Bearer $(arbiter sim jwt)" 127.0.0.1:8090/balance-api/dashboard/webhooks`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newSimLogger(level)
			cfg.Token, cfg.Logger = simToken(token, cmd.OutOrStdout()), log
			s := sim.New(cfg)
			ctx := cmd.Context()
			done, err := serveDashboard(ctx, s, listen, dialect.d, log.Named("sim"))
			if err != nil {
				return err
			}
			s.Run(ctx)
			return <-done
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8090", "address of the dashboard API")
	f.StringVar(&token, "token", "", "dashboard token (env "+envSimToken+"; default generated)")
	f.StringVar(&level, "log-level", "info", "trace, debug, info, warn or error")
	addDialectFlag(f, &dialect)
	addSimDeliveryFlags(f, &cfg)
	return cmd
}

func newSimJWTCmd() *cobra.Command {
	var token string
	cmd := &cobra.Command{
		Use:   "jwt",
		Short: "Print a bearer JWT for the dashboard's balance-api dialect",
		Long: `Print a bearer JWT the sim's balance-api dialect (seed 003) accepts: HS256,
signed with the sim's token (--token or ` + envSimToken + `), valid for 24 hours.`,
		Example: `  arbiter sim jwt --token "$` + envSimToken + `"
  JWT=$(arbiter sim jwt)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if token == "" {
				token = os.Getenv(envSimToken)
			}
			if token == "" {
				return errors.New("sim jwt: no token: pass --token or set " + envSimToken)
			}
			jwt, err := sim.IssueJWT(token, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), jwt)
			return nil
		},
	}
	cmd.Flags().StringVar(&token, "token", "", "the sim's dashboard token (env "+envSimToken+")")
	return cmd
}

func addSimDeliveryFlags(f *pflag.FlagSet, cfg *sim.Config) {
	f.IntVar(&cfg.Concurrency, "concurrency", sim.DefaultConcurrency, "deliveries in flight at once")
	f.IntVar(&cfg.MaxAttempts, "max-attempts", sim.DefaultMaxAttempts, "attempts per delivery before it fails")
	f.DurationVar(&cfg.Timeout, "timeout", sim.DefaultTimeout, "per-attempt timeout")
}

// faultFlag collects repeated --fault kind=rate settings.
type faultFlag struct{ f scenario.Faults }

func (v *faultFlag) String() string { return "" }
func (v *faultFlag) Type() string   { return "kind=rate" }
func (v *faultFlag) Set(s string) error {
	return v.f.Set(s)
}

type simRunOptions struct {
	cfg                             scenario.RunConfig
	secret, start, dashboard, token string
	truth, outcomes, ledgerOut      string
	seed                            string
	dryRun, asJSON, quiet           bool
	jsonFile                        string
	faults                          faultFlag
	dialect                         dialectFlag
	simCfg                          sim.Config
}

func newSimRunCmd() *cobra.Command {
	o := &simRunOptions{faults: faultFlag{f: scenario.Faults{}}}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Deliver a generated scenario with injected faults to a webhook receiver",
		Long: `Generate a realistic PacSpace scenario and deliver it, signed, to --target.

Customers send delta.verified events (seed 001) whose proofs form real
chains, over billing periods with running totals and draining plan usage,
with receipts and period checkpoints; one batch stream sends seed-000
batches whose keys add up per key. --shape picks delta or batch alone.
The events of one customer, or of the batch stream, are sent one after
another in order; different streams go in parallel over --concurrency
workers, failed deliveries retried with backoff.

--fault kind=rate injects a fault into that share of the steps it applies
to (at most one fault per step); chain-break, sla and usage split their
rate over their kinds, all gives every kind the rate. --truth writes one
JSON line per injected anomaly: the event, the kind, and what the agent
must do. How each faulty delivery was answered goes to --outcomes.

` + faultHelp() + `

The agent can only match deltas it has ledger records for: write them with
--ledger-out and --dry-run (same --seed, --start, --count and faults), load
them with arbiter ledger import, then run. The same --seed and --start give
the same events byte for byte.

Progress goes to standard error once a second; the summary to standard
output. Exits with status 1 if any delivery was answered otherwise than the
scenario expected.`,
		Example: `  arbiter sim run --seed 7 --start 2026-04-10T12:00:00Z --count 2000 --fault all=0.02 --ledger-out ledger.csv --dry-run
  arbiter ledger import ledger.csv
  arbiter sim run --seed 7 --start 2026-04-10T12:00:00Z --count 2000 --fault all=0.02 --secret "$PACSPACE_WEBHOOK_SECRET" --truth truth.jsonl
  arbiter sim run --duration 5s --rate 500 --fault reorder=0.05 --fault chain-break=0.01 --dashboard 127.0.0.1:8090`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runSim(cmd, o) },
	}
	f := cmd.Flags()
	c := &o.cfg
	f.StringVar(&c.Target, "target", defaultWebhookURL, "webhook URL to deliver to")
	f.StringVar(&o.secret, "secret", "", "webhook signing secret (default $"+envWebhookSecret+")")
	f.StringVar(&c.Scheme, "scheme", sim.SchemeV1, `signature scheme: "v1" or "sha256"`)
	f.StringVar(&o.seed, "seed", "", "scenario seed (default random, and printed)")
	f.StringVar(&o.start, "start", "", "scenario clock start, RFC 3339 (default now): event times and batch numbers")
	f.IntVar(&c.Scenario.Customers, "customers", scenario.DefaultCustomers, "customers, each a delta stream")
	f.StringVar(&c.Scenario.Shape, "shape", scenario.ShapeMixed, "payload shapes: mixed, delta or batch")
	f.Int64VarP(&c.Count, "count", "n", 0, "deliveries to make (default 1000 when --duration is not set)")
	f.DurationVarP(&c.Duration, "duration", "d", 0, "how long to keep generating")
	f.Float64Var(&c.Rate, "rate", 0, "deliveries per second (default as fast as the receiver answers)")
	f.Var(&o.faults, "fault", "inject a fault: kind=rate, repeatable (e.g. reorder=0.05)")
	f.StringVar(&o.truth, "truth", "", "write the ground truth here (JSON Lines)")
	f.StringVar(&o.outcomes, "outcomes", "", "write how faulty deliveries were answered here (default beside --truth: NAME.outcomes.jsonl)")
	f.StringVar(&o.ledgerOut, "ledger-out", "", "write the matching ledger records here: CSV, or JSON {\"records\":[…]} for a .json name")
	f.BoolVar(&o.dryRun, "dry-run", false, "generate and write --truth and --ledger-out, send nothing (needs --count)")
	f.StringVar(&o.dashboard, "dashboard", "", "also serve the sim's dashboard API on this address")
	addDialectFlag(f, &o.dialect)
	f.StringVar(&o.token, "token", "", "dashboard bearer token (env "+envSimToken+"; default generated)")
	f.BoolVar(&o.asJSON, "json", false, "print the summary as JSON")
	f.StringVar(&o.jsonFile, "json-file", "", "also write the summary as JSON to this file")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress lines")
	addSimDeliveryFlags(f, &o.simCfg)
	return cmd
}

// faultHelp lists the fault kinds and what the agent must do about each.
func faultHelp() string {
	var b strings.Builder
	b.WriteString("Fault kinds, and what the agent must do:\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, k := range scenario.Kinds {
		var musts []string
		for _, e := range scenario.Expectations(k) {
			switch e.Outcome {
			case scenario.ExpectAction:
				musts = append(musts, e.Type+"/"+e.Reason)
			case scenario.ExpectRejected:
				musts = append(musts, "reject ("+e.Reason+")")
			case scenario.ExpectDuplicate:
				musts = append(musts, "answer duplicate")
			case scenario.ExpectNone:
				musts = append(musts, "nothing")
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\n", k, strings.Join(musts, " and "))
	}
	tw.Flush()
	return strings.TrimSuffix(b.String(), "\n")
}

// outcomesPath is where the outcomes go by default: beside the truth.
func outcomesPath(truth string) string {
	return strings.TrimSuffix(truth, filepath.Ext(truth)) + ".outcomes.jsonl"
}

func runSim(cmd *cobra.Command, o *simRunOptions) error {
	c := &o.cfg
	var err error
	if c.Secret, err = webhookSecret(o.secret); err != nil && !o.dryRun {
		return fmt.Errorf("sim run: %w", err)
	}
	if o.seed == "" {
		var b [8]byte
		rand.Read(b[:])
		o.seed = strconv.FormatUint(binary.LittleEndian.Uint64(b[:])>>40, 10)
	}
	if c.Scenario.Seed, err = strconv.ParseUint(o.seed, 10, 64); err != nil {
		return fmt.Errorf("sim run: --seed %q: want a non-negative integer", o.seed)
	}
	c.Scenario.Start = time.Now()
	if o.start != "" {
		if c.Scenario.Start, err = time.Parse(time.RFC3339Nano, o.start); err != nil {
			return fmt.Errorf("sim run: --start: want an RFC 3339 time such as 2026-04-10T12:00:00Z")
		}
	}
	c.Scenario.Faults = o.faults.f
	if c.Count == 0 && c.Duration == 0 {
		c.Count = 1000
	}
	if o.outcomes == "" && o.truth != "" {
		o.outcomes = outcomesPath(o.truth)
	}
	stderr := cmd.ErrOrStderr()
	if o.dryRun {
		if c.Count == 0 {
			return errors.New("sim run: --dry-run needs --count")
		}
		all, err := scenario.Generate(c.Scenario, c.Count)
		if err != nil {
			return err
		}
		if err := writeRunFiles(o, all.Truth, nil, all.Records); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "scenario s%x (seed %d): %d deliveries, %d truth lines, %d ledger records\n",
			c.Scenario.Seed, c.Scenario.Seed, len(all.Items), len(all.Truth), len(all.Records))
		return nil
	}

	log := newSimLogger("warn")
	c.Concurrency, c.MaxAttempts, c.Timeout, c.Logger = o.simCfg.Concurrency, o.simCfg.MaxAttempts, o.simCfg.Timeout, log
	if o.dashboard != "" {
		c.Token = simToken(o.token, stderr)
	}
	r, err := scenario.NewRunner(*c)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if o.dashboard != "" {
		dctx, stop := context.WithCancel(ctx)
		defer stop()
		if _, err := serveDashboard(dctx, r.Sim(), o.dashboard, o.dialect.d, newSimLogger("info").Named("sim")); err != nil {
			return err
		}
	}
	if !o.quiet {
		fmt.Fprintf(stderr, "sim: scenario %s (seed %d) to %s, %s\n", r.Scenario(), c.Scenario.Seed, c.Target, runLength(c))
		pctx, stop := context.WithCancel(ctx)
		defer stop()
		go progress(pctx, r, stderr)
	}
	rep, err := r.Run(ctx)
	if err != nil {
		return err
	}
	if err := writeRunFiles(o, rep.Truth, rep.Outcomes, rep.Records); err != nil {
		return err
	}
	if o.jsonFile != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.jsonFile, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("sim run: %w", err)
		}
	}
	out := cmd.OutOrStdout()
	if o.asJSON {
		b, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintf(out, "%s\n", b)
	} else {
		printRunReport(out, rep, c, o)
	}
	if rep.Unexpected > 0 {
		return exitError{code: 1}
	}
	return nil
}

func runLength(c *scenario.RunConfig) string {
	s := ""
	switch {
	case c.Count > 0 && c.Duration > 0:
		s = fmt.Sprintf("%d deliveries or %s", c.Count, c.Duration)
	case c.Count > 0:
		s = fmt.Sprintf("%d deliveries", c.Count)
	default:
		s = c.Duration.String()
	}
	if c.Rate > 0 {
		s += fmt.Sprintf(" at %.0f/s", c.Rate)
	}
	return s
}

// progress writes a line a second until ctx ends.
func progress(ctx context.Context, r *scenario.Runner, w io.Writer) {
	start := time.Now()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p := r.Progress()
			fmt.Fprintf(w, "sim: %3.0fs  sent %d  acked %d  rejected %d  in flight %d\n",
				time.Since(start).Seconds(), p.Sent, p.Acknowledged, p.Rejected, p.InFlight)
		}
	}
}

func printRunReport(w io.Writer, rep *scenario.Report, c *scenario.RunConfig, o *simRunOptions) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	shape := c.Scenario.Shape
	row(tw, "scenario", fmt.Sprintf("%s (seed %d), %d customers, %s shape", rep.Scenario, rep.Seed, c.Scenario.Customers, shape))
	row(tw, "target", fmt.Sprintf("%s (%s)", rep.Target, rep.Scheme))
	elapsed := fmt.Sprintf("%.2fs", rep.Elapsed.Seconds())
	if rep.Interrupted {
		elapsed += " (interrupted)"
	}
	row(tw, "elapsed", elapsed)
	row(tw, "sent", rep.Sent)
	row(tw, "acknowledged", rep.Acknowledged)
	row(tw, "duplicates", rep.Duplicates)
	row(tw, "rejected", fmt.Sprintf("%d as intended, %d unexpectedly", rep.RejectedAsIntended, rep.RejectedUnexpectedly))
	row(tw, "failed", rep.Failed)
	if rep.Unexpected > 0 {
		row(tw, "unexpected", fmt.Sprintf("%d answers differ from the scenario's (see %s)", rep.Unexpected, orNotWritten(o.outcomes)))
	}
	row(tw, "events/s", fmt.Sprintf("%.1f", rep.EventsPerSec))
	row(tw, "latency", rep.Latency)
	row(tw, "faults", fmt.Sprintf("%d truth lines (%s)", len(rep.Truth), orNotWritten(o.truth)))
	tw.Flush()
}

func orNotWritten(path string) string {
	if path == "" {
		return "not written"
	}
	return path
}

// writeRunFiles writes what was asked for of the truth, the outcomes and
// the ledger.
func writeRunFiles(o *simRunOptions, truth []scenario.Truth, outcomes []scenario.Outcome, records []engine.LedgerRecord) error {
	write := func(path string, fn func(io.Writer) error) error {
		if path == "" {
			return nil
		}
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("sim run: %w", err)
		}
		if err := fn(f); err != nil {
			f.Close()
			return fmt.Errorf("sim run: write %s: %w", path, err)
		}
		return f.Close()
	}
	if err := write(o.truth, func(w io.Writer) error { return scenario.WriteJSONL(w, truth) }); err != nil {
		return err
	}
	if !o.dryRun {
		if err := write(o.outcomes, func(w io.Writer) error { return scenario.WriteJSONL(w, outcomes) }); err != nil {
			return err
		}
	}
	return write(o.ledgerOut, func(w io.Writer) error {
		if strings.EqualFold(filepath.Ext(o.ledgerOut), ".json") {
			return scenario.WriteLedgerJSON(w, records)
		}
		return scenario.WriteLedgerCSV(w, records)
	})
}

func newSimVerifyCmd() *cobra.Command {
	var (
		truthFile, outcomesFile string
		wait                    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Score a running agent against the ground truth of a sim run",
		Long: `Compare the ground truth that arbiter sim run wrote (--truth) and how the
agent answered the faulty deliveries (--outcomes) with what the agent
decided, read page by page from its admin API (GET /v1/events). Only the
run's own events count.

Per fault kind: how many anomalies were injected, how many the agent met
(recall), and of what it raised or answered of that sort, how much was
called for (precision). An action on an event no fault called for is a
false alert. Lifting a throttle (unthrottle/usage_recovered) is allowed
when the run raised one.

Waits up to --wait while events of the run are still undecided (a delta
whose predecessor is missing is held for worker.grace). Exits with status 1
unless every anomaly was met, nothing was raised falsely, every delivery
was answered as expected and every event was decided.`,
		Example: `  arbiter sim verify --truth truth.jsonl --token "$ARBITER_ADMIN_TOKEN"
  arbiter sim verify --truth truth.jsonl --server http://127.0.0.1:3000 --wait 2m --output json`,
		Args: cobra.NoArgs,
	}
	o := addClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		truth, err := readJSONLFile[scenario.Truth](truthFile)
		if err != nil {
			return fmt.Errorf("sim verify: --truth: %w", err)
		}
		if outcomesFile == "" {
			outcomesFile = outcomesPath(truthFile)
		}
		outcomes, err := readJSONLFile[scenario.Outcome](outcomesFile)
		if err != nil && !(errors.Is(err, os.ErrNotExist) && !cmd.Flags().Changed("outcomes")) {
			return fmt.Errorf("sim verify: --outcomes: %w", err)
		}
		c, err := o.client(cmd)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		deadline := time.Now().Add(wait)
		var res *scenario.Result
		for {
			events, err := listDecided(ctx, c)
			if err != nil {
				return err
			}
			res = scenario.Verify(truth, outcomes, events)
			if res.Pending == 0 || !time.Now().Before(deadline) {
				break
			}
			select {
			case <-time.After(500 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		raw, err := json.Marshal(res)
		if err != nil {
			return err
		}
		if err := c.print(raw, func(tw *tabwriter.Writer) { verifyTable(tw, res) }); err != nil {
			return err
		}
		if !res.OK {
			return exitError{code: 1}
		}
		return nil
	}
	f := cmd.Flags()
	f.StringVar(&truthFile, "truth", "", "ground truth written by arbiter sim run --truth (required)")
	f.StringVar(&outcomesFile, "outcomes", "", "answers written by the same run (default beside --truth: NAME.outcomes.jsonl)")
	f.DurationVar(&wait, "wait", time.Minute, "how long to wait for the run's events to be decided")
	cmd.MarkFlagRequired("truth")
	return cmd
}

func readJSONLFile[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	lines, err := scenario.ReadJSONL[T](f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return lines, nil
}

// listDecided pages through every event the agent has, in inbox order.
func listDecided(ctx context.Context, c *apiClient) ([]scenario.Decided, error) {
	const limit = 500
	var all []scenario.Decided
	var after int64
	for {
		var page struct {
			Events []struct {
				Seq int64 `json:"seq"`
				scenario.Decided
			} `json:"events"`
		}
		q := url.Values{"sortOrder": {"asc"}, "limit": {strconv.Itoa(limit)}, "afterSeq": {strconv.FormatInt(after, 10)}}
		if _, err := c.do(ctx, http.MethodGet, "/v1/events", q, nil, &page); err != nil {
			return nil, fmt.Errorf("sim verify: %w", err)
		}
		for _, ev := range page.Events {
			all = append(all, ev.Decided)
			after = ev.Seq
		}
		if len(page.Events) < limit {
			return all, nil
		}
	}
}

func verifyTable(tw *tabwriter.Writer, res *scenario.Result) {
	row(tw, "KIND", "EXPECTED", "FOUND", "RECALL", "PRECISION")
	for _, k := range res.Kinds {
		precision := "-"
		if k.Precision != nil {
			precision = fmt.Sprintf("%.1f%%", *k.Precision*100)
		}
		row(tw, k.Kind, k.Expected, k.Found, fmt.Sprintf("%.1f%%", k.Recall*100), precision)
	}
	row(tw)
	verdict := "PASS"
	if !res.OK {
		verdict = "FAIL"
	}
	fmt.Fprintf(tw, "%s: scenario %s, %d events (%d undecided, %d failed), %d missed, %d false alerts, %d unexpected answers, %d throttle lifts\n",
		verdict, res.Scenario, res.Events, res.Pending, res.Failed, len(res.Missed), len(res.False), len(res.Unexpected), res.ThrottleLifts)
	const shown = 20
	for i, m := range res.Missed {
		if i == shown {
			fmt.Fprintf(tw, "… %d more missed\n", len(res.Missed)-shown)
			break
		}
		fmt.Fprintf(tw, "missed\t%s\t%s\t%s\n", m.EventID, m.Kind, m.What)
	}
	for i, f := range res.False {
		if i == shown {
			fmt.Fprintf(tw, "… %d more false alerts\n", len(res.False)-shown)
			break
		}
		fmt.Fprintf(tw, "false alert\t%s\t%s/%s\t%s\n", f.EventID, f.Type, f.Reason, f.What)
	}
	for i, u := range res.Unexpected {
		if i == shown {
			fmt.Fprintf(tw, "… %d more unexpected answers\n", len(res.Unexpected)-shown)
			break
		}
		fmt.Fprintf(tw, "unexpected\t%s\t%s\texpected %s, got %s %s\n", u.EventID, u.Kind, u.Expected.Outcome, u.Got.Outcome, u.Got.Reason)
	}
}
