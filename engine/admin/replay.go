package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/httpapi"
	"github.com/arbiter-dev/arbiter/engine/policy"
	"github.com/arbiter-dev/arbiter/engine/store"
)

// Replay is a dry run of a policy change over history: each selected
// event's stored input document, with the settlement state as it was then,
// is decided again by the active set or by a candidate directory, and the
// actions are compared with those decided at the time. Nothing is executed
// or written.

const (
	defaultReplayLimit = 1000
	maxReplayLimit     = 10_000
	// replayPage is how many decisions are read at a time, so that no read
	// transaction stays open while a long replay evaluates.
	replayPage = 500
)

// replayRequest selects the events to replay; every field is optional.
type replayRequest struct {
	EventIDs  []string `json:"eventIds"`
	Since     string   `json:"since"` // received at or after; RFC 3339 or YYYY-MM-DD
	Until     string   `json:"until"` // received before
	Endpoint  string   `json:"endpoint"`
	Limit     *int     `json:"limit"`
	PolicyDir string   `json:"policyDir"` // a directory on the agent's host; default: the active set
}

// query validates the request; on failure it has answered 400.
func (req replayRequest) query(w http.ResponseWriter) (store.EventQuery, bool) {
	// The body's times follow the query string's rules, and its errors
	// collect the same way.
	p := httpapi.ParamsOf(url.Values{"since": {req.Since}, "until": {req.Until}})
	since, _ := p.Timestamp("since")
	until, _ := p.Timestamp("until")
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		p.Fail("until", "must be after since")
	}
	q := store.EventQuery{EventIDs: req.EventIDs, Endpoint: req.Endpoint, From: since, To: until, Limit: defaultReplayLimit}
	if req.Limit != nil {
		q.Limit = *req.Limit
		if q.Limit < 1 || q.Limit > maxReplayLimit {
			p.Fail("limit", fmt.Sprintf("must be an integer from 1 to %d", maxReplayLimit))
		}
	}
	if len(req.EventIDs) > maxReplayLimit {
		p.Fail("eventIds", fmt.Sprintf("at most %d ids", maxReplayLimit))
	}
	if slices.Contains(req.EventIDs, "") {
		p.Fail("eventIds", "must not contain an empty id")
	}
	if req.PolicyDir != "" && strings.TrimSpace(req.PolicyDir) == "" {
		p.Fail("policyDir", "must not be blank")
	}
	if len(p.Errs()) > 0 {
		httpapi.WriteError(w, http.StatusBadRequest, "invalid request body", p.Errs())
		return q, false
	}
	return q, true
}

// replayChange is one event whose actions would change.
type replayChange struct {
	ID             string            `json:"id"`
	Seq            int64             `json:"seq"`
	Added          []json.RawMessage `json:"added"`
	Removed        []json.RawMessage `json:"removed"`
	UnchangedCount int               `json:"unchangedCount"`
	Error          string            `json:"error,omitempty"` // deciding it again failed; nothing compared
}

type replaySummary struct {
	Evaluated       int            `json:"evaluated"`
	Changed         int            `json:"changed"`
	Unchanged       int            `json:"unchanged"`
	Failed          int            `json:"failed"`
	AddedByReason   map[string]int `json:"addedByReason"`
	RemovedByReason map[string]int `json:"removedByReason"`
	RevisionFrom    []string       `json:"revisionFrom"` // the revisions the events were decided by, in inbox order
	RevisionTo      string         `json:"revisionTo"`
	LimitReached    bool           `json:"limitReached"` // more events match than were replayed
}

type replayResult struct {
	Events  []replayChange `json:"events"`
	Summary replaySummary  `json:"summary"`
}

