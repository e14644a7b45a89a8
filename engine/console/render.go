package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/engine/httpapi"
)

// view is what every page template gets.
type view struct {
	Title   string
	Nav     string   // the active section
	S       *session // nil when signed out
	Query   url.Values
	Data    any
	Error   *apiError // shown inline above the page's content
	Notice  string    // a success message
	Live    bool      // the page refreshes itself
	Now     time.Time
	console *Console
}

// CSRF is the session's token for forms.
func (v view) CSRF() string {
	if v.S == nil {
		return ""
	}
	return v.S.csrf
}

func (c *Console) parseTemplates() error {
	entries, err := fs.ReadDir(templateFS, "templates")
	if err != nil {
		return err
	}
	c.pages = map[string]*template.Template{}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New(name).Funcs(c.funcs()).ParseFS(templateFS, "templates/layout.html", "templates/"+e.Name())
		if err != nil {
			return fmt.Errorf("console: template %s: %w", name, err)
		}
		c.pages[name] = t
	}
	return nil
}

// render writes page with data inside the layout. The page is rendered to
// a buffer first, so that a template error becomes an error page rather
// than half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, page, title string, data any, opts ...func(*view)) {
	v := view{Title: title, Nav: page, S: s, Query: r.URL.Query(), Data: data, Now: c.cfg.Now(), console: c}
	for _, o := range opts {
		o(&v)
	}
	var buf bytes.Buffer
	if err := c.pages[page].ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.Error("console template failed", "page", page, "error", err)
		if page == "error" {
			http.Error(w, "the error page failed to render", http.StatusInternalServerError)
			return
		}
		c.renderError(w, r, s, http.StatusInternalServerError, "This page failed to render; the agent's log has the details.")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "HX-Request")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderError renders a page holding only an error, with its status.
func (c *Console) renderError(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) {
	c.render(w, r, s, status, "error", http.StatusText(status), nil, withError(&apiError{Status: status, Message: msg}))
}

// renderAPIError renders the API's refusal as the page's status and error.
func (c *Console) renderAPIError(w http.ResponseWriter, r *http.Request, s *session, err *apiError) {
	c.render(w, r, s, err.Status, "error", http.StatusText(err.Status), nil, withError(err))
}

func withError(e *apiError) func(*view) { return func(v *view) { v.Error = e } }
func withNotice(msg string) func(*view) { return func(v *view) { v.Notice = msg } }
func withLive(on bool) func(*view)      { return func(v *view) { v.Live = on } }

// call makes an admin API request in process, as the session's role, and
// returns the envelope's data. The browser's request lends its host, so
// that URLs the API builds name the address the operator uses.
func (c *Console) call(r *http.Request, s *session, method, p string, q url.Values, body any) (any, *apiError) {
	rec, err := c.do(r, s, method, p, q, body)
	if err != nil {
		return nil, err
	}
	var env struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
		Error   *struct {
			Message string            `json:"message"`
			Fields  map[string]string `json:"fields"`
		} `json:"error"`
	}
	dec := json.NewDecoder(&rec.Body)
	dec.UseNumber()
	if err := dec.Decode(&env); err != nil {
		return nil, &apiError{Status: http.StatusBadGateway, Message: "the admin API answered " + strconv.Itoa(rec.Status) + " with no JSON"}
	}
	var data any
	if len(env.Data) > 0 {
		d := json.NewDecoder(bytes.NewReader(env.Data))
		d.UseNumber()
		d.Decode(&data)
	}
	if !env.Success || rec.Status >= 300 {
		e := &apiError{Status: rec.Status, Message: "the admin API refused the request"}
		if env.Error != nil {
			e.Message, e.Fields = env.Error.Message, env.Error.Fields
		}
		if data != nil {
			return data, e
		}
		return nil, e
	}
	return data, nil
}

// get is call for a GET whose data is an object.
func (c *Console) get(r *http.Request, s *session, p string, q url.Values) (map[string]any, *apiError) {
	d, err := c.call(r, s, http.MethodGet, p, q, nil)
	m, _ := d.(map[string]any)
	return m, err
}

// do makes the request and keeps the answer.
func (c *Console) do(r *http.Request, s *session, method, p string, q url.Values, body any) (*httpapi.Recorder, *apiError) {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, &apiError{Status: http.StatusInternalServerError, Message: "encoding the request: " + err.Error()}
		}
		rd = bytes.NewReader(b)
	}
	u := p
	if enc := q.Encode(); enc != "" {
		u += "?" + enc
	}
	req, err := http.NewRequestWithContext(r.Context(), method, u, rd)
	if err != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Message: "building the request: " + err.Error()}
	}
	req.Host, req.RemoteAddr, req.TLS = r.Host, r.RemoteAddr, r.TLS
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httpapi.NewRecorder()
	c.cfg.API.ServeAs(s.role, rec, req)
	if rec.Status == 0 {
		rec.Status = http.StatusOK
	}
	return rec, nil
}

