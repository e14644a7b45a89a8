package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/arbiter-dev/arbiter/engine/wasmhost"
)

func newPluginCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Work with Wasm plugins",
	}
	var (
		verbose bool
		entry   string
	)
	check := &cobra.Command{
		Use:   "check FILE.wasm",
		Short: "Run the ABI conformance checks against a plugin",
		Long: `Check loads a plugin the way the agent does and runs the ABI v1
conformance checks (plugins/ABI.md): exports and their signatures, the
describe output, and a sample delivery answered with a valid result. A
module that holds several plugins (as the bundled plugins' module does) is
checked once for each plugin its describe lists, each chosen through its
select export, or only for the one --entry names. It exits 1 if any check
fails.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts []wasmhost.Option
			if verbose {
				opts = append(opts, wasmhost.WithLogger(hclog.New(&hclog.LoggerOptions{Name: "plugin", Output: os.Stderr, Level: hclog.Debug})))
			}
			failed := false
			for _, r := range wasmhost.CheckModule(cmd.Context(), args[0], entry, opts...) {
				fmt.Fprint(cmd.OutOrStdout(), r.String())
				failed = failed || !r.Passed()
			}
			if failed {
				return exitError{code: 1}
			}
			return nil
		},
	}
	check.Flags().BoolVarP(&verbose, "verbose", "v", false, "show the plugin's own log lines")
	check.Flags().StringVar(&entry, "entry", "", "in a module that holds several plugins, check only this one")
	cmd.AddCommand(check, newPluginStoreCmd())
	return cmd
}
