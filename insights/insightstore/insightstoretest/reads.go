package insightstoretest

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// testPhiSeriesMany: the dashboard reads the PHI of several places of one
// kind and tenant in one call, by scope id, oldest first; places without
// PHI are missing, and a malformed request is CodeInvalid.
func testPhiSeriesMany(t *testing.T, s Backend) {
	a, b := newOrg(t, s, "A"), newOrg(t, s, "B")
	day := func(kind fieldsyncv1.ScopeKind, scope, date string, index float64) *fieldsyncv1.PhiDay {
		return &fieldsyncv1.PhiDay{ScopeKind: kind, ScopeId: scope, Date: date, Index: index, HasVisits: true, EventCount: 2}
	}
	store, rep := fieldsyncv1.ScopeKind_SCOPE_KIND_STORE, fieldsyncv1.ScopeKind_SCOPE_KIND_REP
	write(t, s, func(tx insightstore.Tx) error {
		for _, d := range []*fieldsyncv1.PhiDay{day(store, "s1", "2026-03-02", 60), day(store, "s1", "2026-03-01", 50),
			day(store, "s2", "2026-03-01", 70), day(store, "s3", "2026-03-01", 80), day(rep, "s1", "2026-03-01", 90),
			day(store, "s1", "2026-04-01", 40)} {
			if err := tx.PutPhiDay(a.tenant, d); err != nil {
				return err
			}
		}
		return tx.PutPhiDay(b.tenant, day(store, "s2", "2026-03-03", 10))
	})
	got := must(s.PhiSeriesMany(t.Context(), a.tenant, store, []string{"s1", "s2", "none"}, "2026-03-01", "2026-03-31"))(t)
	want := map[string][]*fieldsyncv1.PhiDay{
		"s1": {day(store, "s1", "2026-03-01", 50), day(store, "s1", "2026-03-02", 60)},
		"s2": {day(store, "s2", "2026-03-01", 70)},
	}
	if len(got) != len(want) {
		t.Errorf("PhiSeriesMany: %v, want %v", got, want)
	}
	for id, days := range want {
		if len(got[id]) != len(days) || !proto.Equal(got[id][0], days[0]) || !proto.Equal(got[id][len(days)-1], days[len(days)-1]) {
			t.Errorf("PhiSeriesMany of %s: %v, want %v", id, got[id], days)
		}
	}
	if none := must(s.PhiSeriesMany(t.Context(), a.tenant, store, nil, "2026-03-01", "2026-03-31"))(t); len(none) != 0 {
		t.Errorf("PhiSeriesMany of no place: %v", none)
	}
	bad := []struct {
		name     string
		kind     fieldsyncv1.ScopeKind
		ids      []string
		from, to string
	}{
		{"no kind", fieldsyncv1.ScopeKind_SCOPE_KIND_UNSPECIFIED, []string{"s1"}, "2026-03-01", "2026-03-31"},
		{"from after to", store, []string{"s1"}, "2026-03-31", "2026-03-01"},
		{"not a date", store, []string{"s1"}, "2026-3-1", "2026-03-31"},
		{"too many places", store, make([]string, 1001), "2026-03-01", "2026-03-31"},
	}
	for _, c := range bad {
		if _, err := s.PhiSeriesMany(t.Context(), a.tenant, c.kind, c.ids, c.from, c.to); !syncengine.IsCode(err, syncengine.CodeInvalid) {
			t.Errorf("PhiSeriesMany with %s: %v, want CodeInvalid", c.name, err)
		}
	}
}

const ruleType = "fieldsync.v1.RebateRule"

// rule returns a rebate rule record of the tenant named name, created by
// the server at hlc.
func rule(tenantID, id, name string, hlc syncengine.HLC) *syncengine.StoredRecord {
	at := syncengine.Version{HLC: hlc, Actor: syncengine.ServerActor}
	return &syncengine.StoredRecord{TenantID: tenantID, ID: id, Type: ruleType, HLC: hlc, Actor: at.Actor, UpdatedAt: time.UnixMilli(1).UTC(),
		State: &syncengine.State{Value: &fieldsyncv1.RebateRule{Name: name}, Created: at,
			Fields: map[string]syncengine.Version{"name": at}, Elements: map[string][]syncengine.Version{}}}
}

// testRecordsByType: RecordsByType lists a tenant's live records of one
// type by id, up to a limit, without deleted ones or other types and
// tenants.
func testRecordsByType(t *testing.T, s Backend) {
	a, b := newOrg(t, s, "A"), newOrg(t, s, "B")
	hlc := syncengine.HLC(1 << 20)
	err := s.Update(t.Context(), func(tx syncengine.Tx) error {
		recs := []*syncengine.StoredRecord{rule(a.tenant, "r3", "three", hlc), rule(a.tenant, "r1", "one", hlc),
			rule(a.tenant, "r2", "two", hlc), rule(b.tenant, "r0", "other tenant", hlc)}
		gone := rule(a.tenant, "r0", "deleted", hlc)
		gone.State.DeletedAt = syncengine.Version{HLC: hlc + 1, Actor: syncengine.ServerActor}
		visit := rule(a.tenant, "r00", "", hlc)
		visit.Type, visit.State.Value, visit.State.Fields = "fieldsync.v1.Visit", &fieldsyncv1.Visit{Notes: "x"}, map[string]syncengine.Version{"notes": visit.State.Created}
		for _, r := range append(recs, gone, visit) {
			if _, err := tx.PutRecord(r, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	names := func(limit int) string {
		recs := must(s.RecordsByType(t.Context(), a.tenant, ruleType, limit))(t)
		out := ""
		for _, r := range recs {
			out += fmt.Sprintf("%s=%s ", r.ID, r.State.Value.(*fieldsyncv1.RebateRule).Name)
		}
		return out
	}
	if got := names(10); got != "r1=one r2=two r3=three " {
		t.Errorf("RecordsByType: %q", got)
	}
	if got := names(2); got != "r1=one r2=two " {
		t.Errorf("RecordsByType with limit 2: %q", got)
	}
	if got := must(s.GetRecords(t.Context(), a.tenant, []string{"r2", "r0", "nope"}))(t); len(got) != 2 || got["r2"] == nil || !got["r0"].State.Deleted() {
		t.Errorf("GetRecords: %v", got)
	}
}
