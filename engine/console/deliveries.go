package console

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
)

func (c *Console) deliveryRoutes() {
	c.page("GET /ui/deliveries", c.deliveries)
	c.page("GET /ui/deliveries.csv", c.exportDeliveries)
	c.page("GET /ui/deliveries/retry", c.confirmRetry)
	c.page("POST /ui/deliveries/retry", c.retryAll)
	c.page("GET /ui/deliveries/{id}", c.delivery)
	c.page("POST /ui/deliveries/{id}/retry", c.retryOne)
}

// deliveryFilters are the delivery history's filters, as the API reads
// them; deliveryOrder adds its order and window.
var (
	deliveryFilters = []string{"status", "plugin", "eventId", "actionType", "startDate", "endDate"}
	deliveryOrder   = append([]string{"sortBy", "sortOrder", "page", "limit"}, deliveryFilters...)
)

func (c *Console) deliveries(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.get(r, s, "/v1/deliveries", pick(r.URL.Query(), deliveryOrder...))
	c.render(w, r, s, status(err), "deliveries", "Deliveries", d, withError(err))
}

func (c *Console) delivery(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	d, err := c.get(r, s, "/v1/deliveries/"+url.PathEscape(id), nil)
	if err != nil {
		c.renderAPIError(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "delivery", "Delivery "+id, d, withNotice(r.URL.Query().Get("notice")))
}

// retryOne retries one failed delivery and shows it again.
func (c *Console) retryOne(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if _, err := c.call(r, s, http.MethodPost, "/v1/deliveries/"+url.PathEscape(id)+"/retry", nil, nil); err != nil {
		d, _ := c.get(r, s, "/v1/deliveries/"+url.PathEscape(id), nil)
		c.render(w, r, s, err.Status, "delivery", "Delivery "+id, d, withError(err))
		return
	}
	http.Redirect(w, r, c.url("/deliveries/"+url.PathEscape(id), url.Values{"notice": {"Retry scheduled: the delivery is pending again."}}), http.StatusSeeOther)
}

// bulkData is the bulk retry's confirmation: the count and the moment it
// was counted at, which the confirmation sends back.
type bulkData struct {
	Count   int
	AsOf    string
	Filters url.Values
	Done    bool
}

// confirmRetry counts the failed deliveries the filters select and asks
// for confirmation; nothing changes yet.
func (c *Console) confirmRetry(w http.ResponseWriter, r *http.Request, s *session) {
	f := pick(r.URL.Query(), deliveryFilters...)
	f.Set("status", "failed")
	d, err := c.call(r, s, http.MethodPost, "/v1/deliveries/retry", f, map[string]any{"dryRun": true})
	c.renderBulk(w, r, s, f, d, err, false)
}

// retryAll retries exactly what the confirmation counted.
func (c *Console) retryAll(w http.ResponseWriter, r *http.Request, s *session) {
	f := pick(r.PostForm, deliveryFilters...)
	f.Set("status", "failed")
	expect, convErr := strconv.Atoi(r.PostFormValue("expect"))
	if convErr != nil {
		c.renderError(w, r, s, http.StatusBadRequest, "The confirmation lacks the count it confirmed.")
		return
	}
	d, err := c.call(r, s, http.MethodPost, "/v1/deliveries/retry", f,
		map[string]any{"asOf": r.PostFormValue("asOf"), "expect": expect})
	c.renderBulk(w, r, s, f, d, err, err == nil)
}

func (c *Console) renderBulk(w http.ResponseWriter, r *http.Request, s *session, f url.Values, d any, err *apiError, done bool) {
	m, _ := d.(map[string]any)
	b := bulkData{Count: int(toFloat(m["count"])), AsOf: str(m["asOf"]), Filters: f, Done: done}
	if m == nil && err != nil {
		c.renderAPIError(w, r, s, err)
		return
	}
	if err != nil && err.Status == http.StatusConflict {
		err.Message += ". Review the new count below."
	}
	c.render(w, r, s, status(err), "retry", "Retry failed deliveries", b, withError(err))
}

// exportDeliveries streams the API's CSV export of the filters. A refusal
// before the file starts is shown as a page.
func (c *Console) exportDeliveries(w http.ResponseWriter, r *http.Request, s *session) {
	q := pick(r.URL.Query(), append([]string{"sortBy", "sortOrder"}, deliveryFilters...)...)
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "/v1/deliveries/export?"+q.Encode(), nil)
	if err != nil {
		c.renderError(w, r, s, http.StatusBadRequest, "building the export: "+err.Error())
		return
	}
	req.Host, req.RemoteAddr = r.Host, r.RemoteAddr
	ew := &exportWriter{w: w}
	c.cfg.API.ServeAs(s.role, ew, req)
	if ew.refused != nil {
		var env struct {
			Error struct {
				Message string            `json:"message"`
				Fields  map[string]string `json:"fields"`
			} `json:"error"`
		}
		json.Unmarshal(ew.refused.Bytes(), &env)
		c.renderAPIError(w, r, s, &apiError{Status: ew.status, Message: env.Error.Message, Fields: env.Error.Fields})
	}
}

// exportWriter passes a 200 through as it streams and keeps any other
// answer, to be shown as a page.
type exportWriter struct {
	w       http.ResponseWriter
	status  int
	refused *bytes.Buffer
}

func (e *exportWriter) Header() http.Header { return e.w.Header() }

func (e *exportWriter) WriteHeader(status int) {
	if e.status != 0 {
		return
	}
	e.status = status
	if status != http.StatusOK {
		e.refused = &bytes.Buffer{}
		return
	}
	e.w.WriteHeader(status)
}

func (e *exportWriter) Write(b []byte) (int, error) {
	e.WriteHeader(http.StatusOK)
	if e.refused != nil {
		return e.refused.Write(b)
	}
	return e.w.Write(b)
}

// Flush lets the export flush through, as it does to the client directly.
func (e *exportWriter) Flush() {
	if f, ok := e.w.(http.Flusher); ok && e.refused == nil {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the client's writer, for the
// export's write deadline.
func (e *exportWriter) Unwrap() http.ResponseWriter { return e.w }
