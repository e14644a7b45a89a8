package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
)

// Settlement state rows. The worker computes new values; Apply writes them
// with the decision and outbox in one transaction.
type (
	// ChainHead is the newest proof of a customer's chain.
	ChainHead struct {
		Customer string
		Head     string
		Length   int64
	}
	// Proof is one stored link of a customer's chain.
	Proof struct {
		Customer string
		Hash     string
		Previous string
		EventSeq int64
		Verdict  string
	}
	// PeriodTotal is our own running total for a customer's period.
	PeriodTotal struct {
		Customer string
		Period   string
		Total    float64
		Deltas   int64
	}
	// BatchStream is the newest batch of a seed-000 stream.
	BatchStream struct {
		Stream      string
		LastSeq     int64 // the watermark
		LastBatchID string
		MaxSeq      int64 // highest applied batch; read only
	}
	// BatchSeen records one applied batch so replays are caught.
	BatchSeen struct {
		Stream   string
		Seq      int64
		BatchID  string
		EventSeq int64
	}
	// Item is the local ledger's running total for one key.
	Item struct {
		Key    string
		Bits   float64
		Writes int64
	}
	// Throttle is whether submissions under a scope are held back.
	Throttle struct {
		Scope  string
		Active bool
		Since  time.Time
		Reason string
	}
	// Usage is the last usage section seen under a scope, as JSON.
	Usage struct {
		Scope    string
		Snapshot []byte
	}
	// Outcome is what processing did with an inbox event.
	Outcome struct {
		Seq    int64
		Status engine.EventStatus
		Error  string
		Type   string
		Stream string
	}
	// Decision is the record of one policy evaluation.
	Decision struct {
		EventSeq    int64
		EventID     string
		Revision    string
		InputDigest string
		Input       []byte
		Actions     []byte
		Eval        time.Duration
		Error       string
	}
	// NewDelivery is one action routed to one plugin, queued for delivery.
	NewDelivery struct {
		ID             string
		EventSeq       int64
		EventID        string
		Plugin         string
		ActionIndex    int
		ActionType     string
		Action         []byte
		IdempotencyKey string
	}
)

// Changes is everything one processing batch writes.
type Changes struct {
	Outcomes     []Outcome
	Decisions    []Decision
	Deliveries   []NewDelivery
	Chains       []ChainHead
	Proofs       []Proof
	Periods      []PeriodTotal
	BatchStreams []BatchStream
	Batches      []BatchSeen
	Items        []Item
	Usage        []Usage
	Throttles    []Throttle
}

// Empty reports whether there is nothing to write.
func (c *Changes) Empty() bool {
	return len(c.Outcomes)+len(c.Decisions)+len(c.Deliveries)+len(c.Chains)+len(c.Proofs)+len(c.Periods)+
		len(c.BatchStreams)+len(c.Batches)+len(c.Items)+len(c.Usage)+len(c.Throttles) == 0
}

// Apply writes c in one transaction: state, decisions, outbox and event
// statuses commit together or not at all, so a crash replays a batch cleanly.
// Everything it writes is derived from inbox events, which are durable
// already, so it commits without waiting for its own fsync (relaxedTx).
func (s *Store) Apply(ctx context.Context, c *Changes) error {
	if err := s.relaxedTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return s.applyTx(ctx, tx, c, micros(time.Now()))
	}); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	return nil
}

