package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/ids"
	"github.com/fieldsync/fieldsync/photos/photostest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
	"github.com/fieldsync/fieldsync/records"
)

// The security review's three holes around server-raised alerts, end to
// end. A check that something did NOT happen waits for a later alert of the
// same consumer instead (alerts are raised in the order of their events).

// pushAs pushes one mutation of v's fields as token and returns its result.
func pushAs(t *testing.T, d *daemon.Daemon, token, id string, v proto.Message, paths ...string) *fieldsyncv1.MutationResult {
	t.Helper()
	sync := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, d.URL(), bearer(token))
	res, err := sync.Push(context.Background(), connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{{
		Seq: nextSeq(token), RecordType: string(v.ProtoReflect().Descriptor().FullName()), RecordId: id, Value: anyOf(t, v),
		FieldMask: &fieldmaskpb.FieldMask{Paths: paths}, Hlc: uint64(time.Now().UnixMilli()) << 16,
	}}}))
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	return res.Msg.Results[0]
}

// mustPush pushes and fails unless the mutation was applied.
func mustPush(t *testing.T, d *daemon.Daemon, token, id string, v proto.Message, paths ...string) {
	t.Helper()
	if r := pushAs(t, d, token, id, v, paths...); r.Outcome != applied {
		t.Fatalf("push %s: %v", id, r)
	}
}

// alertsOf pulls every alert token's user may read.
func alertsOf(t *testing.T, d *daemon.Daemon, token string) []*fieldsyncv1.Alert {
	t.Helper()
	sync := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, d.URL(), bearer(token))
	var out []*fieldsyncv1.Alert
	cursor := ""
	for {
		res, err := sync.Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: cursor}))
		if err != nil {
			t.Fatalf("pull: %v", err)
		}
		for _, r := range res.Msg.Records {
			a := &fieldsyncv1.Alert{}
			if r.RecordType == records.AlertType && r.GetValue().UnmarshalTo(a) == nil {
				out = append(out, a)
			}
		}
		if cursor = res.Msg.NextCursor; !res.Msg.HasMore {
			return out
		}
	}
}

// hasConflictAlert reports whether one of alerts is A1 about customer.
func hasConflictAlert(alerts []*fieldsyncv1.Alert, customer string) bool {
	for _, a := range alerts {
		if a.Kind == fieldsyncv1.AlertKind_ALERT_KIND_CONFLICTING_DIAGNOSES && strings.HasSuffix(a.Title, " "+customer) {
			return true
		}
	}
	return false
}

var diagnosisPaths = []string{"status", "customer_id", "conclusion", "photos"}

func submittedDiagnosis(customer, conclusion string, photos ...[]byte) *fieldsyncv1.Diagnosis {
	d := &fieldsyncv1.Diagnosis{Status: fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED, CustomerId: customer, Conclusion: conclusion}
	for _, p := range photos {
		d.Photos = append(d.Photos, photoRef(p))
	}
	return d
}

// TestA1AlertsDoNotQuoteWhatTheirRecipientCannotRead: a store manager
// diagnoses a hospital it cannot read, disagreeing with the tech advisor.
// The push is accepted; the advisor, who reads both, is alerted; the
// manager gets no alert quoting the advisor's conclusion, and no link to
// the advisor's photo.
func TestA1AlertsDoNotQuoteWhatTheirRecipientCannotRead(t *testing.T) {
	t.Parallel()
	d, creds := startDaemon(t, "", nil)
	ta, _ := creds.User("tech_advisor")
	mgr, _ := creds.User("store_manager")
	staff, _ := creds.User("store_staff")
	secret := photostest.JPEG(5000, 77)
	tech := ids.New()
	mustPush(t, d, ta.DeviceToken, tech, submittedDiagnosis("demo-ruijin", "SECRET hospital finding", secret), diagnosisPaths...)
	mustUpload(t, mediaClient(d, ta.DeviceToken, nil), secret)
	mustPush(t, d, mgr.DeviceToken, ids.New(), submittedDiagnosis("demo-ruijin", "something else", photostest.JPEG(100, 78)), diagnosisPaths...)
	eventually(t, "the advisor's A1 alert", func() bool { return hasConflictAlert(alertsOf(t, d, ta.DeviceToken), "demo-ruijin") })
	// A later conflict in the manager's own store: once its alert arrived,
	// any alert of the first conflict would have too.
	mustPush(t, d, staff.DeviceToken, ids.New(), submittedDiagnosis("demo-huang", "worn pads", photostest.JPEG(100, 79)), diagnosisPaths...)
	mustPush(t, d, staff.DeviceToken, ids.New(), submittedDiagnosis("demo-huang", "warped discs", photostest.JPEG(100, 80)), diagnosisPaths...)
	var alerts []*fieldsyncv1.Alert
	eventually(t, "the manager's A1 alert about its store's customer", func() bool {
		alerts = alertsOf(t, d, mgr.DeviceToken)
		return hasConflictAlert(alerts, "demo-huang")
	})
	for _, a := range alerts {
		if strings.Contains(a.Body, "SECRET") || strings.Contains(a.Body, tech) || hasConflictAlert([]*fieldsyncv1.Alert{a}, "demo-ruijin") {
			t.Errorf("the manager's alert %v quotes the advisor's diagnosis", a)
		}
	}
	if _, err := mediaURL(mediaClient(d, mgr.DeviceToken, nil), secret); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("the manager's link to the advisor's photo: %v, want NotFound", err)
	}
}

