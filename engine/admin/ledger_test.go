package admin_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/arbiter-dev/arbiter/engine/store"
	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

type ledgerRecord struct {
	ReferenceID string     `json:"referenceId"`
	CustomerID  string     `json:"customerId"`
	Amount      float64    `json:"amount"`
	PeriodID    string     `json:"periodId"`
	Time        *time.Time `json:"time"`
	CreatedAt   time.Time  `json:"createdAt"`
}

type ledgerImport struct {
	Accepted int `json:"accepted"`
	Rejected []struct {
		Index       int    `json:"index"`
		ReferenceID string `json:"referenceId"`
		Reason      string `json:"reason"`
	} `json:"rejected"`
}

func TestLedgerRecord(t *testing.T) {
	e := newOutboxEnv(t)
	const rec = `{"referenceId":"ref_1","customerId":"cus_1","amount":125.5,"periodId":"2026-04","time":"2026-04-10T12:00:00.250+02:00"}`
	var got ledgerRecord
	e.data(t, "POST", "/v1/ledger", rec, 201, &got)
	require.Equal(t, "ref_1", got.ReferenceID)
	require.Equal(t, 125.5, got.Amount)
	require.True(t, got.Time != nil && got.Time.Equal(time.Date(2026, 4, 10, 10, 0, 0, 250e6, time.UTC)), got.Time)
	require.True(t, time.Since(got.CreatedAt) < time.Minute, got.CreatedAt)

	var read ledgerRecord
	e.data(t, "GET", "/v1/ledger/ref_1", "", 200, &read)
	require.Equal(t, got, read)

	// Posting the same record again is accepted and changes nothing.
	e.data(t, "POST", "/v1/ledger", rec, 201, &read)
	require.Equal(t, got, read)

	// A record with no time keeps none.
	e.data(t, "POST", "/v1/ledger", `{"referenceId":"ref_2","customerId":"cus_1","amount":-3,"periodId":"2026-04"}`, 201, &read)
	require.True(t, read.Time == nil, read.Time)

	// A stored record does not change.
	msg, fields := e.failure(t, "POST", "/v1/ledger",
		`{"referenceId":"ref_1","customerId":"cus_1","amount":99,"periodId":"2026-05","time":"2026-04-10T10:00:00.25Z"}`, 409)
	require.Contains(t, msg, "ref_1")
	require.Equal(t, map[string]string{"amount": "differs from the stored record", "periodId": "differs from the stored record"}, fields)
	e.data(t, "GET", "/v1/ledger/ref_1", "", 200, &read)
	require.Equal(t, 125.5, read.Amount)

	msg, _ = e.failure(t, "GET", "/v1/ledger/ref_404", "", 404)
	require.Contains(t, msg, "ref_404")

	tests := []struct {
		name, body string
		status     int
		fields     []string
	}{
		{"missing fields", `{"referenceId":" ","amount":1}`, 400, []string{"referenceId", "customerId", "periodId"}},
		{"no amount", `{"referenceId":"r","customerId":"c","periodId":"p"}`, 400, []string{"amount"}},
		{"amount as text", `{"referenceId":"r","customerId":"c","periodId":"p","amount":"12"}`, 400, []string{"amount"}},
		{"amount out of range", `{"referenceId":"r","customerId":"c","periodId":"p","amount":1e400}`, 400, []string{"amount"}},
		{"bad time", `{"referenceId":"r","customerId":"c","periodId":"p","amount":1,"time":"yesterday"}`, 400, []string{"time"}},
		{"unknown field", `{"referenceId":"r","customerId":"c","periodId":"p","amount":1,"note":"x"}`, 400, []string{"note"}},
		{"empty body", ``, 400, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, fields := e.failure(t, "POST", "/v1/ledger", tc.body, tc.status)
			for _, f := range tc.fields {
				require.True(t, fields[f] != "", "field named", f, fields)
			}
			require.Equal(t, len(tc.fields), len(fields), fields)
		})
	}
	// Nothing invalid was stored.
	e.failure(t, "GET", "/v1/ledger/r", "", 404)
}

