// Package sqlite is fieldsync's SQLite store (modernc.org/sqlite, no cgo):
// identity, records and their change log, the conflict log, uploads and the
// event outbox. One writer connection takes BEGIN IMMEDIATE transactions; a
// small pool serves reads. Every connection runs with WAL, foreign keys and
// synchronous=FULL, so an acknowledged write survives a power cut.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/fieldsync/fieldsync/storage/internal/throttle"
	"github.com/fieldsync/fieldsync/syncengine"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is an open fieldsync database.
type DB struct {
	// write has exactly one connection; its transactions start with BEGIN IMMEDIATE.
	write *sql.DB
	// read is a small pool for queries outside write transactions.
	read *sql.DB
	// Now is the clock, read once per transaction. Tests may replace it.
	Now func() time.Time

	wstmts, rstmts *stmtCache
	seen           throttle.Marks[struct{}]                // last_seen_at writes (identity.go)
	statuses       throttle.Marks[syncengine.DeviceStatus] // device_status writes (devicestatus.go)
	reg            *syncengine.Registry                    // the record types (WithRegistry)
	gw             *groupWriter                            // group commit of WriteTx (groupcommit.go)
	ckpt           *checkpointer                           // copies the WAL back beside the writer (checkpoint.go)

	afterScanBound func() // tests: runs between a scan's bound and its rows (scan.go)
}

// ReadPoolSize is the number of read connections. modernc's throughput
// drops with large pools, so it stays small.
const ReadPoolSize = 4

// Open opens (creating if needed) the database file at path and applies
// every pending migration, configured by opts. A new file is readable by the owner only (it
// holds every record); SQLite gives its -wal and -shm files the same mode.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := registerWALBufVFS(); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	write, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	read, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	read.SetMaxOpenConns(ReadPoolSize)
	read.SetMaxIdleConns(ReadPoolSize)
	ckpt, err := startCheckpointer(path)
	if err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db := &DB{write: write, read: read, Now: time.Now, wstmts: newStmtCache(write), rstmts: newStmtCache(read), ckpt: ckpt}
	db.applyOptions(opts)
	db.gw = newGroupWriter()
	go db.writeLoop()
	if err := db.checkSynchronous(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// checkSynchronous makes sure the writer syncs the WAL at every commit
// (synchronous FULL or EXTRA), which walBufVFS needs: it writes the frames
// it gathered when SQLite syncs them, before any reader is told of them.
func (db *DB) checkSynchronous(ctx context.Context) error {
	var level int
	if err := db.write.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&level); err != nil {
		return fmt.Errorf("read synchronous: %w", err)
	}
	if level < 2 {
		return fmt.Errorf("the writer runs with synchronous=%d; %s needs FULL (2) or EXTRA (3)", level, walBufVFS)
	}
	return nil
}

// createPrivate creates an empty file at path with mode 0600 unless
// something is there already.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

func dsn(path string, writer bool) string {
	q := url.Values{}
	for _, p := range []string{
		"journal_mode(WAL)",
		"synchronous(FULL)",
		"busy_timeout(10000)",
		"foreign_keys(ON)",
		"temp_store(MEMORY)",
		"cache_size(-16000)",
		// Pages outside the WAL are read from a shared mapping of the
		// file instead of being copied into each connection's cache.
		// In WAL mode every commit by another connection empties a
		// connection's whole cache at its next read; with modernc's
		// allocator freeing and refilling thousands of cached pages
		// cost a pull about 40% of its CPU (BENCHMARKS.md). SQLite
		// never writes through the mapping; an I/O error while reading
		// it ends the process (SIGBUS) instead of failing the query
		// (docs/operations.md).
		"mmap_size(1073741824)",
	} {
		q.Add("_pragma", p)
	}
	if writer {
		q.Set("vfs", walBufVFS) // walbuf.go; needs synchronous(FULL), checkSynchronous
		q.Set("_txlock", "immediate")
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", writerAutoCheckpoint)) // checkpoint.go
	} else {
		q.Add("_pragma", "query_only(ON)")
	}
	return "file:" + path + "?" + q.Encode()
}

// Close waits for the queued writes to finish, then closes both pools.
// WriteTx fails after Close.
func (db *DB) Close() error {
	db.gw.close()
	db.wstmts.close()
	db.rstmts.close()
	return errors.Join(db.ckpt.close(), db.read.Close(), db.write.Close())
}

// Ping runs a trivial query on a read connection: nil when the database
// answers.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.read.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
}

// Writer returns the single write connection pool; callers use WriteTx.
func (db *DB) Writer() *sql.DB { return db.write }

// Reader returns the read pool.
func (db *DB) Reader() *sql.DB { return db.read }

// WriteTx runs fn in a write transaction (BEGIN IMMEDIATE) and returns
// once it is committed, when fn returns nil; an error or panic of fn rolls
// back fn's writes. now is read once per call, when fn starts. Concurrent
// calls share a transaction and its commit (see groupcommit.go): fn sees
// the writes of the calls before it, and must leave tx usable (no COMMIT,
// ROLLBACK or RELEASE of its own).
//
// An error that means another process held the database locked past the
// busy timeout wraps storage.ErrUnavailable.
func (db *DB) WriteTx(ctx context.Context, fn func(tx *sql.Tx, now time.Time) error) (err error) {
	defer classify(&err)
	if db.gw.disabled.Load() {
		err = db.writeAlone(ctx, fn)
	} else {
		err = db.writeGrouped(ctx, fn)
	}
	if err == nil {
		db.ckpt.poke()
	}
	return err
}

// writeAlone runs fn in a transaction of its own on the writer connection:
// WriteTx without group commit.
func (db *DB) writeAlone(ctx context.Context, fn func(tx *sql.Tx, now time.Time) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer db.wstmts.preparePending(context.WithoutCancel(ctx))
	if err := callFn(fn, tx, db.Now()); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// migration is one numbered schema change.
type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %q: name must start with a number and _", e.Name())
		}
		body, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %q and %q share a number", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrate applies each migration newer than the recorded version, each in
// its own transaction together with the new version number.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if _, err := db.write.ExecContext(ctx,
		`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := db.write.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		err := db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, now.UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// ms converts a time to the stored form, Unix milliseconds; zero stays 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS converts stored Unix milliseconds back; 0 is the zero time.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// nullMS reads a nullable millisecond column.
func nullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}
