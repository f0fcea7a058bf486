// Package wirecost bounds what decoding an untrusted protobuf message may
// cost in memory, before it is decoded.
//
// Decoding allocates per element of a repeated field, not per byte: an
// empty element is two bytes on the wire and a whole Go struct, a slice
// slot and its share of the slice's regrowth once decoded. Eight MiB of
// empty Mutations in a PushRequest decoded into 613 MB, eight MiB of empty
// photo references in a record value into 485 MB, and gzip delivers either
// in a few kilobytes. The message-size limits bound the bytes, not this.
//
// Proto and JSON walk a message's encoding without decoding it and
// estimate what decoding it would allocate: each message (element, map
// value or singular occurrence) its Go struct, each element of a repeated
// field its slot, each map entry its entry. They refuse a message whose
// estimate passes PerByte bytes for each byte of it plus Slack. Text costs
// about its own length once decoded, so a legitimate message stays far
// below the bound; only many small elements reach it.
package wirecost

import (
	"errors"
	"fmt"
	"reflect"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// PerByte is the memory decoding may cost for each byte of a message.
const PerByte = 16

// Slack is the memory any message may cost beyond PerByte per byte, so a
// small message of a few elements is never refused.
const Slack = 64 << 10

// ErrTooCostly is the error of a message whose decoding would cost more
// than its size allows.
var ErrTooCostly = errors.New("the message holds more elements than its size allows")

// Estimated costs, in bytes, of what decoding allocates besides a
// message's structs (whose sizes come from their Go types). A slot of a
// list costs regrowth times its size: a list decoded element by element
// grows by appends, and Go grows a large slice by a quarter, so the arrays
// it allocates on the way add up to about five times the last one.
const (
	regrowth     = 5
	slotCost     = 8 * regrowth  // a pointer in a slice of messages
	stringCost   = 16 * regrowth // a string header in a slice
	bytesCost    = 24 * regrowth // a slice header in a slice
	mapEntryCost = 48            // a map's per-entry overhead beyond its key and value
	unknownSize  = 64            // a message type not in the registry (dynamic messages)
)

// recursionLimit stops the walk where protobuf-go's decoder stops (its
// default recursion limit): deeper, the decoder fails anyway.
const recursionLimit = 10000

// Proto returns nil when decoding b as a message of md would cost at most
// PerByte×len(b)+Slack bytes, and ErrTooCostly (wrapped, naming the field
// whose elements passed the bound) when it would cost more. A malformed
// b is not its concern: Proto stops where b stops making sense and returns
// nil, leaving the decoder to report the malformation.
func Proto(md protoreflect.MessageDescriptor, b []byte) error {
	p := planOf(md)
	w := walker{left: PerByte*len(b) + Slack - p.size}
	if w.left < 0 {
		return fmt.Errorf("%s: %w", md.FullName(), ErrTooCostly)
	}
	return w.message(p, b, 0)
}

type walker struct {
	left int // bytes the estimate may still grow by
}

// message walks b, the encoding of one message of p.
func (w *walker) message(p *plan, b []byte, depth int) error {
	if depth > recursionLimit {
		return nil
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil
		}
		v := b[:m]
		b = b[m:]
		f := p.field(num)
		if f == nil || f.cost == 0 && f.sub == nil {
			continue // unknown (kept as bytes), or a scalar or string: no more than its bytes
		}
		if err := w.field(f, typ, v, depth); err != nil {
			return err
		}
	}
	return nil
}

// field accounts for one occurrence of f whose value (as on the wire,
// after the tag) is v.
func (w *walker) field(f *fieldPlan, typ protowire.Type, v []byte, depth int) error {
	if f.sub != nil { // a message, a map entry
		if w.left -= f.cost + f.sub.size; w.left < 0 {
			return f.tooCostly()
		}
		var body []byte
		switch typ {
		case protowire.BytesType:
			body, _ = protowire.ConsumeBytes(v)
		case protowire.StartGroupType:
			body, _ = protowire.ConsumeGroup(f.d.Number(), v)
		default:
			return nil
		}
		return w.message(f.sub, body, depth+1)
	}
	n := f.cost
	if f.scalar && typ == protowire.BytesType { // packed scalars
		body, _ := protowire.ConsumeBytes(v)
		n = packedCount(f.d.Kind(), body) * scalarSize(f.d.Kind())
	}
	if w.left -= n; w.left < 0 {
		return f.tooCostly()
	}
	return nil
}

