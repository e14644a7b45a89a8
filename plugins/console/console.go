// Package console is the bundled plugin of the default route: it writes
// each action to Arbiter's own log through the log host function. It needs no network, secrets or
// store, so it always works.
package console

import (
	"strings"

	"github.com/arbiter-dev/arbiter/plugins/sdk"
)

const version = "1.0.0"

const configSchema = `{
  "type": "object",
  "properties": {
    "level": {
      "description": "log level for every action; by default it follows the action's severity",
      "enum": ["trace", "debug", "info", "warn", "error"]
    }
  },
  "additionalProperties": false
}`

var cfg sdk.FieldsCache

func init() {
	sdk.Register(sdk.Plugin{
		Info: sdk.Info{
			Name: "console", Kind: sdk.KindNotifier, Version: version,
			ConfigSchema: []byte(configSchema),
		},
		Handle: handle,
	})
}

func handle(req *sdk.Request) sdk.Result {
	c, err := cfg.Get(req.Config)
	if err != nil {
		return sdk.Fail("console: config: " + err.Error())
	}
	f, err := req.Fields()
	if err != nil {
		return sdk.Fail("console: action: " + err.Error())
	}
	severity := f.String("severity")
	level := levelFor(c.String("level"), severity)

	var b strings.Builder
	b.WriteString("action ")
	b.WriteString(f.String("type"))
	if r := f.String("reason"); r != "" {
		b.WriteString("/" + r)
	}
	if severity != "" {
		b.WriteString(" severity=" + severity)
	}
	customer := f.String("customerId")
	if customer == "" {
		customer = req.Event.CustomerID
	}
	if customer != "" {
		b.WriteString(" customer=" + customer)
	}
	if req.Event.ID != "" {
		b.WriteString(" event=" + req.Event.ID)
	}
	b.WriteString(" delivery=" + req.DeliveryID)
	b.WriteString(" action=" + sdk.Text(req.Action)) // compact JSON
	sdk.Log(level, b.String())
	return sdk.OK("logged")
}

// levelFor picks the configured level, else one by severity.
func levelFor(configured, severity string) sdk.Level {
	switch configured {
	case "trace":
		return sdk.LevelTrace
	case "debug":
		return sdk.LevelDebug
	case "info":
		return sdk.LevelInfo
	case "warn":
		return sdk.LevelWarn
	case "error":
		return sdk.LevelError
	}
	switch severity {
	case "critical":
		return sdk.LevelError
	case "high", "warning":
		return sdk.LevelWarn
	default:
		return sdk.LevelInfo
	}
}
