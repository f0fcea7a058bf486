// Package insightstoretest is the conformance suite every insights store
// (insightstore.Store) passes, in the pattern of syncengine/storetest: a
// backend's test calls Run with a constructor, and each part of the
// contract the insights consumers rely on runs as a parallel subtest on a
// fresh store. storage/sqlite and storage/postgres run it.
package insightstoretest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// Backend is a store under test with the identity calls the suite sets
// up an organisation with (both stores have them).
type Backend interface {
	insightstore.Store
	CreateTenant(ctx context.Context, name string) (*syncengine.Tenant, error)
	CreateRegion(ctx context.Context, tenantID, name string) (*syncengine.Region, error)
	CreateStore(ctx context.Context, tenantID, regionID, name string) (*syncengine.Shop, error)
	CreateUser(ctx context.Context, u *syncengine.User) error
	IssueEnrollmentCode(ctx context.Context, tenantID, userID, issuedBy string, ttl time.Duration) (string, time.Time, error)
	Enroll(ctx context.Context, code, name, platform string) (*syncengine.Device, string, error)
	ReportDeviceStatus(ctx context.Context, tenantID, deviceID string, s syncengine.DeviceStatus) error
	// PhiSeries is the InsightsService's read of stored PHI (server.InsightsBackend).
	PhiSeries(ctx context.Context, tenantID string, kind fieldsyncv1.ScopeKind, scopeID, fromDate, toDate string) ([]*fieldsyncv1.PhiDay, error)
	// PhiSeriesMany is the dashboard's read of several places' PHI
	// (server.DashboardBackend).
	PhiSeriesMany(ctx context.Context, tenantID string, kind fieldsyncv1.ScopeKind, scopeIDs []string, fromDate, toDate string) (map[string][]*fieldsyncv1.PhiDay, error)
	// RecordsByType and GetRecords are the consumer's read of rebate rules
	// (insights.RecordReader); Update writes the records they read.
	RecordsByType(ctx context.Context, tenantID, recordType string, limit int) ([]*syncengine.StoredRecord, error)
	GetRecords(ctx context.Context, tenantID string, ids []string) (map[string]*syncengine.StoredRecord, error)
	Update(ctx context.Context, fn func(tx syncengine.Tx) error) error
}

// Run runs the suite. newBackend returns an empty store for one subtest.
func Run(t *testing.T, newBackend func(t *testing.T) Backend) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s Backend)
	}{
		{"EventsApplyOnceAndConfigRoundTrips", testEventsAndConfig},
		{"ActionsAreReplacedAndListedByScopeAndTime", testActions},
		{"DeliveriesJoinReleasesAndSweepOnce", testDeliveries},
		{"PhiDaysAreReplacedListedAndDeleted", testPhiDays},
		{"PhiDayCountsRoundTripAndTakeTurns", testPhiDayCounts},
		{"PhiSeriesManyReadsSeveralPlacesAtOnce", testPhiSeriesMany},
		{"RecordsByTypeListsLiveRecordsByID", testRecordsByType},
		{"CustomersKeepTheNewestVersionAndStockItsEpisode", testPlaces},
		{"PhotoUsesAndStallsAndProgress", testUsesStallsProgress},
		{"EffectsDedupUpdateRetryAndFinish", testEffects},
		{"FindingsInterventionsAndGrants", testFindingsGrants},
		{"DirectoryReadsUsersNamesAndStaleDevices", testDirectory},
		{"EnrolledDevicesOfTheTenantWithIssuerAndPrior", testEnrolledDevices},
		{"FailedWriteLeavesNothingBehind", testRollback},
		{"EventsMarkedAppliedManyAtOnce", testMarkEventsApplied},
		{"ManyWritesReadBackInTheirTransaction", testManyWritesReadBack},
		{"StoredAndNewRowsInOneWrite", testStoredAndNewRows},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newBackend(t))
		})
	}
}

// write runs fn in one insights transaction and fails the test on an error.
func write(t *testing.T, s Backend, fn func(tx insightstore.Tx) error) {
	t.Helper()
	if err := s.InsightsWrite(t.Context(), fn); err != nil {
		t.Fatalf("InsightsWrite: %v", err)
	}
}

// org is a tenant with a region, a store, a rep, a member of staff and a
// regional director.
type org struct {
	tenant, region, store string
	rep, staff, director  *syncengine.User
}

