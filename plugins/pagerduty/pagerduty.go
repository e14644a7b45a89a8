// Package pagerduty is the bundled plugin that sends actions to
// PagerDuty's Events API v2: a trigger per action, or a resolve for an
// action that names what it resolves.
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
package pagerduty

import (
	"errors"
	"slices"
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
	RoutingKeySecret, URL, Source, Component, Group string
}

var cfg sdk.FieldsCache

func init() {
	sdk.Register(sdk.Plugin{
		Info: sdk.Info{
			Name: "pagerduty", Kind: sdk.KindNotifier, Version: version,
			ConfigSchema: []byte(configSchema),
		},
		Handle: handle,
	})
}

// Event is an Events API v2 event.
type Event struct {
	RoutingKey  string
	EventAction string
	DedupKey    string
	Payload     *Payload // triggers only
	Client      string   // optional
}

// Payload is a trigger's payload.
type Payload struct {
	Summary   string
	Source    string
	Severity  string
	Timestamp string // optional, like the rest
	Component string
	Group     string
	Class     string
	// CustomDetails are the action's members and the event's ids, as raw
	// JSON values: numbers go through exactly as the policy wrote them.
	CustomDetails sdk.Fields
}

// JSON encodes the event as the Events API expects it, empty optional
// members left out and custom_details in key order.
func (e Event) JSON() []byte {
	var j sdk.JSON
	j.Object()
	j.Key("routing_key").String(e.RoutingKey)
	j.Key("event_action").String(e.EventAction)
	j.Key("dedup_key").String(e.DedupKey)
	if p := e.Payload; p != nil {
		j.Key("payload").Object()
		j.Key("summary").String(p.Summary)
		j.Key("source").String(p.Source)
		j.Key("severity").String(p.Severity)
		optional(&j, "timestamp", p.Timestamp)
		optional(&j, "component", p.Component)
		optional(&j, "group", p.Group)
		optional(&j, "class", p.Class)
		if len(p.CustomDetails) > 0 {
			j.Key("custom_details").Object()
			for _, f := range p.CustomDetails {
				j.Key(f.Key).Raw(f.Value)
			}
			j.End()
		}
		j.End()
	}
	optional(&j, "client", e.Client)
	return j.End().Bytes()
}

func optional(j *sdk.JSON, key, value string) {
	if value != "" {
		j.Key(key).String(value)
	}
}

func handle(req *sdk.Request) sdk.Result {
	cf, err := cfg.Get(req.Config)
	if err != nil {
		return sdk.Fail("pagerduty: config: " + err.Error())
	}
	c := config{cf.String("routing_key_secret"), cf.String("url"), cf.String("source"), cf.String("component"), cf.String("group")}
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
	url := c.URL
	if url == "" {
		url = DefaultURL
	}
	resp, err := sdk.HTTP(sdk.HTTPRequest{
		Method:  "POST",
		URL:     url,
		Headers: map[string]string{"Content-Type": "application/json"},
		Body:    ev.JSON(),
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
	details := customDetails(f, map[string]string{"eventId": req.Event.ID, "idempotencyKey": req.IdempotencyKey})
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

// customDetails are the action's members, one per key (the last of
// duplicates, as a JSON decoder keeps), with ids set over them, sorted by
// key.
func customDetails(action sdk.Fields, ids map[string]string) sdk.Fields {
	var out sdk.Fields
	for i, f := range action {
		if _, set := ids[f.Key]; set || slices.ContainsFunc(action[i+1:], func(g sdk.Field) bool { return g.Key == f.Key }) {
			continue
		}
		out = append(out, f)
	}
	for k, v := range ids {
		var j sdk.JSON
		out = append(out, sdk.Field{Key: k, Value: j.String(v).Bytes()})
	}
	slices.SortFunc(out, func(a, b sdk.Field) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// parseResolves reads {"type","reason","customerId"} or "type:reason".
func parseResolves(raw []byte) (typ, reason, customer string, err error) {
	if raw[0] == '"' {
		s := sdk.Text(raw)
		typ, reason, _ = strings.Cut(s, ":")
		return typ, reason, "", nil
	}
	r, err := sdk.ParseFields(raw)
	if err != nil {
		return "", "", "", errors.New("resolves: want an object or \"type:reason\"")
	}
	return r.String("type"), r.String("reason"), r.String("customerId"), nil
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
