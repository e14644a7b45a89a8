package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/arbiter-dev/arbiter/engine/admin"
)

// Cookie names. The session cookie holds a random id and nothing else;
// the login cookie carries the login form's CSRF token before there is a
// session.
const (
	sessionCookie = "arbiter_session"
	loginCookie   = "arbiter_login"
	csrfField     = "csrf"
	csrfHeader    = "X-CSRF-Token"
)

// maxSessions bounds the sessions kept: past it the oldest is ended.
const maxSessions = 10_000

// session is one signed-in browser.
type session struct {
	role    admin.Role
	csrf    string
	created time.Time
	seen    time.Time
}

// CanWrite reports whether the session may change state; the pages hide
// what it may not do.
func (s *session) CanWrite() bool { return s.role.CanWrite() }

// sessions keeps sessions in memory, keyed by the sha256 of their id, so
// that neither a lookup's timing nor a memory dump gives an id away. A
// restart signs everyone out.
type sessions struct {
	idle, max time.Duration
	now       func() time.Time

	mu sync.Mutex
	m  map[[32]byte]*session
}

func newSessions(idle, max time.Duration, now func() time.Time) *sessions {
	return &sessions{idle: idle, max: max, now: now, m: map[[32]byte]*session{}}
}

// randomID returns 256 random bits, URL-safe.
func randomID() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails: a broken random source crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}

// create starts a session for role and returns its id.
func (ss *sessions) create(role admin.Role) string {
	id := randomID()
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.m) >= maxSessions {
		ss.sweep(now)
	}
	for len(ss.m) >= maxSessions { // still full of live sessions: end the oldest
		var oldest [32]byte
		first := true
		for k, s := range ss.m {
			if first || s.created.Before(ss.m[oldest].created) {
				oldest, first = k, false
			}
		}
		delete(ss.m, oldest)
	}
	ss.m[sha256.Sum256([]byte(id))] = &session{role: role, csrf: randomID(), created: now, seen: now}
	return id
}

// get returns the live session of id and marks it used, or nil.
func (ss *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	k := sha256.Sum256([]byte(id))
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[k]
	if s == nil {
		return nil
	}
	if ss.expired(s, now) {
		delete(ss.m, k)
		return nil
	}
	s.seen = now
	c := *s
	return &c
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.seen) >= ss.idle || now.Sub(s.created) >= ss.max
}

// sweep drops expired sessions; ss.mu is held.
func (ss *sessions) sweep(now time.Time) {
	for k, s := range ss.m {
		if ss.expired(s, now) {
			delete(ss.m, k)
		}
	}
}

func (ss *sessions) end(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, sha256.Sum256([]byte(id)))
}

// session returns the request's live session, or nil.
func (c *Console) session(r *http.Request) *session {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	return c.sessions.get(ck.Value)
}

// cookiePath scopes the console's cookies to its pages.
func (c *Console) cookiePath() string { return c.cfg.BasePath + "/ui/" }

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: c.cookiePath(), MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil || c.cfg.SecureCookie, SameSite: http.SameSiteStrictMode})
}

// signIn answers a request without a session: pages go to the login page
// and come back after it; htmx requests are told to go there.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	next := c.cfg.BasePath + r.URL.RequestURI()
	if !safeMethod(r.Method) {
		next = c.url("/", nil)
	}
	login := c.url("/login", url.Values{"next": {next}})
	if r.Header.Get("HX-Request") != "" {
		w.Header().Set("HX-Redirect", login)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if !safeMethod(r.Method) {
		c.renderError(w, r, nil, http.StatusUnauthorized, "Your session has ended; sign in again.")
		return
	}
	http.Redirect(w, r, login, http.StatusSeeOther)
}

// safeNext is where to go after the login: a console page, never another
// site.
func (c *Console) safeNext(next string) string {
	if strings.HasPrefix(next, c.cookiePath()) && !strings.HasPrefix(next, "//") && !strings.Contains(next, "\\") {
		return next
	}
	return c.url("/", nil)
}

