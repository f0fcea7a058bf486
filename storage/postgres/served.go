package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fieldsync/fieldsync/syncengine"
)

// NoteServed adds a page to the served-pages log, dropping expired entries
// and all but the device's keep newest (see syncengine.Store). It takes no
// tenant lock (the log is no part of the change log) and is one round
// trip: a batch, which PostgreSQL runs as one implicit transaction. Its
// commit is asynchronous (synchronous_commit off): the row is visible to
// every node once this returns, and a crash losing it costs only the
// precision of one receipt (the device's next Pull records it).
func (db *DB) NoteServed(ctx context.Context, pg syncengine.ServedPage, keep int, expireBefore time.Time) (err error) {
	defer classify(&err)
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	b.Queue(`INSERT INTO served_pages (tenant_id, device_id, version, served_time) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant_id, device_id, version) DO UPDATE SET served_time = EXCLUDED.served_time`,
		pg.TenantID, pg.DeviceID, pg.Version, ms(pg.At))
	b.Queue(`DELETE FROM served_pages WHERE tenant_id = $1 AND device_id = $2 AND version NOT IN (
		SELECT version FROM served_pages WHERE tenant_id = $1 AND device_id = $2 ORDER BY served_time DESC, version DESC LIMIT $3)`,
		pg.TenantID, pg.DeviceID, keep)
	b.Queue(`DELETE FROM served_pages WHERE served_time < $1`, ms(expireBefore))
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("served pages: %w", err)
	}
	return nil
}

// ServedAt returns when the device was last served a page ending at
// version (see syncengine.Store).
func (db *DB) ServedAt(ctx context.Context, tenantID, deviceID string, version uint64) (_ time.Time, _ bool, err error) {
	defer classify(&err)
	var at int64
	err = db.pool.QueryRow(ctx, `SELECT served_time FROM served_pages WHERE tenant_id = $1 AND device_id = $2 AND version = $3`,
		tenantID, deviceID, version).Scan(&at)
	switch {
	case noRows(err):
		return time.Time{}, false, nil
	case err != nil:
		return time.Time{}, false, fmt.Errorf("served pages: %w", err)
	}
	return fromMS(at), true, nil
}
