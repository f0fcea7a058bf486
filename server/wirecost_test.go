package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// emptyElements is n occurrences of field num, each an empty message or string.
func emptyElements(num protowire.Number, n int) []byte {
	b := make([]byte, 0, 2*n)
	for range n {
		b = protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), nil)
	}
	return b
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil || w.Close() != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPushOfManyEmptyElementsIsRefusedBeforeDecoding: 8 MiB of empty list
// elements gzip into a few kilobytes and decoded into 613 MB (empty
// mutations) or 485 MB (empty photo references in a record's value), with
// 32 calls in flight per device. Such a request is refused, before it is
// decoded, with InvalidArgument naming the list; what the server allocates
// meanwhile stays a fraction of what decoding cost.
func TestPushOfManyEmptyElementsIsRefusedBeforeDecoding(t *testing.T) {
	e := newEdgeServer(t, 0, false, nil)
	token := e.token("rep")
	post := func(contentType string, body []byte) (int, string) {
		req, _ := http.NewRequest("POST", e.srv.URL+fieldsyncv1connect.SyncServicePushProcedure, bytes.NewReader(gzipped(t, body)))
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, c := range []struct {
		name, contentType, field string
		body                     []byte
	}{
		{"binary", "application/proto", "fieldsync.v1.PushRequest.mutations", emptyElements(1, 4<<20)},
		{"JSON", "application/json", "json", []byte(`{"mutations":[` + strings.Repeat(`{},`, 8<<20/3-10) + `{}]}`)},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		status, body := post(c.contentType, c.body)
		runtime.ReadMemStats(&after)
		if status != http.StatusBadRequest || !strings.Contains(body, "invalid_argument") || !strings.Contains(body, c.field) || !strings.Contains(body, "more elements than its size allows") {
			t.Errorf("%s: %d %s, want 400 invalid_argument naming %s", c.name, status, body, c.field)
		}
		// The bodies inflated (8 MiB) and the test's own gzip: far below
		// the 400-600 MB the decoding cost.
		if got := after.TotalAlloc - before.TotalAlloc; got > 100<<20 {
			t.Errorf("%s: the call allocated %d MB", c.name, got>>20)
		}
	}

	// A record value of 3 Mi empty consumable models, in a record the rep
	// may write: that mutation is rejected as invalid, naming the list; the
	// batch's other mutation is applied.
	c := fieldsyncv1connect.NewSyncServiceClient(e.srv.Client(), e.srv.URL,
		connect.WithInterceptors(bearer(token)), connect.WithSendGzip())
	visit, _ := anypb.New(&fieldsyncv1.Visit{Notes: "fine"})
	res, err := c.Push(context.Background(), connect.NewRequest(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{
		{Seq: 1, RecordType: "fieldsync.v1.SurgerySupport", RecordId: "s1", Hlc: 1 << 16, FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"consumable_models"}},
			Value: &anypb.Any{TypeUrl: "type.googleapis.com/fieldsync.v1.SurgerySupport", Value: emptyElements(6, 3<<20)}},
		{Seq: 2, RecordType: "fieldsync.v1.Visit", RecordId: "v1", Hlc: 2 << 16, FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes"}}, Value: visit},
	}}))
	if err != nil {
		t.Fatal(err)
	}
	r := res.Msg.GetResults()
	if len(r) != 2 || r[0].GetRejectCode() != fieldsyncv1.RejectCode_REJECT_CODE_INVALID || !strings.Contains(r[0].GetReason(), "fieldsync.v1.SurgerySupport.consumable_models") ||
		r[1].GetOutcome() == fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_REJECTED {
		t.Fatalf("results %v: want the surgery support rejected as invalid naming its list, the visit applied", r)
	}
}
