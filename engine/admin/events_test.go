package admin_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/agent"
	"github.com/arbiter-dev/arbiter/engine/config"
	"github.com/arbiter-dev/arbiter/engine/pacspace"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

const eventsSecret = "whsec_events_test_0123456789"

// eventsAgent is a real agent on loopback with its database file.
type eventsAgent struct {
	base string
	db   string
}

// startAgent runs an agent with two endpoints, pacspace and other, and no
// plugins: every delivery is routed to console, which is not configured,
// so the dispatcher fails it at once and the tests see a settled status.
func startEventsAgent(t *testing.T) *eventsAgent {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Endpoints = map[string]config.Endpoint{
		"pacspace": {Secrets: []string{eventsSecret}},
		"other":    {Secrets: []string{eventsSecret}},
	}
	cfg.Admin.Tokens = []string{token}
	cfg.Plugins = []config.Plugin{}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := agent.New(ctx, cfg, agent.Options{})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return &eventsAgent{base: "http://" + a.Addr().String(), db: filepath.Join(cfg.DataDir, "arbiter.db")}
}

// post sends a signed webhook and requires a 200.
func (la *eventsAgent) post(t *testing.T, endpoint, id, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, la.base+"/webhooks/"+endpoint, strings.NewReader(body))
	require.NoError(t, pacspace.Sign(req.Header, engine.SchemeV1, eventsSecret, id, time.Now(), []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, id)
}

// eventsReply is the admin API's envelope.
type eventsReply struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Error   struct {
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

// call makes an admin request with the token; body, if not nil, is sent as
// JSON.
func (la *eventsAgent) call(t *testing.T, method, path string, body any) (int, eventsReply) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, la.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var r eventsReply
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	require.Equal(t, resp.StatusCode/100 == 2, r.Success, method, path)
	return resp.StatusCode, r
}

type listedEvent struct {
	Seq        int64     `json:"seq"`
	ID         string    `json:"id"`
	Endpoint   string    `json:"endpoint"`
	Type       string    `json:"type"`
	Status     string    `json:"status"`
	Error      string    `json:"error"`
	ReceivedAt time.Time `json:"receivedAt"`
	Revision   string    `json:"revision"`
	Actions    []struct {
		Type, Reason, Severity string
		Targets                []string
	} `json:"actions"`
}

type eventPage struct {
	Events     []listedEvent `json:"events"`
	Pagination struct {
		Page, Limit, Offset, Total, TotalPages int
	} `json:"pagination"`
}

// list gets a page of events and returns it with the events' ids in order.
func (la *eventsAgent) list(t *testing.T, path string) (eventPage, []string) {
	t.Helper()
	status, r := la.call(t, "GET", path, nil)
	require.Equal(t, 200, status, path, r.Error)
	var p eventPage
	require.NoError(t, json.Unmarshal(r.Data, &p))
	ids := make([]string, len(p.Events))
	for i, e := range p.Events {
		ids[i] = e.Endpoint + "/" + e.ID
	}
	return p, ids
}

func signedDeltaBody(customer, ref string, latencyMs int) string {
	return fmt.Sprintf(`{"event":"delta.verified","timestamp":"2026-04-10T12:00:00.000Z","data":{"receiptId":"rcpt_%s","deltaIndex":1,`+
		`"delta":{"customerId":%q,"referenceId":%q,"amount":10},"verification":{"verified":true,"discrepancies":[],"latencyMs":%d}}}`,
		ref, customer, ref, latencyMs)
}

func signedBatchBody(id string, bits int) string {
	return fmt.Sprintf(`{"event":"batch.verified","timestamp":"2026-04-10T12:00:00.000Z","data":{"batchId":%q,`+
		`"items":[{"key":"acct:1","bits":%d}],"submittedAt":"2026-04-10T11:59:58.000Z","verifiedAt":"2026-04-10T12:00:00.000Z"}}`, id, bits)
}

