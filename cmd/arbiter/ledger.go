package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/arbiter-dev/arbiter/engine/httpapi"
)

func newLedgerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Import and inspect the internal ledger",
		Long: `The internal ledger is what you submitted to PacSpace: one record per
delta, which verified deltas are matched with by referenceId. A running
agent keeps it; these commands reach it through the admin API.

Stored records never change, since a verified delta may already have been
counted against one: importing a record identical to the stored one is
accepted, so an import can be run again safely; one that differs is
rejected.`,
	}
	o := addClientFlags(cmd)
	cmd.AddCommand(newLedgerImportCmd(o), newLedgerGetCmd(o), newLedgerPeriodsCmd(o))
	return cmd
}

// ledgerChunk is how many records each bulk request carries.
const ledgerChunk = 1000

// ledgerColumns are the CSV columns; time is optional.
var ledgerColumns = []string{"referenceId", "customerId", "amount", "periodId", "time"}

// ledgerRow is one record read from an import file.
type ledgerRow struct {
	line   int    // in a CSV file
	index  *int   // in a JSON array
	ref    string // its referenceId, for the summary
	record any    // sent as is: the agent validates
	reject string // why it cannot be sent at all
}

// ledgerReader yields a file's records; io.EOF ends them.
type ledgerReader interface {
	next() (ledgerRow, error)
}

// csvLedger reads a CSV file with a header row naming its columns.
type csvLedger struct {
	r    *csv.Reader
	cols map[string]int
}

func newCSVLedger(r io.Reader) (*csvLedger, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading the CSV header row: %w", err)
	}
	cols := map[string]int{}
	for i, h := range header {
		name := strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if !slices.Contains(ledgerColumns, name) {
			return nil, fmt.Errorf("CSV header: unknown column %q; the columns are %s", name, strings.Join(ledgerColumns, ","))
		}
		if _, dup := cols[name]; dup {
			return nil, fmt.Errorf("CSV header: column %q appears twice", name)
		}
		cols[name] = i
	}
	for _, name := range ledgerColumns[:4] {
		if _, ok := cols[name]; !ok {
			return nil, fmt.Errorf("CSV header: no %q column; the columns are %s", name, strings.Join(ledgerColumns, ","))
		}
	}
	cr.FieldsPerRecord = len(header)
	return &csvLedger{r: cr, cols: cols}, nil
}

// csvRecord is a CSV row as the API takes it.
type csvRecord struct {
	ReferenceID string `json:"referenceId"`
	CustomerID  string `json:"customerId"`
	Amount      any    `json:"amount,omitempty"` // a number, or the text given, for the agent to refuse
	PeriodID    string `json:"periodId"`
	Time        string `json:"time,omitempty"`
}

func (c *csvLedger) next() (ledgerRow, error) {
	fields, err := c.r.Read()
	if errors.Is(err, csv.ErrFieldCount) {
		line, _ := c.r.FieldPos(0)
		return ledgerRow{line: line, reject: fmt.Sprintf("has %d fields; the header has %d", len(fields), c.r.FieldsPerRecord)}, nil
	}
	if err != nil {
		return ledgerRow{}, err // io.EOF, or a *csv.ParseError naming the line
	}
	line, _ := c.r.FieldPos(0)
	get := func(name string) string {
		if i, ok := c.cols[name]; ok {
			return strings.TrimSpace(fields[i])
		}
		return ""
	}
	rec := csvRecord{ReferenceID: get("referenceId"), CustomerID: get("customerId"), PeriodID: get("periodId"), Time: get("time")}
	if s := get("amount"); s != "" {
		rec.Amount = s
		if v, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(v, 0) && !math.IsNaN(v) {
			rec.Amount = v
		}
	}
	return ledgerRow{line: line, ref: rec.ReferenceID, record: rec}, nil
}

// jsonLedger reads a JSON array of records, or {"records": [...]}, one
// record at a time.
type jsonLedger struct {
	dec     *json.Decoder
	wrapped bool // {"records": [...]}
	n       int
}

var errLedgerJSON = errors.New(`a JSON ledger file holds an array of records, or {"records": [...]}`)

func newJSONLedger(r io.Reader) (*jsonLedger, error) {
	dec := json.NewDecoder(r)
	j := &jsonLedger{dec: dec}
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errLedgerJSON, err)
	}
	if tok == json.Delim('{') {
		if key, err := dec.Token(); err != nil || key != "records" {
			return nil, errLedgerJSON
		}
		j.wrapped = true
		tok, err = dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errLedgerJSON, err)
		}
	}
	if tok != json.Delim('[') {
		return nil, errLedgerJSON
	}
	return j, nil
}

