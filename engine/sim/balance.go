package sim

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/arbiter-dev/arbiter/engine/httpapi"
)

// Dialect is one of the two ways PacSpace's dashboard API is documented to
// speak.
type Dialect string

// The dialects.
const (
	// DialectApp is seed 002's (app.pacspace.io): {"success":true,"data":…}
	// envelopes, a paginated webhook list, enabled and lastTriggered, and a
	// session cookie; also the delivery history.
	DialectApp Dialect = "app"
	// DialectBalanceAPI is seed 003's (balance-api.pacspace.io):
	// {"statusCode":200,"data":…} envelopes, the webhook list as a plain
	// array, active and lastTriggeredAt, a bearer JWT, and sha256=
	// signatures by default.
	DialectBalanceAPI Dialect = "balance-api"
)

// Dialects lists the dialects, the default first.
var Dialects = []Dialect{DialectApp, DialectBalanceAPI}

// ParseDialect returns the dialect named s.
func ParseDialect(s string) (Dialect, error) {
	for _, d := range Dialects {
		if string(d) == s {
			return d, nil
		}
	}
	return "", errors.New(`sim: dialect ` + s + `: want "app" (seed 002) or "balance-api" (seed 003)`)
}

// JWT claims of the tokens IssueJWT makes.
const (
	jwtIssuer = "arbiter-sim"
	jwtTTL    = 24 * time.Hour
)

// IssueJWT returns a bearer JWT for the balance-api dialect: HS256, signed
// with Config.Token, valid for 24 hours from Config.Now. The sim has no
// login route in that dialect (seed 003 documents none); whoever holds the
// token mints JWTs with it, e.g. with arbiter sim jwt.
func (s *Sim) IssueJWT() (string, error) {
	return IssueJWT(s.cfg.Token, s.cfg.Now())
}

