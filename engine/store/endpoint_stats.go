package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/arbiter-dev/arbiter/engine"
)

// ErrExists is returned when creating something that is already there.
var ErrExists = errors.New("already exists")

// CreateEndpoint stores a new endpoint with its description, or returns
// ErrExists if the name is taken.
func (s *Store) CreateEndpoint(ctx context.Context, ep engine.Endpoint, description string) error {
	secrets := make([]storedSecret, len(ep.Secrets))
	for i, sec := range ep.Secrets {
		secrets[i] = storedSecret{Value: sec.Value, ExpiresAt: micros(sec.ExpiresAt)}
	}
	raw, err := json.Marshal(secrets)
	if err != nil {
		return fmt.Errorf("create endpoint %s: %w", ep.Name, err)
	}
	now := micros(time.Now())
	res, err := s.w.ExecContext(ctx, `INSERT INTO endpoints (name, secrets, allow_legacy, enabled, created_at, updated_at, description)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		ep.Name, string(raw), ep.AllowLegacy, ep.Enabled, now, now, description)
	if err != nil {
		return fmt.Errorf("create endpoint %s: %w", ep.Name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("create endpoint %s: %w", ep.Name, err)
	} else if n == 0 {
		return fmt.Errorf("create endpoint %s: %w", ep.Name, ErrExists)
	}
	return nil
}

// EndpointDescription reads the description an endpoint was created with.
func (s *Store) EndpointDescription(ctx context.Context, name string) (string, error) {
	var d string
	err := s.readRow(ctx, `SELECT description FROM endpoints WHERE name = ?`, name).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("endpoint %s: %w", name, engine.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("endpoint %s: %w", name, err)
	}
	return d, nil
}

// DeleteEndpoint removes an endpoint. Its events stay in the inbox, and its
// counts stay with its name: a new endpoint of that name dedupes against
// those events, so it continues their history.
func (s *Store) DeleteEndpoint(ctx context.Context, name string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM endpoints WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete endpoint %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete endpoint %s: %w", name, err)
	} else if n == 0 {
		return fmt.Errorf("endpoint %s: %w", name, engine.ErrNotFound)
	}
	return nil
}

// EndpointStats is what an endpoint has received.
type EndpointStats struct {
	Accepted     int64     // events stored under the endpoint's name
	LastAccepted time.Time // zero when none
	Rejected     map[string]int64
}

// Failures is the number of refused requests, whatever the reason.
func (st EndpointStats) Failures() int64 {
	var n int64
	for _, v := range st.Rejected {
		n += v
	}
	return n
}

// EndpointCounters counts the requests the receiver refuses, per endpoint
// and reason. Reject only bumps a counter in memory, so the request path
// pays no write; Run stores the counts every second and once more on the way
// out, so a crash loses at most a second of them. Accepted events need no
// counter: they are in the inbox.
type EndpointCounters struct {
	st      *Store
	flushMu sync.Mutex // one flush at a time; Stats waits for it so nothing counts twice
	mu      sync.Mutex
	pending map[rejectKey]int64

	acceptedMu sync.Mutex
	accepted   map[string]acceptedCount
}

// acceptedCount is an endpoint's stored events among the inbox's first
// scanned seqs, and its newest seq: Stats counts only the events stored
// since, by seq, instead of the endpoint's whole range of its index.
type acceptedCount struct {
	n, last, scanned int64
}

type rejectKey struct{ endpoint, reason string }

// NewEndpointCounters returns counters that flush to st.
func NewEndpointCounters(st *Store) *EndpointCounters {
	return &EndpointCounters{st: st, pending: map[rejectKey]int64{}, accepted: map[string]acceptedCount{}}
}

// Reject counts one refused request. It is safe for concurrent use.
func (c *EndpointCounters) Reject(endpoint, reason string) {
	c.mu.Lock()
	c.pending[rejectKey{endpoint, reason}]++
	c.mu.Unlock()
}

// flushInterval bounds how many counts a crash can lose.
const flushInterval = time.Second

// Run flushes the counts every second until ctx is done, then a last time.
// A failed flush keeps its counts for the next one.
func (c *EndpointCounters) Run(ctx context.Context) error {
	tick := time.NewTicker(flushInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := c.Flush(ctx); err != nil && ctx.Err() == nil {
				c.st.log.Warn("storing endpoint counters failed; retrying", "error", err)
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return c.Flush(fctx)
		}
	}
}

// Flush adds the counts taken since the last flush to endpoint_stats.
func (c *EndpointCounters) Flush(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	batch := c.pending
	c.pending = map[rejectKey]int64{}
	c.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	now := micros(time.Now())
	// Counts can be lost to a power cut either way; no need to wait for an fsync.
	err := c.st.relaxedTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for k, n := range batch {
			if _, err := tx.ExecContext(ctx, `INSERT INTO endpoint_stats (endpoint, reason, rejected, updated_at) VALUES (?, ?, ?, ?)
				ON CONFLICT (endpoint, reason) DO UPDATE SET rejected = endpoint_stats.rejected + excluded.rejected,
					updated_at = excluded.updated_at`, k.endpoint, k.reason, n, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.mu.Lock()
		for k, n := range batch {
			c.pending[k] += n
		}
		c.mu.Unlock()
		return fmt.Errorf("flush endpoint counters: %w", err)
	}
	return nil
}

// Stats reads what the endpoint called name has received, counts not yet
// flushed included.
func (c *EndpointCounters) Stats(ctx context.Context, name string) (EndpointStats, error) {
	st := EndpointStats{Rejected: map[string]int64{}}
	acc, err := c.acceptedCount(ctx, name)
	if err != nil {
		return st, fmt.Errorf("endpoint stats %s: %w", name, err)
	}
	st.Accepted = acc.n
	if acc.n > 0 {
		var recv int64
		if err := c.st.readRow(ctx, `SELECT received_at FROM events WHERE seq = ?`, acc.last).Scan(&recv); err != nil {
			return st, fmt.Errorf("endpoint stats %s: %w", name, err)
		}
		st.LastAccepted = fromMicros(recv)
	}
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	rows, err := c.st.readRows(ctx, `SELECT reason, rejected FROM endpoint_stats WHERE endpoint = ?`, name)
	if err != nil {
		return st, fmt.Errorf("endpoint stats %s: %w", name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			reason string
			n      int64
		)
		if err := rows.Scan(&reason, &n); err != nil {
			return st, fmt.Errorf("endpoint stats %s: %w", name, err)
		}
		st.Rejected[reason] = n
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("endpoint stats %s: %w", name, err)
	}
	c.mu.Lock()
	for k, n := range c.pending {
		if k.endpoint == name {
			st.Rejected[k.reason] += n
		}
	}
	c.mu.Unlock()
	return st, nil
}

// acceptedCount counts the endpoint's stored events. The first time it
// reads the endpoint's range of the (endpoint, …) index; after that only
// the events stored since, which seq order finds through the primary key.
// Events are never deleted and seqs are committed in order, so the sum
// stays exact.
func (c *EndpointCounters) acceptedCount(ctx context.Context, name string) (acceptedCount, error) {
	c.acceptedMu.Lock()
	defer c.acceptedMu.Unlock()
	acc, known := c.accepted[name]
	var top int64
	if err := c.st.readRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM events`).Scan(&top); err != nil {
		return acc, err
	}
	var (
		n    int64
		last sql.NullInt64
		err  error
	)
	if known {
		err = c.st.readRow(ctx, `SELECT COUNT(*), MAX(seq) FROM events WHERE seq > ? AND seq <= ? AND +endpoint = ?`,
			acc.scanned, top, name).Scan(&n, &last)
	} else {
		err = c.st.readRow(ctx, `SELECT COUNT(*), MAX(seq) FROM events WHERE endpoint = ? AND seq <= ?`, name, top).Scan(&n, &last)
	}
	if err != nil {
		return acc, err
	}
	acc.n, acc.scanned = acc.n+n, top
	if last.Valid {
		acc.last = last.Int64
	}
	c.accepted[name] = acc
	return acc, nil
}
