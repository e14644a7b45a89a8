package store

import (
	"context"
	"database/sql"
)

// Every query is prepared once per pool and reused: parsing SQL again on
// each call costs more than running these small indexed lookups.

func (s *Store) prepared(ctx context.Context, db *sql.DB, q string) (*sql.Stmt, error) {
	key := q
	if db == s.w {
		key = "w\x00" + q
	}
	if v, ok := s.stmts.Load(key); ok {
		return v.(*sql.Stmt), nil
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if v, loaded := s.stmts.LoadOrStore(key, st); loaded {
		st.Close()
		return v.(*sql.Stmt), nil
	}
	return st, nil
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// readRow runs a one-row query on the reader pool.
func (s *Store) readRow(ctx context.Context, q string, args ...any) scanner {
	st, err := s.prepared(ctx, s.r, q)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// readRows runs a query on the reader pool.
func (s *Store) readRows(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := s.prepared(ctx, s.r, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (s *Store) closeStmts() {
	s.stmts.Range(func(_, v any) bool {
		v.(*sql.Stmt).Close()
		return true
	})
}
