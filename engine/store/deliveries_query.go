package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
)

// DeliverySort is a column the delivery history is ordered by.
type DeliverySort string

// Delivery history orders. Ties are broken by id, so pages are stable.
const (
	SortCreated   DeliverySort = "created_at"
	SortDelivered DeliverySort = "delivered_at" // never delivered sorts as earliest
	SortAttempts  DeliverySort = "attempts"
)

// DeliveryQuery selects deliveries from the history; every field set
// filters.
type DeliveryQuery struct {
	Status     engine.DeliveryStatus
	Plugin     string
	EventID    string // any endpoint's event of that X-Event-ID
	EventSeq   int64  // exactly this inbox event
	ActionType string
	From, To   time.Time // created in [From, To); a zero bound is open
	// UpdatedThrough, when set, keeps the deliveries last changed at or
	// before it: a bulk action acts on what its preview counted.
	UpdatedThrough time.Time
	SortBy         DeliverySort // default SortCreated
	Desc           bool
	Limit          int // 0: every row
	Offset         int
}

// where is the query's WHERE clause and its arguments.
func (q DeliveryQuery) where() (string, []any) {
	var (
		conds []string
		args  []any
	)
	add := func(cond string, arg any) {
		conds = append(conds, cond)
		args = append(args, arg)
	}
	if q.Status != "" {
		add("status = ?", string(q.Status))
	}
	if q.Plugin != "" {
		add("plugin = ?", q.Plugin)
	}
	if q.EventSeq != 0 {
		add("event_seq = ?", q.EventSeq)
	}
	if q.EventID != "" {
		add("event_seq IN (SELECT seq FROM events WHERE endpoint IN ("+inboxEndpoints+") AND event_id = ?)", q.EventID)
	}
	if q.ActionType != "" {
		add("action_type = ?", q.ActionType)
	}
	if !q.From.IsZero() {
		add("created_at >= ?", micros(q.From))
	}
	if !q.To.IsZero() {
		add("created_at < ?", micros(q.To))
	}
	if !q.UpdatedThrough.IsZero() {
		add("updated_at <= ?", micros(q.UpdatedThrough))
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// sql is the query's SELECT with order and window.
func (q DeliveryQuery) sql() (string, []any, error) {
	col := q.SortBy
	switch col {
	case "":
		col = SortCreated
	case SortCreated, SortDelivered, SortAttempts:
	default:
		return "", nil, fmt.Errorf("unknown delivery sort %q", col)
	}
	dir := " ASC"
	if q.Desc {
		dir = " DESC"
	}
	where, args := q.where()
	s := `SELECT ` + deliveryListColumns + ` FROM deliveries` + where +
		` ORDER BY ` + string(col) + dir + `, id` + dir
	if q.Limit > 0 || q.Offset > 0 {
		limit := int64(q.Limit)
		if limit <= 0 {
			limit = math.MaxInt64 // an offset needs a limit in SQLite
		}
		s += ` LIMIT ? OFFSET ?`
		args = append(args, limit, q.Offset)
	}
	return s, args, nil
}

// deliveryListColumns are what the history shows: neither the action body
// nor the event summary, which only a single delivery's view needs.
const deliveryListColumns = `id, event_seq, event_id, plugin, action_index, action_type, idempotency_key,
	status, attempts, last_error, next_attempt_at, created_at, delivered_at`

func scanDeliveryListRow(row scanner) (Delivery, error) {
	var (
		d                        Delivery
		status                   string
		next, created, delivered int64
	)
	err := row.Scan(&d.ID, &d.EventSeq, &d.EventID, &d.Plugin, &d.ActionIndex, &d.ActionType, &d.IdempotencyKey,
		&status, &d.Attempts, &d.LastError, &next, &created, &delivered)
	d.Status = engine.DeliveryStatus(status)
	d.NextAttemptAt, d.CreatedAt, d.DeliveredAt = fromMicros(next), fromMicros(created), fromMicros(delivered)
	return d, err
}

// EachDelivery calls fn with every delivery q selects, in order, straight
// from the database cursor, so memory stays flat however many there are.
// The rows carry no Action and no event summary. It stops at fn's first
// error and returns it.
func (s *Store) EachDelivery(ctx context.Context, q DeliveryQuery, fn func(Delivery) error) error {
	query, args, err := q.sql()
	if err != nil {
		return fmt.Errorf("deliveries: %w", err)
	}
	rows, err := s.readRows(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDeliveryListRow(rows)
		if err != nil {
			return fmt.Errorf("deliveries: %w", err)
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("deliveries: %w", err)
	}
	return nil
}

// Deliveries returns the page of deliveries q selects and how many match q
// without its window.
func (s *Store) Deliveries(ctx context.Context, q DeliveryQuery) ([]Delivery, int, error) {
	var out []Delivery
	err := s.EachDelivery(ctx, q, func(d Delivery) error {
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	where, args := q.where()
	var total int
	if err := s.readRow(ctx, `SELECT COUNT(*) FROM deliveries`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count deliveries: %w", err)
	}
	return out, total, nil
}

// RetryDelivery makes a failed delivery pending and due at now, with a
// fresh set of attempts: those made are kept, the next one is numbered
// after them, and the dispatcher's limit counts from there. It returns the
// status the delivery had: only a failed one changes.
func (s *Store) RetryDelivery(ctx context.Context, id string, now time.Time) (engine.DeliveryStatus, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE deliveries SET status = ?, next_attempt_at = ?, updated_at = ?,
		retried_after = attempts WHERE id = ? AND status = ?`,
		string(engine.DeliveryPending), micros(now), micros(now), id, string(engine.DeliveryFailed))
	if err != nil {
		return "", fmt.Errorf("retry delivery %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		return engine.DeliveryFailed, nil
	}
	var status string
	err = s.readRow(ctx, `SELECT status FROM deliveries WHERE id = ?`, id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("retry delivery %s: %w", id, engine.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("retry delivery %s: %w", id, err)
	}
	return engine.DeliveryStatus(status), nil
}
