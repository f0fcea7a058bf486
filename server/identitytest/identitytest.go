// Package identitytest is the conformance suite every identity store
// passes (the pattern of syncengine/storetest): the tenants, organisation,
// users, enrollment, devices and API keys behind server.IdentityStore,
// server.Authenticator and server.TenantStore. storage/sqlite and
// storage/postgres run it.
package identitytest

import (
	"slices"
	"testing"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/syncengine"
)

// Store is an identity store under test.
type Store interface {
	server.IdentityStore
	server.Authenticator
	server.TenantStore
	server.FleetStore
}

// Run runs the suite. newStore returns an empty store for one subtest.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"TenantWithAdminEnrollsItsCodeOnce", testTenantWithAdmin},
		{"OrganizationIsTheTenants", testOrganization},
		{"UsersTakeTheirStoresRegion", testUsers},
		{"ExpiredOrForeignCodesEnrollNothing", testCodes},
		{"RevokedDevicesCannotAuthenticate", testRevokeDevice},
		{"APIKeysAuthenticateUntilRevoked", testAPIKeys},
		{"StatusReportsShowInDevicesAndFleetStats", testFleet},
		{"CaughtUpPullDatesTheLastSync", testLastSync},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

// wantCode fails the test unless err carries code.
func wantCode(t *testing.T, what string, err error, code syncengine.Code) {
	t.Helper()
	if !syncengine.IsCode(err, code) {
		t.Errorf("%s: error %v, want code %v", what, err, code)
	}
}

// must returns v, failing the test given to the result on an error:
// must(s.ListUsers(ctx, id))(t).
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// org is a tenant made by newOrg: its admin, a region with a store.
type org struct {
	tenant   syncengine.Tenant
	admin    syncengine.User
	region   *syncengine.Region
	store    *syncengine.Shop
	adminDev *syncengine.Principal
}

// newOrg creates a tenant named name with a region and a store, and
// enrolls the admin's first device.
func newOrg(t *testing.T, s Store, name string) org {
	t.Helper()
	ctx := t.Context()
	b := must(s.CreateTenantWithAdmin(ctx, name, "admin", time.Hour))(t)
	o := org{tenant: b.Tenant, admin: b.Admin}
	o.region = must(s.CreateRegion(ctx, o.tenant.ID, "north"))(t)
	o.store = must(s.CreateStore(ctx, o.tenant.ID, o.region.ID, "north 1"))(t)
	d, token, err := s.Enroll(ctx, b.EnrollmentCode, "laptop", "web")
	if err != nil {
		t.Fatal(err)
	}
	o.adminDev = must(s.Authenticate(ctx, token))(t)
	if o.adminDev.DeviceID != d.ID {
		t.Fatalf("the admin's token authenticates device %q, want %q", o.adminDev.DeviceID, d.ID)
	}
	return o
}

func testTenantWithAdmin(t *testing.T, s Store) {
	ctx := t.Context()
	b := must(s.CreateTenantWithAdmin(ctx, "Acme", "Ada", time.Hour))(t)
	if b.Admin.Role != fieldsyncv1.Role_ROLE_ADMIN || b.Admin.TenantID != b.Tenant.ID || b.CodeExpires.IsZero() {
		t.Errorf("bootstrap %+v", b)
	}
	d, token, err := s.Enroll(ctx, b.EnrollmentCode, "laptop", "web")
	if err != nil {
		t.Fatal(err)
	}
	if d.TenantID != b.Tenant.ID || d.UserID != b.Admin.ID {
		t.Errorf("device %+v is not the admin's", d)
	}
	p := must(s.Authenticate(ctx, token))(t)
	if p.TenantID != b.Tenant.ID || p.UserID != b.Admin.ID || p.Role != fieldsyncv1.Role_ROLE_ADMIN || p.DeviceID != d.ID {
		t.Errorf("principal %+v", p)
	}
	_, _, err = s.Enroll(ctx, b.EnrollmentCode, "again", "web")
	wantCode(t, "a used code", err, syncengine.CodeUnauthenticated)
	_, err = s.CreateTenantWithAdmin(ctx, "  ACME ", "Bob", time.Hour)
	wantCode(t, "a tenant named the same", err, syncengine.CodeAlreadyExists)
	tenants := must(s.ListTenants(ctx))(t)
	if len(tenants) != 1 || tenants[0].ID != b.Tenant.ID || tenants[0].Name != "Acme" {
		t.Errorf("tenants %+v, want only Acme", tenants)
	}
}

