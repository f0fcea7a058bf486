package storetest

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// testPushResults: an actor's last seq and each seq's stored result
// survive the transaction, are read back within it, and are per actor.
func testPushResults(t *testing.T, b Backend) {
	o := b.NewOrg(t)
	rep, staff := o.Rep.DeviceID, o.Staff.DeviceID
	result := func(actor string, seq uint64) []byte { return []byte(actor + "/" + string(rune('0'+seq))) }
	update(t, b.Store, func(tx syncengine.Tx) error {
		for _, s := range []struct {
			actor string
			seq   uint64
		}{{rep, 1}, {rep, 2}, {staff, 1}, {rep, 3}} {
			if err := tx.SavePushResult(s.actor, s.seq, result(s.actor, s.seq)); err != nil {
				return err
			}
		}
		checkResult(t, tx, rep, 2, result(rep, 2))
		if err := tx.SetLastSeq(rep, 3); err != nil {
			return err
		}
		return tx.SetLastSeq(staff, 1)
	})
	update(t, b.Store, func(tx syncengine.Tx) error {
		for _, s := range []struct {
			actor string
			seq   uint64
		}{{rep, 4}, {rep, 5}} {
			if err := tx.SavePushResult(s.actor, s.seq, result(s.actor, s.seq)); err != nil {
				return err
			}
		}
		return tx.SetLastSeq(rep, 5)
	})
	update(t, b.Store, func(tx syncengine.Tx) error {
		for seq := uint64(1); seq <= 5; seq++ {
			checkResult(t, tx, rep, seq, result(rep, seq))
		}
		checkResult(t, tx, staff, 1, result(staff, 1))
		for _, absent := range []struct {
			actor string
			seq   uint64
		}{{rep, 6}, {staff, 2}, {"never-pushed", 1}} {
			if b, ok, err := tx.PushResult(absent.actor, absent.seq); ok || err != nil {
				t.Errorf("PushResult(%s, %d) = %q, %v, %v; want not found", absent.actor, absent.seq, b, ok, err)
			}
		}
		for actor, want := range map[string]uint64{rep: 5, staff: 1, "never-pushed": 0} {
			if got, err := tx.LastSeq(actor); got != want || err != nil {
				t.Errorf("LastSeq(%s) = %d, %v; want %d", actor, got, err, want)
			}
		}
		return nil
	})
}

func checkResult(t *testing.T, tx syncengine.Tx, actor string, seq uint64, want []byte) {
	t.Helper()
	got, ok, err := tx.PushResult(actor, seq)
	if err != nil || !ok || !bytes.Equal(got, want) {
		t.Errorf("PushResult(%s, %d) = %q, %v, %v; want %q", actor, seq, got, ok, err, want)
	}
}

// conflict returns a conflict on a Visit's notes that actor's write lost.
func conflict(o Org, recordID, actor, reason string) *syncengine.Conflict {
	return &syncengine.Conflict{
		TenantID: o.TenantID, RecordType: visitType, RecordID: recordID, Field: "notes",
		Losing: mustMarshal(&fieldsyncv1.Visit{Notes: "lost"}), Winning: mustMarshal(&fieldsyncv1.Visit{Notes: "won"}),
		LosingAt: syncengine.Version{HLC: hlc(1), Actor: actor}, WinningAt: syncengine.Version{HLC: hlc(2), Actor: "other"},
		Reason: reason, Scope: syncengine.Scope{Owner: o.Rep.UserID, Region: o.RegionID}, CreatedAt: t0,
	}
}

