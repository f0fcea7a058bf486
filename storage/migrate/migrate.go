// Package migrate copies a fieldsync SQLite database into an empty
// PostgreSQL database (`fieldsync migrate-store`), so that an installation
// that outgrew one node can move to several nodes over PostgreSQL without
// its devices noticing.
//
// Everything keeps its number: each tenant's versions and purge horizon
// (tenant_versions, records.version, scope_exits.version), so the pull
// cursors devices hold stay valid and name the same changes; each
// device's push seqs (actor_seqs, push_results), so a replayed push gets
// its first answer; conflict ids, outbox seqs and effect ids.
//
// The copy is one PostgreSQL transaction read from one SQLite snapshot:
// it commits whole or not at all. A failed run leaves the target as it was
// (the schema applied, no rows) and may simply be run again. The tables
// copied are listed in tables.go; Run refuses to start when either schema
// has a table that list does not account for.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fieldsync/fieldsync/storage/postgres"
	"github.com/fieldsync/fieldsync/storage/sqlite"
)

// ErrTargetNotEmpty is returned by Run when a copied table of the target
// has rows and Options.Replace is false.
var ErrTargetNotEmpty = errors.New("the target database is not empty")

// Options configures Run.
type Options struct {
	// Replace empties the copied tables of the target first (in the same
	// transaction) instead of refusing a target that has rows.
	Replace bool
	// Progress receives one line per table and one every ProgressRows rows
	// of a large one; nil prints nothing.
	Progress io.Writer
	// ProgressRows is the number of rows between progress lines; default
	// 50,000.
	ProgressRows int64
}

// Report says what Run copied.
type Report struct {
	Tables []TableReport
	// SurgerySeq is the commit sequence SQLite had reached, now the
	// target's surgery_seq counter.
	SurgerySeq int64
}

// TableReport is one copied table.
type TableReport struct {
	Name string
	Rows int64
}

// Rows is the number of rows copied in all.
func (r *Report) Rows() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Rows
	}
	return n
}

// Run copies every table of src into dst in one transaction of dst, read
// from one snapshot of src. dst must have been opened with postgres.Open
// (its migrations applied). Errors: ErrTargetNotEmpty when a copied table
// of dst has rows (unless opts.Replace); an error naming the tables when
// the schemas and the copy plan disagree; any error of either database,
// after which dst is unchanged.
func Run(ctx context.Context, src *sqlite.DB, dst *postgres.DB, opts Options) (*Report, error) {
	if opts.ProgressRows <= 0 {
		opts.ProgressRows = 50_000
	}
	// Staged progress rows belong in insights_progress (see NotCopied).
	if err := src.FoldInsightsProgress(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	stx, err := src.Reader().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	defer stx.Rollback()
	var rep *Report
	err = pgx.BeginFunc(ctx, dst.Pool(), func(ptx pgx.Tx) error {
		c := &copier{src: stx, dst: ptx, opts: opts}
		var err error
		rep, err = c.run(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// copier is one run: the SQLite snapshot and the PostgreSQL transaction.
type copier struct {
	src  *sql.Tx
	dst  pgx.Tx
	opts Options
}

func (c *copier) run(ctx context.Context) (*Report, error) {
	liteTables, err := sqliteTables(ctx, c.src)
	if err != nil {
		return nil, err
	}
	pgTables, err := postgresTables(ctx, c.dst)
	if err != nil {
		return nil, err
	}
	if err := checkTables(liteTables, pgTables); err != nil {
		return nil, err
	}
	var staged bool
	if err := c.src.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM insights_progress_staged)`).Scan(&staged); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if staged {
		return nil, errors.New("sqlite: insights progress was staged after the fold: is a daemon still running on the source?")
	}
	if err := c.prepareTarget(ctx); err != nil {
		return nil, err
	}
	rep := &Report{}
	for _, name := range Copied {
		start := time.Now()
		n, err := c.copyTable(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("copy %s: %w", name, err)
		}
		c.progressf("%s: %d rows (%s)\n", name, n, time.Since(start).Round(time.Millisecond))
		rep.Tables = append(rep.Tables, TableReport{Name: name, Rows: n})
	}
	if rep.SurgerySeq, err = c.translateCounters(ctx); err != nil {
		return nil, err
	}
	if err := c.setSequences(ctx); err != nil {
		return nil, err
	}
	c.progressf("committing %d rows\n", rep.Rows())
	return rep, nil
}

// prepareTarget refuses a target with rows in a copied table, or empties
// those tables when told to.
func (c *copier) prepareTarget(ctx context.Context) error {
	if c.opts.Replace {
		// Every table with a foreign key is in the list with the table it
		// refers to, so no CASCADE is needed: a table outside the list that
		// refers to one in it makes TRUNCATE fail rather than empty it.
		if _, err := c.dst.Exec(ctx, `TRUNCATE `+strings.Join(quoteAll(Copied), ", ")+` RESTART IDENTITY`); err != nil {
			return fmt.Errorf("empty the target: %w", err)
		}
		return nil
	}
	var full []string
	for _, name := range Copied {
		var any bool
		if err := c.dst.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{name}.Sanitize()+`)`).Scan(&any); err != nil {
			return fmt.Errorf("check the target: %w", err)
		}
		if any {
			full = append(full, name)
		}
	}
	if len(full) > 0 {
		return fmt.Errorf("%w: %s hold rows (a daemon already ran on it?); pass --replace to empty them first", ErrTargetNotEmpty, strings.Join(full, ", "))
	}
	return nil
}

// translateCounters carries SQLite's commit sequence over as PostgreSQL's
// surgery_seq (see Translated).
func (c *copier) translateCounters(ctx context.Context) (int64, error) {
	var seq int64
	if err := c.src.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'seq'`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("sqlite counters: %w", err)
	}
	tag, err := c.dst.Exec(ctx, `UPDATE counters SET value = $1 WHERE name = 'surgery_seq'`, seq)
	if err != nil {
		return 0, fmt.Errorf("postgres counters: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return 0, errors.New("postgres counters: no surgery_seq row")
	}
	return seq, nil
}

func (c *copier) progressf(format string, args ...any) {
	if c.opts.Progress != nil {
		fmt.Fprintf(c.opts.Progress, format, args...)
	}
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = pgx.Identifier{n}.Sanitize()
	}
	return out
}
