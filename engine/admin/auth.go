package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/arbiter-dev/arbiter/engine/httpapi"
)

// Role is what a token may do.
type Role int

const (
	// RoleNone is no valid token.
	RoleNone Role = iota
	// RoleReadOnly may read everything and change nothing.
	RoleReadOnly
	// RoleAdmin may do everything.
	RoleAdmin
)

func (r Role) String() string {
	switch r {
	case RoleReadOnly:
		return "read-only"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

// CanWrite reports whether the role may change state.
func (r Role) CanWrite() bool { return r == RoleAdmin }

// tokenSet holds the sha256 of each token, so that every comparison is
// constant-time and of equal length whatever the token's.
type tokenSet [][32]byte

func newTokenSet(tokens []string) tokenSet {
	s := make(tokenSet, len(tokens))
	for i, t := range tokens {
		s[i] = sha256.Sum256([]byte(t))
	}
	return s
}

// has compares sum with every token, without stopping at a match.
func (s tokenSet) has(sum [32]byte) bool {
	match := 0
	for _, t := range s {
		match |= subtle.ConstantTimeCompare(sum[:], t[:])
	}
	return match == 1
}

// Authenticate returns the role of token: RoleNone when it is not one of
// the configured tokens.
func (a *API) Authenticate(token string) Role {
	if token == "" {
		return RoleNone
	}
	sum := sha256.Sum256([]byte(token))
	admin, readOnly := a.tokens.has(sum), a.readOnly.has(sum) // both compared, always
	switch {
	case admin:
		return RoleAdmin
	case readOnly:
		return RoleReadOnly
	}
	return RoleNone
}

// bearer returns the request's bearer token, or "".
func bearer(r *http.Request) string {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return tok
}

// ServeAs serves r for a caller already authenticated with role, such as
// the console's session: the role's limits apply as to a bearer token.
func (a *API) ServeAs(role Role, w http.ResponseWriter, r *http.Request) {
	switch {
	case role == RoleNone:
		w.Header().Set("WWW-Authenticate", `Bearer realm="arbiter"`)
		httpapi.WriteError(w, http.StatusUnauthorized, "missing or invalid bearer token", nil)
	case !role.CanWrite() && !readOnlyAllowed(r):
		httpapi.WriteError(w, http.StatusForbidden, "this token is read-only: "+r.Method+" "+r.URL.Path+" is not allowed", nil)
	default:
		a.mux.ServeHTTP(w, r)
	}
}

// readOnlyAllowed reports whether a read-only token may make r: any read,
// and the dry run of a policy change, which is a POST only for its body.
// Profiles are not reads of Arbiter's records but of its memory.
func readOnlyAllowed(r *http.Request) bool {
	if strings.HasPrefix(r.URL.Path, "/debug/") {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return true
	case http.MethodPost:
		return r.URL.Path == "/v1/replay"
	}
	return false
}
