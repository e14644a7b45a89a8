// Command pagerduty sends actions to PagerDuty's Events API v2: a trigger
// per action, or a resolve for an action that names what it resolves.
//
// # Dedup keys
//
// Trigger and resolve must carry the same dedup_key, so the key is derived
// from what the incident is about, not from one delivery:
//
//	arbiter:<type>:<reason>:<customer>
//
// customer is the action's customerId, else the event's. A resolving action
// has a "resolves" member naming the action it ends, as an object
// {"type": "alert", "reason": "chain_discontinuity"} (customerId optional)
// or as the string "alert:chain_discontinuity"; the plugin sends
// event_action "resolve" with that action's key. A policy that wants its own
// grouping sets "dedupKey" on the action, which is used as it is.
//
// Every attempt of one delivery sends the same key, so PagerDuty dedupes
// retries; repeats of the same problem for the same customer update the one
// open incident instead of paging again. The delivery's idempotency key goes
// into custom_details for tracing.
package main

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/plugins/sdk"
)

const version = "1.0.0"

// DefaultURL is the Events API v2 endpoint.
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

const configSchema = `{
  "type": "object",
  "properties": {
    "routing_key_secret": {"type": "string", "minLength": 1, "description": "name of the secret holding the integration's routing key"},
    "url": {"type": "string", "format": "uri", "description": "Events API v2 endpoint; default https://events.pagerduty.com/v2/enqueue"},
    "source": {"type": "string", "description": "payload.source; default arbiter"},
    "component": {"type": "string"},
    "group": {"type": "string"}
  },
  "required": ["routing_key_secret"],
  "additionalProperties": false
}`

type config struct {
	RoutingKeySecret string `json:"routing_key_secret"`
	URL              string `json:"url"`
	Source           string `json:"source"`
	Component        string `json:"component"`
	Group            string `json:"group"`
}

var cfg sdk.ConfigCache[config]

func init() {
	sdk.Register(sdk.Plugin{
		Info: sdk.Info{
			Name: "pagerduty", Kind: sdk.KindNotifier, Version: version,
			ConfigSchema: json.RawMessage(configSchema),
		},
		Handle: handle,
	})
}

func main() {}

// Event is an Events API v2 event.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key"`
	Payload     *Payload `json:"payload,omitempty"`
	Client      string   `json:"client,omitempty"`
}

// Payload is a trigger's payload.
type Payload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

func handle(req *sdk.Request) sdk.Result {
	c, err := cfg.Get(req.Config)
	if err != nil {
		return sdk.Fail("pagerduty: config: " + err.Error())
	}
	key, ok := sdk.Secret(c.RoutingKeySecret)
	if !ok {
		return sdk.Fail("pagerduty: secret " + c.RoutingKeySecret + " is not granted to this plugin")
	}
	f, err := req.Fields()
	if err != nil {
		return sdk.Fail("pagerduty: action: " + err.Error())
	}
	ev, err := buildEvent(c, key, req, f)
	if err != nil {
		return sdk.Fail("pagerduty: " + err.Error())
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return sdk.Fail("pagerduty: encode event: " + err.Error())
	}
	url := c.URL
	if url == "" {
		url = DefaultURL
	}
	resp, err := sdk.HTTP(sdk.HTTPRequest{
		Method:  "POST",
		URL:     url,
		Headers: map[string]string{"Content-Type": "application/json"},
		Body:    body,
	})
	res := sdk.HTTPResult("pagerduty", resp, err)
	if res.Status == sdk.StatusOK {
		res.Message = "pagerduty: " + ev.EventAction + " " + ev.DedupKey
	}
	return res
}

func buildEvent(c config, routingKey string, req *sdk.Request, f sdk.Fields) (Event, error) {
	customer := f.String("customerId")
	if customer == "" {
		customer = req.Event.CustomerID
	}
	if raw, ok := f.Raw("resolves"); ok && string(raw) != "null" {
		typ, reason, cust, err := parseResolves(raw)
		if err != nil {
			return Event{}, err
		}
		if cust == "" {
			cust = customer
		}
		key := f.String("dedupKey")
		if key == "" {
			key = DedupKey(typ, reason, cust)
		}
		return Event{RoutingKey: routingKey, EventAction: "resolve", DedupKey: key, Client: "Arbiter"}, nil
	}

	typ, reason, severity := f.String("type"), f.String("reason"), f.String("severity")
	key := f.String("dedupKey")
	if key == "" {
		key = DedupKey(typ, reason, customer)
	}
	summary := "[" + severity + "] " + typ
	if reason != "" {
		summary += ": " + reason
	}
	if customer != "" {
		summary += " for customer " + customer
	}
	var details map[string]any
	if err := json.Unmarshal(req.Action, &details); err != nil {
		return Event{}, err
	}
	details["eventId"] = req.Event.ID
	details["idempotencyKey"] = req.IdempotencyKey
	ts := req.Event.ReceivedAt
	if ts.IsZero() {
		ts = sdk.Now()
	}
	source := c.Source
	if source == "" {
		source = "arbiter"
	}
	return Event{
		RoutingKey:  routingKey,
		EventAction: "trigger",
		DedupKey:    key,
		Client:      "Arbiter",
		Payload: &Payload{
			Summary:       clip(summary, 1024),
			Source:        source,
			Severity:      Severity(severity),
			Timestamp:     ts.UTC().Format(time.RFC3339),
			Component:     c.Component,
			Group:         c.Group,
			Class:         typ,
			CustomDetails: details,
		},
	}, nil
}

// DedupKey is the incident key shared by a trigger and its resolve.
func DedupKey(typ, reason, customer string) string {
	return "arbiter:" + typ + ":" + reason + ":" + customer
}

// parseResolves reads {"type","reason","customerId"} or "type:reason".
func parseResolves(raw json.RawMessage) (typ, reason, customer string, err error) {
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", "", "", err
		}
		typ, reason, _ = strings.Cut(s, ":")
		return typ, reason, "", nil
	}
	var r struct {
		Type       string `json:"type"`
		Reason     string `json:"reason"`
		CustomerID string `json:"customerId"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return "", "", "", err
	}
	return r.Type, r.Reason, r.CustomerID, nil
}

// Severity maps Arbiter's severities onto PagerDuty's.
func Severity(s string) string {
	switch s {
	case "critical":
		return "critical"
	case "high":
		return "error"
	case "warning":
		return "warning"
	case "info":
		return "info"
	default:
		return "error" // unknown: page rather than hide it
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