func (a *API) replay(w http.ResponseWriter, r *http.Request) {
	var req replayRequest
	if !httpapi.DecodeBody(w, r, &req, maxRequestBody) {
		return
	}
	q, ok := req.query(w)
	if !ok {
		return
	}
	ctx := r.Context()
	if len(q.EventIDs) > 0 && !a.eventsExist(w, r, q) {
		return
	}
	set := a.cfg.Policies.Set()
	if req.PolicyDir != "" {
		var err error
		if set, err = a.cfg.Policies.LoadCandidate(ctx, req.PolicyDir); err != nil {
			if len(policy.ProblemsOf(err)) > 0 {
				httpapi.WriteError(w, http.StatusUnprocessableEntity, "the candidate policy set was rejected",
					map[string]string{"policyDir": err.Error()})
			} else {
				httpapi.WriteError(w, http.StatusBadRequest, "the candidate policy set cannot be read",
					map[string]string{"policyDir": err.Error()})
			}
			return
		}
	}

	res := replayResult{Events: []replayChange{}, Summary: replaySummary{AddedByReason: map[string]int{},
		RemovedByReason: map[string]int{}, RevisionFrom: []string{}, RevisionTo: set.Revision()}}
	limit := q.Limit
	for res.Summary.Evaluated < limit {
		q.Limit = min(replayPage, limit-res.Summary.Evaluated)
		n := 0
		err := a.cfg.Store.EachDecision(ctx, q, func(d store.DecisionRecord) error {
			n++
			q.AfterSeq = d.EventSeq
			now, err := set.DecideStored(ctx, d.Input)
			res.add(d, now, err)
			return nil
		})
		if err != nil {
			a.storeFailed(w, "reading decisions", err)
			return
		}
		if n < q.Limit {
			break
		}
	}
	if res.Summary.Evaluated == limit {
		q.Limit = 1
		err := a.cfg.Store.EachDecision(ctx, q, func(store.DecisionRecord) error {
			res.Summary.LimitReached = true
			return nil
		})
		if err != nil {
			a.storeFailed(w, "reading decisions", err)
			return
		}
	}
	httpapi.WriteData(w, http.StatusOK, res)
}

// eventsExist answers 404 unless every id in q names an event.
func (a *API) eventsExist(w http.ResponseWriter, r *http.Request, q store.EventQuery) bool {
	evs, _, err := a.cfg.Store.Events(r.Context(), store.EventQuery{EventIDs: q.EventIDs, Endpoint: q.Endpoint})
	if err != nil {
		a.storeFailed(w, "reading events", err)
		return false
	}
	found := make(map[string]bool, len(evs))
	for _, ev := range evs {
		found[ev.EventID] = true
	}
	var missing []string
	for _, id := range q.EventIDs {
		if !found[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		httpapi.WriteError(w, http.StatusNotFound, fmt.Sprintf("no event with %d of the ids", len(missing)),
			map[string]string{"eventIds": "no such event: " + strings.Join(missing, ", ")})
		return false
	}
	return true
}

// add records the outcome of deciding d's input again.
func (res *replayResult) add(d store.DecisionRecord, now policy.Decision, err error) {
	s := &res.Summary
	s.Evaluated++
	if !slices.Contains(s.RevisionFrom, d.Revision) {
		s.RevisionFrom = append(s.RevisionFrom, d.Revision)
	}
	if err != nil {
		s.Failed++
		res.Events = append(res.Events, replayChange{ID: d.EventID, Seq: d.EventSeq,
			Added: []json.RawMessage{}, Removed: []json.RawMessage{}, Error: err.Error()})
		return
	}
	var was []json.RawMessage
	if err := json.Unmarshal(d.Actions, &was); err != nil {
		was = nil // stored by the worker from valid JSON; nothing to compare if not
	}
	is := make([]json.RawMessage, len(now.Actions))
	for i, act := range now.Actions {
		is[i] = act.Raw
	}
	c := replayChange{ID: d.EventID, Seq: d.EventSeq}
	c.Added, c.Removed, c.UnchangedCount = diffActions(was, is)
	if len(c.Added)+len(c.Removed) == 0 {
		s.Unchanged++
		return
	}
	s.Changed++
	for _, act := range c.Added {
		s.AddedByReason[reasonOf(act)]++
	}
	for _, act := range c.Removed {
		s.RemovedByReason[reasonOf(act)]++
	}
	res.Events = append(res.Events, c)
}

// diffActions compares the actions decided then with those decided now, as
// multisets. Two actions are the same when their JSON is, apart from the
// order of their targets; one that differs in any other detail is removed
// and added.
func diffActions(was, now []json.RawMessage) (added, removed []json.RawMessage, unchanged int) {
	left := make(map[string]int, len(was))
	for _, act := range was {
		left[actionKey(act)]++
	}
	added, removed = []json.RawMessage{}, []json.RawMessage{}
	for _, act := range now {
		k := actionKey(act)
		if left[k] > 0 {
			left[k]--
			unchanged++
			continue
		}
		added = append(added, act)
	}
	for _, act := range was {
		if k := actionKey(act); left[k] > 0 {
			left[k]--
			removed = append(removed, act)
		}
	}
	return added, removed, unchanged
}

// actionKey is an action's JSON with object keys sorted and its targets in
// order; numbers are kept as written.
func actionKey(act json.RawMessage) string {
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(act))
	dec.UseNumber()
	if dec.Decode(&obj) != nil {
		return string(act)
	}
	if ts, ok := obj["targets"].([]any); ok {
		slices.SortFunc(ts, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return string(act)
	}
	return string(b)
}

func reasonOf(act json.RawMessage) string {
	var a engine.Action
	if err := json.Unmarshal(act, &a); err != nil || a.Reason == "" {
		return "unknown"
	}
	return a.Reason
}