// IssueJWT returns a bearer JWT a sim with token accepts, valid for 24
// hours from now.
func IssueJWT(token string, now time.Time) (string, error) {
	if token == "" {
		return "", errors.New("sim: jwt: no token to sign with")
	}
	t, err := jwt.NewBuilder().Issuer(jwtIssuer).Subject("dashboard").IssuedAt(now).Expiration(now.Add(jwtTTL)).Build()
	if err != nil {
		return "", err
	}
	b, err := jwt.Sign(t, jwt.WithKey(jwa.HS256(), []byte(token)))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// validJWT reports whether tok is a JWT this sim issued and that has not
// expired.
func (s *Sim) validJWT(tok string) bool {
	if s.cfg.Token == "" {
		return false
	}
	_, err := jwt.ParseString(tok,
		jwt.WithKey(jwa.HS256(), []byte(s.cfg.Token)),
		jwt.WithValidate(true),
		jwt.WithIssuer(jwtIssuer),
		jwt.WithClock(jwt.ClockFunc(s.cfg.Now)))
	return err == nil
}

// balanceAPI serves seed 003's six routes.
func (s *Sim) balanceAPI() http.Handler {
	mux := http.NewServeMux()
	auth := func(pattern string, h http.HandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || !s.validJWT(tok) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="pacspace"`)
				balanceError(w, http.StatusUnauthorized, "Unauthorized", nil)
				return
			}
			h(w, r)
		})
	}
	auth("POST /dashboard/webhooks", s.balanceCreate)
	auth("GET /dashboard/webhooks", s.balanceList)
	auth("GET /dashboard/webhooks/{id}", s.balanceGet)
	auth("POST /dashboard/webhooks/{id}/toggle", s.balanceToggle)
	auth("POST /dashboard/webhooks/{id}/test", s.balanceTest)
	auth("DELETE /dashboard/webhooks/{id}", s.balanceDelete)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		balanceError(w, http.StatusNotFound, "Cannot "+r.Method+" "+r.URL.Path, nil)
	})
	return mux
}

// balanceBody is seed 003's envelope: the status again, and data or a
// message.
type balanceBody struct {
	StatusCode int    `json:"statusCode"`
	Data       any    `json:"data,omitempty"`
	Message    any    `json:"message,omitempty"`
	Error      string `json:"error,omitempty"`
	// Fields names each bad input, as the other dialect does.
	Fields map[string]string `json:"fields,omitempty"`
}

func writeBalance(w http.ResponseWriter, b balanceBody) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(b.StatusCode)
	json.NewEncoder(w).Encode(b)
}

// balanceError answers as seed 003's server would: its envelope suggests
// NestJS, whose errors are {"statusCode","message","error"}; seed 003 shows
// none.
func balanceError(w http.ResponseWriter, status int, msg string, fields map[string]string) {
	writeBalance(w, balanceBody{StatusCode: status, Message: msg, Error: http.StatusText(status), Fields: fields})
}

// balanceWebhook is a webhook as seed 003 shows it.
type balanceWebhook struct {
	ID              string   `json:"id"`
	URL             string   `json:"url"`
	Events          []string `json:"events"`
	Description     string   `json:"description"`
	Secret          string   `json:"secret,omitempty"` // at creation only
	Active          bool     `json:"active"`
	CreatedAt       jsTime   `json:"createdAt"`
	LastTriggeredAt *jsTime  `json:"lastTriggeredAt,omitempty"`
}

func balanceView(wh Webhook) balanceWebhook {
	v := balanceWebhook{ID: wh.ID, URL: wh.URL, Events: wh.Events, Description: wh.Description,
		Active: wh.Enabled, CreatedAt: jsTime(wh.CreatedAt)}
	if wh.LastTriggered != nil {
		t := jsTime(*wh.LastTriggered)
		v.LastTriggeredAt = &t
	}
	return v
}

// jsTime is a time as JavaScript's toISOString writes it:
// 2025-06-01T12:00:00.000Z.
type jsTime time.Time

func (t jsTime) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z") + `"`), nil
}

// balanceNotFound answers 404 for ErrNotFound and reports whether it did.
func balanceNotFound(w http.ResponseWriter, err error) bool {
	if !errors.Is(err, ErrNotFound) {
		return false
	}
	balanceError(w, http.StatusNotFound, err.Error(), nil)
	return true
}

func (s *Sim) balanceCreate(w http.ResponseWriter, r *http.Request) {
	var spec WebhookSpec
	if status, e := httpapi.ReadBody(w, r, &spec, maxRequestBody); e != nil {
		balanceError(w, status, e.Message, e.Fields)
		return
	}
	if spec.Scheme == "" {
		spec.Scheme = SchemeSHA256 // seed 003 documents only sha256= signatures
	}
	wh, secret, err := s.CreateWebhook(spec)
	if specErr, ok := errors.AsType[*SpecError](err); ok {
		balanceError(w, http.StatusBadRequest, "invalid webhook", specErr.Fields)
		return
	}
	if err != nil {
		balanceError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	v := balanceView(wh)
	v.Secret = secret
	writeBalance(w, balanceBody{StatusCode: http.StatusCreated, Data: v})
}

func (s *Sim) balanceList(w http.ResponseWriter, r *http.Request) {
	all := s.Webhooks()
	views := make([]balanceWebhook, len(all))
	for i, wh := range all {
		views[i] = balanceView(wh)
	}
	writeBalance(w, balanceBody{StatusCode: http.StatusOK, Data: views})
}

func (s *Sim) balanceGet(w http.ResponseWriter, r *http.Request) {
	wh, err := s.Webhook(r.PathValue("id"))
	if balanceNotFound(w, err) {
		return
	}
	writeBalance(w, balanceBody{StatusCode: http.StatusOK, Data: balanceView(wh)})
}

func (s *Sim) balanceToggle(w http.ResponseWriter, r *http.Request) {
	wh, err := s.toggle(r.PathValue("id"))
	if balanceNotFound(w, err) {
		return
	}
	msg := "Webhook has been disabled."
	if wh.Enabled {
		msg = "Webhook has been enabled."
	}
	writeBalance(w, balanceBody{StatusCode: http.StatusOK, Data: struct {
		ID      string `json:"id"`
		Active  bool   `json:"active"`
		Message string `json:"message"`
	}{wh.ID, wh.Enabled, msg}})
}

func (s *Sim) balanceTest(w http.ResponseWriter, r *http.Request) {
	res, err := s.SendTest(r.Context(), r.PathValue("id"))
	if balanceNotFound(w, err) {
		return
	}
	writeBalance(w, balanceBody{StatusCode: http.StatusOK, Data: res})
}

func (s *Sim) balanceDelete(w http.ResponseWriter, r *http.Request) {
	if balanceNotFound(w, s.DeleteWebhook(r.PathValue("id"))) {
		return
	}
	writeBalance(w, balanceBody{StatusCode: http.StatusOK, Message: "Webhook deleted successfully."})
}
