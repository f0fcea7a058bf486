package insights

import (
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// phiDay returns the stored PHI of a named scope on 2026-02-dd, or nil.
func (e *env) phiDay(kind fieldsyncv1.ScopeKind, name, date string) *fieldsyncv1.PhiDay {
	e.t.Helper()
	var out *fieldsyncv1.PhiDay
	must(e.t, e.db.InsightsWrite(e.ctx, func(tx insightstore.Tx) error {
		days, err := tx.PhiDays(e.tenant, kind, e.id(name), "2026-02-"+date, "2026-02-"+date)
		if len(days) == 1 {
			out = days[0]
		}
		return err
	}))
	return out
}

func TestOnlyTheMaterialsAudienceOwesFeedback(t *testing.T) {
	e := newEnv(t)
	released := at(4, 9, 0)
	e.upsert("M1", &fieldsyncv1.CampaignMaterial{OwnerUserId: e.id("mkt"), Title: "New stent", ReleasedTime: ts(released)}, released)
	e.upsert("M2", &fieldsyncv1.CampaignMaterial{OwnerUserId: e.id("mkt"), RegionId: e.id("south"), Title: "South only",
		ReleasedTime: ts(released)}, released)
	for _, user := range []string{"bob", "alice", "mgr1", "carol", "mgr2"} {
		e.handle(e.delivery("M1", user, "dev-"+user, released.Add(30*time.Minute)))
	}
	m2 := e.delivery("M2", "dave", "dev-dave", released.Add(30*time.Minute)) // dave is north: not M2's audience
	m2.RegionId = e.id("south")
	e.handle(m2)
	e.upsert("F1", &fieldsyncv1.CampaignFeedback{OwnerUserId: e.id("alice"), RegionId: e.id("north"), MaterialId: "M2"}, released.Add(time.Hour))
	e.sweep(released.Add(48 * time.Hour)) // every feedback deadline passed, none was met

	// Only bob owes feedback on M1: on time on his phone (02-04), his feedback missed (02-05).
	for _, date := range []string{"04", "05"} {
		d := e.phiDay(region, "north", date)
		if d == nil || !d.HasCollaboration || d.EventCount != 1 {
			t.Errorf("north 02-%s: %v, want bob's one observation", date, d)
		}
		for _, scope := range []struct {
			kind fieldsyncv1.ScopeKind
			name string
		}{{rep, "alice"}, {rep, "mgr1"}, {rep, "dave"}, {store, "s1"}, {store, "s2"}, {region, "south"}} {
			if d := e.phiDay(scope.kind, scope.name, date); d != nil {
				t.Errorf("%s 02-%s: %v, want no PHI (owes no feedback)", scope.name, date, d)
			}
		}
	}
}

func TestFutureDatedRecordsAreClampedToTheirReceipt(t *testing.T) {
	e := newEnv(t)
	commit := at(2, 10, 0)
	future := commit.Add(30 * 24 * time.Hour) // the device's clock is a month ahead
	e.upsert("v1", e.visit("bob", "c1", future, "decision_maker_confirmed"), commit)
	if d := e.phiDay(rep, "bob", "02"); d == nil || !d.HasKeyAction || d.KeyActionCompletion != 1 {
		t.Fatalf("bob 02-02: %v, want the future-dated visit on time today", d)
	}
	// A diagnosis whose HLC is a month ahead conflicts with one made now.
	e.handle(e.upsertAt("dA", e.diagnosis("alice", "c2", "brake pads worn"), future, commit))
	e.handle(e.upsertAt("dB", e.diagnosis("alice", "c2", "rotor warped"), commit, commit.Add(time.Minute)))
	if got := e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_CONFLICTING_DIAGNOSES); len(got) == 0 {
		t.Error("no A1 alert: the future-dated diagnosis was not clamped to its receipt")
	}
	// A5's window runs from the clamped visit time, not from the device's date.
	e.sweep(commit.Add(DefaultConfig().Rules.StallWindow.D() + 6*time.Minute))
	if got := e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_STALLED_CLOSE); len(got) != 1 {
		t.Errorf("A5 alerts %v, want one: the stall window starts at receipt plus the allowed skew", got)
	}
}
