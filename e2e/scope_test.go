package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// TestOperationLogConflictsStayWithTheirRep: a losing value of a rep's
// operation log (R11) is listed to the rep only, not to a director, a tech
// advisor, an admin or an integrator key with records:read.
func TestOperationLogConflictsStayWithTheirRep(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	ctx := context.Background()
	rep := e.token("rep")
	id := ids.New()
	now := uint64(time.Now().UnixMilli()) << 16
	for i, v := range []struct {
		text string
		hlc  uint64
	}{{"won", now}, {"lost: skipped core_problem_solved", now - 1<<20}} {
		r, err := pushOne(t, e, rep, &fieldsyncv1.Mutation{Seq: uint64(i + 1), RecordType: "fieldsync.v1.DeviceOperationLog", RecordId: id,
			Value:     anyOf(t, &fieldsyncv1.DeviceOperationLog{FormRecordType: v.text}),
			FieldMask: &fieldmaskpb.FieldMask{Paths: []string{"form_record_type"}}, Hlc: v.hlc})
		if err != nil || r.Outcome == fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_REJECTED {
			t.Fatalf("push %d: %v %v", i, r, err)
		}
	}
	list := func(token string) []*fieldsyncv1.Conflict {
		res, err := e.sync(token).ListConflicts(ctx, connect.NewRequest(&fieldsyncv1.ListConflictsRequest{}))
		if err != nil {
			t.Fatalf("list conflicts: %v", err)
		}
		return res.Msg.Conflicts
	}
	if cs := list(rep); len(cs) != 1 || cs[0].RecordId != id {
		t.Fatalf("the rep's own conflicts: %v", cs)
	}
	for _, token := range []string{e.token("regional_director"), e.token("tech_advisor"), e.creds.AdminToken, e.creds.IntegratorKey} {
		for _, c := range list(token) {
			if c.RecordId == id || strings.Contains(c.String(), "core_problem_solved") {
				t.Fatalf("another caller reads the operation log's conflict: %v", c)
			}
		}
	}
}

// TestInsightsConfigRefusesMisspeltKeys: a typo is InvalidArgument naming
// the key, not a silent reset of every setting to its default.
func TestInsightsConfigRefusesMisspeltKeys(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	admin := e.admin(e.creds.AdminToken)
	for bad, name := range map[string]string{
		`{"rules":{"conflict_windw":"48h"}}`:                       "conflict_windw",
		`{"phi":{"weights":{"key_action":1e308,"quality":1e308}}}`: "weights",
	} {
		_, err := admin.SetInsightsConfig(context.Background(), connect.NewRequest(&fieldsyncv1.SetInsightsConfigRequest{ConfigJson: bad}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), name) {
			t.Errorf("SetInsightsConfig(%s) = %v, want InvalidArgument naming %s", bad, err, name)
		}
	}
}
