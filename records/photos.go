package records

import (
	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// PhotosCompleteType is the record type whose server-only photos_complete
// is set once its required photos are all available on it (package photos
// keeps it current). It is a constant because storage names it literally in
// a query, so that SQLite can use the partial index records_surgery_seq.
const PhotosCompleteType = "fieldsync.v1.SurgerySupport"

// RequiredPhotos returns the photos that must all be set and available on
// a record for its photos_complete: a SurgerySupport's three staged photos
// (pre-op, intra-op, post-op count; unset ones are nil or empty). ok is
// false for a value of any other type.
func RequiredPhotos(m proto.Message) (refs []*fieldsyncv1.PhotoRef, ok bool) {
	ss, ok := m.(*fieldsyncv1.SurgerySupport)
	if !ok {
		return nil, false
	}
	return []*fieldsyncv1.PhotoRef{ss.GetPreOpPhoto(), ss.GetIntraOpPhoto(), ss.GetPostOpCountPhoto()}, true
}

// PhotosComplete reports whether m's photos_complete is set; false for a
// value of another type.
func PhotosComplete(m proto.Message) bool {
	ss, _ := m.(*fieldsyncv1.SurgerySupport)
	return ss.GetPhotosComplete()
}

// PhotosCompleteWrite returns the server write of photos_complete: the
// value to write to a record of PhotosCompleteType and its field mask.
func PhotosCompleteWrite(complete bool) (value proto.Message, fields []string) {
	return &fieldsyncv1.SurgerySupport{PhotosComplete: complete}, []string{"photos_complete"}
}
