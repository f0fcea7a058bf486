package syncengine

import (
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

func isPhotoSources(fd protoreflect.FieldDescriptor) bool {
	fo, _ := proto.GetExtension(fd.Options(), fieldsyncv1.E_Field).(*fieldsyncv1.FieldSyncOptions)
	return fo.GetPhotoSources()
}

// PhotoSources lists the record ids in m's fields marked
// (fieldsync.v1.field).photo_sources, without duplicates: the records m's
// photos come from (see the option's doc in options.proto).
func PhotoSources(m proto.Message) []string {
	var out []string
	seen := map[string]bool{}
	add := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case !isPhotoSources(fd):
		case fd.IsList():
			for i := range v.List().Len() {
				add(v.List().Get(i).String())
			}
		default:
			add(v.String())
		}
		return true
	})
	return out
}
