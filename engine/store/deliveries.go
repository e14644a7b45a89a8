package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
)

// Delivery is one action routed to one plugin, with what the dispatcher
// needs to invoke it.
type Delivery struct {
	ID             string
	EventSeq       int64
	EventID        string
	EventType      string
	Endpoint       string
	Stream         string
	EventReceived  time.Time
	Plugin         string
	ActionIndex    int
	ActionType     string
	Action         []byte
	IdempotencyKey string
	Status         engine.DeliveryStatus
	Attempts       int
	RetriedAfter   int // attempts made before the last manual retry; the retry budget counts from here
	LastError      string
	NextAttemptAt  time.Time
	CreatedAt      time.Time
	DeliveredAt    time.Time
}

// Attempt is the outcome of one delivery attempt.
type Attempt struct {
	DeliveryID string
	Attempt    int
	StartedAt  time.Time
	Duration   time.Duration
	Result     string // ok, retry, fail, or error
	Error      string
	// The delivery's new state.
	Status        engine.DeliveryStatus
	NextAttemptAt time.Time
}

const deliveryColumns = `d.id, d.event_seq, d.event_id, e.event_type, e.endpoint, e.stream, e.received_at, d.plugin,
	d.action_index, d.action_type, d.action, d.idempotency_key, d.status, d.attempts, d.retried_after,
	d.last_error, d.next_attempt_at, d.created_at, d.delivered_at`

func scanDelivery(row scanner) (Delivery, error) {
	var (
		d                              Delivery
		status, action                 string
		recv, next, created, delivered int64
	)
	err := row.Scan(&d.ID, &d.EventSeq, &d.EventID, &d.EventType, &d.Endpoint, &d.Stream, &recv, &d.Plugin,
		&d.ActionIndex, &d.ActionType, &action, &d.IdempotencyKey, &status, &d.Attempts, &d.RetriedAfter,
		&d.LastError, &next, &created, &delivered)
	if err != nil {
		return d, err
	}
	d.Action, d.Status = []byte(action), engine.DeliveryStatus(status)
	d.EventReceived, d.NextAttemptAt = fromMicros(recv), fromMicros(next)
	d.CreatedAt, d.DeliveredAt = fromMicros(created), fromMicros(delivered)
	return d, nil
}

// ClaimDue leases up to limit pending deliveries of plugin that are due at
// now: their next attempt moves to now+lease, so a dispatcher that dies
// mid-delivery leaves them to be retried after the lease, never lost.
func (s *Store) ClaimDue(ctx context.Context, plugin string, now time.Time, lease time.Duration, limit int) ([]Delivery, error) {
	// Look on a reader first: the writer is shared with every
	// acknowledgement, and most rounds find nothing due.
	var due bool
	if err := s.readRow(ctx, `SELECT EXISTS (SELECT 1 FROM deliveries
		WHERE status = ? AND next_attempt_at <= ? AND plugin = ?)`,
		string(engine.DeliveryPending), micros(now), plugin).Scan(&due); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	if !due {
		return nil, nil
	}
	var out []Delivery
	err := s.relaxedTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries d JOIN events e ON e.seq = d.event_seq
			WHERE d.status = ? AND d.plugin = ? AND d.next_attempt_at <= ?
			ORDER BY d.next_attempt_at, d.created_at, d.id LIMIT ?`,
			string(engine.DeliveryPending), plugin, micros(now), limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, d := range out {
			if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = ?, updated_at = ? WHERE id = ?`,
				micros(now.Add(lease)), micros(now), d.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return out, nil
}

// NextDue is when the earliest pending delivery of any plugin is due; ok is
// false when none is pending.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var v sql.NullInt64
	err := s.readRow(ctx, `SELECT MIN(next_attempt_at) FROM deliveries WHERE status = ?`,
		string(engine.DeliveryPending)).Scan(&v)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due delivery: %w", err)
	}
	if !v.Valid {
		return time.Time{}, false, nil
	}
	return fromMicros(v.Int64), true, nil
}

