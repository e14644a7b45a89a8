package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/arbiter-dev/arbiter/engine"
)

// Batch reads: the worker reads the state for a whole batch of events in a
// few queries instead of several per event.

// Key is a (customer, value) pair: a proof hash or a period id.
type Key struct{ Customer, Value string }

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func pairs(n int) string { return strings.TrimSuffix(strings.Repeat("(?, ?), ", n), ", ") }

// LedgerRecords reads the internal ledger records with these referenceIds.
func (s *Store) LedgerRecords(ctx context.Context, refs []string) (map[string]engine.LedgerRecord, error) {
	out := make(map[string]engine.LedgerRecord, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	args := make([]any, len(refs))
	for i, r := range refs {
		args[i] = r
	}
	rows, err := s.r.QueryContext(ctx, `SELECT reference_id, customer_id, amount, period_id, time FROM ledger
		WHERE reference_id IN (`+placeholders(len(refs))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("ledger records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			r  engine.LedgerRecord
			ts int64
		)
		if err := rows.Scan(&r.ReferenceID, &r.CustomerID, &r.Amount, &r.PeriodID, &ts); err != nil {
			return nil, fmt.Errorf("ledger records: %w", err)
		}
		if ts != 0 {
			r.Time = fromMicros(ts).Format(engine.TimeFormat)
		}
		out[r.ReferenceID] = r
	}
	return out, rows.Err()
}

// Chains reads the chain heads of these customers; unknown ones are absent.
func (s *Store) Chains(ctx context.Context, customers []string) (map[string]ChainHead, error) {
	out := make(map[string]ChainHead, len(customers))
	if len(customers) == 0 {
		return out, nil
	}
	args := make([]any, len(customers))
	for i, c := range customers {
		args[i] = c
	}
	rows, err := s.r.QueryContext(ctx, `SELECT customer_id, head, length FROM chains WHERE customer_id IN (`+placeholders(len(customers))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("chains: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h ChainHead
		if err := rows.Scan(&h.Customer, &h.Head, &h.Length); err != nil {
			return nil, fmt.Errorf("chains: %w", err)
		}
		out[h.Customer] = h
	}
	return out, rows.Err()
}

// Proofs reads the stored proofs among keys (customer, proof hash).
func (s *Store) Proofs(ctx context.Context, keys []Key) (map[Key]Proof, error) {
	out := make(map[Key]Proof, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, k.Customer, k.Value)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT customer_id, proof_hash, previous_hash, event_seq, verdict FROM proofs
		WHERE (customer_id, proof_hash) IN (VALUES `+pairs(len(keys))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("proofs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p Proof
		if err := rows.Scan(&p.Customer, &p.Hash, &p.Previous, &p.EventSeq, &p.Verdict); err != nil {
			return nil, fmt.Errorf("proofs: %w", err)
		}
		out[Key{p.Customer, p.Hash}] = p
	}
	return out, rows.Err()
}

// PeriodTotals reads our totals for keys (customer, period id); new periods
// are absent.
func (s *Store) PeriodTotals(ctx context.Context, keys []Key) (map[Key]PeriodTotal, error) {
	out := make(map[Key]PeriodTotal, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, k.Customer, k.Value)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT customer_id, period_id, total, deltas FROM period_totals
		WHERE (customer_id, period_id) IN (VALUES `+pairs(len(keys))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("period totals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p PeriodTotal
		if err := rows.Scan(&p.Customer, &p.Period, &p.Total, &p.Deltas); err != nil {
			return nil, fmt.Errorf("period totals: %w", err)
		}
		out[Key{p.Customer, p.Period}] = p
	}
	return out, rows.Err()
}

// Items reads the local ledger totals of these keys; new keys are absent.
func (s *Store) Items(ctx context.Context, keys []string) (map[string]Item, error) {
	out := make(map[string]Item, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	rows, err := s.r.QueryContext(ctx, `SELECT item_key, bits, writes FROM items WHERE item_key IN (`+placeholders(len(keys))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("items: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var it Item
		if err := rows.Scan(&it.Key, &it.Bits, &it.Writes); err != nil {
			return nil, fmt.Errorf("items: %w", err)
		}
		out[it.Key] = it
	}
	return out, rows.Err()
}

// BatchesApplied returns the batch ids of those of these sequence numbers
// of stream that were applied before.
func (s *Store) BatchesApplied(ctx context.Context, stream string, seqs []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(seqs))
	if len(seqs) == 0 {
		return out, nil
	}
	args := []any{stream}
	for _, q := range seqs {
		args = append(args, q)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT seq, batch_id FROM batches WHERE stream = ? AND seq IN (`+placeholders(len(seqs))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("batches applied: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			q  int64
			id string
		)
		if err := rows.Scan(&q, &id); err != nil {
			return nil, fmt.Errorf("batches applied: %w", err)
		}
		out[q] = id
	}
	return out, rows.Err()
}

// NextBatch is the lowest applied batch of stream above seq.
func (s *Store) NextBatch(ctx context.Context, stream string, seq int64) (next int64, id string, ok bool, err error) {
	err = s.readRow(ctx, `SELECT seq, batch_id FROM batches WHERE stream = ? AND seq > ? ORDER BY seq LIMIT 1`, stream, seq).Scan(&next, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, fmt.Errorf("next batch: %w", err)
	}
	return next, id, true, nil
}
