package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// TestLedgerCLI imports a CSV and a JSON file into the real agent with
// `arbiter ledger import`, then reads the records and period totals back.
func TestLedgerCLI(t *testing.T) {
	dir := t.TempDir()
	p := start(t, []string{"PACSPACE_WEBHOOK_SECRET=" + e2eSecret, "ARBITER_DATA_DIR=" + filepath.Join(dir, "data"),
		"ARBITER_LISTEN=127.0.0.1:0", "ARBITER_ADMIN_TOKEN=" + cliToken}, "serve")
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		return path
	}

	// Columns in their own order; a quoted field spanning two lines moves
	// the line numbers of the rows after it.
	csvFile := write("april.csv", "periodId,referenceId,amount,customerId,time\n"+ // line 1
		"2026-04,ref_1,125.5,cus_1,2026-04-10T12:00:00Z\n"+ // 2
		"2026-04,\"ref_2, second\",-20,cus_1,\n"+ // 3
		"2026-04,ref_3,abc,cus_1,\n"+ // 4: amount not a number
		"2026-04,ref_4,1,,\n"+ // 5: no customer
		"2026-04,ref_5,1,cus_1\n"+ // 6: a field short
		"\"2026-\n04\",ref_6,2,cus_1,\n"+ // 7-8
		"2026-04,ref_7,3,cus_1,noon\n"+ // 9: bad time
		"2026-05,ref_8,4.25,cus_1,2026-05-01T00:00:00+02:00\n") // 10
	stdout, stderr, code := runAdminCLI(t, p, "ledger", "import", csvFile)
	require.Equal(t, 1, code, "rejected rows make the exit status 1", stderr)
	require.Equal(t, "", stderr, "no progress bar when stderr is not a terminal")
	require.Equal(t, "imported 4, rejected 4\n"+
		"  line 4 (ref_3): amount: must be a finite number\n"+
		"  line 5 (ref_4): customerId: required\n"+
		"  line 6: has 4 fields; the header has 5\n"+
		"  line 9 (ref_7): time: must be an RFC 3339 time\n", stdout)

	// Running it again changes nothing: identical records are accepted.
	stdout, _, code = runAdminCLI(t, p, "ledger", "import", csvFile)
	require.Equal(t, 1, code)
	require.Contains(t, stdout, "imported 4, rejected 4\n")

	var rec struct {
		ReferenceID string  `json:"referenceId"`
		CustomerID  string  `json:"customerId"`
		Amount      float64 `json:"amount"`
		PeriodID    string  `json:"periodId"`
		Time        *string `json:"time"`
	}
	cliJSON(t, p, &rec, "ledger", "get", "ref_2, second")
	require.Equal(t, -20.0, rec.Amount)
	require.True(t, rec.Time == nil, "no time given")
	cliJSON(t, p, &rec, "ledger", "get", "ref_6")
	require.Equal(t, "2026-\n04", rec.PeriodID)
	stdout, stderr, code = runAdminCLI(t, p, "ledger", "get", "ref_1")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "125.5")
	require.Contains(t, stdout, "cus_1")
	_, stderr, code = runAdminCLI(t, p, "ledger", "get", "ref_3")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `no ledger record "ref_3" (HTTP 404)`)

	// JSON, 2,500 records in three requests: one conflicts with a stored
	// record, one has a bad time, in different requests.
	records := make([]string, 2500)
	for i := range records {
		records[i] = fmt.Sprintf(`{"referenceId":"ref_j%d","customerId":"cus_2","amount":%d,"periodId":"2026-04"}`, i, i%10)
	}
	records[1500] = `{"referenceId":"ref_1","customerId":"cus_1","amount":999,"periodId":"2026-04","time":"2026-04-10T12:00:00Z"}`
	records[2499] = `{"referenceId":"ref_jlast","customerId":"cus_2","amount":1,"periodId":"2026-04","time":"10/04/2026"}`
	jsonFile := write("records.json", "[\n"+strings.Join(records, ",\n")+"\n]\n")
	stdout, stderr, code = runAdminCLI(t, p, "ledger", "import", jsonFile)
	require.Equal(t, 1, code, stderr)
	require.Equal(t, "imported 2498, rejected 2\n"+
		"  index 1500 (ref_1): already stored with a different amount; stored records do not change\n"+
		"  index 2499 (ref_jlast): time: must be an RFC 3339 time\n", stdout)

	var sum struct {
		Imported int `json:"imported"`
		Rejected []struct {
			Index       *int   `json:"index"`
			ReferenceID string `json:"referenceId"`
			Reason      string `json:"reason"`
		} `json:"rejected"`
	}
	stdout, _, code = runAdminCLI(t, p, "ledger", "import", jsonFile, "--output", "json")
	require.Equal(t, 1, code)
	require.NoError(t, json.Unmarshal([]byte(stdout), &sum), stdout)
	require.Equal(t, 2498, sum.Imported)
	require.Equal(t, 2, len(sum.Rejected))
	require.Equal(t, 1500, *sum.Rejected[0].Index)

	// {"records": [...]} with no telling extension: recognized by content.
	wrapped := write("more.txt", `  {"records": [
		{"referenceId":"ref_w1","customerId":"cus_1","amount":10,"periodId":"2026-03"},
		{"referenceId":"ref_w2","customerId":"cus_1","amount":0.5,"periodId":"2026-03"}]}`)
	stdout, stderr, code = runAdminCLI(t, p, "ledger", "import", wrapped)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "imported 2, rejected 0\n", stdout)

	// A file that is not a ledger is refused as a whole.
	for name, content := range map[string]string{
		"bad.csv":  "referenceId,customer,amount,periodId\nref_x,c,1,p\n",
		"bad.json": `{"rows": []}`,
	} {
		_, stderr, code = runAdminCLI(t, p, "ledger", "import", write(name, content))
		require.Equal(t, 1, code, name)
		require.Contains(t, stderr, "arbiter: import ", name)
	}
	_, stderr, _ = runAdminCLI(t, p, "ledger", "import", write("bad2.csv", "referenceId,customer,amount,periodId\n"))
	require.Contains(t, stderr, `unknown column "customer"`)

	// Period totals beside the ledger: no delta was verified, so ours are 0.
	var periods struct {
		Periods []struct {
			PeriodID      string  `json:"periodId"`
			OurTotal      float64 `json:"ourTotal"`
			Deltas        int     `json:"deltas"`
			LedgerTotal   float64 `json:"ledgerTotal"`
			LedgerRecords int     `json:"ledgerRecords"`
		} `json:"periods"`
	}
	cliJSON(t, p, &periods, "ledger", "periods", "--customer", "cus_1", "--period", "2026-04")
	require.Equal(t, 1, len(periods.Periods))
	require.Equal(t, 105.5, periods.Periods[0].LedgerTotal) // ref_1 and ref_2
	require.Equal(t, 2, periods.Periods[0].LedgerRecords)
	require.Equal(t, 0.0, periods.Periods[0].OurTotal)
	stdout, stderr, code = runAdminCLI(t, p, "ledger", "periods", "--customer", "cus_1")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "PERIOD")
	for _, period := range []string{"2026-05", "2026-04", "2026-03", "2026-\n04"} {
		require.Contains(t, stdout, period)
	}
	require.Contains(t, stdout, "page 1 of 1, 4 periods")
	_, stderr, code = runAdminCLI(t, p, "ledger", "periods")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `required flag(s) "customer" not set`)
}
