package main

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/arbiter-dev/arbiter/engine/httpapi"
)

func newWebhooksCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "webhooks",
		Short: "Create and manage the endpoints PacSpace posts webhooks to",
		Long: `Manage a running agent's webhook endpoints through its admin API. Each
endpoint is a path /webhooks/{name} with its own signing secrets; its id is
its name. A secret is shown once, when the endpoint is created or its
secret rotated: give it to PacSpace as the webhook secret.

Endpoints declared in the config file are provisioned again at every start:
they cannot be deleted here, their disabled setting returns at restart, and
secrets set there are rotated there.`,
	}
	o := addClientFlags(cmd)
	cmd.AddCommand(newWebhooksCreateCmd(o), newWebhooksListCmd(o), newWebhooksGetCmd(o), newWebhooksToggleCmd(o),
		newWebhooksTestCmd(o), newWebhooksDeleteCmd(o), newWebhooksRotateCmd(o))
	return cmd
}

// webhookRow is an endpoint as the API shows it.
type webhookRow struct {
	ID            string           `json:"id"`
	URL           string           `json:"url"`
	Description   string           `json:"description"`
	Enabled       bool             `json:"enabled"`
	AllowLegacy   bool             `json:"allowLegacy"`
	Configured    bool             `json:"configured"`
	CreatedAt     *time.Time       `json:"createdAt"`
	Secret        string           `json:"secret"` // only when created
	LastTriggered *time.Time       `json:"lastTriggered"`
	SuccessCount  int64            `json:"successCount"`
	FailureCount  int64            `json:"failureCount"`
	Failures      map[string]int64 `json:"failures"`
	ActiveSecrets int              `json:"activeSecrets"`
	Secrets       []struct {
		ExpiresAt *time.Time `json:"expiresAt"`
	} `json:"secrets"`
}

// onceWarning goes with every secret the API hands out.
const onceWarning = "Save the secret now: it will not be shown again. Give it to PacSpace as the webhook secret."

func enabledCell(enabled bool) string {
	if enabled {
		return "enabled"
	}
	return "disabled"
}

func newWebhooksCreateCmd(o *clientOptions) *cobra.Command {
	var (
		description string
		allowLegacy bool
	)
	cmd := &cobra.Command{
		Use:   "create [NAME]",
		Short: "Create an endpoint and show its secret, once",
		Long: `Create the endpoint /webhooks/NAME with a new signing secret, shown only
in this answer. Without NAME one is generated (wh_…). NAME is 1 to 64 of
a-z, 0-9, _ and -. New endpoints refuse the legacy sha256= signature scheme,
which has no timestamp and can be replayed, unless --allow-legacy is given.`,
		Example: `  arbiter webhooks create shop --description "Production webhook"
  arbiter webhooks create --output json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			body := map[string]any{"description": description, "allowLegacy": allowLegacy}
			if len(args) == 1 {
				body["name"] = args[0]
			}
			var w webhookRow
			raw, err := c.do(cmd.Context(), "POST", "/v1/webhooks", nil, body, &w)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), onceWarning)
			return c.print(raw, func(tw *tabwriter.Writer) {
				row(tw, "id:", w.ID)
				row(tw, "url:", w.URL)
				if w.Description != "" {
					row(tw, "description:", w.Description)
				}
				row(tw, "state:", enabledCell(w.Enabled))
				row(tw, "legacy scheme:", legacyCell(w.AllowLegacy))
				row(tw, "secret:", w.Secret)
			})
		},
	}
	cmd.Flags().StringVar(&description, "description", "", "what the endpoint is for")
	cmd.Flags().BoolVar(&allowLegacy, "allow-legacy", false, "also accept the timestamp-less sha256= signature scheme")
	return cmd
}

func legacyCell(allowed bool) string {
	if allowed {
		return "accepted"
	}
	return "refused"
}

func newWebhooksListCmd(o *clientOptions) *cobra.Command {
	var page, limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List endpoints with what each received",
		Long: `List endpoints, oldest first, with the events each accepted, the
requests it refused and when it last accepted one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			q := url.Values{}
			for name, v := range map[string]int{"page": page, "limit": limit} {
				if cmd.Flags().Changed(name) {
					q.Set(name, strconv.Itoa(v))
				}
			}
			var out struct {
				Webhooks   []webhookRow       `json:"webhooks"`
				Pagination httpapi.Pagination `json:"pagination"`
			}
			raw, err := c.do(cmd.Context(), "GET", "/v1/webhooks", q, nil, &out)
			if err != nil {
				return err
			}
			return c.print(raw, func(tw *tabwriter.Writer) {
				row(tw, "ID", "STATE", "ACCEPTED", "REFUSED", "LAST ACCEPTED", "SECRETS", "CREATED", "URL")
				for _, w := range out.Webhooks {
					row(tw, w.ID, enabledCell(w.Enabled), w.SuccessCount, w.FailureCount, timeCell(w.LastTriggered),
						w.ActiveSecrets, timeCell(w.CreatedAt), w.URL)
				}
				pageFooter(tw, out.Pagination, "endpoints")
			})
		},
	}
	cmd.Flags().IntVar(&page, "page", 1, "page number")
	cmd.Flags().IntVar(&limit, "limit", 20, "endpoints per page (at most 500)")
	return cmd
}

func newWebhooksGetCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID",
		Short: "Show one endpoint: counts, refusals by reason, secrets' expiry",
		Long: `Show one endpoint with what it received: events accepted, requests
refused and why, and its active secrets with their expiry. Secret values are
never shown after creation.`,
		Example: `  arbiter webhooks get shop`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var w webhookRow
			raw, err := c.do(cmd.Context(), "GET", webhookPath(args[0], ""), nil, nil, &w)
			if err != nil {
				return err
			}
			return c.print(raw, func(tw *tabwriter.Writer) {
				row(tw, "id:", w.ID)
				row(tw, "url:", w.URL)
				if w.Description != "" {
					row(tw, "description:", w.Description)
				}
				state := enabledCell(w.Enabled)
				if w.Configured {
					state += " (declared in the config file)"
				}
				row(tw, "state:", state)
				row(tw, "legacy scheme:", legacyCell(w.AllowLegacy))
				row(tw, "created:", timeCell(w.CreatedAt))
				row(tw, "last accepted:", timeCell(w.LastTriggered))
				row(tw, "accepted:", w.SuccessCount)
				row(tw, "refused:", w.FailureCount)
				reasons := make([]string, 0, len(w.Failures))
				for r := range w.Failures {
					reasons = append(reasons, r)
				}
				slices.Sort(reasons)
				for _, r := range reasons {
					row(tw, "  "+r+":", w.Failures[r])
				}
				row(tw, "active secrets:", w.ActiveSecrets)
				for i, s := range w.Secrets {
					expiry := "never expires"
					if s.ExpiresAt != nil {
						expiry = "expires " + timeCell(s.ExpiresAt)
					}
					row(tw, "  #"+strconv.Itoa(i+1)+":", expiry)
				}
			})
		},
	}
}

// webhookPath is the API path of an endpoint, or of one of its actions.
func webhookPath(id, action string) string {
	p := "/v1/webhooks/" + url.PathEscape(id)
	if action != "" {
		p += "/" + action
	}
	return p
}

func newWebhooksToggleCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "toggle ID",
		Short: "Enable a disabled endpoint, or disable an enabled one",
		Long: `Enable or disable an endpoint. A disabled endpoint answers every webhook
403 endpoint_disabled at once; PacSpace retries them later.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var out struct {
				ID      string `json:"id"`
				Enabled bool   `json:"enabled"`
			}
			raw, err := c.do(cmd.Context(), "POST", webhookPath(args[0], "toggle"), nil, nil, &out)
			if err != nil {
				return err
			}
			return c.print(raw, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "%s is now %s\n", out.ID, enabledCell(out.Enabled))
			})
		},
	}
}

func newWebhooksTestCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "test ID",
		Short: "Send a signed test event through the agent's own pipeline",
		Long: `Sign PacSpace's test event with the endpoint's newest secret and hand it
to the agent's receiver: it is verified, stored and decided like any
delivery. Exits 1 if the receiver refused it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var out struct {
				Success    bool   `json:"success"`
				HTTPStatus int    `json:"httpStatus"`
				Message    string `json:"message"`
				EventID    string `json:"eventId"`
			}
			raw, err := c.do(cmd.Context(), "POST", webhookPath(args[0], "test"), nil, nil, &out)
			if err != nil {
				return err
			}
			err = c.print(raw, func(tw *tabwriter.Writer) {
				row(tw, "result:", fmt.Sprintf("HTTP %d, %s", out.HTTPStatus, out.Message))
				row(tw, "event id:", out.EventID)
			})
			if err == nil && !out.Success {
				return exitError{code: 1}
			}
			return err
		},
	}
}

func newWebhooksDeleteCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete an endpoint; its stored events stay",
		Long: `Delete an endpoint: webhooks to it are answered 404 from then on. The
events it received stay in the inbox. An endpoint declared in the config
file cannot be deleted here: remove it from the config file first.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			raw, err := c.do(cmd.Context(), "DELETE", webhookPath(args[0], ""), nil, nil, nil)
			if err != nil {
				return err
			}
			return c.print(raw, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "deleted %s\n", args[0])
			})
		},
	}
}

func newWebhooksRotateCmd(o *clientOptions) *cobra.Command {
	var grace string
	cmd := &cobra.Command{
		Use:   "rotate ID",
		Short: "Add a new secret; the old ones verify for a grace period",
		Long: `Give an endpoint a new signing secret, shown once. The secrets it had keep
verifying for --grace-period (at most 720h), so deliveries PacSpace signs
with the old secret are accepted until it is switched over.`,
		Example: `  arbiter webhooks rotate shop
  arbiter webhooks rotate shop --grace-period 1h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var body any
			if grace != "" {
				body = map[string]string{"gracePeriod": grace}
			}
			var out struct {
				ID                      string     `json:"id"`
				Secret                  string     `json:"secret"`
				PreviousSecretExpiresAt *time.Time `json:"previousSecretExpiresAt"`
			}
			raw, err := c.do(cmd.Context(), "POST", webhookPath(args[0], "rotate"), nil, body, &out)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), onceWarning)
			return c.print(raw, func(tw *tabwriter.Writer) {
				row(tw, "id:", out.ID)
				row(tw, "secret:", out.Secret)
				row(tw, "previous secrets expire:", timeCell(out.PreviousSecretExpiresAt))
			})
		},
	}
	cmd.Flags().StringVar(&grace, "grace-period", "", "how long the previous secrets keep verifying, e.g. 1h (default 24h)")
	return cmd
}
