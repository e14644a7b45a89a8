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

// TimelineEntry is one event of a stream, with what its decision recorded
// about the chain and the period. The decision's fields are empty until it
// is decided.
type TimelineEntry struct {
	Seq               int64
	EventID           string
	Type              string
	Status            engine.EventStatus
	ReceivedAt        time.Time
	Decided           bool
	Chain             string // the chain verdict: engine.ChainLinked, ChainGap, …
	ProofHash         string
	PreviousProofHash string
	Period            string
	PacSpaceTotal     sql.NullFloat64 // period.netDelta, as PacSpace reported it
	OurTotal          sql.NullFloat64 // state.period.ours, with this event's delta; null for events that carry no delta
	Reasons           []string
}

// Timeline reads the newest limit events of stream received before
// beforeSeq (0: the newest), newest first.
func (s *Store) Timeline(ctx context.Context, stream string, beforeSeq int64, limit int) ([]TimelineEntry, error) {
	if beforeSeq <= 0 {
		beforeSeq = math.MaxInt64
	}
	rows, err := s.readRows(ctx, `SELECT e.seq, e.event_id, e.event_type, e.status, e.received_at, d.event_seq IS NOT NULL,
			COALESCE(json_extract(d.input, '$.state.chain.status'), ''),
			COALESCE(json_extract(d.input, '$.proof.proofHash'), ''),
			COALESCE(json_extract(d.input, '$.proof.previousProofHash'), ''),
			COALESCE(json_extract(d.input, '$.period.id'), ''),
			json_extract(d.input, '$.period.netDelta'),
			json_extract(d.input, '$.state.period.ours'),
			COALESCE((SELECT group_concat(reason, ' ') FROM decision_actions a WHERE a.event_seq = e.seq), '')
		FROM events e LEFT JOIN decisions d ON d.event_seq = e.seq
		WHERE e.stream = ? AND e.seq < ? ORDER BY e.seq DESC LIMIT ?`, stream, beforeSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("timeline %s: %w", stream, err)
	}
	defer rows.Close()
	var out []TimelineEntry
	for rows.Next() {
		var (
			t       TimelineEntry
			status  string
			recv    int64
			reasons string
		)
		if err := rows.Scan(&t.Seq, &t.EventID, &t.Type, &status, &recv, &t.Decided, &t.Chain, &t.ProofHash,
			&t.PreviousProofHash, &t.Period, &t.PacSpaceTotal, &t.OurTotal, &reasons); err != nil {
			return nil, fmt.Errorf("timeline %s: %w", stream, err)
		}
		t.Status, t.ReceivedAt, t.Reasons = engine.EventStatus(status), fromMicros(recv), strings.Fields(reasons)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("timeline %s: %w", stream, err)
	}
	return out, nil
}

// ReportedTotal is the last period total PacSpace reported for a period.
type ReportedTotal struct {
	PacSpace float64         // period.netDelta
	Ours     sql.NullFloat64 // our total then, with that event's delta; null for an event without a delta
	EventID  string
	Drift    bool // the decision raised period_drift
}

// reportScan bounds how many of a stream's newest decided events
// ReportedTotals reads: periods reported only before them have none.
const reportScan = 2000

// ReportedTotals reads, for each period among the newest decided events
// of stream, the total PacSpace reported last.
func (s *Store) ReportedTotals(ctx context.Context, stream string) (map[string]ReportedTotal, error) {
	rows, err := s.readRows(ctx, `SELECT json_extract(d.input, '$.period.id'), json_extract(d.input, '$.period.netDelta'),
			json_extract(d.input, '$.state.period.ours'), e.event_id,
			EXISTS (SELECT 1 FROM decision_actions a WHERE a.event_seq = e.seq AND a.reason = 'period_drift')
		FROM events e JOIN decisions d ON d.event_seq = e.seq
		WHERE e.stream = ? ORDER BY e.seq DESC LIMIT ?`, stream, reportScan)
	if err != nil {
		return nil, fmt.Errorf("reported totals %s: %w", stream, err)
	}
	defer rows.Close()
	out := map[string]ReportedTotal{}
	for rows.Next() {
		var (
			period   sql.NullString
			pacspace sql.NullFloat64
			r        ReportedTotal
		)
		if err := rows.Scan(&period, &pacspace, &r.Ours, &r.EventID, &r.Drift); err != nil {
			return nil, fmt.Errorf("reported totals %s: %w", stream, err)
		}
		if _, seen := out[period.String]; seen || !period.Valid || !pacspace.Valid {
			continue
		}
		r.PacSpace = pacspace.Float64
		out[period.String] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reported totals %s: %w", stream, err)
	}
	return out, nil
}
