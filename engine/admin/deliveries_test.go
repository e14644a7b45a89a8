package admin_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
	"github.com/arbiter-dev/arbiter/engine/admin"
	"github.com/arbiter-dev/arbiter/engine/policy"
	"github.com/arbiter-dev/arbiter/engine/store"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
	"github.com/arbiter-dev/arbiter/policies"
)

// outboxEnv is the admin API on a real store, served on loopback, with a
// second connection to the database for what only the worker and the
// dispatcher write (creation times, delivery times).
type outboxEnv struct {
	srv      *httptest.Server
	st       *store.Store
	db       *sql.DB
	notified atomic.Int64
}

func newOutboxEnv(t testing.TB) *outboxEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "arbiter.db")
	st, err := store.Open(context.Background(), store.Config{Path: path})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	pe, err := policy.New(context.Background(), policy.Config{Source: policy.Source{FS: policies.FS}})
	require.NoError(t, err)
	e := &outboxEnv{st: st, db: db}
	api := admin.New(admin.Config{Tokens: []string{token}, Store: st, Policies: pe,
		NotifyDispatch: func() { e.notified.Add(1) }})
	mux := http.NewServeMux()
	for _, r := range admin.Routes() {
		mux.Handle(r, api)
	}
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// request calls the API with the token and returns the status and body.
func (e *outboxEnv) request(t testing.TB, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, raw
}

// data calls the API, checks the status and decodes the envelope's data.
func (e *outboxEnv) data(t testing.TB, method, path, body string, status int, out any) {
	t.Helper()
	got, raw := e.request(t, method, path, body)
	require.Equal(t, status, got, string(raw))
	var env struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
	}
	require.NoError(t, json.Unmarshal(raw, &env), string(raw))
	require.True(t, env.Success, string(raw))
	require.NoError(t, json.Unmarshal(env.Data, out), string(raw))
}

