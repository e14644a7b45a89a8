// Command webhook POSTs each action, with a summary of its event, as JSON to
// a configured URL, signed so the receiver can check it came from Arbiter:
//
//	X-Arbiter-Timestamp: 1770804000
//	X-Arbiter-Signature: v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>
//
// the same scheme PacSpace uses for its own webhooks. The signing secret is
// granted by name (secret_name). 2xx is ok; 429, 408 and 5xx retry (after
// Retry-After if given); other statuses fail.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/arbiter-dev/arbiter/plugins/sdk"
)

const version = "1.0.0"

const configSchema = `{
  "type": "object",
  "properties": {
    "url": {"type": "string", "minLength": 1, "description": "where to POST"},
    "secret_name": {"type": "string", "minLength": 1, "description": "name of the secret that signs requests"},
    "headers": {"type": "object", "additionalProperties": {"type": "string"}, "description": "extra request headers"}
  },
  "required": ["url", "secret_name"],
  "additionalProperties": false
}`

type config struct {
	URL        string            `json:"url"`
	SecretName string            `json:"secret_name"`
	Headers    map[string]string `json:"headers"`
}

var cfg sdk.ConfigCache[config]

func init() {
	sdk.Register(sdk.Plugin{
		Info: sdk.Info{
			Name: "webhook", Kind: sdk.KindNotifier, Version: version,
			ConfigSchema: json.RawMessage(configSchema),
		},
		Handle: handle,
	})
}

func main() {}

// Body is what the receiver gets.
type Body struct {
	Action         json.RawMessage `json:"action"`
	Event          Event           `json:"event"`
	DeliveryID     string          `json:"deliveryId"`
	IdempotencyKey string          `json:"idempotencyKey"`
	Attempt        int             `json:"attempt"`
}

// Event summarises the event the action is about.
type Event struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Endpoint   string `json:"endpoint"`
	CustomerID string `json:"customerId,omitempty"`
	ReceivedAt string `json:"receivedAt,omitempty"`
}

func handle(req *sdk.Request) sdk.Result {
	c, err := cfg.Get(req.Config)
	if err != nil {
		return sdk.Fail("webhook: config: " + err.Error())
	}
	secret, ok := sdk.Secret(c.SecretName)
	if !ok {
		return sdk.Fail("webhook: secret " + c.SecretName + " is not granted to this plugin")
	}
	ev := Event{ID: req.Event.ID, Type: req.Event.Type, Endpoint: req.Event.Endpoint, CustomerID: req.Event.CustomerID}
	if !req.Event.ReceivedAt.IsZero() {
		ev.ReceivedAt = req.Event.ReceivedAt.UTC().Format(time.RFC3339Nano)
	}
	body, err := json.Marshal(Body{
		Action: req.Action, Event: ev, DeliveryID: req.DeliveryID,
		IdempotencyKey: req.IdempotencyKey, Attempt: req.Attempt,
	})
	if err != nil {
		return sdk.Fail("webhook: encode body: " + err.Error())
	}
	ts := strconv.FormatInt(sdk.Now().Unix(), 10)

	headers := make(map[string]string, len(c.Headers)+6)
	for k, v := range c.Headers {
		headers[k] = v
	}
	headers["Content-Type"] = "application/json"
	headers["X-Arbiter-Timestamp"] = ts
	headers["X-Arbiter-Signature"] = Sign(secret, ts, body)
	headers["X-Arbiter-Delivery"] = req.DeliveryID
	headers["X-Arbiter-Event"] = req.Event.ID
	headers["Idempotency-Key"] = req.IdempotencyKey

	resp, err := sdk.HTTP(sdk.HTTPRequest{Method: "POST", URL: c.URL, Headers: headers, Body: body})
	return sdk.HTTPResult("webhook", resp, err)
}

// Sign returns the X-Arbiter-Signature value for body sent at timestamp ts
// (Unix seconds, as sent in X-Arbiter-Timestamp).
func Sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}
