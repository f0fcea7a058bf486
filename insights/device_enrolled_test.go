package insights

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

func TestTellEnrollment(t *testing.T) {
	for _, c := range []struct {
		what string
		d    insightstore.EnrolledDevice
		want bool
	}{
		{"first device, code of unknown issuer (bootstrap, seeding)", insightstore.EnrolledDevice{UserID: "u"}, false},
		{"first device, code the user issued", insightstore.EnrolledDevice{UserID: "u", IssuerID: "u"}, false},
		{"first device, code an admin issued", insightstore.EnrolledDevice{UserID: "u", IssuerID: "adm"}, true},
		{"another device, code of unknown issuer", insightstore.EnrolledDevice{UserID: "u", Prior: true}, true},
		{"another device, code the user issued", insightstore.EnrolledDevice{UserID: "u", IssuerID: "u", Prior: true}, true},
		{"another device, code an admin issued", insightstore.EnrolledDevice{UserID: "u", IssuerID: "adm", Prior: true}, true},
	} {
		if got := TellEnrollment(&c.d); got != c.want {
			t.Errorf("%s: told %v, want %v", c.what, got, c.want)
		}
	}
}

// enrollAs enrolls a device for user at, with a code issued by issuer's
// device ("" for a code issued outside an authenticated call), and
// returns its id.
func (e *env) enrollAs(user, issuer, name string, at time.Time) string {
	e.t.Helper()
	e.db.Now = func() time.Time { return at }
	defer func() { e.db.Now = time.Now }()
	issuedBy := ""
	if issuer != "" {
		issuedBy = e.id(issuer)
	}
	code, _, err := e.db.IssueEnrollmentCode(e.ctx, e.tenant, e.id(user), issuedBy, time.Hour)
	must(e.t, err)
	d, _, err := e.db.Enroll(e.ctx, code, name, "android")
	must(e.t, err)
	return d.ID
}

// enrolledAlerts maps each device-enrolled alert's recipient name to the
// names of the devices they were told of.
func (e *env) enrolledAlerts() map[string][]string {
	out := map[string][]string{}
	for _, a := range e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_DEVICE_ENROLLED) {
		for _, p := range a.Params {
			if p.Name == "device" {
				out[e.names[a.RecipientUserId]] = append(out[e.names[a.RecipientUserId]], p.Value)
			}
		}
	}
	return out
}

func must2[T any](_ T, err error) error { return err }

func (e *env) addAdmin(name string) {
	e.t.Helper()
	u := &syncengine.User{TenantID: e.tenant, DisplayName: name, Role: fieldsyncv1.Role_ROLE_ADMIN}
	must(e.t, e.db.CreateUser(e.ctx, u))
	e.name(u.ID, name)
}

