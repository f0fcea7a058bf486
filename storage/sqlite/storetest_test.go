package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/photos"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
	"github.com/fieldsync/fieldsync/syncengine/storetest"
)

// TestStoreConformance runs the sync engine's Store suite on SQLite.
func TestStoreConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Backend {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "fs.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return storetest.Backend{
			Store:     db,
			NewOrg:    func(t *testing.T) storetest.Org { return newOrg(t, db) },
			HoldPhoto: func(t *testing.T, tenantID, sha256, userID string) { holdPhoto(t, db, tenantID, sha256, userID) },
		}
	})
}

// newOrg creates a tenant with a region, a store, a rep and a member of
// staff, each with an enrolled device.
func newOrg(t *testing.T, db *sqlite.DB) storetest.Org {
	t.Helper()
	ctx := context.Background()
	tn, err := db.CreateTenant(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	r, err := db.CreateRegion(ctx, tn.ID, "R")
	if err != nil {
		t.Fatal(err)
	}
	s, err := db.CreateStore(ctx, tn.ID, r.ID, "S")
	if err != nil {
		t.Fatal(err)
	}
	rep := &syncengine.User{TenantID: tn.ID, DisplayName: "rep", Role: fieldsyncv1.Role_ROLE_REP, RegionID: r.ID}
	staff := &syncengine.User{TenantID: tn.ID, DisplayName: "staff", Role: fieldsyncv1.Role_ROLE_STORE_STAFF, StoreID: s.ID}
	return storetest.Org{TenantID: tn.ID, RegionID: r.ID, StoreID: s.ID, Rep: enroll(t, db, rep), Staff: enroll(t, db, staff)}
}

// enroll creates the user and enrolls a device for it.
func enroll(t *testing.T, db *sqlite.DB, u *syncengine.User) *syncengine.Principal {
	t.Helper()
	ctx := context.Background()
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	code, _, err := db.IssueEnrollmentCode(ctx, u.TenantID, u.ID, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := db.Enroll(ctx, code, "phone", "test")
	if err != nil {
		t.Fatal(err)
	}
	return u.Principal(d.ID)
}

// holdPhoto stores a photo as a user's completed upload does.
func holdPhoto(t *testing.T, db *sqlite.DB, tenantID, sha256, userID string) {
	t.Helper()
	ph := &photos.Photo{SHA256: sha256, Size: 1000, ContentType: "image/jpeg", TenantID: tenantID,
		UploadID: "up-" + userID + sha256[:8], DeviceID: "d-" + userID, UserID: userID, ReceivedAt: time.Now()}
	err := db.UpdatePhotos(context.Background(), func(tx photos.Tx) error {
		_, err := tx.AddPhoto(ph)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
