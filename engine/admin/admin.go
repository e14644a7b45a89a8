// Package admin is the operator API under /v1, behind bearer-token
// authentication. Every response uses one envelope: {"success":true,
// "data":…} or {"success":false,"error":{"message":…,"fields":…}}.
package admin

import (
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/arbiter-dev/arbiter/engine/config"
	"github.com/arbiter-dev/arbiter/engine/httpapi"
	"github.com/arbiter-dev/arbiter/engine/policy"
	"github.com/arbiter-dev/arbiter/engine/rates"
	"github.com/arbiter-dev/arbiter/engine/receiver"
	"github.com/arbiter-dev/arbiter/engine/store"
	"github.com/arbiter-dev/arbiter/engine/worker"
)

// Throttles reports throttle state; *worker.Worker is one.
type Throttles interface {
	Throttles() []store.Throttle
}

// Holds reports the events held for their predecessor; *worker.Worker is
// one.
type Holds interface {
	Holds() []worker.Hold
}

// Config wires the admin API to the running agent.
type Config struct {
	Tokens []string // bearer tokens; requests without one of them get 401
	// ReadOnlyTokens may make reads only; anything else gets 403.
	ReadOnlyTokens []string
	Store          *store.Store
	Policies       *policy.Engine
	Throttles      Throttles
	Logger         hclog.Logger
	// NotifyDispatch wakes the dispatcher when a delivery is retried, so it
	// goes out now rather than at the next poll; may be nil.
	NotifyDispatch func()
	// Endpoints is the receiver's view of the webhook endpoints, reloaded
	// after each change so that it applies at once.
	Endpoints *receiver.Endpoints
	// Counters counts the requests each endpoint refused.
	Counters *store.EndpointCounters
	// Webhooks serves POST /webhooks/{endpoint}; test events go through it
	// in process.
	Webhooks http.Handler
	// Configured are the endpoints declared in the config file, which
	// every start provisions again.
	Configured map[string]config.Endpoint
	// Holds reports the events waiting for their predecessor proof.
	Holds Holds
	// Plugins are the configured plugin instances: GET /v1/plugins shows
	// them with their grants, and GET /v1/plugins/{name}/store reads their
	// stores.
	Plugins []config.Plugin
	// PluginHost runs them; nil serves the configuration alone.
	PluginHost PluginHost
	// Rates keeps the last hour of the counters OverviewCounters names;
	// Inbox reports the inbox's depth. GET /v1/overview shows both.
	Rates *rates.Sampler
	Inbox Inbox
}

// API serves the admin routes.
type API struct {
	cfg      Config
	tokens   tokenSet
	readOnly tokenSet
	log      hclog.Logger
	mux      *http.ServeMux
	patterns []string

	endpointMu sync.Mutex // serializes read-modify-write changes of endpoints
}

// New returns the admin API handler.
func New(cfg Config) *API {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	a := &API{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(),
		tokens: newTokenSet(cfg.Tokens), readOnly: newTokenSet(cfg.ReadOnlyTokens)}
	a.handle("GET /v1/policies", a.policies)
	a.handle("GET /v1/throttle", a.throttle)
	a.webhookRoutes()
	a.chainRoutes()
	a.deliveryRoutes()
	a.ledgerRoutes()
	a.eventRoutes()
	a.pluginRoutes()
	a.overviewRoutes()
	a.mux.Handle("POST "+policy.ReloadPath, cfg.Policies.ReloadHandler())
	// Profiling, behind the same token: what an operator needs to see where
	// time goes in production.
	a.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	a.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	a.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	a.mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteError(w, http.StatusNotFound, "no such route: "+r.Method+" "+r.URL.Path, nil)
	})
	return a
}

// handle registers a /v1 route and records its pattern for Patterns.
func (a *API) handle(pattern string, h http.HandlerFunc) {
	a.patterns = append(a.patterns, pattern)
	a.mux.HandleFunc(pattern, h)
}

// Patterns lists the "METHOD /v1/path/{param}" patterns served, in
// registration order: the spec test compares them with docs/openapi.yaml.
func (a *API) Patterns() []string { return append([]string(nil), a.patterns...) }

// Routes lists the path patterns the API serves, for mounting.
func Routes() []string { return []string{"/v1/", policy.ReloadPath, "/debug/pprof/"} }

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.ServeAs(a.Authenticate(bearer(r)), w, r)
}

func (a *API) policies(w http.ResponseWriter, _ *http.Request) {
	httpapi.WriteData(w, http.StatusOK, struct {
		policy.Status
		TestResults []policy.TestResult `json:"testResults"` // of the active set, each test
	}{a.cfg.Policies.Status(), a.cfg.Policies.Set().Tests().Results})
}

type throttleView struct {
	Scope  string     `json:"scope"`
	Active bool       `json:"active"`
	Since  *time.Time `json:"since"`
	Reason string     `json:"reason,omitempty"`
}

func (a *API) throttle(w http.ResponseWriter, _ *http.Request) {
	ths := a.cfg.Throttles.Throttles()
	out := struct {
		Active bool           `json:"active"` // any scope throttled
		Scopes []throttleView `json:"scopes"`
	}{Scopes: []throttleView{}}
	for _, t := range ths {
		v := throttleView{Scope: t.Scope, Active: t.Active, Reason: t.Reason}
		if t.Active {
			since := t.Since
			v.Since = &since
			out.Active = true
		}
		out.Scopes = append(out.Scopes, v)
	}
	httpapi.WriteData(w, http.StatusOK, out)
}

// maxRequestBody bounds admin request bodies; bulk imports come in pages
// of at most this size.
const maxRequestBody = 8 << 20
