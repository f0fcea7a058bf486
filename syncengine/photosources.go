package syncengine

import (
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// fieldOptionCache holds each field's (fieldsync.v1.field) options by
// descriptor: the push and pull paths ask for every field of every record
// with photos.
var fieldOptionCache sync.Map // protoreflect.FieldDescriptor → *fieldsyncv1.FieldSyncOptions

// fieldOptions returns fd's (fieldsync.v1.field) options (nil when none).
func fieldOptions(fd protoreflect.FieldDescriptor) *fieldsyncv1.FieldSyncOptions {
	if v, ok := fieldOptionCache.Load(fd); ok {
		return v.(*fieldsyncv1.FieldSyncOptions)
	}
	fo, _ := proto.GetExtension(fd.Options(), fieldsyncv1.E_Field).(*fieldsyncv1.FieldSyncOptions)
	fieldOptionCache.Store(fd, fo)
	return fo
}

// IsPhotoField reports whether a field holds photo references: PhotoRef
// fields and string fields marked (fieldsync.v1.field).photo_hash, singular
// or repeated.
func IsPhotoField(fd protoreflect.FieldDescriptor) bool {
	if md := fd.Message(); md != nil {
		return md.FullName() == photoRefName
	}
	return fd.Kind() == protoreflect.StringKind && !fd.IsMap() && fieldOptions(fd).GetPhotoHash()
}

// PhotoHash returns the hash of one value of a photo field (see
// IsPhotoField): a PhotoRef's sha256, or the string itself.
func PhotoHash(fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	if fd.Message() != nil {
		return v.Message().Interface().(*fieldsyncv1.PhotoRef).GetSha256()
	}
	return v.String()
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
		case fd.Kind() != protoreflect.StringKind || fd.IsMap() || !fieldOptions(fd).GetPhotoSources():
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
