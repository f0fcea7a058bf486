package storetest

import (
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/syncengine"
)

// testServedPages: the served-pages log answers per tenant and device,
// keeps each device's newest entries, moves the time of a page served
// again, and drops entries served before the expiry on every write.
func testServedPages(t *testing.T, b Backend) {
	o, other := b.NewOrg(t), b.NewOrg(t)
	rep, staff := o.Rep, o.Staff
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Minute) }
	note := func(p *syncengine.Principal, version uint64, when time.Time, keep int, expire time.Time) {
		t.Helper()
		pg := syncengine.ServedPage{TenantID: p.TenantID, DeviceID: p.DeviceID, Version: version, At: when}
		if err := b.Store.NoteServed(t.Context(), pg, keep, expire); err != nil {
			t.Fatalf("NoteServed(%s, %d): %v", p.DeviceID, version, err)
		}
	}
	check := func(step string, p *syncengine.Principal, tenantID string, version uint64, want time.Time) {
		t.Helper()
		got, ok, err := b.Store.ServedAt(t.Context(), tenantID, p.DeviceID, version)
		switch {
		case err != nil:
			t.Fatalf("%s: ServedAt(%s, %d): %v", step, p.DeviceID, version, err)
		case want.IsZero() && ok:
			t.Errorf("%s: ServedAt(%s, %d) = %v, want none", step, p.DeviceID, version, got)
		case !want.IsZero() && (!ok || !got.Equal(want)):
			t.Errorf("%s: ServedAt(%s, %d) = %v, %v; want %v", step, p.DeviceID, version, got, ok, want)
		}
	}
	var never time.Time
	for v := uint64(1); v <= 4; v++ {
		note(rep, v*10, at(int(v)), 3, never)
	}
	note(staff, 10, at(5), 3, never)
	note(other.Rep, 10, at(6), 3, never)
	check("kept newest 3", rep, o.TenantID, 10, never)
	for v := uint64(2); v <= 4; v++ {
		check("kept newest 3", rep, o.TenantID, v*10, at(int(v)))
	}
	check("another device", staff, o.TenantID, 10, at(5))
	check("another device", staff, o.TenantID, 20, never)
	check("another tenant", other.Rep, o.TenantID, 10, never)
	check("another tenant", other.Rep, other.TenantID, 10, at(6))

	note(rep, 20, at(7), 3, never)
	check("served again", rep, o.TenantID, 20, at(7))
	check("served again", rep, o.TenantID, 30, at(3))

	note(staff, 20, at(8), 3, at(6))
	for _, v := range []uint64{30, 40} {
		check("expired", rep, o.TenantID, v, never)
	}
	check("expired", staff, o.TenantID, 10, never)
	check("not expired", rep, o.TenantID, 20, at(7))
	check("not expired", other.Rep, other.TenantID, 10, at(6))
	check("not expired", staff, o.TenantID, 20, at(8))
}
