// Package postgres is fieldsync's PostgreSQL store (github.com/jackc/pgx/v5),
// for running several fieldsyncd nodes over one database. It implements
// the stores the domain packages declare, over the schema storage/sqlite
// reached (the scope-indexed change log), with numbered embedded
// migrations that several nodes may apply at once.
//
// Versions: a transaction that writes a tenant's change rows locks the
// tenant's counter row until it commits, so a reader never passes a
// version that can still commit (docs/architecture.md, "Versions on
// PostgreSQL").
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fieldsync/fieldsync/storage/internal/throttle"
	"github.com/fieldsync/fieldsync/syncengine"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is an open fieldsync database on PostgreSQL. Its methods are safe for
// concurrent use, also by several processes on the same database.
type DB struct {
	pool *pgxpool.Pool
	// Now is the clock, read once per transaction. Tests may replace it.
	Now      func() time.Time
	reg      *syncengine.Registry
	seen     throttle.Marks[struct{}]                // last_seen_at writes (identity.go)
	statuses throttle.Marks[syncengine.DeviceStatus] // device_status writes (devicestatus.go)
	tracer   pgx.QueryTracer
}

// Option configures Open.
type Option func(*DB)

// WithRegistry sets the record types the store decodes records with;
// default syncengine.DefaultRegistry().
func WithRegistry(r *syncengine.Registry) Option {
	return func(db *DB) { db.reg = r }
}

// WithTracer traces the statements and batches sent on every connection
// (pgx.QueryTracer; one that is also a pgx.BatchTracer sees batches).
func WithTracer(t pgx.QueryTracer) Option {
	return func(db *DB) { db.tracer = t }
}

// Open connects to the database at url (postgres://…) and applies every
// pending migration.
func Open(ctx context.Context, url string, opts ...Option) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !ok {
		// The scans are prepared once per connection and run with new
		// versions each time; PostgreSQL would plan their many index
		// ranges again for each run until it trusts a generic plan.
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	}
	db := &DB{Now: time.Now, reg: syncengine.DefaultRegistry()}
	for _, o := range opts {
		o(db)
	}
	cfg.ConnConfig.Tracer = db.tracer
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db.pool = pool
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the connections.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Pool is the connection pool, for tests and tools.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// migrationLock is the key of the session advisory lock Open holds while it
// migrates, so nodes starting at once apply each migration once, in order.
const migrationLock = 0x66737973 // "fsys"

// migrate applies the embedded migrations not yet recorded in
// schema_migrations, each in its own transaction, under migrationLock.
func (db *DB) migrate(ctx context.Context) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	migs, err := migrations()
	if err != nil {
		return err
	}
	for _, m := range migs {
		if err := applyMigration(ctx, conn.Conn(), m); err != nil {
			return err
		}
	}
	return nil
}

// migration is one numbered SQL file.
type migration struct {
	version int
	name    string
}

// migrations lists the embedded files in version order.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, n := range names {
		base := strings.TrimPrefix(n, "migrations/")
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("migration %s: no number", n)
		}
		out = append(out, migration{version: v, name: base})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// applyMigration runs m unless it is recorded, and records it, in one
// transaction.
func applyMigration(ctx context.Context, conn *pgx.Conn, m migration) error {
	var done bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.version).Scan(&done); err != nil || done {
		return err
	}
	body, err := migrationFS.ReadFile("migrations/" + m.name)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name)
		return err
	})
}

// SchemaVersion returns the highest migration applied.
func (db *DB) SchemaVersion(ctx context.Context) (_ int, err error) {
	defer classify(&err)
	var v int
	err = db.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// writeTx runs fn in a READ COMMITTED transaction and commits it when fn
// returns nil; now is the transaction's clock reading.
func (db *DB) writeTx(ctx context.Context, fn func(tx pgx.Tx, now time.Time) error) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		return fn(tx, db.Now())
	})
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// noRows reports whether err says a query returned no row.
func noRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
