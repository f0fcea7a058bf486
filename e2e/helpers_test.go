package e2e

import (
	"sync"
	"testing"

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
