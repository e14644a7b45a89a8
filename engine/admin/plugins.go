package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/config"
	"github.com/arbiter-dev/arbiter/engine/httpapi"
	"github.com/arbiter-dev/arbiter/engine/wasmhost"
)

// PluginHost is the running plugin host, which loads in the background.
type PluginHost interface {
	Status() string // loading, ready or failed
	Describe(plugin string) (wasmhost.Info, error)
	Stats(plugin string) (wasmhost.Stats, bool)
	Invoke(ctx context.Context, plugin string, req wasmhost.Request) (wasmhost.Result, error)
}

func (a *API) pluginRoutes() {
	a.handle("GET /v1/plugins", a.listPlugins)
	a.handle("POST /v1/plugins/{name}/test", a.testPlugin)
	a.handle("GET /v1/plugins/{name}/store", a.pluginStore)
}

// pluginView is a plugin instance: what it is, what it may reach, and how
// its calls and deliveries went. Secrets are shown by name only.
type pluginView struct {
	Name       string    `json:"name"`
	Path       string    `json:"path"`
	Status     string    `json:"status"` // loading, ready or failed
	Version    string    `json:"version"`
	Kind       string    `json:"kind"`
	ABI        int       `json:"abi"`
	AllowHosts []string  `json:"allowHosts"`
	Secrets    []string  `json:"secrets"` // names, never values
	Timeout    string    `json:"timeout"` // per call; "" for the default
	Pool       *poolView `json:"pool"`    // null until loaded
	Failed     int64     `json:"failedDeliveries"`
}

type poolView struct {
	Size           int    `json:"size"`
	InUse          int    `json:"inUse"`
	Calls          uint64 `json:"calls"`
	Failures       uint64 `json:"failures"`
	Instantiations uint64 `json:"instantiations"`
	Replaced       uint64 `json:"replaced"`
	Recycled       uint64 `json:"recycled"`
}

// plugin returns the configured instance named name.
func (a *API) plugin(name string) (config.Plugin, bool) {
	i := slices.IndexFunc(a.cfg.Plugins, func(p config.Plugin) bool { return p.Name == name })
	if i < 0 {
		return config.Plugin{}, false
	}
	return a.cfg.Plugins[i], true
}

func (a *API) listPlugins(w http.ResponseWriter, r *http.Request) {
	failed, err := a.cfg.Store.FailedDeliveries(r.Context())
	if err != nil {
		a.storeFailed(w, "counting failed deliveries", err)
		return
	}
	out := make([]pluginView, 0, len(a.cfg.Plugins))
	for _, p := range a.cfg.Plugins {
		out = append(out, a.pluginView(p, failed[p.Name]))
	}
	httpapi.WriteData(w, http.StatusOK, map[string]any{"plugins": out})
}

func (a *API) pluginView(p config.Plugin, failed int64) pluginView {
	v := pluginView{Name: p.Name, Path: p.Path, Status: "loading", AllowHosts: slices.Clone(p.AllowHosts),
		Secrets: []string{}, Failed: failed}
	if v.AllowHosts == nil {
		v.AllowHosts = []string{}
	}
	for name := range p.Secrets {
		v.Secrets = append(v.Secrets, name)
	}
	sort.Strings(v.Secrets)
	if p.Timeout > 0 {
		v.Timeout = p.Timeout.String()
	}
	h := a.cfg.PluginHost
	if h == nil {
		return v
	}
	v.Status = h.Status()
	if info, err := h.Describe(p.Name); err == nil {
		v.Version, v.Kind, v.ABI = info.Version, string(info.Kind), info.ABI
	}
	if st, ok := h.Stats(p.Name); ok {
		v.Pool = &poolView{Size: st.PoolSize, InUse: st.InUse, Calls: st.Calls, Failures: st.Failures,
			Instantiations: st.Instantiations, Replaced: st.Replaced, Recycled: st.Recycled}
	}
	return v
}

// pluginTestResult is a test delivery's outcome.
type pluginTestResult struct {
	Status     string  `json:"status"` // ok, retry, fail, or error when the call itself failed
	Message    string  `json:"message"`
	RetryAfter string  `json:"retryAfter,omitempty"`
	DurationMs float64 `json:"durationMs"`
	DeliveryID string  `json:"deliveryId"`
}

// testPlugin sends the plugin a test action at once, outside the outbox:
// nothing is recorded as a delivery, and the answer is the plugin's own.
func (a *API) testPlugin(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, ok := a.plugin(name); !ok {
		httpapi.WriteError(w, http.StatusNotFound, "no plugin instance "+strconv.Quote(name)+" is configured", nil)
		return
	}
	if a.cfg.PluginHost == nil || a.cfg.PluginHost.Status() != "ready" {
		httpapi.WriteError(w, http.StatusServiceUnavailable, "the plugins are not loaded yet; try again shortly", nil)
		return
	}
	now := time.Now()
	id := randomToken("test_", 12)
	action, _ := json.Marshal(engine.Action{Type: "notify", Reason: "test", Severity: "info", Targets: []string{name}})
	req := wasmhost.Request{Action: action, DeliveryID: id, IdempotencyKey: id, Attempt: 1,
		Event: wasmhost.EventSummary{ID: "evt_" + id, Type: "test", ReceivedAt: now}}
	res, err := a.cfg.PluginHost.Invoke(r.Context(), name, req)
	out := pluginTestResult{Status: string(res.Status), Message: res.Message, DeliveryID: id,
		DurationMs: float64(time.Since(now).Microseconds()) / 1000}
	if res.RetryAfter > 0 {
		out.RetryAfter = res.RetryAfter.String()
	}
	if err != nil {
		out.Status, out.Message = "error", err.Error()
	}
	a.log.Info("plugin test delivery sent", "plugin", name, "status", out.Status)
	httpapi.WriteData(w, http.StatusOK, out)
}

// kvView is one key of a plugin's store: the value as JSON when it is JSON
// (the audit log's entries are), else as a string.
type kvView struct {
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	UpdatedAt time.Time       `json:"updatedAt"`
}

// pluginStore pages through a plugin's key-value store, read only: how an
// operator reads what a store plugin such as auditlog keeps.
func (a *API) pluginStore(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, ok := a.plugin(name); !ok {
		httpapi.WriteError(w, http.StatusNotFound, "no plugin instance "+name+" is configured", nil)
		return
	}
	p := httpapi.NewParams(r)
	prefix := p.Str("prefix")
	desc := p.OneOf("sortOrder", "asc", "asc", "desc") == "desc"
	page := p.Page(httpapi.DefaultLimit)
	if !p.OK(w) {
		return
	}
	entries, total, err := a.cfg.Store.PluginKV().List(r.Context(), name, prefix, desc, page.Limit, page.Offset)
	if err != nil {
		a.storeFailed(w, "reading the plugin store", err)
		return
	}
	out := make([]kvView, len(entries))
	for i, e := range entries {
		v := e.Value
		if !json.Valid(v) {
			v, _ = json.Marshal(string(v))
		}
		out[i] = kvView{Key: e.Key, Value: v, UpdatedAt: e.UpdatedAt}
	}
	httpapi.WriteList(w, "entries", out, page, total)
}
