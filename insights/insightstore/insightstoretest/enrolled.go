package insightstoretest

import (
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	"github.com/fieldsync/fieldsync/syncengine"
)

// testEnrolledDevices: EnrolledDevices lists a tenant's enrollments only,
// by time then id, each with its user, the issuer of its code (the user of
// the admin's device that asked for it, "" when unknown) and whether the
// user had a device before.
func testEnrolledDevices(t *testing.T, s Backend) {
	a, b := newOrg(t, s, "A"), newOrg(t, s, "B")
	enroll := func(issuedBy string, o org, u *syncengine.User, name string) string {
		t.Helper()
		code, _, err := s.IssueEnrollmentCode(t.Context(), o.tenant, u.ID, issuedBy, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		d, _, err := s.Enroll(t.Context(), code, name, "android")
		if err != nil {
			t.Fatal(err)
		}
		return d.ID
	}
	since := time.Now().Add(-time.Minute).UnixMilli()
	rep1 := enroll(a.director.ID, a, a.rep, "rep 1")
	rep2 := enroll("", a, a.rep, "rep 2")
	staff1 := enroll(a.staff.ID, a, a.staff, "staff 1")
	enroll(b.director.ID, b, b.rep, "B's rep 1")
	enroll("", b, b.rep, "B's rep 2")

	write(t, s, func(tx insightstore.Tx) error {
		got, err := tx.EnrolledDevices(a.tenant, since)
		if err != nil || len(got) != 3 {
			t.Fatalf("EnrolledDevices %+v %v, want A's 3 devices", got, err)
		}
		want := map[string]insightstore.EnrolledDevice{
			rep1:   {DeviceID: rep1, DeviceName: "rep 1", Platform: "android", UserID: a.rep.ID, UserName: "Rita", IssuerID: a.director.ID, IssuerName: "Dora"},
			rep2:   {DeviceID: rep2, DeviceName: "rep 2", Platform: "android", UserID: a.rep.ID, UserName: "Rita"},
			staff1: {DeviceID: staff1, DeviceName: "staff 1", Platform: "android", UserID: a.staff.ID, UserName: "Sam", IssuerID: a.staff.ID, IssuerName: "Sam"},
		}
		seenRep := false
		for i, d := range got {
			if i > 0 && (d.EnrolledMS < got[i-1].EnrolledMS || d.EnrolledMS == got[i-1].EnrolledMS && d.DeviceID < got[i-1].DeviceID) {
				t.Errorf("EnrolledDevices out of order: %+v before %+v", got[i-1], d)
			}
			if d.EnrolledMS < since || d.EnrolledMS > time.Now().UnixMilli() {
				t.Errorf("%s enrolled at %d, want now", d.DeviceName, d.EnrolledMS)
			}
			// The rep's devices may share a millisecond: the first listed is the first.
			w := want[d.DeviceID]
			w.EnrolledMS, w.Prior = d.EnrolledMS, d.UserID == a.rep.ID && seenRep
			seenRep = seenRep || d.UserID == a.rep.ID
			if *d != w {
				t.Errorf("EnrolledDevices row %+v, want %+v", *d, w)
			}
		}
		if later, err := tx.EnrolledDevices(a.tenant, time.Now().Add(time.Minute).UnixMilli()); len(later) != 0 || err != nil {
			t.Errorf("EnrolledDevices since after the enrollments: %+v %v", later, err)
		}
		return nil
	})
}