// FinishAttempts records attempts and moves their deliveries to their new
// states, in one transaction. Losing it to a power cut only means those
// deliveries are made again, with the same idempotency keys, so it commits
// without its own fsync. An attempt whose delivery is no longer pending
// (retried by an operator meanwhile) is recorded and changes nothing.
func (s *Store) FinishAttempts(ctx context.Context, as []Attempt) error {
	now := micros(time.Now())
	err := s.relaxedTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, a := range as {
			var delivered int64
			if a.Status == engine.DeliveryDelivered {
				delivered = now
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO delivery_attempts (delivery_id, attempt, started_at, duration_us, result, error)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (delivery_id, attempt) DO NOTHING`,
				a.DeliveryID, a.Attempt, micros(a.StartedAt), a.Duration.Microseconds(), a.Result, a.Error); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = ?, attempts = ?, last_error = ?, next_attempt_at = ?,
					delivered_at = ?, updated_at = ?
				WHERE id = ? AND status = ?`,
				string(a.Status), a.Attempt, a.Error, micros(a.NextAttemptAt), delivered, now, a.DeliveryID,
				string(engine.DeliveryPending)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish attempts: %w", err)
	}
	return nil
}

// DeliveryAttempt is one stored attempt.
type DeliveryAttempt struct {
	Attempt   int
	StartedAt time.Time
	Duration  time.Duration
	Result    string
	Error     string
}

// Delivery reads one delivery with its attempts.
func (s *Store) Delivery(ctx context.Context, id string) (Delivery, []DeliveryAttempt, error) {
	d, err := scanDelivery(s.readRow(ctx, `SELECT `+deliveryColumns+` FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, nil, fmt.Errorf("delivery %s: %w", id, engine.ErrNotFound)
	}
	if err != nil {
		return d, nil, fmt.Errorf("delivery %s: %w", id, err)
	}
	rows, err := s.readRows(ctx, `SELECT attempt, started_at, duration_us, result, error FROM delivery_attempts
		WHERE delivery_id = ? ORDER BY attempt`, id)
	if err != nil {
		return d, nil, fmt.Errorf("delivery %s: %w", id, err)
	}
	defer rows.Close()
	var out []DeliveryAttempt
	for rows.Next() {
		var (
			a       DeliveryAttempt
			st, dur int64
		)
		if err := rows.Scan(&a.Attempt, &st, &dur, &a.Result, &a.Error); err != nil {
			return d, nil, fmt.Errorf("delivery %s: %w", id, err)
		}
		a.StartedAt, a.Duration = fromMicros(st), time.Duration(dur)*time.Microsecond
		out = append(out, a)
	}
	return d, out, rows.Err()
}

// DeliveryCounts counts deliveries by plugin and status.
func (s *Store) DeliveryCounts(ctx context.Context) (map[string]map[engine.DeliveryStatus]int64, error) {
	rows, err := s.readRows(ctx, `SELECT plugin, status, COUNT(*) FROM deliveries GROUP BY plugin, status`)
	if err != nil {
		return nil, fmt.Errorf("delivery counts: %w", err)
	}
	defer rows.Close()
	out := map[string]map[engine.DeliveryStatus]int64{}
	for rows.Next() {
		var (
			plugin, status string
			n              int64
		)
		if err := rows.Scan(&plugin, &status, &n); err != nil {
			return nil, fmt.Errorf("delivery counts: %w", err)
		}
		if out[plugin] == nil {
			out[plugin] = map[engine.DeliveryStatus]int64{}
		}
		out[plugin][engine.DeliveryStatus(status)] = n
	}
	return out, rows.Err()
}

// PluginKV is the plugins' key-value store, scoped by plugin instance name;
// it backs the wasm host's kv_get and kv_set.
type PluginKV struct{ s *Store }

// PluginKV returns the plugins' key-value store.
func (s *Store) PluginKV() PluginKV { return PluginKV{s} }

// Get reads a plugin's key.
func (kv PluginKV) Get(ctx context.Context, plugin, key string) ([]byte, bool, error) {
	var v []byte
	err := kv.s.readRow(ctx, `SELECT value FROM plugin_kv WHERE plugin = ? AND kv_key = ?`, plugin, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("plugin kv get: %w", err)
	}
	return v, true, nil
}

// Put writes a plugin's key.
func (kv PluginKV) Put(ctx context.Context, plugin, key string, value []byte) error {
	_, err := kv.s.w.ExecContext(ctx, `INSERT INTO plugin_kv (plugin, kv_key, value, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (plugin, kv_key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		plugin, key, value, micros(time.Now()))
	if err != nil {
		return fmt.Errorf("plugin kv put: %w", err)
	}
	return nil
}

// FailUnknownPlugins fails pending deliveries to plugins not in known.
func (s *Store) FailUnknownPlugins(ctx context.Context, known []string, now time.Time) (int64, error) {
	where := ` WHERE status = ?`
	args := []any{string(engine.DeliveryPending)}
	if len(known) > 0 {
		where += ` AND plugin NOT IN (` + placeholders(len(known)) + `)`
		for _, k := range known {
			args = append(args, k)
		}
	}
	// As in ClaimDue: a reader answers the usual "none".
	var found bool
	if err := s.readRow(ctx, `SELECT EXISTS (SELECT 1 FROM deliveries`+where+`)`, args...).Scan(&found); err != nil {
		return 0, fmt.Errorf("fail unknown plugins: %w", err)
	}
	if !found {
		return 0, nil
	}
	args = append([]any{string(engine.DeliveryFailed), "no plugin instance of that name is configured", micros(now)}, args...)
	res, err := s.w.ExecContext(ctx, `UPDATE deliveries SET status = ?, last_error = ?, updated_at = ?`+where, args...)
	if err != nil {
		return 0, fmt.Errorf("fail unknown plugins: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// ReleaseDeliveries makes pending deliveries claimed but not attempted due
// again at now.
func (s *Store) ReleaseDeliveries(ctx context.Context, ids []string, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	args := []any{micros(now), micros(now), string(engine.DeliveryPending)}
	for _, id := range ids {
		args = append(args, id)
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE deliveries SET next_attempt_at = ?, updated_at = ? WHERE status = ? AND id IN (`+
		placeholders(len(ids))+`)`, args...); err != nil {
		return fmt.Errorf("release deliveries: %w", err)
	}
	return nil
}

// KVEntry is one key of a plugin's key-value store.
type KVEntry struct {
	Key       string
	Value     []byte
	UpdatedAt time.Time
}

// List returns a page of a plugin's keys that start with prefix, in key
// order (descending with desc), and how many keys match.
func (kv PluginKV) List(ctx context.Context, plugin, prefix string, desc bool, limit, offset int) ([]KVEntry, int, error) {
	// Keys in [prefix, prefix+U+10FFFF): a range of the primary key, where
	// LIKE would need escaping and scan.
	lo, hi := prefix, prefix+"\U0010FFFF"
	order := "ASC"
	if desc {
		order = "DESC"
	}
	rows, err := kv.s.readRows(ctx, `SELECT kv_key, value, updated_at FROM plugin_kv
		WHERE plugin = ? AND kv_key >= ? AND kv_key < ? ORDER BY kv_key `+order+` LIMIT ? OFFSET ?`,
		plugin, lo, hi, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("plugin kv list: %w", err)
	}
	defer rows.Close()
	var out []KVEntry
	for rows.Next() {
		var (
			e       KVEntry
			updated int64
		)
		if err := rows.Scan(&e.Key, &e.Value, &updated); err != nil {
			return nil, 0, fmt.Errorf("plugin kv list: %w", err)
		}
		e.UpdatedAt = fromMicros(updated)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("plugin kv list: %w", err)
	}
	var total int
	if err := kv.s.readRow(ctx, `SELECT COUNT(*) FROM plugin_kv WHERE plugin = ? AND kv_key >= ? AND kv_key < ?`,
		plugin, lo, hi).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("plugin kv list: %w", err)
	}
	return out, total, nil
}
