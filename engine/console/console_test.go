package console_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// shared is one agent filled with a scenario, for every test that only
// reads it or changes what it alone looks at.
var shared struct {
	once  sync.Once
	a     *agent
	truth []truthLine
	stop  func()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
	}
	if binary.path != "" {
		os.RemoveAll(strings.TrimSuffix(binary.path, "/arbiter"))
	}
	os.Exit(code)
}

// filled is the shared agent with 600 deliveries of a scenario that has
// every fault kind and more chain gaps.
func filled(t *testing.T) (*agent, []truthLine) {
	t.Helper()
	shared.once.Do(func() {
		a, stop := startAgent(t, "")
		shared.stop = stop
		shared.truth = a.fill(t, 600, "all=0.02", "chain-gap=0.04")
		shared.a = a
	})
	if shared.a == nil {
		t.Fatal("the shared agent did not start; see the first test's failure")
	}
	return shared.a, shared.truth
}

// client is an HTTP client that keeps cookies and does not follow
// redirects.
func client(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn logs c in through the login form at base (a console URL prefix
// such as http://host/ui) and returns the session's CSRF token.
func signIn(t testing.TB, c *http.Client, base, token string) string {
	t.Helper()
	page := fetch(t, c, http.MethodGet, base+"/login", nil, http.StatusOK)
	m := csrfInput.FindStringSubmatch(page)
	require.True(t, m != nil, "the login form has a CSRF token")
	resp, err := c.PostForm(base+"/login", url.Values{"csrf": {m[1]}, "token": {token}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	page = fetch(t, c, http.MethodGet, base+"/", nil, http.StatusOK)
	m = csrfInput.FindStringSubmatch(page)
	require.True(t, m != nil, "a signed-in page has a CSRF token")
	return m[1]
}

// fetch makes a request and requires its status.
func fetch(t testing.TB, c *http.Client, method, u string, form url.Values, status int) string {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, status, resp.StatusCode, method+" "+u+"\n"+string(b))
	return string(b)
}

// TestPagesRender signs in over plain HTTP and reads every page: each
// renders (a failed template is an error page with a 500), and the
// errors the API gives are shown inline with their status.
func TestPagesRender(t *testing.T) {
	a, truth := filled(t)
	c := client(t)
	signIn(t, c, a.base+"/ui", adminToken)
	gap := eventOf(truth, "chain-gap")
	customer := customerOf(t, a, gap)
	failed := failedDelivery(t, a)
	for _, p := range []string{"/", "/?paused=1", "/events", "/events?type=delta.verified&status=processed&live=1",
		"/events?customer=" + customer, "/events?id=" + gap, "/events/" + gap, "/events/" + gap + "?raw=1",
		"/deliveries", "/deliveries?status=failed&sortBy=attempts&sortOrder=asc", "/deliveries/" + failed,
		"/deliveries/retry?actionType=alert", "/chains", "/chains/" + customer, "/chains/" + customer + "?limit=500",
		"/policies", "/policies/dry-run", "/plugins", "/plugins/console", "/plugins/console?prefix=x",
		"/webhooks", "/webhooks/pacspace"} {
		page := fetch(t, c, http.MethodGet, a.base+"/ui"+p, nil, http.StatusOK)
		require.NotContains(t, page, "failed to render", p)
		require.NotContains(t, page, "no value", p)
	}
	for p, want := range map[string]string{
		"/events/evt_no_such_event":       "no event",
		"/events?status=lost":             "must be one of",
		"/deliveries?sortBy=mood":         "must be one of",
		"/deliveries/dlv_no_such":         "no delivery",
		"/chains/cus_no_such":             "no proof chain",
		"/plugins/nothing":                "No plugin instance",
		"/no/such/page":                   "There is no page",
		"/go?q=nothing_has_this_id_12345": "Nothing has the id",
	} {
		resp, err := c.Get(a.base + "/ui" + p)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.True(t, resp.StatusCode >= 400, p)
		require.Contains(t, string(b), want, p)
		require.Contains(t, string(b), `role="alert"`, p) // inline, in the layout
	}
	// The jump box finds each kind of id.
	for q, want := range map[string]string{gap: "/ui/events/" + gap, failed: "/ui/deliveries/",
		"pacspace": "/ui/webhooks/pacspace", customer: "/ui/chains/" + customer, "console": "/ui/plugins/console"} {
		resp, err := c.Get(a.base + "/ui/go?q=" + url.QueryEscape(q))
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, q)
		require.Contains(t, resp.Header.Get("Location"), want, q)
	}
	// The CSV export of a filter.
	csv := fetch(t, c, http.MethodGet, a.base+"/ui/deliveries.csv?status=failed", nil, http.StatusOK)
	require.True(t, strings.HasPrefix(csv, "id,eventId,plugin,actionType,status"), csv[:min(len(csv), 80)])
	for _, line := range strings.Split(strings.TrimSpace(csv), "\r\n")[1:] {
		require.Contains(t, line, ",failed,")
	}
	page := fetch(t, c, http.MethodGet, a.base+"/ui/deliveries.csv?status=lost", nil, http.StatusBadRequest)
	require.Contains(t, page, "must be one of")
}

// TestSessions: without a session every page goes to the login page; a
// state-changing request needs the session's CSRF token and this origin;
// logout ends the session.
func TestSessions(t *testing.T) {
	a, _ := filled(t)
	c := client(t)
	resp, err := c.Get(a.base + "/ui/deliveries?status=failed")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/ui/login?next=%2Fui%2Fdeliveries%3Fstatus%3Dfailed", resp.Header.Get("Location"))

	csrf := signIn(t, c, a.base+"/ui", adminToken)
	u, _ := url.Parse(a.base + "/ui/")
	var session *http.Cookie
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == "arbiter_session" {
			session = ck
		}
	}
	require.True(t, session != nil, "a session cookie")
	fetch(t, c, http.MethodPost, a.base+"/ui/webhooks/pacspace/toggle", url.Values{}, http.StatusForbidden)
	fetch(t, c, http.MethodPost, a.base+"/ui/webhooks/pacspace/toggle", url.Values{"csrf": {"forged"}}, http.StatusForbidden)
	// Another site's form, with the right token: refused by its origin.
	req, _ := http.NewRequest(http.MethodPost, a.base+"/ui/webhooks/pacspace/toggle", strings.NewReader("csrf="+csrf))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	var wh struct{ Data struct{ Enabled bool } }
	a.getJSON(t, "/v1/webhooks/pacspace", adminToken, &wh)
	require.True(t, wh.Data.Enabled, "nothing was toggled")

	fetch(t, c, http.MethodPost, a.base+"/ui/logout", url.Values{"csrf": {csrf}}, http.StatusSeeOther)
	resp, err = c.Get(a.base + "/ui/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	// The old cookie, replayed, is no session any more.
	c2 := client(t)
	c2.Jar.SetCookies(u, []*http.Cookie{session})
	resp, err = c2.Get(a.base + "/ui/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

// TestBasePath serves the console behind a reverse proxy that strips a
// path prefix: links, redirects and the cookie carry console.base_path.
func TestBasePath(t *testing.T) {
	a, stop := startAgent(t, "console: {base_path: /ops/arbiter}\nplugins: []\n")
	defer stop()
	target, _ := url.Parse(a.base)
	proxy := httputil.NewSingleHostReverseProxy(target)
	mux := http.NewServeMux()
	mux.Handle("/ops/arbiter/", http.StripPrefix("/ops/arbiter", proxy))
	srv := newServer(t, mux)
	c := client(t)
	resp, err := c.Get(srv + "/ops/arbiter/ui/events")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "/ops/arbiter/ui/login?next=%2Fops%2Farbiter%2Fui%2Fevents", resp.Header.Get("Location"))
	signIn(t, c, srv+"/ops/arbiter/ui", adminToken)
	u, _ := url.Parse(srv + "/ops/arbiter/ui/")
	require.Equal(t, 1, len(c.Jar.Cookies(u)))
	page := fetch(t, c, http.MethodGet, srv+"/ops/arbiter/ui/events", nil, http.StatusOK)
	require.Contains(t, page, `href="/ops/arbiter/ui/deliveries"`)
	require.Contains(t, page, `src="/ops/arbiter/ui/static/htmx.min.js?v=`)
	require.NotContains(t, page, `href="/ui/`)
	js := fetch(t, c, http.MethodGet, srv+"/ops/arbiter/ui/static/console.js", nil, http.StatusOK)
	require.Contains(t, js, "use strict")
}

// TestLoginCookie: a login sets a session cookie that scripts cannot read.
func TestLoginCookie(t *testing.T) {
	a, _ := filled(t)
	ctx := browser(t)
	login(t, ctx, a, adminToken)
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{a.base + "/ui/"}})
	require.NoError(t, err)
	var session *network.Cookie
	for _, ck := range cookies.Cookies {
		if ck.Name == "arbiter_session" {
			session = ck
		}
	}
	require.True(t, session != nil, "a session cookie")
	require.True(t, session.HTTPOnly, "HttpOnly")
	require.Equal(t, network.CookieSameSiteStrict, session.SameSite)
	require.Equal(t, "/ui/", session.Path)
	require.True(t, len(session.Value) >= 43, "256 random bits")
	seen, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.cookie"))
	require.NoError(t, err)
	require.NotContains(t, seen, "arbiter_session")
	require.NotContains(t, seen, session.Value)
}

// TestWrongToken: a wrong token is refused and gives no session.
func TestWrongToken(t *testing.T) {
	a, _ := filled(t)
	ctx := browser(t)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(a.base+"/ui/login"),
		chromedp.SendKeys(chromedp.CSS("#token"), "arb_not_a_token_0123456789"),
		chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")),
	))
	require.Equal(t, "That token is not valid.", text(t, ctx, "#login-error"))
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{a.base + "/ui/"}})
	require.NoError(t, err)
	for _, ck := range cookies.Cookies {
		require.True(t, ck.Name != "arbiter_session", "no session cookie")
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(a.base+"/ui/events"), chromedp.WaitVisible(chromedp.CSS("#token"))))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Contains(t, loc, "/ui/login?next=")
}

