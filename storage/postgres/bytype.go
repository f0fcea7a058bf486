package postgres

import (
	"context"
	"fmt"

	"github.com/fieldsync/fieldsync/syncengine"
)

// RecordsByType returns up to limit live records of a type in a tenant, by
// id (the rebate rules the server applies to a submitted quote).
func (db *DB) RecordsByType(ctx context.Context, tenantID, recordType string, limit int) (_ []*syncengine.StoredRecord, err error) {
	defer classify(&err)
	rows, err := db.pool.Query(ctx, `SELECT `+recordColumns+` FROM records
		WHERE tenant_id = $1 AND type = $2 AND NOT deleted ORDER BY id LIMIT $3`, tenantID, recordType, limit)
	if err != nil {
		return nil, fmt.Errorf("records by type: %w", err)
	}
	defer rows.Close()
	var out []*syncengine.StoredRecord
	for rows.Next() {
		rec, err := scanRecord(db.reg, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}
