package storetest

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// testVersionsPerTenant: PutRecord sets and returns the tenant's next
// version, increasing in commit order; a new record's created version is
// its first; another tenant's writes neither show in a tenant's change log
// nor move its latest version.
func testVersionsPerTenant(t *testing.T, b Backend) {
	a, o := b.NewOrg(t), b.NewOrg(t)
	r1, r2, r3 := newRecord(a, a.Rep, hlc(1)), newRecord(a, a.Rep, hlc(2)), newRecord(a, a.Staff, hlc(3))
	first := put(t, b.Store, r1)
	if _, latest := bounds(t, b.Store, o.TenantID); latest != 0 {
		t.Fatalf("latest version of an untouched tenant = %d after another tenant's write, want 0", latest)
	}
	other := put(t, b.Store, newRecord(o, o.Rep, hlc(4)))
	both := put(t, b.Store, r2, r3)
	vs := append(first, both...)
	for i, r := range []*syncengine.StoredRecord{r1, r2, r3} {
		if r.Version != vs[i] || r.CreatedVersion != vs[i] {
			t.Errorf("record %d: Version %d, CreatedVersion %d, want both %d (PutRecord's result)", i, r.Version, r.CreatedVersion, vs[i])
		}
		if i > 0 && vs[i] <= vs[i-1] {
			t.Errorf("versions %v do not increase in commit order", vs)
		}
	}
	if _, latest := bounds(t, b.Store, a.TenantID); latest != vs[2] {
		t.Errorf("latest version = %d, want %d", latest, vs[2])
	}
	if _, latest := bounds(t, b.Store, o.TenantID); latest != other[0] {
		t.Errorf("other tenant's latest version = %d, want %d", latest, other[0])
	}
	if rows := scanAll(t, b.Store, o.TenantID, 0); len(rows) != 1 || rows[0].Version != other[0] {
		t.Errorf("other tenant's change log = %+v, want its one record at %d", rows, other[0])
	}
}

// testScanChanges: each record once, at its latest version, with its
// current state; pages follow from the last version read.
func testScanChanges(t *testing.T, b Backend) {
	o := b.NewOrg(t)
	r1, r2 := newRecord(o, o.Rep, hlc(1)), newRecord(o, o.Rep, hlc(2))
	put(t, b.Store, r1)
	put(t, b.Store, r2)
	r1 = edit(r1, o.Rep, hlc(3), "second call")
	put(t, b.Store, r1)
	rows := scanAll(t, b.Store, o.TenantID, 0)
	if len(rows) != 2 || rows[0].RecordID != r2.ID || rows[1].RecordID != r1.ID {
		t.Fatalf("ScanChanges = %+v, want r2 then r1 (each at its latest version)", rows)
	}
	for i, r := range []*syncengine.StoredRecord{r2, r1} {
		checkRow(t, rows[i], r)
	}
	scan, err := b.Store.ScanChanges(t.Context(), everything(o.TenantID), 0, 1)
	if err != nil {
		t.Fatalf("ScanChanges: %v", err)
	}
	page := scan.Rows
	if len(page) != 1 || page[0].RecordID != r2.ID || !scan.More {
		t.Fatalf("first page of 1 = %+v (more %v); want r2 and more", page, scan.More)
	}
	if next := scanAll(t, b.Store, o.TenantID, page[0].Version); len(next) != 1 || next[0].RecordID != r1.ID {
		t.Fatalf("page after %d = %+v, want r1", page[0].Version, next)
	}
	if rest := scanAll(t, b.Store, o.TenantID, r1.Version); len(rest) != 0 {
		t.Fatalf("ScanChanges after the latest version = %+v, want none", rest)
	}
}

