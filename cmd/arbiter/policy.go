package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/config"
	"github.com/arbiter-dev/arbiter/engine/normalize"
	"github.com/arbiter-dev/arbiter/engine/policy"
	"github.com/arbiter-dev/arbiter/policies"
)

const defaultPolicyDir = "policies"

type policyOptions struct {
	dir          string
	dataOverride string
	// A signed bundle instead of a directory, and what verifies it.
	bundle, keyFile, signingAlg string
}

func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Test policies and evaluate input documents against them",
		Long: `Work with a policy set: Rego modules, their _test.rego tests and data.json.

Both subcommands load the set exactly as the agent does on a hot reload: it
must compile, a rule must define data.arbiter.decision, and every test must
pass. Without --dir, ./policies is used if it exists, else the default set
built into the binary. --bundle reads a signed bundle file (opa build
--signing-key) instead, verified with --verification-key-file as the agent
verifies policy.bundle_url's.`,
	}
	cmd.AddCommand(newPolicyTestCmd(), newPolicyEvalCmd())
	return cmd
}

func addPolicyFlags(cmd *cobra.Command, o *policyOptions) {
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", defaultPolicyDir, "policy directory")
	f.StringVar(&o.dataOverride, "data-override", "", "JSON file deep-merged over the data files, as policy.data in the agent's config")
	f.StringVar(&o.bundle, "bundle", "", "a signed bundle file (opa build --signing-key) instead of a directory")
	f.StringVar(&o.keyFile, "verification-key-file", "", "with --bundle: the PEM public key (or HMAC secret) its signature must verify with")
	f.StringVar(&o.signingAlg, "signing-alg", policy.DefaultSigningAlg, "with --bundle: the signature's algorithm")
}

// loadSet loads the policy set the flags name, as the agent would.
func loadSet(cmd *cobra.Command, o policyOptions) (*policy.Set, error) {
	src, err := policySource(cmd, o)
	if err != nil {
		return nil, err
	}
	if o.bundle == "" {
		return policy.Load(cmd.Context(), src)
	}
	if o.keyFile == "" {
		return nil, errors.New("policy: --bundle needs --verification-key-file: bundles must be signed")
	}
	raw, err := os.ReadFile(o.bundle)
	if err != nil {
		return nil, fmt.Errorf("policy: --bundle: %w", err)
	}
	key, err := os.ReadFile(o.keyFile)
	if err != nil {
		return nil, fmt.Errorf("policy: --verification-key-file: %w", err)
	}
	src.Dir, src.FS = "", nil
	src.Bundle = &policy.BundleSource{VerificationKey: string(key), SigningAlg: o.signingAlg}
	return policy.LoadBundle(cmd.Context(), raw, src)
}

