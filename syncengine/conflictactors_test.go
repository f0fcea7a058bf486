package syncengine_test

import (
	"context"
	"testing"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// enrollDevice gives who a real enrolled device, so the store knows whose
// device it is.
func (w *world) enrollDevice(who string) string {
	w.t.Helper()
	ctx := context.Background()
	code, _, err := w.db.IssueEnrollmentCode(ctx, w.tenant, w.p[who].UserID, "", time.Hour)
	if err != nil {
		w.t.Fatal(err)
	}
	d, _, err := w.db.Enroll(ctx, code, who, "test")
	if err != nil {
		w.t.Fatal(err)
	}
	w.p[who].DeviceID = d.ID
	return d.ID
}

// TestListConflictsNamesOnlyWritersTheCallerMayKnowOf makes a rep's edit
// and an API key's edit lose to a director's: the rep sees its own device
// but neither the director's device nor the key; the director sees the
// devices of its region but not the key; admins (and keys reading all)
// see every writer; a key sees itself. A push result names only the pusher
// (and the server) to callers who do not read the whole tenant.
func TestListConflictsNamesOnlyWritersTheCallerMayKnowOf(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rep, director := w.enrollDevice("rep"), w.enrollDevice("director")
	w.p["key"] = &syncengine.Principal{TenantID: w.tenant, APIKeyID: "k1",
		Permissions: []string{"customers:write", syncengine.PermRecordsRead}}
	w.p["reader"] = &syncengine.Principal{TenantID: w.tenant, APIKeyID: "k2", Permissions: []string{syncengine.PermRecordsRead}}
	id := newID()
	w.push("rep", w.mut("rep", id, &fieldsyncv1.Customer{Name: "C", AssignedRepId: w.p["rep"].UserID, RegionId: w.region},
		"name", "assigned_rep_id", "region_id"))
	repOld := w.mut("rep", id, &fieldsyncv1.Customer{Address: "rep"}, "address")
	keyOld := w.mut("key", id, &fieldsyncv1.Customer{Address: "key"}, "address")
	w.push("director", w.mut("director", id, &fieldsyncv1.Customer{Address: "director"}, "address"))
	for _, who := range []string{"rep", "key"} {
		old := map[string]syncengine.Mutation{"rep": repOld, "key": keyOld}[who]
		r := w.push(who, old)
		if len(r[0].Conflicts) != 1 {
			t.Fatalf("%s's older edit: %v, want one conflict", who, r[0])
		}
		// The rep's push result names the rep, not the director's device;
		// the key reads the whole tenant.
		winner := map[string]string{"rep": "", "key": director}[who]
		if c := r[0].Conflicts[0]; c.GetLosingDeviceId() != w.p[who].Actor() || c.GetWinningDeviceId() != winner {
			t.Errorf("%s's push result: losing %q winning %q, want itself and %q", who, c.GetLosingDeviceId(), c.GetWinningDeviceId(), winner)
		}
	}
	const hidden = ""
	want := map[string][2][2]string{ // caller → [rep's loss, key's loss] → [losing, winning]
		"rep":      {{rep, hidden}, {hidden, hidden}},
		"director": {{rep, director}, {hidden, director}},
		"admin":    {{rep, director}, {"key:k1", director}},
		"reader":   {{rep, director}, {"key:k1", director}},
		"key":      {{rep, director}, {"key:k1", director}},
	}
	for who, wnt := range want {
		cs, err := w.e.ListConflicts(ctx, w.p[who], id, 0, 10)
		if err != nil || len(cs) != 2 {
			t.Fatalf("%s: %d conflicts, %v", who, len(cs), err)
		}
		for i, c := range cs {
			if got := [2]string{c.GetLosingDeviceId(), c.GetWinningDeviceId()}; got != wnt[i] {
				t.Errorf("%s, conflict %d: losing %q winning %q, want %q", who, i, got[0], got[1], wnt[i])
			}
		}
	}
}