// checkRow compares a record row of ScanChanges with the record put.
func checkRow(t *testing.T, row syncengine.ChangeRow, r *syncengine.StoredRecord) {
	t.Helper()
	if row.Version != r.Version || row.Type != r.Type || row.Scope != r.Scope || row.Exit || row.Deleted != r.State.Deleted() {
		t.Errorf("row %+v does not match record %s at %d", row, r.ID, r.Version)
	}
	raw := row.Record
	if raw == nil {
		t.Fatalf("row of %s has no Record", r.ID)
	}
	if raw.Type != r.Type || raw.Scope != r.Scope || raw.Version != r.Version || raw.HLC != r.HLC || !raw.UpdatedAt.Equal(r.UpdatedAt) {
		t.Errorf("Record of %s = %+v, want type %s scope %+v version %d hlc %d updated %v", r.ID, raw, r.Type, r.Scope, r.Version, r.HLC, r.UpdatedAt)
	}
	checkValue(t, raw.Value, r.State.Value)
}

// checkValue decodes stored bytes as want's type and compares.
func checkValue(t *testing.T, b []byte, want proto.Message) {
	t.Helper()
	got := want.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(b, got); err != nil || !proto.Equal(got, want) {
		t.Errorf("stored value = %v (%v), want %v", got, err, want)
	}
}

// testScopeExit: a record that leaves a scope gets an exit row with the
// old scope at the version just before its own, so a page boundary never
// falls between the two.
func testScopeExit(t *testing.T, b Backend) {
	o := b.NewOrg(t)
	r := newRecord(o, o.Rep, hlc(1))
	put(t, b.Store, r)
	old := r.Scope
	moved := edit(r, o.Rep, hlc(2), "handed over")
	moved.Scope = syncengine.Scope{Owner: o.Staff.UserID, Region: o.RegionID}
	var v uint64
	update(t, b.Store, func(tx syncengine.Tx) error {
		var err error
		v, err = tx.PutRecord(moved, &old)
		return err
	})
	rows := scanAll(t, b.Store, o.TenantID, r.Version)
	if len(rows) != 2 {
		t.Fatalf("rows after the first put = %+v, want an exit and the record", rows)
	}
	exit := rows[0]
	if !exit.Exit || exit.Version != v-1 || exit.RecordID != r.ID || exit.Type != r.Type || exit.Scope != old || exit.Record != nil {
		t.Errorf("exit row = %+v, want an exit of %s from %+v at %d without a Record", exit, r.ID, old, v-1)
	}
	checkRow(t, rows[1], moved)
	if rest := scanAll(t, b.Store, o.TenantID, v-1); len(rest) != 1 || rest[0].Exit {
		t.Errorf("rows after the exit = %+v, want only the record", rest)
	}
}

// testTombstone: a deleted record stays in the change log and in
// GetRecordValues as deleted, with its delete version.
func testTombstone(t *testing.T, b Backend) {
	o := b.NewOrg(t)
	r := newRecord(o, o.Rep, hlc(1))
	put(t, b.Store, r)
	gone := edit(r, o.Rep, hlc(1), "first call") // same fields, then the delete after them
	gone.State.DeletedAt = syncengine.Version{HLC: hlc(2), Actor: o.Rep.DeviceID}
	gone.HLC = hlc(2)
	put(t, b.Store, gone)
	if !gone.State.Deleted() {
		t.Fatal("test record is not deleted")
	}
	rows := scanAll(t, b.Store, o.TenantID, 0)
	if len(rows) != 1 || !rows[0].Deleted || rows[0].Version != gone.Version {
		t.Fatalf("change log = %+v, want the tombstone at %d", rows, gone.Version)
	}
	raws, err := b.Store.GetRecordValues(t.Context(), o.TenantID, []string{r.ID})
	if err != nil || raws[r.ID] == nil || !raws[r.ID].Deleted {
		t.Fatalf("GetRecordValues = %+v, %v; want the record, deleted", raws, err)
	}
	got, err := b.Store.GetRecords(t.Context(), o.TenantID, []string{r.ID})
	if err != nil || got[r.ID] == nil || got[r.ID].State.DeletedAt != gone.State.DeletedAt {
		t.Fatalf("GetRecords = %+v, %v; want DeletedAt %+v", got[r.ID], err, gone.State.DeletedAt)
	}
}