// seedEvents runs events through the real pipeline and waits until every
// one is decided and every delivery settled. In inbox order:
//
//	pacspace/evt_a      unmatched_delta
//	pacspace/evt_b      unmatched_delta, verification_latency (6000 ms > 5000)
//	pacspace/evt_batch1 nothing: acct:1's first write
//	pacspace/evt_batch2 discrepancy: acct:1 reported 2000 bits, 1000 local
//	pacspace/evt_test   nothing
//	pacspace/evt_bad    fails: a delta without customerId
//	other/evt_a         unmatched_delta (the same id on another endpoint)
func seedEventsPipeline(t *testing.T, la *eventsAgent) {
	t.Helper()
	la.post(t, "pacspace", "evt_a", signedDeltaBody("cus_1", "ref_1", 840))
	la.post(t, "pacspace", "evt_b", signedDeltaBody("cus_2", "ref_2", 6000))
	la.post(t, "pacspace", "evt_batch1", signedBatchBody("batch_1", 1000))
	waitEventsSettled(t, la, 3) // batch_2 must see batch_1's total
	la.post(t, "pacspace", "evt_batch2", signedBatchBody("batch_2", 2000))
	la.post(t, "pacspace", "evt_test", `{"event":"test","timestamp":"2025-06-10T15:30:00.000Z","data":{"message":"hi"}}`)
	la.post(t, "pacspace", "evt_bad", `{"event":"delta.verified","data":{"delta":{"referenceId":"ref_x"}}}`)
	la.post(t, "other", "evt_a", signedDeltaBody("cus_3", "ref_3", 100))
	waitEventsSettled(t, la, 7)
}

// waitSettled waits until n events are processed or failed and no delivery
// is pending.
func waitEventsSettled(t *testing.T, la *eventsAgent, n int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+la.db+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var done, pending int
		db.QueryRow(`SELECT COUNT(*) FROM events WHERE status IN ('processed', 'failed')`).Scan(&done)
		db.QueryRow(`SELECT COUNT(*) FROM deliveries WHERE status = 'pending'`).Scan(&pending)
		if done == n && pending == 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "not settled after 20s:", done, "of", n, "events,", pending, "deliveries pending")
	}
}