func testOrganization(t *testing.T, s Store) {
	ctx := t.Context()
	a, b := newOrg(t, s, "A"), newOrg(t, s, "B")
	_, err := s.CreateStore(ctx, a.tenant.ID, b.region.ID, "stolen")
	wantCode(t, "a store in another tenant's region", err, syncengine.CodeNotFound)
	tn, regions, stores, err := s.GetOrganization(ctx, a.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	if tn.Name != "A" || len(regions) != 1 || regions[0].ID != a.region.ID || len(stores) != 1 ||
		stores[0].ID != a.store.ID || stores[0].RegionID != a.region.ID {
		t.Errorf("organization of A: %+v %+v %+v", tn, regions, stores)
	}
	_, _, _, err = s.GetOrganization(ctx, "no-such-tenant")
	wantCode(t, "an unknown tenant", err, syncengine.CodeNotFound)
}

func testUsers(t *testing.T, s Store) {
	ctx := t.Context()
	a, b := newOrg(t, s, "A"), newOrg(t, s, "B")
	staff := &syncengine.User{TenantID: a.tenant.ID, DisplayName: "staff", Role: fieldsyncv1.Role_ROLE_STORE_STAFF, StoreID: a.store.ID}
	if err := s.CreateUser(ctx, staff); err != nil {
		t.Fatal(err)
	}
	if staff.ID == "" || staff.RegionID != a.region.ID {
		t.Errorf("staff %+v: want an id and the store's region %s", staff, a.region.ID)
	}
	other := must(s.CreateRegion(ctx, a.tenant.ID, "south"))(t)
	err := s.CreateUser(ctx, &syncengine.User{TenantID: a.tenant.ID, DisplayName: "x", Role: fieldsyncv1.Role_ROLE_STORE_STAFF,
		StoreID: a.store.ID, RegionID: other.ID})
	wantCode(t, "a store outside the user's region", err, syncengine.CodeInvalid)
	err = s.CreateUser(ctx, &syncengine.User{TenantID: a.tenant.ID, DisplayName: "x", Role: fieldsyncv1.Role_ROLE_REP, RegionID: b.region.ID})
	wantCode(t, "another tenant's region", err, syncengine.CodeNotFound)
	err = s.CreateUser(ctx, &syncengine.User{TenantID: a.tenant.ID, DisplayName: "x", Role: fieldsyncv1.Role_ROLE_STORE_STAFF, StoreID: b.store.ID})
	wantCode(t, "another tenant's store", err, syncengine.CodeNotFound)
	got := must(s.GetUser(ctx, a.tenant.ID, staff.ID))(t)
	if got.DisplayName != "staff" || got.Role != staff.Role || got.StoreID != a.store.ID || got.RegionID != a.region.ID {
		t.Errorf("GetUser %+v", got)
	}
	_, err = s.GetUser(ctx, b.tenant.ID, staff.ID)
	wantCode(t, "a user of another tenant", err, syncengine.CodeNotFound)
	var names []string
	for _, u := range must(s.ListUsers(ctx, a.tenant.ID))(t) {
		names = append(names, u.DisplayName)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"admin", "staff"}) {
		t.Errorf("users of A: %v", names)
	}
}

