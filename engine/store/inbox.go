package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("store is closed")

const insertEventSQL = `INSERT INTO events
	(endpoint, event_id, digest, scheme, headers, body, received_at, status)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT DO NOTHING`

type appendReq struct {
	ev   *engine.Event
	res  engine.AppendResult
	err  error
	done chan struct{}
}

// Append queues ev for the next group commit and waits for it. An event
// whose endpoint and id, or endpoint and body digest, are already stored is
// reported as a duplicate and not stored again.
func (s *Store) Append(ctx context.Context, ev *engine.Event) (engine.AppendResult, error) {
	req := &appendReq{ev: ev, done: make(chan struct{})}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return engine.AppendResult{}, ErrClosed
	}
	select {
	case s.appends <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return engine.AppendResult{}, fmt.Errorf("append event: %w", ctx.Err())
	}
	s.mu.RUnlock()
	// Once queued the commit goes ahead regardless of ctx; wait for it so the
	// caller never acknowledges an event that is not yet durable.
	<-req.done
	return req.res, req.err
}

// writeLoop is the group committer: it takes whatever appends are queued,
// up to maxBatch, and commits them in one transaction (one fsync). Requests
// that arrive during a commit form the next batch.
func (s *Store) writeLoop() {
	defer close(s.done)
	batch := make([]*appendReq, 0, s.maxBatch)
	for req := range s.appends {
		batch = append(batch[:0], req)
	fill:
		for len(batch) < s.maxBatch {
			select {
			case r, ok := <-s.appends:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		err := s.commitAppends(batch)
		for _, r := range batch {
			if err != nil {
				r.err, r.res = err, engine.AppendResult{}
			}
			close(r.done)
		}
	}
}

func (s *Store) commitAppends(batch []*appendReq) error {
	evs := make([]*engine.Event, len(batch))
	for i, r := range batch {
		evs[i] = r.ev
	}
	res, err := s.insertEvents(evs, nil)
	if err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	for i, r := range batch {
		r.res = res[i]
	}
	return nil
}

// insertEvents inserts evs in one transaction, skipping those already
// stored, and, when through is not nil, records *through as the last loaded
// journal record in the same transaction.
func (s *Store) insertEvents(evs []*engine.Event, through *uint64) ([]engine.AppendResult, error) {
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	res := make([]engine.AppendResult, len(evs))
	stmt := tx.StmtContext(ctx, s.insertEvent)
	for i, ev := range evs {
		headers, err := json.Marshal(ev.Headers)
		if err != nil {
			return nil, fmt.Errorf("headers: %w", err)
		}
		r, err := stmt.ExecContext(ctx, ev.Endpoint, ev.EventID, ev.Digest, string(ev.Scheme),
			string(headers), ev.Body, micros(ev.ReceivedAt), string(engine.StatusReceived))
		if err != nil {
			return nil, fmt.Errorf("insert: %w", err)
		}
		res[i], err = appendResult(r)
		if err != nil {
			return nil, fmt.Errorf("insert: %w", err)
		}
	}
	if through != nil {
		if _, err := tx.ExecContext(ctx, `UPDATE journal_checkpoint SET seq = ? WHERE id = 1`, int64(*through)); err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	for _, r := range res {
		if !r.Duplicate {
			s.stored.Add(1)
		}
	}
	return res, nil
}

// LoadJournal stores evs, the inbox journal's records up to and including
// through, and moves the journal checkpoint to through, all in one
// transaction: after a crash the journal replays exactly what is missing.
// Events already stored are skipped and reported as duplicates.
func (s *Store) LoadJournal(ctx context.Context, evs []*engine.Event, through uint64) ([]engine.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load journal: %w", err)
	}
	res, err := s.insertEvents(evs, &through)
	if err != nil {
		return nil, fmt.Errorf("load journal: %w", err)
	}
	return res, nil
}

// appendResult reads an insert's outcome: no row means ON CONFLICT skipped
// a duplicate; otherwise the new row's id is the event's seq. Exec with
// these two reads costs less than RETURNING's rows and scan
// (BenchmarkLoadJournal).
func appendResult(r sql.Result) (engine.AppendResult, error) {
	n, err := r.RowsAffected()
	if err != nil || n == 0 {
		return engine.AppendResult{Duplicate: err == nil}, err
	}
	seq, err := r.LastInsertId()
	return engine.AppendResult{Seq: seq}, err
}

// Sync makes every commit so far durable. With sync "full" each one is
// already. With "normal" the last ones may be in the page cache only:
// Sync commits one more write at FULL, whose fsync of the WAL covers the
// commits written before it. The inbox calls it before it deletes journal
// segments that the checkpoint covers.
func (s *Store) Sync(ctx context.Context) error {
	if s.sync == SyncFull {
		return nil
	}
	// A row that changes: SQLite writes nothing for an update that does not.
	err := s.atSynchronous(ctx, SyncFull, func(conn *sql.Conn) error {
		_, err := conn.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES ('store.syncs', '1', ?)
			ON CONFLICT (name) DO UPDATE SET value = CAST(value AS INTEGER) + 1, updated_at = excluded.updated_at`, micros(time.Now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("sync store: %w", err)
	}
	return nil
}

// JournalCheckpoint returns the last inbox journal record loaded.
func (s *Store) JournalCheckpoint(ctx context.Context) (uint64, error) {
	var seq int64
	if err := s.w.QueryRowContext(ctx, `SELECT seq FROM journal_checkpoint WHERE id = 1`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("journal checkpoint: %w", err)
	}
	return uint64(seq), nil
}

// Seen reports whether an event with this endpoint and event id, or this
// endpoint and body digest, is stored.
func (s *Store) Seen(ctx context.Context, endpoint, eventID, digest string) (bool, error) {
	var n int
	err := s.readRow(ctx, `SELECT (SELECT COUNT(*) FROM events WHERE endpoint = ? AND event_id = ?)
		+ (SELECT COUNT(*) FROM events WHERE endpoint = ? AND digest = ?)`,
		endpoint, eventID, endpoint, digest).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("seen: %w", err)
	}
	return n > 0, nil
}

// DedupeKeys calls fn with the endpoint, event id and digest of every
// stored event, in no particular order.
func (s *Store) DedupeKeys(ctx context.Context, fn func(endpoint, eventID, digest string)) error {
	rows, err := s.r.QueryContext(ctx, `SELECT endpoint, event_id, digest FROM events`)
	if err != nil {
		return fmt.Errorf("dedupe keys: %w", err)
	}
	defer rows.Close()
	var endpoint, id, digest string
	for rows.Next() {
		if err := rows.Scan(&endpoint, &id, &digest); err != nil {
			return fmt.Errorf("dedupe keys: %w", err)
		}
		fn(endpoint, id, digest)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("dedupe keys: %w", err)
	}
	return nil
}

// InboxStats counts stored and unprocessed events.
func (s *Store) InboxStats(ctx context.Context) (engine.InboxStats, error) {
	var st engine.InboxStats
	st.Events = s.stored.Load()
	err := s.readRow(ctx, `SELECT COUNT(*) FROM events WHERE status IN (?, ?)`,
		string(engine.StatusReceived), string(engine.StatusHeld)).Scan(&st.Pending)
	if err != nil {
		return st, fmt.Errorf("inbox stats: %w", err)
	}
	return st, nil
}

// Event reads one stored event by its sequence number.
func (s *Store) Event(ctx context.Context, seq int64) (engine.Event, error) {
	var (
		ev      engine.Event
		scheme  string
		status  string
		headers string
		recv    int64
	)
	err := s.readRow(ctx, `SELECT seq, endpoint, event_id, digest, scheme, headers, body, received_at, status, error
		FROM events WHERE seq = ?`, seq).Scan(&ev.Seq, &ev.Endpoint, &ev.EventID, &ev.Digest, &scheme, &headers, &ev.Body, &recv, &status, &ev.Error)
	if errors.Is(err, sql.ErrNoRows) {
		return ev, fmt.Errorf("event %d: %w", seq, engine.ErrNotFound)
	}
	if err != nil {
		return ev, fmt.Errorf("event %d: %w", seq, err)
	}
	ev.Scheme, ev.Status, ev.ReceivedAt = engine.Scheme(scheme), engine.EventStatus(status), fromMicros(recv)
	if err := json.Unmarshal([]byte(headers), &ev.Headers); err != nil {
		return ev, fmt.Errorf("event %d: headers: %w", seq, err)
	}
	return ev, nil
}