func (j *jsonLedger) next() (ledgerRow, error) {
	if !j.dec.More() {
		if _, err := j.dec.Token(); err != nil { // the closing ]
			return ledgerRow{}, err
		}
		if j.wrapped {
			if tok, err := j.dec.Token(); err != nil || tok != json.Delim('}') {
				return ledgerRow{}, fmt.Errorf(`%w: nothing may follow "records"`, errLedgerJSON)
			}
		}
		return ledgerRow{}, io.EOF
	}
	var raw json.RawMessage
	if err := j.dec.Decode(&raw); err != nil {
		return ledgerRow{}, fmt.Errorf("record at index %d: %w", j.n, err)
	}
	var id struct {
		ReferenceID string `json:"referenceId"`
	}
	json.Unmarshal(raw, &id) // only for the summary: the agent judges the record
	index := j.n
	j.n++
	return ledgerRow{index: &index, ref: id.ReferenceID, record: raw}, nil
}

// openLedger picks the reader by the file's extension, else by its first
// character.
func openLedger(path string, r *bufio.Reader) (ledgerReader, error) {
	format := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	if format != "csv" && format != "json" {
		format = "csv"
		for {
			b, err := r.Peek(1)
			if err != nil {
				break
			}
			if bytes.ContainsAny(b, " \t\r\n") {
				r.ReadByte()
				continue
			}
			if b[0] == '[' || b[0] == '{' {
				format = "json"
			}
			break
		}
	}
	if format == "json" {
		return newJSONLedger(r)
	}
	return newCSVLedger(r)
}

// ledgerRejection is a record that was not imported.
type ledgerRejection struct {
	Line        int    `json:"line,omitempty"`  // CSV
	Index       *int   `json:"index,omitempty"` // JSON
	ReferenceID string `json:"referenceId"`
	Reason      string `json:"reason"`
}

// position is the rejection's line or index.
func (r ledgerRejection) position() int {
	if r.Index != nil {
		return *r.Index
	}
	return r.Line
}

func (r ledgerRejection) where() string {
	if r.Index != nil {
		return fmt.Sprintf("index %d", *r.Index)
	}
	return fmt.Sprintf("line %d", r.Line)
}

func newLedgerImportCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE",
		Short: "Import internal ledger records from a CSV or JSON file",
		Long: `Import records from FILE ("-" for stdin): CSV with a header row naming
its columns (referenceId,customerId,amount,periodId and optionally time,
in any order), or JSON holding an array of records or {"records": [...]}.
The format comes from the extension, .csv or .json, else from the content.

The file is streamed and sent in requests of 1,000 records; each request
stores its valid records even when others are rejected. A record is
rejected when a field is missing or malformed (time must be RFC 3339), or
when its referenceId is stored already with other values. On a terminal
a progress bar is shown on stderr. The summary lists every rejected record
by its CSV line or JSON array index (from 0); the exit status is 1 if any
record was rejected.`,
		Example: `  arbiter ledger import submitted-2026-04.csv
  arbiter ledger import records.json --output json
  gunzip -c records.csv.gz | arbiter ledger import -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			path := args[0]
			var src io.Reader = cmd.InOrStdin()
			size := int64(-1)
			if path != "-" {
				f, err := os.Open(path)
				if err != nil {
					return err
				}
				defer f.Close()
				if st, err := f.Stat(); err == nil {
					size = st.Size()
				}
				src = f
			}
			var bar *progressbar.ProgressBar
			if tty, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(tty.Fd())) {
				bar = progressbar.NewOptions64(size, progressbar.OptionSetWriter(tty),
					progressbar.OptionSetDescription("importing "+filepath.Base(path)),
					progressbar.OptionShowBytes(true), progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionClearOnFinish())
				r := progressbar.NewReader(src, bar)
				src = &r
			}
			rd, err := openLedger(path, bufio.NewReaderSize(src, 64<<10))
			if err != nil {
				return fmt.Errorf("import %s: %w", path, err)
			}
			sum, err := importLedger(cmd, c, rd)
			if bar != nil {
				bar.Finish()
			}
			if err != nil {
				return fmt.Errorf("import %s: %w (%d records were imported before it)", path, err, sum.Imported)
			}
			raw, err := json.Marshal(sum)
			if err != nil {
				return err
			}
			if err := c.print(raw, func(tw *tabwriter.Writer) {
				fmt.Fprintf(tw, "imported %d, rejected %d\n", sum.Imported, len(sum.Rejected))
				for _, r := range sum.Rejected {
					ref := ""
					if r.ReferenceID != "" {
						ref = " (" + r.ReferenceID + ")"
					}
					fmt.Fprintf(tw, "  %s%s: %s\n", r.where(), ref, r.Reason)
				}
			}); err != nil {
				return err
			}
			if len(sum.Rejected) > 0 {
				return exitError{code: 1}
			}
			return nil
		},
	}
}

// ledgerSummary is what an import did.
type ledgerSummary struct {
	Imported int               `json:"imported"`
	Rejected []ledgerRejection `json:"rejected"`
}

// importLedger sends rd's records in chunks and sums up the answers.
func importLedger(cmd *cobra.Command, c *apiClient, rd ledgerReader) (ledgerSummary, error) {
	sum := ledgerSummary{Rejected: []ledgerRejection{}}
	reject := func(r ledgerRow, reason string) {
		sum.Rejected = append(sum.Rejected, ledgerRejection{Line: r.line, Index: r.index, ReferenceID: r.ref, Reason: reason})
	}
	rows := make([]ledgerRow, 0, ledgerChunk)
	send := func() error {
		if len(rows) == 0 {
			return nil
		}
		body := struct {
			Records []any `json:"records"`
		}{make([]any, len(rows))}
		for i, r := range rows {
			body.Records[i] = r.record
		}
		var res struct {
			Accepted int `json:"accepted"`
			Rejected []struct {
				Index  int    `json:"index"`
				Reason string `json:"reason"`
			} `json:"rejected"`
		}
		if _, err := c.do(cmd.Context(), "POST", "/v1/ledger/bulk", nil, body, &res); err != nil {
			return err
		}
		sum.Imported += res.Accepted
		for _, r := range res.Rejected {
			if r.Index >= 0 && r.Index < len(rows) {
				reject(rows[r.Index], r.Reason)
			}
		}
		rows = rows[:0]
		return nil
	}
	for {
		r, err := rd.next()
		if err == io.EOF {
			err = send()
			// Rows refused before sending are listed among the others.
			slices.SortStableFunc(sum.Rejected, func(a, b ledgerRejection) int { return a.position() - b.position() })
			return sum, err
		}
		if err != nil {
			return sum, err
		}
		if r.reject != "" {
			reject(r, r.reject)
			continue
		}
		if rows = append(rows, r); len(rows) == ledgerChunk {
			if err := send(); err != nil {
				return sum, err
			}
		}
	}
}

// ledgerRecordRow is a stored record as the API shows it.
type ledgerRecordRow struct {
	ReferenceID string     `json:"referenceId"`
	CustomerID  string     `json:"customerId"`
	Amount      float64    `json:"amount"`
	PeriodID    string     `json:"periodId"`
	Time        *time.Time `json:"time"`
	CreatedAt   *time.Time `json:"createdAt"`
}

func newLedgerGetCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "get REFERENCE_ID",
		Short:   "Show one internal ledger record",
		Example: `  arbiter ledger get ref_inv_20260410_0042`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			var rec ledgerRecordRow
			raw, err := c.do(cmd.Context(), "GET", "/v1/ledger/"+url.PathEscape(args[0]), nil, nil, &rec)
			if err != nil {
				return err
			}
			return c.print(raw, func(tw *tabwriter.Writer) {
				row(tw, "referenceId:", rec.ReferenceID)
				row(tw, "customerId:", rec.CustomerID)
				row(tw, "amount:", strconv.FormatFloat(rec.Amount, 'f', -1, 64))
				row(tw, "periodId:", rec.PeriodID)
				row(tw, "time:", timeCell(rec.Time))
				row(tw, "imported:", timeCell(rec.CreatedAt))
			})
		},
	}
}

func newLedgerPeriodsCmd(o *clientOptions) *cobra.Command {
	var (
		customer, period    string
		page, limit, offset int
	)
	cmd := &cobra.Command{
		Use:   "periods",
		Short: "Compare a customer's period totals with the internal ledger",
		Long: `List a customer's periods, newest first: our running total and the number
