// Package slack is the bundled plugin that posts actions to a Slack
// incoming webhook as a Block Kit message: severity, reason, customer, the
// key figures the action carries and the event id.
//
// The webhook URL is a secret: the config names it (webhook_url_secret) and
// the operator grants it to this plugin. Slack's 429 becomes a retry after
// its Retry-After, 5xx and timeouts retry, other 4xx fail.
package slack

import (
	"strconv"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/plugins/sdk"
)

const version = "1.0.0"

const configSchema = `{
  "type": "object",
  "properties": {
    "webhook_url_secret": {"type": "string", "minLength": 1, "description": "name of the secret holding the incoming-webhook URL"},
    "channel": {"type": "string", "description": "channel override, e.g. #settlement-alerts (legacy webhooks only)"},
    "username": {"type": "string", "description": "display name override (legacy webhooks only)"},
    "icon_emoji": {"type": "string", "description": "icon override, e.g. :scales: (legacy webhooks only)"}
  },
  "required": ["webhook_url_secret"],
  "additionalProperties": false
}`

type config struct {
	WebhookURLSecret, Channel, Username, IconEmoji string
}

var cfg sdk.FieldsCache

func init() {
	sdk.Register(sdk.Plugin{
		Info: sdk.Info{
			Name: "slack", Kind: sdk.KindNotifier, Version: version,
			ConfigSchema: []byte(configSchema),
		},
		Handle: handle,
	})
}

func handle(req *sdk.Request) sdk.Result {
	cf, err := cfg.Get(req.Config)
	if err != nil {
		return sdk.Fail("slack: config: " + err.Error())
	}
	c := config{cf.String("webhook_url_secret"), cf.String("channel"), cf.String("username"), cf.String("icon_emoji")}
	url, ok := sdk.Secret(c.WebhookURLSecret)
	if !ok {
		return sdk.Fail("slack: secret " + c.WebhookURLSecret + " is not granted to this plugin")
	}
	f, err := req.Fields()
	if err != nil {
		return sdk.Fail("slack: action: " + err.Error())
	}
	resp, err := sdk.HTTP(sdk.HTTPRequest{
		Method:  "POST",
		URL:     url,
		Headers: map[string]string{"Content-Type": "application/json"},
		Body:    buildMessage(c, req, f).JSON(),
	})
	return sdk.HTTPResult("slack", resp, err)
}

// Message is a Slack incoming-webhook payload.
type Message struct {
	Channel   string // optional
	Username  string // optional
	IconEmoji string // optional
	Text      string
	Blocks    []Block
}

// Block is one Block Kit layout block.
type Block struct {
	Type     string
	Text     *Text  // optional
	Fields   []Text // optional
	Elements []Text // optional
}

// Text is a Block Kit text object.
type Text struct {
	Type  string
	Text  string
	Emoji bool // optional
}

// JSON encodes the message as Slack expects it, empty optional members
// left out.
func (m Message) JSON() []byte {
	var j sdk.JSON
	j.Object()
	optional(&j, "channel", m.Channel)
	optional(&j, "username", m.Username)
	optional(&j, "icon_emoji", m.IconEmoji)
	j.Key("text").String(m.Text)
	j.Key("blocks").Array()
	for _, b := range m.Blocks {
		j.Object()
		j.Key("type").String(b.Type)
		if b.Text != nil {
			j.Key("text")
			b.Text.encode(&j)
		}
		texts(&j, "fields", b.Fields)
		texts(&j, "elements", b.Elements)
		j.End()
	}
	return j.End().End().Bytes()
}

func (t Text) encode(j *sdk.JSON) {
	j.Object()
	j.Key("type").String(t.Type)
	j.Key("text").String(t.Text)
	if t.Emoji {
		j.Key("emoji").Bool(true)
	}
	j.End()
}

func optional(j *sdk.JSON, key, value string) {
	if value != "" {
		j.Key(key).String(value)
	}
}

func texts(j *sdk.JSON, key string, ts []Text) {
	if len(ts) == 0 {
		return
	}
	j.Key(key).Array()
	for _, t := range ts {
		t.encode(j)
	}
	j.End()
}

func mrkdwn(s string) Text { return Text{Type: "mrkdwn", Text: s} }

// Slack's limits: 150 characters of header, 10 fields a section, 2000
// characters a field.
const (
	maxHeader    = 150
	maxFields    = 10
	maxFieldText = 2000
)

