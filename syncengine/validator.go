package syncengine

import (
	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// recordValidator is the engine's validator of records: protovalidate,
// with the guarded message-level rules skipped (guardedValidator) and the
// fields with printable rules checked natively (textChecks). It answers
// exactly what protovalidate evaluating every rule answers.
type recordValidator struct {
	guarded *guardedValidator
	text    *textChecks
	// skipText skips the guarded rules and every field text checks.
	skipText []protovalidate.ValidationOption
}

// newRecordValidator returns the validator of types. The error names
// fields with a printable rule that are left to protovalidate because the
// native check does not implement one of their rules; the validator is
// correct either way.
func newRecordValidator(v protovalidate.Validator, types []protoreflect.MessageDescriptor) (*recordValidator, error) {
	text, err := newTextChecks(types)
	rv := &recordValidator{guarded: newGuardedValidator(v, types), text: text}
	rv.skipText = []protovalidate.ValidationOption{protovalidate.WithFilter(protovalidate.FilterFunc(rv.shouldValidate))}
	return rv, err
}

// shouldValidate is the filter once the text checks hold: false for a
// field they checked and for the guarded rules.
func (rv *recordValidator) shouldValidate(m protoreflect.Message, d protoreflect.Descriptor) bool {
	if fd, ok := d.(protoreflect.FieldDescriptor); ok {
		return !rv.text.fields[fd]
	}
	return rv.guarded.shouldValidate(m, d)
}

// Validate validates m as protovalidate's Validate does, with the same
// answer: nil, or a *protovalidate.ValidationError listing every violation
// in protovalidate's order (or its compilation or runtime error).
func (rv *recordValidator) Validate(m proto.Message) error {
	pm := m.ProtoReflect()
	if p := rv.text.plans[pm.Descriptor().FullName()]; p != nil && p.holds(pm) {
		return rv.guarded.v.Validate(m, rv.skipText...)
	}
	return rv.guarded.Validate(m)
}
