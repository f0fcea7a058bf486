package sqlite

import (
	"context"
	"fmt"

	"github.com/fieldsync/fieldsync/syncengine"
)

// RecordsByType returns up to limit live records of a type in a tenant, by
// id (the rebate rules the server applies to a submitted quote).
func (db *DB) RecordsByType(ctx context.Context, tenantID, recordType string, limit int) ([]*syncengine.StoredRecord, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+recordColumns+` FROM records
		WHERE tenant_id = ? AND type = ? AND deleted = 0 ORDER BY id LIMIT +?`, tenantID, recordType, limit)
	if err != nil {
		return nil, fmt.Errorf("records by type: %w", err)
	}
	return db.scanRecords(rows)
}