func (c *Console) funcs() template.FuncMap {
	return template.FuncMap{
		"u":     c.link,
		"uq":    func(p string, q url.Values, kv ...any) string { return c.cfg.BasePath + "/ui" + p + qset(q, kv...) },
		"seg":   url.PathEscape,
		"asset": func(name string) string { return c.url("/static/"+name, nil) + c.assets[name] },
		"base":  func() string { return c.cfg.BasePath },
		"time":  timeTag,
		"short": short,
		"num":   num,
		"pretty": func(v any) string {
			b, err := json.MarshalIndent(v, "", "  ")
			if err != nil {
				return fmt.Sprint(v)
			}
			return string(b)
		},
		"qset":     qset,
		"list":     func(v ...any) []any { return v },
		"str":      func(v any) string { return str(v) },
		"float":    toFloat,
		"join":     func(v any, sep string) string { return strings.Join(strs(v), sep) },
		"bars":     bars,
		"page":     pageOf,
		"secs":     func(d time.Duration) string { return d.String() },
		"ms":       func(v any) string { return strconv.FormatFloat(toFloat(v)/1000, 'f', 2, 64) },
		"lenOf":    lenOf,
		"keys":     keys,
		"hasKey":   func(m map[string]any, k string) bool { _, ok := m[k]; return ok },
		"truthy":   truthy,
		"drift":    drift,
		"trimData": func(s string) string { return strings.TrimPrefix(s, "data.") },
		"attempt":  func(v any) string { return str(v) },
	}
}

// link is a console URL: a path under /ui and key/value pairs for its
// query, empty values left out.
func (c *Console) link(p string, kv ...any) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if v := str(kv[i+1]); v != "" {
			q.Set(str(kv[i]), v)
		}
	}
	return c.url(p, q)
}

// qset is the query q with key set to value ("" removes it), encoded, as
// for a pagination or sort link that keeps every filter.
func qset(q url.Values, kv ...any) string {
	out := url.Values{}
	for k, v := range q {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		k, v := str(kv[i]), str(kv[i+1])
		if v == "" {
			out.Del(k)
		} else {
			out.Set(k, v)
		}
	}
	if s := out.Encode(); s != "" {
		return "?" + s
	}
	return "?"
}

// str renders a JSON value as text.
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

func strs(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = str(e)
		}
		return out
	}
	return nil
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case float64:
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	}
	return 0
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case json.Number:
		return toFloat(x) != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

func lenOf(v any) int {
	switch x := v.(type) {
	case []any:
		return len(x)
	case map[string]any:
		return len(x)
	case string:
		return len(x)
	}
	return 0
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// num formats a count with thousands separators, or a fractional number
// with up to two decimals.
func num(v any) string {
	f := toFloat(v)
	if f != math.Trunc(f) || math.Abs(f) >= 1e15 {
		return strconv.FormatFloat(f, 'f', 2, 64)
	}
	s := strconv.FormatInt(int64(f), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// short cuts a long id or hash to n characters and an ellipsis.
func short(n int, v any) string {
	s := str(v)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// timeTag renders a time as a <time> element in UTC; the page's script
// shows it in local time when asked.
func timeTag(v any) template.HTML {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case string:
		var err error
		if t, err = time.Parse(time.RFC3339Nano, x); err != nil {
			return template.HTML(template.HTMLEscapeString(x))
		}
	}
	if t.IsZero() {
		return "—"
	}
	t = t.UTC()
	return template.HTML(`<time datetime="` + t.Format(time.RFC3339Nano) + `">` + t.Format("2006-01-02 15:04:05") + ` UTC</time>`)
}

// bars draws a series as a small SVG bar chart, with each value as its
// bar's title.
func bars(label string, v any) template.HTML {
	vals := []float64{}
	for _, x := range v.([]any) {
		vals = append(vals, toFloat(x))
	}
	top := 1.0
	for _, x := range vals {
		top = max(top, x)
	}
	const h, bw = 40.0, 4.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="bars" viewBox="0 0 %d %d" role="img" aria-label="%s">`, int(bw)*len(vals), int(h), template.HTMLEscapeString(label))
	for i, x := range vals {
		bh := math.Max(x/top*h, 0)
		if x > 0 {
			bh = math.Max(bh, 1)
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%.1f"><title>%d min ago: %s</title></rect>`,
			i*int(bw), h-bh, int(bw)-1, bh, len(vals)-i, num(x))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// drift is PacSpace's total minus ours, signed, when it is at least half
// a cent either way, else "". A missing total is no drift.
func drift(pacspace, ours any) string {
	if pacspace == nil || ours == nil {
		return ""
	}
	d := toFloat(pacspace) - toFloat(ours)
	if math.Abs(d) < 0.005 {
		return ""
	}
	return strconv.FormatFloat(d, 'f', 2, 64)
}

// pageInfo is a list's place, for its pagination links.
type pageInfo struct {
	Page, Pages, Total int
	Prev, Next         int  // 0: none
	More               bool // more than Total match: the count stopped there
}

func pageOf(v any) pageInfo {
	m, _ := v.(map[string]any)
	p := pageInfo{Page: int(toFloat(m["page"])), Pages: int(toFloat(m["totalPages"])), Total: int(toFloat(m["total"])),
		More: truthy(m["totalCapped"])}
	if p.Page > 1 {
		p.Prev = p.Page - 1
	}
	if p.Page < p.Pages || p.More {
		p.Next = p.Page + 1
	}
	return p
}