// failure calls the API and returns the error envelope of a failure.
func (e *outboxEnv) failure(t testing.TB, method, path, body string, status int) (string, map[string]string) {
	t.Helper()
	got, raw := e.request(t, method, path, body)
	require.Equal(t, status, got, string(raw))
	var env struct {
		Success bool `json:"success"`
		Error   struct {
			Message string            `json:"message"`
			Fields  map[string]string `json:"fields"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(raw, &env), string(raw))
	require.Equal(t, false, env.Success)
	return env.Error.Message, env.Error.Fields
}

// outboxRow is a delivery to put in the outbox.
type outboxRow struct {
	id, eventID, plugin, actionType string
	status                          engine.DeliveryStatus
	attempts                        int
	lastError                       string
	created, delivered              time.Time
}

// seed stores each row the way the pipeline does: its event in the inbox,
// the delivery through the worker's transaction, attempts as the
// dispatcher records them. Then it backdates creation and delivery times.
func (e *outboxEnv) seed(t testing.TB, rows ...outboxRow) {
	t.Helper()
	ctx := context.Background()
	seqs := map[string]int64{}
	var ch store.Changes
	for i, r := range rows {
		seq, ok := seqs[r.eventID]
		if !ok {
			res, err := e.st.Append(ctx, &engine.Event{Endpoint: "pacspace", EventID: r.eventID, Digest: "digest-" + r.eventID,
				Scheme: engine.SchemeV1, Headers: map[string]string{}, Body: []byte(`{"event":"delta.verified"}`), ReceivedAt: time.Now()})
			require.NoError(t, err)
			seq, seqs[r.eventID] = res.Seq, res.Seq
		}
		ch.Deliveries = append(ch.Deliveries, store.NewDelivery{ID: r.id, EventSeq: seq, EventID: r.eventID, Plugin: r.plugin,
			ActionIndex: i, ActionType: r.actionType, IdempotencyKey: r.id,
			Action: fmt.Appendf(nil, `{"type":%q,"reason":"unmatched_delta","severity":"high","targets":[%q]}`, r.actionType, r.plugin)})
	}
	require.NoError(t, e.st.Apply(ctx, &ch))
	var attempts []store.Attempt
	for _, r := range rows {
		for n := 1; n <= r.attempts; n++ {
			a := store.Attempt{DeliveryID: r.id, Attempt: n, StartedAt: r.created.Add(time.Duration(n) * time.Second),
				Duration: 1500 * time.Microsecond, Result: "retry", Error: fmt.Sprintf("attempt %d: HTTP 503", n),
				Status: engine.DeliveryPending, NextAttemptAt: time.Now().Add(time.Hour)}
			if n == r.attempts {
				a.Status, a.Error = r.status, r.lastError
				switch r.status {
				case engine.DeliveryDelivered:
					a.Result, a.NextAttemptAt = "ok", time.Time{}
				case engine.DeliveryFailed:
					a.Result, a.NextAttemptAt = "fail", time.Time{}
				}
			}
			attempts = append(attempts, a)
		}
	}
	require.NoError(t, e.st.FinishAttempts(ctx, attempts))
	for _, r := range rows {
		_, err := e.db.Exec(`UPDATE deliveries SET created_at = ?, delivered_at = ? WHERE id = ?`,
			r.created.UnixMicro(), microsOrZero(r.delivered), r.id)
		require.NoError(t, err)
	}
}

func microsOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func day(d, h int) time.Time { return time.Date(2026, 4, d, h, 0, 0, 0, time.UTC) }

// history is six deliveries: d3 and d4 are created at the same instant, so
// only the id orders them; d4 is delivered last although created early.
var history = []outboxRow{
	{"d1", "evt_a", "slack", "alert", engine.DeliveryDelivered, 1, "", day(1, 10), day(1, 11)},
	{"d2", "evt_a", "console", "alert", engine.DeliveryFailed, 3, "HTTP 400: bad payload", day(2, 10), time.Time{}},
	{"d3", "evt_b", "slack", "throttle", engine.DeliveryPending, 0, "", day(3, 10), time.Time{}},
	{"d4", "evt_c", "webhook", "alert", engine.DeliveryDelivered, 2, "", day(3, 10), day(11, 9)},
	{"d5", "evt_c", "slack", "alert", engine.DeliveryFailed, 8, "HTTP 503", day(5, 10), time.Time{}},
	{"d6", "evt_d", "console", "alert", engine.DeliveryDelivered, 1, "", day(10, 10), day(10, 12)},
}

type deliveryItem struct {
	ID            string     `json:"id"`
	EventID       string     `json:"eventId"`
	Plugin        string     `json:"plugin"`
	ActionType    string     `json:"actionType"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastError     string     `json:"lastError"`
	CreatedAt     time.Time  `json:"createdAt"`
	DeliveredAt   *time.Time `json:"deliveredAt"`
	NextAttemptAt *time.Time `json:"nextAttemptAt"`
}

type deliveryPage struct {
	Deliveries []deliveryItem `json:"deliveries"`
	Pagination struct {
		Page, Limit, Offset, Total, TotalPages int
	} `json:"pagination"`
}

func ids(items []deliveryItem) string {
	out := make([]string, len(items))
	for i, d := range items {
		out[i] = d.ID
	}
	return strings.Join(out, ",")
}

func TestDeliveriesAndLedgerNeedToken(t *testing.T) {
	e := newOutboxEnv(t)
	for _, route := range []string{"GET /v1/deliveries", "GET /v1/deliveries/export", "GET /v1/deliveries/d1",
		"POST /v1/deliveries/d1/retry", "POST /v1/ledger", "POST /v1/ledger/bulk", "GET /v1/ledger/ref_1",
		"GET /v1/ledger/periods?customerId=cus_1"} {
		method, path, _ := strings.Cut(route, " ")
		for _, auth := range []string{"", "Bearer arb_wrong_token_0123456789"} {
			req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(`{}`))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			var env struct {
				Success bool `json:"success"`
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&env))
			resp.Body.Close()
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, route, auth)
			require.Equal(t, false, env.Success)
		}
	}
}