// testRoundTrip: GetRecord (in a transaction), GetRecords and
// GetRecordValues return what PutRecord stored; absent ids and other
// tenants' ids are missing.
func testRoundTrip(t *testing.T, b Backend) {
	o, other := b.NewOrg(t), b.NewOrg(t)
	r := newRecord(o, o.Staff, hlc(1), sha('a'), sha('b'))
	r.State.Elements["photos"][1] = syncengine.Version{HLC: hlc(2), Actor: o.Rep.DeviceID}
	r.State.Fields["photos"] = r.State.Elements["photos"][1]
	r.State.Fields["conclusion"] = syncengine.Version{HLC: hlc(1), Actor: syncengine.ServerActor}
	r.State.Value.(*fieldsyncv1.Diagnosis).Conclusion = "worn belt"
	put(t, b.Store, r)
	update(t, b.Store, func(tx syncengine.Tx) error {
		got, err := tx.GetRecord(o.TenantID, r.ID)
		if err != nil {
			return err
		}
		checkStored(t, got, r)
		if none, err := tx.GetRecord(other.TenantID, r.ID); none != nil || err != nil {
			t.Errorf("GetRecord in another tenant = %+v, %v; want nil, nil", none, err)
		}
		return nil
	})
	ids := []string{r.ID, "absent"}
	got, err := b.Store.GetRecords(t.Context(), o.TenantID, ids)
	if err != nil || len(got) != 1 {
		t.Fatalf("GetRecords = %v, %v; want the one stored record", got, err)
	}
	checkStored(t, got[r.ID], r)
	raws, err := b.Store.GetRecordValues(t.Context(), o.TenantID, ids)
	if err != nil || len(raws) != 1 || raws[r.ID] == nil {
		t.Fatalf("GetRecordValues = %v, %v; want the one stored record", raws, err)
	}
	raw := raws[r.ID]
	if raw.Type != r.Type || raw.Scope != r.Scope || raw.Version != r.Version || raw.HLC != r.HLC || raw.Deleted || !raw.UpdatedAt.Equal(r.UpdatedAt) {
		t.Errorf("GetRecordValues = %+v, want the header of %+v", raw, r)
	}
	checkValue(t, raw.Value, r.State.Value)
	if got, err := b.Store.GetRecords(t.Context(), other.TenantID, ids); err != nil || len(got) != 0 {
		t.Errorf("GetRecords in another tenant = %v, %v; want none", got, err)
	}
	if got, err := b.Store.GetRecordValues(t.Context(), other.TenantID, ids); err != nil || len(got) != 0 {
		t.Errorf("GetRecordValues in another tenant = %v, %v; want none", got, err)
	}
}

// checkStored compares a stored record with the record put.
func checkStored(t *testing.T, got, want *syncengine.StoredRecord) {
	t.Helper()
	if got == nil {
		t.Fatalf("record %s not found", want.ID)
	}
	if got.TenantID != want.TenantID || got.ID != want.ID || got.Type != want.Type || got.Scope != want.Scope ||
		got.Version != want.Version || got.CreatedVersion != want.CreatedVersion || got.HLC != want.HLC ||
		got.Actor != want.Actor || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("stored header = %+v, want %+v", got, want)
	}
	if diff := sameState(got.State, want.State); diff != "" {
		t.Errorf("stored state of %s: %s", want.ID, diff)
	}
}

