package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The overview, the global jump box, and the inbox's events.

func (c *Console) overview(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.get(r, s, "/v1/overview", nil)
	if err != nil {
		c.renderAPIError(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "overview", "Overview", d, withLive(r.URL.Query().Get("paused") == ""))
}

// jump goes to whatever the id names: an event, a delivery, a webhook
// endpoint, a customer's chain or a plugin, in that order.
func (c *Console) jump(w http.ResponseWriter, r *http.Request, s *session) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" {
		http.Redirect(w, r, c.url("/", nil), http.StatusSeeOther)
		return
	}
	p := url.PathEscape(q)
	for _, try := range []struct{ api, page string }{
		{"/v1/events/" + p, "/events/" + p},
		{"/v1/deliveries/" + p, "/deliveries/" + p},
		{"/v1/webhooks/" + p, "/webhooks/" + p},
		{"/v1/chains/" + p, "/chains/" + p},
	} {
		_, err := c.get(r, s, try.api, nil)
		if err == nil {
			http.Redirect(w, r, c.url(try.page, nil), http.StatusSeeOther)
			return
		}
		if err.Status == http.StatusBadRequest && strings.HasPrefix(try.page, "/events/") {
			// an event id on several endpoints: list them
			http.Redirect(w, r, c.url("/events", url.Values{"id": {q}}), http.StatusSeeOther)
			return
		}
	}
	if d, err := c.get(r, s, "/v1/plugins", nil); err == nil {
		for _, pl := range list(d["plugins"]) {
			if str(pl["name"]) == q {
				http.Redirect(w, r, c.url("/plugins/"+p, nil), http.StatusSeeOther)
				return
			}
		}
	}
	c.renderError(w, r, s, http.StatusNotFound, "Nothing has the id “"+q+"”: no event, delivery, webhook endpoint, customer or plugin.")
}

// list is a JSON array of objects.
func list(v any) []map[string]any {
	a, _ := v.([]any)
	out := make([]map[string]any, 0, len(a))
	for _, e := range a {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func (c *Console) eventRoutes() {
	c.page("GET /ui/events", c.events)
	c.page("GET /ui/events/{id}", c.event)
}

// eventFilters are the events list's query parameters the API reads as
// they are.
var eventFilters = []string{"endpoint", "type", "customer", "status", "reason", "hasActions", "sortOrder", "page", "limit"}

// eventsMaxTotal is where the events list stops counting: past it the
// page says "10,000+", where an exact count would read an index range of
// up to every event.
const eventsMaxTotal = 10_000

// localInput is the layout of an <input type="datetime-local">, read as UTC.
const localInput = "2006-01-02T15:04"

func (c *Console) events(w http.ResponseWriter, r *http.Request, s *session) {
	in := r.URL.Query()
	q := pick(in, eventFilters...)
	for _, k := range []string{"since", "until"} {
		if v := in.Get(k); v != "" {
			if t, err := time.Parse(localInput, v); err == nil {
				v = t.Format(time.RFC3339)
			}
			q.Set(k, v)
		}
	}
	var (
		d   map[string]any
		err *apiError
	)
	if id := in.Get("id"); id != "" {
		// One event by its id: the list holds it alone.
		var ev map[string]any
		if ev, err = c.get(r, s, "/v1/events/"+url.PathEscape(id), pick(in, "endpoint")); err == nil {
			one := json.Number("1")
			d = map[string]any{"events": []any{ev}, "pagination": map[string]any{"page": one, "totalPages": one, "total": one}}
		}
	} else {
		q.Set("maxTotal", strconv.Itoa(eventsMaxTotal))
		d, err = c.get(r, s, "/v1/events", q)
	}
	c.render(w, r, s, status(err), "events", "Events", d, withError(err), withLive(in.Get("live") != ""))
}

// status is the HTTP status of a page that shows err inline.
func status(err *apiError) int {
	if err == nil {
		return http.StatusOK
	}
	return err.Status
}

// pick copies the named parameters of in that are set.
func pick(in url.Values, names ...string) url.Values {
	out := url.Values{}
	for _, k := range names {
		if v := strings.TrimSpace(in.Get(k)); v != "" {
			out.Set(k, v)
		}
	}
	return out
}

func (c *Console) event(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	d, err := c.get(r, s, "/v1/events/"+url.PathEscape(id), pick(r.URL.Query(), "endpoint"))
	if err != nil {
		c.renderAPIError(w, r, s, err)
		return
	}
	if r.URL.Query().Get("raw") != "" {
		d["redactedBody"] = redactJSON(d["body"])
		d["redactedHeaders"] = redactJSON(d["headers"])
	}
	c.render(w, r, s, http.StatusOK, "event", "Event "+id, d)
}

// secretKey matches the names of fields whose values an operator's screen
// never shows.
var secretKey = regexp.MustCompile(`(?i)secret|token|passw|api[-_]?key|authorization|cookie|signature|credential|private`)

// redactJSON replaces the values of secret-looking keys, at any depth.
func redactJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if secretKey.MatchString(k) {
				out[k] = "[redacted]"
				continue
			}
			out[k] = redactJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redactJSON(e)
		}
		return out
	}
	return v
}