func TestListDeliveries(t *testing.T) {
	e := newOutboxEnv(t)
	e.seed(t, history...)
	tests := []struct {
		query string
		want  string // ids in order
		total int
	}{
		{"", "d6,d5,d4,d3,d2,d1", 6},
		{"sortOrder=asc", "d1,d2,d3,d4,d5,d6", 6},
		{"sortBy=createdAt&sortOrder=desc", "d6,d5,d4,d3,d2,d1", 6},
		{"status=failed", "d5,d2", 2},
		{"status=pending", "d3", 1},
		{"status=delivered&sortOrder=asc", "d1,d4,d6", 3},
		{"startDate=2026-04-02&endDate=2026-04-03", "d4,d3,d2", 3}, // endDate is inclusive
		{"startDate=2026-04-04", "d6,d5", 2},
		{"endDate=2026-04-01", "d1", 1},
		{"plugin=slack", "d5,d3,d1", 3},
		{"eventId=evt_c", "d5,d4", 2},
		{"actionType=throttle", "d3", 1},
		{"status=delivered&plugin=slack", "d1", 1},
		{"sortBy=attempts&sortOrder=desc", "d5,d2,d4,d6,d1,d3", 6},
		{"sortBy=attempts&sortOrder=asc", "d3,d1,d6,d4,d2,d5", 6},
		{"sortBy=deliveredAt&sortOrder=asc", "d2,d3,d5,d1,d6,d4", 6},
		{"sortBy=deliveredAt", "d4,d6,d1,d5,d3,d2", 6},
		{"limit=2&offset=2", "d4,d3", 6},
		{"limit=4&page=2", "d2,d1", 6},
		{"limit=2&offset=6", "", 6},
		{"plugin=nope", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			var page deliveryPage
			e.data(t, "GET", "/v1/deliveries?"+tc.query, "", 200, &page)
			require.Equal(t, tc.want, ids(page.Deliveries))
			require.Equal(t, tc.total, page.Pagination.Total)
			require.True(t, page.Deliveries != nil, "an empty page is [], not null")
		})
	}

	t.Run("pagination", func(t *testing.T) {
		var page deliveryPage
		e.data(t, "GET", "/v1/deliveries?limit=4&page=2", "", 200, &page)
		require.Equal(t, 2, page.Pagination.Page)
		require.Equal(t, 4, page.Pagination.Offset)
		require.Equal(t, 2, page.Pagination.TotalPages)
	})

	t.Run("fields", func(t *testing.T) {
		var page deliveryPage
		e.data(t, "GET", "/v1/deliveries?sortOrder=asc&limit=3", "", 200, &page)
		d1, d2, d3 := page.Deliveries[0], page.Deliveries[1], page.Deliveries[2]
		require.Equal(t, deliveryItem{ID: "d2", EventID: "evt_a", Plugin: "console", ActionType: "alert", Status: "failed",
			Attempts: 3, LastError: "HTTP 400: bad payload", CreatedAt: day(2, 10)}, d2)
		require.True(t, d1.DeliveredAt != nil && d1.DeliveredAt.Equal(day(1, 11)), d1.DeliveredAt)
		require.True(t, d1.NextAttemptAt == nil, "a delivered delivery is due never")
		require.True(t, d3.NextAttemptAt != nil && d3.DeliveredAt == nil, "a pending delivery is due")
	})

	t.Run("bad parameters", func(t *testing.T) {
		msg, fields := e.failure(t, "GET", "/v1/deliveries?status=lost&sortBy=size&sortOrder=up&startDate=2026-13-01&limit=0", "", 400)
		require.Equal(t, "invalid query parameters", msg)
		for _, f := range []string{"status", "sortBy", "sortOrder", "startDate", "limit"} {
			require.True(t, fields[f] != "", "field named", f, fields)
		}
		_, fields = e.failure(t, "GET", "/v1/deliveries?startDate=2026-04-05&endDate=2026-04-01", "", 400)
		require.Contains(t, fields["endDate"], "before startDate")
		_, fields = e.failure(t, "GET", "/v1/deliveries?page=2&offset=4", "", 400)
		require.True(t, fields["offset"] != "", fields)
	})
}

func TestGetDelivery(t *testing.T) {
	e := newOutboxEnv(t)
	e.seed(t, history...)
	var d struct {
		deliveryItem
		EventType      string          `json:"eventType"`
		Endpoint       string          `json:"endpoint"`
		IdempotencyKey string          `json:"idempotencyKey"`
		Action         json.RawMessage `json:"action"`
		History        []struct {
			Attempt    int       `json:"attempt"`
			StartedAt  time.Time `json:"startedAt"`
			DurationMs float64   `json:"durationMs"`
			Result     string    `json:"result"`
			Error      string    `json:"error"`
		} `json:"history"`
	}
	e.data(t, "GET", "/v1/deliveries/d2", "", 200, &d)
	require.Equal(t, "d2", d.ID)
	require.Equal(t, "failed", d.Status)
	require.Equal(t, "pacspace", d.Endpoint)
	require.Contains(t, string(d.Action), `"reason":"unmatched_delta"`)
	require.Equal(t, 3, len(d.History))
	for i, a := range d.History {
		require.Equal(t, i+1, a.Attempt)
		require.Equal(t, 1.5, a.DurationMs)
	}
	require.Equal(t, "retry", d.History[0].Result)
	require.Equal(t, "attempt 1: HTTP 503", d.History[0].Error)
	require.Equal(t, "fail", d.History[2].Result)
	require.Equal(t, "HTTP 400: bad payload", d.History[2].Error)

	e.data(t, "GET", "/v1/deliveries/d3", "", 200, &d)
	require.Equal(t, 0, len(d.History))
	require.True(t, d.History != nil, "no attempts is [], not null")

	msg, _ := e.failure(t, "GET", "/v1/deliveries/nope", "", 404)
	require.Contains(t, msg, `"nope"`)
}