func TestEventsAPI(t *testing.T) {
	la := startEventsAgent(t)
	seedEventsPipeline(t, la)
	all, allIDs := la.list(t, "/v1/events?sortOrder=asc")
	require.Equal(t, []string{"pacspace/evt_a", "pacspace/evt_b", "pacspace/evt_batch1", "pacspace/evt_batch2",
		"pacspace/evt_test", "pacspace/evt_bad", "other/evt_a"}, allIDs)
	seq := func(i int) int64 { return all.Events[i].Seq }

	t.Run("without a token", func(t *testing.T) {
		for _, path := range []string{"/v1/events", "/v1/events/evt_a", "/v1/webhooks/pacspace/events", "/v1/replay"} {
			method := "GET"
			if path == "/v1/replay" {
				method = "POST"
			}
			req, _ := http.NewRequest(method, la.base+path, strings.NewReader(`{}`))
			req.Header.Set("Authorization", "Bearer arb_not_the_token_0123456789")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, 401, resp.StatusCode, path)
		}
	})

	t.Run("items", func(t *testing.T) {
		b := all.Events[1]
		require.Equal(t, "delta.verified", b.Type)
		require.Equal(t, "processed", b.Status)
		require.Equal(t, 64, len(b.Revision))
		require.Equal(t, 2, len(b.Actions))
		require.Equal(t, "alert", b.Actions[0].Type)
		require.Equal(t, "unmatched_delta", b.Actions[0].Reason)
		require.Equal(t, "warning", b.Actions[0].Severity)
		require.Equal(t, []string{"console"}, b.Actions[0].Targets)
		require.Equal(t, "verification_latency", b.Actions[1].Reason)
		bad := all.Events[5]
		require.Equal(t, "failed", bad.Status)
		require.Contains(t, bad.Error, "customerId")
		require.Equal(t, "", bad.Revision)
		require.Equal(t, 0, len(bad.Actions))
	})

	since := url.QueryEscape(all.Events[2].ReceivedAt.Format(time.RFC3339Nano))
	until := url.QueryEscape(all.Events[4].ReceivedAt.Format(time.RFC3339Nano))
	today := all.Events[0].ReceivedAt.UTC().Format(time.DateOnly)
	tomorrow := all.Events[0].ReceivedAt.UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	filters := []struct {
		name, query string
		want        []string
	}{
		{"newest first by default", "", []string{"other/evt_a", "pacspace/evt_bad", "pacspace/evt_test",
			"pacspace/evt_batch2", "pacspace/evt_batch1", "pacspace/evt_b", "pacspace/evt_a"}},
		{"endpoint", "endpoint=other", []string{"other/evt_a"}},
		{"type", "type=batch.verified&sortOrder=asc", []string{"pacspace/evt_batch1", "pacspace/evt_batch2"}},
		{"status", "status=failed", []string{"pacspace/evt_bad"}},
		{"has actions", "hasActions=true&sortOrder=asc", []string{"pacspace/evt_a", "pacspace/evt_b", "pacspace/evt_batch2", "other/evt_a"}},
		{"decided with none", "hasActions=false&sortOrder=asc", []string{"pacspace/evt_batch1", "pacspace/evt_test"}},
		{"reason", "reason=unmatched_delta&sortOrder=asc", []string{"pacspace/evt_a", "pacspace/evt_b", "other/evt_a"}},
		{"reason and endpoint", "reason=unmatched_delta&endpoint=pacspace", []string{"pacspace/evt_b", "pacspace/evt_a"}},
		{"unknown reason", "reason=nothing_like_it", []string{}},
		{"since and until", "since=" + since + "&until=" + until + "&sortOrder=asc", []string{"pacspace/evt_batch1", "pacspace/evt_batch2"}},
		{"received today", "startDate=" + today + "&endDate=" + today + "&endpoint=other", []string{"other/evt_a"}},
		{"received from tomorrow", "startDate=" + tomorrow, []string{}},
		{"a date and a time combine", "startDate=" + today + "&until=" + until + "&sortOrder=asc",
			[]string{"pacspace/evt_a", "pacspace/evt_b", "pacspace/evt_batch1", "pacspace/evt_batch2"}},
		{"after seq", fmt.Sprintf("afterSeq=%d&sortOrder=asc&limit=2", seq(3)), []string{"pacspace/evt_test", "pacspace/evt_bad"}},
	}
	for _, tc := range filters {
		t.Run(tc.name, func(t *testing.T) {
			_, ids := la.list(t, "/v1/events?"+tc.query)
			require.Equal(t, tc.want, ids)
		})
	}

	t.Run("pages", func(t *testing.T) {
		var got []string
		for page := 1; page <= 3; page++ {
			p, ids := la.list(t, fmt.Sprintf("/v1/events?sortOrder=asc&limit=3&page=%d", page))
			require.Equal(t, 7, p.Pagination.Total)
			require.Equal(t, 3, p.Pagination.TotalPages)
			got = append(got, ids...)
		}
		require.Equal(t, allIDs, got)
		p, ids := la.list(t, "/v1/events?sortOrder=desc&limit=2&offset=5")
		require.Equal(t, []string{"pacspace/evt_b", "pacspace/evt_a"}, ids)
		require.Equal(t, 7, p.Pagination.Total)
		p, ids = la.list(t, "/v1/events?limit=2&offset=50")
		require.Equal(t, 0, len(ids))
		require.Equal(t, 7, p.Pagination.Total)
	})

	t.Run("bad parameters", func(t *testing.T) {
		status, r := la.call(t, "GET", "/v1/events?status=done&hasActions=yes&sortOrder=up&since=yesterday&startDate=2026-13-01&limit=0&afterSeq=-1", nil)
		require.Equal(t, 400, status)
		for _, f := range []string{"status", "hasActions", "sortOrder", "since", "startDate", "limit", "afterSeq"} {
			require.True(t, r.Error.Fields[f] != "", "no error for", f, r.Error.Fields)
		}
		status, r = la.call(t, "GET", "/v1/events?since=2026-04-10&until=2026-04-09&startDate=2026-04-10&endDate=2026-04-09", nil)
		require.Equal(t, 400, status)
		for _, f := range []string{"until", "endDate"} {
			require.True(t, r.Error.Fields[f] != "", "no error for", f, r.Error.Fields)
		}
	})

	t.Run("one endpoint", func(t *testing.T) {
		_, ids := la.list(t, "/v1/webhooks/pacspace/events?reason=unmatched_delta&sortOrder=asc")
		require.Equal(t, []string{"pacspace/evt_a", "pacspace/evt_b"}, ids)
		status, r := la.call(t, "GET", "/v1/webhooks/nowhere/events", nil)
		require.Equal(t, 404, status)
		require.Contains(t, r.Error.Message, "nowhere")
		status, r = la.call(t, "GET", "/v1/webhooks/pacspace/events?endpoint=other", nil)
		require.Equal(t, 400, status)
		require.True(t, r.Error.Fields["endpoint"] != "", r.Error)
	})

	t.Run("detail", func(t *testing.T) {
		status, r := la.call(t, "GET", "/v1/events/evt_b", nil)
		require.Equal(t, 200, status, r.Error)
		var d struct {
			Seq      int64             `json:"seq"`
			ID       string            `json:"id"`
			Endpoint string            `json:"endpoint"`
			Headers  map[string]string `json:"headers"`
			Body     struct {
				Event string `json:"event"`
				Data  struct {
					Verification struct {
						LatencyMs int `json:"latencyMs"`
					} `json:"verification"`
				} `json:"data"`
			} `json:"body"`
			Actions  []map[string]any `json:"actions"`
			Decision *struct {
				Revision   string           `json:"revision"`
				Input      engine.Input     `json:"input"`
				Actions    []map[string]any `json:"actions"`
				EvalMicros int64            `json:"evalMicros"`
				Error      string           `json:"error"`
			} `json:"decision"`
			Deliveries []struct {
				ID, Plugin, ActionType, Status, LastError string
				Attempts                                  int
			} `json:"deliveries"`
		}
		require.NoError(t, json.Unmarshal(r.Data, &d))
		require.Equal(t, seq(1), d.Seq)
		require.Equal(t, "delta.verified", d.Body.Event)
		require.Equal(t, 6000, d.Body.Data.Verification.LatencyMs)
		require.Equal(t, "[redacted]", d.Headers[pacspace.HeaderSignature])
		require.Equal(t, "evt_b", d.Headers[pacspace.HeaderEventID])
		require.NotContains(t, string(r.Data), "v1=")
		require.Equal(t, 2, len(d.Actions)) // the compact list
		require.True(t, d.Decision != nil, "no decision")
		require.Equal(t, all.Events[1].Revision, d.Decision.Revision)
		require.Equal(t, "cus_2", d.Decision.Input.Delta.CustomerID)
		require.Equal(t, "pacspace", d.Decision.Input.Event.Endpoint)
		require.True(t, d.Decision.Input.State.Record == nil, "the snapshot had no ledger record")
		require.Equal(t, 2, len(d.Decision.Actions))
		require.Equal(t, float64(5000), d.Decision.Actions[1]["threshold"]) // details are in the full actions
		require.Equal(t, "evt_b", d.Decision.Actions[1]["eventId"])
		require.Equal(t, "", d.Decision.Error)
		require.Equal(t, 2, len(d.Deliveries))
		for _, dl := range d.Deliveries {
			require.Equal(t, "console", dl.Plugin)
			require.Equal(t, "failed", dl.Status)
			require.Contains(t, dl.LastError, "no plugin instance")
		}
		require.True(t, d.Deliveries[0].ActionType == "alert" || d.Deliveries[1].ActionType == "alert", d.Deliveries)
	})

	t.Run("detail by seq and endpoint", func(t *testing.T) {
		status, r := la.call(t, "GET", fmt.Sprintf("/v1/events/seq:%d", seq(6)), nil)
		require.Equal(t, 200, status, r.Error)
		require.Contains(t, string(r.Data), `"endpoint":"other"`)
		require.Contains(t, string(r.Data), `"cus_3"`)

		status, r = la.call(t, "GET", "/v1/events/evt_a", nil)
		require.Equal(t, 400, status)
		require.Contains(t, r.Error.Fields["endpoint"], "other")
		require.Contains(t, r.Error.Fields["endpoint"], "pacspace")

		status, r = la.call(t, "GET", "/v1/events/evt_a?endpoint=other", nil)
		require.Equal(t, 200, status, r.Error)
		require.Contains(t, string(r.Data), fmt.Sprintf(`"seq":%d`, seq(6)))

		status, r = la.call(t, "GET", "/v1/events/evt_bad", nil)
		require.Equal(t, 200, status, r.Error)
		require.Contains(t, string(r.Data), `"decision":null`)
		require.Contains(t, string(r.Data), `"deliveries":[]`)
	})

	t.Run("unknown events", func(t *testing.T) {
		for _, path := range []string{"/v1/events/evt_nope", "/v1/events/seq:9999", "/v1/events/evt_b?endpoint=other"} {
			status, r := la.call(t, "GET", path, nil)
			require.Equal(t, 404, status, path)
			require.True(t, r.Error.Message != "", path)
		}
		status, r := la.call(t, "GET", "/v1/events/seq:x", nil)
		require.Equal(t, 400, status)
		require.True(t, r.Error.Fields["id"] != "", r.Error)
	})
}

