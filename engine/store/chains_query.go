package store

import (
	"context"
	"fmt"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
)

// ChainSummary is a customer's proof chain: its head, and how many of its
// proofs broke it.
type ChainSummary struct {
	ChainHead
	UpdatedAt   time.Time
	Gaps, Forks int64
}

// ChainBreak is a proof recorded as a gap or a fork, with its event.
type ChainBreak struct {
	Proof
	EventID    string
	ReceivedAt time.Time
}

// breakVerdicts is the condition of the proofs_breaks partial index, spelled
// as there so that SQLite uses it.
const breakVerdicts = `verdict IN ('` + engine.ChainGap + `', '` + engine.ChainFork + `')`

// ChainSummaries reads a page of chains in customer order, and how many
// chains there are.
func (s *Store) ChainSummaries(ctx context.Context, limit, offset int) ([]ChainSummary, int, error) {
	var total int
	if err := s.readRow(ctx, `SELECT COUNT(*) FROM chains`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("chain summaries: %w", err)
	}
	out, err := s.chainSummaries(ctx, `ORDER BY customer_id LIMIT ? OFFSET ?`, limit, offset)
	return out, total, err
}

// ChainSummary reads one customer's chain; ok is false when it has none.
func (s *Store) ChainSummary(ctx context.Context, customer string) (ChainSummary, bool, error) {
	out, err := s.chainSummaries(ctx, `WHERE customer_id = ?`, customer)
	if err != nil || len(out) == 0 {
		return ChainSummary{}, false, err
	}
	return out[0], true, nil
}

func (s *Store) chainSummaries(ctx context.Context, clause string, args ...any) ([]ChainSummary, error) {
	rows, err := s.readRows(ctx, `SELECT customer_id, head, length, updated_at FROM chains `+clause, args...)
	if err != nil {
		return nil, fmt.Errorf("chain summaries: %w", err)
	}
	defer rows.Close()
	var (
		out       []ChainSummary
		customers []any
	)
	for rows.Next() {
		var (
			c       ChainSummary
			updated int64
		)
		if err := rows.Scan(&c.Customer, &c.Head, &c.Length, &updated); err != nil {
			return nil, fmt.Errorf("chain summaries: %w", err)
		}
		c.UpdatedAt = fromMicros(updated)
		out = append(out, c)
		customers = append(customers, c.Customer)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("chain summaries: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	counts, err := s.r.QueryContext(ctx, `SELECT customer_id, verdict, COUNT(*) FROM proofs
		WHERE customer_id IN (`+placeholders(len(customers))+`) AND `+breakVerdicts+`
		GROUP BY customer_id, verdict`, customers...)
	if err != nil {
		return nil, fmt.Errorf("chain summaries: %w", err)
	}
	defer counts.Close()
	index := make(map[string]*ChainSummary, len(out))
	for i := range out {
		index[out[i].Customer] = &out[i]
	}
	for counts.Next() {
		var (
			customer, verdict string
			n                 int64
		)
		if err := counts.Scan(&customer, &verdict, &n); err != nil {
			return nil, fmt.Errorf("chain summaries: %w", err)
		}
		if verdict == engine.ChainGap {
			index[customer].Gaps = n
		} else {
			index[customer].Forks = n
		}
	}
	if err := counts.Err(); err != nil {
		return nil, fmt.Errorf("chain summaries: %w", err)
	}
	return out, nil
}

// ChainBreaks reads the newest limit gaps and forks of a customer's chain,
// newest first.
func (s *Store) ChainBreaks(ctx context.Context, customer string, limit int) ([]ChainBreak, error) {
	rows, err := s.readRows(ctx, `SELECT p.proof_hash, p.previous_hash, p.event_seq, p.verdict, e.event_id, e.received_at
		FROM proofs p JOIN events e ON e.seq = p.event_seq
		WHERE p.customer_id = ? AND p.`+breakVerdicts+`
		ORDER BY p.event_seq DESC LIMIT ?`, customer, limit)
	if err != nil {
		return nil, fmt.Errorf("chain breaks %s: %w", customer, err)
	}
	defer rows.Close()
	var out []ChainBreak
	for rows.Next() {
		b := ChainBreak{Proof: Proof{Customer: customer}}
		var recv int64
		if err := rows.Scan(&b.Hash, &b.Previous, &b.EventSeq, &b.Verdict, &b.EventID, &recv); err != nil {
			return nil, fmt.Errorf("chain breaks %s: %w", customer, err)
		}
		b.ReceivedAt = fromMicros(recv)
		out = append(out, b)
	}
	return out, rows.Err()
}
