package fieldsync

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// An answer is costed before it is decoded. proto.Unmarshal allocates an
// object for every message and every list element, whatever its size on
// the wire: an empty PhotoRef is two bytes there and about 120 decoded, so
// one Alert of 30 million empty photos, within the 64 MiB an answer may
// have (maxAnswerBytes), took some 4 GB to read (Get, List, a rebase
// under local edits; 4M photos, 8 MiB, took 508 MB). So every answer's items (messages, list elements,
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
//   - a whole answer may hold maxAnswerItems: some 64 MB decoded at the
//     worst (≈ 120 bytes an item), about the answer bound itself, where an
//     honest page (at most 4 MiB of values) holds far fewer.
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
	total, rp := 0, planOf(recordDesc)
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
			n := 1 + rp.count(rec, 1)
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
// (and what it holds); a singular scalar, string or bytes none (a string
// costs its own length). It stops early (the count is a lower bound)
// on malformed data, and past maxAnswerItems.
func countItems(md protoreflect.MessageDescriptor, b []byte, depth int) int {
	return planOf(md).count(b, depth)
}

// A costPlan is what countItems needs of a message type, by field number:
// descriptors' lookups (a map access a field) made the count cost as much
// as decoding the page.
type costPlan struct {
	any    bool // google.protobuf.Any: its value is counted as its type
	flat   bool // no field holds an object (a Timestamp): nothing to walk
	fields []fieldPlan
}

type fieldPlan struct {
	kind uint8     // fieldNone, fieldMessage, fieldPacked or fieldItem
	msg  *costPlan // for fieldMessage
}

const (
	fieldNone    = iota // unknown, or a singular scalar, string or bytes: no object of its own
	fieldMessage        // a message, singular or in a list or map: an object and what it holds
	fieldPacked         // a list of scalars: packed on the wire, or one element a field
	fieldItem           // a list of strings or bytes: an element a field
)

var (
	plansMu  sync.Mutex
	plans    = map[protoreflect.FullName]*costPlan{}
	urlPlans sync.Map // type URL → *costPlan, for Any values
)

// planOf returns md's plan, made once.
func planOf(md protoreflect.MessageDescriptor) *costPlan {
	plansMu.Lock()
	defer plansMu.Unlock()
	return makePlan(md)
}

func makePlan(md protoreflect.MessageDescriptor) *costPlan {
	if p, ok := plans[md.FullName()]; ok {
		return p
	}
	p := &costPlan{any: md.FullName() == "google.protobuf.Any"}
	plans[md.FullName()] = p // before its fields: a type may hold itself
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if int(fd.Number()) > maxPlanField {
			continue // counted as unknown: no schema of ours numbers fields so high
		}
		var f fieldPlan
		switch k := fd.Kind(); {
		case k == protoreflect.MessageKind || k == protoreflect.GroupKind:
			f = fieldPlan{kind: fieldMessage, msg: makePlan(fd.Message())}
		case !fd.IsList():
		case k == protoreflect.StringKind || k == protoreflect.BytesKind:
			f.kind = fieldItem
		default:
			f.kind = fieldPacked
		}
		for len(p.fields) <= int(fd.Number()) {
			p.fields = append(p.fields, fieldPlan{})
		}
		p.fields[fd.Number()] = f
	}
	p.flat = !p.any && !slices.ContainsFunc(p.fields, func(f fieldPlan) bool { return f.kind != fieldNone })
	return p
}

// maxPlanField bounds a plan's field numbers (its slice's length).
const maxPlanField = 1 << 12

func (p *costPlan) count(b []byte, depth int) int {
	switch {
	case p.flat:
		return 0
	case p.any:
		return countAny(b, depth)
	}
	n := 0
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
		if int(num) < len(p.fields) {
			n += p.fields[num].items(typ, b[:l], depth)
		}
		b = b[l:]
	}
	return n
}

// items counts one occurrence of the field on the wire (typ, v).
func (f fieldPlan) items(typ protowire.Type, v []byte, depth int) int {
	switch {
	case f.kind == fieldNone:
		return 0
	case f.kind == fieldMessage && typ == protowire.BytesType && depth < maxCostDepth:
		m, _ := protowire.ConsumeBytes(v)
		return 1 + f.msg.count(m, depth+1)
	case f.kind == fieldPacked && typ == protowire.BytesType:
		return packedItems(v)
	}
	return 1
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
				url = unsafe.String(&x[0], len(x)) // for the lookups only: not kept
			} else if num == anyValue {
				value = x
			}
		}
		b = b[l:]
	}
	if url == "" || len(value) == 0 || depth >= maxCostDepth {
		return 0
	}
	if p, ok := urlPlans.Load(url); ok {
		return p.(*costPlan).count(value, depth+1)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(url)
	if err != nil {
		return 0
	}
	p := planOf(mt.Descriptor())
	if url == "type.googleapis.com/"+string(mt.Descriptor().FullName()) { // not every prefix a server may send
		urlPlans.Store(strings.Clone(url), p)
	}
	return p.count(value, depth+1)
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
