package main

import (
	"fmt"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiter-dev/arbiter/engine/httpapi"
)

func newChainsCmd() *cobra.Command {
	var page, limit int
	cmd := &cobra.Command{
		Use:   "chains [CUSTOMER]",
		Short: "Show the proof chain of each customer: head, held deltas, gaps, forks",
		Long: `Show proof-chain status through a running agent's admin API. Without
CUSTOMER, list every customer's chain: customers whose first proof is still
held come first, then the chains by customer id. With CUSTOMER, show that
chain with the deltas held for a predecessor that has not arrived (they wait
up to worker.grace), and the gaps and forks recorded in it.`,
		Example: `  arbiter chains
  arbiter chains cus_8421
  arbiter chains cus_8421 --output json`,
		Args: cobra.MaximumNArgs(1),
	}
	o := addClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := o.client(cmd)
		if err != nil {
			return err
		}
		if len(args) == 1 {
			return showChain(cmd, c, args[0])
		}
		q := url.Values{}
		for name, v := range map[string]int{"page": page, "limit": limit} {
			if cmd.Flags().Changed(name) {
				q.Set(name, strconv.Itoa(v))
			}
		}
		var out struct {
			Chains     []chainRow         `json:"chains"`
			Pagination httpapi.Pagination `json:"pagination"`
		}
		raw, err := c.do(cmd.Context(), "GET", "/v1/chains", q, nil, &out)
		if err != nil {
			return err
		}
		return c.print(raw, func(tw *tabwriter.Writer) {
			row(tw, "CUSTOMER", "LENGTH", "HEAD", "HELD", "GAPS", "FORKS", "UPDATED")
			for _, ch := range out.Chains {
				row(tw, ch.CustomerID, ch.Length, hashCell(ch.Head), ch.HeldCount, ch.GapCount, ch.ForkCount, timeCell(ch.UpdatedAt))
			}
			pageFooter(tw, out.Pagination, "customers")
		})
	}
	cmd.Flags().IntVar(&page, "page", 1, "page number (list only)")
	cmd.Flags().IntVar(&limit, "limit", 20, "customers per page, at most 500 (list only)")
	return cmd
}

// chainRow is a customer's chain as the API shows it.
type chainRow struct {
	CustomerID string     `json:"customerId"`
	Head       string     `json:"head"`
	Length     int64      `json:"length"`
	UpdatedAt  *time.Time `json:"updatedAt"`
	HeldCount  int        `json:"heldCount"`
	GapCount   int64      `json:"gapCount"`
	ForkCount  int64      `json:"forkCount"`
}

type chainBreakRow struct {
	EventID           string     `json:"eventId"`
	ProofHash         string     `json:"proofHash"`
	PreviousProofHash string     `json:"previousProofHash"`
	ReceivedAt        *time.Time `json:"receivedAt"`
}

func showChain(cmd *cobra.Command, c *apiClient, customer string) error {
	var ch struct {
		chainRow
		Held []struct {
			EventID           string     `json:"eventId"`
			ProofHash         string     `json:"proofHash"`
			PreviousProofHash string     `json:"previousProofHash"`
			Since             *time.Time `json:"since"`
			Until             *time.Time `json:"until"`
		} `json:"held"`
		Gaps  []chainBreakRow `json:"gaps"`
		Forks []chainBreakRow `json:"forks"`
	}
	raw, err := c.do(cmd.Context(), "GET", "/v1/chains/"+url.PathEscape(customer), nil, nil, &ch)
	if err != nil {
		return err
	}
	return c.print(raw, func(tw *tabwriter.Writer) {
		row(tw, "customer:", ch.CustomerID)
		row(tw, "length:", ch.Length)
		row(tw, "head:", orDash(ch.Head))
		row(tw, "updated:", timeCell(ch.UpdatedAt))
		row(tw, "held:", ch.HeldCount)
		row(tw, "gaps:", ch.GapCount)
		row(tw, "forks:", ch.ForkCount)
		if len(ch.Held) > 0 {
			fmt.Fprintln(tw, "\nHELD EVENT\tPROOF\tWAITS FOR\tSINCE\tUNTIL")
			for _, h := range ch.Held {
				row(tw, h.EventID, hashCell(h.ProofHash), hashCell(h.PreviousProofHash), timeCell(h.Since), timeCell(h.Until))
			}
		}
		for _, set := range []struct {
			title  string
			breaks []chainBreakRow
		}{{"GAP", ch.Gaps}, {"FORK", ch.Forks}} {
			if len(set.breaks) == 0 {
				continue
			}
			fmt.Fprintf(tw, "\n%s EVENT\tPROOF\tPREVIOUS\tRECEIVED\n", set.title)
			for _, b := range set.breaks {
				row(tw, b.EventID, hashCell(b.ProofHash), hashCell(b.PreviousProofHash), timeCell(b.ReceivedAt))
			}
		}
	})
}

// hashCell shortens a proof hash for a table; --output json has it whole.
func hashCell(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return orDash(h)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