func newPolicyTestCmd() *cobra.Command {
	var o policyOptions
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Run the reload gate: compile the policy set and run its tests",
		Long: `Compile the policy set and run its _test.rego tests in process, the gate a
set must pass before the agent makes it active. Prints each test's outcome
and a summary; exits with status 1 if the set does not compile or a test
fails.

Tests run against the data files alone, as they pin the default thresholds;
--data-override is checked (every key it sets must exist in the data files)
and changes the revision, as it would in the agent.`,
		Example: `  arbiter policy test
  arbiter policy test --dir ./my-policies --data-override overrides.json
  arbiter policy test --bundle bundle.tar.gz --verification-key-file bundle.pub.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set, err := loadSet(cmd, o)
			out := cmd.OutOrStdout()
			if ge, ok := errors.AsType[*policy.GateError](err); ok {
				printTestReport(out, ge.Tests)
				return exitError{code: 1}
			}
			if err != nil {
				return err
			}
			printTestReport(out, set.Tests())
			fmt.Fprintf(out, "revision %s: %d files\n", policy.ShortRevision(set.Revision()), len(set.Files()))
			return nil
		},
	}
	addPolicyFlags(cmd, &o)
	return cmd
}

func printTestReport(w io.Writer, rep policy.TestReport) {
	for _, r := range rep.Results {
		fmt.Fprintf(w, "%-5s %s:%d  %s (%s)\n", strings.ToUpper(r.Outcome), r.File, r.Row, r.Name, r.Duration.Round(time.Microsecond))
		if r.Message != "" {
			fmt.Fprintf(w, "      %s\n", r.Message)
		}
		if r.Outcome != policy.OutcomePass && r.Output != "" {
			for line := range strings.SplitSeq(strings.TrimRight(r.Output, "\n"), "\n") {
				fmt.Fprintf(w, "      | %s\n", line)
			}
		}
	}
	fmt.Fprintln(w, strings.Repeat("-", 72))
	total := rep.Total()
	fmt.Fprintf(w, "PASS: %d/%d", rep.Passed, total)
	if rep.Failed > 0 {
		fmt.Fprintf(w, "  FAIL: %d/%d", rep.Failed, total)
	}
	if rep.Skipped > 0 {
		fmt.Fprintf(w, "  SKIPPED: %d/%d", rep.Skipped, total)
	}
	fmt.Fprintf(w, "  (%s)\n", rep.Duration.Round(time.Millisecond))
}

func newPolicyEvalCmd() *cobra.Command {
	var o policyOptions
	var input string
	cmd := &cobra.Command{
		Use:   "eval --input FILE",
		Short: "Decide one input document and print the decision; executes nothing",
		Long: `Evaluate data.arbiter.decision for one event and print the input document
and the decision as indented JSON. No action is carried out.

FILE is either an input document (a JSON object with "version":
"` + engine.InputVersion + `", as in testdata/inputs), evaluated as it is, or a raw
webhook body (as in testdata/events), which is normalized first with an empty
settlement state: no ledger record, chain or totals. --input - reads standard
input.`,
		Example: `  arbiter policy eval --input testdata/inputs/delta.failed.input.json
  arbiter policy eval --input testdata/events/batch.verified.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if input == "" {
				return errors.New("policy eval: --input is required")
			}
			in, err := readInputDocument(input, cmd.InOrStdin())
			if err != nil {
				return fmt.Errorf("policy eval: %w", err)
			}
			set, err := loadSet(cmd, o)
			if err != nil {
				return err
			}
			d, err := set.Decide(cmd.Context(), in)
			if err != nil {
				return err
			}
			return writeEval(cmd.OutOrStdout(), in, d)
		},
	}
	cmd.Flags().StringVar(&input, "input", "", "input document file, or - for standard input")
	addPolicyFlags(cmd, &o)
	return cmd
}

// readInputDocument reads an input document, or normalizes a raw webhook
// body into one. In an input document a field the type does not know is a
// typo that would silently vanish, so it is an error.
func readInputDocument(name string, stdin io.Reader) (*engine.Input, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, err
	}
	var head struct {
		Version *string `json:"version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %w", name, err)
	}
	switch {
	case head.Version == nil:
		n, err := normalize.Normalize(&engine.Event{Endpoint: config.DefaultEndpoint, EventID: "evt_policy_eval",
			Scheme: engine.SchemeV1, Body: b, ReceivedAt: time.Now()})
		if err != nil {
			return nil, fmt.Errorf("%s: neither an input document (no \"version\") nor a webhook body: %w", name, err)
		}
		return &n.Input, nil
	case *head.Version != engine.InputVersion:
		return nil, fmt.Errorf("%s: input version %q, want %q", name, *head.Version, engine.InputVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var in engine.Input
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &in, nil
}

func writeEval(w io.Writer, in *engine.Input, d policy.Decision) error {
	actions := make([]json.RawMessage, len(d.Actions))
	for i, a := range d.Actions {
		actions[i] = a.Raw
	}
	type decision struct {
		Revision string            `json:"revision"`
		Actions  []json.RawMessage `json:"actions"`
	}
	out := struct {
		Input    *engine.Input `json:"input"`
		Decision decision      `json:"decision"`
	}{in, decision{d.Revision, actions}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// policySource is --dir, or without it ./policies if present, else the
// default set built into the binary; with --data-override's overrides.
func policySource(cmd *cobra.Command, o policyOptions) (policy.Source, error) {
	var src policy.Source
	if o.dataOverride != "" {
		b, err := os.ReadFile(o.dataOverride)
		if err != nil {
			return src, fmt.Errorf("policy: --data-override: %w", err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(&src.DataOverrides); err != nil {
			return src, fmt.Errorf("policy: --data-override %s: want a JSON object: %w", o.dataOverride, err)
		}
	}
	if !cmd.Flags().Changed("dir") && o.bundle == "" {
		if _, err := os.Stat(o.dir); errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(cmd.ErrOrStderr(), "no ./%s directory: using the default policies built into arbiter\n", o.dir)
			src.FS = policies.FS
			return src, nil
		}
	}
	src.Dir = o.dir
	return src, nil
}
