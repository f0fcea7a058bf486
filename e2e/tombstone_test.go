package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/internal/ids"
	"github.com/fieldsync/fieldsync/photos/photostest"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// TestADeletedDraftStaysDeletedWhenItsPhotoIsReused goes device delete →
// another surgery with the same photo → A6 on the change stream: the
// deleted surgery is not flagged back to life, and devices keep it removed.
func TestADeletedDraftStaysDeletedWhenItsPhotoIsReused(t *testing.T) {
	t.Parallel()
	d, creds := startDaemon(t, "", nil)
	rep, _ := creds.User("rep")
	director, _ := creds.User("regional_director")
	jpeg := func(seed uint64) []byte { return photostest.JPEG(1000, seed) }
	shared, other := jpeg(31), jpeg(32)
	a := pushDraftSurgery(t, d, rep.DeviceToken, shared, jpeg(33), jpeg(34))
	pushApplied(t, d, rep.DeviceToken, &fieldsyncv1.Mutation{Seq: nextSeq(rep.DeviceToken),
		RecordType: "fieldsync.v1.SurgerySupport", RecordId: a, Delete: true, Hlc: uint64(time.Now().UnixMilli()) << 16})
	b := pushDraftSurgery(t, d, secondRep(t, creds), jpeg(35), shared, other)
	c := pushDraftSurgery(t, d, rep.DeviceToken, other, jpeg(36), jpeg(37))
	// A6 counts a photo where it is available: each rep uploads the one they share.
	mustUpload(t, mediaClient(d, secondRep(t, creds), nil), other)
	mustUpload(t, mediaClient(d, rep.DeviceToken, nil), other)
	eventually(t, "the surgeries sharing a photo flagged (A6)", func() bool {
		for _, id := range []string{b, c} {
			if r, _ := pullRecord(t, d, director.DeviceToken, "", id); r == nil || !surgeryValue(t, r).RepeatPhotoFlagged {
				return false
			}
		}
		return true
	})
	if r, _ := pullRecord(t, d, director.DeviceToken, "", a); r.GetRemoved() != fieldsyncv1.RemovalReason_REMOVAL_REASON_DELETED {
		t.Fatalf("the deleted surgery pulls as %v, want a deletion", r)
	}
}

// pushDraftSurgery pushes a new draft surgery support (drafts may be
// deleted) with three staged photos and returns its id.
func pushDraftSurgery(t *testing.T, d *daemon.Daemon, token string, pre, intra, post []byte) string {
	t.Helper()
	id := ids.New()
	ss := &fieldsyncv1.SurgerySupport{Status: fieldsyncv1.RecordStatus_RECORD_STATUS_DRAFT, HospitalId: "hosp-1",
		PreOpPhoto: photoRef(pre), IntraOpPhoto: photoRef(intra), PostOpCountPhoto: photoRef(post)}
	pushApplied(t, d, token, &fieldsyncv1.Mutation{Seq: nextSeq(token), RecordType: "fieldsync.v1.SurgerySupport", RecordId: id,
		Value: anyOf(t, ss), Hlc: uint64(time.Now().UnixMilli()) << 16,
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"status", "hospital_id", "pre_op_photo", "intra_op_photo", "post_op_count_photo"}}})
	return id
}

// pushApplied pushes one mutation and fails the test unless it is applied.
func pushApplied(t *testing.T, d *daemon.Daemon, token string, m *fieldsyncv1.Mutation) {
	t.Helper()
	sync := fieldsyncv1connect.NewSyncServiceClient(http.DefaultClient, d.URL(), bearer(token))
	res, err := sync.Push(context.Background(), connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{m}}))
	if err != nil || res.Msg.Results[0].Outcome != applied {
		t.Fatalf("push %s: %v %v", m.RecordId, res, err)
	}
}