// replayedEvent and replayReply are the parts of POST /v1/replay the
// tests check.
type replayedEvent struct {
	ID             string           `json:"id"`
	Seq            int64            `json:"seq"`
	Added          []map[string]any `json:"added"`
	Removed        []map[string]any `json:"removed"`
	UnchangedCount int              `json:"unchangedCount"`
	Error          string           `json:"error"`
}

type replayReply struct {
	Events  []replayedEvent `json:"events"`
	Summary struct {
		Evaluated, Changed, Unchanged, Failed int
		AddedByReason, RemovedByReason        map[string]int
		RevisionFrom                          []string
		RevisionTo                            string
		LimitReached                          bool
	} `json:"summary"`
}

func (la *eventsAgent) replay(t *testing.T, body any) replayReply {
	t.Helper()
	status, r := la.call(t, "POST", "/v1/replay", body)
	require.Equal(t, 200, status, r.Error)
	var out replayReply
	require.NoError(t, json.Unmarshal(r.Data, &out))
	return out
}

// rowCounts counts what a replay must not touch.
func (la *eventsAgent) rowCounts(t *testing.T) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+la.db+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	var decisions, deliveries, actions, attempts int
	var revisions string
	require.NoError(t, db.QueryRow(`SELECT (SELECT COUNT(*) FROM decisions), (SELECT COUNT(*) FROM deliveries),
		(SELECT COUNT(*) FROM decision_actions), (SELECT COUNT(*) FROM delivery_attempts),
		(SELECT group_concat(revision || decided_at) FROM decisions)`).Scan(&decisions, &deliveries, &actions, &attempts, &revisions))
	return fmt.Sprint(decisions, deliveries, actions, attempts, revisions)
}

