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

// EventQuery selects inbox events with their decisions; every field set
// filters.
type EventQuery struct {
	Seq        int64    // exactly this event
	AfterSeq   int64    // events after this one: a cursor for paging in inbox order
	Endpoint   string   //
	EventIDs   []string // any of these X-Event-IDs
	Type       string   // the payload's event type
	Stream     string   // the worker's processing stream (normalize.CustomerStream), once processed
	Status     engine.EventStatus
	From, To   time.Time // received in [From, To); a zero bound is open
	HasActions *bool     // decided with at least one action, or with none (undecided events never match)
	Reason     string    // decided with an action of this reason
	Desc       bool      // newest first; the order is always by seq
	Limit      int       // 0: every row
	Offset     int
	// MaxTotal, when set, stops counting the matches past it: Events then
	// returns a total of MaxTotal+1 for "more than MaxTotal", rather than
	// read an index range of a million entries to say how many.
	MaxTotal int

	// seqs received in [From, To) lie in [seqLo, seqHi); set by receivedSeqs.
	seqLo, seqHi int64
}

// where is the query's WHERE clause and its arguments, for listing rows
// in seq order or for counting them.
func (q EventQuery) where(counting bool) (string, []any) {
	var (
		conds []string
		args  []any
	)
	add := func(cond string, arg ...any) {
		conds = append(conds, cond)
		args = append(args, arg...)
	}
	if q.Seq != 0 {
		add("e.seq = ?", q.Seq)
	}
	if q.AfterSeq != 0 {
		add("e.seq > ?", q.AfterSeq)
	}
	if len(q.EventIDs) > 0 {
		// Through the unique (endpoint, event_id) index: with no endpoint
		// given, in each endpoint the inbox holds.
		if q.Endpoint != "" {
			add("e.endpoint = ?", q.Endpoint)
		} else {
			add("e.endpoint IN (" + inboxEndpoints + ")")
		}
		ids := make([]any, len(q.EventIDs))
		for i, id := range q.EventIDs {
			ids[i] = id
		}
		add("e.event_id IN ("+placeholders(len(ids))+")", ids...)
	} else if q.Endpoint != "" && counting {
		add("e.endpoint = ?", q.Endpoint) // counts the endpoint's range of its unique index
	} else if q.Endpoint != "" {
		add("+e.endpoint = ?", q.Endpoint) // "+": walk seq order, never sort an endpoint's events
	}
	if q.Type != "" {
		add("e.event_type = ?", q.Type)
	}
	if q.Stream != "" {
		add("e.stream = ?", q.Stream)
	}
	if q.Status != "" {
		add("e.status = ?", string(q.Status))
	}
	if q.seqLo > 0 {
		add("e.seq >= ?", q.seqLo)
	}
	if q.seqHi > 0 {
		add("e.seq < ?", q.seqHi)
	}
	if !q.From.IsZero() {
		add("e.received_at >= ?", micros(q.From))
	}
	if !q.To.IsZero() {
		add("e.received_at < ?", micros(q.To))
	}
	// decision_actions has a row per decided action, so these read an index
	// instead of parsing every decision's actions.
	switch {
	case q.HasActions == nil:
	case *q.HasActions:
		add("EXISTS (SELECT 1 FROM decision_actions a WHERE a.event_seq = e.seq)")
	default:
		add("EXISTS (SELECT 1 FROM decisions d WHERE d.event_seq = e.seq)" +
			" AND NOT EXISTS (SELECT 1 FROM decision_actions a WHERE a.event_seq = e.seq)")
	}
	if q.Reason != "" {
		add("e.seq IN (SELECT event_seq FROM decision_actions WHERE reason = ?)", q.Reason)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// window is the query's ORDER BY and LIMIT clauses and their arguments.
func (q EventQuery) window() (string, []any) {
	s := ` ORDER BY e.seq`
	if q.Desc {
		s += ` DESC`
	}
	if q.Limit <= 0 && q.Offset <= 0 {
		return s, nil
	}
	limit := int64(q.Limit)
	if limit <= 0 {
		limit = math.MaxInt64 // an offset needs a limit in SQLite
	}
	return s + ` LIMIT ? OFFSET ?`, []any{limit, q.Offset}
}

// eventRows runs a query built from q. A list of event ids makes SQL text of
// its own length, so it is not kept in the prepared statement cache.
func (s *Store) eventRows(ctx context.Context, q EventQuery, query string, args []any) (*sql.Rows, error) {
	if len(q.EventIDs) > 1 {
		return s.r.QueryContext(ctx, query, args...)
	}
	return s.readRows(ctx, query, args...)
}

// EventSummary is an inbox event as lists show it: without its body, and
// with the actions of its decision.
type EventSummary struct {
	Seq         int64
	EventID     string
	Endpoint    string
	Type        string
	Status      engine.EventStatus
	Error       string
	Scheme      engine.Scheme
	ReceivedAt  time.Time
	ProcessedAt time.Time
	Decided     bool
	Revision    string // of the decision
	Actions     []byte // the decision's actions, a JSON array; nil when undecided
}

// Events returns the page of events q selects and how many match q without
// its window.
func (s *Store) Events(ctx context.Context, q EventQuery) ([]EventSummary, int, error) {
	if err := s.receivedSeqs(ctx, &q); err != nil {
		return nil, 0, fmt.Errorf("events: %w", err)
	}
	where, args := q.where(false)
	window, wargs := q.window()
	rows, err := s.eventRows(ctx, q, `SELECT e.seq, e.event_id, e.endpoint, e.event_type, e.status, e.error, e.scheme,
			e.received_at, e.processed_at, d.revision, d.actions
		FROM events e LEFT JOIN decisions d ON d.event_seq = e.seq`+where+window, append(args, wargs...))
	if err != nil {
		return nil, 0, fmt.Errorf("events: %w", err)
	}
	defer rows.Close()
	var out []EventSummary
	for rows.Next() {
		var (
			ev              EventSummary
			status, scheme  string
			recv, processed int64
			revision        sql.NullString
			actions         []byte
		)
		if err := rows.Scan(&ev.Seq, &ev.EventID, &ev.Endpoint, &ev.Type, &status, &ev.Error, &scheme,
			&recv, &processed, &revision, &actions); err != nil {
			return nil, 0, fmt.Errorf("events: %w", err)
		}
		ev.Status, ev.Scheme = engine.EventStatus(status), engine.Scheme(scheme)
		ev.ReceivedAt, ev.ProcessedAt = fromMicros(recv), fromMicros(processed)
		ev.Decided, ev.Revision, ev.Actions = revision.Valid, revision.String, actions
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("events: %w", err)
	}
	var total int
	if where, _ := q.where(true); where == "" {
		total = int(s.stored.Load()) // the whole inbox: kept count, where COUNT(*) would read an index of every event
		if q.MaxTotal > 0 {
			total = min(total, q.MaxTotal+1)
		}
	} else if q.Limit > 0 && len(out) < q.Limit && (len(out) > 0 || q.Offset == 0) {
		total = q.Offset + len(out) // the last page: no need to count
		if q.MaxTotal > 0 {
			total = min(total, q.MaxTotal+1)
		}
	} else {
		where, args := q.where(true)
		count := `SELECT COUNT(*) FROM events e` + where
		if q.MaxTotal > 0 {
			count = `SELECT COUNT(*) FROM (SELECT 1 FROM events e` + where + ` LIMIT ?)`
			args = append(args, q.MaxTotal+1)
		}
		rows, err := s.eventRows(ctx, q, count, args)
		if err != nil {
			return nil, 0, fmt.Errorf("count events: %w", err)
		}
		defer rows.Close()
		rows.Next()
		if err := rows.Scan(&total); err != nil {
			return nil, 0, fmt.Errorf("count events: %w", err)
		}
	}
	return out, total, nil
}

// EachDecision calls fn with the decision of every decided event q selects,
// in q's order, straight from the database cursor. The records carry no
// InputDigest. It stops at fn's first error and returns it.
func (s *Store) EachDecision(ctx context.Context, q EventQuery, fn func(DecisionRecord) error) error {
	if err := s.receivedSeqs(ctx, &q); err != nil {
		return fmt.Errorf("decisions: %w", err)
	}
	where, args := q.where(false)
	window, wargs := q.window()
	rows, err := s.eventRows(ctx, q, `SELECT e.seq, e.event_id, e.event_type, e.status, d.revision, d.input, d.actions,
			d.eval_micros, d.error, d.decided_at
		FROM events e JOIN decisions d ON d.event_seq = e.seq`+where+window, append(args, wargs...))
	if err != nil {
		return fmt.Errorf("decisions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			d             DecisionRecord
			status        string
			eval, decided int64
		)
		if err := rows.Scan(&d.EventSeq, &d.EventID, &d.EventType, &status, &d.Revision, &d.Input, &d.Actions,
			&eval, &d.Error, &decided); err != nil {
			return fmt.Errorf("decisions: %w", err)
		}
		d.Status, d.Eval, d.DecidedAt = engine.EventStatus(status), time.Duration(eval)*time.Microsecond, fromMicros(decided)
		if err := fn(d); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("decisions: %w", err)
	}
	return nil
}

// inboxEndpoints lists the distinct endpoints of the inbox by seeking
// from one to the next in the (endpoint, event_id) index: a handful of
// lookups where DISTINCT would read every entry.
const inboxEndpoints = `WITH RECURSIVE eps(name) AS (
		SELECT MIN(endpoint) FROM events
		UNION ALL
		SELECT (SELECT MIN(endpoint) FROM events WHERE endpoint > eps.name) FROM eps WHERE eps.name IS NOT NULL
	) SELECT name FROM eps WHERE name IS NOT NULL`

// receiveSkew bounds how much earlier than an event with a lower seq an
// event can have been received: the time from a request's arrival to its
// commit (body read, group commit), with a wide margin.
const receiveSkew = 10 * time.Minute

// receivedSeqs narrows q's time range to a range of seqs, so that a time
// filter reads a primary-key range instead of needing its own index on the
// inbox. Seqs follow commit order and received_at arrival order, which
// differ by at most receiveSkew; searching for From-receiveSkew and
// To+receiveSkew gives bounds no matching event lies outside of. The exact
// received_at filter still applies within them.
func (s *Store) receivedSeqs(ctx context.Context, q *EventQuery) error {
	var err error
	if !q.From.IsZero() {
		if q.seqLo, err = s.firstReceivedAt(ctx, q.From.Add(-receiveSkew)); err != nil {
			return err
		}
	}
	if !q.To.IsZero() {
		if q.seqHi, err = s.firstReceivedAt(ctx, q.To.Add(receiveSkew)); err != nil {
			return err
		}
	}
	return nil
}

// firstReceivedAt binary-searches the inbox, treating received_at as
// ordered by seq (see receivedSeqs), for a seq x such that every event
// before x was received before t and the event at or after x, if any, at
// or after t.
func (s *Store) firstReceivedAt(ctx context.Context, t time.Time) (int64, error) {
	var lo, hi int64 // the answer lies in [lo, hi]
	// Each bound in its own subquery: SQLite reads MIN or MAX alone off the
	// end of the primary key, but scans every row for both in one SELECT.
	if err := s.readRow(ctx, `SELECT COALESCE((SELECT MIN(seq) FROM events), 1), COALESCE((SELECT MAX(seq) FROM events), 0) + 1`).Scan(&lo, &hi); err != nil {
		return 0, err
	}
	at := micros(t)
	for lo < hi {
		mid := lo + (hi-lo)/2
		var seq, recv int64
		err := s.readRow(ctx, `SELECT seq, received_at FROM events WHERE seq >= ? ORDER BY seq LIMIT 1`, mid).Scan(&seq, &recv)
		switch {
		case errors.Is(err, sql.ErrNoRows) || err == nil && recv >= at:
			hi = mid // no seq in [mid, seq) exists, so mid bounds as well as seq
		case err != nil:
			return 0, err
		default:
			lo = seq + 1
		}
	}
	return lo, nil
}
