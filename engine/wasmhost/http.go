package wasmhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/arbiter-dev/arbiter/plugins/abi"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// httpRequest is the abi.FuncHTTP request JSON.
type httpRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// httpResponse is the abi.FuncHTTP response JSON.
type httpResponse struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

var (
	errRedirectDenied  = errors.New("redirect to a host outside allow_hosts")
	errTooManyRedirect = fmt.Errorf("more than %d redirects", abi.MaxRedirects)
)

// allowed reports whether u may be requested: http or https, to a host (and
// port, if the entry names one) in allow_hosts.
func (p *plugin) allowed(u *url.URL) bool {
	if u.Scheme != "http" && u.Scheme != "https" {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, a := range p.allow {
		if a.host == host && (a.port == "" || a.port == port) {
			return true
		}
	}
	return false
}

func (p *plugin) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > abi.MaxRedirects {
		return errTooManyRedirect
	}
	if !p.allowed(req.URL) {
		return errRedirectDenied
	}
	return nil
}

// doHTTP performs a guest's request. Errors never quote the URL beyond its
// host: a webhook URL is often itself the secret.
func (p *plugin) doHTTP(ctx context.Context, s *callState, raw []byte) (uint32, []byte) {
	var r httpRequest
	if err := json.Unmarshal(raw, &r); err != nil {
		return abi.CodeInvalid, []byte("request is not valid JSON")
	}
	u, err := url.Parse(r.URL)
	if err != nil || u.Host == "" {
		return abi.CodeInvalid, []byte("url is not an absolute http(s) URL")
	}
	if !p.allowed(u) {
		s.log().Warn("http request refused: host not in allow_hosts", "host", u.Host)
		return abi.CodeDenied, fmt.Appendf(nil, "host %q is not in allow_hosts", u.Host)
	}
	if r.Method == "" {
		r.Method = http.MethodGet
	}

	ctx, cancel := context.WithTimeout(ctx, p.cfg.HTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), strings.NewReader(r.Body))
	if err != nil {
		return abi.CodeInvalid, []byte("invalid request: bad method or header")
	}
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "arbiter-plugin/"+p.name)
	}

	resp, err := p.client.Do(req)
	if err != nil {
		return p.httpError(ctx, s, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, p.cfg.MaxResponseBytes+1))
	if err != nil {
		return p.httpError(ctx, s, u, err)
	}
	if int64(len(body)) > p.cfg.MaxResponseBytes {
		return abi.CodeTooLarge, fmt.Appendf(nil, "response body exceeds %d bytes", p.cfg.MaxResponseBytes)
	}
	out := httpResponse{Status: resp.StatusCode, Headers: make(map[string]string, len(resp.Header)), Body: string(body)}
	for k, vs := range resp.Header {
		if len(vs) > 0 {
			out.Headers[strings.ToLower(k)] = vs[0]
		}
	}
	data, err := json.Marshal(out)
	if err != nil {
		return abi.CodeFailed, []byte("encode response")
	}
	s.log().Trace("http request", "method", r.Method, "host", u.Host, "status", resp.StatusCode, "bytes", len(body))
	return abi.CodeOK, data
}

func (p *plugin) httpError(ctx context.Context, s *callState, u *url.URL, err error) (uint32, []byte) {
	var ne net.Error
	switch {
	case errors.Is(err, errRedirectDenied):
		s.log().Warn("http redirect refused: target not in allow_hosts", "host", u.Host)
		return abi.CodeDenied, []byte(errRedirectDenied.Error())
	case errors.Is(err, errTooManyRedirect):
		return abi.CodeFailed, []byte(errTooManyRedirect.Error())
	case errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil, errors.As(err, &ne) && ne.Timeout():
		return abi.CodeTimeout, fmt.Appendf(nil, "request to %s timed out", u.Host)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // url.Error quotes the whole URL
	}
	return abi.CodeFailed, []byte(p.redact.string(fmt.Sprintf("request to %s failed: %v", u.Host, err)))
}

// isJSONObject reports whether b is a valid JSON object.
func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}
