// Package console is the operator console that arbiter serve serves at
// /ui/: pages rendered on the server with html/template, one vendored
// script (htmx) and a few lines of our own, every asset embedded.
//
// The console is a client of the admin API, called in process with the
// role of the session's token: what the API refuses a read-only token, it
// refuses the console too, and the console only hides the buttons. A login
// takes an admin token once and gives a random session id in an HttpOnly,
// SameSite=Strict cookie; every state-changing request must come from the
// console's own origin and carry the session's CSRF token.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/arbiter-dev/arbiter/engine/admin"
)

// API is the admin API the console renders; *admin.API is one.
type API interface {
	Authenticate(token string) admin.Role
	ServeAs(role admin.Role, w http.ResponseWriter, r *http.Request)
}

var _ API = (*admin.API)(nil)

// Config wires the console.
type Config struct {
	API API
	// BasePath is the prefix a reverse proxy serves Arbiter under and
	// strips before forwarding, such as /arbiter; "" for none.
	BasePath     string
	SessionIdle  time.Duration // default 30m
	SessionMax   time.Duration // default 12h
	SecureCookie bool          // Secure cookies over plain HTTP too (a TLS-terminating proxy)
	Logger       hclog.Logger
	Now          func() time.Time
}

// Console serves /ui/.
type Console struct {
	cfg      Config
	log      hclog.Logger
	mux      *http.ServeMux
	sessions *sessions
	logins   *limiter
	origin   *http.CrossOriginProtection
	pages    map[string]*template.Template
	assets   map[string]string // asset name → its URL query with a content hash
}

//go:embed static
var staticFS embed.FS

//go:embed templates
var templateFS embed.FS

// New returns the console handler.
func New(cfg Config) (*Console, error) {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionIdle <= 0 {
		cfg.SessionIdle = 30 * time.Minute
	}
	if cfg.SessionMax <= 0 {
		cfg.SessionMax = 12 * time.Hour
	}
	c := &Console{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(),
		sessions: newSessions(cfg.SessionIdle, cfg.SessionMax, cfg.Now),
		logins:   newLimiter(loginBurst, loginEvery, cfg.Now),
		origin:   http.NewCrossOriginProtection(), assets: map[string]string{}}
	// Answered by our own handler, so that a refused request gets a page.
	c.origin.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.renderError(w, r, nil, http.StatusForbidden, "This request came from another site, so it was refused.")
	}))
	if err := c.hashAssets(); err != nil {
		return nil, err
	}
	if err := c.parseTemplates(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

// Routes lists the path patterns the console serves, for mounting.
func Routes() []string { return []string{"/ui/", "/ui"} }

func (c *Console) hashAssets() error {
	return fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		c.assets[path.Base(p)] = "?v=" + hex.EncodeToString(sum[:6])
		return nil
	})
}

// url is the absolute path of a console page under the base path, with q
// as its query when not empty.
func (c *Console) url(p string, q url.Values) string {
	u := c.cfg.BasePath + "/ui" + p
	if s := q.Encode(); s != "" {
		u += "?" + s
	}
	return u
}

func (c *Console) routes() {
	c.mux.HandleFunc("GET /ui/static/{name}", c.static)
	c.mux.HandleFunc("GET /ui/login", c.loginPage)
	c.mux.HandleFunc("POST /ui/login", c.login)
	c.mux.HandleFunc("/ui", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, c.url("/", nil), http.StatusMovedPermanently)
	})
	c.page("POST /ui/logout", c.logout)
	c.page("GET /ui/{$}", c.overview)
	c.page("GET /ui/go", c.jump)
	c.eventRoutes()
	c.deliveryRoutes()
	c.chainRoutes()
	c.policyRoutes()
	c.pluginRoutes()
	c.webhookRoutes()
	c.page("/ui/", func(w http.ResponseWriter, r *http.Request, s *session) {
		c.renderError(w, r, s, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
	})
}

// pageHandler serves a page for a signed-in session.
type pageHandler func(w http.ResponseWriter, r *http.Request, s *session)

// page registers a handler that needs a session, and for state-changing
// methods a same-origin request with the session's CSRF token.
func (c *Console) page(pattern string, h pageHandler) {
	c.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		s := c.session(r)
		if s == nil {
			c.signIn(w, r)
			return
		}
		if !safeMethod(r.Method) && !c.csrfOK(w, r, s) {
			return
		}
		h(w, r, s)
	})
}

func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// ServeHTTP serves the console with its security headers, and renders a
// panic as an error page rather than a dropped connection.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			c.log.Error("console page failed", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			c.renderError(w, r, nil, http.StatusInternalServerError, "This page failed to render; the agent's log has the details.")
		}
	}()
	c.mux.ServeHTTP(w, r)
}

func (c *Console) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	b, err := staticFS.ReadFile("static/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	switch path.Ext(name) {
	case ".js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	case ".css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case ".svg":
		w.Header().Set("Content-Type", "image/svg+xml")
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	if r.URL.RawQuery == strings.TrimPrefix(c.assets[name], "?") {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

// apiError is the admin API's refusal, shown inline.
type apiError struct {
	Status  int
	Message string
	Fields  map[string]string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %s", e.Status, e.Message) }
