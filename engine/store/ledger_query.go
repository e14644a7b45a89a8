package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
)

// LedgerEntry is an internal ledger record as stored.
type LedgerEntry struct {
	ReferenceID string
	CustomerID  string
	Amount      float64
	PeriodID    string
	Time        time.Time // zero when the record gave none
	CreatedAt   time.Time // set by the store
}

// LedgerConflict is an imported record whose referenceId is stored already
// with other values.
type LedgerConflict struct {
	Index  int      // in the imported slice
	Fields []string // customerId, amount, periodId, time: those that differ
}

// ImportLedger stores new internal ledger records in one transaction.
// Stored records never change: a verified delta may already have been
// matched against one and counted in our period totals, which a changed
// record would silently contradict. So a record identical to the stored one
// is accepted as a no-op, which makes re-running an import safe, and one
// that differs is left out and reported as a conflict.
func (s *Store) ImportLedger(ctx context.Context, recs []LedgerEntry) ([]LedgerConflict, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("import ledger: %w", err)
	}
	defer tx.Rollback()
	insert, err := tx.PrepareContext(ctx, `INSERT INTO ledger (reference_id, customer_id, amount, period_id, time, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (reference_id) DO NOTHING`)
	if err != nil {
		return nil, fmt.Errorf("import ledger: %w", err)
	}
	defer insert.Close()
	stored, err := tx.PrepareContext(ctx, `SELECT customer_id, amount, period_id, time FROM ledger WHERE reference_id = ?`)
	if err != nil {
		return nil, fmt.Errorf("import ledger: %w", err)
	}
	defer stored.Close()
	now := micros(time.Now())
	var conflicts []LedgerConflict
	for i, r := range recs {
		res, err := insert.ExecContext(ctx, r.ReferenceID, r.CustomerID, r.Amount, r.PeriodID, micros(r.Time), now)
		if err != nil {
			return nil, fmt.Errorf("import ledger: %s: %w", r.ReferenceID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("import ledger: %s: %w", r.ReferenceID, err)
		} else if n == 1 {
			continue
		}
		var (
			have LedgerEntry
			ts   int64
		)
		if err := stored.QueryRowContext(ctx, r.ReferenceID).Scan(&have.CustomerID, &have.Amount, &have.PeriodID, &ts); err != nil {
			return nil, fmt.Errorf("import ledger: %s: %w", r.ReferenceID, err)
		}
		var differ []string
		if have.CustomerID != r.CustomerID {
			differ = append(differ, "customerId")
		}
		if have.Amount != r.Amount {
			differ = append(differ, "amount")
		}
		if have.PeriodID != r.PeriodID {
			differ = append(differ, "periodId")
		}
		if ts != micros(r.Time) {
			differ = append(differ, "time")
		}
		if len(differ) > 0 {
			conflicts = append(conflicts, LedgerConflict{Index: i, Fields: differ})
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("import ledger: %w", err)
	}
	return conflicts, nil
}

// LedgerEntry reads one internal ledger record.
func (s *Store) LedgerEntry(ctx context.Context, referenceID string) (LedgerEntry, error) {
	e := LedgerEntry{ReferenceID: referenceID}
	var ts, created int64
	err := s.readRow(ctx, `SELECT customer_id, amount, period_id, time, created_at FROM ledger WHERE reference_id = ?`,
		referenceID).Scan(&e.CustomerID, &e.Amount, &e.PeriodID, &ts, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("ledger record %s: %w", referenceID, engine.ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("ledger record %s: %w", referenceID, err)
	}
	e.Time, e.CreatedAt = fromMicros(ts), fromMicros(created)
	return e, nil
}

// LedgerPeriod is a customer's period: our running total from verified
// deltas beside the internal ledger's records for it.
type LedgerPeriod struct {
	Customer string
	Period   string
	// Total and Deltas are our running total from verified deltas.
	Total  float64
	Deltas int64
	// LedgerAmount and LedgerRecords sum the internal ledger's records.
	LedgerAmount  float64
	LedgerRecords int64
}

// LedgerPeriods lists a customer's periods, newest period id first, that
// have a running total or ledger records; period, when set, selects one.
// It returns a page and how many periods there are in all.
func (s *Store) LedgerPeriods(ctx context.Context, customer, period string, limit, offset int) ([]LedgerPeriod, int, error) {
	match, args := `customer_id = ?`, []any{customer}
	if period != "" {
		match, args = `customer_id = ? AND period_id = ?`, []any{customer, period}
	}
	periods := `SELECT period_id FROM period_totals WHERE ` + match + ` UNION SELECT period_id FROM ledger WHERE ` + match
	both := append(append([]any(nil), args...), args...)
	var total int
	if err := s.readRow(ctx, `SELECT COUNT(*) FROM (`+periods+`) p`, both...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("ledger periods: %w", err)
	}
	rows, err := s.readRows(ctx, `SELECT p.period_id, COALESCE(t.total, 0), COALESCE(t.deltas, 0),
			COALESCE(l.amount, 0), COALESCE(l.n, 0)
		FROM (`+periods+`) p
		LEFT JOIN period_totals t ON t.customer_id = ? AND t.period_id = p.period_id
		LEFT JOIN (SELECT period_id, SUM(amount) AS amount, COUNT(*) AS n FROM ledger WHERE customer_id = ?
			GROUP BY period_id) l ON l.period_id = p.period_id
		ORDER BY p.period_id DESC LIMIT ? OFFSET ?`, append(both, customer, customer, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("ledger periods: %w", err)
	}
	defer rows.Close()
	var out []LedgerPeriod
	for rows.Next() {
		p := LedgerPeriod{Customer: customer}
		if err := rows.Scan(&p.Period, &p.Total, &p.Deltas, &p.LedgerAmount, &p.LedgerRecords); err != nil {
			return nil, 0, fmt.Errorf("ledger periods: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("ledger periods: %w", err)
	}
	return out, total, nil
}
