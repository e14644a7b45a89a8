package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiter-dev/arbiter/engine/httpapi"
)

func newDeliveriesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deliveries",
		Short: "List, export and retry the deliveries of decided actions",
		Long: `Inspect a running agent's outbox through its admin API. Every action a
policy decides becomes one delivery per target plugin; a delivery is
pending until a plugin takes it (delivered) or the attempts run out
(failed, the dead letter). Failed deliveries are sent again only by retry.`,
	}
	o := addClientFlags(cmd)
	cmd.AddCommand(newDeliveriesListCmd(o), newDeliveriesGetCmd(o), newDeliveriesExportCmd(o), newDeliveriesRetryCmd(o))
	return cmd
}

// deliveryFilters are the filter and order flags list and export share;
// they mirror the API's query parameters.
type deliveryFilters struct {
	status, startDate, endDate, sortBy, sortOrder, plugin, eventID, actionType string
}

func (f *deliveryFilters) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.status, "status", "", "only deliveries in this status: pending, delivered or failed")
	fs.StringVar(&f.startDate, "start-date", "", "only deliveries created on or after this day (YYYY-MM-DD, UTC)")
	fs.StringVar(&f.endDate, "end-date", "", "only deliveries created on or before this day (YYYY-MM-DD, UTC)")
	fs.StringVar(&f.sortBy, "sort-by", "", "createdAt (the default), deliveredAt or attempts")
	fs.StringVar(&f.sortOrder, "sort-order", "", "desc (the default) or asc")
	fs.StringVar(&f.plugin, "plugin", "", "only deliveries to this plugin instance")
	fs.StringVar(&f.eventID, "event-id", "", "only deliveries of this event's actions")
	fs.StringVar(&f.actionType, "action-type", "", "only deliveries of actions of this type, e.g. alert")
}

// query is the filters as API query parameters, with the window flags that
// were given.
func (f *deliveryFilters) query(cmd *cobra.Command, window map[string]int) url.Values {
	q := url.Values{}
	for name, v := range map[string]string{"status": f.status, "startDate": f.startDate, "endDate": f.endDate,
		"sortBy": f.sortBy, "sortOrder": f.sortOrder, "plugin": f.plugin, "eventId": f.eventID, "actionType": f.actionType} {
		if v != "" {
			q.Set(name, v)
		}
	}
	for name, v := range window {
		if cmd.Flags().Changed(name) {
			q.Set(name, strconv.Itoa(v))
		}
	}
	return q
}

// deliveryRow is a delivery as the API lists it.
type deliveryRow struct {
	ID            string     `json:"id"`
	EventID       string     `json:"eventId"`
	Plugin        string     `json:"plugin"`
	ActionType    string     `json:"actionType"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"lastError"`
	CreatedAt     *time.Time `json:"createdAt"`
	DeliveredAt   *time.Time `json:"deliveredAt"`
	NextAttemptAt *time.Time `json:"nextAttemptAt"`
}

// errorCell fits an error message on one short table line.
func errorCell(s string) string { return shortCell(s, 60) }

