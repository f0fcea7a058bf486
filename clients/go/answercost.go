package fieldsync

import (
	"errors"
	"fmt"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// An answer is costed before it is decoded. proto.Unmarshal allocates an
// object for every message and every list element, whatever its size on
// the wire: an empty PhotoRef is two bytes there and about 110 decoded, so
// one Alert of 30 million empty photos, within the 64 MiB an answer may
// have (maxAnswerBytes), took some 3.5 GB to read (Get, List, a rebase
// under local edits). So every answer's items (messages, list elements,
// map entries, packed scalars) are counted from its wire bytes, without
// allocating, descending into record values (google.protobuf.Any of a
// known type), and an answer with too many is refused before anything is
// decoded or stored:
//
//   - one record (a PullResponse's Record with its value and photo
//     statuses) may hold maxRecordItems: 16 times what the largest record
//     the server accepts can hold (every list of a record type has a
//     max_items; TestMaxRecordItemsIsGenerous checks the margin), so an
//     honest record is never refused, even one stored before a bound was
//     tightened;
//   - a whole answer may hold maxAnswerItems: some 55 MiB decoded at the
//     worst (≈ 110 bytes an item), about the answer bound itself, where an
//     honest page (at most 4 MiB of values) holds a few hundred thousand.
//
// The refusal is errAnswerCost, wrapped by the codec's caller as
// InvalidArgument ("invalid answer"): Sync does not retry it but returns
// it, so the device keeps its store as it was (the page is not applied)
// and reports the error at every Sync until the server stops sending the
// record; its pushes still go out (Sync pushes before it pulls).
const (
	maxRecordItems = 1 << 16
	maxAnswerItems = 1 << 19
)

// errAnswerCost is the error of an answer refused for its cost.
var errAnswerCost = errors.New("invalid answer")

// maxCostDepth bounds how deep the count descends, as proto.Unmarshal's
// recursion limit (10,000) bounds decoding; deeper is counted as one item.
const maxCostDepth = 10000

var recordDesc = (&fieldsyncv1.Record{}).ProtoReflect().Descriptor()

// checkAnswerCost refuses data, an answer of message md, when decoding it
// would allocate more items than an answer (or one of its records) may.
// Malformed data is not refused here: the decoder refuses it.
func checkAnswerCost(md protoreflect.MessageDescriptor, data []byte) error {
	if md.FullName() != "fieldsync.v1.PullResponse" {
		if n := countItems(md, data, 0); n > maxAnswerItems {
			return fmt.Errorf("%w: %s of more than %d items (messages and list elements)", errAnswerCost, md.FullName(), maxAnswerItems)
		}
		return nil
	}
	total := 0
	for b := data; len(b) > 0; {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil
		}
		b = b[l:]
		l = protowire.ConsumeFieldValue(num, typ, b)
		if l < 0 {
			return nil
		}
		if num == pageRecords && typ == protowire.BytesType {
			rec, _ := protowire.ConsumeBytes(b)
			n := 1 + countItems(recordDesc, rec, 1)
			if n > maxRecordItems {
				id, typ := recordName(rec)
				return fmt.Errorf("%w: record %q (%s) holds more than %d items (messages and list elements)", errAnswerCost, id, typ, maxRecordItems)
			}
			if total += n; total > maxAnswerItems {
				return fmt.Errorf("%w: a page of more than %d items (messages and list elements)", errAnswerCost, maxAnswerItems)
			}
		}
		b = b[l:]
	}
	return nil
}

// countItems counts the objects proto.Unmarshal would allocate for b, a
// message of md, at depth: a nested message or list element counts one
// (and what it holds), a scalar one. Strings and bytes are not counted:
// they cost their own length. It stops early (the count is a lower bound)
// on malformed data, and past maxAnswerItems.
func countItems(md protoreflect.MessageDescriptor, b []byte, depth int) int {
	if md.FullName() == "google.protobuf.Any" {
		return countAny(b, depth)
	}
	n := 0
	fields := md.Fields()
	for len(b) > 0 && n <= maxAnswerItems {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return n
		}
		b = b[l:]
		l = protowire.ConsumeFieldValue(num, typ, b)
		if l < 0 {
			return n
		}
		if fd := fields.ByNumber(num); fd != nil {
			n += fieldItems(fd, typ, b[:l], depth)
		}
		b = b[l:]
	}
	return n
}

// fieldItems counts one occurrence of field fd on the wire (typ, v).
func fieldItems(fd protoreflect.FieldDescriptor, typ protowire.Type, v []byte, depth int) int {
	kind := fd.Kind()
	isMsg := kind == protoreflect.MessageKind || kind == protoreflect.GroupKind
	switch {
	case isMsg && typ == protowire.BytesType:
		m, _ := protowire.ConsumeBytes(v)
		if depth >= maxCostDepth {
			return 1
		}
		return 1 + countItems(fd.Message(), m, depth+1)
	case fd.IsList() && typ == protowire.BytesType && kind != protoreflect.StringKind && kind != protoreflect.BytesKind:
		return packedItems(v) // a packed list
	case fd.IsList() || isMsg:
		return 1
	}
	return 0 // a singular scalar, string or bytes: no object of its own
}

// packedItems is the number of elements of a packed list: its varints,
// or its bytes over 4 (the smallest fixed-width element) at most.
func packedItems(v []byte) int {
	b, _ := protowire.ConsumeBytes(v)
	n := 0
	for _, c := range b {
		if c < 0x80 {
			n++ // the last byte of a varint
		}
	}
	return max(n, len(b)/4)
}

// countAny counts an Any's value as a message of its type when the type is
// one this binary knows (a record value), else as bytes.
func countAny(b []byte, depth int) int {
	var url string
	var value []byte
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return 0
		}
		b = b[l:]
		l = protowire.ConsumeFieldValue(num, typ, b)
		if l < 0 {
			return 0
		}
		if typ == protowire.BytesType && (num == anyTypeURL || num == anyValue) {
			x, _ := protowire.ConsumeBytes(b[:l])
			if num == anyTypeURL && len(x) > 0 {
				url = unsafe.String(&x[0], len(x)) // for the lookup only: not kept
			} else if num == anyValue {
				value = x
			}
		}
		b = b[l:]
	}
	if url == "" || len(value) == 0 || depth >= maxCostDepth {
		return 0
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(url)
	if err != nil {
		return 0
	}
	return countItems(mt.Descriptor(), value, depth+1)
}

// recordName is a record's id and type, read from its wire bytes, for an
// error message (cut to 64 bytes each).
func recordName(b []byte) (id, typ string) {
	for len(b) > 0 {
		num, wt, l := protowire.ConsumeTag(b)
		if l < 0 {
			break
		}
		b = b[l:]
		l = protowire.ConsumeFieldValue(num, wt, b)
		if l < 0 {
			break
		}
		if wt == protowire.BytesType && (num == recID || num == recType) {
			x, _ := protowire.ConsumeBytes(b[:l])
			s := string(x[:min(len(x), 64)])
			if num == recID {
				id = s
			} else {
				typ = s
			}
		}
		b = b[l:]
	}
	return id, typ
}