// testConflicts: AddConflict numbers conflicts per tenant in order;
// ListConflicts returns them in id order, each field kept, filtered by
// record, losing actor, store, region, and paged by AfterID and Limit.
func testConflicts(t *testing.T, b Backend) {
	o, other := b.NewOrg(t), b.NewOrg(t)
	c1 := conflict(o, "r1", o.Rep.DeviceID, "older")
	c2 := conflict(o, "r2", o.Staff.DeviceID, "frozen")
	c2.Scope = syncengine.Scope{Store: o.StoreID, Region: o.RegionID}
	c3 := conflict(o, "r1", o.Staff.DeviceID, "older")
	c4 := conflict(other, "r1", other.Rep.DeviceID, "older")
	update(t, b.Store, func(tx syncengine.Tx) error {
		for _, c := range []*syncengine.Conflict{c1, c2, c4} {
			if err := tx.AddConflict(c); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, b.Store, func(tx syncengine.Tx) error { return tx.AddConflict(c3) })
	if c1.ID == 0 || c2.ID <= c1.ID || c3.ID <= c2.ID {
		t.Fatalf("conflict ids %d, %d, %d: want increasing, from 1", c1.ID, c2.ID, c3.ID)
	}
	list := func(q syncengine.ConflictQuery) []*syncengine.Conflict {
		t.Helper()
		q.TenantID = o.TenantID
		if q.Limit == 0 {
			q.Limit = 100
		}
		cs, err := b.Store.ListConflicts(t.Context(), q)
		if err != nil {
			t.Fatalf("ListConflicts(%+v): %v", q, err)
		}
		return cs
	}
	all := list(syncengine.ConflictQuery{})
	if len(all) != 3 {
		t.Fatalf("ListConflicts = %d conflicts, want the tenant's 3", len(all))
	}
	for i, want := range []*syncengine.Conflict{c1, c2, c3} {
		checkConflict(t, all[i], want)
	}
	for name, tc := range map[string]struct {
		q    syncengine.ConflictQuery
		want []*syncengine.Conflict
	}{
		"record":       {syncengine.ConflictQuery{RecordID: "r1"}, []*syncengine.Conflict{c1, c3}},
		"losing actor": {syncengine.ConflictQuery{LosingActor: o.Staff.DeviceID}, []*syncengine.Conflict{c2, c3}},
		"store":        {syncengine.ConflictQuery{StoreID: o.StoreID}, []*syncengine.Conflict{c2}},
		"region":       {syncengine.ConflictQuery{RegionID: o.RegionID}, []*syncengine.Conflict{c1, c2, c3}},
		"after":        {syncengine.ConflictQuery{AfterID: c1.ID}, []*syncengine.Conflict{c2, c3}},
		"limit":        {syncengine.ConflictQuery{Limit: 2}, []*syncengine.Conflict{c1, c2}},
		"after, limit": {syncengine.ConflictQuery{AfterID: c1.ID, Limit: 1}, []*syncengine.Conflict{c2}},
		"none":         {syncengine.ConflictQuery{RecordID: "r1", StoreID: o.StoreID}, nil},
	} {
		if got := conflictIDs(list(tc.q)); !slices.Equal(got, conflictIDs(tc.want)) {
			t.Errorf("%s: ListConflicts ids = %v, want %v", name, got, conflictIDs(tc.want))
		}
	}
	cs, err := b.Store.ListConflicts(t.Context(), syncengine.ConflictQuery{TenantID: other.TenantID, Limit: 100})
	if err != nil || len(cs) != 1 || cs[0].ID != c4.ID {
		t.Errorf("other tenant's conflicts = %v, %v; want its one", cs, err)
	}
}

func conflictIDs(cs []*syncengine.Conflict) []uint64 {
	var out []uint64
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func checkConflict(t *testing.T, got, want *syncengine.Conflict) {
	t.Helper()
	if got.ID != want.ID || got.TenantID != want.TenantID || got.RecordType != want.RecordType || got.RecordID != want.RecordID ||
		got.Field != want.Field || !bytes.Equal(got.Losing, want.Losing) || !bytes.Equal(got.Winning, want.Winning) ||
		got.LosingAt != want.LosingAt || got.WinningAt != want.WinningAt || got.Reason != want.Reason ||
		got.Scope != want.Scope || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("conflict = %+v, want %+v", got, want)
	}
}

// testReceipts: AddReceipt returns the device's previous receipt and never
// moves it back; Receipts gives each device of the tenant the earliest
// receipt at or beyond a version, with the device's user as Reader.
func testReceipts(t *testing.T, b Backend) {
	o, other := b.NewOrg(t), b.NewOrg(t)
	rep, staff := o.Rep, o.Staff
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Minute) }
	for _, r := range []struct {
		p        *syncengine.Principal
		version  uint64
		at       time.Time
		wantPrev uint64
	}{
		{rep, 2, at(1), 0}, {rep, 5, at(2), 2}, {rep, 3, at(3), 5}, {staff, 4, at(4), 0}, {other.Rep, 9, at(5), 0},
	} {
		update(t, b.Store, func(tx syncengine.Tx) error {
			prev, err := tx.AddReceipt(r.p.TenantID, r.p.DeviceID, r.p.UserID, r.version, r.at)
			if err == nil && prev != r.wantPrev {
				t.Errorf("AddReceipt(%s, %d) = %d, want previous %d", r.p.DeviceID, r.version, prev, r.wantPrev)
			}
			return err
		})
	}
	for _, tc := range []struct {
		min  uint64
		want []syncengine.Delivery
	}{
		{1, []syncengine.Delivery{delivery(rep, 2, at(1)), delivery(staff, 4, at(4))}},
		{3, []syncengine.Delivery{delivery(rep, 5, at(2)), delivery(staff, 4, at(4))}},
		{5, []syncengine.Delivery{delivery(rep, 5, at(2))}},
		{6, nil},
	} {
		got, err := b.Store.Receipts(t.Context(), o.TenantID, tc.min)
		if err != nil {
			t.Fatalf("Receipts(%d): %v", tc.min, err)
		}
		slices.SortFunc(got, func(a, b syncengine.Delivery) int { return strings.Compare(a.DeviceID, b.DeviceID) })
		slices.SortFunc(tc.want, func(a, b syncengine.Delivery) int { return strings.Compare(a.DeviceID, b.DeviceID) })
		if len(got) != len(tc.want) {
			t.Fatalf("Receipts(%d) = %+v, want %+v", tc.min, got, tc.want)
		}
		for i := range got {
			g, w := got[i], tc.want[i]
			if g.DeviceID != w.DeviceID || g.UserID != w.UserID || g.Version != w.Version || !g.Delivered.Equal(w.Delivered) ||
				!sameReader(g.Reader, w.Reader) {
				t.Errorf("Receipts(%d)[%d] = %+v (reader %+v), want %+v (reader %+v)", tc.min, i, g, g.Reader, w, w.Reader)
			}
		}
	}
}

