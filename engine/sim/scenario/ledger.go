package scenario

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"

	"github.com/arbiter-dev/arbiter/engine"
)

// LedgerHeader is the header row of a ledger CSV, as arbiter ledger import
// reads it.
var LedgerHeader = []string{"referenceId", "customerId", "amount", "periodId", "time"}

// WriteLedgerCSV writes records as CSV with LedgerHeader.
func WriteLedgerCSV(w io.Writer, records []engine.LedgerRecord) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(LedgerHeader); err != nil {
		return err
	}
	for _, r := range records {
		amount := strconv.FormatFloat(r.Amount, 'f', -1, 64)
		if err := cw.Write([]string{r.ReferenceID, r.CustomerID, amount, r.PeriodID, r.Time}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteLedgerJSON writes records as {"records":[…]}, the body of
// POST /v1/ledger/bulk.
func WriteLedgerJSON(w io.Writer, records []engine.LedgerRecord) error {
	if records == nil {
		records = []engine.LedgerRecord{}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(struct {
		Records []engine.LedgerRecord `json:"records"`
	}{records})
}
