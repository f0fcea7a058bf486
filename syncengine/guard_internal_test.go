package syncengine

import (
	"testing"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
	"pgregory.net/rapid"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

func TestParseGuard(t *testing.T) {
	for _, tc := range []struct {
		expr  string
		field string
		value int64
		ok    bool
	}{
		{"this.status != 2 || this.customer_id != ''", "status", 2, true},
		{"this.status != 2 || this.kind != 2 || size(this.action_tags) > 0", "status", 2, true},
		{"this.state != -1 || has(this.x)", "state", -1, true},
		{"this.status != 2 || this.a ? this.b : this.c", "", 0, false}, // the ternary takes the guard in
		{"this.status != 2 || this.note == '?'", "", 0, false},
		{"this.status == 2 || this.customer_id != ''", "", 0, false},
		{"this.status != 2 && this.customer_id != ''", "", 0, false},
		{"this.status != 2", "", 0, false},
		{"(this.status != 2 || a) && b", "", 0, false},
		{"this.status != x || a", "", 0, false},
		{"this.status != 99999999999999999999 || a", "", 0, false},
	} {
		field, value, ok := parseGuard(tc.expr)
		if field != tc.field || value != tc.value || ok != tc.ok {
			t.Errorf("parseGuard(%q) = %q, %d, %v; want %q, %d, %v", tc.expr, field, value, ok, tc.field, tc.value, tc.ok)
		}
	}
}

func TestVisitRulesAreGuardedByStatus(t *testing.T) {
	md := (&fieldsyncv1.Visit{}).ProtoReflect().Descriptor()
	g, ok := messageGuard(md)
	if !ok || g.field.Name() != "status" || g.value != int64(fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED) {
		t.Fatalf("messageGuard(Visit) = %v, %v; want status != SUBMITTED", g, ok)
	}
}

// TestGuardedValidationSameAsProtovalidate: for any visit (and any value of
// every registered type's guard field), the engine's validator answers
// exactly what protovalidate evaluating every rule answers.
func TestGuardedValidationSameAsProtovalidate(t *testing.T) {
	plain, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	var types []protoreflect.MessageDescriptor
	for _, rt := range DefaultRegistry().Types() {
		types = append(types, rt.msgType.Descriptor())
	}
	gv := newGuardedValidator(plain, types)
	for name := range gv.guards {
		t.Logf("guarded: %s", name)
	}
	str := func(t *rapid.T, label string) string {
		return rapid.SampledFrom([]string{"", "c1", string(make([]byte, 65))}).Draw(t, label)
	}
	rapid.Check(t, func(t *rapid.T) {
		v := &fieldsyncv1.Visit{
			Status:              fieldsyncv1.RecordStatus(rapid.Int32Range(0, 3).Draw(t, "status")),
			Kind:                fieldsyncv1.VisitKind(rapid.Int32Range(0, 3).Draw(t, "kind")),
			CustomerId:          str(t, "customer"),
			CoreProblemSolved:   str(t, "problem"),
			FollowUpCommitments: str(t, "commitments"),
			ActionTags:          rapid.SliceOfN(rapid.SampledFrom([]string{"technical_demo", ""}), 0, 2).Draw(t, "tags"),
		}
		if rapid.Bool().Draw(t, "visit time") {
			v.VisitTime = timestamppb.Now()
		}
		if rapid.Bool().Draw(t, "next appointment") {
			v.NextAppointmentTime = timestamppb.Now()
		}
		msg := func(err error) string {
			if err == nil {
				return ""
			}
			return ViolationMessage(err)
		}
		if got, want := msg(gv.Validate(v)), msg(plain.Validate(v)); got != want {
			t.Fatalf("guarded: %q\nprotovalidate: %q", got, want)
		}
	})
}

// BenchmarkValidateDraftVisit validates a draft visit as the engine does
// (guarded) and with every rule evaluated.
func BenchmarkValidateDraftVisit(b *testing.B) {
	plain, err := protovalidate.New()
	if err != nil {
		b.Fatal(err)
	}
	gv := newGuardedValidator(plain, []protoreflect.MessageDescriptor{(&fieldsyncv1.Visit{}).ProtoReflect().Descriptor()})
	v := &fieldsyncv1.Visit{Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, CustomerId: "c1", OwnerUserId: "u1",
		Notes: "discussed the trial results and the next order", ActionTags: []string{"technical_demo"}}
	b.Run("guarded", func(b *testing.B) {
		for b.Loop() {
			if err := gv.Validate(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protovalidate", func(b *testing.B) {
		for b.Loop() {
			if err := plain.Validate(v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestGuardedValidationSameAsProtovalidateForEveryGuardedType: the same
// for every guarded record type, with values drawn field by field (strings
// empty, short or too long, enums and integers small, timestamps and
// other messages set or not, lists of up to two).
func TestGuardedValidationSameAsProtovalidateForEveryGuardedType(t *testing.T) {
	plain, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	var types []protoreflect.MessageDescriptor
	byName := map[protoreflect.FullName]*RecordType{}
	for _, rt := range DefaultRegistry().Types() {
		types = append(types, rt.msgType.Descriptor())
		byName[rt.msgType.Descriptor().FullName()] = rt
	}
	gv := newGuardedValidator(plain, types)
	if len(gv.guards) == 0 {
		t.Fatal("no record type is guarded")
	}
	for name := range gv.guards {
		rt := byName[name]
		t.Run(string(name), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				m := rt.New()
				fillDrawn(t, m.ProtoReflect())
				msg := func(err error) string {
					if err == nil {
						return ""
					}
					return ViolationMessage(err)
				}
				if got, want := msg(gv.Validate(m)), msg(plain.Validate(m)); got != want {
					t.Fatalf("guarded: %q\nprotovalidate: %q", got, want)
				}
			})
		})
	}
}

// fillDrawn sets m's scalar fields, lists of scalars and message fields
// (left empty: set or not) from draws.
func fillDrawn(t *rapid.T, m protoreflect.Message) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.IsMap() || fd.ContainingOneof() != nil && !fd.HasOptionalKeyword() {
			continue
		}
		label := string(fd.Name())
		if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
			if !fd.IsList() && rapid.Bool().Draw(t, label) {
				m.Set(fd, m.NewField(fd))
			}
			continue
		}
		draw := func() (protoreflect.Value, bool) {
			switch fd.Kind() {
			case protoreflect.StringKind:
				return protoreflect.ValueOfString(rapid.SampledFrom([]string{"", "x1", string(make([]byte, 300))}).Draw(t, label)), true
			case protoreflect.EnumKind:
				return protoreflect.ValueOfEnum(protoreflect.EnumNumber(rapid.Int32Range(0, 3).Draw(t, label))), true
			case protoreflect.Int32Kind:
				return protoreflect.ValueOfInt32(rapid.Int32Range(-1, 3).Draw(t, label)), true
			case protoreflect.Int64Kind:
				return protoreflect.ValueOfInt64(rapid.Int64Range(-1, 3).Draw(t, label)), true
			case protoreflect.BoolKind:
				return protoreflect.ValueOfBool(rapid.Bool().Draw(t, label)), true
			}
			return protoreflect.Value{}, false
		}
		if fd.IsList() {
			l := m.Mutable(fd).List()
			for range rapid.IntRange(0, 2).Draw(t, label+" len") {
				if v, ok := draw(); ok {
					l.Append(v)
				}
			}
			continue
		}
		if v, ok := draw(); ok {
			m.Set(fd, v)
		}
	}
}
