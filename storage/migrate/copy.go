package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// column is one column of a PostgreSQL table: its name and data_type.
type column struct {
	name, typ string
}

// sqliteTables lists the tables of the SQLite schema.
func sqliteTables(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite tables: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("sqlite tables: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// postgresTables lists the tables of the PostgreSQL schema in use.
func postgresTables(ctx context.Context, tx pgx.Tx) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		return nil, fmt.Errorf("postgres tables: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres tables: %w", err)
	}
	return out, nil
}

// postgresColumns lists a table's columns in their order.
func postgresColumns(ctx context.Context, tx pgx.Tx, table string) ([]column, error) {
	rows, err := tx.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var c column
		return c, r.Scan(&c.name, &c.typ)
	})
}

// sqliteColumns lists a table's column names.
func sqliteColumns(ctx context.Context, tx *sql.Tx, table string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// columnsOf returns the PostgreSQL columns of a table after checking that
// SQLite's table has the same set: a column on one side only would be lost
// or left to its default, so it stops the copy.
func (c *copier) columnsOf(ctx context.Context, table string) ([]column, error) {
	pg, err := postgresColumns(ctx, c.dst, table)
	if err != nil {
		return nil, err
	}
	lite, err := sqliteColumns(ctx, c.src, table)
	if err != nil {
		return nil, err
	}
	var diff []string
	for _, col := range pg {
		if !slices.Contains(lite, col.name) {
			diff = append(diff, col.name+" (PostgreSQL only)")
		}
		if _, err := convert(col.typ, nil); err != nil {
			return nil, fmt.Errorf("column %s: %w", col.name, err)
		}
	}
	for _, name := range lite {
		if !slices.ContainsFunc(pg, func(col column) bool { return col.name == name }) {
			diff = append(diff, name+" (SQLite only)")
		}
	}
	if len(diff) > 0 {
		return nil, fmt.Errorf("the two schemas' columns differ: %s", strings.Join(diff, ", "))
	}
	return pg, nil
}

// copyTable streams a table from SQLite into PostgreSQL with COPY and
// checks that the target holds as many rows as the source.
func (c *copier) copyTable(ctx context.Context, table string) (int64, error) {
	cols, err := c.columnsOf(ctx, table)
	if err != nil {
		return 0, err
	}
	var total int64
	if err := c.src.QueryRowContext(ctx, `SELECT COUNT(*) FROM "`+table+`"`).Scan(&total); err != nil {
		return 0, err
	}
	names := make([]string, len(cols))
	for i, col := range cols {
		names[i] = col.name
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = `"` + n + `"`
	}
	rows, err := c.src.QueryContext(ctx, `SELECT `+strings.Join(quoted, ", ")+` FROM "`+table+`"`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	s := &rowSource{rows: rows, cols: cols, vals: make([]any, len(cols)), ptrs: make([]any, len(cols)),
		progress: func(n int64) {
			if n%c.opts.ProgressRows == 0 {
				c.progressf("%s: %d/%d rows\n", table, n, total)
			}
		}}
	for i := range s.vals {
		s.ptrs[i] = &s.vals[i]
	}
	n, err := c.dst.CopyFrom(ctx, pgx.Identifier{table}, names, s)
	if err != nil {
		return 0, err
	}
	if n != total {
		return 0, fmt.Errorf("copied %d rows of %d", n, total)
	}
	return n, nil
}

// rowSource feeds SQLite rows to COPY, converting each value to the type
// of its PostgreSQL column.
type rowSource struct {
	rows     *sql.Rows
	cols     []column
	vals     []any // scanned
	ptrs     []any // &vals[i]
	out      []any // converted
	n        int64
	err      error
	progress func(n int64)
}

func (s *rowSource) Next() bool {
	if s.err != nil || !s.rows.Next() {
		return false
	}
	if s.err = s.rows.Scan(s.ptrs...); s.err != nil {
		return false
	}
	s.out = make([]any, len(s.cols))
	for i, col := range s.cols {
		if s.out[i], s.err = convert(col.typ, s.vals[i]); s.err != nil {
			s.err = fmt.Errorf("column %s: %w", col.name, s.err)
			return false
		}
	}
	s.n++
	s.progress(s.n)
	return true
}

func (s *rowSource) Values() ([]any, error) { return s.out, nil }

func (s *rowSource) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.rows.Err()
}

// convert turns a value read from SQLite (nil, int64, float64, string or
// []byte) into the Go type of a PostgreSQL column type. A type this copy
// does not know is an error, also for nil (columnsOf checks each column's
// type with nil before the copy starts).
func convert(pgType string, v any) (any, error) {
	switch pgType {
	case "text", "bigint", "integer", "bytea", "boolean", "double precision":
	default:
		return nil, fmt.Errorf("PostgreSQL type %q: the copy does not know it (storage/migrate/copy.go)", pgType)
	}
	if v == nil {
		return nil, nil
	}
	switch pgType {
	case "text":
		if b, ok := v.([]byte); ok {
			return string(b), nil
		}
		if s, ok := v.(string); ok {
			return s, nil
		}
	case "bytea":
		if s, ok := v.(string); ok {
			return []byte(s), nil
		}
		if b, ok := v.([]byte); ok {
			if b == nil { // modernc reads an empty BLOB as a nil slice, which pgx would write as NULL
				b = []byte{}
			}
			return b, nil
		}
	case "bigint", "integer":
		if i, ok := v.(int64); ok {
			return i, nil
		}
	case "boolean":
		if i, ok := v.(int64); ok {
			return i != 0, nil
		}
	case "double precision":
		switch f := v.(type) {
		case float64:
			return f, nil
		case int64:
			return float64(f), nil
		}
	}
	return nil, fmt.Errorf("a SQLite %T (%v) does not fit PostgreSQL %s", v, v, pgType)
}

// setSequences moves the sequence of every serial column of the copied
// tables past both the highest copied value and SQLite's AUTOINCREMENT
// mark for the table, so no id is handed out twice (AUTOINCREMENT never
// reuses the id of a pruned newest row; neither may PostgreSQL).
func (c *copier) setSequences(ctx context.Context) error {
	marks, err := c.autoincrementMarks(ctx)
	if err != nil {
		return err
	}
	for _, table := range Copied {
		cols, err := postgresColumns(ctx, c.dst, table)
		if err != nil {
			return err
		}
		for _, col := range cols {
			var seq *string
			if err := c.dst.QueryRow(ctx, `SELECT pg_get_serial_sequence($1, $2)`, table, col.name).Scan(&seq); err != nil {
				return fmt.Errorf("sequence of %s.%s: %w", table, col.name, err)
			}
			if seq == nil {
				continue
			}
			var top int64
			if err := c.dst.QueryRow(ctx, `SELECT COALESCE(MAX(`+pgx.Identifier{col.name}.Sanitize()+`), 0) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&top); err != nil {
				return fmt.Errorf("sequence of %s.%s: %w", table, col.name, err)
			}
			top = max(top, marks[table])
			// setval(seq, n, false): the next value is n, so 1 on an empty table.
			if _, err := c.dst.Exec(ctx, `SELECT setval($1, $2, false)`, *seq, top+1); err != nil {
				return fmt.Errorf("sequence of %s.%s: %w", table, col.name, err)
			}
		}
	}
	return nil
}

// autoincrementMarks reads sqlite_sequence: per table, the highest id an
// AUTOINCREMENT column has handed out.
func (c *copier) autoincrementMarks(ctx context.Context) (map[string]int64, error) {
	rows, err := c.src.QueryContext(ctx, `SELECT name, seq FROM `+sqliteSequence)
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", sqliteSequence, err)
	}
	defer rows.Close()
	marks := map[string]int64{}
	for rows.Next() {
		var name string
		var seq int64
		if err := rows.Scan(&name, &seq); err != nil {
			return nil, fmt.Errorf("sqlite %s: %w", sqliteSequence, err)
		}
		marks[name] = seq
	}
	return marks, rows.Err()
}
