package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
)

// Reads and bulk changes of the operator's views (the admin API and the
// console) that the agent's own loop never needs.

// FailedDeliveries counts the failed deliveries (dead letters) of each
// plugin. It reads the failed rows of the status index only.
func (s *Store) FailedDeliveries(ctx context.Context) (map[string]int64, error) {
	rows, err := s.readRows(ctx, `SELECT plugin, COUNT(*) FROM deliveries WHERE status = ? GROUP BY plugin`,
		string(engine.DeliveryFailed))
	if err != nil {
		return nil, fmt.Errorf("failed deliveries: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var (
			plugin string
			n      int64
		)
		if err := rows.Scan(&plugin, &n); err != nil {
			return nil, fmt.Errorf("failed deliveries: %w", err)
		}
		out[plugin] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("failed deliveries: %w", err)
	}
	return out, nil
}

// ErrCountChanged is returned by RetryDeliveries when the deliveries that
// match are not as many as the caller expected.
var ErrCountChanged = errors.New("the matching deliveries changed")

// RetryDeliveries retries, as RetryDelivery does one, every failed delivery
// q selects (its status, order and window are ignored), in one
// transaction. With expect >= 0 it first counts them, and retries nothing
// and returns the count with ErrCountChanged unless there are exactly
// expect; with dryRun it only counts. It returns how many matched.
func (s *Store) RetryDeliveries(ctx context.Context, q DeliveryQuery, expect int, dryRun bool, now time.Time) (int, error) {
	q.Status, q.Limit, q.Offset = engine.DeliveryFailed, 0, 0
	where, args := q.where()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("retry deliveries: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("retry deliveries: %w", err)
	}
	if dryRun {
		return n, nil
	}
	if expect >= 0 && n != expect {
		return n, ErrCountChanged
	}
	res, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = ?, next_attempt_at = ?, updated_at = ?,
		retried_after = attempts`+where, append([]any{string(engine.DeliveryPending), micros(now), micros(now)}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("retry deliveries: %w", err)
	}
	if m, err := res.RowsAffected(); err != nil || int(m) != n {
		return 0, fmt.Errorf("retry deliveries: updated %d of %d: %v", m, n, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("retry deliveries: %w", err)
	}
	return n, nil
}