// TestDeviceEnrolledAlertsItsUserOnce: each enrollment but the ordinary
// onboarding tells the device's user, and nobody else, once however often
// the sweep runs, across restarts, and when the alert could not be written
// at first.
func TestDeviceEnrolledAlertsItsUserOnce(t *testing.T) {
	e := newEnv(t)
	e.addAdmin("adm")
	t0 := time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)
	e.enrollAs("alice", "", "old phone", t0.Add(-48*time.Hour)) // before the first sweep's lookback: not told
	e.enrollAs("alice", "", "alice 2", t0.Add(-47*time.Hour))

	steps := []struct {
		what string
		do   func()
		at   time.Time
		want map[string][]string
	}{
		{"the first sweep reads back a day, not to the start", nil, t0, map[string][]string{}},
		{"bob's first device, code of unknown issuer: onboarding", func() { e.enrollAs("bob", "", "bob 1", t0.Add(time.Minute)) },
			t0.Add(2 * time.Minute), map[string][]string{}},
		{"mgr1's first device, code of its own: onboarding", func() { e.enrollAs("mgr1", "mgr1", "mgr1 1", t0.Add(3*time.Minute)) },
			t0.Add(4 * time.Minute), map[string][]string{}},
		{"dave's first device, code an admin issued", func() { e.enrollAs("dave", "adm", "dave 1", t0.Add(5*time.Minute)) },
			t0.Add(6 * time.Minute), map[string][]string{"dave": {"dave 1"}}},
		{"bob's second device, code an admin issued", func() { e.enrollAs("bob", "adm", "bob 2", t0.Add(7*time.Minute)) },
			t0.Add(8 * time.Minute), map[string][]string{"dave": {"dave 1"}, "bob": {"bob 2"}}},
		{"mgr1's second device, code of its own", func() { e.enrollAs("mgr1", "mgr1", "mgr1 2", t0.Add(9*time.Minute)) },
			t0.Add(10 * time.Minute), map[string][]string{"dave": {"dave 1"}, "bob": {"bob 2"}, "mgr1": {"mgr1 2"}}},
		{"sweeps again tell nobody again", nil, t0.Add(time.Hour), map[string][]string{"dave": {"dave 1"}, "bob": {"bob 2"}, "mgr1": {"mgr1 2"}}},
		{"a restart tells nobody again", func() { e.c = e.consumer() }, t0.Add(2 * time.Hour),
			map[string][]string{"dave": {"dave 1"}, "bob": {"bob 2"}, "mgr1": {"mgr1 2"}}},
		{"an enrollment committed late, dated before the latest one seen, is told",
			func() { e.enrollAs("carol", "adm", "carol 1", t0.Add(8*time.Minute)) }, t0.Add(3 * time.Hour),
			map[string][]string{"dave": {"dave 1"}, "bob": {"bob 2"}, "mgr1": {"mgr1 2"}, "carol": {"carol 1"}}},
	}
	for _, s := range steps {
		if s.do != nil {
			s.do()
		}
		e.sweep(s.at)
		if got := e.enrolledAlerts(); !maps.EqualFunc(got, s.want, slices.Equal) || e.sink.updates != 0 {
			t.Fatalf("%s: alerts %v (%d rewritten), want %v", s.what, got, e.sink.updates, s.want)
		}
	}

	// A revoked device is still told (it may have read already), and an
	// alert the sink refused is written by a later sweep, once.
	dev := e.enrollAs("dave", "adm", "dave 2", t0.Add(4*time.Hour))
	must(t, must2(e.db.RevokeDevice(e.ctx, e.tenant, dev)))
	e.sink.failNext = 100
	_ = e.c.Sweep(e.ctx, t0.Add(5*time.Hour)) // the sweep commits; writing the alert fails and waits for a retry
	if got := e.enrolledAlerts()["dave"]; !slices.Equal(got, []string{"dave 1"}) {
		t.Fatalf("dave's alerts %v while the sink fails, want dave 1 alone", got)
	}
	e.sink.failNext = 0
	e.c = e.consumer()
	for i := range 3 {
		e.sweep(t0.Add(time.Duration(6+i) * time.Hour))
		must(t, e.c.Flush(e.ctx))
	}
	if got := e.enrolledAlerts()["dave"]; !slices.Equal(got, []string{"dave 1", "dave 2"}) {
		t.Fatalf("dave's alerts %v, want dave 1 and dave 2, once each", got)
	}
	if e.sink.updates != 0 {
		t.Errorf("%d alerts rewritten, want each written once", e.sink.updates)
	}
}

// TestDeviceEnrolledAlertNamesDeviceTimeAndIssuer: the alert says which
// device, when and by whose code, in its params (the apps' words) and body.
func TestDeviceEnrolledAlertNamesDeviceTimeAndIssuer(t *testing.T) {
	e := newEnv(t)
	e.addAdmin("adm")
	t0 := time.Date(2026, 3, 5, 9, 0, 0, 0, time.UTC)
	e.enrollAs("bob", "adm", "Pixel 8", t0)
	e.sweep(t0.Add(time.Minute))
	alerts := e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_DEVICE_ENROLLED)
	if len(alerts) != 1 || alerts[0].RecipientUserId != e.id("bob") {
		t.Fatalf("alerts %v, want one for bob", alerts)
	}
	a := alerts[0]
	params := map[string]string{}
	for _, p := range a.Params {
		params[p.Name] = p.Value
	}
	want := map[string]string{"device": "Pixel 8", "platform": "android", "time": t0.Format(time.RFC3339), "by": "adm"}
	if !maps.Equal(params, want) {
		t.Errorf("params %v, want %v", params, want)
	}
	for _, s := range []string{`"Pixel 8"`, "android", t0.Format(time.RFC3339), "issued by adm"} {
		if !strings.Contains(a.Body, s) {
			t.Errorf("body %q, want %q in it", a.Body, s)
		}
	}
	if !a.RaisedTime.AsTime().Equal(t0.Add(time.Minute)) {
		t.Errorf("raised %v, want the sweep's time", a.RaisedTime.AsTime())
	}
}