func newOrg(t *testing.T, s Backend, name string) org {
	t.Helper()
	ctx := t.Context()
	tn := must(s.CreateTenant(ctx, name))(t)
	r := must(s.CreateRegion(ctx, tn.ID, "North"))(t)
	st := must(s.CreateStore(ctx, tn.ID, r.ID, "North 1"))(t)
	o := org{tenant: tn.ID, region: r.ID, store: st.ID}
	user := func(name string, role fieldsyncv1.Role, region, store string) *syncengine.User {
		u := &syncengine.User{TenantID: tn.ID, DisplayName: name, Role: role, RegionID: region, StoreID: store}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	o.rep = user("Rita", fieldsyncv1.Role_ROLE_REP, r.ID, "")
	o.staff = user("Sam", fieldsyncv1.Role_ROLE_STORE_STAFF, "", st.ID)
	o.director = user("Dora", fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR, r.ID, "")
	return o
}

// must returns v, failing the test given to the result on an error.
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func testEventsAndConfig(t *testing.T, s Backend) {
	o := newOrg(t, s, "A")
	var first, again bool
	write(t, s, func(tx insightstore.Tx) (err error) { first, err = tx.MarkEventApplied(o.tenant, "ev-1"); return })
	write(t, s, func(tx insightstore.Tx) (err error) { again, err = tx.MarkEventApplied(o.tenant, "ev-1"); return })
	if !first || again {
		t.Errorf("MarkEventApplied: first %v, again %v; want true, false", first, again)
	}
	if cfg := must(s.InsightsConfig(t.Context(), o.tenant))(t); cfg != nil {
		t.Errorf("a new tenant's config is %q, want nil", cfg)
	}
	for _, cfg := range []string{`{"a":1}`, `{"a":2}`} {
		if err := s.SetInsightsConfig(t.Context(), o.tenant, []byte(cfg)); err != nil {
			t.Fatal(err)
		}
	}
	var inTx []byte
	write(t, s, func(tx insightstore.Tx) (err error) { inTx, err = tx.InsightsConfig(o.tenant); return })
	if got := must(s.InsightsConfig(t.Context(), o.tenant))(t); string(got) != `{"a":2}` || string(inTx) != `{"a":2}` {
		t.Errorf("config %q (in a transaction %q), want the last stored", got, inTx)
	}
	if ids := must(s.TenantIDs(t.Context()))(t); !slices.Equal(ids, []string{o.tenant}) {
		t.Errorf("TenantIDs %v", ids)
	}
}

func testActions(t *testing.T, s Backend) {
	o := newOrg(t, s, "A")
	visit := &insightstore.Action{TenantID: o.tenant, RecordID: "v1", RecordType: "fieldsync.v1.Visit", OwnerUserID: o.rep.ID,
		StoreID: o.store, RegionID: o.region, CustomerID: "c1", ActionMS: 1000, Tags: []string{"a", "b"}}
	diag := &insightstore.Action{TenantID: o.tenant, RecordID: "d1", RecordType: "fieldsync.v1.Diagnosis", OwnerUserID: o.staff.ID,
		StoreID: o.store, RegionID: o.region, CustomerID: "c1", ActionMS: 1500, SubmittedMS: 2500, SubmittedVersion: 7,
		QualityKind: 2, QualityCount: 3, Conclusion: "ok", Value: []byte{1, 2}}
	write(t, s, func(tx insightstore.Tx) error {
		if err := tx.PutAction(visit); err != nil {
			return err
		}
		return tx.PutAction(diag)
	})
	submitted := *visit
	submitted.SubmittedMS, submitted.SubmittedVersion = 2000, 5
	write(t, s, func(tx insightstore.Tx) error { return tx.PutAction(&submitted) })
	write(t, s, func(tx insightstore.Tx) error {
		got, err := tx.Action(o.tenant, "v1")
		if err != nil {
			return err
		}
		if got == nil || got.SubmittedMS != 2000 || got.SubmittedVersion != 5 || !slices.Equal(got.Tags, []string{"a", "b"}) || got.CustomerID != "c1" {
			t.Errorf("Action v1: %+v, want the replaced row", got)
		}
		if a, err := tx.Action(o.tenant, "nope"); a != nil || err != nil {
			t.Errorf("a missing action: %+v %v", a, err)
		}
		sub, err := tx.SubmittedActions(o.tenant, "c1", "fieldsync.v1.Diagnosis", 1000, 1500)
		if err != nil || len(sub) != 1 || sub[0].RecordID != "d1" || string(sub[0].Value) != "\x01\x02" || sub[0].Conclusion != "ok" {
			t.Errorf("SubmittedActions: %+v %v", sub, err)
		}
		// Other types than diagnoses are found too (sqlite indexes only diagnoses by customer).
		if sub, err := tx.SubmittedActions(o.tenant, "c1", "fieldsync.v1.Visit", 0, 1500); err != nil || len(sub) != 1 || sub[0].RecordID != "v1" {
			t.Errorf("SubmittedActions of visits: %+v %v", sub, err)
		}
		if sub, err := tx.SubmittedActions(o.tenant, "c1", "fieldsync.v1.Diagnosis", 1600, 3000); err != nil || len(sub) != 0 {
			t.Errorf("SubmittedActions outside the window: %+v %v", sub, err)
		}
		byID, err := tx.ActionsByID(o.tenant, []string{"nope", "d1", "v1", "d1"})
		if err != nil {
			return err
		}
		slices.SortFunc(byID, func(a, b *insightstore.Action) int { return strings.Compare(a.RecordID, b.RecordID) })
		if len(byID) != 2 || !reflect.DeepEqual(byID[0], actionOf(t, tx, o.tenant, "d1")) || !reflect.DeepEqual(byID[1], actionOf(t, tx, o.tenant, "v1")) {
			t.Errorf("ActionsByID: %+v, want d1 and v1 as Action returns them", byID)
		}
		if other, err := tx.ActionsByID("other-tenant", []string{"d1", "v1"}); err != nil || len(other) != 0 {
			t.Errorf("ActionsByID of another tenant: %+v %v", other, err)
		}
		if none, err := tx.ActionsByID(o.tenant, nil); err != nil || len(none) != 0 {
			t.Errorf("ActionsByID of no ids: %+v %v", none, err)
		}
		for _, c := range []struct {
			kind     fieldsyncv1.ScopeKind
			scope    string
			from, to int64
			want     []string
		}{
			{fieldsyncv1.ScopeKind_SCOPE_KIND_UNSPECIFIED, "", 0, 10000, []string{"d1", "v1"}},
			{fieldsyncv1.ScopeKind_SCOPE_KIND_REP, o.rep.ID, 0, 10000, []string{"v1"}},
			{fieldsyncv1.ScopeKind_SCOPE_KIND_STORE, o.store, 2000, 2500, []string{"v1"}},
			{fieldsyncv1.ScopeKind_SCOPE_KIND_REGION, o.region, 2001, 10000, []string{"d1"}},
		} {
			acts, err := tx.Actions(o.tenant, c.kind, c.scope, c.from, c.to)
			if err != nil {
				return err
			}
			var got []string
			for _, a := range acts {
				got = append(got, a.RecordID)
			}
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("Actions %v %q [%d,%d): %v, want %v", c.kind, c.scope, c.from, c.to, got, c.want)
			}
		}
		if _, err := tx.Actions(o.tenant, fieldsyncv1.ScopeKind(99), "", 0, 1); err == nil {
			t.Error("Actions of an unknown scope kind: no error")
		}
		return nil
	})
}