// TestDeepLink: a URL with filters opens the page with them set, and a
// filter submitted from the page lands in the URL.
func TestDeepLink(t *testing.T) {
	a, truth := filled(t)
	customer := customerOf(t, a, eventOf(truth, "chain-gap"))
	ctx := browser(t)
	login(t, ctx, a, adminToken)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(a.base+"/ui/deliveries?status=failed&actionType=alert&sortBy=attempts&sortOrder=asc&limit=5&page=2")))
	for sel, want := range map[string]string{"#f-status": "failed", "#f-action": "alert", "#f-sort": "attempts", "#f-order": "asc"} {
		v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
		require.NoError(t, err)
		require.Equal(t, want, v, sel)
	}
	require.Contains(t, text(t, ctx, ".pager"), "Page 2 of")
	statuses, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll("table.list tbody tr td:nth-child(5)")].map(td => td.textContent.trim())`))
	require.NoError(t, err)
	require.True(t, len(statuses) > 0, "rows")
	for _, s := range statuses {
		require.Equal(t, "failed", s)
	}

	// Filtering from the form puts the filter in the URL.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(a.base+"/ui/events"),
		chromedp.SendKeys(chromedp.CSS("#f-customer"), customer),
		chromedp.SetValue(chromedp.CSS("#f-type"), "delta.verified"),
		chromedp.Submit(chromedp.CSS("#f-customer")),
		// Only the page the form leads to has the customer filled in.
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf("#f-customer[value=%q]", customer))),
	))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Contains(t, loc, "customer="+customer)
	require.Contains(t, loc, "type=delta.verified")
	v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#f-customer")))
	require.NoError(t, err)
	require.Equal(t, customer, v)
}

// TestBulkRetry: the bulk retry shows the count of failed deliveries the
// filter matches, asks for confirmation, and then retries exactly those:
// not one that failed after the count was shown.
func TestBulkRetry(t *testing.T) {
	a, stop := startAgent(t, "")
	defer stop()
	a.fill(t, 200, "all=0.03")
	count := func(q string) int {
		var d struct {
			Data struct{ Pagination struct{ Total int } }
		}
		a.getJSON(t, "/v1/deliveries?limit=1&"+q, adminToken, &d)
		return d.Data.Pagination.Total
	}
	alerts, others := count("status=failed&actionType=alert"), count("status=failed&actionType=notify")
	require.True(t, alerts > 0 && others > 0, fmt.Sprintf("failed alerts %d, failed notifies %d", alerts, others))

	ctx := browser(t)
	login(t, ctx, a, adminToken)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(a.base+"/ui/deliveries?status=failed&actionType=alert"),
		chromedp.Click(chromedp.CSS("#bulk-retry")),
		chromedp.WaitVisible(chromedp.CSS("#retry-count")),
	))
	require.Equal(t, fmt.Sprint(alerts), strings.ReplaceAll(text(t, ctx, "#retry-count"), ",", ""))
	require.Equal(t, alerts, count("status=failed&actionType=alert")) // nothing retried yet

	// A new alert fails after the count was shown.
	a.run(t, "", "emit", "--url", a.base+"/webhooks/pacspace", "delta.verified")
	for deadline := time.Now().Add(30 * time.Second); count("status=failed&actionType=alert") == alerts; time.Sleep(50 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the new alert did not fail; log:\n", a.logs.String())
	}
	late := count("status=failed&actionType=alert") - alerts

	a.sink.ok.Store(true) // retried deliveries now succeed
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#confirm-retry")), chromedp.WaitVisible(chromedp.CSS("#retried"))))
	require.Contains(t, text(t, ctx, "#retried"), fmt.Sprintf("Retried %d failed deliveries", alerts))
	a.settle(t)
	require.Equal(t, late, count("status=failed&actionType=alert"))    // the late ones stay failed
	require.Equal(t, others, count("status=failed&actionType=notify")) // outside the filter: untouched
	require.True(t, count("status=delivered&actionType=alert") >= alerts, "the retried alerts were delivered")
}

// TestReadOnly: a read-only session sees no button it may not use, and
// the server refuses the requests anyway, in the console and in the API.
func TestReadOnly(t *testing.T) {
	a, _ := filled(t)
	id := failedDelivery(t, a)
	ctx := browser(t)
	login(t, ctx, a, readOnlyToken)
	require.Equal(t, "read-only", text(t, ctx, ".badge"))
	for page, sels := range map[string][]string{
		"/ui/deliveries?status=failed": {"#bulk-retry", "form[action$='/retry'] button"},
		"/ui/deliveries/" + id:         {"#retry-one"},
		"/ui/webhooks":                 {"#create-webhook"},
		"/ui/webhooks/pacspace":        {"#toggle-webhook", "#rotate-webhook", "#delete-webhook", "#test-webhook"},
		"/ui/plugins/console":          {"#test-plugin"},
	} {
		require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(a.base+page), chromedp.WaitVisible(chromedp.CSS("main"))))
		for _, sel := range sels {
			n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
			require.NoError(t, err)
			require.Equal(t, 0, n, page+" "+sel)
		}
	}
	// The page's own token, sent from the page: the server still says no.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(a.base+"/ui/deliveries/"+id)))
	status, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`(async () => {
		const csrf = document.querySelector("input[name=csrf]").value;
		const r = await fetch(%q, {method: "POST", body: new URLSearchParams({csrf})});
		return r.status;
	})()`, a.base+"/ui/deliveries/"+id+"/retry"), chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Equal(t, http.StatusForbidden, status)
	for _, p := range []string{"/ui/deliveries/retry?actionType=alert"} {
		st, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`fetch(%q).then(r => r.status)`, a.base+p), chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		require.Equal(t, http.StatusForbidden, st, p)
	}
	// The JSON API with the read-only token.
	req, _ := http.NewRequest(http.MethodPost, a.base+"/v1/deliveries/"+id+"/retry", nil)
	req.Header.Set("Authorization", "Bearer "+readOnlyToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	var d struct{ Data struct{ Status string } }
	a.getJSON(t, "/v1/deliveries/"+id, adminToken, &d)
	require.Equal(t, "failed", d.Data.Status)
}

// TestChainGap: the chain page marks the gap the simulator injected.
func TestChainGap(t *testing.T) {
	a, truth := filled(t)
	gap := eventOf(truth, "chain-gap")
	require.True(t, gap != "", "the scenario has a chain gap")
	customer := customerOf(t, a, gap)
	ctx := browser(t)
	login(t, ctx, a, adminToken)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(a.base+"/ui/chains/"+customer+"?limit=500"),
		chromedp.WaitVisible(chromedp.CSS("#timeline"))))
	verdict, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(
		`[...document.querySelectorAll("#timeline li")].find(li => li.textContent.includes(%q))?.dataset.chain ?? "absent"`, gap)))
	require.NoError(t, err)
	require.Equal(t, "gap", verdict)
	gaps, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#timeline li.tl-gap .st-gap").length`))
	require.NoError(t, err)
	require.True(t, gaps >= 1, "the gap is marked")
}

