package syncengine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

const (
	applied  = fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED
	merged   = fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_MERGED
	rejected = fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_REJECTED
)

func TestPushReplayReturnsFirstResult(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	id := newID()
	m := w.mut("rep", id, &fieldsyncv1.Visit{Notes: "first"}, "notes")
	first := w.push("rep", m)
	m.Value = &fieldsyncv1.Visit{Notes: "changed in the replay"}
	again := w.push("rep", m)
	if first[0].AppliedHlc != again[0].AppliedHlc || again[0].Outcome != applied {
		t.Fatalf("replay = %v, first = %v", again[0], first[0])
	}
	recs, _ := w.pullAll("rep", "")
	var v fieldsyncv1.Visit
	recs[id].Value.UnmarshalTo(&v)
	if v.Notes != "first" {
		t.Fatalf("replay was applied again: notes = %q", v.Notes)
	}
}

func TestPushGapIsAbortedWithTheFirstMissingSeq(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.push("rep", w.mut("rep", newID(), &fieldsyncv1.Visit{Notes: "1"}, "notes"))
	w.seq["rep"] = 3 // seq 2 and 3 never sent
	_, err := w.e.Push(context.Background(), w.p["rep"], []syncengine.Mutation{w.mut("rep", newID(), &fieldsyncv1.Visit{}, "notes")})
	var de *syncengine.Error
	if !errors.As(err, &de) || de.Code != syncengine.CodeSequenceGap {
		t.Fatalf("err = %v, want CodeSequenceGap", err)
	}
	if gap := de.Detail.(*fieldsyncv1.SequenceGap); gap.ExpectedSeq != 2 || gap.ReceivedSeq != 4 {
		t.Fatalf("detail = %v", gap)
	}
	if recs, _ := w.pullAll("rep", ""); len(recs) != 1 {
		t.Fatalf("a refused batch wrote %d records", len(recs)-1)
	}
}

func TestPushBatchWithInternalGapIsInvalid(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a := w.mut("rep", newID(), &fieldsyncv1.Visit{}, "notes")
	w.seq["rep"]++
	b := w.mut("rep", newID(), &fieldsyncv1.Visit{}, "notes")
	_, err := w.e.Push(context.Background(), w.p["rep"], []syncengine.Mutation{a, b})
	if !syncengine.IsCode(err, syncengine.CodeInvalid) {
		t.Fatalf("err = %v, want CodeInvalid", err)
	}
}

func TestBadMutationDoesNotBlockTheBatch(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	incomplete := &fieldsyncv1.Visit{Status: fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED, Kind: fieldsyncv1.VisitKind_VISIT_KIND_CLINICAL_DIRECTOR,
		CustomerId: "c1", VisitTime: timestamppb.Now()}
	muts := []syncengine.Mutation{
		w.mut("rep", newID(), &fieldsyncv1.Visit{Notes: "ok"}, "notes"),
		w.mut("rep", newID(), incomplete, "status", "kind", "customer_id", "visit_time"),
		w.mut("rep", newID(), &fieldsyncv1.Visit{HighValue: true}, "high_value"),
		w.mut("rep", newID(), &fieldsyncv1.Visit{}, "notes"),
		w.mut("rep", newID(), &fieldsyncv1.Visit{Notes: "ok too"}, "notes"),
	}
	muts[3].Type = "fieldsync.v1.Nope"
	res := w.push("rep", muts...)
	want := []struct {
		outcome fieldsyncv1.MutationOutcome
		code    fieldsyncv1.RejectCode
		reason  string
	}{
		{applied, 0, ""},
		{rejected, fieldsyncv1.RejectCode_REJECT_CODE_INVALID, "core_problem_solved"},
		{rejected, fieldsyncv1.RejectCode_REJECT_CODE_SERVER_ONLY_FIELD, "high_value"},
		{rejected, fieldsyncv1.RejectCode_REJECT_CODE_UNKNOWN_TYPE, "fieldsync.v1.Nope"},
		{applied, 0, ""},
	}
	for i, wnt := range want {
		r := res[i]
		if r.Outcome != wnt.outcome || r.RejectCode != wnt.code || !strings.Contains(r.Reason, wnt.reason) {
			t.Errorf("result %d = %v, want %v", i, r, wnt)
		}
	}
	if recs, _ := w.pullAll("rep", ""); len(recs) != 2 {
		t.Fatalf("%d records stored, want the 2 good ones", len(recs))
	}
}

// otherDevice returns a second device of the same user.
func (w *world) otherDevice(who, as string) {
	p := *w.p[who]
	p.DeviceID = "dev-" + as
	w.p[as] = &p
}