// actionOf is Action(tenantID, recordID), failing t on an error.
func actionOf(t *testing.T, tx insightstore.Tx, tenantID, recordID string) *insightstore.Action {
	t.Helper()
	a, err := tx.Action(tenantID, recordID)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testDeliveries(t *testing.T, s Backend) {
	o := newOrg(t, s, "A")
	write(t, s, func(tx insightstore.Tx) error {
		changed, err := tx.PutMaterialRelease(o.tenant, "m1", 100)
		if err != nil || !changed {
			t.Errorf("first release: %v %v", changed, err)
		}
		if changed, err = tx.PutMaterialRelease(o.tenant, "m1", 100); err != nil || changed {
			t.Errorf("the same release again: changed %v %v", changed, err)
		}
		if r, err := tx.MaterialReleased(o.tenant, "m1"); r != 100 || err != nil {
			t.Errorf("MaterialReleased %d %v", r, err)
		}
		if r, err := tx.MaterialReleased(o.tenant, "m2"); r != 0 || err != nil {
			t.Errorf("an unknown material's release %d %v", r, err)
		}
		for _, d := range []*insightstore.Delivery{
			{TenantID: o.tenant, MaterialID: "m1", RepUserID: o.rep.ID, StoreID: o.store, RegionID: o.region, DeliveredMS: 200},
			{TenantID: o.tenant, MaterialID: "m1", RepUserID: o.staff.ID, StoreID: o.store, RegionID: o.region, DeliveredMS: 400},
		} {
			if err := tx.PutDelivery(d); err != nil {
				return err
			}
		}
		return nil
	})
	write(t, s, func(tx insightstore.Tx) error {
		d, err := tx.Delivery(o.tenant, "m1", o.rep.ID)
		if err != nil || d == nil || d.ReleasedMS != 100 || d.DeliveredMS != 200 {
			t.Errorf("Delivery %+v %v", d, err)
		}
		d.FeedbackMS = 300
		if err := tx.PutDelivery(d); err != nil {
			return err
		}
		if all, err := tx.MaterialDeliveries(o.tenant, "m1"); len(all) != 2 || err != nil {
			t.Errorf("MaterialDeliveries %+v %v", all, err)
		}
		if in, err := tx.Deliveries(o.tenant, fieldsyncv1.ScopeKind_SCOPE_KIND_REP, o.rep.ID, 0, 1000); len(in) != 1 || in[0].FeedbackMS != 300 || err != nil {
			t.Errorf("Deliveries of the rep %+v %v", in, err)
		}
		if in, err := tx.Deliveries(o.tenant, fieldsyncv1.ScopeKind_SCOPE_KIND_UNSPECIFIED, "", 300, 1000); len(in) != 1 || err != nil {
			t.Errorf("Deliveries in [300, 1000) %+v %v", in, err)
		}
		return nil
	})
	for i, want := range []int{1, 0} {
		write(t, s, func(tx insightstore.Tx) error {
			swept, err := tx.SweepFeedbackDeadlines(o.tenant, 300)
			if len(swept) != want || err != nil {
				t.Errorf("sweep %d: %d deliveries (%v), want %d", i, len(swept), err, want)
			}
			return err
		})
	}
}

func testPhiDays(t *testing.T, s Backend) {
	o := newOrg(t, s, "A")
	day := func(scope, date string, index float64) *fieldsyncv1.PhiDay {
		return &fieldsyncv1.PhiDay{ScopeKind: fieldsyncv1.ScopeKind_SCOPE_KIND_REP, ScopeId: scope, Date: date, Index: index,
			KeyActionCompletion: 0.5, HasKeyAction: true, HasVisits: true, EventCount: 3}
	}
	write(t, s, func(tx insightstore.Tx) error {
		for _, d := range []*fieldsyncv1.PhiDay{day("r1", "2026-03-01", 50), day("r1", "2026-03-02", 60), day("r2", "2026-03-01", 70), day("r1", "2026-03-01", 55)} {
			if err := tx.PutPhiDay(o.tenant, d); err != nil {
				return err
			}
		}
		return nil
	})
	series := must(s.PhiSeries(t.Context(), o.tenant, fieldsyncv1.ScopeKind_SCOPE_KIND_REP, "r1", "2026-03-01", "2026-03-31"))(t)
	if len(series) != 2 || series[0].Index != 55 || !proto.Equal(series[1], day("r1", "2026-03-02", 60)) {
		t.Errorf("PhiSeries of r1: %v", series)
	}
	if _, err := s.PhiSeries(t.Context(), o.tenant, fieldsyncv1.ScopeKind_SCOPE_KIND_REP, "r1", "2026-03-31", "2026-03-01"); !syncengine.IsCode(err, syncengine.CodeInvalid) {
		t.Errorf("PhiSeries with from after to: %v, want CodeInvalid", err)
	}
	write(t, s, func(tx insightstore.Tx) error {
		all, err := tx.PhiDays(o.tenant, fieldsyncv1.ScopeKind_SCOPE_KIND_REP, "", "2026-03-01", "2026-03-01")
		if err != nil || len(all) != 2 || all[0].ScopeId != "r1" || all[1].ScopeId != "r2" {
			t.Errorf("PhiDays of every rep: %v %v", all, err)
		}
		if err := tx.DeletePhiDay(o.tenant, fieldsyncv1.ScopeKind_SCOPE_KIND_REP, "r2", "2026-03-01"); err != nil {
			return err
		}
		return tx.DeletePhiDays(o.tenant, "2026-03-02", "2026-03-02")
	})
	write(t, s, func(tx insightstore.Tx) error {
		left, err := tx.PhiDays(o.tenant, fieldsyncv1.ScopeKind_SCOPE_KIND_REP, "", "2026-01-01", "2026-12-31")
		if err != nil || len(left) != 1 || left[0].ScopeId != "r1" || left[0].Date != "2026-03-01" {
			t.Errorf("PhiDays after deleting: %v %v", left, err)
		}
		return err
	})
}

func testPhiDayCounts(t *testing.T, s Backend) {
	o := newOrg(t, s, "A")
	rep := fieldsyncv1.ScopeKind_SCOPE_KIND_REP
	day := &fieldsyncv1.PhiDay{ScopeKind: rep, ScopeId: "r1", Date: "2026-03-01", Index: 50,
		KeyActionCompletion: 0.5, HasKeyAction: true, HasVisits: true, HighValueActionShare: 1, EventCount: 3}
	counts := &insightstore.PhiCounts{Config: "k1", KeyActionsOnTime: 1, KeyActions: 2, QualityMet: 3, QualityRecords: 4, HighValueVisits: 5, Visits: 6}
	read := func(what string, want *insightstore.PhiCounts) {
		t.Helper()
		write(t, s, func(tx insightstore.Tx) error {
			got, err := tx.PhiDayCounts(o.tenant, rep, "r1", "2026-03-01")
			if err != nil || (got == nil) != (want == nil) || (got != nil && *got != *want) {
				t.Errorf("%s: PhiDayCounts = %+v, %v; want %+v", what, got, err, want)
			}
			return err
		})
	}
	read("no day", nil)
	write(t, s, func(tx insightstore.Tx) error { return tx.PutPhiDayCounts(o.tenant, day, counts) })
	read("after PutPhiDayCounts", counts)
	series := must(s.PhiSeries(t.Context(), o.tenant, rep, "r1", "2026-03-01", "2026-03-01"))(t)
	if len(series) != 1 || !proto.Equal(series[0], day) {
		t.Errorf("PhiSeries after PutPhiDayCounts: %v", series)
	}
	write(t, s, func(tx insightstore.Tx) error { return tx.PutPhiDay(o.tenant, day) })
	read("after PutPhiDay (no tallies)", nil)
	write(t, s, func(tx insightstore.Tx) error { return tx.PutPhiDayCounts(o.tenant, day, counts) })
	write(t, s, func(tx insightstore.Tx) error { return tx.DeletePhiDay(o.tenant, rep, "r1", "2026-03-01") })
	read("after DeletePhiDay", nil)

	// Transactions that read a day's tallies and store them plus one take
	// turns: none is lost, whether the day had a row yet or not.
	const writers, rounds = 6, 4
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				err := s.InsightsWrite(t.Context(), func(tx insightstore.Tx) error {
					c, err := tx.PhiDayCounts(o.tenant, rep, "r2", "2026-03-02")
					if err != nil {
						return err
					}
					if c == nil {
						c = &insightstore.PhiCounts{Config: "k1"}
					}
					c.Visits++
					d := &fieldsyncv1.PhiDay{ScopeKind: rep, ScopeId: "r2", Date: "2026-03-02", HasVisits: true, EventCount: c.Visits}
					return tx.PutPhiDayCounts(o.tenant, d, c)
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	write(t, s, func(tx insightstore.Tx) error {
		c, err := tx.PhiDayCounts(o.tenant, rep, "r2", "2026-03-02")
		if err != nil || c == nil || c.Visits != writers*rounds {
			t.Errorf("after %d concurrent increments: %+v, %v", writers*rounds, c, err)
		}
		return err
	})
}

func testPlaces(t *testing.T, s Backend) {
	o := newOrg(t, s, "A")
	write(t, s, func(tx insightstore.Tx) error {
		for _, c := range []*insightstore.Customer{
			{TenantID: o.tenant, CustomerID: "c1", AssignedRepID: "r2", Name: "new", Version: 5},
			{TenantID: o.tenant, CustomerID: "c1", AssignedRepID: "r1", Name: "old", Version: 3},
		} {
			if err := tx.PutCustomer(c); err != nil {
				return err
			}
		}
		c, err := tx.Customer(o.tenant, "c1")
		if err != nil || c == nil || c.Name != "new" || c.AssignedRepID != "r2" || c.Version != 5 {
			t.Errorf("Customer after an older version: %+v %v", c, err)
		}
		if c, err := tx.Customer(o.tenant, "c2"); c != nil || err != nil {
			t.Errorf("a missing customer: %+v %v", c, err)
		}
		if v, ep, err := tx.StockState(o.tenant, "s1"); v != 0 || ep != "" || err != nil {
			t.Errorf("a new stock record's state: %d %q %v", v, ep, err)
		}
		for _, v := range []uint64{4, 6} {
			if err := tx.PutStockState(o.tenant, "s1", v, "ev-"+string(rune('0'+v))); err != nil {
				return err
			}
		}
		if v, ep, err := tx.StockState(o.tenant, "s1"); v != 6 || ep != "ev-6" || err != nil {
			t.Errorf("StockState %d %q %v", v, ep, err)
		}
		return nil
	})
}

func testUsesStallsProgress(t *testing.T, s Backend) {
	o := newOrg(t, s, "A")
	write(t, s, func(tx insightstore.Tx) error {
		for _, id := range []string{"b", "a", "a"} {
			if err := tx.AddPhotoUse(o.tenant, "h1", insightstore.PhotoUse{RecordType: "fieldsync.v1.Diagnosis", RecordID: id, OwnerUserID: o.staff.ID}); err != nil {
				return err
			}
		}
		if err := tx.RemovePhotoUses(o.tenant, "b"); err != nil {
			return err
		}
		uses, err := tx.PhotoUses(o.tenant, "h1")
		if err != nil || len(uses) != 1 || uses[0].RecordID != "a" || uses[0].OwnerUserID != o.staff.ID {
			t.Errorf("PhotoUses %+v %v", uses, err)
		}
		for _, st := range []*insightstore.Stall{
			{TenantID: o.tenant, VisitID: "v1", CustomerID: "c1", RepUserID: o.rep.ID, StartMS: 100},
			{TenantID: o.tenant, VisitID: "v1", CustomerID: "c9", RepUserID: o.rep.ID, StartMS: 999},
			{TenantID: o.tenant, VisitID: "v2", CustomerID: "c2", RepUserID: o.rep.ID, StartMS: 200},
		} {
			if err := tx.AddStall(st); err != nil {
				return err
			}
		}
		if err := tx.ResolveStall(o.tenant, "v2"); err != nil {
			return err
		}
		due, err := tx.DueStalls(o.tenant, 500)
		if err != nil || len(due) != 1 || due[0].VisitID != "v1" || due[0].CustomerID != "c1" {
			t.Errorf("DueStalls %+v %v", due, err)
		}
		for _, p := range []struct {
			rec, linked string
			at          int64
		}{{"v1", "", 100}, {"cm1", "v1", 150}, {"op1", "", 300}, {"op1", "", 250}} {
			if err := tx.PutProgress(o.tenant, "c1", p.rec, p.linked, p.at); err != nil {
				return err
			}
		}
		times, err := tx.ProgressTimes(o.tenant, "c1", "v1")
		if err != nil || !slices.Equal(times, []int64{300}) {
			t.Errorf("ProgressTimes %v %v, want [300]", times, err)
		}
		return nil
	})
	// Stored rows: a later change replaces one (cm1 no longer linked to v1,
	// so it counts), an earlier one does not (op1 stays at 300); of two
	// changes of a record at the same time in one transaction the last wins.
	write(t, s, func(tx insightstore.Tx) error {
		for _, p := range []struct {
			rec, linked string
			at          int64
		}{{"op1", "", 200}, {"cm1", "", 400}, {"v1", "", 100}, {"cm2", "", 500}, {"cm2", "v1", 500}, {"op1", "", 299}} {
			if err := tx.PutProgress(o.tenant, "c1", p.rec, p.linked, p.at); err != nil {
				return err
			}
		}
		times, err := tx.ProgressTimes(o.tenant, "c1", "v1")
		slices.Sort(times)
		if err != nil || !slices.Equal(times, []int64{300, 400}) {
			t.Errorf("ProgressTimes after updates %v %v, want [300 400]", times, err)
		}
		return nil
	})
}

func testEffects(t *testing.T, s Backend) {
	ctx := t.Context()
	o := newOrg(t, s, "A")
	alert := func(title string) *fieldsyncv1.Alert { return &fieldsyncv1.Alert{Title: title} }
	var stored []bool
	enqueue := func(e *insightstore.Effect) {
		write(t, s, func(tx insightstore.Tx) error {
			ok, err := tx.EnqueueEffect(e)
			stored = append(stored, ok)
			return err
		})
	}
	enqueue(&insightstore.Effect{TenantID: o.tenant, DedupKey: "k1", Alert: alert("one")})
	enqueue(&insightstore.Effect{TenantID: o.tenant, DedupKey: "k1", Alert: alert("ignored")})
	enqueue(&insightstore.Effect{TenantID: o.tenant, DedupKey: "k2", RecordType: "fieldsync.v1.Visit", RecordID: "v1", Field: "flagged"})
	if !slices.Equal(stored, []bool{true, false, true}) {
		t.Errorf("EnqueueEffect stored %v", stored)
	}
	now := time.Now()
	pending := must(s.PendingInsightEffects(ctx, now, 10))(t)
	if len(pending) != 2 || pending[0].DedupKey != "k1" || pending[0].Alert.GetTitle() != "one" || pending[1].Field != "flagged" {
		t.Fatalf("pending %+v", pending)
	}
	if err := s.DeferInsightEffect(ctx, pending[1], now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	stored = nil
	enqueue(&insightstore.Effect{TenantID: o.tenant, DedupKey: "k1", Alert: alert("two"), Update: true})
	enqueue(&insightstore.Effect{TenantID: o.tenant, DedupKey: "k1", Alert: alert("two"), Update: true})
	if !slices.Equal(stored, []bool{true, false}) {
		t.Errorf("updates stored %v, want a change then none", stored)
	}
	if err := s.MarkInsightEffectsDone(ctx, pending[:1]); err != nil { // the revision read, replaced since
		t.Fatal(err)
	}
	again := must(s.PendingInsightEffects(ctx, now, 10))(t)
	if len(again) != 1 || again[0].Alert.GetTitle() != "two" || again[0].Revision != pending[0].Revision+1 {
		t.Fatalf("pending after an update and a deferral: %+v", again)
	}
	if err := s.MarkInsightEffectsDone(ctx, again); err != nil {
		t.Fatal(err)
	}
	later := must(s.PendingInsightEffects(ctx, now.Add(2*time.Hour), 10))(t)
	if len(later) != 1 || later[0].DedupKey != "k2" || later[0].Attempts != 1 {
		t.Errorf("pending after the retry time: %+v", later)
	}
}

func testFindingsGrants(t *testing.T, s Backend) {
	o := newOrg(t, s, "A")
	create := time.Now().Truncate(time.Millisecond)
	write(t, s, func(tx insightstore.Tx) error {
		for _, f := range []*insightstore.Finding{
			{Key: "A1:c1", Episode: "e1", OpenedMS: 1, LastMS: 2, Evidence: []byte(`{}`)},
			{Key: "A1:c2", Episode: "", OpenedMS: 1},
			{Key: "A2:t1", Episode: "e2"},
			{Key: "A1:c1", Episode: "e1", OpenedMS: 1, LastMS: 5, Evidence: []byte(`{"n":2}`)},
		} {
			if err := tx.PutFinding(o.tenant, f); err != nil {
				return err
			}
		}
		f, err := tx.Finding(o.tenant, "A1:c1")
		if err != nil || f == nil || f.LastMS != 5 || string(f.Evidence) != `{"n":2}` {
			t.Errorf("Finding %+v %v", f, err)
		}
		if f, err := tx.Finding(o.tenant, "A9:x"); f != nil || err != nil {
			t.Errorf("a missing finding %+v %v", f, err)
		}
		if open, err := tx.OpenFindings(o.tenant, "A1:"); !slices.Equal(open, []string{"A1:c1"}) || err != nil {
			t.Errorf("OpenFindings A1: %v %v", open, err)
		}
		if end, err := tx.LatestIntervention(o.tenant, o.region); end != "" || err != nil {
			t.Errorf("no intervention yet: %q %v", end, err)
		}
		for _, d := range []string{"2026-03-01", "2026-03-08", "2026-03-08"} {
			if err := tx.AddIntervention(o.tenant, o.region, d); err != nil {
				return err
			}
		}
		if end, err := tx.LatestIntervention(o.tenant, o.region); end != "2026-03-08" || err != nil {
			t.Errorf("LatestIntervention %q %v", end, err)
		}
		g1, err := tx.CreateGrant(o.tenant, o.director.ID, o.rep.ID, "fall", "A3:x", create, create.Add(time.Hour))
		if err != nil {
			return err
		}
		g2, err := tx.CreateGrant(o.tenant, o.director.ID, o.rep.ID, "other", "A3:x", create.Add(time.Minute), create.Add(2*time.Hour))
		if err != nil || g2.GetId() != g1.GetId() || g2.GetReason() != "fall" {
			t.Errorf("a second grant with the same key: %v %v, want the first %v", g2, err, g1)
		}
		return nil
	})
}

func testDirectory(t *testing.T, s Backend) {
	ctx := t.Context()
	o := newOrg(t, s, "A")
	code, _, err := s.IssueEnrollmentCode(ctx, o.tenant, o.rep.ID, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dev, _, err := s.Enroll(ctx, code, "phone", "android")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReportDeviceStatus(ctx, o.tenant, dev.ID, syncengine.DeviceStatus{OutboxDepth: 4, OldestUnsyncedAge: 48 * time.Hour, AppVersion: "1.0"}); err != nil {
		t.Fatal(err)
	}
	write(t, s, func(tx insightstore.Tx) error {
		reps, err := tx.UsersByRole(o.tenant, fieldsyncv1.Role_ROLE_REP, o.region, "")
		if err != nil || len(reps) != 1 || reps[0].ID != o.rep.ID {
			t.Errorf("UsersByRole rep: %+v %v", reps, err)
		}
		if u, err := tx.User(o.tenant, o.staff.ID); err != nil || u == nil || u.StoreID != o.store || u.RegionID != o.region {
			t.Errorf("User %+v %v", u, err)
		}
		if u, err := tx.User(o.tenant, "nobody"); u != nil || err != nil {
			t.Errorf("a missing user %+v %v", u, err)
		}
		names, err := tx.Names(o.tenant, o.rep.ID, o.region, o.store, "nobody")
		if err != nil || len(names) != 3 || names[o.rep.ID] != "Rita" || names[o.region] != "North" || names[o.store] != "North 1" {
			t.Errorf("Names %v %v", names, err)
		}
		stale, err := tx.StaleDevices(o.tenant, time.Now().Add(-24*time.Hour).UnixMilli())
		if err != nil || len(stale) != 1 || stale[0].DeviceID != dev.ID || stale[0].UserName != "Rita" || stale[0].RegionID != o.region ||
			stale[0].OutboxDepth != 4 || stale[0].AppVersion != "1.0" {
			t.Errorf("StaleDevices %+v %v", stale, err)
		}
		if fresh, err := tx.StaleDevices(o.tenant, time.Now().Add(-72*time.Hour).UnixMilli()); len(fresh) != 0 || err != nil {
			t.Errorf("StaleDevices before the write: %+v %v", fresh, err)
		}
		return nil
	})
}

func testRollback(t *testing.T, s Backend) {
	o := newOrg(t, s, "A")
	boom := errors.New("boom")
	err := s.InsightsWrite(t.Context(), func(tx insightstore.Tx) error {
		if _, err := tx.MarkEventApplied(o.tenant, "ev-1"); err != nil {
			return err
		}
		if _, err := tx.EnqueueEffect(&insightstore.Effect{TenantID: o.tenant, DedupKey: "k", Alert: &fieldsyncv1.Alert{}}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InsightsWrite: %v, want the function's error", err)
	}
	var fresh bool
	write(t, s, func(tx insightstore.Tx) (err error) { fresh, err = tx.MarkEventApplied(o.tenant, "ev-1"); return })
	if !fresh {
		t.Error("a rolled back event counts as applied")
	}
	if p := must(s.PendingInsightEffects(t.Context(), time.Now(), 10))(t); len(p) != 0 {
		t.Errorf("a rolled back effect is pending: %+v", p)
	}
}

func testMarkEventsApplied(t *testing.T, s Backend) {
	a, b := newOrg(t, s, "A"), newOrg(t, s, "B")
	write(t, s, func(tx insightstore.Tx) error {
		_, err := tx.MarkEventApplied(a.tenant, "ev-1")
		return err
	})
	var got, again, other []bool
	var single bool
	write(t, s, func(tx insightstore.Tx) (err error) {
		if got, err = tx.MarkEventsApplied(a.tenant, []string{"ev-1", "ev-2", "ev-2", "ev-3"}); err != nil {
			return err
		}
		if again, err = tx.MarkEventsApplied(a.tenant, []string{"ev-3", "ev-4"}); err != nil {
			return err
		}
		if single, err = tx.MarkEventApplied(a.tenant, "ev-2"); err != nil {
			return err
		}
		other, err = tx.MarkEventsApplied(b.tenant, []string{"ev-1", "ev-2"})
		return err
	})
	if want := []bool{false, true, false, true}; !slices.Equal(got, want) {
		t.Errorf("MarkEventsApplied(ev-1 applied before, ev-2 twice, ev-3) = %v, want %v", got, want)
	}
	if want := []bool{false, true}; !slices.Equal(again, want) {
		t.Errorf("MarkEventsApplied(ev-3 marked earlier in the transaction, ev-4) = %v, want %v", again, want)
	}
	if single {
		t.Error("MarkEventApplied of an event MarkEventsApplied marked says it is new")
	}
	if want := []bool{true, true}; !slices.Equal(other, want) {
		t.Errorf("another tenant's events of the same ids: %v, want %v", other, want)
	}
	var empty []bool
	write(t, s, func(tx insightstore.Tx) (err error) { empty, err = tx.MarkEventsApplied(a.tenant, nil); return })
	if len(empty) != 0 {
		t.Errorf("MarkEventsApplied(nil) = %v", empty)
	}
	boom := errors.New("boom")
	err := s.InsightsWrite(t.Context(), func(tx insightstore.Tx) error {
		if _, err := tx.MarkEventsApplied(a.tenant, []string{"ev-5", "ev-6"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InsightsWrite: %v, want the function's error", err)
	}
	write(t, s, func(tx insightstore.Tx) (err error) {
		got, err = tx.MarkEventsApplied(a.tenant, []string{"ev-5", "ev-6"})
		return
	})
	if want := []bool{true, true}; !slices.Equal(got, want) {
		t.Errorf("events marked in a rolled back transaction: %v, want %v", got, want)
	}
}

// testManyWritesReadBack: a transaction reads what it wrote, whatever the
// store does with its writes before the commit (storage/sqlite keeps
// action and progress rows back and writes them many at once), and a put
// of the same row twice ends as the last put.
func testManyWritesReadBack(t *testing.T, s Backend) {
	o := newOrg(t, s, "A")
	const n = 150 // more than one multi-row statement
	act := func(i, at int) *insightstore.Action {
		return &insightstore.Action{TenantID: o.tenant, RecordID: fmt.Sprintf("v%03d", i), RecordType: "fieldsync.v1.Visit",
			OwnerUserID: o.rep.ID, RegionID: o.region, CustomerID: "c1", ActionMS: int64(at), SubmittedMS: int64(at),
			Tags: []string{"t"}}
	}
	ids := make([]string, n)
	write(t, s, func(tx insightstore.Tx) error {
		for i := range n {
			ids[i] = fmt.Sprintf("v%03d", i)
			if err := tx.PutAction(act(i, 1000+i)); err != nil {
				return err
			}
			if err := tx.PutProgress(o.tenant, "c1", ids[i], "", int64(1000+i)); err != nil {
				return err
			}
		}
		if err := tx.PutAction(act(7, 5)); err != nil { // again: the last put stays
			return err
		}
		if err := tx.PutProgress(o.tenant, "c1", ids[7], "", 5); err != nil { // earlier: kept back
			return err
		}
		if a, err := tx.Action(o.tenant, ids[7]); err != nil || a == nil || a.ActionMS != 5 {
			t.Errorf("Action after two puts: %+v, %v; want the second", a, err)
		}
		got, err := tx.ActionsByID(o.tenant, ids)
		if err != nil || len(got) != n {
			t.Errorf("ActionsByID of %d records put in the transaction: %d, %v", n, len(got), err)
		}
		if err := tx.PutAction(act(n, 2000)); err != nil {
			return err
		}
		acts, err := tx.Actions(o.tenant, fieldsyncv1.ScopeKind_SCOPE_KIND_REP, o.rep.ID, 0, 1<<40)
		if err != nil || len(acts) != n+1 {
			t.Errorf("Actions of the rep after %d puts: %d, %v", n+1, len(acts), err)
		}
		sub, err := tx.SubmittedActions(o.tenant, "c1", "fieldsync.v1.Visit", 0, 1<<40)
		if err != nil || len(sub) != n+1 {
			t.Errorf("SubmittedActions of the customer after %d puts: %d, %v", n+1, len(sub), err)
		}
		times, err := tx.ProgressTimes(o.tenant, "c1", "none")
		if err != nil || len(times) != n || !slices.Contains(times, 1007) || slices.Contains(times, 5) {
			t.Errorf("ProgressTimes after %d puts: %d times (%v), want %d with 1007 kept over the earlier 5", n, len(times), err, n)
		}
		return nil
	})
	write(t, s, func(tx insightstore.Tx) error {
		got, err := tx.ActionsByID(o.tenant, append(ids, fmt.Sprintf("v%03d", n)))
		if err != nil || len(got) != n+1 {
			t.Errorf("ActionsByID after the commit: %d, %v; want %d", len(got), err, n+1)
		}
		return nil
	})
	// Rows kept back by a transaction that fails are not written.
	boom := errors.New("boom")
	err := s.InsightsWrite(t.Context(), func(tx insightstore.Tx) error {
		if err := tx.PutAction(act(n+1, 1)); err != nil {
			return err
		}
		if err := tx.PutProgress(o.tenant, "c2", "x", "", 1); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InsightsWrite: %v, want the function's error", err)
	}
	write(t, s, func(tx insightstore.Tx) error {
		if a, err := tx.Action(o.tenant, fmt.Sprintf("v%03d", n+1)); err != nil || a != nil {
			t.Errorf("an action put in a failed transaction: %+v, %v", a, err)
		}
		if times, err := tx.ProgressTimes(o.tenant, "c2", "none"); err != nil || len(times) != 0 {
			t.Errorf("progress put in a failed transaction: %v, %v", times, err)
		}
		return nil
	})
}

// testStoredAndNewRows: one transaction puts action and progress rows
// of which some are stored already (changed in every column, or the same)
// and some new, interleaved, more than one multi-row statement's worth
// (storage/sqlite inserts a chunk and updates only the stored rows it
// left out). Every row ends as putting them one after another leaves it.
func testStoredAndNewRows(t *testing.T, s Backend) {
	o := newOrg(t, s, "A")
	const n = 70
	act := func(id string, i int, changed bool) *insightstore.Action {
		a := &insightstore.Action{TenantID: o.tenant, RecordID: id, RecordType: "fieldsync.v1.Visit",
			OwnerUserID: o.rep.ID, StoreID: "s1", RegionID: o.region, CustomerID: "c1", ActionMS: int64(1000 + i),
			SubmittedMS: int64(2000 + i), SubmittedVersion: uint64(i + 1), QualityKind: 1, QualityCount: 2,
			Tags: []string{"t1", "t2"}, Conclusion: "", Value: nil}
		if changed {
			*a = insightstore.Action{TenantID: o.tenant, RecordID: id, RecordType: "fieldsync.v1.Diagnosis",
				OwnerUserID: o.staff.ID, StoreID: "s2", RegionID: "r2", CustomerID: "c2", ActionMS: int64(5000 + i),
				SubmittedMS: int64(6000 + i), SubmittedVersion: uint64(i + 100), QualityKind: 3, QualityCount: 4,
				Tags: []string{"t3"}, Conclusion: "found", Value: []byte{1, byte(i)}}
		}
		return a
	}
	type prog struct {
		linked string
		at     int64
	}
	want := map[string]*insightstore.Action{}
	wantProg := map[int]prog{} // by customer number
	write(t, s, func(tx insightstore.Tx) error {
		for i := range n {
			a := act(fmt.Sprintf("a%03d", i), i, false)
			want[a.RecordID] = a
			p := prog{"", int64(1000 + i)}
			if i%2 == 0 {
				p.linked = "vx"
			}
			wantProg[i] = p
			if err := tx.PutAction(a); err != nil {
				return err
			}
			if err := tx.PutProgress(o.tenant, fmt.Sprintf("c%03d", i), fmt.Sprintf("r%03d", i), p.linked, p.at); err != nil {
				return err
			}
		}
		return nil
	})
	flip := func(l string) string {
		if l == "" {
			return "vx"
		}
		return ""
	}
	write(t, s, func(tx insightstore.Tx) error {
		for i := range n {
			if i%3 != 2 { // stored: changed in every column, or put again the same
				a := act(fmt.Sprintf("a%03d", i), i, i%3 == 0)
				want[a.RecordID] = a
				if err := tx.PutAction(a); err != nil {
					return err
				}
			}
			a := act(fmt.Sprintf("b%03d", i), i, i%2 == 0) // new
			want[a.RecordID] = a
			if err := tx.PutAction(a); err != nil {
				return err
			}
			old := wantProg[i]
			p := old
			switch i % 4 {
			case 0: // later: replaces
				p = prog{flip(old.linked), old.at + 10}
				wantProg[i] = p
			case 1: // earlier: kept back
				p = prog{flip(old.linked), old.at - 10}
			case 2: // the same time, another linked visit: replaces
				p = prog{flip(old.linked), old.at}
				wantProg[i] = p
			}
			if err := tx.PutProgress(o.tenant, fmt.Sprintf("c%03d", i), fmt.Sprintf("r%03d", i), p.linked, p.at); err != nil {
				return err
			}
			if err := tx.PutProgress(o.tenant, fmt.Sprintf("c%03d", n+i), "new", "", int64(i)); err != nil {
				return err
			}
			wantProg[n+i] = prog{"", int64(i)}
		}
		// A stored record put twice: the last put stays.
		a := act("a001", 1, true)
		if err := tx.PutAction(a); err != nil {
			return err
		}
		if err := tx.PutAction(act("a001", 7, false)); err != nil {
			return err
		}
		want["a001"] = act("a001", 7, false)
		return nil
	})
	write(t, s, func(tx insightstore.Tx) error {
		ids := slices.Sorted(func(yield func(string) bool) {
			for id := range want {
				if !yield(id) {
					return
				}
			}
		})
		got, err := tx.ActionsByID(o.tenant, ids)
		if err != nil || len(got) != len(want) {
			t.Fatalf("ActionsByID: %d actions, %v; want %d", len(got), err, len(want))
		}
		for _, g := range got {
			if w := want[g.RecordID]; !reflect.DeepEqual(g, w) {
				t.Errorf("action %s:\n got %+v\nwant %+v", g.RecordID, g, w)
			}
		}
		for c, p := range wantProg {
			times, err := tx.ProgressTimes(o.tenant, fmt.Sprintf("c%03d", c), "vx")
			var w []int64
			if p.linked != "vx" {
				w = []int64{p.at}
			}
			if err != nil || !slices.Equal(times, w) {
				t.Errorf("customer %d: ProgressTimes %v, %v; want %v (linked %q)", c, times, err, w, p.linked)
			}
		}
		return nil
	})
}
