package insightstest_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"

	fieldsync "github.com/fieldsync/fieldsync/clients/go"
	"github.com/fieldsync/fieldsync/internal/daemon/insightstest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// TestAdminEnrollingARepsDeviceTellsTheRep is the attack SECURITY.md
// describes, through a real fieldsyncd: the admin issues a code for a rep
// who has a phone and enrolls a device with it. After the sweep the rep's
// own phone pulls one alert naming the device and the admin, even after a
// second sweep; the store's people, the region's director and tech
// advisor, and marketing pull none (an Alert is read by its recipient and
// the tenant's admins only).
func TestAdminEnrollingARepsDeviceTellsTheRep(t *testing.T) {
	h := insightstest.Start(t, time.Now().Add(-time.Hour)) // the demo's devices: first ones, no alert
	h.Sweep()
	admin, rep := h.User("admin"), h.User("rep")
	ctx := context.Background()
	adm := fieldsyncv1connect.NewAdminServiceClient(http.DefaultClient, h.Daemon.URL(),
		connect.WithInterceptors(fieldsync.BearerAuth(admin.DeviceToken)))
	code, err := adm.IssueEnrollmentCode(ctx, connect.NewRequest(&fieldsyncv1.IssueEnrollmentCodeRequest{UserId: rep.UserID}))
	if err != nil {
		t.Fatal(err)
	}
	id := fieldsyncv1connect.NewIdentityServiceClient(http.DefaultClient, h.Daemon.URL())
	dev, err := id.Enroll(ctx, connect.NewRequest(&fieldsyncv1.EnrollRequest{EnrollmentCode: code.Msg.EnrollmentCode,
		DeviceName: "Not Li Wei's phone", Platform: "android"}))
	if err != nil {
		t.Fatal(err)
	}
	h.Advance(10 * time.Minute)
	h.Advance(10 * time.Minute)

	enrolled := func(role string) []*fieldsyncv1.Alert {
		var out []*fieldsyncv1.Alert
		for _, a := range h.Alerts(role) {
			if a.Kind == fieldsyncv1.AlertKind_ALERT_KIND_DEVICE_ENROLLED {
				out = append(out, a)
			}
		}
		return out
	}
	got := enrolled("rep")
	if len(got) != 1 {
		t.Fatalf("the rep pulled %d device-enrolled alerts, want 1: %v", len(got), got)
	}
	params := map[string]string{}
	for _, p := range got[0].Params {
		params[p.Name] = p.Value
	}
	if got[0].RecipientUserId != rep.UserID || params["device"] != "Not Li Wei's phone" || params["platform"] != "android" ||
		params["by"] != admin.Name {
		t.Errorf("the rep's alert %v, want to the rep, naming the device and %q", got[0], admin.Name)
	}
	if dev.Msg.UserId != rep.UserID {
		t.Errorf("enrolled for %s, want the rep", dev.Msg.UserId)
	}
	for _, role := range []string{"store_staff", "store_manager", "regional_director", "tech_advisor", "marketing"} {
		if a := enrolled(role); len(a) != 0 {
			t.Errorf("%s pulled %v, want nothing of the rep's alert", role, a)
		}
	}
}
