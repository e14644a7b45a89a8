package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// These mirror the conventions of Arbiter's admin API (engine/admin), so
// that both answer bad input the same way.

// maxLimit bounds a page.
const maxLimit = 500

// params reads query parameters and collects every bad one, so that a 400
// names all offending fields at once.
type params struct {
	q    url.Values
	errs map[string]string
}

func newParams(r *http.Request) *params { return &params{q: r.URL.Query()} }

func (p *params) fail(name, msg string) {
	if p.errs == nil {
		p.errs = map[string]string{}
	}
	if _, seen := p.errs[name]; !seen {
		p.errs[name] = msg
	}
}

func (p *params) str(name string) string { return strings.TrimSpace(p.q.Get(name)) }

// int returns the parameter as an integer in [lo, hi], or def when absent.
func (p *params) int(name string, def, lo, hi int) int {
	s := p.str(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		p.fail(name, fmt.Sprintf("must be an integer from %d to %d", lo, hi))
		return def
	}
	return n
}

// oneOf returns the parameter if it is one of allowed, or def when absent.
func (p *params) oneOf(name, def string, allowed ...string) string {
	s := p.str(name)
	if s == "" {
		return def
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	p.fail(name, "must be one of: "+strings.Join(allowed, ", "))
	return def
}

// date parses a YYYY-MM-DD parameter as midnight UTC.
func (p *params) date(name string) (time.Time, bool) {
	s := p.str(name)
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		p.fail(name, "must be a date as YYYY-MM-DD")
		return time.Time{}, false
	}
	return t, true
}

// dateRange reads startDate and endDate (both inclusive) as [from, to).
func (p *params) dateRange() (from, to time.Time) {
	from, _ = p.date("startDate")
	if end, ok := p.date("endDate"); ok {
		to = end.AddDate(0, 0, 1)
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		p.fail("endDate", "must not be before startDate")
	}
	return from, to
}

// pageQuery is a validated window into a list.
type pageQuery struct {
	Limit, Offset int
}

// page reads either page/limit (1-based pages) or limit/offset; both may
// not be given together.
func (p *params) page(defLimit int) pageQuery {
	limit := p.int("limit", defLimit, 1, maxLimit)
	if p.str("page") != "" && p.str("offset") != "" {
		p.fail("offset", "give page or offset, not both")
		return pageQuery{Limit: limit}
	}
	if p.str("offset") != "" {
		return pageQuery{Limit: limit, Offset: p.int("offset", 0, 0, 1<<31-1)}
	}
	page := p.int("page", 1, 1, 1<<31/maxLimit)
	return pageQuery{Limit: limit, Offset: (page - 1) * limit}
}

// ok reports whether every parameter was good; if not it answers 400
// naming the offending fields.
func (p *params) ok(w http.ResponseWriter) bool {
	if len(p.errs) == 0 {
		return true
	}
	writeError(w, http.StatusBadRequest, "invalid query parameters", p.errs)
	return false
}

// pagination is seed 002's list metadata, with offset for offset-based
// clients.
type pagination struct {
	Page       int `json:"page"`
	Limit      int `json:"limit"`
	Offset     int `json:"offset"`
	Total      int `json:"total"`
	TotalPages int `json:"totalPages"`
}

// writeList answers a page of a list: the items under key, as seed 002's
// {"webhooks":[…]}, and the pagination.
func writeList[T any](w http.ResponseWriter, key string, items []T, q pageQuery, total int) {
	if items == nil {
		items = []T{}
	}
	writeData(w, http.StatusOK, map[string]any{key: items, "pagination": pagination{
		Page:       q.Offset/q.Limit + 1,
		Limit:      q.Limit,
		Offset:     q.Offset,
		Total:      total,
		TotalPages: (total + q.Limit - 1) / q.Limit,
	}}, "")
}

// maxRequestBody bounds dashboard request bodies.
const maxRequestBody = 64 << 10

// decodeBody decodes a JSON request body into dst, rejecting unknown
// fields and trailing data. On failure it has answered 4xx and returns
// false.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json", nil)
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil && dec.More() {
		err = errors.New("unexpected data after the JSON value")
	}
	if err == nil {
		return true
	}
	var (
		tooBig  *http.MaxBytesError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", tooBig.Limit), nil)
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "request body is empty; expected a JSON object", nil)
	case errors.As(err, &typeErr) && typeErr.Field != "":
		writeError(w, http.StatusBadRequest, "invalid request body",
			map[string]string{typeErr.Field: "must be " + typeErr.Type.String()})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		writeError(w, http.StatusBadRequest, "invalid request body", map[string]string{field: "unknown field"})
	default:
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error(), nil)
	}
	return false
}

// envelope is seed 002's response envelope.
type envelope struct {
	Success bool       `json:"success"`
	Data    any        `json:"data,omitempty"`
	Message string     `json:"message,omitempty"`
	Error   *errorBody `json:"error,omitempty"`
}

type errorBody struct {
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// writeData answers success with data and an optional message.
func writeData(w http.ResponseWriter, status int, data any, msg string) {
	writeEnvelope(w, status, envelope{Success: true, Data: data, Message: msg})
}

func writeError(w http.ResponseWriter, status int, msg string, fields map[string]string) {
	writeEnvelope(w, status, envelope{Error: &errorBody{Message: msg, Fields: fields}})
}

func writeEnvelope(w http.ResponseWriter, status int, e envelope) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(e)
}
