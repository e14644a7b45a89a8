// Package webhook is the bundled plugin that POSTs each action, with a
// summary of its event, as JSON to a configured URL, signed so the
// receiver can check it came from Arbiter:
//
//	X-Arbiter-Timestamp: 1770804000
//	X-Arbiter-Signature: v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>
//
// the same scheme PacSpace uses for its own webhooks. The signing secret is
// granted by name (secret_name). 2xx is ok; 429, 408 and 5xx retry (after
// Retry-After if given); other statuses fail.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
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

var cfg sdk.FieldsCache

func init() {
	sdk.Register(sdk.Plugin{
		Info: sdk.Info{
			Name: "webhook", Kind: sdk.KindNotifier, Version: version,
			ConfigSchema: []byte(configSchema),
		},
		Handle: handle,
	})
}

// encodeBody returns what the receiver gets:
//
//	{"action": {...}, "event": {"id", "type", "endpoint", "customerId", "receivedAt"},
//	 "deliveryId", "idempotencyKey", "attempt"}
//
// customerId and receivedAt are left out when empty.
func encodeBody(req *sdk.Request) []byte {
	var j sdk.JSON
	j.Object()
	j.Key("action").Raw([]byte(sdk.Text(req.Action))) // compact
	j.Key("event").Object()
	j.Key("id").String(req.Event.ID)
	j.Key("type").String(req.Event.Type)
	j.Key("endpoint").String(req.Event.Endpoint)
	if req.Event.CustomerID != "" {
		j.Key("customerId").String(req.Event.CustomerID)
	}
	if !req.Event.ReceivedAt.IsZero() {
		j.Key("receivedAt").String(req.Event.ReceivedAt.UTC().Format(time.RFC3339Nano))
	}
	j.End()
	j.Key("deliveryId").String(req.DeliveryID)
	j.Key("idempotencyKey").String(req.IdempotencyKey)
	j.Key("attempt").Int(int64(req.Attempt))
	return j.End().Bytes()
}

func handle(req *sdk.Request) sdk.Result {
	c, err := cfg.Get(req.Config)
	if err != nil {
		return sdk.Fail("webhook: config: " + err.Error())
	}
	secretName := c.String("secret_name")
	secret, ok := sdk.Secret(secretName)
	if !ok {
		return sdk.Fail("webhook: secret " + secretName + " is not granted to this plugin")
	}
	body := encodeBody(req)
	ts := strconv.FormatInt(sdk.Now().Unix(), 10)

	headers := make(map[string]string, 8)
	if raw, ok := c.Raw("headers"); ok && string(raw) != "null" {
		extra, err := sdk.ParseFields(raw)
		if err != nil {
			return sdk.Fail("webhook: config: headers: " + err.Error())
		}
		for _, h := range extra {
			headers[h.Key] = sdk.Text(h.Value)
		}
	}
	headers["Content-Type"] = "application/json"
	headers["X-Arbiter-Timestamp"] = ts
	headers["X-Arbiter-Signature"] = Sign(secret, ts, body)
	headers["X-Arbiter-Delivery"] = req.DeliveryID
	headers["X-Arbiter-Event"] = req.Event.ID
	headers["Idempotency-Key"] = req.IdempotencyKey

	resp, err := sdk.HTTP(sdk.HTTPRequest{Method: "POST", URL: c.String("url"), Headers: headers, Body: body})
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
