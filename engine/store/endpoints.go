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

type storedSecret struct {
	Value     string `json:"value"`
	ExpiresAt int64  `json:"expiresAt,omitempty"`
}

// PutEndpoint creates or replaces an endpoint.
func (s *Store) PutEndpoint(ctx context.Context, ep engine.Endpoint) error {
	secrets := make([]storedSecret, len(ep.Secrets))
	for i, sec := range ep.Secrets {
		secrets[i] = storedSecret{Value: sec.Value, ExpiresAt: micros(sec.ExpiresAt)}
	}
	raw, err := json.Marshal(secrets)
	if err != nil {
		return fmt.Errorf("put endpoint %s: %w", ep.Name, err)
	}
	now := micros(time.Now())
	created := micros(ep.CreatedAt)
	if created == 0 {
		created = now
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO endpoints (name, secrets, allow_legacy, enabled, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET secrets = excluded.secrets, allow_legacy = excluded.allow_legacy,
			enabled = excluded.enabled, updated_at = excluded.updated_at`,
		ep.Name, string(raw), ep.AllowLegacy, ep.Enabled, created, now)
	if err != nil {
		return fmt.Errorf("put endpoint %s: %w", ep.Name, err)
	}
	return nil
}

const selectEndpoint = `SELECT name, secrets, allow_legacy, enabled, created_at FROM endpoints`

// Endpoint reads one endpoint by name.
func (s *Store) Endpoint(ctx context.Context, name string) (engine.Endpoint, error) {
	ep, err := scanEndpoint(s.readRow(ctx, selectEndpoint+` WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return ep, fmt.Errorf("endpoint %s: %w", name, engine.ErrNotFound)
	}
	if err != nil {
		return ep, fmt.Errorf("endpoint %s: %w", name, err)
	}
	return ep, nil
}

// Endpoints lists every endpoint by name.
func (s *Store) Endpoints(ctx context.Context) ([]engine.Endpoint, error) {
	rows, err := s.readRows(ctx, selectEndpoint+` ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	defer rows.Close()
	var out []engine.Endpoint
	for rows.Next() {
		ep, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("list endpoints: %w", err)
		}
		out = append(out, ep)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	return out, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanEndpoint(row scanner) (engine.Endpoint, error) {
	var (
		ep      engine.Endpoint
		raw     string
		created int64
	)
	if err := row.Scan(&ep.Name, &raw, &ep.AllowLegacy, &ep.Enabled, &created); err != nil {
		return ep, err
	}
	var secrets []storedSecret
	if err := json.Unmarshal([]byte(raw), &secrets); err != nil {
		return ep, fmt.Errorf("secrets: %w", err)
	}
	for _, sec := range secrets {
		ep.Secrets = append(ep.Secrets, engine.Secret{Value: sec.Value, ExpiresAt: fromMicros(sec.ExpiresAt)})
	}
	ep.CreatedAt = fromMicros(created)
	return ep, nil
}

// Setting reads a named value the agent keeps for itself, such as a
// generated admin token; ok is false when unset.
func (s *Store) Setting(ctx context.Context, name string) (string, bool, error) {
	var v string
	err := s.readRow(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("setting %s: %w", name, err)
	}
	return v, true, nil
}

// PutSetting stores a named value.
func (s *Store) PutSetting(ctx context.Context, name, value string) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, name, value, micros(time.Now()))
	if err != nil {
		return fmt.Errorf("put setting %s: %w", name, err)
	}
	return nil
}
