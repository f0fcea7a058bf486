package sqlite

import (
	"testing"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// The partial index insights_actions_diagnoses (migration 0019) and the
// query that names it spell the diagnosis type out; it must be the
// message's full name, which change events carry as record_type.
func TestInsDiagnosisTypeIsTheDiagnosisMessage(t *testing.T) {
	if got := string((&fieldsyncv1.Diagnosis{}).ProtoReflect().Descriptor().FullName()); got != insDiagnosisType {
		t.Fatalf("insDiagnosisType %q, the message is %q", insDiagnosisType, got)
	}
}
