package admin

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/arbiter-dev/arbiter/engine/httpapi"
)

func (a *API) pluginRoutes() {
	a.handle("GET /v1/plugins/{name}/store", a.pluginStore)
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
	if !slices.Contains(a.cfg.Plugins, name) {
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
