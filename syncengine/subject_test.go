package syncengine_test

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/events"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// TestChangeSubjectsEscapeTheTenantID checks that the engine names change
// subjects with events.ChangeSubject: a tenant id that is not one NATS
// token (generated ids always are; this one is not) still gives a
// four-token subject, which the outbox accepts, instead of a refused push.
func TestChangeSubjectsEscapeTheTenantID(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	odd := *w.p["rep"]
	odd.TenantID = "t.1 *>"
	id := newID()
	res, err := w.e.Push(context.Background(), &odd, []syncengine.Mutation{w.mut("rep", id, &fieldsyncv1.Visit{Notes: "x"}, "notes")})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	if r := res.Results[0]; r.Outcome != applied {
		t.Fatalf("push: %v", r)
	}
	evs, err := w.db.PendingEvents(context.Background(), 10000)
	if err != nil {
		t.Fatal(err)
	}
	want := "fieldsync.t_1___.changes.Visit"
	for _, ev := range evs {
		var ce fieldsyncv1.ChangeEvent
		if err := proto.Unmarshal(ev.Data, &ce); err != nil || ce.RecordId != id {
			continue
		}
		if ev.Subject != want || ev.Subject != events.ChangeSubject(odd.TenantID, ce.RecordType) {
			t.Errorf("change event on %q, want %q", ev.Subject, want)
		}
		return
	}
	t.Fatalf("no change event of record %s", id)
}
