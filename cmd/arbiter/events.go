package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiter-dev/arbiter/engine/httpapi"
	"github.com/arbiter-dev/arbiter/engine/policy"
)

func newEventsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events",
		Short: "List received events and their decisions; replay policies over them",
		Long: `Inspect a running agent's inbox through its admin API: every received
event, the decision made for it, and where its actions went; and replay
stored events against the active or a candidate policy set, as a dry run.`,
	}
	o := addClientFlags(cmd)
	cmd.AddCommand(newEventsListCmd(o), newEventsGetCmd(o), newEventsReplayCmd(o))
	return cmd
}

// eventRow is the part of an event the table shows.
type eventRow struct {
	Seq        int64      `json:"seq"`
	ID         string     `json:"id"`
	Endpoint   string     `json:"endpoint"`
	Type       string     `json:"type"`
	Status     string     `json:"status"`
	Error      string     `json:"error"`
	ReceivedAt *time.Time `json:"receivedAt"`
	Actions    []struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"actions"`
}

// actionsCell lists an event's actions as type/reason.
func (e eventRow) actionsCell() string {
	if len(e.Actions) == 0 {
		return "-"
	}
	names := make([]string, len(e.Actions))
	for i, a := range e.Actions {
		names[i] = a.Type + "/" + a.Reason
	}
	return strings.Join(names, ", ")
}

func newEventsListCmd(o *clientOptions) *cobra.Command {
	var (
		endpoint, typ, status, startDate, endDate, since, until, hasActions, reason, sortOrder string
		page, limit, offset                                                                    int
		afterSeq                                                                               int64
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List received events, newest first",
		Long: `List the events the agent received, each with its status and the actions
its decision raised. Every filter given narrows the list. --since and
--until take an RFC 3339 time (or a date); --start-date and --end-date a
date, both inclusive.`,
		Example: `  arbiter events list --status failed
  arbiter events list --reason period_drift --since 2026-04-10T00:00:00Z
  arbiter events list --has-actions true --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			q := url.Values{}
			set := func(name, v string) {
				if v != "" {
					q.Set(name, v)
				}
			}
			set("endpoint", endpoint)
			set("type", typ)
			set("status", status)
			set("startDate", startDate)
			set("endDate", endDate)
			set("since", since)
			set("until", until)
			set("hasActions", hasActions)
			set("reason", reason)
			set("sortOrder", sortOrder)
			for name, v := range map[string]int{"page": page, "limit": limit, "offset": offset} {
				if cmd.Flags().Changed(name) {
					q.Set(name, strconv.Itoa(v))
				}
			}
			if afterSeq > 0 {
				q.Set("afterSeq", strconv.FormatInt(afterSeq, 10))
			}
			var out struct {
				Events     []eventRow         `json:"events"`
				Pagination httpapi.Pagination `json:"pagination"`
			}
			raw, err := c.do(cmd.Context(), "GET", "/v1/events", q, nil, &out)
			if err != nil {
				return err
			}
			return c.print(raw, func(tw *tabwriter.Writer) {
				row(tw, "SEQ", "ID", "ENDPOINT", "TYPE", "STATUS", "RECEIVED", "ACTIONS")
				for _, e := range out.Events {
					row(tw, e.Seq, e.ID, e.Endpoint, emptyDash(e.Type), e.Status, timeCell(e.ReceivedAt), e.actionsCell())
				}
				pageFooter(tw, out.Pagination, "events")
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&endpoint, "endpoint", "", "only events received on this endpoint")
	f.StringVar(&typ, "type", "", "only events of this type, e.g. delta.verified")
	f.StringVar(&status, "status", "", "only events in this status: received, held, processed or failed")
	f.StringVar(&startDate, "start-date", "", "only events received on or after this day (YYYY-MM-DD)")
	f.StringVar(&endDate, "end-date", "", "only events received on or before this day (YYYY-MM-DD)")
	f.StringVar(&since, "since", "", "only events received at or after this time (RFC 3339)")
	f.StringVar(&until, "until", "", "only events received before this time (RFC 3339)")
	f.StringVar(&hasActions, "has-actions", "", "true: only events whose decision raised actions; false: only those decided with none")
	f.StringVar(&reason, "reason", "", "only events with an action of this reason, e.g. period_drift")
	f.StringVar(&sortOrder, "sort-order", "", "desc (newest first, the default) or asc")
	f.Int64Var(&afterSeq, "after-seq", 0, "only events after this sequence number")
	f.IntVar(&page, "page", 1, "page number")
	f.IntVar(&limit, "limit", 20, "events per page (at most 500)")
	f.IntVar(&offset, "offset", 0, "events to skip; not with --page")
	return cmd
}

func newEventsGetCmd(o *clientOptions) *cobra.Command {
	var endpoint string
	cmd := &cobra.Command{
		Use:   "get ID",
		Short: "Show one event with its body, decision and deliveries",
		Long: `Show one event: its body and headers (the signature redacted), the input
document and actions of its decision, and the deliveries of those actions.
ID is the X-Event-ID, or seq:N for the event with sequence number N; when
the same X-Event-ID arrived on two endpoints, --endpoint picks one.`,
		Example: `  arbiter events get evt_01j9z0042
  arbiter events get seq:42 --output json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			q := url.Values{}
			if endpoint != "" {
				q.Set("endpoint", endpoint)
			}
			var ev struct {
				eventRow
				Scheme      string            `json:"scheme"`
				ProcessedAt *time.Time        `json:"processedAt"`
				Headers     map[string]string `json:"headers"`
				Body        json.RawMessage   `json:"body"`
				Decision    *struct {
					Revision   string            `json:"revision"`
					Actions    []json.RawMessage `json:"actions"`
					EvalMicros int64             `json:"evalMicros"`
					Error      string            `json:"error"`
				} `json:"decision"`
				Deliveries []struct {
					ID         string `json:"id"`
					Plugin     string `json:"plugin"`
					ActionType string `json:"actionType"`
					Status     string `json:"status"`
					Attempts   int    `json:"attempts"`
					LastError  string `json:"lastError"`
				} `json:"deliveries"`
			}
			raw, err := c.do(cmd.Context(), "GET", "/v1/events/"+url.PathEscape(args[0]), q, nil, &ev)
			if err != nil {
				return err
			}
			return c.print(raw, func(tw *tabwriter.Writer) {
				row(tw, "seq:", ev.Seq)
				row(tw, "id:", ev.ID)
				row(tw, "endpoint:", ev.Endpoint)
				row(tw, "type:", emptyDash(ev.Type))
				row(tw, "status:", ev.Status)
				if ev.Error != "" {
					row(tw, "error:", ev.Error)
				}
				row(tw, "scheme:", ev.Scheme)
				row(tw, "received:", timeCell(ev.ReceivedAt))
				row(tw, "processed:", timeCell(ev.ProcessedAt))
				row(tw, "body:", string(ev.Body))
				if d := ev.Decision; d != nil {
					row(tw, "revision:", policy.ShortRevision(d.Revision))
					row(tw, "evaluated in:", time.Duration(d.EvalMicros)*time.Microsecond)
					if d.Error != "" {
						row(tw, "decision error:", d.Error)
					}
					if len(d.Actions) == 0 {
						row(tw, "actions:", "none")
					}
					for i, a := range d.Actions {
						label := ""
						if i == 0 {
							label = "actions:"
						}
						row(tw, label, describeAction(a))
					}
				} else {
					row(tw, "decision:", "none yet")
				}
				tw.Flush() // the deliveries table has its own columns
				if len(ev.Deliveries) > 0 {
					fmt.Fprintln(tw)
					row(tw, "DELIVERY", "PLUGIN", "ACTION", "STATUS", "ATTEMPTS", "LAST ERROR")
					for _, d := range ev.Deliveries {
						row(tw, d.ID, d.Plugin, d.ActionType, d.Status, d.Attempts, emptyDash(d.LastError))
					}
				}
			})
		},
	}
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "the endpoint the event arrived on, when its id is on several")
	return cmd
}

// replayResult is the answer of POST /v1/replay.
type replayResult struct {
	Events []struct {
		ID             string            `json:"id"`
		Seq            int64             `json:"seq"`
		Added          []json.RawMessage `json:"added"`
		Removed        []json.RawMessage `json:"removed"`
		UnchangedCount int               `json:"unchangedCount"`
		Error          string            `json:"error"`
	} `json:"events"`
	Summary struct {
		Evaluated       int            `json:"evaluated"`
		Changed         int            `json:"changed"`
		Unchanged       int            `json:"unchanged"`
		Failed          int            `json:"failed"`
		AddedByReason   map[string]int `json:"addedByReason"`
		RemovedByReason map[string]int `json:"removedByReason"`
		RevisionFrom    []string       `json:"revisionFrom"`
		RevisionTo      string         `json:"revisionTo"`
		LimitReached    bool           `json:"limitReached"`
	} `json:"summary"`
}

func newEventsReplayCmd(o *clientOptions) *cobra.Command {
	var (
		policyDir, since, until, endpoint string
		eventIDs                          []string
		limit                             int
	)
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Dry-run a policy change: decide stored events again and show what would change",
		Long: `Decide stored events again, each from the input document recorded with its
decision (the settlement state as it was), and print the actions that would
be added (+) or removed (-), then a summary. Nothing is executed or stored.

Without --policy-dir the agent's active policy set decides; with it, the set
in that directory on the agent's host, loaded as the agent would load it:
with its data overrides, compiled, and only if its tests pass.`,
		Example: `  arbiter events replay --policy-dir "$PWD/policies.next"
  arbiter events replay --since 2026-04-10T00:00:00Z --event evt_01j9z0042`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			body := map[string]any{}
			for name, v := range map[string]string{"policyDir": policyDir, "since": since, "until": until, "endpoint": endpoint} {
				if v != "" {
					body[name] = v
				}
			}
			if len(eventIDs) > 0 {
				body["eventIds"] = eventIDs
			}
			if cmd.Flags().Changed("limit") {
				body["limit"] = limit
			}
			var res replayResult
			raw, err := c.do(cmd.Context(), "POST", "/v1/replay", nil, body, &res)
			if err != nil {
				return err
			}
			return c.print(raw, func(tw *tabwriter.Writer) { printReplay(tw, res) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&policyDir, "policy-dir", "", "candidate policy directory, a path on the agent's host (default: the active set)")
	f.StringVar(&since, "since", "", "only events received at or after this time (RFC 3339)")
	f.StringVar(&until, "until", "", "only events received before this time (RFC 3339)")
	f.StringVar(&endpoint, "endpoint", "", "only events received on this endpoint")
	f.StringArrayVar(&eventIDs, "event", nil, "only this event id (repeatable)")
	f.IntVar(&limit, "limit", 1000, "decide at most this many events (at most 10000)")
	return cmd
}

// printReplay writes the diff, one block per changed event, and the
// summary.
func printReplay(w io.Writer, res replayResult) {
	for _, e := range res.Events {
		fmt.Fprintf(w, "%s (seq %d)", e.ID, e.Seq)
		if e.Error != "" {
			fmt.Fprintf(w, ": cannot decide again: %s\n", e.Error)
			continue
		}
		fmt.Fprintf(w, ", %d unchanged\n", e.UnchangedCount)
		for _, a := range e.Removed {
			fmt.Fprintf(w, "  - %s\n", describeAction(a))
		}
		for _, a := range e.Added {
			fmt.Fprintf(w, "  + %s\n", describeAction(a))
		}
	}
	s := res.Summary
	if len(res.Events) > 0 {
		fmt.Fprintln(w)
	}
	from := make([]string, len(s.RevisionFrom))
	for i, r := range s.RevisionFrom {
		from[i] = policy.ShortRevision(r)
	}
	fmt.Fprintf(w, "evaluated %d events: %d changed, %d unchanged, %d failed\n", s.Evaluated, s.Changed, s.Unchanged, s.Failed)
	if len(from) == 0 {
		from = []string{"-"}
	}
	fmt.Fprintf(w, "revision %s -> %s\n", strings.Join(from, ", "), policy.ShortRevision(s.RevisionTo))
	fmt.Fprintf(w, "added:   %s\n", byReason(s.AddedByReason))
	fmt.Fprintf(w, "removed: %s\n", byReason(s.RemovedByReason))
	if s.LimitReached {
		fmt.Fprintln(w, "more events match: raise --limit or narrow --since/--until to see them")
	}
}

// describeAction shows an action as "type/reason severity key=value ...
// -> targets", details in key order.
func describeAction(raw json.RawMessage) string {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return string(raw)
	}
	str := func(k string) string {
		var s string
		json.Unmarshal(obj[k], &s)
		return s
	}
	var targets []string
	json.Unmarshal(obj["targets"], &targets)
	parts := []string{str("type") + "/" + str("reason"), str("severity")}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		switch k {
		case "type", "reason", "severity", "targets", "eventId":
			continue
		}
		v := string(obj[k])
		if s := str(k); s != "" {
			v = s
		}
		parts = append(parts, k+"="+v)
	}
	if len(targets) > 0 {
		parts = append(parts, "-> "+strings.Join(targets, ", "))
	}
	return strings.Join(parts, " ")
}

func byReason(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func emptyDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
