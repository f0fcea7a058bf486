package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/syncengine"
)

// NoteServed adds a page to the served-pages log, dropping expired entries
// and all but the device's keep newest (see syncengine.Store). Its
// statements are prepared once (every Pull that ends a sync runs them in
// the single writer; parsing them was most of their cost). The limit is
// +? so that binding it does not make SQLite plan the statement again
// (see scanQuery).
func (db *DB) NoteServed(ctx context.Context, pg syncengine.ServedPage, keep int, expireBefore time.Time) error {
	err := db.WriteTx(ctx, func(tx *sql.Tx, _ time.Time) error {
		if _, err := db.txExec(ctx, tx, `INSERT INTO served_pages (tenant_id, device_id, version, served_time) VALUES (?, ?, ?, ?)
			ON CONFLICT (tenant_id, device_id, version) DO UPDATE SET served_time = excluded.served_time`,
			pg.TenantID, pg.DeviceID, pg.Version, ms(pg.At)); err != nil {
			return err
		}
		if _, err := db.txExec(ctx, tx, `DELETE FROM served_pages WHERE tenant_id = ? AND device_id = ? AND version NOT IN (
			SELECT version FROM served_pages WHERE tenant_id = ? AND device_id = ? ORDER BY served_time DESC, version DESC LIMIT +?)`,
			pg.TenantID, pg.DeviceID, pg.TenantID, pg.DeviceID, keep); err != nil {
			return err
		}
		_, err := db.txExec(ctx, tx, `DELETE FROM served_pages WHERE served_time < ?`, ms(expireBefore))
		return err
	})
	if err != nil {
		return fmt.Errorf("served pages: %w", err)
	}
	return nil
}

// ServedAt returns when the device was last served a page ending at
// version (see syncengine.Store).
func (db *DB) ServedAt(ctx context.Context, tenantID, deviceID string, version uint64) (time.Time, bool, error) {
	st, err := db.readStmt(ctx, `SELECT served_time FROM served_pages WHERE tenant_id = ? AND device_id = ? AND version = ?`)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("served pages: %w", err)
	}
	var at int64
	err = st.QueryRowContext(ctx, tenantID, deviceID, version).Scan(&at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("served pages: %w", err)
	}
	return fromMS(at), true, nil
}
