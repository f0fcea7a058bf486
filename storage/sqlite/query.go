package sqlite

import (
	"context"
	"database/sql"
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