// exportCSV fetches an export and parses it back.
func (e *outboxEnv) exportCSV(t *testing.T, query string) [][]string {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/deliveries/export?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "text/csv; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename="deliveries.csv"`, resp.Header.Get("Content-Disposition"))
	recs, err := csv.NewReader(resp.Body).ReadAll()
	require.NoError(t, err)
	return recs
}

func TestExportDeliveries(t *testing.T) {
	e := newOutboxEnv(t)
	tricky := "plugin said: \"no\", then\nline two, \"quoted\"\r\nand a third"
	rows := append([]outboxRow(nil), history...)
	rows = append(rows, outboxRow{"d7,\"x\"", "evt_\"e\"", "slack", "alert", engine.DeliveryFailed, 2, tricky, day(6, 10), time.Time{}})
	e.seed(t, rows...)

	header := []string{"id", "eventId", "plugin", "actionType", "status", "attempts", "lastError", "createdAt", "deliveredAt", "nextAttemptAt"}
	for _, query := range []string{"status=failed", "", "sortBy=attempts&sortOrder=asc", "plugin=slack&startDate=2026-04-03", "limit=2&offset=1"} {
		t.Run(query, func(t *testing.T) {
			recs := e.exportCSV(t, query)
			require.Equal(t, header, recs[0])
			// The export holds exactly what the list shows, in its order.
			var page deliveryPage
			listQuery := query
			if !strings.Contains(query, "limit") {
				listQuery += "&limit=500"
			}
			e.data(t, "GET", "/v1/deliveries?"+listQuery, "", 200, &page)
			require.Equal(t, len(page.Deliveries), len(recs)-1)
			for i, d := range page.Deliveries {
				// encoding/csv reads a line break inside a quoted field as \n.
				lastError := strings.ReplaceAll(d.LastError, "\r\n", "\n")
				want := []string{d.ID, d.EventID, d.Plugin, d.ActionType, d.Status, fmt.Sprint(d.Attempts), lastError,
					d.CreatedAt.Format(time.RFC3339Nano), timeOrEmpty(d.DeliveredAt), timeOrEmpty(d.NextAttemptAt)}
				require.Equal(t, want, recs[i+1])
			}
		})
	}

	t.Run("quoting", func(t *testing.T) {
		recs := e.exportCSV(t, "eventId="+url.QueryEscape(`evt_"e"`))
		require.Equal(t, 2, len(recs))
		require.Equal(t, `d7,"x"`, recs[1][0])
		require.Equal(t, `evt_"e"`, recs[1][1])
		require.Equal(t, strings.ReplaceAll(tricky, "\r\n", "\n"), recs[1][6])
		// As written: quotes doubled inside quoted fields, CRLF line ends.
		_, raw := e.request(t, "GET", "/v1/deliveries/export?eventId="+url.QueryEscape(`evt_"e"`), "")
		require.Contains(t, string(raw), "\r\n"+`"d7,""x""","evt_""e""",slack,alert,failed,2,"plugin said: ""no"", then`+"\r\nline two")
		require.True(t, strings.HasSuffix(string(raw), ",,\r\n"), string(raw))
	})

	t.Run("no rows", func(t *testing.T) {
		require.Equal(t, [][]string{header}, e.exportCSV(t, "plugin=nope"))
	})

	t.Run("bad parameters", func(t *testing.T) {
		_, fields := e.failure(t, "GET", "/v1/deliveries/export?status=gone&limit=-1&endDate=yesterday", "", 400)
		for _, f := range []string{"status", "limit", "endDate"} {
			require.True(t, fields[f] != "", "field named", f, fields)
		}
	})
}