// A plan is what the walk needs of a message type: its struct's size and,
// per field number, what an occurrence of the field costs.
type plan struct {
	size   int
	dense  []*fieldPlan // by number, for numbers below len(dense)
	sparse map[protowire.Number]*fieldPlan
}

type fieldPlan struct {
	d      protoreflect.FieldDescriptor
	cost   int   // per occurrence (a slot, an entry), besides sub's struct
	sub    *plan // the message (or map entry) it holds; nil for scalars and strings
	scalar bool  // a list of scalars: packed occurrences hold many
}

func (p *plan) field(num protowire.Number) *fieldPlan {
	if int(num) < len(p.dense) && num >= 0 {
		return p.dense[num]
	}
	return p.sparse[num]
}

func (f *fieldPlan) tooCostly() error {
	return fmt.Errorf("%s: %w", f.d.FullName(), ErrTooCostly)
}

var plans sync.Map // protoreflect.FullName → *plan

// planOf returns the plan of md, built once.
func planOf(md protoreflect.MessageDescriptor) *plan {
	if p, ok := plans.Load(md.FullName()); ok {
		return p.(*plan)
	}
	planMu.Lock()
	defer planMu.Unlock()
	built := map[protoreflect.FullName]*plan{}
	p := buildPlan(md, built)
	for name, q := range built { // published whole: a walk never sees one being built
		plans.Store(name, q)
	}
	return p
}

var planMu sync.Mutex // serializes building, so recursive types share their plans

// buildPlan builds md's plan and those of the messages it holds into
// building; a recursive type refers to its own plan, under way.
func buildPlan(md protoreflect.MessageDescriptor, building map[protoreflect.FullName]*plan) *plan {
	if p, ok := plans.Load(md.FullName()); ok {
		return p.(*plan)
	}
	if p := building[md.FullName()]; p != nil {
		return p
	}
	p := &plan{size: structSize(md)}
	building[md.FullName()] = p
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		f := &fieldPlan{d: fd}
		switch {
		case fd.IsMap():
			f.cost, f.sub = mapEntryCost, buildPlan(fd.Message(), building)
		case fd.Message() != nil:
			f.sub = buildPlan(fd.Message(), building)
			if fd.IsList() {
				f.cost = slotCost
			}
		case !fd.IsList():
		case fd.Kind() == protoreflect.StringKind:
			f.cost = stringCost
		case fd.Kind() == protoreflect.BytesKind:
			f.cost = bytesCost
		default:
			f.cost, f.scalar = scalarSize(fd.Kind())*regrowth, true
		}
		p.add(fd.Number(), f)
	}
	return p
}

func (p *plan) add(num protowire.Number, f *fieldPlan) {
	if num < 64 {
		for int(num) >= len(p.dense) {
			p.dense = append(p.dense, nil)
		}
		p.dense[num] = f
		return
	}
	if p.sparse == nil {
		p.sparse = map[protowire.Number]*fieldPlan{}
	}
	p.sparse[num] = f
}

// packedCount is the number of scalars of kind k packed in b.
func packedCount(k protoreflect.Kind, b []byte) int {
	switch scalarWire(k) {
	case protowire.Fixed32Type:
		return len(b) / 4
	case protowire.Fixed64Type:
		return len(b) / 8
	}
	n := 0
	for _, c := range b {
		if c < 0x80 {
			n++
		}
	}
	return n
}

func scalarWire(k protoreflect.Kind) protowire.Type {
	switch k {
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return protowire.Fixed64Type
	}
	return protowire.VarintType
}

// scalarSize is the size of a decoded scalar of kind k in a slice.
func scalarSize(k protoreflect.Kind) int {
	switch k {
	case protoreflect.BoolKind:
		return 1
	case protoreflect.Int64Kind, protoreflect.Uint64Kind, protoreflect.Sint64Kind,
		protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return 8
	}
	return 4
}

// structSize is the size of the Go struct a message of md decodes into.
func structSize(md protoreflect.MessageDescriptor) int {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
	if err != nil {
		return unknownSize
	}
	if t := reflect.TypeOf(mt.Zero().Interface()); t.Kind() == reflect.Pointer {
		return int(t.Elem().Size())
	}
	return unknownSize
}
