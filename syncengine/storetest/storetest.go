// Package storetest is the conformance suite every syncengine.Store passes
// (the pattern of storage/media/mediatest): a backend's test calls Run with
// a constructor, and each part of the Store/Tx contract the engine relies on
// runs as a parallel subtest on a fresh store. storage/sqlite runs it; a
// PostgreSQL backend runs the same suite.
package storetest

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// Backend is a store under test together with the set-up the suite cannot
// do through syncengine.Store: the organisation (identity admin) and the
// photos users hold (photos.Store).
type Backend struct {
	Store syncengine.Store
	// NewOrg creates a tenant with a region, a store in that region, a rep
	// of the region and a member of the store's staff, each with an
	// enrolled device. The suite calls it once or twice per subtest.
	NewOrg func(t *testing.T) Org
	// HoldPhoto records that a user of the tenant uploaded the photo, as a
	// completed upload does (photos.Tx.AddPhoto).
	HoldPhoto func(t *testing.T, tenantID, sha256, userID string)
}

// Org is one tenant made by Backend.NewOrg. Rep and Staff are principals
// of enrolled devices, with the region and store the backend stored for
// their users.
type Org struct {
	TenantID, RegionID, StoreID string
	Rep, Staff                  *syncengine.Principal
}

// Run runs the suite. newBackend returns an empty store for one subtest; it
// may register cleanups on the t it is given.
func Run(t *testing.T, newBackend func(t *testing.T) Backend) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, b Backend)
	}{
		{"PutRecordHandsOutIncreasingVersionsPerTenant", testVersionsPerTenant},
		{"ScanChangesReturnsLatestStatesInVersionOrder", testScanChanges},
		{"ScopeExitTakesTheVersionJustBeforeTheRecord", testScopeExit},
		{"TombstonesStayInTheChangeLog", testTombstone},
		{"GetRecordRoundTripsTheMergeState", testRoundTrip},
		{"TxReadsItsOwnWrites", testReadOwnWrites},
		{"FailedUpdateLeavesNothingBehind", testRollback},
		{"CursorBoundsOfANewTenantAreZero", testCursorBounds},
		{"SeqsAndPushResultsAreStoredPerActor", testPushResults},
		{"ConflictsAreNumberedPerTenantAndFiltered", testConflicts},
		{"ReceiptsKeepEachDevicesFirstCoveringCursor", testReceipts},
		{"ServedPagesLogKeepsEachDevicesNewestUntilExpiry", testServedPages},
		{"CreatedBetweenListsNewRecordsOfTheTypes", testCreatedBetween},
		{"PlacesAreTheTenants", testPlaces},
		{"PhotoIsAvailableWhenItsAttacherHoldsIt", testPhotoStates},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newBackend(t))
		})
	}
}

// Record types the suite writes: Visit (owner scope) and Diagnosis (store
// scope, with a set of photos).
const (
	visitType     = "fieldsync.v1.Visit"
	diagnosisType = "fieldsync.v1.Diagnosis"
)

// mustMarshal encodes m; the suite's messages always encode.
func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// t0 is the suite's base time, on a millisecond (stores keep milliseconds).
var t0 = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// newRecord returns a new record of the org, written by p at hlc: a Visit
// in p's owner scope, or (with photos) a Diagnosis in the org's store.
func newRecord(o Org, p *syncengine.Principal, hlc syncengine.HLC, photos ...string) *syncengine.StoredRecord {
	at := syncengine.Version{HLC: hlc, Actor: p.DeviceID}
	rec := &syncengine.StoredRecord{
		TenantID: o.TenantID, ID: ids.New(), HLC: hlc, Actor: p.DeviceID, UpdatedAt: t0,
		State: &syncengine.State{Fields: map[string]syncengine.Version{}, Elements: map[string][]syncengine.Version{}, Created: at},
	}
	if len(photos) == 0 {
		rec.Type, rec.Scope = visitType, syncengine.Scope{Owner: p.UserID, Region: o.RegionID}
		rec.State.Value = &fieldsyncv1.Visit{Notes: "first call", OwnerUserId: p.UserID}
		rec.State.Fields["notes"], rec.State.Fields["owner_user_id"] = at, at
		return rec
	}
	rec.Type, rec.Scope = diagnosisType, syncengine.Scope{Store: o.StoreID, Region: o.RegionID}
	d := &fieldsyncv1.Diagnosis{StoreId: o.StoreID}
	for _, h := range photos {
		d.Photos = append(d.Photos, &fieldsyncv1.PhotoRef{Sha256: h, SizeBytes: 1000, ContentType: "image/jpeg"})
		rec.State.Elements["photos"] = append(rec.State.Elements["photos"], at)
	}
	rec.State.Value = d
	rec.State.Fields["photos"], rec.State.Fields["store_id"] = at, at
	return rec
}

