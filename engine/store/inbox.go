package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/arbiter-dev/arbiter/engine"
)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("store is closed")

const insertEventSQL = `INSERT INTO events
	(endpoint, event_id, digest, scheme, headers, body, received_at, status)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT DO NOTHING
	RETURNING seq`

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
	ctx := context.Background()
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("append events: begin: %w", err)
	}
	stmt := tx.StmtContext(ctx, s.insertEvent)
	for _, r := range batch {
		ev := r.ev
		headers, err := json.Marshal(ev.Headers)
		if err != nil {
			tx.Rollback()
			return fmt.Errorf("append events: headers: %w", err)
		}
		var seq int64
		err = stmt.QueryRowContext(ctx, ev.Endpoint, ev.EventID, ev.Digest, string(ev.Scheme),
			string(headers), ev.Body, micros(ev.ReceivedAt), string(engine.StatusReceived)).Scan(&seq)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			r.res = engine.AppendResult{Duplicate: true}
		case err != nil:
			tx.Rollback()
			return fmt.Errorf("append events: insert: %w", err)
		default:
			r.res = engine.AppendResult{Seq: seq}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("append events: commit: %w", err)
	}
	for _, r := range batch {
		if !r.res.Duplicate {
			s.stored.Add(1)
		}
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
