package store

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/arbiter-dev/arbiter/engine/testing/require"
)

// synchronous returns the writer connection's PRAGMA synchronous (1 NORMAL,
// 2 FULL).
func synchronous(t *testing.T, s *Store) int {
	t.Helper()
	var level int
	require.NoError(t, s.w.QueryRowContext(context.Background(), `PRAGMA synchronous`).Scan(&level))
	return level
}

// If setting the store's level back after a relaxed transaction fails, the
// one writer connection must not go on at NORMAL: every later commit,
// acknowledged events' included, would skip its fsync.
func TestRelaxedTxRestoresSynchronous(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{Path: filepath.Join(t.TempDir(), "arbiter.db")})
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, 2, synchronous(t, s))

	set := setSynchronous
	defer func() { setSynchronous = set }()
	setSynchronous = func(ctx context.Context, conn *sql.Conn, level string) error {
		if level == SyncFull {
			return errors.New("injected failure")
		}
		return set(ctx, conn, level)
	}
	err = s.relaxedTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE journal_checkpoint SET seq = 7 WHERE id = 1`)
		return err
	})
	require.NoError(t, err)
	setSynchronous = set
	require.Equal(t, 2, synchronous(t, s))
	ck, err := s.JournalCheckpoint(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(7), ck)
}

// With sync "normal", Sync commits a write at FULL (its fsync of the WAL
// covers the commits before it), and leaves the writer at NORMAL.
func TestSync(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "arbiter.db")
	s, err := Open(ctx, Config{Path: path, Sync: SyncNormal})
	require.NoError(t, err)
	defer s.Close()
	_, err = s.LoadJournal(ctx, nil, 5)
	require.NoError(t, err)
	wal := func() int64 {
		st, err := os.Stat(path + "-wal")
		require.NoError(t, err)
		return st.Size()
	}
	var levels []string
	set := setSynchronous
	defer func() { setSynchronous = set }()
	setSynchronous = func(ctx context.Context, conn *sql.Conn, level string) error {
		levels = append(levels, level)
		return set(ctx, conn, level)
	}
	before := wal()
	require.NoError(t, s.Sync(ctx))
	require.True(t, wal() > before, "Sync wrote a frame to the WAL")
	require.Equal(t, []string{SyncFull, SyncNormal}, levels)
	require.Equal(t, 1, synchronous(t, s))
	ck, err := s.JournalCheckpoint(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(5), ck)
}
