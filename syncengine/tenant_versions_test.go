package syncengine_test

import (
	"context"
	"testing"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// otherTenant adds a second tenant to the world's database with one rep,
// principal "repB" (device dev-repB).
func (w *world) otherTenant() {
	w.t.Helper()
	ctx := context.Background()
	tn, err := w.db.CreateTenant(ctx, "T2")
	if err != nil {
		w.t.Fatal(err)
	}
	r, err := w.db.CreateRegion(ctx, tn.ID, "R2")
	if err != nil {
		w.t.Fatal(err)
	}
	u := &syncengine.User{TenantID: tn.ID, DisplayName: "repB", Role: fieldsyncv1.Role_ROLE_REP, RegionID: r.ID}
	if err := w.db.CreateUser(ctx, u); err != nil {
		w.t.Fatal(err)
	}
	w.p["repB"] = u.Principal("dev-repB")
}

func TestWritesInOneTenantDoNotMoveAnotherTenantsVersions(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.otherTenant()
	b1, b2 := newID(), newID()
	w.push("repB", w.mut("repB", b1, &fieldsyncv1.Visit{Notes: "b1"}, "notes"))
	recs, cursor := w.pullAll("repB", "")
	for range 20 {
		w.push("rep", w.mut("rep", newID(), &fieldsyncv1.Visit{Notes: "a"}, "notes"))
	}
	if _, again := w.pullAll("repB", ""); again != cursor {
		t.Fatalf("tenant B's first-sync cursor moved with tenant A's writes: %q, was %q", again, cursor)
	}
	w.push("repB", w.mut("repB", b2, &fieldsyncv1.Visit{Notes: "b2"}, "notes"))
	next, _ := w.pullAll("repB", cursor)
	if v1, v2 := recs[b1].GetVersion(), next[b2].GetVersion(); v1 != 1 || v2 != 2 {
		t.Fatalf("tenant B's versions are %d and %d, want 1 and 2 whatever tenant A writes", v1, v2)
	}
}

func TestPurgeInOneTenantLeavesAnotherTenantsCursors(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.otherTenant()
	w.push("repB", w.mut("repB", newID(), &fieldsyncv1.Visit{Notes: "b"}, "notes"))
	_, cursor := w.pullAll("repB", "")
	id := newID()
	w.push("rep", w.mut("rep", id, &fieldsyncv1.Visit{Notes: "a"}, "notes"))
	w.push("rep", w.del("rep", "fieldsync.v1.Visit", id))
	if _, err := w.db.PurgeTombstones(context.Background(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.e.Pull(context.Background(), w.p["repB"], cursor, 10); err != nil {
		t.Fatalf("tenant B's cursor after tenant A's purge: %v", err)
	}
}

func TestCursorBeyondTheTenantsLatestVersionNeedsResync(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.push("rep", w.mut("rep", newID(), &fieldsyncv1.Visit{Notes: "x"}, "notes"))
	_, cursor := w.pullAll("rep", "")
	_, err := w.e.Pull(context.Background(), w.p["rep"], syncengine.CursorAt(cursor, 99), 10)
	wantResync(t, err)
}

// loseEdit makes one conflict: who's device offline edits a record after
// another device's newer edit.
func (w *world) loseEdit(who, other string) {
	w.t.Helper()
	id := newID()
	w.push(who, w.mut(who, id, &fieldsyncv1.Visit{Notes: "v0"}, "notes"))
	older := w.mut(other, id, &fieldsyncv1.Visit{Notes: "offline"}, "notes")
	w.push(who, w.mut(who, id, &fieldsyncv1.Visit{Notes: "newer"}, "notes"))
	if r := w.push(other, older)[0]; r.Outcome != merged {
		w.t.Fatalf("older edit: %v", r)
	}
}

func TestConflictIDsAreNumberedPerTenant(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.otherTenant()
	w.otherDevice("rep", "repA2")
	w.otherDevice("repB", "repB2")
	for range 3 {
		w.loseEdit("rep", "repA2")
	}
	w.loseEdit("repB", "repB2")
	cs, err := w.e.ListConflicts(context.Background(), w.p["repB2"], "", 0, 10)
	if err != nil || len(cs) != 1 || cs[0].Id != 1 {
		t.Fatalf("tenant B's conflicts %v (%v), want one with id 1 whatever tenant A lost", cs, err)
	}
}
