package server_test

import (
	"context"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// visitMutation is a Visit update with typeURL as its value's type_url and
// paths as its field mask.
func visitMutation(seq uint64, typeURL string, paths ...string) *fieldsyncv1.Mutation {
	return &fieldsyncv1.Mutation{
		Seq: seq, RecordType: "fieldsync.v1.Visit", RecordId: "v1", Hlc: 1 << 16,
		Value: &anypb.Any{TypeUrl: typeURL}, FieldMask: &fieldmaskpb.FieldMask{Paths: paths},
	}
}

// TestPushRefusesLongInputAtTheEdge sends a type_url and a field path past
// their caps: the batch is refused with InvalidArgument naming the field,
// before anything is stored.
func TestPushRefusesLongInputAtTheEdge(t *testing.T) {
	e := newEdgeServer(t, 0, true, nil)
	c := fieldsyncv1connect.NewSyncServiceClient(e.srv.Client(), e.srv.URL,
		connect.WithInterceptors(bearer(e.token("rep"))), connect.WithSendGzip())
	ctx := context.Background()
	long := strings.Repeat("\x01", 1<<20)
	for _, tc := range []struct {
		name, field string
		m           *fieldsyncv1.Mutation
	}{
		{"type_url", "mutations[0].value.type_url", visitMutation(1, "type.googleapis.com/"+long, "notes")},
		{"field path", "mutations[0].field_mask", visitMutation(1, "type.googleapis.com/fieldsync.v1.Visit", strings.Repeat("n", 257))},
	} {
		_, err := c.Push(ctx, connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{tc.m}}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want InvalidArgument naming %s", tc.name, err, tc.field)
		}
		if err != nil && len(err.Error()) > 1<<10 {
			t.Errorf("%s: %d-byte error", tc.name, len(err.Error()))
		}
	}
	res, err := c.Push(ctx, connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{
		visitMutation(1, "type.googleapis.com/fieldsync.v1.Visit", "notes")}}))
	if err != nil || res.Msg.GetLastSeq() != 1 {
		t.Fatalf("seq 1 after the refusals: %v (last seq %d), want it still free", err, res.Msg.GetLastSeq())
	}
}

// TestPushReasonIsClippedWhenStored sends a type_url within its cap whose
// quoted form is long: the reason, first and replayed, stays within 512
// bytes.
func TestPushReasonIsClippedWhenStored(t *testing.T) {
	e := newEdgeServer(t, 0, true, nil)
	c := fieldsyncv1connect.NewSyncServiceClient(e.srv.Client(), e.srv.URL, connect.WithInterceptors(bearer(e.token("rep"))))
	ctx := context.Background()
	m := visitMutation(1, "x/"+strings.Repeat("\x01", 250), "notes")
	for _, try := range []string{"first", "replay"} {
		res, err := c.Push(ctx, connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{m}}))
		if err != nil {
			t.Fatal(err)
		}
		r := res.Msg.GetResults()[0]
		if r.GetOutcome() != fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_REJECTED || len(r.GetReason()) > 512 {
			t.Errorf("%s: %v with a %d-byte reason, want rejected within 512 bytes", try, r.GetOutcome(), len(r.GetReason()))
		}
		if !strings.HasPrefix(r.GetReason(), "value: ") {
			t.Errorf("%s: reason %.40q, want it to name the field", try, r.GetReason())
		}
	}
}
