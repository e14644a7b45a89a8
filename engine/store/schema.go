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
	// Settlement state, decisions and the delivery outbox.
	`ALTER TABLE events ADD COLUMN event_type TEXT NOT NULL DEFAULT '';
	ALTER TABLE events ADD COLUMN stream TEXT NOT NULL DEFAULT '';
	ALTER TABLE events ADD COLUMN processed_at INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE ledger (
		reference_id TEXT    PRIMARY KEY,
		customer_id  TEXT    NOT NULL,
		amount       REAL    NOT NULL,
		period_id    TEXT    NOT NULL,
		time         INTEGER NOT NULL,
		created_at   INTEGER NOT NULL
	);
	CREATE INDEX ledger_customer_period ON ledger (customer_id, period_id);
	CREATE TABLE chains (
		customer_id TEXT    PRIMARY KEY,
		head        TEXT    NOT NULL,
		length      INTEGER NOT NULL,
		updated_at  INTEGER NOT NULL
	);
	CREATE TABLE proofs (
		customer_id   TEXT    NOT NULL,
		proof_hash    TEXT    NOT NULL,
		previous_hash TEXT    NOT NULL,
		event_seq     INTEGER NOT NULL,
		verdict       TEXT    NOT NULL,
		PRIMARY KEY (customer_id, proof_hash)
	);
	CREATE INDEX proofs_previous ON proofs (customer_id, previous_hash);
	CREATE TABLE period_totals (
		customer_id TEXT    NOT NULL,
		period_id   TEXT    NOT NULL,
		total       REAL    NOT NULL,
		deltas      INTEGER NOT NULL,
		updated_at  INTEGER NOT NULL,
		PRIMARY KEY (customer_id, period_id)
	);
	CREATE TABLE batch_streams (
		stream        TEXT    PRIMARY KEY,
		last_seq      INTEGER NOT NULL,
		last_batch_id TEXT    NOT NULL,
		updated_at    INTEGER NOT NULL
	);
	CREATE TABLE batches (
		stream    TEXT    NOT NULL,
		seq       INTEGER NOT NULL,
		batch_id  TEXT    NOT NULL,
		event_seq INTEGER NOT NULL,
		PRIMARY KEY (stream, seq)
	);
	CREATE TABLE items (
		item_key   TEXT    PRIMARY KEY,
		bits       REAL    NOT NULL,
		writes     INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	);
	CREATE TABLE usage_snapshots (
		scope      TEXT    PRIMARY KEY,
		snapshot   TEXT    NOT NULL,
		updated_at INTEGER NOT NULL
	);
	CREATE TABLE throttle (
		scope      TEXT    PRIMARY KEY,
		active     INTEGER NOT NULL,
		since      INTEGER NOT NULL,
		reason     TEXT    NOT NULL,
		updated_at INTEGER NOT NULL
	);
	CREATE TABLE decisions (
		event_seq    INTEGER PRIMARY KEY,
		event_id     TEXT    NOT NULL,
		revision     TEXT    NOT NULL,
		input_digest TEXT    NOT NULL,
		input        TEXT    NOT NULL,
		actions      TEXT    NOT NULL,
		eval_micros  INTEGER NOT NULL,
		error        TEXT    NOT NULL,
		decided_at   INTEGER NOT NULL
	);
	CREATE TABLE deliveries (
		id              TEXT    PRIMARY KEY,
		event_seq       INTEGER NOT NULL,
		event_id        TEXT    NOT NULL,
		plugin          TEXT    NOT NULL,
		action_index    INTEGER NOT NULL,
		action_type     TEXT    NOT NULL,
		action          TEXT    NOT NULL,
		idempotency_key TEXT    NOT NULL,
		status          TEXT    NOT NULL,
		attempts        INTEGER NOT NULL,
		last_error      TEXT    NOT NULL,
		next_attempt_at INTEGER NOT NULL,
		created_at      INTEGER NOT NULL,
		delivered_at    INTEGER NOT NULL,
		updated_at      INTEGER NOT NULL
	);
	CREATE UNIQUE INDEX deliveries_idempotency ON deliveries (idempotency_key);
	CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
	CREATE INDEX deliveries_event ON deliveries (event_seq);`,
	`CREATE TABLE settings (
		name       TEXT    PRIMARY KEY,
		value      TEXT    NOT NULL,
		updated_at INTEGER NOT NULL
	);`,
	// Every delivery attempt, and the plugins' key-value store.
	`CREATE TABLE delivery_attempts (
		delivery_id TEXT    NOT NULL,
		attempt     INTEGER NOT NULL,
		started_at  INTEGER NOT NULL,
		duration_us INTEGER NOT NULL,
		result      TEXT    NOT NULL,
		error       TEXT    NOT NULL,
		PRIMARY KEY (delivery_id, attempt)
	);
	CREATE TABLE plugin_kv (
		plugin     TEXT    NOT NULL,
		kv_key     TEXT    NOT NULL,
		value      BLOB    NOT NULL,
		updated_at INTEGER NOT NULL,
		PRIMARY KEY (plugin, kv_key)
	);`,
	// Delivery history of the admin API in its default order (createdAt,
	// ties broken by id), so a page reads in index order; and by status,
	// for the rare failed ones. Every outbox row pays for each index, so the
	// other filters (plugin, action type: few values) walk this order, and
	// an event id goes through the events' own index to event_seq.
	`CREATE INDEX deliveries_created ON deliveries (created_at, id);
	CREATE INDEX deliveries_status_created ON deliveries (status, created_at, id);`,
	// Endpoints managed through the admin API: a description, and the
	// requests the receiver refused, per endpoint and reason. The partial
	// index holds only the proofs that break a chain, so chain status reads
	// them without scanning whole chains.
	`ALTER TABLE endpoints ADD COLUMN description TEXT NOT NULL DEFAULT '';
	CREATE TABLE endpoint_stats (
		endpoint   TEXT    NOT NULL,
		reason     TEXT    NOT NULL,
		rejected   INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		PRIMARY KEY (endpoint, reason)
	);
	CREATE INDEX proofs_breaks ON proofs (customer_id, verdict) WHERE verdict IN ('gap', 'fork');`,
	// Event list filters of the admin API, each in seq order so a page
	// reads in index order. decision_actions holds the reason of every
	// decided action, kept in step with decisions by triggers, so events are
	// found by reason through an index rather than by parsing every
	// decision. Actions that are not valid JSON index nothing rather than
	// fail the worker's transaction.
	//
	// Every index on events is paid for by every acknowledgement, so the
	// event lists make do with one more: by endpoint they scan in seq order
	// (few endpoints, most events on one), by time they translate the range
	// into seqs (receivedSeqs), and by bare event id they look up each
	// endpoint's unique index.
	`CREATE INDEX events_type_seq ON events (event_type, seq);
	CREATE TABLE decision_actions (
		event_seq INTEGER NOT NULL,
		position  INTEGER NOT NULL,
		reason    TEXT    NOT NULL,
		PRIMARY KEY (event_seq, position)
	);
	CREATE INDEX decision_actions_reason ON decision_actions (reason, event_seq);
	CREATE TRIGGER decisions_insert_actions AFTER INSERT ON decisions BEGIN
		INSERT INTO decision_actions (event_seq, position, reason)
		SELECT NEW.event_seq, a.key, COALESCE(json_extract(a.value, '$.reason'), '')
		FROM json_each(CASE WHEN json_valid(NEW.actions) THEN NEW.actions ELSE '[]' END) a;
	END;
	CREATE TRIGGER decisions_update_actions AFTER UPDATE OF actions ON decisions BEGIN
		DELETE FROM decision_actions WHERE event_seq = OLD.event_seq;
		INSERT INTO decision_actions (event_seq, position, reason)
		SELECT NEW.event_seq, a.key, COALESCE(json_extract(a.value, '$.reason'), '')
		FROM json_each(CASE WHEN json_valid(NEW.actions) THEN NEW.actions ELSE '[]' END) a;
	END;
	CREATE TRIGGER decisions_delete_actions AFTER DELETE ON decisions BEGIN
		DELETE FROM decision_actions WHERE event_seq = OLD.event_seq;
	END;
	INSERT INTO decision_actions (event_seq, position, reason)
	SELECT d.event_seq, a.key, COALESCE(json_extract(a.value, '$.reason'), '')
	FROM decisions d, json_each(CASE WHEN json_valid(d.actions) THEN d.actions ELSE '[]' END) a;`,
	// A manual retry gives a failed delivery a fresh set of attempts: its
	// attempts go on counting, from retried_after.
	`ALTER TABLE deliveries ADD COLUMN retried_after INTEGER NOT NULL DEFAULT 0;`,
	// The last inbox journal record loaded into events, committed with the
	// events it loaded, so that a restart replays exactly the rest.
	`CREATE TABLE journal_checkpoint (
		id  INTEGER PRIMARY KEY CHECK (id = 1),
		seq INTEGER NOT NULL
	);
	INSERT INTO journal_checkpoint (id, seq) VALUES (1, 0);`,
	// A customer's events, newest first, for the operator's search and the
	// chain timeline: the worker sets stream when it processes an event.
	`CREATE INDEX events_stream_seq ON events (stream, seq);`,
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
