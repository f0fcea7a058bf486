package e2e

import (
	"context"
	"sync"
	"testing"

	"connectrpc.com/connect"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

const (
	applied         = fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED
	merged          = fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_MERGED
	rejectedOutcome = fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_REJECTED
)

func anyOf(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var (
	seqMu sync.Mutex
	seqs  = map[string]uint64{}
)

// nextSeq hands out consecutive push seqs per token (tokens are unique per test server).
func nextSeq(token string) uint64 {
	seqMu.Lock()
	defer seqMu.Unlock()
	seqs[token]++
	return seqs[token]
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

// pullAll pulls every page for a token and returns the records by id.
func pullAll(t *testing.T, e *env, token string) map[string]*fieldsyncv1.Record {
	t.Helper()
	out := map[string]*fieldsyncv1.Record{}
	cursor := ""
	for {
		res, err := e.sync(token).Pull(context.Background(), connect.NewRequest(&fieldsyncv1.PullRequest{Cursor: cursor}))
		if err != nil {
			t.Fatalf("pull: %v", err)
		}
		for _, r := range res.Msg.Records {
			out[r.Id] = r
		}
		if cursor = res.Msg.NextCursor; !res.Msg.HasMore {
			return out
		}
	}
}

// ofType keeps the records of one type.
func ofType(recs map[string]*fieldsyncv1.Record, recordType string) map[string]*fieldsyncv1.Record {
	out := map[string]*fieldsyncv1.Record{}
	for id, r := range recs {
		if r.RecordType == recordType {
			out[id] = r
		}
	}
	return out
}