type loginData struct {
	Next  string
	CSRF  string
	Error string
}

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if c.session(r) != nil {
		http.Redirect(w, r, c.safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	c.renderLogin(w, r, http.StatusOK, "")
}

func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	tok := randomID()
	c.setCookie(w, r, loginCookie, tok, 3600)
	c.render(w, r, nil, status, "login", "Sign in", loginData{Next: c.safeNext(r.FormValue("next")), CSRF: tok, Error: msg})
}

// Failed logins: a burst of loginBurst per client address, then one per
// loginEvery.
const (
	loginBurst = 10
	loginEvery = 6 * time.Second
)

// login takes the admin token once, for a session id in a cookie.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if err := c.origin.Check(r); err != nil {
		c.renderError(w, r, nil, http.StatusForbidden, "This request came from another site, so it was refused.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	ck, err := r.Cookie(loginCookie)
	if err != nil || !equal(ck.Value, r.PostFormValue(csrfField)) {
		c.renderLogin(w, r, http.StatusForbidden, "The sign-in form had expired; try again.")
		return
	}
	client := clientAddr(r)
	if !c.logins.allow(client) {
		c.log.Warn("console login refused: too many failed attempts", "client", client)
		w.Header().Set("Retry-After", "60")
		c.renderLogin(w, r, http.StatusTooManyRequests, "Too many failed sign-ins from your address; wait a minute.")
		return
	}
	role := c.cfg.API.Authenticate(strings.TrimSpace(r.PostFormValue("token")))
	if role == admin.RoleNone {
		c.logins.fail(client)
		c.log.Warn("console login failed", "client", client)
		c.renderLogin(w, r, http.StatusUnauthorized, "That token is not valid.")
		return
	}
	c.setCookie(w, r, loginCookie, "", -1)
	c.setCookie(w, r, sessionCookie, c.sessions.create(role), 0)
	c.log.Info("console login", "client", client, "role", role.String())
	http.Redirect(w, r, c.safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, _ *session) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.sessions.end(ck.Value)
	}
	c.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, c.url("/login", nil), http.StatusSeeOther)
}

// csrfOK checks a state-changing request: it must come from this origin
// (Sec-Fetch-Site, else Origin) and carry the session's token in the form
// or a header. If not it has answered 403.
func (c *Console) csrfOK(w http.ResponseWriter, r *http.Request, s *session) bool {
	if err := c.origin.Check(r); err != nil {
		c.renderError(w, r, s, http.StatusForbidden, "This request came from another site, so it was refused.")
		return false
	}
	tok := r.Header.Get(csrfHeader)
	if tok == "" {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		tok = r.PostFormValue(csrfField)
	}
	if !equal(tok, s.csrf) {
		c.renderError(w, r, s, http.StatusForbidden, "The form had expired; reload the page and try again.")
		return false
	}
	return true
}

// equal compares secrets in constant time.
func equal(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limiter is a token bucket per key, spent by failures only.
type limiter struct {
	burst int
	every time.Duration
	now   func() time.Time

	mu sync.Mutex
	m  map[string]bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(burst int, every time.Duration, now func() time.Time) *limiter {
	return &limiter{burst: burst, every: every, now: now, m: map[string]bucket{}}
}

func (l *limiter) refill(key string) bucket {
	now := l.now()
	b, ok := l.m[key]
	if !ok {
		return bucket{tokens: float64(l.burst), at: now}
	}
	b.tokens = min(float64(l.burst), b.tokens+float64(now.Sub(b.at))/float64(l.every))
	b.at = now
	return b
}

func (l *limiter) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refill(key).tokens >= 1
}

func (l *limiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	b.tokens = max(b.tokens-1, 0)
	l.m[key] = b
	if len(l.m) > maxSessions { // forget full buckets, which are the default
		for k := range l.m {
			if k != key && l.refill(k).tokens >= float64(l.burst) {
				delete(l.m, k)
			}
		}
	}
}