// testReadOwnWrites: within a transaction, GetRecord sees PutRecord (push
// applies several mutations of one record in one batch), and Now stays put.
func testReadOwnWrites(t *testing.T, b Backend) {
	o := b.NewOrg(t)
	r := newRecord(o, o.Rep, hlc(1))
	update(t, b.Store, func(tx syncengine.Tx) error {
		now := tx.Now()
		if _, err := tx.PutRecord(r, nil); err != nil {
			return err
		}
		next := edit(r, o.Rep, hlc(2), "again")
		if _, err := tx.PutRecord(next, nil); err != nil {
			return err
		}
		got, err := tx.GetRecord(o.TenantID, r.ID)
		if err != nil {
			return err
		}
		checkStored(t, got, next)
		if next.CreatedVersion != r.Version || next.Version <= r.Version {
			t.Errorf("second put: version %d created %d, want a later version, created %d", next.Version, next.CreatedVersion, r.Version)
		}
		if !tx.Now().Equal(now) {
			t.Errorf("Now moved within a transaction: %v then %v", now, tx.Now())
		}
		return nil
	})
}

// testRollback: when fn fails, Update returns its error and none of its
// writes is visible afterwards.
func testRollback(t *testing.T, b Backend) {
	o := b.NewOrg(t)
	r := newRecord(o, o.Rep, hlc(1))
	boom := errors.New("boom")
	err := b.Store.Update(t.Context(), func(tx syncengine.Tx) error {
		if _, err := tx.PutRecord(r, nil); err != nil {
			return err
		}
		if err := tx.SetLastSeq(o.Rep.DeviceID, 1); err != nil {
			return err
		}
		if err := tx.SavePushResult(o.Rep.DeviceID, 1, []byte("result")); err != nil {
			return err
		}
		if err := tx.AddConflict(conflict(o, r.ID, o.Rep.DeviceID, "older")); err != nil {
			return err
		}
		if _, err := tx.AddReceipt(o.TenantID, o.Rep.DeviceID, o.Rep.UserID, 1, t0); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	if _, latest := bounds(t, b.Store, o.TenantID); latest != 0 {
		t.Errorf("latest version after a failed update = %d, want 0", latest)
	}
	if got, err := b.Store.GetRecords(t.Context(), o.TenantID, []string{r.ID}); err != nil || len(got) != 0 {
		t.Errorf("GetRecords after a failed update = %v, %v", got, err)
	}
	if cs, err := b.Store.ListConflicts(t.Context(), syncengine.ConflictQuery{TenantID: o.TenantID, Limit: 10}); err != nil || len(cs) != 0 {
		t.Errorf("conflicts after a failed update = %v, %v", cs, err)
	}
	if ds, err := b.Store.Receipts(t.Context(), o.TenantID, 0); err != nil || len(ds) != 0 {
		t.Errorf("receipts after a failed update = %v, %v", ds, err)
	}
	update(t, b.Store, func(tx syncengine.Tx) error {
		if seq, err := tx.LastSeq(o.Rep.DeviceID); seq != 0 || err != nil {
			t.Errorf("LastSeq after a failed update = %d, %v", seq, err)
		}
		if _, ok, err := tx.PushResult(o.Rep.DeviceID, 1); ok || err != nil {
			t.Errorf("PushResult after a failed update: found %v, %v", ok, err)
		}
		return nil
	})
}

// testCursorBounds: a tenant that never changed anything has both bounds
// at 0; writes move latest, not the purge horizon.
func testCursorBounds(t *testing.T, b Backend) {
	o := b.NewOrg(t)
	if purged, latest := bounds(t, b.Store, o.TenantID); purged != 0 || latest != 0 {
		t.Fatalf("bounds of a new tenant = %d, %d; want 0, 0", purged, latest)
	}
	if purged, latest := bounds(t, b.Store, "no-such-tenant"); purged != 0 || latest != 0 {
		t.Fatalf("bounds of an unknown tenant = %d, %d; want 0, 0", purged, latest)
	}
	vs := put(t, b.Store, newRecord(o, o.Rep, hlc(1)), newRecord(o, o.Rep, hlc(2)))
	if purged, latest := bounds(t, b.Store, o.TenantID); purged != 0 || latest != vs[1] {
		t.Fatalf("bounds = %d, %d; want 0, %d", purged, latest, vs[1])
	}
}