// candidatePolicies copies policies/ with the verification latency
// threshold lowered from 5000 to 700 ms and the discrepancy rule removed.
func candidatePolicyDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "policies")
	require.NoError(t, os.CopyFS(dir, os.DirFS("../../policies")))
	data, err := os.ReadFile(filepath.Join(dir, "data.json"))
	require.NoError(t, err)
	changed := bytes.Replace(data, []byte(`"verification_latency_ms": 5000`), []byte(`"verification_latency_ms": 700`), 1)
	require.True(t, !bytes.Equal(changed, data), "threshold not found in data.json")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data.json"), changed, 0o644))
	require.NoError(t, os.Remove(filepath.Join(dir, "discrepancy.rego")))
	require.NoError(t, os.Remove(filepath.Join(dir, "discrepancy_test.rego")))
	return dir
}

func TestReplay(t *testing.T) {
	la := startEventsAgent(t)
	seedEventsPipeline(t, la)
	all, ids := la.list(t, "/v1/events?sortOrder=asc")
	require.Equal(t, 7, len(ids))
	before := la.rowCounts(t)
	_, r := la.call(t, "GET", "/v1/policies", nil)
	var active struct{ Revision string }
	require.NoError(t, json.Unmarshal(r.Data, &active))

	t.Run("the active set changes nothing", func(t *testing.T) {
		out := la.replay(t, map[string]any{})
		require.Equal(t, 0, len(out.Events))
		require.Equal(t, 6, out.Summary.Evaluated) // evt_bad was never decided
		require.Equal(t, 6, out.Summary.Unchanged)
		require.Equal(t, 0, out.Summary.Changed)
		require.Equal(t, []string{active.Revision}, out.Summary.RevisionFrom)
		require.Equal(t, active.Revision, out.Summary.RevisionTo)
		require.Equal(t, 0, len(out.Summary.AddedByReason))
		require.Equal(t, false, out.Summary.LimitReached)
	})

	t.Run("a candidate set", func(t *testing.T) {
		out := la.replay(t, map[string]any{"policyDir": candidatePolicyDir(t)})
		s := out.Summary
		require.Equal(t, 6, s.Evaluated)
		require.Equal(t, 3, s.Changed)
		require.Equal(t, 3, s.Unchanged)
		require.Equal(t, 0, s.Failed)
		require.Equal(t, map[string]int{"verification_latency": 2}, s.AddedByReason)
		require.Equal(t, map[string]int{"verification_latency": 1, "discrepancy": 1}, s.RemovedByReason)
		require.True(t, s.RevisionTo != active.Revision && len(s.RevisionTo) == 64, s.RevisionTo)
		require.Equal(t, 3, len(out.Events))

		// evt_a: 840 ms is now over the threshold.
		a := out.Events[0]
		require.Equal(t, "evt_a", a.ID)
		require.Equal(t, 1, a.UnchangedCount)
		require.Equal(t, 0, len(a.Removed))
		require.Equal(t, []map[string]any{{"type": "sla_violation", "reason": "verification_latency", "severity": "warning",
			"customerId": "cus_1", "receiptId": "rcpt_ref_1", "latencyMs": float64(840), "threshold": float64(700),
			"eventId": "evt_a", "targets": []any{"console"}}}, a.Added)

		// evt_b: its alert differs in the threshold only, so it is removed
		// and added.
		b := out.Events[1]
		require.Equal(t, "evt_b", b.ID)
		require.Equal(t, 1, b.UnchangedCount)
		require.Equal(t, 1, len(b.Added))
		require.Equal(t, 1, len(b.Removed))
		require.Equal(t, float64(5000), b.Removed[0]["threshold"])
		require.Equal(t, float64(700), b.Added[0]["threshold"])
		require.Equal(t, float64(6000), b.Added[0]["latencyMs"])

		// evt_batch2: the discrepancy rule is gone.
		d := out.Events[2]
		require.Equal(t, "evt_batch2", d.ID)
		require.Equal(t, 0, d.UnchangedCount)
		require.Equal(t, 0, len(d.Added))
		require.Equal(t, []map[string]any{{"type": "alert", "reason": "discrepancy", "severity": "high",
			"batchId": "batch_2", "key": "acct:1", "localBits": float64(1000), "reportedBits": float64(2000),
			"difference": float64(1000), "percentOff": float64(100), "eventId": "evt_batch2", "targets": []any{"console"}}}, d.Removed)
	})

	t.Run("a selection", func(t *testing.T) {
		dir := candidatePolicyDir(t)
		out := la.replay(t, map[string]any{"policyDir": dir, "eventIds": []string{"evt_a", "evt_batch1"}})
		require.Equal(t, 3, out.Summary.Evaluated) // evt_a on both endpoints
		require.Equal(t, 1, len(out.Events))
		require.Equal(t, "evt_a", out.Events[0].ID)

		out = la.replay(t, map[string]any{"policyDir": dir, "eventIds": []string{"evt_a"}, "endpoint": "other"})
		require.Equal(t, 1, out.Summary.Evaluated)
		require.Equal(t, 0, out.Summary.Changed) // 100 ms is under either threshold

		out = la.replay(t, map[string]any{"policyDir": dir, "limit": 2})
		require.Equal(t, 2, out.Summary.Evaluated)
		require.Equal(t, true, out.Summary.LimitReached)
		require.Equal(t, 2, len(out.Events))

		since := all.Events[2].ReceivedAt.Format(time.RFC3339Nano)
		until := all.Events[4].ReceivedAt.Format(time.RFC3339Nano)
		out = la.replay(t, map[string]any{"policyDir": dir, "since": since, "until": until})
		require.Equal(t, 2, out.Summary.Evaluated) // evt_batch1 and evt_batch2
		require.Equal(t, 1, out.Summary.Changed)
		require.Equal(t, 1, out.Summary.RemovedByReason["discrepancy"])
	})

	t.Run("a broken candidate", func(t *testing.T) {
		dir := candidatePolicyDir(t)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "broken.rego"), []byte("package arbiter.rules\n\nactions contains x if {\n"), 0o644))
		status, r := la.call(t, "POST", "/v1/replay", map[string]any{"policyDir": dir})
		require.Equal(t, 422, status)
		require.Contains(t, r.Error.Fields["policyDir"], "broken.rego:")

		dir = candidatePolicyDir(t)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "sla_extra_test.rego"),
			[]byte("package arbiter.rules_test\n\ntest_always_fails if {\n\tfalse\n}\n"), 0o644))
		status, r = la.call(t, "POST", "/v1/replay", map[string]any{"policyDir": dir})
		require.Equal(t, 422, status)
		require.Contains(t, r.Error.Fields["policyDir"], "test_always_fails")

		status, r = la.call(t, "POST", "/v1/replay", map[string]any{"policyDir": filepath.Join(t.TempDir(), "nothing-here")})
		require.Equal(t, 400, status)
		require.Contains(t, r.Error.Fields["policyDir"], "nothing-here")
	})

	t.Run("bad requests", func(t *testing.T) {
		status, r := la.call(t, "POST", "/v1/replay", map[string]any{"limit": 10001, "since": "soon", "until": "2026-01-01T00:00:00Z"})
		require.Equal(t, 400, status)
		require.True(t, r.Error.Fields["limit"] != "" && r.Error.Fields["since"] != "", r.Error)
		status, r = la.call(t, "POST", "/v1/replay", map[string]any{"since": "2026-02-01", "until": "2026-01-01"})
		require.Equal(t, 400, status)
		require.True(t, r.Error.Fields["until"] != "", r.Error)
		status, r = la.call(t, "POST", "/v1/replay", map[string]any{"eventIds": "evt_a"})
		require.Equal(t, 400, status)
		require.True(t, r.Error.Fields["eventIds"] != "", r.Error)
		status, r = la.call(t, "POST", "/v1/replay", map[string]any{"policy": "x"})
		require.Equal(t, 400, status)
		require.Equal(t, "unknown field", r.Error.Fields["policy"])
		status, r = la.call(t, "POST", "/v1/replay", map[string]any{"eventIds": []string{"evt_a", "evt_nope"}})
		require.Equal(t, 404, status)
		require.Contains(t, r.Error.Fields["eventIds"], "evt_nope")
		require.NotContains(t, r.Error.Fields["eventIds"], "evt_a")
	})

	// Nothing was executed or stored.
	require.Equal(t, before, la.rowCounts(t))
	_, r = la.call(t, "GET", "/v1/policies", nil)
	var after struct{ Revision string }
	require.NoError(t, json.Unmarshal(r.Data, &after))
	require.Equal(t, active.Revision, after.Revision)
	again, _ := la.list(t, "/v1/events?sortOrder=asc")
	require.Equal(t, all, again)
}
