package fieldsync

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// readPoolSize is the number of read connections; modernc's throughput
// falls with large pools.
const readPoolSize = 2

// writerCacheKiB is the writer connection's page cache (SQLite's default
// is 2,000 KiB). The writer mostly appends (a pulled page's records, an
// outbox entry) and reads a few rows, so its cache holds little it reads
// again; filling 2 MB of fresh memory cost a new device's first sync more
// kernel time (a page fault per 4 KiB) than anything the cache saved. A
// transaction dirtying more pages than fit writes the rest to the WAL
// before its commit (uncommitted frames, invisible to readers and dropped
// on rollback). Smaller still (128, 256 KiB) cost the page writer more
// user time than it saved.
const writerCacheKiB = 512

// store is the device's SQLite file: one writer connection whose
// transactions start with BEGIN IMMEDIATE, and a small read pool. Every
// connection runs with WAL and synchronous=FULL, so a committed local write
// survives a power cut.
type store struct {
	write *sql.DB
	read  *sql.DB

	upsertMu  sync.Mutex
	upsertGen int64             // the generation of upserts' statements
	upserts   map[int]*sql.Stmt // by rows: upsertRecords(rows, upsertGen)
}

func openStore(ctx context.Context, path string) (*store, error) {
	if err := registerCachedDriver(); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	write, err := sql.Open(cachedDriverName, dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	read, err := sql.Open(cachedDriverName, dsn(path, false))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	read.SetMaxOpenConns(readPoolSize)
	read.SetMaxIdleConns(readPoolSize)
	s := &store{write: write, read: read}
	if err := s.migrate(ctx); err != nil {
		s.close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

func dsn(path string, writer bool) string {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	if writer {
		q.Set("_txlock", "immediate")
		q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", writerCacheKiB))
	} else {
		q.Add("_pragma", "query_only(ON)")
	}
	return "file:" + path + "?" + q.Encode()
}

func (s *store) close() error {
	s.upsertMu.Lock()
	for _, st := range s.upserts {
		st.Close()
	}
	s.upserts = nil
	s.upsertMu.Unlock()
	return errors.Join(s.read.Close(), s.write.Close())
}

// prepareUpserts prepares the page writer's upserts of generation gen
// (upsertSizes) on the writer, outside any transaction, and keeps them for
// the next pages; those of an earlier generation (before a resync) are
// closed.
func (s *store) prepareUpserts(ctx context.Context, gen int64) error {
	s.upsertMu.Lock()
	defer s.upsertMu.Unlock()
	if gen == s.upsertGen && s.upserts != nil {
		return nil
	}
	for _, st := range s.upserts {
		st.Close()
	}
	s.upserts, s.upsertGen = map[int]*sql.Stmt{}, gen
	for _, rows := range upsertSizes {
		st, err := s.write.PrepareContext(ctx, upsertRecords(rows, gen))
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		s.upserts[rows] = st
	}
	return nil
}

// upsert is upsertRecords(rows, gen) in tx: the kept statement if
// prepareUpserts prepared it for gen, else one prepared in tx alone.
func (s *store) upsert(ctx context.Context, tx *sql.Tx, rows int, gen int64) (*sql.Stmt, error) {
	s.upsertMu.Lock()
	st, ok := s.upserts[rows]
	ok = ok && gen == s.upsertGen
	s.upsertMu.Unlock()
	if ok {
		return tx.StmtContext(ctx, st), nil
	}
	st, err := tx.PrepareContext(ctx, upsertRecords(rows, gen))
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	return st, nil
}

// update runs fn in one write transaction and commits it when fn returns nil.
func (s *store) update(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		if errors.Is(err, sql.ErrTxDone) && ctx.Err() != nil {
			// ctx ended while fn ran: database/sql rolled the transaction back.
			return fmt.Errorf("commit: %w", context.Cause(ctx))
		}
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// migrate applies the embedded numbered migrations not applied yet, each in
// its own transaction that also records the new user_version.
func (s *store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	var current int
	if err := s.write.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	for _, name := range names {
		version, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(name, "migrations/"), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: bad name", name)
		}
		if version <= current {
			continue
		}
		if err := s.applyMigration(ctx, name, version); err != nil {
			return err
		}
	}
	return nil
}

func (s *store) applyMigration(ctx context.Context, name string, version int) error {
	body, err := migrationFS.ReadFile(name)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, version))
		return err
	})
}

// querier is what both *sql.DB and *sql.Tx offer for reads.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// metaInt reads an integer meta value.
func metaInt(ctx context.Context, q querier, key string) (int64, error) {
	var v int64
	if err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v); err != nil {
		return 0, fmt.Errorf("read %s: %w", key, err)
	}
	return v, nil
}

// metaString reads a text meta value.
func metaString(ctx context.Context, q querier, key string) (string, error) {
	var v string
	if err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v); err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	return v, nil
}

// setMeta writes a meta value.
func setMeta(ctx context.Context, tx *sql.Tx, key string, value any) error {
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = ?`, value, key); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}