func testCodes(t *testing.T, s Store) {
	ctx := t.Context()
	a, b := newOrg(t, s, "A"), newOrg(t, s, "B")
	_, _, err := s.IssueEnrollmentCode(ctx, a.tenant.ID, b.admin.ID, "", time.Hour)
	wantCode(t, "a code for another tenant's user", err, syncengine.CodeNotFound)
	code, expires, err := s.IssueEnrollmentCode(ctx, a.tenant.ID, a.admin.ID, "", -time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !expires.Before(time.Now()) {
		t.Errorf("a code with a negative ttl expires at %v", expires)
	}
	_, _, err = s.Enroll(ctx, code, "late", "ios")
	wantCode(t, "an expired code", err, syncengine.CodeUnauthenticated)
	_, _, err = s.Enroll(ctx, "fse_unknown", "x", "ios")
	wantCode(t, "an unknown code", err, syncengine.CodeUnauthenticated)
}

func testRevokeDevice(t *testing.T, s Store) {
	ctx := t.Context()
	a, b := newOrg(t, s, "A"), newOrg(t, s, "B")
	code := must2(s.IssueEnrollmentCode(ctx, a.tenant.ID, a.admin.ID, "", time.Hour))(t)
	d, token, err := s.Enroll(ctx, code, "phone", "android")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.RevokeDevice(ctx, b.tenant.ID, d.ID)
	wantCode(t, "revoking another tenant's device", err, syncengine.CodeNotFound)
	first := must(s.RevokeDevice(ctx, a.tenant.ID, d.ID))(t)
	if first.RevokedAt.IsZero() {
		t.Fatal("a revoked device has no revocation time")
	}
	again := must(s.RevokeDevice(ctx, a.tenant.ID, d.ID))(t)
	if !again.RevokedAt.Equal(first.RevokedAt) {
		t.Errorf("revoking twice moved the time from %v to %v", first.RevokedAt, again.RevokedAt)
	}
	_, err = s.Authenticate(ctx, token)
	wantCode(t, "a revoked device's token", err, syncengine.CodeUnauthenticated)
	devs := must(s.ListDevices(ctx, a.tenant.ID, a.admin.ID))(t)
	if len(devs) != 2 {
		t.Fatalf("the admin has %d devices, want 2", len(devs))
	}
	for _, dev := range devs {
		if revoked := !dev.RevokedAt.IsZero(); revoked != (dev.ID == d.ID) {
			t.Errorf("device %s: revoked %v", dev.ID, revoked)
		}
	}
	if devs := must(s.ListDevices(ctx, b.tenant.ID, ""))(t); len(devs) != 1 || devs[0].TenantID != b.tenant.ID {
		t.Errorf("devices of B: %+v", devs)
	}
}

// must2 is must for calls with two results and an error, keeping the first.
func must2[T, U any](v T, _ U, err error) func(t *testing.T) T {
	return must(v, err)
}

func testAPIKeys(t *testing.T, s Store) {
	ctx := t.Context()
	a, b := newOrg(t, s, "A"), newOrg(t, s, "B")
	k, secret, err := s.CreateAPIKey(ctx, a.tenant.ID, "erp", []string{"stock:write", "records:read"})
	if err != nil {
		t.Fatal(err)
	}
	p := must(s.Authenticate(ctx, secret))(t)
	if p.APIKeyID != k.ID || p.TenantID != a.tenant.ID || !slices.Equal(p.Permissions, []string{"stock:write", "records:read"}) {
		t.Errorf("key principal %+v", p)
	}
	keys := must(s.ListAPIKeys(ctx, a.tenant.ID))(t)
	if len(keys) != 1 || keys[0].ID != k.ID || keys[0].Name != "erp" {
		t.Errorf("keys of A: %+v", keys)
	}
	_, err = s.RevokeAPIKey(ctx, b.tenant.ID, k.ID)
	wantCode(t, "revoking another tenant's key", err, syncengine.CodeNotFound)
	if r := must(s.RevokeAPIKey(ctx, a.tenant.ID, k.ID))(t); r.RevokedAt.IsZero() {
		t.Error("a revoked key has no revocation time")
	}
	_, err = s.Authenticate(ctx, secret)
	wantCode(t, "a revoked key", err, syncengine.CodeUnauthenticated)
	_, err = s.Authenticate(ctx, "bearer-nonsense")
	wantCode(t, "a malformed token", err, syncengine.CodeUnauthenticated)
}

func testFleet(t *testing.T, s Store) {
	ctx := t.Context()
	a := newOrg(t, s, "A")
	code := must2(s.IssueEnrollmentCode(ctx, a.tenant.ID, a.admin.ID, "", time.Hour))(t)
	quiet, _, err := s.Enroll(ctx, code, "tablet", "android")
	if err != nil {
		t.Fatal(err)
	}
	lastSync := time.Now().Add(-time.Hour).Truncate(time.Millisecond).UTC()
	report := syncengine.DeviceStatus{OutboxDepth: 3, OldestUnsyncedAge: 10 * time.Minute, PhotosWaiting: 2,
		AppVersion: "1.4.0", SDKVersion: "0.9.1", LastSync: lastSync}
	if err := s.ReportDeviceStatus(ctx, a.tenant.ID, a.adminDev.DeviceID, report); err != nil {
		t.Fatal(err)
	}
	var got *syncengine.DeviceStatus
	for _, d := range must(s.ListDevices(ctx, a.tenant.ID, ""))(t) {
		if d.ID == a.adminDev.DeviceID {
			got = d.Status
		} else if d.Status != nil {
			t.Errorf("device %s never reported but has status %+v", d.ID, d.Status)
		}
	}
	if got == nil {
		t.Fatal("the reporting device shows no status")
	}
	if got.OutboxDepth != 3 || got.PhotosWaiting != 2 || got.AppVersion != "1.4.0" || got.SDKVersion != "0.9.1" ||
		!got.LastSync.Equal(lastSync) || got.OldestUnsyncedAge != 10*time.Minute || got.ReportedAt.IsZero() {
		t.Errorf("status %+v, want the report %+v", got, report)
	}
	st := must(s.FleetStats(ctx))(t)
	if st.Devices[syncengine.StaleUnder1h] != 1 || st.Devices[syncengine.StaleNever] != 1 || st.PhotosWaiting != 2 ||
		!st.OldestUnsynced.Equal(got.OldestUnsynced) {
		t.Errorf("fleet stats %+v", st)
	}
	must(s.RevokeDevice(ctx, a.tenant.ID, quiet.ID))(t)
	if st := must(s.FleetStats(ctx))(t); st.Devices[syncengine.StaleNever] != 0 {
		t.Errorf("a revoked device still counts: %+v", st.Devices)
	}
}

// testLastSync: a device's own last-sync time stands until a report says
// the device just caught up (Synced); then the last sync is the report's
// time by the store's clock, and a later report without Synced (a push,
// carrying the device's older time) keeps it. ListDevices names the
// device's user.
func testLastSync(t *testing.T, s Store) {
	ctx := t.Context()
	a := newOrg(t, s, "A")
	dev := a.adminDev.DeviceID
	status := func() *syncengine.Device {
		t.Helper()
		for _, d := range must(s.ListDevices(ctx, a.tenant.ID, ""))(t) {
			if d.ID == dev {
				return d
			}
		}
		t.Fatal("the device is not listed")
		return nil
	}
	if d := status(); d.UserName != a.admin.DisplayName || d.UserName == "" {
		t.Errorf("device's user name %q, want %q", d.UserName, a.admin.DisplayName)
	}
	if err := s.ReportDeviceStatus(ctx, a.tenant.ID, dev, syncengine.DeviceStatus{OutboxDepth: 1, OldestUnsyncedAge: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if got := status().Status; got == nil || !got.LastSync.IsZero() {
		t.Fatalf("before any sync: status %+v, want no last sync", got)
	}
	if err := s.ReportDeviceStatus(ctx, a.tenant.ID, dev, syncengine.DeviceStatus{OutboxDepth: 1, OldestUnsyncedAge: time.Minute, Synced: true}); err != nil {
		t.Fatal(err)
	}
	got := status().Status
	if got == nil || got.LastSync.IsZero() || !got.LastSync.Equal(got.ReportedAt) {
		t.Fatalf("after a caught-up pull: status %+v, want the last sync at the report's time", got)
	}
	synced := got.LastSync
	deviceSays := synced.Add(-time.Hour)
	if err := s.ReportDeviceStatus(ctx, a.tenant.ID, dev, syncengine.DeviceStatus{LastSync: deviceSays}); err != nil {
		t.Fatal(err)
	}
	if got := status().Status; got == nil || got.OutboxDepth != 0 || !got.LastSync.Equal(synced) {
		t.Fatalf("after a push report: status %+v, want outbox 0 and the last sync kept at %v", got, synced)
	}

	// Another device that only ever reports its own time shows that time.
	code := must2(s.IssueEnrollmentCode(ctx, a.tenant.ID, a.admin.ID, "", time.Hour))(t)
	other, _, err := s.Enroll(ctx, code, "phone", "web")
	if err != nil {
		t.Fatal(err)
	}
	own := time.Now().Add(-3 * time.Hour).Truncate(time.Millisecond).UTC()
	if err := s.ReportDeviceStatus(ctx, a.tenant.ID, other.ID, syncengine.DeviceStatus{LastSync: own}); err != nil {
		t.Fatal(err)
	}
	for _, d := range must(s.ListDevices(ctx, a.tenant.ID, a.admin.ID))(t) {
		if d.ID == other.ID && (d.Status == nil || !d.Status.LastSync.Equal(own)) {
			t.Errorf("a device's own last sync: status %+v, want %v", d.Status, own)
		}
	}
}
