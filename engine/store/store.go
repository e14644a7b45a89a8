// Package store is Arbiter's durable state on SQL: the inbox of received
// webhooks, endpoints and their secrets. SQLite (pure Go, WAL) is the
// embedded default. All SQL is written once with "?" placeholders and kept
// to what PostgreSQL also runs, so a second dialect only rebinds placeholders
// and swaps the schema.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/arbiter-dev/arbiter/engine"
)

// Config opens a store.
type Config struct {
	Driver string // "sqlite"
	// Path is the SQLite database file; DSN, when set, is used as is.
	Path string
	DSN  string
	// MaxBatch bounds how many appends share one commit (group commit).
	MaxBatch int
	// Sync is SQLite's synchronous level for commits: "full" (default)
	// fsyncs every group commit, so an acknowledged event survives power
	// loss; "normal" survives process crashes but may lose the last commits
	// to an OS crash or power cut, for several times the throughput.
	Sync   string
	Logger hclog.Logger
}

// Sync levels.
const (
	SyncFull   = "full"
	SyncNormal = "normal"
)

// Store implements engine.Store.
type Store struct {
	w   *sql.DB // the one writer connection: SQLite has a single writer
	r   *sql.DB // readers, concurrent under WAL
	log hclog.Logger

	insertEvent *sql.Stmt
	stmts       sync.Map // SQL text → *sql.Stmt

	maxBatch int
	sync     string
	mu       sync.RWMutex // guards closed against sends on appends
	closed   bool
	appends  chan *appendReq
	done     chan struct{}
	// stored counts the inbox's events: counted once at Open, then kept by
	// the group committer, the inbox's only writer, so that health checks
	// never count a large table.
	stored atomic.Int64
}

var _ engine.Store = (*Store)(nil)

// Open opens (creating if needed) the store and migrates its schema.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Driver == "" {
		cfg.Driver = "sqlite"
	}
	if cfg.Driver != "sqlite" {
		return nil, fmt.Errorf("open store: unsupported driver %q", cfg.Driver)
	}
	if cfg.MaxBatch < 1 {
		cfg.MaxBatch = 256
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	switch cfg.Sync {
	case "":
		cfg.Sync = SyncFull
	case SyncFull, SyncNormal:
	default:
		return nil, fmt.Errorf("open store: sync %q is not full or normal", cfg.Sync)
	}
	wdsn, rdsn, err := sqliteDSNs(cfg)
	if err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", rdsn)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	s := &Store{
		w: w, r: r, log: cfg.Logger,
		maxBatch: cfg.MaxBatch,
		sync:     cfg.Sync,
		appends:  make(chan *appendReq, cfg.MaxBatch),
		done:     make(chan struct{}),
	}
	if err := s.migrate(ctx); err != nil {
		s.closeDBs()
		return nil, err
	}
	if s.insertEvent, err = w.PrepareContext(ctx, insertEventSQL); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open store: prepare: %w", err)
	}
	for _, q := range applySQL {
		if _, err := s.prepared(ctx, w, q); err != nil {
			s.closeDBs()
			return nil, fmt.Errorf("open store: prepare: %w", err)
		}
	}
	var stored int64
	if err := w.QueryRowContext(ctx, `SELECT COUNT(*) FROM events`).Scan(&stored); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open store: count events: %w", err)
	}
	s.stored.Store(stored)
	go s.writeLoop()
	return s, nil
}

func sqliteDSNs(cfg Config) (writer, reader string, err error) {
	if cfg.DSN != "" {
		return cfg.DSN, cfg.DSN, nil
	}
	if cfg.Path == "" {
		return "", "", errors.New("open store: no database path")
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o700); err != nil {
		return "", "", fmt.Errorf("open store: %w", err)
	}
	// With synchronous(FULL) a commit is on disk before the 200 goes out;
	// group commit amortizes the fsync across concurrent requests.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+strings.ToUpper(cfg.Sync)+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_txlock", "immediate")
	writer = "file:" + cfg.Path + "?" + q.Encode()
	rq := url.Values{}
	rq.Add("_pragma", "busy_timeout(10000)")
	rq.Add("_pragma", "query_only(1)")
	reader = "file:" + cfg.Path + "?" + rq.Encode()
	return writer, reader, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.readRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("ping store: %w", err)
	}
	return nil
}

// Close stops accepting appends, commits those already queued, and closes
// the database.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.appends)
	s.mu.Unlock()
	<-s.done
	return s.closeDBs()
}

func (s *Store) closeDBs() error {
	s.closeStmts()
	var errs []error
	if s.insertEvent != nil {
		errs = append(errs, s.insertEvent.Close())
	}
	errs = append(errs, s.w.Close(), s.r.Close())
	return errors.Join(errs...)
}

// micros is the storage form of a time: Unix microseconds, which both
// dialects compare and index as plain integers.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}
