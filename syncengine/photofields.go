package syncengine

import (
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// Photo fields: the fields of a record type that hold photo refs. The
// registry finds them once per record type (RecordType.PhotoFields).

var photoRefName = (&fieldsyncv1.PhotoRef{}).ProtoReflect().Descriptor().FullName()

// photoFields lists md's top-level PhotoRef fields in field-number order.
func photoFields(md protoreflect.MessageDescriptor) []protoreflect.FieldDescriptor {
	var out []protoreflect.FieldDescriptor
	fds := md.Fields()
	for i := range fds.Len() {
		if fd := fds.Get(i); fd.Message() != nil && fd.Message().FullName() == photoRefName {
			out = append(out, fd)
		}
	}
	slices.SortFunc(out, func(a, b protoreflect.FieldDescriptor) int { return int(a.Number() - b.Number()) })
	return out
}

// HasPhotos reports whether the record type has PhotoRef fields.
func (rt *RecordType) HasPhotos() bool { return len(rt.PhotoFields) > 0 }

// PhotoHashes lists the photo hashes a record of the type refers to (its
// PhotoRef fields, singular or repeated), without duplicates, in field order.
func (rt *RecordType) PhotoHashes(m proto.Message) []string {
	return photoHashes(m.ProtoReflect(), rt.PhotoFields)
}

// PhotoHashes is RecordType.PhotoHashes for any message: it finds the
// message's PhotoRef fields on each call.
func PhotoHashes(m proto.Message) []string {
	pm := m.ProtoReflect()
	return photoHashes(pm, photoFields(pm.Descriptor()))
}

// photoHashes lists the distinct non-empty hashes of the refs in fields.
func photoHashes(m protoreflect.Message, fields []protoreflect.FieldDescriptor) []string {
	var out []string
	seen := map[string]bool{}
	add := func(ref protoreflect.Message) {
		h := ref.Interface().(*fieldsyncv1.PhotoRef).GetSha256()
		if h != "" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	for _, fd := range fields {
		if !m.Has(fd) {
			continue
		}
		if fd.IsList() {
			list := m.Get(fd).List()
			for i := range list.Len() {
				add(list.Get(i).Message())
			}
		} else {
			add(m.Get(fd).Message())
		}
	}
	return out
}
