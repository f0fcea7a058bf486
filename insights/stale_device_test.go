package insights

import (
	"strings"
	"testing"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// enrollDevice enrolls a device for a user of the env and returns its id.
func (e *env) enrollDevice(user string) string {
	e.t.Helper()
	code, _, err := e.db.IssueEnrollmentCode(e.ctx, e.tenant, e.id(user), "", time.Hour)
	must(e.t, err)
	d, _, err := e.db.Enroll(e.ctx, code, user+"'s phone", "test")
	must(e.t, err)
	return d.ID
}

// report stores a device's status report received at, holding depth
// unsynced writes, the oldest made age before.
func (e *env) report(device string, at time.Time, depth int, age time.Duration) {
	e.t.Helper()
	e.db.Now = func() time.Time { return at }
	defer func() { e.db.Now = time.Now }()
	must(e.t, e.db.ReportDeviceStatus(e.ctx, e.tenant, device, syncengine.DeviceStatus{OutboxDepth: depth, OldestUnsyncedAge: age, AppVersion: "2.4.1"}))
}

// staleAlerts maps each stale-device alert's recipient name to the number
// of such alerts they got.
func (e *env) staleAlerts() map[string]int {
	out := map[string]int{}
	for _, a := range e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_STALE_DEVICE) {
		out[e.names[a.RecipientUserId]]++
	}
	return out
}

func sameCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestStaleDeviceAlertsItsManagerOncePerEpisode: a device whose reported
// oldest unsynced write is older than stale_device_age alerts the store
// manager of its user's store, or the region's director for a rep (or for
// the store's only manager); once per episode however often the sweep
// runs, and again after the device synced and fell behind anew.
func TestStaleDeviceAlertsItsManagerOncePerEpisode(t *testing.T) {
	e := newEnv(t)
	t0 := time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)
	alice, bob, carol, mgr1 := e.enrollDevice("alice"), e.enrollDevice("bob"), e.enrollDevice("carol"), e.enrollDevice("mgr1")
	e.report(alice, t0, 5, 30*time.Hour)
	e.report(bob, t0, 3, 2*time.Hour)
	e.report(carol, t0, 0, 0)
	e.report(mgr1, t0, 1, 48*time.Hour)

	steps := []struct {
		what string
		do   func()
		at   time.Time
		want map[string]int
	}{
		{"alice's and mgr1's devices are stale", nil, t0.Add(time.Hour), map[string]int{"mgr1": 1, "dirN": 1}},
		{"a sweep again alerts nobody again", nil, t0.Add(2 * time.Hour), map[string]int{"mgr1": 1, "dirN": 1}},
		{"bob's oldest write turns a day old", nil, t0.Add(23 * time.Hour), map[string]int{"mgr1": 1, "dirN": 2}},
		{"alice syncs: her episode closes", func() { e.report(alice, t0.Add(24*time.Hour), 0, 0) }, t0.Add(25 * time.Hour), map[string]int{"mgr1": 1, "dirN": 2}},
		{"alice falls behind again: a new episode", func() { e.report(alice, t0.Add(50*time.Hour), 2, 25*time.Hour) }, t0.Add(51 * time.Hour), map[string]int{"mgr1": 2, "dirN": 2}},
	}
	for _, s := range steps {
		if s.do != nil {
			s.do()
		}
		e.sweep(s.at)
		if got := e.staleAlerts(); !sameCounts(got, s.want) {
			t.Fatalf("%s: alerts by recipient %v, want %v", s.what, got, s.want)
		}
	}
	a := e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_STALE_DEVICE)[0]
	if !strings.Contains(a.Body, "5 unsynced writes since 2026-03-04T03:00:00Z") || !strings.Contains(a.Body, "app 2.4.1") {
		t.Errorf("alert body: %s", a.Body)
	}
}

// TestStaleDeviceAgeIsConfigured: a tenant's rules.stale_device_age
// replaces the default day, and a revoked device alerts nobody.
func TestStaleDeviceAgeIsConfigured(t *testing.T) {
	e := newEnv(t)
	store := ConfigStore{DB: e.db}
	if _, err := store.SetInsightsConfigJSON(e.ctx, e.tenant, []byte(`{"rules": {"stale_device_age": "2h"}}`)); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)
	alice, carol := e.enrollDevice("alice"), e.enrollDevice("carol")
	e.report(alice, t0, 1, 3*time.Hour)
	e.report(carol, t0, 1, 3*time.Hour)
	if _, err := e.db.RevokeDevice(e.ctx, e.tenant, carol); err != nil {
		t.Fatal(err)
	}
	e.sweep(t0)
	if got, want := e.staleAlerts(), map[string]int{"mgr1": 1}; !sameCounts(got, want) {
		t.Fatalf("alerts by recipient %v, want %v", got, want)
	}
	if _, err := store.SetInsightsConfigJSON(e.ctx, e.tenant, []byte(`{"rules": {"stale_device_age": "0s"}}`)); err == nil ||
		!strings.Contains(err.Error(), "stale_device_age") {
		t.Fatalf("a zero stale_device_age: %v, want refused naming it", err)
	}
}