func newDeliveriesListCmd(o *clientOptions) *cobra.Command {
	var (
		f                   deliveryFilters
		page, limit, offset int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List deliveries, newest first",
		Long: `List deliveries with their status, attempts and last error. Every filter
given narrows the list; --start-date and --end-date are both inclusive.
Rows are ordered by --sort-by, ties by id, so pages are stable.`,
		Example: `  arbiter deliveries list --status failed
  arbiter deliveries list --plugin slack --start-date 2026-04-01 --end-date 2026-04-10
  arbiter deliveries list --sort-by attempts --limit 50 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			q := f.query(cmd, map[string]int{"page": page, "limit": limit, "offset": offset})
			var out struct {
				Deliveries []deliveryRow      `json:"deliveries"`
				Pagination httpapi.Pagination `json:"pagination"`
			}
			raw, err := c.do(cmd.Context(), "GET", "/v1/deliveries", q, nil, &out)
			if err != nil {
				return err
			}
			return c.print(raw, func(tw *tabwriter.Writer) {
				row(tw, "ID", "EVENT", "PLUGIN", "ACTION", "STATUS", "ATTEMPTS", "CREATED", "DELIVERED", "LAST ERROR")
				for _, d := range out.Deliveries {
					row(tw, d.ID, d.EventID, d.Plugin, d.ActionType, d.Status, d.Attempts,
						timeCell(d.CreatedAt), timeCell(d.DeliveredAt), errorCell(d.LastError))
				}
				pageFooter(tw, out.Pagination, "deliveries")
			})
		},
	}
	f.register(cmd)
	fs := cmd.Flags()
	fs.IntVar(&page, "page", 1, "page number")
	fs.IntVar(&limit, "limit", 20, "deliveries per page (at most 500)")
	fs.IntVar(&offset, "offset", 0, "deliveries to skip; not with --page")
	return cmd
}

func newDeliveriesGetCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one delivery with its action and every attempt",
		Example: `  arbiter deliveries get dlv_cbc0102c8b70001a17fe8a9d
  arbiter deliveries get dlv_cbc0102c8b70001a17fe8a9d --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var d struct {
				deliveryRow
				EventType      string          `json:"eventType"`
				Endpoint       string          `json:"endpoint"`
				IdempotencyKey string          `json:"idempotencyKey"`
				Action         json.RawMessage `json:"action"`
				History        []struct {
					Attempt    int        `json:"attempt"`
					StartedAt  *time.Time `json:"startedAt"`
					DurationMs float64    `json:"durationMs"`
					Result     string     `json:"result"`
					Error      string     `json:"error"`
				} `json:"history"`
			}
			raw, err := c.do(cmd.Context(), "GET", "/v1/deliveries/"+url.PathEscape(args[0]), nil, nil, &d)
			if err != nil {
				return err
			}
			return c.print(raw, func(tw *tabwriter.Writer) {
				row(tw, "id:", d.ID)
				row(tw, "event:", fmt.Sprintf("%s (%s on %s)", d.EventID, d.EventType, d.Endpoint))
				row(tw, "plugin:", d.Plugin)
				row(tw, "action type:", d.ActionType)
				row(tw, "status:", d.Status)
				row(tw, "attempts:", d.Attempts)
				row(tw, "created:", timeCell(d.CreatedAt))
				row(tw, "delivered:", timeCell(d.DeliveredAt))
				row(tw, "next attempt:", timeCell(d.NextAttemptAt))
				row(tw, "idempotency key:", d.IdempotencyKey)
				if d.LastError != "" {
					row(tw, "last error:", errorCell(d.LastError))
				}
				var action bytes.Buffer
				if json.Indent(&action, d.Action, "  ", "  ") == nil {
					fmt.Fprintf(tw, "action:\n  %s\n", action.String())
				}
				if len(d.History) == 0 {
					return
				}
				fmt.Fprintln(tw, "\nATTEMPT\tSTARTED\tDURATION\tRESULT\tERROR")
				for _, a := range d.History {
					dur := time.Duration(a.DurationMs * float64(time.Millisecond)).Round(time.Microsecond)
					row(tw, a.Attempt, timeCell(a.StartedAt), dur, a.Result, errorCell(a.Error))
				}
			})
		},
	}
}

func newDeliveriesExportCmd(o *clientOptions) *cobra.Command {
	var (
		f             deliveryFilters
		limit, offset int
		out           string
	)
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export deliveries as CSV",
		Long: `Write the deliveries the filters select, every one unless --limit is
given, as a CSV file with a header row: id, eventId, plugin, actionType,
status, attempts, lastError, createdAt, deliveredAt, nextAttemptAt (times
in RFC 3339, empty when unset). The file is streamed to --out, or to
stdout, as the agent reads it from its database, so exports of any size
take little memory on either side. An export that is cut off is an error,
and a partial --out file is removed. Without --timeout an export has no
time limit.`,
		Example: `  arbiter deliveries export --status failed --start-date 2026-04-01 --end-date 2026-04-10 --out failed.csv
  arbiter deliveries export --plugin slack > slack.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("timeout") {
				c.http.Timeout = 0 // a large export takes as long as it takes
			}
			q := f.query(cmd, map[string]int{"limit": limit, "offset": offset})
			resp, err := c.send(cmd.Context(), "GET", "/v1/deliveries/export", q, nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if out == "" || out == "-" {
				if _, err := io.Copy(cmd.OutOrStdout(), resp.Body); err != nil {
					return fmt.Errorf("export cut short: %w", err)
				}
				return nil
			}
			file, err := os.Create(out)
			if err != nil {
				return err
			}
			n, err := io.Copy(file, resp.Body)
			if cerr := file.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(out)
				return fmt.Errorf("export cut short after %d bytes; removed %s: %w", n, out, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%d bytes)\n", out, n)
			return nil
		},
	}
	f.register(cmd)
	fs := cmd.Flags()
	fs.IntVar(&limit, "limit", 0, "export at most this many deliveries (default: all)")
	fs.IntVar(&offset, "offset", 0, "deliveries to skip")
	fs.StringVar(&out, "out", "", "file to write (default: stdout)")
	return cmd
}

func newDeliveriesRetryCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "retry ID",
		Short: "Send a failed delivery again",
		Long: `Make a failed delivery pending again, due at once, with a fresh set of
attempts (dispatch.max_attempts, with backoff). Its attempt history is kept
and the next attempt is numbered after it. Only failed deliveries can be
retried: any other status is an error that names it.`,
		Example: `  arbiter deliveries retry dlv_cbc0102c8b70001a17fe8a9d`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var d deliveryRow
			raw, err := c.do(cmd.Context(), "POST", "/v1/deliveries/"+url.PathEscape(args[0])+"/retry", nil, nil, &d)
			if err != nil {
				return err
			}
			return c.print(raw, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "retried %s: %s, after %d attempts\n", d.ID, d.Status, d.Attempts)
			})
		},
	}
}
