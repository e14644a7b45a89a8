package sim

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/engine/httpapi"
)

const (
	// SessionCookie is the dashboard session cookie set by POST /dashboard/login.
	SessionCookie = "pacspace_session"
	sessionTTL    = 24 * time.Hour
)

// validToken compares tok with Config.Token in constant time.
func (s *Sim) validToken(tok string) bool {
	if s.cfg.Token == "" {
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(sum[:], s.token[:]) == 1
}

// authorized accepts a bearer token (seed 003) or a live session cookie
// (seed 002). A request that offers a bearer token is judged by it alone.
func (s *Sim) authorized(r *http.Request) bool {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		return ok && s.validToken(tok)
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return false
	}
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	exp, ok := s.sessions[c.Value]
	if ok && !s.cfg.Now().Before(exp) {
		delete(s.sessions, c.Value)
		return false
	}
	return ok
}

// requireAuth answers 401 unless the request is authorized.
func (s *Sim) requireAuth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pacspace"`)
			httpapi.WriteError(w, http.StatusUnauthorized, "missing or invalid bearer token or session", nil)
			return
		}
		h(w, r)
	}
}

func (s *Sim) login(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Token string `json:"token"`
	}
	if !httpapi.DecodeBody(w, r, &body, maxRequestBody) {
		return
	}
	if !s.validToken(body.Token) {
		httpapi.WriteError(w, http.StatusUnauthorized, "invalid token", map[string]string{"token": "does not match"})
		return
	}
	id := newID("") + newID("") // 192 random bits
	now := s.cfg.Now()
	s.sessMu.Lock()
	for sid, exp := range s.sessions {
		if !now.Before(exp) {
			delete(s.sessions, sid)
		}
	}
	s.sessions[id] = now.Add(sessionTTL)
	s.sessMu.Unlock()
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: id, Path: cookiePath(r), MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	httpapi.WriteMessage(w, http.StatusOK, nil, "Logged in.")
}

func (s *Sim) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		s.sessMu.Lock()
		delete(s.sessions, c.Value)
		s.sessMu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: cookiePath(r), MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	httpapi.WriteMessage(w, http.StatusOK, nil, "Logged out.")
}

// cookiePath is the dashboard's path as the client sees it: /dashboard, or
// /app/dashboard under the dialect's prefix.
func cookiePath(r *http.Request) string {
	p, _, _ := strings.Cut(r.RequestURI, "?")
	if i := strings.LastIndex(p, "/dashboard/"); i >= 0 {
		return p[:i] + "/dashboard"
	}
	return "/dashboard"
}
