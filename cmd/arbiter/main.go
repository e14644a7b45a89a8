// Command arbiter is the settlement agent: it receives PacSpace webhooks,
// decides with Rego policies and acts through Wasm plugins. This package only
// wires; the work is in engine/.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintln(os.Stderr, "arbiter:", err)
		os.Exit(1)
	}
}

// exitError ends the process with a code after its message was already shown.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "arbiter",
		Short:         "Policy-driven settlement agent for PacSpace verification webhooks",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCmd(),
		newEmitCmd(),
		newLoadCmd(),
		newPolicyCmd(),
		newPluginCmd(),
		newWebhooksCmd(),
		newChainsCmd(),
		newDeliveriesCmd(),
		newLedgerCmd(),
		newEventsCmd(),
		newSimCmd(),
	)
	return root
}
