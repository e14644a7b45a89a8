package store

import (
	"context"
	"fmt"
)

// migrations are applied in order, each once, in its own transaction. Append
// only: a released migration never changes.
var migrations = []string{
	`CREATE TABLE events (
		seq         INTEGER PRIMARY KEY AUTOINCREMENT,
		endpoint    TEXT    NOT NULL,
		event_id    TEXT    NOT NULL,
		digest      TEXT    NOT NULL,
		scheme      TEXT    NOT NULL,
		headers     TEXT    NOT NULL,
		body        BLOB    NOT NULL,
		received_at INTEGER NOT NULL,
		status      TEXT    NOT NULL,
		error       TEXT    NOT NULL DEFAULT ''
	);
	CREATE UNIQUE INDEX events_endpoint_event_id ON events (endpoint, event_id);
	CREATE UNIQUE INDEX events_endpoint_digest ON events (endpoint, digest);
	CREATE INDEX events_status_seq ON events (status, seq);
	CREATE TABLE endpoints (
		name          TEXT    PRIMARY KEY,
		secrets       TEXT    NOT NULL,
		allow_legacy  INTEGER NOT NULL,
		enabled       INTEGER NOT NULL,
		created_at    INTEGER NOT NULL,
		updated_at    INTEGER NOT NULL
	);`,
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var have int
	if err := s.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("migrate: database is at schema version %d, newer than this binary (%d)", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate to %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, v); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to %d: %w", v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate to %d: %w", v, err)
		}
	}
	return nil
}
