package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/httpapi"
	"github.com/arbiter-dev/arbiter/engine/store"
)

// Inbox reports the inbox's depth; *inbox.Inbox is one.
type Inbox interface {
	Stats(ctx context.Context) (engine.InboxStats, error)
	Backlog() uint64 // acknowledged events not yet loaded from the journal
}

// The counters the overview reads from the rates sampler.
const (
	metricReceived     = "arbiter_webhooks_received_total"
	metricAcknowledged = "arbiter_webhooks_acknowledged_total"
	metricDuplicates   = "arbiter_webhooks_duplicates_total"
	metricRejected     = "arbiter_webhooks_rejected_total"
	metricProcessed    = "arbiter_events_processed_total"
)

// OverviewCounters are the counters a rates sampler must keep for
// GET /v1/overview.
func OverviewCounters() []string {
	return []string{metricReceived, metricAcknowledged, metricDuplicates, metricRejected, metricProcessed}
}

// overviewMinutes is how many minutes of decisions the overview charts.
const overviewMinutes = 60

type overview struct {
	Since              time.Time      `json:"since"` // the window's start: an hour ago, or when sampling began
	At                 time.Time      `json:"at"`
	Webhooks           webhookCounts  `json:"webhooks"`
	Decisions          int64          `json:"decisions"`          // in the window
	DecisionsPerMinute []float64      `json:"decisionsPerMinute"` // the last 60 minutes, oldest first
	Inbox              inboxView      `json:"inbox"`
	DeadLetters        int64          `json:"deadLetters"` // failed deliveries, all time
	Plugins            []pluginHealth `json:"plugins"`
	PluginsStatus      string         `json:"pluginsStatus"` // loading, ready or failed
	Policy             overviewPolicy `json:"policy"`
	LastEvent          *eventView     `json:"lastEvent"` // null for an empty inbox
}

type webhookCounts struct {
	Received     int64            `json:"received"`
	Acknowledged int64            `json:"acknowledged"`
	Duplicates   int64            `json:"duplicates"`
	Rejected     int64            `json:"rejected"`
	ByReason     map[string]int64 `json:"rejectedByReason"`
}

type inboxView struct {
	Events         int64  `json:"events"`
	Pending        int64  `json:"pending"`        // stored, not yet decided
	JournalBacklog uint64 `json:"journalBacklog"` // acknowledged, not yet stored
}

type pluginHealth struct {
	Name             string `json:"name"`
	Calls            uint64 `json:"calls"`
	Failures         uint64 `json:"failures"`
	FailedDeliveries int64  `json:"failedDeliveries"`
}

type overviewPolicy struct {
	Revision  string    `json:"revision"`
	LoadedAt  time.Time `json:"loadedAt"`
	LastError string    `json:"lastError,omitempty"`
}

func (a *API) overviewRoutes() {
	a.handle("GET /v1/overview", a.overview)
}

// overview is what an operator looks at first: the last hour's webhooks
// and decisions, the backlogs, dead letters, plugins and policies.
func (a *API) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	out := overview{At: time.Now(), Webhooks: webhookCounts{ByReason: map[string]int64{}},
		DecisionsPerMinute: make([]float64, overviewMinutes), Plugins: []pluginHealth{}, PluginsStatus: "loading"}
	out.Since = out.At
	if a.cfg.Rates != nil {
		win, err := a.cfg.Rates.Now()
		if err != nil {
			httpapi.WriteError(w, http.StatusInternalServerError, "reading the metrics: "+err.Error(), nil)
			return
		}
		out.Since, out.At = win.Since, win.At
		out.Webhooks.Received = int64(win.Delta(metricReceived))
		out.Webhooks.Acknowledged = int64(win.Delta(metricAcknowledged))
		out.Webhooks.Duplicates = int64(win.Delta(metricDuplicates))
		for reason, n := range win.DeltaBy(metricRejected, "reason") {
			out.Webhooks.ByReason[reason] = int64(n)
			out.Webhooks.Rejected += int64(n)
		}
		decided := []string{string(engine.StatusProcessed), string(engine.StatusFailed)}
		out.DecisionsPerMinute = win.PerMinute(overviewMinutes, metricProcessed, "status", decided...)
		byStatus := win.DeltaBy(metricProcessed, "status")
		for _, s := range decided {
			out.Decisions += int64(byStatus[s])
		}
	}
	if a.cfg.Inbox != nil {
		st, err := a.cfg.Inbox.Stats(ctx)
		if err != nil {
			a.storeFailed(w, "reading the inbox", err)
			return
		}
		out.Inbox = inboxView{Events: st.Events, Pending: st.Pending, JournalBacklog: a.cfg.Inbox.Backlog()}
	}
	failed, err := a.cfg.Store.FailedDeliveries(ctx)
	if err != nil {
		a.storeFailed(w, "counting failed deliveries", err)
		return
	}
	for _, n := range failed {
		out.DeadLetters += n
	}
	if a.cfg.PluginHost != nil {
		out.PluginsStatus = a.cfg.PluginHost.Status()
	}
	for _, p := range a.cfg.Plugins {
		v := a.pluginView(p, failed[p.Name])
		h := pluginHealth{Name: p.Name, FailedDeliveries: v.Failed}
		if v.Pool != nil {
			h.Calls, h.Failures = v.Pool.Calls, v.Pool.Failures
		}
		out.Plugins = append(out.Plugins, h)
	}
	st := a.cfg.Policies.Status()
	out.Policy = overviewPolicy{Revision: st.Revision, LoadedAt: st.LoadedAt, LastError: st.LastError}
	evs, _, err := a.cfg.Store.Events(ctx, store.EventQuery{Desc: true, Limit: 1})
	if err != nil {
		a.storeFailed(w, "reading the last event", err)
		return
	}
	if len(evs) == 1 {
		v := newEventView(evs[0])
		out.LastEvent = &v
	}
	httpapi.WriteData(w, http.StatusOK, out)
}