// TestLiveRefresh: the overview shows an event received after it was
// opened, without a reload; paused, it does not.
func TestLiveRefresh(t *testing.T) {
	a, _ := filled(t)
	ctx := browser(t)
	login(t, ctx, a, adminToken)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(a.base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#last-event"))))
	_, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("window.notReloaded = true"))
	require.NoError(t, err)
	id := fmt.Sprintf("evt_live_%d", time.Now().UnixNano())
	body, _ := json.Marshal(map[string]any{"event": "test", "timestamp": time.Now().UTC().Format(time.RFC3339),
		"data": map[string]string{"message": id}})
	a.run(t, string(body), "emit", "--url", a.base+"/webhooks/pacspace", "--event-id", id, "-")
	waitFor(t, ctx, fmt.Sprintf(`document.querySelector("#last-event").textContent.includes(%q) && window.notReloaded === true`, id), 30*time.Second)

	// Paused, the page stays as it was.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("a[href*='paused=1']")), chromedp.WaitVisible(chromedp.CSS("#paused"))))
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Contains(t, loc, "paused=1")
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("[hx-trigger]").length`))
	require.NoError(t, err)
	require.Equal(t, 0, n)
}

// newServer serves h on loopback for the test.
func newServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

var secretCode = regexp.MustCompile(`<code id="secret">(whsec_[0-9a-f]+)</code>`)

// TestOperations drives the console's state-changing forms over HTTP:
// a webhook endpoint created (its secret shown once), tested, toggled,
// rotated and deleted; a test delivery to a plugin; a policy dry run.
func TestOperations(t *testing.T) {
	a, _ := filled(t)
	c := client(t)
	csrf := signIn(t, c, a.base+"/ui", adminToken)
	ui := a.base + "/ui"

	page := fetch(t, c, http.MethodPost, ui+"/webhooks", url.Values{"csrf": {csrf}, "name": {"ui_ops"}, "description": {"made in the console"}}, http.StatusOK)
	m := secretCode.FindStringSubmatch(page)
	require.True(t, m != nil, "the new secret is shown")
	require.Contains(t, page, `data-copy="secret"`)
	page = fetch(t, c, http.MethodGet, ui+"/webhooks/ui_ops", nil, http.StatusOK)
	require.NotContains(t, page, m[1]) // once only
	require.Contains(t, page, "made in the console")
	page = fetch(t, c, http.MethodPost, ui+"/webhooks", url.Values{"csrf": {csrf}, "name": {"ui_ops"}}, http.StatusConflict)
	require.Contains(t, page, "is taken")
	page = fetch(t, c, http.MethodPost, ui+"/webhooks", url.Values{"csrf": {csrf}, "name": {"Bad Name"}}, http.StatusBadRequest)
	require.Contains(t, page, "must be 1 to 64 characters")

	page = fetch(t, c, http.MethodPost, ui+"/webhooks/ui_ops/test", url.Values{"csrf": {csrf}}, http.StatusOK)
	require.Contains(t, page, "Test event sent successfully.")
	fetch(t, c, http.MethodPost, ui+"/webhooks/ui_ops/toggle", url.Values{"csrf": {csrf}}, http.StatusSeeOther)
	var wh struct{ Data struct{ Enabled bool } }
	a.getJSON(t, "/v1/webhooks/ui_ops", adminToken, &wh)
	require.False(t, wh.Data.Enabled, "disabled")
	page = fetch(t, c, http.MethodPost, ui+"/webhooks/ui_ops/rotate", url.Values{"csrf": {csrf}, "gracePeriod": {"1h"}}, http.StatusOK)
	m2 := secretCode.FindStringSubmatch(page)
	require.True(t, m2 != nil && m2[1] != m[1], "a new secret, shown once")
	page = fetch(t, c, http.MethodPost, ui+"/webhooks/ui_ops/rotate", url.Values{"csrf": {csrf}, "gracePeriod": {"forever"}}, http.StatusBadRequest)
	require.Contains(t, page, "gracePeriod")
	fetch(t, c, http.MethodPost, ui+"/webhooks/ui_ops/delete", url.Values{"csrf": {csrf}}, http.StatusSeeOther)
	require.Equal(t, http.StatusNotFound, a.getJSON(t, "/v1/webhooks/ui_ops", adminToken, &wh))
	page = fetch(t, c, http.MethodPost, ui+"/webhooks/pacspace/delete", url.Values{"csrf": {csrf}}, http.StatusConflict)
	require.Contains(t, page, "declared in the config file")

	// The sink refuses every post, so the plugin answers retry.
	page = fetch(t, c, http.MethodPost, ui+"/plugins/console/test", url.Values{"csrf": {csrf}}, http.StatusOK)
	require.Contains(t, page, `id="test-result"`)
	require.Contains(t, page, "<strong>retry</strong>")

	// A dry run of the policies built into the repository.
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "policies")
	page = fetch(t, c, http.MethodGet, ui+"/policies/dry-run?run=1&limit=50&dir="+url.QueryEscape(dir), nil, http.StatusOK)
	require.Contains(t, page, "50 events evaluated")
	page = fetch(t, c, http.MethodGet, ui+"/policies/dry-run?run=1&dir=/no/such/dir", nil, http.StatusBadRequest)
	require.Contains(t, page, "cannot be read")
}