// sameReader compares the device principals of two deliveries.
func sameReader(a, b *syncengine.Principal) bool {
	return a != nil && a.TenantID == b.TenantID && a.UserID == b.UserID && a.DeviceID == b.DeviceID &&
		a.Role == b.Role && a.RegionID == b.RegionID && a.StoreID == b.StoreID
}

func delivery(p *syncengine.Principal, version uint64, at time.Time) syncengine.Delivery {
	return syncengine.Delivery{DeviceID: p.DeviceID, UserID: p.UserID, Reader: p, Version: version, Delivered: at}
}

// testCreatedBetween: record headers of the types created in (from, to],
// in created order, from a transaction and outside one alike.
func testCreatedBetween(t *testing.T, b Backend) {
	o := b.NewOrg(t)
	v1, d2, v3 := newRecord(o, o.Rep, hlc(1)), newRecord(o, o.Staff, hlc(2), sha('a')), newRecord(o, o.Rep, hlc(3))
	put(t, b.Store, v1, d2)
	put(t, b.Store, edit(v1, o.Rep, hlc(4), "later"), v3)
	for _, tc := range []struct {
		types    []string
		from, to uint64
		want     []*syncengine.StoredRecord
	}{
		{[]string{visitType}, 0, v3.Version, []*syncengine.StoredRecord{v1, v3}},
		{[]string{visitType, diagnosisType}, 0, v3.Version, []*syncengine.StoredRecord{v1, d2, v3}},
		{[]string{visitType}, v1.Version, v3.Version - 1, nil},
		{[]string{visitType}, v1.Version, v3.Version, []*syncengine.StoredRecord{v3}},
		{[]string{diagnosisType}, d2.Version, v3.Version, nil},
		{nil, 0, v3.Version, nil},
	} {
		outside, err := b.Store.CreatedBetween(t.Context(), everything(o.TenantID), tc.types, tc.from, tc.to)
		if err != nil {
			t.Fatalf("CreatedBetween: %v", err)
		}
		checkCreated(t, "CreatedBetween", outside, tc.want)
		update(t, b.Store, func(tx syncengine.Tx) error {
			inside, err := tx.CreatedBetween(everything(o.TenantID), tc.types, tc.from, tc.to)
			checkCreated(t, "Tx.CreatedBetween", inside, tc.want)
			return err
		})
	}
}

func checkCreated(t *testing.T, name string, got []syncengine.ChangeRow, want []*syncengine.StoredRecord) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s = %+v, want %d rows", name, got, len(want))
	}
	for i, r := range want {
		g := got[i]
		if g.RecordID != r.ID || g.Version != r.CreatedVersion || g.Type != r.Type || g.Scope != r.Scope || g.Deleted || g.Exit {
			t.Errorf("%s[%d] = %+v, want %s created at %d", name, i, g, r.ID, r.CreatedVersion)
		}
	}
}

