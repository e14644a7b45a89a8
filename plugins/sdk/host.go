package sdk

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/arbiter-dev/arbiter/plugins/abi"
)

// HostError is a host function's refusal or failure.
type HostError struct {
	Func    string // the host function, e.g. "http"
	Code    Code
	Message string
}

func (e *HostError) Error() string {
	s := e.Func + ": " + e.Code.String()
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Is matches the sentinel errors by code: errors.Is(err, sdk.ErrDenied).
func (e *HostError) Is(target error) bool {
	t, ok := target.(*HostError)
	return ok && t.Func == "" && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrNotFound    = &HostError{Code: CodeNotFound}
	ErrDenied      = &HostError{Code: CodeDenied}
	ErrInvalid     = &HostError{Code: CodeInvalid}
	ErrTooLarge    = &HostError{Code: CodeTooLarge}
	ErrTimeout     = &HostError{Code: CodeTimeout}
	ErrFailed      = &HostError{Code: CodeFailed}
	ErrUnavailable = &HostError{Code: CodeUnavailable}
)

func (c Code) String() string {
	switch c {
	case CodeOK:
		return "ok"
	case CodeNotFound:
		return "not found"
	case CodeDenied:
		return "denied"
	case CodeInvalid:
		return "invalid"
	case CodeTooLarge:
		return "too large"
	case CodeTimeout:
		return "timeout"
	case CodeFailed:
		return "failed"
	case CodeUnavailable:
		return "unavailable"
	}
	return "code " + strconv.Itoa(int(c))
}

// takeReply unpacks a reply and copies its pending result.
func takeReply(fn string, reply uint64) ([]byte, error) {
	code, n := Code(reply>>32), uint32(reply)
	var data []byte
	if n > 0 {
		data = make([]byte, n)
		data = data[:readResult(data)]
	}
	if code != CodeOK {
		return nil, &HostError{Func: fn, Code: code, Message: string(data)}
	}
	return data, nil
}

// Log writes msg to Arbiter's log under the plugin's name.
func Log(level Level, msg string) { callLog(level, msg) }

// Logf formats and logs. It links fmt into the plugin: about 0.3 MB.
func Logf(level Level, format string, args ...any) { callLog(level, fmt.Sprintf(format, args...)) }

// Now is the host's clock.
func Now() time.Time { return time.Unix(0, callNow()) }

// Secret returns the secret the operator granted this plugin under name.
func Secret(name string) (string, bool) {
	v, err := takeReply("secret", callSecret(name))
	if err != nil {
		return "", false
	}
	return string(v), true
}

// KVGet reads key from the plugin's own key-value namespace.
func KVGet(key string) (value []byte, ok bool, err error) {
	v, err := takeReply("kv_get", callKVGet(key))
	switch {
	case err == nil:
		return v, true, nil
	case err.(*HostError).Code == CodeNotFound:
		return nil, false, nil
	default:
		return nil, false, err
	}
}

// KVSet writes key in the plugin's own key-value namespace.
func KVSet(key string, value []byte) error {
	_, err := takeReply("kv_set", callKVSet(key, value))
	return err
}

// HTTPRequest is a request for HTTP. Body is sent as text.
type HTTPRequest struct {
	Method  string // default GET
	URL     string
	Headers map[string]string
	Body    []byte
}

// HTTPResponse is what came back. Header names are lower case.
type HTTPResponse struct {
	Status  int
	Headers map[string]string
	Body    []byte
}

// HTTP sends req through the host, which allows only the hosts the operator
// listed for this plugin. An HTTP error status is a response, not an error;
// errors are *HostError (ErrDenied, ErrTimeout, ErrTooLarge, ErrFailed, …).
func HTTP(req HTTPRequest) (HTTPResponse, error) {
	b := append(make([]byte, 0, 128+len(req.URL)+len(req.Body)), `{"method":`...)
	b = abi.AppendString(b, req.Method)
	b = append(b, `,"url":`...)
	b = abi.AppendString(b, req.URL)
	b = append(b, `,"headers":{`...)
	keys := make([]string, 0, len(req.Headers))
	for k := range req.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = abi.AppendString(b, k)
		b = append(b, ':')
		b = abi.AppendString(b, req.Headers[k])
	}
	b = append(b, `},"body":`...)
	b = abi.AppendString(b, string(req.Body))
	b = append(b, '}')

	out, err := takeReply("http", callHTTP(b))
	if err != nil {
		return HTTPResponse{}, err
	}
	var resp HTTPResponse
	err = eachMember(out, func(key string, v []byte) error {
		var err error
		switch key {
		case "status":
			resp.Status, err = strconv.Atoi(string(v))
		case "headers":
			resp.Headers = map[string]string{}
			err = eachMember(v, func(k string, v []byte) error {
				s, err := unquote(v)
				resp.Headers[k] = s
				return err
			})
		case "body":
			var s string
			s, err = unquote(v)
			resp.Body = []byte(s)
		}
		return err
	})
	if err != nil {
		return HTTPResponse{}, &HostError{Func: "http", Code: CodeFailed, Message: "bad response from host: " + err.Error()}
	}
	return resp, nil
}