// TestA6IgnoresAHashItsCiterNeverUploaded: a store manager that knows only
// the hash of a rep's surgery photo cites it in its own diagnosis. A6
// counts that use only once the photo is available on the manager's
// record, so the rep's surgery is not flagged, nobody is alerted, and the
// manager gets no link; a real repeat photo (both reps upload it) still
// flags and alerts.
func TestA6IgnoresAHashItsCiterNeverUploaded(t *testing.T) {
	t.Parallel()
	d, creds := startDaemon(t, "", nil)
	rep, _ := creds.User("rep")
	mgr, _ := creds.User("store_manager")
	dir, _ := creds.User("regional_director")
	secret := photostest.JPEG(100_000, 42)
	victim := pushSurgery(t, d, rep.DeviceToken, secret, photostest.JPEG(1000, 43), photostest.JPEG(1000, 44))
	mustUpload(t, mediaClient(d, rep.DeviceToken, nil), secret)
	mustPush(t, d, mgr.DeviceToken, ids.New(), &fieldsyncv1.Diagnosis{CustomerId: "demo-huang", Photos: []*fieldsyncv1.PhotoRef{photoRef(secret)}},
		"customer_id", "photos")
	// A real repeat photo, raised after the citation was handled.
	y := photostest.JPEG(1000, 60)
	rep2 := secondRep(t, creds)
	pushSurgery(t, d, rep.DeviceToken, y, photostest.JPEG(1000, 61), photostest.JPEG(1000, 62))
	pushSurgery(t, d, rep2, photostest.JPEG(1000, 63), y, photostest.JPEG(1000, 64))
	mustUpload(t, mediaClient(d, rep.DeviceToken, nil), y)
	mustUpload(t, mediaClient(d, rep2, nil), y)
	eventually(t, "the director's A6 alert about the real repeat", func() bool {
		r, _ := pullRecord(t, d, dir.DeviceToken, "", records.AlertID(creds.TenantID, "A6:"+photostest.Key(y)+":"+dir.UserID))
		return r != nil
	})
	if r, _ := pullRecord(t, d, dir.DeviceToken, "", victim); r == nil || surgeryValue(t, r).RepeatPhotoFlagged {
		t.Errorf("the rep's surgery %v is flagged by a hash the manager never uploaded", r)
	}
	for _, tok := range []string{mgr.DeviceToken, dir.DeviceToken} {
		for _, a := range alertsOf(t, d, tok) {
			if strings.Contains(a.Body, photostest.Key(secret)) {
				t.Errorf("alert %v about the cited hash", a)
			}
		}
	}
	if _, err := mediaURL(mediaClient(d, mgr.DeviceToken, nil), secret); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("the manager's link to the rep's photo: %v, want NotFound", err)
	}
}

// TestAlertIDsAreReserved: a device cannot take the (predictable) id of a
// future alert with a record of its own; the alert is raised as usual.
func TestAlertIDsAreReserved(t *testing.T) {
	t.Parallel()
	d, creds := startDaemon(t, "", nil)
	rep, _ := creds.User("rep")
	mgr, _ := creds.User("store_manager")
	x := photostest.JPEG(1000, 50)
	squat := records.AlertID(creds.TenantID, "A6:"+photostest.Key(x)+":"+mgr.UserID)
	r := pushAs(t, d, mgr.DeviceToken, squat, &fieldsyncv1.Visit{CustomerId: "demo-huang"}, "customer_id")
	if r.Outcome != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_REJECTED || !strings.Contains(r.Reason, "record_id") {
		t.Fatalf("a visit at an alert's id: %v, want rejected naming record_id", r)
	}
	pushSurgery(t, d, rep.DeviceToken, x, photostest.JPEG(1000, 51), photostest.JPEG(1000, 52))
	mustUpload(t, mediaClient(d, rep.DeviceToken, nil), x)
	mustPush(t, d, mgr.DeviceToken, ids.New(), &fieldsyncv1.Diagnosis{CustomerId: "demo-huang", Photos: []*fieldsyncv1.PhotoRef{photoRef(x)}},
		"customer_id", "photos")
	mustUpload(t, mediaClient(d, mgr.DeviceToken, nil), x)
	eventually(t, "the manager's A6 alert at the id it tried to take", func() bool {
		r, _ := pullRecord(t, d, mgr.DeviceToken, "", squat)
		return r != nil && r.RecordType == records.AlertType
	})
}