func TestConcurrentEditsMergePerFieldAndLogTheLoser(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.otherDevice("rep", "repB")
	id := newID()
	w.push("rep", w.mut("rep", id, &fieldsyncv1.Visit{Notes: "v0", ActionTags: []string{"first_contact"}}, "notes", "action_tags"))
	older := w.mut("repB", id, &fieldsyncv1.Visit{Notes: "offline edit", ActionTags: []string{"technical_demo"}}, "notes", "action_tags")
	w.push("rep", w.mut("rep", id, &fieldsyncv1.Visit{Notes: "newer edit"}, "notes"))
	res := w.push("repB", older) // made earlier (older HLC), arrives later
	if res[0].Outcome != merged || len(res[0].LostFields) != 1 || res[0].LostFields[0] != "notes" {
		t.Fatalf("result = %v, want merged with notes lost", res[0])
	}
	if len(res[0].Conflicts) != 1 || res[0].Conflicts[0].LosingDeviceId != "dev-repB" {
		t.Fatalf("conflicts in result = %v", res[0].Conflicts)
	}
	recs, _ := w.pullAll("rep", "")
	var v fieldsyncv1.Visit
	recs[id].Value.UnmarshalTo(&v)
	if v.Notes != "newer edit" || strings.Join(v.ActionTags, ",") != "first_contact,technical_demo" || !v.HighValue {
		t.Fatalf("merged visit = %v", &v)
	}
	log, err := w.e.ListConflicts(context.Background(), w.p["repB"], id, 0, 10)
	if err != nil || len(log) != 1 || log[0].Field != "notes" {
		t.Fatalf("conflict log for the losing device = %v, %v", log, err)
	}
	var lost fieldsyncv1.Visit
	log[0].LosingValue.UnmarshalTo(&lost)
	if lost.Notes != "offline edit" {
		t.Fatalf("losing value = %v", &lost)
	}
}

func TestFarFutureDeviceClockIsClamped(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	m := w.mut("rep", newID(), &fieldsyncv1.Visit{Notes: "from the future"}, "notes")
	m.HLC = syncengine.MakeHLC(time.Now().Add(24*time.Hour).UnixMilli(), 0)
	r := w.push("rep", m)[0]
	if r.ClampedSkewMs <= 0 {
		t.Fatalf("skew not recorded: %v", r)
	}
	if at := syncengine.HLC(r.AppliedHlc).Time(); at.After(time.Now().Add(6 * time.Minute)) {
		t.Fatalf("applied at %v, beyond the 5 min bound", at)
	}
}

func TestFrozenFieldsLoseAfterSubmit(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	id := newID()
	v := &fieldsyncv1.Visit{Status: fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED, Kind: fieldsyncv1.VisitKind_VISIT_KIND_CLINICAL_DIRECTOR,
		CustomerId: "c1", VisitTime: timestamppb.Now(), CoreProblemSolved: "solved", FollowUpCommitments: "plan",
		NextAppointmentTime: timestamppb.Now(), ActionTags: []string{"price_negotiation"}}
	fields := []string{"status", "kind", "customer_id", "visit_time", "core_problem_solved", "follow_up_commitments", "next_appointment_time", "action_tags"}
	if r := w.push("rep", w.mut("rep", id, v, fields...))[0]; r.Outcome != applied {
		t.Fatalf("submit: %v", r)
	}
	r := w.push("rep", w.mut("rep", id, &fieldsyncv1.Visit{CoreProblemSolved: "rewritten", Notes: "extra"}, "core_problem_solved", "notes"))[0]
	if r.Outcome != merged || len(r.LostFields) != 1 || r.LostFields[0] != "core_problem_solved" || r.Conflicts[0].Reason != syncengine.LossFrozen {
		t.Fatalf("edit after submit = %v", r)
	}
	r = w.push("rep", w.del("rep", "fieldsync.v1.Visit", id))[0]
	if r.Outcome != rejected {
		t.Fatalf("delete of a submitted visit = %v", r)
	}
}

func TestDeleteIsATombstoneThatWinsOnlyOverEarlierEdits(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.otherDevice("rep", "repB")
	id := newID()
	w.push("rep", w.mut("rep", id, &fieldsyncv1.Visit{Notes: "v0"}, "notes"))
	early := w.mut("repB", id, &fieldsyncv1.Visit{Notes: "edited before the delete"}, "notes")
	if r := w.push("rep", w.del("rep", "fieldsync.v1.Visit", id))[0]; r.Outcome != applied {
		t.Fatalf("delete: %v", r)
	}
	if r := w.push("repB", early)[0]; r.Outcome != merged {
		t.Fatalf("an edit older than the delete: %v", r)
	}
	recs, cursor := w.pullAll("rep", "")
	if recs[id].Removed != fieldsyncv1.RemovalReason_REMOVAL_REASON_DELETED {
		t.Fatalf("record = %v, want a deletion", recs[id])
	}
	w.push("repB", w.mut("repB", id, &fieldsyncv1.Visit{Notes: "written after the delete"}, "notes"))
	recs, _ = w.pullAll("rep", cursor)
	var v fieldsyncv1.Visit
	if recs[id].Removed != 0 || recs[id].Value.UnmarshalTo(&v) != nil || v.Notes != "written after the delete" {
		t.Fatalf("a newer edit should bring the record back: %v", recs[id])
	}
}
