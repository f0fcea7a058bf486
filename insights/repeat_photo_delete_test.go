package insights

import (
	"testing"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// A deleted diagnosis no longer counts as a use of its photos: attaching one
// of them elsewhere later flags and alerts nothing about it.
func TestA6DeletedRecordsAreNotPhotoUses(t *testing.T) {
	e := newEnv(t)
	y := photo("y")
	e.upsert("d1", e.diagnosis("alice", "c1", "worn", y), at(2, 10, 0))
	del := e.event(fieldsyncv1.ChangeOp_CHANGE_OP_DELETE, "d1", nil, at(2, 11, 0), at(2, 11, 0))
	del.RecordType = diagnosisType
	e.handle(del)
	e.upsert("d2", e.diagnosis("alice", "c2", "worn", y), at(3, 10, 0))
	if f := e.sink.flagged(); len(f) != 0 {
		t.Fatalf("flags %v, want none", f)
	}
	if got := e.sink.list(fieldsyncv1.AlertKind_ALERT_KIND_REPEAT_PHOTO); len(got) != 0 {
		t.Fatalf("alerts %v, want none", got)
	}
}