// edit returns the next state of rec: notes changed by p at hlc.
func edit(rec *syncengine.StoredRecord, p *syncengine.Principal, hlc syncengine.HLC, notes string) *syncengine.StoredRecord {
	next := *rec
	next.State = rec.State.Clone()
	next.State.Value.(*fieldsyncv1.Visit).Notes = notes
	next.State.Fields["notes"] = syncengine.Version{HLC: hlc, Actor: p.DeviceID}
	next.HLC, next.Actor, next.UpdatedAt = hlc, p.DeviceID, rec.UpdatedAt.Add(time.Second)
	return &next
}

// hlc returns a timestamp s seconds after t0.
func hlc(s int) syncengine.HLC {
	return syncengine.MakeHLC(t0.Add(time.Duration(s)*time.Second).UnixMilli(), 0)
}

// update runs fn in a transaction and fails the test on an error.
func update(t *testing.T, s syncengine.Store, fn func(tx syncengine.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// put writes records in one transaction (each leaving no scope) and returns
// their versions.
func put(t *testing.T, s syncengine.Store, recs ...*syncengine.StoredRecord) []uint64 {
	t.Helper()
	var vs []uint64
	update(t, s, func(tx syncengine.Tx) error {
		for _, r := range recs {
			v, err := tx.PutRecord(r, nil)
			if err != nil {
				return err
			}
			vs = append(vs, v)
		}
		return nil
	})
	return vs
}

// everything selects every (non-sensitive) record of a tenant, as an admin
// reads it.
func everything(tenantID string) syncengine.Selection {
	return syncengine.Filter{TenantID: tenantID, All: true}.Select(syncengine.DefaultRegistry())
}

// scanAll returns the tenant's change rows after a version.
func scanAll(t *testing.T, s syncengine.Store, tenantID string, after uint64) []syncengine.ChangeRow {
	t.Helper()
	page, err := s.ScanChanges(t.Context(), everything(tenantID), after, 1000)
	if err != nil {
		t.Fatalf("ScanChanges: %v", err)
	}
	return page.Rows
}

// bounds returns the tenant's cursor bounds.
func bounds(t *testing.T, s syncengine.Store, tenantID string) (purged, latest uint64) {
	t.Helper()
	purged, latest, err := s.CursorBounds(context.WithoutCancel(t.Context()), tenantID)
	if err != nil {
		t.Fatalf("CursorBounds: %v", err)
	}
	return purged, latest
}

// sameState reports how two states differ, or "".
func sameState(got, want *syncengine.State) string {
	switch {
	case !proto.Equal(got.Value, want.Value):
		return "value differs"
	case !maps.Equal(got.Fields, want.Fields):
		return "field versions differ"
	case len(got.Elements) != len(want.Elements):
		return "element versions differ"
	case got.DeletedAt != want.DeletedAt || got.Created != want.Created:
		return "deleted or created version differs"
	}
	for k, vs := range want.Elements {
		if !slices.Equal(got.Elements[k], vs) {
			return "element versions of " + k + " differ"
		}
	}
	return ""
}