func buildMessage(c config, req *sdk.Request, f sdk.Fields) Message {
	typ, reason, severity := f.String("type"), f.String("reason"), f.String("severity")
	customer := f.String("customerId")
	if customer == "" {
		customer = req.Event.CustomerID
	}
	title := humanize(reason)
	if title == "" {
		title = humanize(typ)
	}

	summary := []Text{
		mrkdwn("*Severity*\n" + orDash(strings.ToUpper(severity))),
		mrkdwn("*Action*\n" + orDash(typ)),
		mrkdwn("*Reason*\n" + orDash(reason)),
		mrkdwn("*Customer*\n" + orDash(customer)),
	}
	blocks := []Block{
		{Type: "header", Text: &Text{Type: "plain_text", Text: clip(emoji(severity)+" "+title, maxHeader), Emoji: true}},
		{Type: "section", Fields: summary},
	}
	if figures := keyFigures(f); len(figures) > 0 {
		blocks = append(blocks, Block{Type: "section", Fields: figures})
	}
	ctx := []string{"Event `" + orDash(req.Event.ID) + "`"}
	if req.Event.Type != "" {
		ctx = append(ctx, req.Event.Type)
	}
	if !req.Event.ReceivedAt.IsZero() {
		ctx = append(ctx, "received "+req.Event.ReceivedAt.UTC().Format(time.RFC3339))
	}
	if req.Attempt > 1 {
		ctx = append(ctx, "attempt "+itoa(req.Attempt))
	}
	blocks = append(blocks, Block{Type: "context", Elements: []Text{mrkdwn(strings.Join(ctx, " · "))}})

	text := "[" + strings.ToUpper(orDash(severity)) + "] " + title
	if customer != "" {
		text += " — customer " + customer
	}
	return Message{
		Channel:   c.Channel,
		Username:  c.Username,
		IconEmoji: c.IconEmoji,
		Text:      text,
		Blocks:    blocks,
	}
}

// figure is a detail worth showing, with its label and unit.
type figure struct {
	key, label, unit string
	code             bool // monospace, for hashes and ids
}

// figures are the details policies put on actions, in display order.
var figures = []figure{
	{key: "expected", label: "Expected", code: true},
	{key: "received", label: "Received", code: true},
	{key: "ours", label: "Ours"},
	{key: "pacspace", label: "PacSpace"},
	{key: "drift", label: "Drift"},
	{key: "percentOff", label: "Percent off", unit: "%"},
	{key: "driftPct", label: "Percent off", unit: "%"},
	{key: "latencyMs", label: "Latency", unit: " ms"},
	{key: "thresholdMs", label: "Threshold", unit: " ms"},
	{key: "threshold", label: "Threshold"},
	{key: "utilization", label: "Utilization", unit: "%"},
	{key: "remainingDeltas", label: "Remaining deltas"},
	{key: "amount", label: "Amount"},
	{key: "referenceId", label: "Reference", code: true},
	{key: "receiptId", label: "Receipt", code: true},
	{key: "batchId", label: "Batch", code: true},
}

// shown are keys never listed as figures: they are in the summary, or are
// routing data.
var shown = map[string]bool{
	"type": true, "reason": true, "severity": true, "customerId": true,
	"targets": true, "resolves": true, "dedupKey": true,
}

// keyFigures lists the known figures the action has, then any other scalar
// details in the action's own order, up to Slack's ten fields.
func keyFigures(f sdk.Fields) []Text {
	var out []Text
	used := map[string]bool{}
	add := func(label, value string) {
		if len(out) < maxFields {
			out = append(out, mrkdwn(clip("*"+label+"*\n"+value, maxFieldText)))
		}
	}
	for _, fig := range figures {
		raw, ok := f.Raw(fig.key)
		if !ok || string(raw) == "null" {
			continue
		}
		used[fig.key] = true
		v := sdk.Text(raw) + fig.unit
		if fig.code {
			v = "`" + v + "`"
		}
		add(fig.label, v)
	}
	for _, m := range f {
		if used[m.Key] || shown[m.Key] || len(m.Value) == 0 || string(m.Value) == "null" {
			continue
		}
		switch m.Value[0] {
		case '[':
			if items, err := sdk.ParseArray(m.Value); err == nil {
				add(humanize(m.Key), itoa(len(items))+" item(s)")
			}
		case '{':
			add(humanize(m.Key), "`"+sdk.Text(m.Value)+"`")
		default:
			add(humanize(m.Key), sdk.Text(m.Value))
		}
	}
	return out
}

func emoji(severity string) string {
	switch severity {
	case "critical":
		return ":rotating_light:"
	case "high":
		return ":red_circle:"
	case "warning":
		return ":warning:"
	default:
		return ":information_source:"
	}
}

// humanize turns "chain_discontinuity" or "latencyMs" into "Chain
// discontinuity" or "Latency ms".
func humanize(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '_' || r == '-' || r == '.':
			b.WriteByte(' ')
		case r >= 'A' && r <= 'Z' && i > 0:
			b.WriteByte(' ')
			b.WriteRune(r + 'a' - 'A')
		case i == 0 && r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func itoa(n int) string { return strconv.Itoa(n) }