func timeOrEmpty(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

// TestExportMemoryIsFlat exports 200,000 deliveries and samples the live
// heap while the client reads: a server that buffered the rows or the file
// would hold tens of megabytes at once.
func TestExportMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("exports 200,000 rows")
	}
	const n = 200_000
	e := newOutboxEnv(t)
	e.seed(t, outboxRow{"seed", "evt_bulk", "slack", "alert", engine.DeliveryFailed, 1, "HTTP 500", day(1, 0), time.Time{}})
	_, err := e.db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO deliveries (id, event_seq, event_id, plugin, action_index, action_type, action, idempotency_key,
			status, attempts, last_error, next_attempt_at, created_at, delivered_at, updated_at)
		SELECT printf('dlv_%07d', i), d.event_seq, d.event_id, d.plugin, i, d.action_type, d.action, printf('key_%07d', i),
			'failed', i % 9, 'upstream said: "no, not now"' || char(10) || 'try again', 0, d.created_at + i, 0, d.created_at
		FROM n, deliveries d WHERE d.id = 'seed'`, n)
	require.NoError(t, err)

	live := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	base := live()
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/deliveries/export?sortOrder=asc", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	var peak uint64
	r := csv.NewReader(bufio.NewReader(resp.Body))
	r.ReuseRecord = true
	rows := 0
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if rows > 1 { // after the header and the seed row
			require.Equal(t, "upstream said: \"no, not now\"\ntry again", rec[6])
		}
		if rows++; rows%20_000 == 0 {
			peak = max(peak, live())
		}
	}
	require.Equal(t, n+2, rows, "header, seed row and the bulk rows")
	growth := int64(peak) - int64(base)
	t.Logf("live heap: %d KiB before, %d KiB at peak during the export", base>>10, peak>>10)
	require.True(t, growth < 8<<20, "live heap grew by", growth>>10, "KiB while exporting")
}

func TestRetryDelivery(t *testing.T) {
	e := newOutboxEnv(t)
	e.seed(t, history...)

	// Only failed deliveries can be retried; the message names the status.
	for id, status := range map[string]string{"d1": "delivered", "d3": "pending"} {
		msg, _ := e.failure(t, "POST", "/v1/deliveries/"+id+"/retry", "", 409)
		require.Contains(t, msg, "is "+status+"; only failed deliveries can be retried")
	}
	e.failure(t, "POST", "/v1/deliveries/nope/retry", "", 404)
	require.Equal(t, int64(0), e.notified.Load(), "the dispatcher is woken only by a retry")

	before := time.Now()
	var d deliveryItem
	e.data(t, "POST", "/v1/deliveries/d2/retry", "", 200, &d)
	require.Equal(t, "pending", d.Status)
	require.Equal(t, 3, d.Attempts, "the attempts made are kept")
	require.True(t, d.NextAttemptAt != nil && !d.NextAttemptAt.Before(before.Truncate(time.Microsecond)) &&
		time.Since(*d.NextAttemptAt) < time.Minute, "due now", d.NextAttemptAt)
	require.Equal(t, int64(1), e.notified.Load())

	// Retrying it again is refused while it is pending.
	msg, _ := e.failure(t, "POST", "/v1/deliveries/d2/retry", "", 409)
	require.Contains(t, msg, "is pending")

	// The dispatcher claims it, numbers its attempt after the three made,
	// and the history shows all four.
	due, err := e.st.ClaimDue(context.Background(), "console", time.Now(), time.Minute, 10)
	require.NoError(t, err)
	require.Equal(t, 1, len(due))
	require.Equal(t, "d2", due[0].ID)
	require.Equal(t, 3, due[0].Attempts)
	require.NoError(t, e.st.FinishAttempts(context.Background(), []store.Attempt{{DeliveryID: "d2", Attempt: 4,
		StartedAt: time.Now(), Duration: time.Millisecond, Result: "ok", Status: engine.DeliveryDelivered}}))
	var detail struct {
		deliveryItem
		History []struct {
			Attempt int    `json:"attempt"`
			Result  string `json:"result"`
		} `json:"history"`
	}
	e.data(t, "GET", "/v1/deliveries/d2", "", 200, &detail)
	require.Equal(t, "delivered", detail.Status)
	require.Equal(t, 4, detail.Attempts)
	require.Equal(t, 4, len(detail.History))
	require.Equal(t, "fail", detail.History[2].Result)
	require.Equal(t, "ok", detail.History[3].Result)
}
