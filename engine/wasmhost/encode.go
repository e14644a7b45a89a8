package wasmhost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/arbiter-dev/arbiter/plugins/abi"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendInput appends the handle input JSON for req. It is written by hand:
// it runs on every call, and req.Action and config are already valid JSON
// (Invoke checked the action, load checked the config), so they are copied
// as they are. The members always come in this order with "action" last:
// ABI v1 promises it, so a guest can take the action without scanning it.
func appendInput(b []byte, req *Request, config json.RawMessage) []byte {
	b = append(b, `{"abi":`...)
	b = strconv.AppendInt(b, abi.ABIVersion, 10)
	b = append(b, `,"event":{"id":`...)
	b = abi.AppendString(b, req.Event.ID)
	b = append(b, `,"type":`...)
	b = abi.AppendString(b, req.Event.Type)
	b = append(b, `,"endpoint":`...)
	b = abi.AppendString(b, req.Event.Endpoint)
	b = append(b, `,"customerId":`...)
	b = abi.AppendString(b, req.Event.CustomerID)
	if !req.Event.ReceivedAt.IsZero() {
		b = append(b, `,"receivedAt":"`...)
		b = req.Event.ReceivedAt.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, `},"deliveryId":`...)
	b = abi.AppendString(b, req.DeliveryID)
	b = append(b, `,"idempotencyKey":`...)
	b = abi.AppendString(b, req.IdempotencyKey)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(req.Attempt), 10)
	b = append(b, `,"config":`...)
	b = append(b, config...)
	b = append(b, `,"action":`...)
	b = append(b, bytes.TrimSpace(req.Action)...)
	return append(b, '}')
}

// output is the handle output JSON.
type output struct {
	Status       string `json:"status"`
	Message      string `json:"message"`
	RetryAfterMs int64  `json:"retryAfterMs"`
}

const (
	maxMessageBytes = 2 << 10
	maxRetryAfter   = 24 * time.Hour
)

// parseOutput decodes and checks a handle output.
func parseOutput(b []byte) (Result, error) {
	o, ok := scanOutput(b)
	if !ok {
		var slow output
		if err := json.Unmarshal(b, &slow); err != nil {
			return Result{}, fmt.Errorf("output is not a result object: %w", err)
		}
		o = slow
	}
	switch o.Status {
	case abi.StatusOK, abi.StatusRetry, abi.StatusFail:
	case "":
		return Result{}, errors.New(`output has no "status"`)
	default:
		return Result{}, fmt.Errorf("output status %q, want %q, %q or %q",
			truncate(o.Status, 40), abi.StatusOK, abi.StatusRetry, abi.StatusFail)
	}
	res := Result{Status: Status(o.Status), Message: truncate(o.Message, maxMessageBytes)}
	if o.RetryAfterMs > 0 {
		res.RetryAfter = min(time.Duration(o.RetryAfterMs)*time.Millisecond, maxRetryAfter)
		if o.RetryAfterMs > int64(maxRetryAfter/time.Millisecond) {
			res.RetryAfter = maxRetryAfter
		}
	}
	return res, nil
}

// scanOutput decodes the common shape of an output — a flat object of the
// three known keys, strings without escapes, an integer retryAfterMs — in a
// fraction of json.Unmarshal's time. Anything else, including what is merely
// unusual, returns ok false and takes the json.Unmarshal path, so both always
// agree (FuzzScanOutput checks it).
func scanOutput(b []byte) (o output, ok bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return o, false
	}
	i = skipWS(b, i+1)
	seen := 0
	for i < len(b) && b[i] != '}' {
		if seen > 0 {
			if b[i] != ',' {
				return o, false
			}
			i = skipWS(b, i+1)
		}
		key, next, ok := scanPlainString(b, i)
		if !ok {
			return o, false
		}
		i = skipWS(b, next)
		if i >= len(b) || b[i] != ':' {
			return o, false
		}
		i = skipWS(b, i+1)
		switch string(key) {
		case "status", "message":
			s, next, ok := scanPlainString(b, i)
			if !ok {
				return o, false
			}
			if string(key) == "status" {
				o.Status = internStatus(s)
			} else {
				o.Message = string(s)
			}
			i = next
		case "retryAfterMs":
			j := i
			if j < len(b) && b[j] == '-' {
				j++
			}
			start := j
			for j < len(b) && b[j] >= '0' && b[j] <= '9' && j-start < 15 {
				j++
			}
			if j == start || (b[start] == '0' && j-start > 1) || j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
				return o, false
			}
			var n int64
			for _, c := range b[start:j] {
				n = n*10 + int64(c-'0')
			}
			if start > i {
				n = -n
			}
			o.RetryAfterMs, i = n, j
		default:
			return o, false
		}
		seen++
		i = skipWS(b, i)
	}
	if i >= len(b) || skipWS(b, i+1) != len(b) {
		return o, false
	}
	return o, true
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanPlainString reads a JSON string at b[i] that has no escapes and no
// control characters and is valid UTF-8, and returns its contents.
func scanPlainString(b []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			if !utf8.Valid(b[i+1 : j]) {
				return nil, 0, false
			}
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// internStatus avoids allocating the three statuses.
func internStatus(b []byte) string {
	switch string(b) {
	case abi.StatusOK:
		return abi.StatusOK
	case abi.StatusRetry:
		return abi.StatusRetry
	case abi.StatusFail:
		return abi.StatusFail
	}
	return string(b)
}