// testPlaces: UserPlace, StoreRegion and RegionExists answer for the
// tenant's own users, stores and regions only.
func testPlaces(t *testing.T, b Backend) {
	o, other := b.NewOrg(t), b.NewOrg(t)
	update(t, b.Store, func(tx syncengine.Tx) error {
		for _, p := range []*syncengine.Principal{o.Rep, o.Staff} {
			sc, ok, err := tx.UserPlace(o.TenantID, p.UserID)
			want := syncengine.Scope{Owner: p.UserID, Store: p.StoreID, Region: p.RegionID}
			if err != nil || !ok || sc != want {
				t.Errorf("UserPlace(%s) = %+v, %v, %v; want %+v", p.UserID, sc, ok, err, want)
			}
		}
		if sc, ok, err := tx.UserPlace(o.TenantID, other.Rep.UserID); ok || err != nil {
			t.Errorf("UserPlace of another tenant's user = %+v, %v, %v; want not found", sc, ok, err)
		}
		if region, ok, err := tx.StoreRegion(o.TenantID, o.StoreID); region != o.RegionID || !ok || err != nil {
			t.Errorf("StoreRegion = %q, %v, %v; want %q", region, ok, err, o.RegionID)
		}
		if _, ok, err := tx.StoreRegion(o.TenantID, other.StoreID); ok || err != nil {
			t.Errorf("StoreRegion of another tenant's store: found %v, %v", ok, err)
		}
		if ok, err := tx.RegionExists(o.TenantID, o.RegionID); !ok || err != nil {
			t.Errorf("RegionExists = %v, %v; want true", ok, err)
		}
		if ok, err := tx.RegionExists(o.TenantID, other.RegionID); ok || err != nil {
			t.Errorf("RegionExists of another tenant's region = %v, %v; want false", ok, err)
		}
		return nil
	})
}

// testPhotoStates: a record's photo ref is available once a user who
// attached it (the user of the device whose write carried it) holds the
// photo; a ref the server attached, once anyone in the tenant does. Others
// holding it, in the tenant or not, change nothing; a ref the record
// dropped is not reported.
func testPhotoStates(t *testing.T, b Backend) {
	o, other := b.NewOrg(t), b.NewOrg(t)
	h1, h2, h3 := sha('1'), sha('2'), sha('3')
	d := newRecord(o, o.Staff, hlc(1), h1, h2)
	server := newRecord(o, o.Staff, hlc(1), h3)
	server.Actor = syncengine.ServerActor
	for k := range server.State.Fields {
		server.State.Fields[k] = syncengine.Version{HLC: hlc(1), Actor: syncengine.ServerActor}
	}
	server.State.Elements["photos"][0] = server.State.Fields["photos"]
	put(t, b.Store, d, server)
	states := func() map[syncengine.PhotoKey]bool {
		t.Helper()
		got, err := b.Store.PhotoStates(t.Context(), o.TenantID, []string{d.ID, server.ID})
		if err != nil {
			t.Fatalf("PhotoStates: %v", err)
		}
		return got
	}
	if got := states(); len(got) != 0 {
		t.Fatalf("PhotoStates before any upload = %v, want all pending", got)
	}
	b.HoldPhoto(t, o.TenantID, h1, o.Staff.UserID)
	b.HoldPhoto(t, o.TenantID, h2, o.Rep.UserID)
	b.HoldPhoto(t, other.TenantID, h2, other.Staff.UserID)
	b.HoldPhoto(t, o.TenantID, h3, o.Rep.UserID)
	// A ref the server wrote without a source record (photo_sources) has
	// no attacher: a photo held by someone in the tenant does not show
	// through it.
	want := map[syncengine.PhotoKey]bool{{RecordID: d.ID, SHA256: h1}: true}
	if got := states(); !maps.Equal(got, want) {
		t.Fatalf("PhotoStates = %v, want %v", got, want)
	}
	dropped := *d
	dropped.State = d.State.Clone()
	dropped.State.Value.(*fieldsyncv1.Diagnosis).Photos = dropped.State.Value.(*fieldsyncv1.Diagnosis).Photos[1:]
	dropped.State.Elements["photos"] = dropped.State.Elements["photos"][1:]
	dropped.HLC, dropped.State.Fields["photos"] = hlc(2), syncengine.Version{HLC: hlc(2), Actor: o.Staff.DeviceID}
	put(t, b.Store, &dropped)
	b.HoldPhoto(t, o.TenantID, h2, o.Staff.UserID)
	want = map[syncengine.PhotoKey]bool{{RecordID: d.ID, SHA256: h2}: true}
	if got := states(); !maps.Equal(got, want) {
		t.Fatalf("PhotoStates after the record dropped %s = %v, want %v", h1[:8], got, want)
	}
}

// sha returns a made-up lower-case hex SHA-256: c repeated.
func sha(c byte) string { return strings.Repeat(string(c), 64) }
