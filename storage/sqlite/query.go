package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// VersionBefore returns the version after which a listing of one record
// type starts to show the records changed at or after t: just below the
// first such record's version, or the tenant's latest version when there
// is none. It reads the type's range of the records_type index.
func (db *DB) VersionBefore(ctx context.Context, tenantID, recordType string, t time.Time) (uint64, error) {
	st, err := db.readStmt(ctx, `SELECT MIN(version) FROM records INDEXED BY records_type
		WHERE tenant_id = ? AND type = ? AND updated_at >= ?`)
	if err != nil {
		return 0, fmt.Errorf("version before: %w", err)
	}
	var first sql.NullInt64
	if err := st.QueryRowContext(ctx, tenantID, recordType, ms(t)).Scan(&first); err != nil {
		return 0, fmt.Errorf("version before: %w", err)
	}
	if first.Valid {
		return uint64(first.Int64) - 1, nil
	}
	_, latest, err := db.CursorBounds(ctx, tenantID)
	return latest, err
}

// rowScanner is a row of *sql.Rows or a *sql.Row.
type rowScanner = interface{ Scan(dest ...any) error }

// queryAll runs query and scans every row with scan.
func queryAll[T any](ctx context.Context, q querier, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// queryOne returns the single row of query, or nil when there is none.
func queryOne[T any](ctx context.Context, q querier, scan func(rowScanner) (*T, error), query string, args ...any) (*T, error) {
	v, err := scan(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return v, err
}