of verified deltas it counts (each adds its matching ledger record's
amount), beside the sum and number of internal ledger records for the
period. A ledger total above ours is records PacSpace has not verified yet.`,
		Example: `  arbiter ledger periods --customer cus_8421
  arbiter ledger periods --customer cus_8421 --period 2026-04`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd)
			if err != nil {
				return err
			}
			q := url.Values{"customerId": {customer}}
			if period != "" {
				q.Set("periodId", period)
			}
			for name, v := range map[string]int{"page": page, "limit": limit, "offset": offset} {
				if cmd.Flags().Changed(name) {
					q.Set(name, strconv.Itoa(v))
				}
			}
			var out struct {
				Periods []struct {
					PeriodID      string  `json:"periodId"`
					OurTotal      float64 `json:"ourTotal"`
					Deltas        int64   `json:"deltas"`
					LedgerTotal   float64 `json:"ledgerTotal"`
					LedgerRecords int64   `json:"ledgerRecords"`
				} `json:"periods"`
				Pagination httpapi.Pagination `json:"pagination"`
			}
			raw, err := c.do(cmd.Context(), "GET", "/v1/ledger/periods", q, nil, &out)
			if err != nil {
				return err
			}
			num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
			return c.print(raw, func(tw *tabwriter.Writer) {
				row(tw, "PERIOD", "OUR TOTAL", "DELTAS", "LEDGER TOTAL", "LEDGER RECORDS")
				for _, p := range out.Periods {
					row(tw, p.PeriodID, num(p.OurTotal), p.Deltas, num(p.LedgerTotal), p.LedgerRecords)
				}
				pageFooter(tw, out.Pagination, "periods")
			})
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&customer, "customer", "", "customer id (required)")
	fs.StringVar(&period, "period", "", "only this period id")
	fs.IntVar(&page, "page", 1, "page number")
	fs.IntVar(&limit, "limit", 20, "periods per page (at most 500)")
	fs.IntVar(&offset, "offset", 0, "periods to skip; not with --page")
	cmd.MarkFlagRequired("customer")
	return cmd
}
