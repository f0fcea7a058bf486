package migrate

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/fieldsync/fieldsync/storage/postgres"
	"github.com/fieldsync/fieldsync/storage/sqlite"
)

// Compare checks that every copied table holds the same rows in src and
// dst, whatever their order: per table, the row count and a digest of the
// rows (the sum of each row's SHA-256, so order does not matter), with
// SQLite's values converted as Run converts them. It reads each database
// in one snapshot. The error names the tables that differ.
func Compare(ctx context.Context, src *sqlite.DB, dst *postgres.DB) error {
	stx, err := src.Reader().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer stx.Rollback()
	return pgx.BeginTxFunc(ctx, dst.Pool(), pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(ptx pgx.Tx) error {
		var differ []string
		for _, table := range Copied {
			cols, err := postgresColumns(ctx, ptx, table)
			if err != nil {
				return err
			}
			a, err := sqliteDigest(ctx, stx, table, cols)
			if err != nil {
				return fmt.Errorf("sqlite %s: %w", table, err)
			}
			b, err := postgresDigest(ctx, ptx, table, cols)
			if err != nil {
				return fmt.Errorf("postgres %s: %w", table, err)
			}
			if a != b {
				differ = append(differ, fmt.Sprintf("%s (%d rows in SQLite, %d in PostgreSQL)", table, a.rows, b.rows))
			}
		}
		if len(differ) > 0 {
			return fmt.Errorf("the databases differ: %s", strings.Join(differ, "; "))
		}
		return nil
	})
}

// digest is an order-independent summary of a table's rows.
type digest struct {
	rows int64
	sum  [4]uint64
}

// add adds one row, given as its values in column order.
func (d *digest) add(vals []any) {
	h := sha256.New()
	for _, v := range vals {
		switch x := v.(type) {
		case int32:
			v = int64(x)
		case []byte:
			v = fmt.Sprintf("%x", x) // bytea and text must not compare equal
		}
		fmt.Fprintf(h, "%T:%v\x00", v, v)
	}
	sum := h.Sum(nil)
	for i := range d.sum {
		d.sum[i] += binary.BigEndian.Uint64(sum[i*8:])
	}
	d.rows++
}

func columnList(cols []column) string {
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = `"` + c.name + `"`
	}
	return strings.Join(names, ", ")
}

func sqliteDigest(ctx context.Context, tx *sql.Tx, table string, cols []column) (digest, error) {
	var d digest
	rows, err := tx.QueryContext(ctx, `SELECT `+columnList(cols)+` FROM "`+table+`"`)
	if err != nil {
		return d, err
	}
	defer rows.Close()
	vals, ptrs := make([]any, len(cols)), make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	out := make([]any, len(cols))
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return d, err
		}
		for i, c := range cols {
			if out[i], err = convert(c.typ, vals[i]); err != nil {
				return d, err
			}
		}
		d.add(out)
	}
	return d, rows.Err()
}

func postgresDigest(ctx context.Context, tx pgx.Tx, table string, cols []column) (digest, error) {
	var d digest
	rows, err := tx.Query(ctx, `SELECT `+columnList(cols)+` FROM `+pgx.Identifier{table}.Sanitize())
	if err != nil {
		return d, err
	}
	defer rows.Close()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return d, err
		}
		d.add(vals)
	}
	return d, rows.Err()
}
