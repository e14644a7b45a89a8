package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Proof chains, policies, plugins and webhook endpoints.

func (c *Console) chainRoutes() {
	c.page("GET /ui/chains", c.chains)
	c.page("GET /ui/chains/{customer}", c.chain)
}

func (c *Console) chains(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.get(r, s, "/v1/chains", pick(r.URL.Query(), "page", "limit"))
	c.render(w, r, s, status(err), "chains", "Proof chains", d, withError(err))
}

// chainData is a customer's chain, its timeline and its period totals.
type chainData struct {
	Chain, Timeline, Periods map[string]any
}

func (c *Console) chain(w http.ResponseWriter, r *http.Request, s *session) {
	customer := url.PathEscape(r.PathValue("customer"))
	ch, err := c.get(r, s, "/v1/chains/"+customer, nil)
	if err != nil {
		c.renderAPIError(w, r, s, err)
		return
	}
	tl, err := c.get(r, s, "/v1/chains/"+customer+"/timeline", pick(r.URL.Query(), "before", "limit"))
	if err != nil {
		c.renderAPIError(w, r, s, err)
		return
	}
	periods, err := c.get(r, s, "/v1/ledger/periods", url.Values{"customerId": {r.PathValue("customer")}, "limit": {"12"}})
	if err != nil {
		c.renderAPIError(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "chain", "Chain of "+r.PathValue("customer"), chainData{ch, tl, periods})
}

func (c *Console) policyRoutes() {
	c.page("GET /ui/policies", c.policies)
	c.page("GET /ui/policies/dry-run", c.dryRun)
}

func (c *Console) policies(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.get(r, s, "/v1/policies", nil)
	if err != nil {
		c.renderAPIError(w, r, s, err)
		return
	}
	c.render(w, r, s, http.StatusOK, "policies", "Policies", d)
}

// dryRunData is a dry run's form and, once run, its result.
type dryRunData struct {
	Result map[string]any
}

// dryRun decides stored events again with a candidate policy directory
// and shows what each would gain and lose. It changes nothing, so it is a
// GET whose URL can be shared.
func (c *Console) dryRun(w http.ResponseWriter, r *http.Request, s *session) {
	in := r.URL.Query()
	if in.Get("run") == "" {
		c.render(w, r, s, http.StatusOK, "dryrun", "Policy dry run", dryRunData{})
		return
	}
	body := map[string]any{"policyDir": strings.TrimSpace(in.Get("dir"))}
	for _, k := range []string{"since", "until", "endpoint"} {
		if v := strings.TrimSpace(in.Get(k)); v != "" {
			body[k] = v
		}
	}
	if v := strings.TrimSpace(in.Get("limit")); v != "" {
		body["limit"] = jsonInt(v)
	}
	d, err := c.call(r, s, http.MethodPost, "/v1/replay", nil, body)
	m, _ := d.(map[string]any)
	c.render(w, r, s, status(err), "dryrun", "Policy dry run", dryRunData{Result: m}, withError(err))
}

func (c *Console) pluginRoutes() {
	c.page("GET /ui/plugins", c.plugins)
	c.page("GET /ui/plugins/{name}", c.plugin)
	c.page("POST /ui/plugins/{name}/test", c.testPlugin)
}

func (c *Console) plugins(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.get(r, s, "/v1/plugins", nil)
	c.render(w, r, s, status(err), "plugins", "Plugins", d, withError(err))
}

// pluginData is a plugin, its recent failures, a page of its store and
// the outcome of a test delivery.
type pluginData struct {
	Plugin, Failures, Store, Test map[string]any
}

func (c *Console) plugin(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderPlugin(w, r, s, nil, nil)
}

func (c *Console) renderPlugin(w http.ResponseWriter, r *http.Request, s *session, test map[string]any, testErr *apiError) {
	name := r.PathValue("name")
	all, err := c.get(r, s, "/v1/plugins", nil)
	if err != nil {
		c.renderAPIError(w, r, s, err)
		return
	}
	d := pluginData{Test: test}
	for _, p := range list(all["plugins"]) {
		if str(p["name"]) == name {
			d.Plugin = p
		}
	}
	if d.Plugin == nil {
		c.renderError(w, r, s, http.StatusNotFound, "No plugin instance “"+name+"” is configured.")
		return
	}
	if d.Failures, err = c.get(r, s, "/v1/deliveries", url.Values{"plugin": {name}, "status": {"failed"}, "limit": {"10"}}); err != nil {
		c.renderAPIError(w, r, s, err)
		return
	}
	q := pick(r.URL.Query(), "prefix", "sortOrder", "page")
	q.Set("limit", "20")
	d.Store, err = c.get(r, s, "/v1/plugins/"+url.PathEscape(name)+"/store", q)
	if testErr == nil {
		testErr = err
	}
	c.render(w, r, s, status(testErr), "plugin", "Plugin "+name, d, withError(testErr))
}

func (c *Console) testPlugin(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.call(r, s, http.MethodPost, "/v1/plugins/"+url.PathEscape(r.PathValue("name"))+"/test", nil, nil)
	m, _ := d.(map[string]any)
	c.renderPlugin(w, r, s, m, err)
}

func (c *Console) webhookRoutes() {
	c.page("GET /ui/webhooks", c.webhooks)
	c.page("POST /ui/webhooks", c.createWebhook)
	c.page("GET /ui/webhooks/{id}", c.webhook)
	c.page("POST /ui/webhooks/{id}/{op}", c.webhookOp)
}

func (c *Console) webhooks(w http.ResponseWriter, r *http.Request, s *session) {
	d, err := c.get(r, s, "/v1/webhooks", pick(r.URL.Query(), "page", "limit"))
	c.render(w, r, s, status(err), "webhooks", "Webhook endpoints", d, withError(err), withNotice(r.URL.Query().Get("notice")))
}

// webhookData is an endpoint and, right after its creation or rotation,
// its new secret, shown this once.
type webhookData struct {
	Webhook map[string]any
	Secret  string
	Result  map[string]any // a test event's outcome
}

func (c *Console) createWebhook(w http.ResponseWriter, r *http.Request, s *session) {
	body := map[string]any{"name": strings.TrimSpace(r.PostFormValue("name")),
		"description": strings.TrimSpace(r.PostFormValue("description")),
		"allowLegacy": r.PostFormValue("allowLegacy") != ""}
	d, err := c.call(r, s, http.MethodPost, "/v1/webhooks", nil, body)
	if err != nil {
		list, _ := c.get(r, s, "/v1/webhooks", nil)
		c.render(w, r, s, err.Status, "webhooks", "Webhook endpoints", list, withError(err))
		return
	}
	m, _ := d.(map[string]any)
	c.renderWebhook(w, r, s, str(m["id"]), webhookData{Secret: str(m["secret"])}, "Endpoint created.", nil)
}

func (c *Console) webhook(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderWebhook(w, r, s, r.PathValue("id"), webhookData{}, r.URL.Query().Get("notice"), nil)
}

// renderWebhook shows an endpoint, with opErr when an operation on it was
// refused.
func (c *Console) renderWebhook(w http.ResponseWriter, r *http.Request, s *session, id string, d webhookData, notice string, opErr *apiError) {
	var err *apiError
	if d.Webhook, err = c.get(r, s, "/v1/webhooks/"+url.PathEscape(id), nil); err != nil {
		c.renderAPIError(w, r, s, err)
		return
	}
	c.render(w, r, s, status(opErr), "webhook", "Webhook endpoint "+id, d, withNotice(notice), withError(opErr))
}

// webhookOp rotates, toggles, tests or deletes an endpoint.
func (c *Console) webhookOp(w http.ResponseWriter, r *http.Request, s *session) {
	id, op := r.PathValue("id"), r.PathValue("op")
	p := "/v1/webhooks/" + url.PathEscape(id)
	var (
		d   any
		err *apiError
	)
	switch op {
	case "rotate":
		body := map[string]any{}
		if g := strings.TrimSpace(r.PostFormValue("gracePeriod")); g != "" {
			body["gracePeriod"] = g
		}
		d, err = c.call(r, s, http.MethodPost, p+"/rotate", nil, body)
	case "toggle", "test":
		d, err = c.call(r, s, http.MethodPost, p+"/"+op, nil, nil)
	case "delete":
		if _, err = c.call(r, s, http.MethodDelete, p, nil, nil); err == nil {
			http.Redirect(w, r, c.url("/webhooks", url.Values{"notice": {"Endpoint " + id + " deleted."}}), http.StatusSeeOther)
			return
		}
	default:
		c.renderError(w, r, s, http.StatusNotFound, "There is no operation “"+op+"” on webhook endpoints.")
		return
	}
	if err != nil {
		c.renderWebhook(w, r, s, id, webhookData{}, "", err)
		return
	}
	m, _ := d.(map[string]any)
	switch op {
	case "rotate":
		c.renderWebhook(w, r, s, id, webhookData{Secret: str(m["secret"])}, "Secret rotated.", nil)
	case "test":
		c.renderWebhook(w, r, s, id, webhookData{Result: m}, "", nil)
	default:
		http.Redirect(w, r, c.url("/webhooks/"+url.PathEscape(id), url.Values{"notice": {"Endpoint toggled."}}), http.StatusSeeOther)
	}
}

// jsonInt is v as a JSON number when it is one, else as a string the API
// will name as the bad field.
func jsonInt(v string) any {
	if n, err := strconv.Atoi(v); err == nil {
		return n
	}
	return v
}
