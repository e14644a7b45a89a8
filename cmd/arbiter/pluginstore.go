package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiter-dev/arbiter/engine/httpapi"
)

// newPluginStoreCmd reads a plugin instance's key-value store through a
// running agent's admin API.
func newPluginStoreCmd() *cobra.Command {
	var (
		prefix     string
		desc       bool
		page, lim  int
		valuesOnly bool
	)
	cmd := &cobra.Command{
		Use:   "store NAME",
		Short: "Read a plugin's key-value store from a running agent (the auditlog trail)",
		Long: `Read the keys a plugin instance keeps in the agent's store, read only, in
key order, through the admin API (GET /v1/plugins/{name}/store). NAME is the
instance's name in the plugins configuration. For the bundled auditlog
plugin, --prefix entry/ lists its trail in the order it was recorded.`,
		Example: `  arbiter plugin store auditlog --prefix entry/ --desc --limit 20
  arbiter plugin store auditlog --prefix entry/ --values`,
		Args: cobra.ExactArgs(1),
	}
	o := addClientFlags(cmd)
	cmd.Flags().StringVar(&prefix, "prefix", "", "only keys that start with this")
	cmd.Flags().BoolVar(&desc, "desc", false, "newest (last) keys first")
	cmd.Flags().IntVar(&page, "page", 1, "page number")
	cmd.Flags().IntVar(&lim, "limit", httpapi.DefaultLimit, "keys per page (at most 500)")
	cmd.Flags().BoolVar(&valuesOnly, "values", false, "print only the values, one JSON document a line")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := o.client(cmd)
		if err != nil {
			return err
		}
		q := url.Values{"page": {strconv.Itoa(page)}, "limit": {strconv.Itoa(lim)}}
		if prefix != "" {
			q.Set("prefix", prefix)
		}
		if desc {
			q.Set("sortOrder", "desc")
		}
		var out struct {
			Entries []struct {
				Key       string          `json:"key"`
				Value     json.RawMessage `json:"value"`
				UpdatedAt time.Time       `json:"updatedAt"`
			} `json:"entries"`
			Pagination httpapi.Pagination `json:"pagination"`
		}
		raw, err := c.do(cmd.Context(), "GET", "/v1/plugins/"+url.PathEscape(args[0])+"/store", q, nil, &out)
		if err != nil {
			return err
		}
		if valuesOnly && !c.json {
			for _, e := range out.Entries {
				fmt.Fprintf(c.out, "%s\n", e.Value)
			}
			return nil
		}
		return c.print(raw, func(tw *tabwriter.Writer) {
			row(tw, "KEY", "UPDATED", "VALUE")
			for _, e := range out.Entries {
				row(tw, e.Key, timeCell(&e.UpdatedAt), shortCell(string(e.Value), 100))
			}
			pageFooter(tw, out.Pagination, "keys")
		})
	}
	return cmd
}
