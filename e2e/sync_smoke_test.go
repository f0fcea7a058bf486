package e2e

import (
	"context"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

func TestPushThenPullRoundTrip(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	ctx := context.Background()
	rep := e.sync(e.token("rep"))
	v, _ := anypb.New(&fieldsyncv1.Visit{Notes: "first visit", Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE})
	id := ids.New()
	res, err := rep.Push(ctx, connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{{
		Seq: 1, RecordType: "fieldsync.v1.Visit", RecordId: id, Value: v,
		FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes", "kind"}}, Hlc: 1 << 16,
	}}}))
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Msg.Results[0].Outcome; got != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED {
		t.Fatalf("outcome %v: %v", got, res.Msg.Results[0])
	}
	visits := ofType(pullAll(t, e, e.token("rep")), "fieldsync.v1.Visit")
	if len(visits) != 1 || visits[id] == nil {
		t.Fatalf("pull: %v", visits)
	}
	var got fieldsyncv1.Visit
	if err := visits[id].Value.UnmarshalTo(&got); err != nil {
		t.Fatal(err)
	}
	if got.Notes != "first visit" || got.OwnerUserId == "" || got.RegionId == "" {
		t.Fatalf("record %v", &got)
	}
	if other := pullAll(t, e, e.token("store_staff")); other[id] != nil {
		t.Fatalf("store staff sees the rep's visit: %v", other[id])
	}
}