// relaxedTx runs fn in a writer transaction that commits without its own
// fsync. For writes that can be redone from durable state: losing one to a
// power cut means processing or delivering again, never losing an event.
// The next inbox commit's fsync covers it (one WAL, written in order).
//
// fn's statements get ctx without its cancellation: the driver would watch
// a cancellable context with a goroutine and a progress handler for every
// statement, and these transactions run many short ones. Waiting for the
// writer stays cancellable, and the transaction commits or rolls back whole.
func (s *Store) relaxedTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return s.atSynchronous(ctx, SyncNormal, func(conn *sql.Conn) error {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		if err := fn(context.WithoutCancel(ctx), tx); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
}

// atSynchronous runs fn on the writer connection at another synchronous
// level than the store's, then sets the store's back. If that fails, the
// connection is discarded, and the pool opens a new one at the store's
// level: none ever goes on at the other.
func (s *Store) atSynchronous(ctx context.Context, level string, fn func(conn *sql.Conn) error) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if level == s.sync {
		return fn(conn)
	}
	if err := setSynchronous(ctx, conn, level); err != nil {
		return err
	}
	defer func() {
		if err := setSynchronous(context.Background(), conn, s.sync); err != nil {
			s.log.Error("setting the writer connection's synchronous level back failed; closing the connection", "error", err)
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return fn(conn)
}

// setSynchronous sets a connection's PRAGMA synchronous to level (SyncFull
// or SyncNormal). A variable so that a test can make it fail.
var setSynchronous = func(ctx context.Context, conn *sql.Conn, level string) error {
	_, err := conn.ExecContext(ctx, `PRAGMA synchronous = `+strings.ToUpper(level))
	return err
}

// applySQL are the statements Apply runs, prepared when the store opens:
// Apply holds the one writer connection, so it cannot prepare then.
const (
	sqlOutcome = `UPDATE events SET status = ?, error = ?, event_type = ?, stream = ?, processed_at = ? WHERE seq = ?`
	sqlChain   = `INSERT INTO chains (customer_id, head, length, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (customer_id) DO UPDATE SET head = excluded.head, length = excluded.length, updated_at = excluded.updated_at`
	sqlProof = `INSERT INTO proofs (customer_id, proof_hash, previous_hash, event_seq, verdict) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (customer_id, proof_hash) DO NOTHING`
	sqlPeriod = `INSERT INTO period_totals (customer_id, period_id, total, deltas, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (customer_id, period_id) DO UPDATE SET total = excluded.total, deltas = excluded.deltas, updated_at = excluded.updated_at`
	sqlBatchStream = `INSERT INTO batch_streams (stream, last_seq, last_batch_id, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (stream) DO UPDATE SET last_seq = excluded.last_seq, last_batch_id = excluded.last_batch_id, updated_at = excluded.updated_at`
	sqlBatchSeen = `INSERT INTO batches (stream, seq, batch_id, event_seq) VALUES (?, ?, ?, ?) ON CONFLICT (stream, seq) DO NOTHING`
	sqlItem      = `INSERT INTO items (item_key, bits, writes, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (item_key) DO UPDATE SET bits = excluded.bits, writes = excluded.writes, updated_at = excluded.updated_at`
	sqlUsage = `INSERT INTO usage_snapshots (scope, snapshot, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (scope) DO UPDATE SET snapshot = excluded.snapshot, updated_at = excluded.updated_at`
	sqlThrottle = `INSERT INTO throttle (scope, active, since, reason, updated_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (scope) DO UPDATE SET active = excluded.active, since = excluded.since, reason = excluded.reason, updated_at = excluded.updated_at`
	sqlDecision = `INSERT INTO decisions (event_seq, event_id, revision, input_digest, input, actions, eval_micros, error, decided_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (event_seq) DO UPDATE SET revision = excluded.revision, input_digest = excluded.input_digest,
				input = excluded.input, actions = excluded.actions, eval_micros = excluded.eval_micros,
				error = excluded.error, decided_at = excluded.decided_at`
	sqlDelivery = `INSERT INTO deliveries (id, event_seq, event_id, plugin, action_index, action_type, action, idempotency_key,
				status, attempts, last_error, next_attempt_at, created_at, delivered_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '', ?, ?, 0, ?)
			ON CONFLICT (idempotency_key) DO NOTHING`
)

var applySQL = []string{sqlOutcome, sqlChain, sqlProof, sqlPeriod, sqlBatchStream, sqlBatchSeen, sqlItem, sqlUsage, sqlThrottle, sqlDecision, sqlDelivery}

func (s *Store) applyTx(ctx context.Context, tx *sql.Tx, c *Changes, now int64) error {
	type batchExec struct {
		sql  string
		n    int
		args func(i int) []any
	}
	execs := []batchExec{
		{sqlOutcome,
			len(c.Outcomes), func(i int) []any {
				o := c.Outcomes[i]
				return []any{string(o.Status), o.Error, o.Type, o.Stream, now, o.Seq}
			}},
		{sqlChain,
			len(c.Chains), func(i int) []any { h := c.Chains[i]; return []any{h.Customer, h.Head, h.Length, now} }},
		{sqlProof,
			len(c.Proofs), func(i int) []any {
				p := c.Proofs[i]
				return []any{p.Customer, p.Hash, p.Previous, p.EventSeq, p.Verdict}
			}},
		{sqlPeriod,
			len(c.Periods), func(i int) []any { p := c.Periods[i]; return []any{p.Customer, p.Period, p.Total, p.Deltas, now} }},
		{sqlBatchStream,
			len(c.BatchStreams), func(i int) []any { b := c.BatchStreams[i]; return []any{b.Stream, b.LastSeq, b.LastBatchID, now} }},
		{sqlBatchSeen,
			len(c.Batches), func(i int) []any { b := c.Batches[i]; return []any{b.Stream, b.Seq, b.BatchID, b.EventSeq} }},
		{sqlItem,
			len(c.Items), func(i int) []any { it := c.Items[i]; return []any{it.Key, it.Bits, it.Writes, now} }},
		{sqlUsage,
			len(c.Usage), func(i int) []any { u := c.Usage[i]; return []any{u.Scope, string(u.Snapshot), now} }},
		{sqlThrottle,
			len(c.Throttles), func(i int) []any {
				t := c.Throttles[i]
				return []any{t.Scope, t.Active, micros(t.Since), t.Reason, now}
			}},
		{sqlDecision,
			len(c.Decisions), func(i int) []any {
				d := c.Decisions[i]
				return []any{d.EventSeq, d.EventID, d.Revision, d.InputDigest, string(d.Input), string(d.Actions), d.Eval.Microseconds(), d.Error, now}
			}},
		{sqlDelivery,
			len(c.Deliveries), func(i int) []any {
				d := c.Deliveries[i]
				return []any{d.ID, d.EventSeq, d.EventID, d.Plugin, d.ActionIndex, d.ActionType, string(d.Action), d.IdempotencyKey,
					string(engine.DeliveryPending), now, now, now}
			}},
	}
	for _, e := range execs {
		if e.n == 0 {
			continue
		}
		var err error
		var stmt *sql.Stmt
		if prep, ok := s.stmts.Load("w\x00" + e.sql); ok {
			stmt = tx.StmtContext(ctx, prep.(*sql.Stmt))
		} else if stmt, err = tx.PrepareContext(ctx, e.sql); err != nil {
			return err
		}
		for i := range e.n {
			if _, err := stmt.ExecContext(ctx, e.args(i)...); err != nil {
				return err
			}
		}
	}
	return nil
}

// Pending lists events not yet processed (received or held) after seq, in
// inbox order.
func (s *Store) Pending(ctx context.Context, afterSeq int64, limit int) ([]engine.Event, error) {
	rows, err := s.readRows(ctx, `SELECT seq, endpoint, event_id, digest, scheme, body, received_at, status
		FROM events WHERE status IN (?, ?) AND seq > ? ORDER BY seq LIMIT ?`,
		string(engine.StatusReceived), string(engine.StatusHeld), afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("pending events: %w", err)
	}
	defer rows.Close()
	var out []engine.Event
	for rows.Next() {
		var (
			ev             engine.Event
			scheme, status string
			recv           int64
		)
		if err := rows.Scan(&ev.Seq, &ev.Endpoint, &ev.EventID, &ev.Digest, &scheme, &ev.Body, &recv, &status); err != nil {
			return nil, fmt.Errorf("pending events: %w", err)
		}
		ev.Scheme, ev.Status, ev.ReceivedAt = engine.Scheme(scheme), engine.EventStatus(status), fromMicros(recv)
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending events: %w", err)
	}
	return out, nil
}

// LedgerRecord reads the internal ledger record with referenceID; nil when
// there is none.
func (s *Store) LedgerRecord(ctx context.Context, referenceID string) (*engine.LedgerRecord, error) {
	m, err := s.LedgerRecords(ctx, []string{referenceID})
	if r, ok := m[referenceID]; ok {
		return &r, nil
	}
	return nil, err
}

// PutLedgerRecords creates or replaces internal ledger records in one
// transaction.
func (s *Store) PutLedgerRecords(ctx context.Context, recs []engine.LedgerRecord) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("put ledger records: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO ledger (reference_id, customer_id, amount, period_id, time, created_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (reference_id) DO UPDATE SET customer_id = excluded.customer_id, amount = excluded.amount,
			period_id = excluded.period_id, time = excluded.time`)
	if err != nil {
		return fmt.Errorf("put ledger records: %w", err)
	}
	defer stmt.Close()
	now := micros(time.Now())
	for _, r := range recs {
		var ts int64
		if r.Time != "" {
			t, err := time.Parse(time.RFC3339Nano, r.Time)
			if err != nil {
				return fmt.Errorf("put ledger records: %s: time: %w", r.ReferenceID, err)
			}
			ts = micros(t)
		}
		if _, err := stmt.ExecContext(ctx, r.ReferenceID, r.CustomerID, r.Amount, r.PeriodID, ts, now); err != nil {
			return fmt.Errorf("put ledger records: %s: %w", r.ReferenceID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("put ledger records: %w", err)
	}
	return nil
}

// Chain reads a customer's chain head; ok is false for an unknown customer.
func (s *Store) Chain(ctx context.Context, customer string) (ChainHead, bool, error) {
	m, err := s.Chains(ctx, []string{customer})
	h, ok := m[customer]
	if !ok {
		h = ChainHead{Customer: customer}
	}
	return h, ok, err
}

// Proof reads one stored proof; ok is false when the hash is unknown.
func (s *Store) Proof(ctx context.Context, customer, hash string) (Proof, bool, error) {
	k := Key{customer, hash}
	m, err := s.Proofs(ctx, []Key{k})
	p, ok := m[k]
	if !ok {
		p = Proof{Customer: customer, Hash: hash}
	}
	return p, ok, err
}

// PeriodTotal reads our total for a customer's period (zero when new).
func (s *Store) PeriodTotal(ctx context.Context, customer, period string) (PeriodTotal, error) {
	k := Key{customer, period}
	m, err := s.PeriodTotals(ctx, []Key{k})
	p, ok := m[k]
	if !ok {
		p = PeriodTotal{Customer: customer, Period: period}
	}
	return p, err
}

// BatchStream reads a batch stream's position; ok is false when new.
func (s *Store) BatchStream(ctx context.Context, stream string) (BatchStream, bool, error) {
	b := BatchStream{Stream: stream}
	err := s.readRow(ctx, `SELECT last_seq, last_batch_id, COALESCE((SELECT MAX(seq) FROM batches WHERE stream = ?), 0)
		FROM batch_streams WHERE stream = ?`, stream, stream).Scan(&b.LastSeq, &b.LastBatchID, &b.MaxSeq)
	if errors.Is(err, sql.ErrNoRows) {
		return b, false, nil
	}
	if err != nil {
		return b, false, fmt.Errorf("batch stream %s: %w", stream, err)
	}
	return b, true, nil
}

// BatchApplied reports whether batch seq of stream was applied before.
func (s *Store) BatchApplied(ctx context.Context, stream string, seq int64) (bool, error) {
	m, err := s.BatchesApplied(ctx, stream, []int64{seq})
	return m[seq] != "", err
}

// Item reads the local ledger total of key; ok is false for a new key.
func (s *Store) Item(ctx context.Context, key string) (Item, bool, error) {
	m, err := s.Items(ctx, []string{key})
	it, ok := m[key]
	if !ok {
		it = Item{Key: key}
	}
	return it, ok, err
}

// Throttles reads every throttle scope.
func (s *Store) Throttles(ctx context.Context) ([]Throttle, error) {
	rows, err := s.readRows(ctx, `SELECT scope, active, since, reason FROM throttle ORDER BY scope`)
	if err != nil {
		return nil, fmt.Errorf("throttles: %w", err)
	}
	defer rows.Close()
	var out []Throttle
	for rows.Next() {
		var (
			t     Throttle
			since int64
		)
		if err := rows.Scan(&t.Scope, &t.Active, &since, &t.Reason); err != nil {
			return nil, fmt.Errorf("throttles: %w", err)
		}
		t.Since = fromMicros(since)
		out = append(out, t)
	}
	return out, rows.Err()
}

// SettlementStats are the seed agent's /health figures.
type SettlementStats struct {
	LedgerSize       int64 // keys in the local ledger
	ProofChainLength int64 // proofs across all chains
	LastProof        *Proof
}

// SettlementStats reads the figures behind /health.
func (s *Store) SettlementStats(ctx context.Context) (SettlementStats, error) {
	var st SettlementStats
	if err := s.readRow(ctx, `SELECT (SELECT COUNT(*) FROM items), (SELECT COALESCE(SUM(length), 0) FROM chains)`).
		Scan(&st.LedgerSize, &st.ProofChainLength); err != nil {
		return st, fmt.Errorf("settlement stats: %w", err)
	}
	var p Proof
	err := s.readRow(ctx, `SELECT customer_id, proof_hash, previous_hash, event_seq, verdict FROM proofs
		ORDER BY event_seq DESC LIMIT 1`).Scan(&p.Customer, &p.Hash, &p.Previous, &p.EventSeq, &p.Verdict)
	switch {
	case err == nil:
		st.LastProof = &p
	case !errors.Is(err, sql.ErrNoRows):
		return st, fmt.Errorf("settlement stats: %w", err)
	}
	return st, nil
}

// DecisionRecord is a stored decision with its event's outcome.
type DecisionRecord struct {
	EventSeq    int64
	EventID     string
	EventType   string
	Status      engine.EventStatus
	Revision    string
	InputDigest string
	Input       []byte
	Actions     []byte
	Eval        time.Duration
	Error       string
	DecidedAt   time.Time
}

// Decisions lists decisions after seq in inbox order.
func (s *Store) Decisions(ctx context.Context, afterSeq int64, limit int) ([]DecisionRecord, error) {
	rows, err := s.readRows(ctx, `SELECT d.event_seq, d.event_id, e.event_type, e.status, d.revision, d.input_digest,
			d.input, d.actions, d.eval_micros, d.error, d.decided_at
		FROM decisions d JOIN events e ON e.seq = d.event_seq
		WHERE d.event_seq > ? ORDER BY d.event_seq LIMIT ?`, afterSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("decisions: %w", err)
	}
	defer rows.Close()
	var out []DecisionRecord
	for rows.Next() {
		var (
			d             DecisionRecord
			status, input string
			actions       string
			eval, decided int64
		)
		if err := rows.Scan(&d.EventSeq, &d.EventID, &d.EventType, &status, &d.Revision, &d.InputDigest,
			&input, &actions, &eval, &d.Error, &decided); err != nil {
			return nil, fmt.Errorf("decisions: %w", err)
		}
		d.Status, d.Input, d.Actions = engine.EventStatus(status), []byte(input), []byte(actions)
		d.Eval, d.DecidedAt = time.Duration(eval)*time.Microsecond, fromMicros(decided)
		out = append(out, d)
	}
	return out, rows.Err()
}

// EventCounts counts inbox events by status.
func (s *Store) EventCounts(ctx context.Context) (map[engine.EventStatus]int64, error) {
	rows, err := s.readRows(ctx, `SELECT status, COUNT(*) FROM events GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("event counts: %w", err)
	}
	defer rows.Close()
	out := map[engine.EventStatus]int64{}
	for rows.Next() {
		var (
			st string
			n  int64
		)
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("event counts: %w", err)
		}
		out[engine.EventStatus(st)] = n
	}
	return out, rows.Err()
}