func TestLedgerBulk(t *testing.T) {
	e := newOutboxEnv(t)
	var one ledgerRecord
	e.data(t, "POST", "/v1/ledger", `{"referenceId":"ref_old","customerId":"cus_1","amount":10,"periodId":"2026-03"}`, 201, &one)

	records := []string{
		`{"referenceId":"ref_a","customerId":"cus_1","amount":1.25,"periodId":"2026-04"}`,                            // 0 ok
		`{"referenceId":"","customerId":"cus_1","amount":1,"periodId":"2026-04"}`,                                    // 1 no referenceId
		`{"referenceId":"ref_b","customerId":"cus_1","amount":2,"periodId":"2026-04","time":"noon"}`,                 // 2 bad time
		`{"referenceId":"ref_c","customerId":"cus_1","amount":"3","periodId":"2026-04"}`,                             // 3 amount text
		`{"referenceId":"ref_d","customerId":"cus_1","amount":4,"periodId":"2026-04","extra":true}`,                  // 4 unknown field
		`{"referenceId":"ref_old","customerId":"cus_1","amount":10,"periodId":"2026-03"}`,                            // 5 identical: ok
		`{"referenceId":"ref_old","customerId":"cus_2","amount":11,"periodId":"2026-03"}`,                            // 6 conflict
		`{"referenceId":"ref_e","customerId":"cus_1","amount":5,"periodId":"2026-04","time":"2026-04-02T00:00:00Z"}`, // 7 ok
		`{"referenceId":"ref_e","customerId":"cus_1","amount":6,"periodId":"2026-04","time":"2026-04-02T00:00:00Z"}`, // 8 conflicts with 7
		`"ref_f"`, // 9 not an object
		`{"customerId":"cus_1","periodId":"2026-04"}`,                                      // 10 two fields missing
		`{"referenceId":"ref_g","customerId":"cus_1","amount":1e400,"periodId":"2026-04"}`, // 11 out of range
	}
	var res ledgerImport
	e.data(t, "POST", "/v1/ledger/bulk", `{"records":[`+strings.Join(records, ",")+`]}`, 200, &res)
	require.Equal(t, 3, res.Accepted)
	want := []struct {
		index       int
		ref, reason string
	}{
		{1, "", "referenceId: required"},
		{2, "ref_b", "time: must be an RFC 3339 time"},
		{3, "ref_c", "amount: must be a finite number"},
		{4, "ref_d", `unknown field "extra"`},
		{6, "ref_old", "already stored with a different customerId, amount; stored records do not change"},
		{8, "ref_e", "already stored with a different amount; stored records do not change"},
		{9, "", "not a JSON object"},
		{10, "", "amount: required; referenceId: required"},
		{11, "ref_g", "amount: must be a finite number"},
	}
	require.Equal(t, len(want), len(res.Rejected), res.Rejected)
	for i, w := range want {
		r := res.Rejected[i]
		require.Equal(t, w.index, r.Index)
		require.Equal(t, w.ref, r.ReferenceID)
		require.Equal(t, w.reason, r.Reason)
	}
	// The valid rows were stored despite the others; the rejected were not.
	for ref, amount := range map[string]float64{"ref_a": 1.25, "ref_e": 5, "ref_old": 10} {
		var rec ledgerRecord
		e.data(t, "GET", "/v1/ledger/"+ref, "", 200, &rec)
		require.Equal(t, amount, rec.Amount, ref)
	}
	for _, ref := range []string{"ref_b", "ref_c", "ref_d", "ref_g"} {
		e.failure(t, "GET", "/v1/ledger/"+ref, "", 404)
	}

	t.Run("limits", func(t *testing.T) {
		_, fields := e.failure(t, "POST", "/v1/ledger/bulk", `{"records":[]}`, 400)
		require.Contains(t, fields["records"], "at least one")
		_, fields = e.failure(t, "POST", "/v1/ledger/bulk", `{"rows":[]}`, 400)
		require.Equal(t, "unknown field", fields["rows"])
		var b strings.Builder
		b.WriteString(`{"records":[`)
		for i := range 10_001 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"referenceId":"ref_many_%d","customerId":"c","amount":1,"periodId":"p"}`, i)
		}
		b.WriteString(`]}`)
		_, fields = e.failure(t, "POST", "/v1/ledger/bulk", b.String(), 400)
		require.Contains(t, fields["records"], "at most 10000")
		e.failure(t, "GET", "/v1/ledger/ref_many_0", "", 404)
	})
}

func TestLedgerPeriods(t *testing.T) {
	e := newOutboxEnv(t)
	// Our running totals, as the worker writes them.
	require.NoError(t, e.st.Apply(context.Background(), &store.Changes{Periods: []store.PeriodTotal{
		{Customer: "cus_1", Period: "2026-03", Total: 40, Deltas: 2},
		{Customer: "cus_1", Period: "2026-04", Total: 7.5, Deltas: 1},
		{Customer: "cus_2", Period: "2026-04", Total: 1000, Deltas: 9},
	}}))
	var res ledgerImport
	e.data(t, "POST", "/v1/ledger/bulk", `{"records":[
		{"referenceId":"r1","customerId":"cus_1","amount":7.5,"periodId":"2026-04"},
		{"referenceId":"r2","customerId":"cus_1","amount":2.5,"periodId":"2026-04"},
		{"referenceId":"r3","customerId":"cus_1","amount":5,"periodId":"2026-05"},
		{"referenceId":"r4","customerId":"cus_2","amount":3,"periodId":"2026-04"}]}`, 200, &res)
	require.Equal(t, 4, res.Accepted)

	type period struct {
		CustomerID    string  `json:"customerId"`
		PeriodID      string  `json:"periodId"`
		OurTotal      float64 `json:"ourTotal"`
		Deltas        int64   `json:"deltas"`
		LedgerTotal   float64 `json:"ledgerTotal"`
		LedgerRecords int64   `json:"ledgerRecords"`
	}
	type page struct {
		Periods    []period `json:"periods"`
		Pagination struct {
			Total, TotalPages int
		} `json:"pagination"`
	}
	var p page
	e.data(t, "GET", "/v1/ledger/periods?customerId=cus_1", "", 200, &p)
	require.Equal(t, []period{
		{"cus_1", "2026-05", 0, 0, 5, 1},    // ledger records, no verified delta yet
		{"cus_1", "2026-04", 7.5, 1, 10, 2}, // one of two records verified
		{"cus_1", "2026-03", 40, 2, 0, 0},   // verified deltas, no records
	}, p.Periods)
	require.Equal(t, 3, p.Pagination.Total)

	e.data(t, "GET", "/v1/ledger/periods?customerId=cus_1&limit=1&page=2", "", 200, &p)
	require.Equal(t, 1, len(p.Periods))
	require.Equal(t, "2026-04", p.Periods[0].PeriodID)
	require.Equal(t, 3, p.Pagination.TotalPages)

	e.data(t, "GET", "/v1/ledger/periods?customerId=cus_2&periodId=2026-04", "", 200, &p)
	require.Equal(t, []period{{"cus_2", "2026-04", 1000, 9, 3, 1}}, p.Periods)

	e.data(t, "GET", "/v1/ledger/periods?customerId=cus_3", "", 200, &p)
	require.Equal(t, []period{}, p.Periods)
	require.Equal(t, 0, p.Pagination.Total)

	_, fields := e.failure(t, "GET", "/v1/ledger/periods?limit=600", "", 400)
	require.Equal(t, "required", fields["customerId"])
	require.True(t, fields["limit"] != "", fields)
}
