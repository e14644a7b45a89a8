// Command discord is an example custom plugin: it posts actions to a Discord
// channel webhook as an embed. Copy this folder to start your own notifier;
// README.md walks through it.
package main

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/plugins/sdk"
)

const version = "0.1.0"

// configSchema is what the operator may write under this plugin's config:
// Arbiter checks it at startup, so mistakes surface before any delivery.
const configSchema = `{
  "type": "object",
  "properties": {
    "webhook_url_secret": {"type": "string", "minLength": 1},
    "username": {"type": "string"}
  },
  "required": ["webhook_url_secret"],
  "additionalProperties": false
}`

type config struct {
	WebhookURLSecret string `json:"webhook_url_secret"`
	Username         string `json:"username"`
}

// cfg decodes the config once per instance instead of once per call:
// JSON decoding is the most expensive thing a Wasm plugin does.
var cfg sdk.ConfigCache[config]

// A reactor has no main: the host runs init once per instance.
func init() {
	sdk.Register(sdk.Plugin{
		Info: sdk.Info{
			Name: "discord", Kind: sdk.KindNotifier, Version: version,
			ConfigSchema: json.RawMessage(configSchema),
		},
		Handle: handle,
	})
}

func main() {}

// Message is a Discord webhook payload.
type Message struct {
	Username string  `json:"username,omitempty"`
	Content  string  `json:"content"`
	Embeds   []Embed `json:"embeds"`
}

// Embed is a Discord rich embed.
type Embed struct {
	Title       string       `json:"title"`
	Description string       `json:"description,omitempty"`
	Color       int          `json:"color"`
	Fields      []EmbedField `json:"fields,omitempty"`
	Footer      *EmbedFooter `json:"footer,omitempty"`
	Timestamp   string       `json:"timestamp,omitempty"`
}

// EmbedField is one name/value pair of an embed.
type EmbedField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

// EmbedFooter is an embed's footer.
type EmbedFooter struct {
	Text string `json:"text"`
}

func handle(req *sdk.Request) sdk.Result {
	c, err := cfg.Get(req.Config)
	if err != nil {
		return sdk.Fail("discord: config: " + err.Error())
	}
	// Secrets are granted by the operator, by name, per plugin instance.
	url, ok := sdk.Secret(c.WebhookURLSecret)
	if !ok {
		return sdk.Fail("discord: secret " + c.WebhookURLSecret + " is not granted")
	}
	f, err := req.Fields()
	if err != nil {
		return sdk.Fail("discord: action: " + err.Error())
	}
	body, err := json.Marshal(buildMessage(c, req, f))
	if err != nil {
		return sdk.Fail("discord: " + err.Error())
	}
	// The host only lets this through to hosts in the instance's
	// allow_hosts (discord.com).
	resp, err := sdk.HTTP(sdk.HTTPRequest{
		Method:  "POST",
		URL:     url,
		Headers: map[string]string{"Content-Type": "application/json"},
		Body:    body,
	})
	res := sdk.HTTPResult("discord", resp, err)
	// Discord also says how long to wait in its JSON body.
	if resp.Status == 429 && res.RetryAfter == 0 {
		var rl struct {
			RetryAfter float64 `json:"retry_after"`
		}
		if json.Unmarshal(resp.Body, &rl) == nil && rl.RetryAfter > 0 {
			res.RetryAfter = time.Duration(rl.RetryAfter * float64(time.Second))
		}
	}
	return res
}

func buildMessage(c config, req *sdk.Request, f sdk.Fields) Message {
	severity, reason := f.String("severity"), f.String("reason")
	customer := f.String("customerId")
	if customer == "" {
		customer = req.Event.CustomerID
	}
	e := Embed{
		Title:  strings.ToUpper(severity) + " · " + f.String("type") + ": " + reason,
		Color:  color(severity),
		Footer: &EmbedFooter{Text: "event " + req.Event.ID + " · delivery " + req.DeliveryID},
	}
	if !req.Event.ReceivedAt.IsZero() {
		e.Timestamp = req.Event.ReceivedAt.UTC().Format(time.RFC3339)
	}
	if customer != "" {
		e.Fields = append(e.Fields, EmbedField{Name: "Customer", Value: customer, Inline: true})
	}
	// Every other scalar detail of the action, in the policy's order.
	for _, m := range f {
		switch m.Key {
		case "type", "reason", "severity", "customerId", "targets":
			continue
		}
		if len(m.Value) == 0 || m.Value[0] == '{' || m.Value[0] == '[' || len(e.Fields) == 25 {
			continue
		}
		e.Fields = append(e.Fields, EmbedField{Name: m.Key, Value: sdk.Text(m.Value), Inline: true})
	}
	return Message{Username: c.Username, Content: "Arbiter: " + reason, Embeds: []Embed{e}}
}

func color(severity string) int {
	switch severity {
	case "critical":
		return 0xD0021B
	case "high":
		return 0xF5A623
	case "warning":
		return 0xF8E71C
	default:
		return 0x4A90E2
	}
}
