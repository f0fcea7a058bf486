package fieldsync

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// lookupType returns the message type of a record type name, or an error
// wrapping ErrNotRecordType.
func lookupType(name string) (protoreflect.MessageType, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(name))
	if err != nil || !isRecord(mt.Descriptor()) {
		return nil, fmt.Errorf("%w: %q", ErrNotRecordType, name)
	}
	return mt, nil
}

// isRecord reports whether a message is marked as a synced record type.
func isRecord(md protoreflect.MessageDescriptor) bool {
	opts := md.Options()
	if opts == nil || !proto.HasExtension(opts, fieldsyncv1.E_Record) {
		return false
	}
	ro, _ := proto.GetExtension(opts, fieldsyncv1.E_Record).(*fieldsyncv1.RecordOptions)
	return ro.GetRecord()
}

// mergePolicy returns a field's merge policy.
func mergePolicy(fd protoreflect.FieldDescriptor) fieldsyncv1.MergePolicy {
	opts := fd.Options()
	if opts == nil || !proto.HasExtension(opts, fieldsyncv1.E_Field) {
		return fieldsyncv1.MergePolicy_MERGE_POLICY_UNSPECIFIED
	}
	fo, _ := proto.GetExtension(opts, fieldsyncv1.E_Field).(*fieldsyncv1.FieldSyncOptions)
	return fo.GetMerge()
}

// resolveMask checks the names of a field mask against a record type, or,
// when there are none, lists the fields set in v. Errors wrap
// ErrUnknownField or ErrNoFields.
func resolveMask(v protoreflect.Message, names []string) ([]string, error) {
	md := v.Descriptor()
	if len(names) == 0 {
		v.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			names = append(names, string(fd.Name()))
			return true
		})
		if len(names) == 0 {
			return nil, fmt.Errorf("%w: %s has no field set", ErrNoFields, md.FullName())
		}
		return names, nil
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if strings.Contains(n, ".") || md.Fields().ByName(protoreflect.Name(n)) == nil {
			return nil, fmt.Errorf("%w: %s has no top-level field %q", ErrUnknownField, md.FullName(), n)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// project returns a new message of v's type holding only the named fields
// of v: the value of a mutation, which may set no field outside its mask.
func project(v protoreflect.Message, fields []string) proto.Message {
	out := v.New()
	for _, n := range fields {
		fd := v.Descriptor().Fields().ByName(protoreflect.Name(n))
		if v.Has(fd) {
			out.Set(fd, v.Get(fd))
		}
	}
	return proto.Clone(out.Interface())
}

// applyFields writes the named fields of in into view, as the server will:
// set-union fields add the elements view lacks, every other field takes
// in's value (cleared when in has none).
func applyFields(view, in protoreflect.Message, fields []string) {
	for _, n := range fields {
		fd := view.Descriptor().Fields().ByName(protoreflect.Name(n))
		if fd == nil {
			continue
		}
		switch {
		case fd.IsList() && mergePolicy(fd) == fieldsyncv1.MergePolicy_MERGE_POLICY_SET_UNION:
			unionInto(view, in, fd)
		case in.Has(fd):
			view.Set(fd, in.Get(fd))
		default:
			view.Clear(fd)
		}
	}
}

// unionInto appends to view's list of fd the elements of in's that it lacks.
func unionInto(view, in protoreflect.Message, fd protoreflect.FieldDescriptor) {
	if !in.Has(fd) {
		return
	}
	src := in.Get(fd).List()
	seen := map[string]bool{}
	if view.Has(fd) {
		cur := view.Get(fd).List()
		for i := range cur.Len() {
			seen[elementKey(fd, cur.Get(i))] = true
		}
	}
	for i := range src.Len() {
		k := elementKey(fd, src.Get(i))
		if !seen[k] {
			seen[k] = true
			view.Mutable(fd).List().Append(src.Get(i))
		}
	}
}

// elementKey identifies a list element by value (messages by their
// deterministic encoding), as the server's set union does.
func elementKey(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(v.Message().Interface())
		return string(b)
	case protoreflect.BytesKind:
		return string(v.Bytes())
	default:
		return fmt.Sprint(v.Interface())
	}
}

// joinFields and splitFields store a field mask in one column.
func joinFields(fields []string) string { return strings.Join(fields, ",") }

func splitFields(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
