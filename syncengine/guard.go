package syncengine

import (
	"regexp"
	"strconv"
	"strings"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Record types often state every message-level rule for one state only:
// the Visit's six CEL rules all begin "this.status != 2 || …" (they
// constrain submitted visits). Evaluating them costs a push about as much
// as the rest of its validation, and for a draft each is true by its first
// term. guardedValidator skips a message's CEL rules when all of them
// share such a guard and the value's field is not the guarded one; every
// other rule, and every rule of a message without a common guard, is
// evaluated as before, so the answer is the same.

// ruleGuard is "this.<field> != <value> || …" at the start of each of a
// message's CEL rules: while field is not value, all of them hold.
type ruleGuard struct {
	field protoreflect.FieldDescriptor
	value int64
}

// guardPrefix matches a rule's guard. A rule containing '?' is never
// guarded: a ternary binds looser than || and would take the guard into
// its condition.
var guardPrefix = regexp.MustCompile(`^this\.([a-z_][a-z0-9_]*) != (-?[0-9]+) \|\| `)

// messageGuard returns the guard all of md's message-level rules share,
// if they are CEL rules only and share one on a singular enum or integer
// field.
func messageGuard(md protoreflect.MessageDescriptor) (ruleGuard, bool) {
	rules, ok := proto.GetExtension(md.Options(), validate.E_Message).(*validate.MessageRules)
	if !ok || len(rules.GetCel()) == 0 {
		return ruleGuard{}, false
	}
	rest := proto.Clone(rules).(*validate.MessageRules)
	rest.Cel = nil
	if proto.Size(rest) != 0 {
		return ruleGuard{}, false // other message-level rules: evaluate all
	}
	var g ruleGuard
	for i, r := range rules.GetCel() {
		name, v, ok := parseGuard(r.GetExpression())
		if !ok {
			return ruleGuard{}, false
		}
		fd := md.Fields().ByName(protoreflect.Name(name))
		switch {
		case fd == nil || fd.Cardinality() == protoreflect.Repeated:
			return ruleGuard{}, false
		case fd.Kind() != protoreflect.EnumKind && fd.Kind() != protoreflect.Int32Kind && fd.Kind() != protoreflect.Int64Kind:
			return ruleGuard{}, false
		case i > 0 && (fd != g.field || v != g.value):
			return ruleGuard{}, false
		}
		g = ruleGuard{field: fd, value: v}
	}
	return g, true
}

// parseGuard returns the field and value of expr's guard, if it has one.
func parseGuard(expr string) (field string, value int64, ok bool) {
	m := guardPrefix.FindStringSubmatch(expr)
	if m == nil || strings.Contains(expr, "?") {
		return "", 0, false
	}
	v, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return m[1], v, true
}

// holds reports whether the guard is true for m: its field is not the value.
func (g ruleGuard) holds(m protoreflect.Message) bool {
	v := m.Get(g.field)
	if g.field.Kind() == protoreflect.EnumKind {
		return int64(v.Enum()) != g.value
	}
	return v.Int() != g.value
}

// guardedValidator is a protovalidate.Validator that skips the guarded
// message-level rules of the record types given to it (see ruleGuard).
type guardedValidator struct {
	v      protovalidate.Validator
	guards map[protoreflect.FullName]ruleGuard
	skip   []protovalidate.ValidationOption
}

func newGuardedValidator(v protovalidate.Validator, types []protoreflect.MessageDescriptor) *guardedValidator {
	gv := &guardedValidator{v: v, guards: map[protoreflect.FullName]ruleGuard{}}
	for _, md := range types {
		if g, ok := messageGuard(md); ok {
			gv.guards[md.FullName()] = g
		}
	}
	gv.skip = []protovalidate.ValidationOption{protovalidate.WithFilter(protovalidate.FilterFunc(gv.shouldValidate))}
	return gv
}

// shouldValidate is the filter: false only for the message-level rules of
// a guarded message whose guard holds.
func (gv *guardedValidator) shouldValidate(m protoreflect.Message, d protoreflect.Descriptor) bool {
	md, ok := d.(protoreflect.MessageDescriptor)
	if !ok {
		return true
	}
	g, ok := gv.guards[md.FullName()]
	return !ok || !g.holds(m)
}

// Validate validates m as protovalidate does.
func (gv *guardedValidator) Validate(m proto.Message) error {
	if _, ok := gv.guards[m.ProtoReflect().Descriptor().FullName()]; !ok {
		return gv.v.Validate(m)
	}
	return gv.v.Validate(m, gv.skip...)
}
