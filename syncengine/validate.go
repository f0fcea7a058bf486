package syncengine

import (
	"errors"
	"strings"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ViolationMessage renders a protovalidate error as "field: message; …",
// naming the offending field of each violation.
func ViolationMessage(err error) string {
	var ve *protovalidate.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	parts := make([]string, 0, len(ve.Violations))
	for _, v := range ve.Violations {
		path := protovalidate.FieldPathString(v.Proto.GetField())
		msg := v.Proto.GetMessage()
		if path == "" || strings.HasPrefix(msg, path) {
			parts = append(parts, msg)
		} else {
			parts = append(parts, path+": "+msg)
		}
	}
	return strings.Join(parts, "; ")
}

// keptValuesOnly reports whether every violation of err lies in a
// top-level field that next holds exactly as cur stored it, or in an item
// of a list that cur's list holds too. A value stored before a rule was
// added or tightened (a name with a line break, stored before names had
// to be printable) does not refuse a write that leaves it alone: the write
// is judged on what it changes (a SET_UNION list can never lose an item,
// so judging it whole refused every later write of it). A violation of
// the record as a whole (a message-level rule), of a list as a whole
// (max_items), or of a changed field or item is never excused.
func keptValuesOnly(err error, cur *StoredRecord, next proto.Message) bool {
	var ve *protovalidate.ValidationError
	if cur == nil || cur.State == nil || cur.State.Value == nil || !errors.As(err, &ve) || len(ve.Violations) == 0 {
		return false
	}
	was, now := cur.State.Value.ProtoReflect(), next.ProtoReflect()
	if was.Descriptor() != now.Descriptor() {
		return false
	}
	for _, v := range ve.Violations {
		path := v.Proto.GetField().GetElements()
		if len(path) == 0 {
			return false
		}
		fd := now.Descriptor().Fields().ByNumber(protoreflect.FieldNumber(path[0].GetFieldNumber()))
		if fd == nil || !sameField(was, now, fd) && !keptItem(was, now, fd, path[0]) {
			return false
		}
	}
	return true
}

// keptItem reports whether at is an item of now's list fd that was's list
// holds too (at any place).
func keptItem(was, now protoreflect.Message, fd protoreflect.FieldDescriptor, at *validate.FieldPathElement) bool {
	if !fd.IsList() || !at.HasIndex() {
		return false
	}
	items, old := now.Get(fd).List(), was.Get(fd).List()
	if at.GetIndex() >= uint64(items.Len()) {
		return false
	}
	item := items.Get(int(at.GetIndex()))
	for i := range old.Len() {
		if old.Get(i).Equal(item) {
			return true
		}
	}
	return false
}

// sameField reports whether a and b, of one type, hold equal values of fd.
func sameField(a, b protoreflect.Message, fd protoreflect.FieldDescriptor) bool {
	if a.Has(fd) != b.Has(fd) {
		return false
	}
	x, y := a.New(), b.New()
	if a.Has(fd) {
		x.Set(fd, a.Get(fd))
		y.Set(fd, b.Get(fd))
	}
	return proto.Equal(x.Interface(), y.Interface())
}
