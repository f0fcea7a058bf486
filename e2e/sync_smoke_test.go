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
	pull, err := rep.Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(pull.Msg.Records) != 1 || pull.Msg.Records[0].Id != id {
		t.Fatalf("pull: %v", pull.Msg)
	}
	var got fieldsyncv1.Visit
	if err := pull.Msg.Records[0].Value.UnmarshalTo(&got); err != nil {
		t.Fatal(err)
	}
	if got.Notes != "first visit" || got.OwnerUserId == "" || got.RegionId == "" {
		t.Fatalf("record %v", &got)
	}
	other, err := e.sync(e.token("store_staff")).Pull(ctx, connect.NewRequest(&fieldsyncv1.PullRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(other.Msg.Records) != 0 {
		t.Fatalf("store staff sees the rep's visit: %v", other.Msg.Records)
	}
}
