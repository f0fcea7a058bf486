package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/ids"
	"github.com/fieldsync/fieldsync/internal/pgtest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/postgres"
	"github.com/fieldsync/fieldsync/syncengine"
	"github.com/fieldsync/fieldsync/syncengine/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// open opens a migrated store on a fresh database.
func open(t *testing.T) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), pgtest.DB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestStoreConformance runs the sync engine's Store suite on PostgreSQL.
func TestStoreConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		db := open(t)
		return storetest.Backend{
			Store:     db,
			NewOrg:    func(t *testing.T) storetest.Org { return newOrg(t, db) },
			HoldPhoto: func(t *testing.T, tenantID, sha256, userID string) { holdPhoto(t, db, tenantID, sha256, userID) },
		}
	})
}

// sqlExec runs statements on the store's database and fails the test on an error.
func sqlExec(t testing.TB, db *postgres.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Pool().Exec(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// newOrg creates a tenant with a region, a store, a rep and a member of
// staff, each with a device (in SQL, until the identity store is here).
func newOrg(t testing.TB, db *postgres.DB) storetest.Org {
	t.Helper()
	o := storetest.Org{TenantID: ids.New(), RegionID: ids.New(), StoreID: ids.New()}
	now := time.Now().UnixMilli()
	sqlExec(t, db, `INSERT INTO tenants (id, name, created_at) VALUES ($1, 'T', $2)`, o.TenantID, now)
	sqlExec(t, db, `INSERT INTO regions (id, tenant_id, name, created_at) VALUES ($1, $2, 'R', $3)`, o.RegionID, o.TenantID, now)
	sqlExec(t, db, `INSERT INTO stores (id, tenant_id, region_id, name, created_at) VALUES ($1, $2, $3, 'S', $4)`, o.StoreID, o.TenantID, o.RegionID, now)
	rep := &syncengine.User{ID: ids.New(), TenantID: o.TenantID, DisplayName: "rep", Role: fieldsyncv1.Role_ROLE_REP, RegionID: o.RegionID}
	staff := &syncengine.User{ID: ids.New(), TenantID: o.TenantID, DisplayName: "staff", Role: fieldsyncv1.Role_ROLE_STORE_STAFF, StoreID: o.StoreID}
	o.Rep, o.Staff = enroll(t, db, rep), enroll(t, db, staff)
	return o
}

// enroll creates the user and a device of it.
func enroll(t testing.TB, db *postgres.DB, u *syncengine.User) *syncengine.Principal {
	t.Helper()
	now := time.Now().UnixMilli()
	sqlExec(t, db, `INSERT INTO users (id, tenant_id, display_name, role, region_id, store_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		u.ID, u.TenantID, u.DisplayName, int32(u.Role), u.RegionID, u.StoreID, now)
	device := ids.New()
	sqlExec(t, db, `INSERT INTO devices (id, tenant_id, user_id, name, token_hash, enrolled_at) VALUES ($1, $2, $3, 'phone', $4, $5)`,
		device, u.TenantID, u.ID, []byte(device), now)
	return u.Principal(device)
}

// holdPhoto stores a photo as a user's completed upload does.
func holdPhoto(t *testing.T, db *postgres.DB, tenantID, sha256, userID string) {
	t.Helper()
	now := time.Now().UnixMilli()
	sqlExec(t, db, `INSERT INTO photos (sha256, size, content_type, received_at) VALUES ($1, 1000, 'image/jpeg', $2) ON CONFLICT DO NOTHING`, sha256, now)
	sqlExec(t, db, `INSERT INTO photo_holders (tenant_id, sha256, user_id, upload_id, received_at) VALUES ($1, $2, $3, $4, $5)`,
		tenantID, sha256, userID, "up-"+userID+sha256[:8], now)
}
