package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Page sizes: a list is never unbounded.
const (
	DefaultLimit = 20
	MaxLimit     = 500
)

// Params reads query parameters and collects every bad one, so that a 400
// names all offending fields at once.
type Params struct {
	q    url.Values
	errs map[string]string
}

// NewParams reads r's query.
func NewParams(r *http.Request) *Params { return &Params{q: r.URL.Query()} }

// ParamsOf reads q, for inputs that follow the query string's rules.
func ParamsOf(q url.Values) *Params { return &Params{q: q} }

// Fail records a bad field; the first message per field wins.
func (p *Params) Fail(name, msg string) {
	if p.errs == nil {
		p.errs = map[string]string{}
	}
	if _, seen := p.errs[name]; !seen {
		p.errs[name] = msg
	}
}

// Errs are the bad fields so far, nil if none.
func (p *Params) Errs() map[string]string { return p.errs }

// Str returns the parameter, trimmed, or "".
func (p *Params) Str(name string) string { return strings.TrimSpace(p.q.Get(name)) }

// Int returns the parameter as an integer in [lo, hi], or def when absent.
func (p *Params) Int(name string, def, lo, hi int) int {
	s := p.Str(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		p.Fail(name, fmt.Sprintf("must be an integer from %d to %d", lo, hi))
		return def
	}
	return n
}

// OneOf returns the parameter if it is one of allowed, or def when absent.
func (p *Params) OneOf(name, def string, allowed ...string) string {
	s := p.Str(name)
	if s == "" {
		return def
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	p.Fail(name, "must be one of: "+strings.Join(allowed, ", "))
	return def
}

// Date parses a YYYY-MM-DD parameter as midnight UTC; ok is false when the
// parameter is absent or bad.
func (p *Params) Date(name string) (t time.Time, ok bool) {
	s := p.Str(name)
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		p.Fail(name, "must be a date as YYYY-MM-DD")
		return time.Time{}, false
	}
	return t, true
}

// Timestamp parses an RFC 3339 parameter or a YYYY-MM-DD date.
func (p *Params) Timestamp(name string) (t time.Time, ok bool) {
	s := p.Str(name)
	if s == "" {
		return time.Time{}, false
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true
	}
	p.Fail(name, "must be an RFC 3339 time or a date as YYYY-MM-DD")
	return time.Time{}, false
}

// DateRange reads startDate and endDate (YYYY-MM-DD, both inclusive, as
// seed 002 filters) as a half-open interval [from, to); a zero bound is
// open.
func (p *Params) DateRange() (from, to time.Time) {
	from, _ = p.Date("startDate")
	if end, ok := p.Date("endDate"); ok {
		to = end.AddDate(0, 0, 1)
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		p.Fail("endDate", "must not be before startDate")
	}
	return from, to
}

// Page is a validated window into a list.
type Page struct {
	Limit, Offset int
}

// Page reads either page/limit (1-based pages, seeds 002/003) or
// limit/offset (delivery history); both may not be given together.
func (p *Params) Page(defLimit int) Page {
	limit := p.Int("limit", defLimit, 1, MaxLimit)
	if p.Str("page") != "" && p.Str("offset") != "" {
		p.Fail("offset", "give page or offset, not both")
		return Page{Limit: limit}
	}
	if p.Str("offset") != "" {
		return Page{Limit: limit, Offset: p.Int("offset", 0, 0, 1<<31-1)}
	}
	page := p.Int("page", 1, 1, 1<<31/MaxLimit)
	return Page{Limit: limit, Offset: (page - 1) * limit}
}

// OK reports whether every parameter was good; if not it answers 400
// naming the offending fields.
func (p *Params) OK(w http.ResponseWriter) bool {
	if len(p.errs) == 0 {
		return true
	}
	WriteError(w, http.StatusBadRequest, "invalid query parameters", p.errs)
	return false
}

// Pagination is seed 002's list metadata, with offset for offset-based
// clients.
type Pagination struct {
	Page       int `json:"page"`
	Limit      int `json:"limit"`
	Offset     int `json:"offset"`
	Total      int `json:"total"`
	TotalPages int `json:"totalPages"`
	// TotalCapped says that more than Total match: the caller asked to
	// stop counting there.
	TotalCapped bool `json:"totalCapped,omitempty"`
}

// NewPagination describes page q of a list of total items.
func NewPagination(q Page, total int) Pagination {
	return Pagination{
		Page:       q.Offset/q.Limit + 1,
		Limit:      q.Limit,
		Offset:     q.Offset,
		Total:      total,
		TotalPages: (total + q.Limit - 1) / q.Limit,
	}
}

// WriteList answers a page of a list: data holds the items under key (as
// seed 002's {"webhooks":[…]}) and the pagination.
func WriteList[T any](w http.ResponseWriter, key string, items []T, q Page, total int) {
	if items == nil {
		items = []T{} // an empty page is [], never null
	}
	WriteData(w, http.StatusOK, map[string]any{key: items, "pagination": NewPagination(q, total)})
}

// History is seed 002's delivery-history query: which deliveries (status,
// startDate/endDate) and in what order (sortBy, sortOrder, newest first
// by default). The admin API's action deliveries and the simulator's
// webhook deliveries are both read with it.
type History struct {
	Status   string    // "pending", "delivered", "failed", or "" for all
	From, To time.Time // created in [From, To); see DateRange
	SortBy   string    // "createdAt", "deliveredAt" or "attempts"
	Desc     bool
}

// History reads seed 002's delivery-history filters and order.
func (p *Params) History() History {
	h := History{
		Status: p.OneOf("status", "", "pending", "delivered", "failed"),
		SortBy: p.OneOf("sortBy", "createdAt", "createdAt", "deliveredAt", "attempts"),
		Desc:   p.OneOf("sortOrder", "desc", "asc", "desc") == "desc",
	}
	h.From, h.To = p.DateRange()
	return h
}
