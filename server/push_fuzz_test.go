package server_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

// FuzzPushRequest feeds arbitrary bytes, decoded as a PushRequest, through
// the wire decoding and the engine: nothing may panic, a call either fails
// with a domain error or answers one result per mutation.
func FuzzPushRequest(f *testing.F) {
	v, _ := anypb.New(&fieldsyncv1.Visit{Notes: "n", ActionTags: []string{"first_contact"}})
	seed, _ := proto.Marshal(&fieldsyncv1.PushRequest{Mutations: []*fieldsyncv1.Mutation{
		{Seq: 1, RecordType: "fieldsync.v1.Visit", RecordId: "r1", Value: v, FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"notes", "action_tags"}}, Hlc: 1 << 16},
		{Seq: 2, RecordType: "fieldsync.v1.Visit", RecordId: "r1", Delete: true, Hlc: 2 << 16},
	}})
	f.Add(seed)
	f.Add([]byte{})
	db, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	engine, err := syncengine.New(syncengine.Config{Store: db})
	if err != nil {
		f.Fatal(err)
	}
	reg := engine.Registry()
	var device uint64
	f.Fuzz(func(t *testing.T, data []byte) {
		var req fieldsyncv1.PushRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		muts := make([]syncengine.Mutation, len(req.Mutations))
		for i, m := range req.Mutations {
			muts[i] = server.MutationFromWire(reg, m)
		}
		device++ // a fresh device each time, so seqs start at 1
		p := &syncengine.Principal{TenantID: "t", UserID: "u", DeviceID: fmt.Sprintf("d%d", device), Role: fieldsyncv1.Role_ROLE_REP, RegionID: "r"}
		res, err := engine.Push(context.Background(), p, muts)
		if err != nil {
			if syncengine.ErrorCode(err) == syncengine.CodeInternal {
				t.Fatalf("internal error for input %x: %v", data, err)
			}
			return
		}
		if len(res.Results) != len(muts) {
			t.Fatalf("%d results for %d mutations", len(res.Results), len(muts))
		}
	})
}
