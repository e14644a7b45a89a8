package sdk

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// HTTPResult maps the outcome of a call to a notification service onto a
// Result, the way Alertmanager's notifiers do:
//
//   - 2xx: ok.
//   - 429: retry, after the Retry-After header if there is one.
//   - 408 and 5xx: retry (honouring Retry-After on 503).
//   - any other status: fail; the request itself is wrong.
//   - host errors: timeouts and transport failures retry; a host outside
//     allow_hosts, an invalid request or a response over the size limit
//     fail, since repeating them changes nothing.
//
// service names the service in the message, e.g. "slack".
func HTTPResult(service string, resp HTTPResponse, err error) Result {
	if err != nil {
		var he *HostError
		if errors.As(err, &he) {
			switch he.Code {
			case CodeTimeout, CodeFailed, CodeUnavailable:
				return Retry(service+": "+err.Error(), 0)
			}
		}
		return Fail(service + ": " + err.Error())
	}
	msg := service + ": HTTP " + strconv.Itoa(resp.Status)
	if detail := bodySnippet(resp.Body); detail != "" && resp.Status >= 300 {
		msg += ": " + detail
	}
	switch {
	case resp.Status >= 200 && resp.Status < 300:
		return OK(msg)
	case resp.Status == 429, resp.Status == 408, resp.Status >= 500:
		return Retry(msg, RetryAfter(resp.Headers["retry-after"]))
	default:
		return Fail(msg)
	}
}

func bodySnippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// httpDate is net/http's TimeFormat; the SDK avoids importing net/http,
// which would double a plugin's size.
const httpDate = "Mon, 02 Jan 2006 15:04:05 GMT"

// RetryAfter parses a Retry-After header: delay-seconds or an HTTP date,
// measured from Now. It returns zero for an absent or unparsable value.
func RetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := time.Parse(httpDate, v); err == nil {
		if d := t.Sub(Now()); d > 0 {
			return d
		}
	}
	return 0
}
