package syncengine

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// Version identifies a write: its HLC, then the actor (device id) as
// tie-break. The zero Version is older than every other.
type Version struct {
	HLC   HLC
	Actor string
}

// Less reports whether v is older than o: a smaller HLC, or the same HLC and
// a smaller actor.
func (v Version) Less(o Version) bool {
	if v.HLC != o.HLC {
		return v.HLC < o.HLC
	}
	return v.Actor < o.Actor
}

// IsZero reports whether v is the zero Version (no write).
func (v Version) IsZero() bool { return v == Version{} }

func maxVersion(a, b Version) Version {
	if a.Less(b) {
		return b
	}
	return a
}

// State is a record's stored state. Storage must persist every field.
type State struct {
	// Value is the full merged value; never nil once created.
	Value proto.Message
	// Fields is the version of the last accepted write (or delete) per field
	// name: the newest version that touched the field.
	Fields map[string]Version
	// Elements holds, for each non-empty SET_UNION field, the version of each
	// element of Value's list, index for index: the newest write that
	// carried the element. It lets a late delete remove exactly the elements
	// written before it. A state without it (or with a length that does not
	// match) counts every element as written at the field's version.
	Elements map[string][]Version
	// DeletedAt is the newest delete; zero when never deleted.
	DeletedAt Version
	// Created is the version of the change that created the state (the
	// first one the server applied).
	Created Version
}

// Deleted reports whether the record is deleted: DeletedAt is set and no
// device wrote a field after it (a newer device edit resurrects the
// record). A server write (flag, computed field) never does: whether a
// record is deleted is up to the devices alone.
func (s *State) Deleted() bool {
	if s == nil || s.DeletedAt.IsZero() {
		return false
	}
	for _, v := range s.Fields {
		if v.Actor != ServerActor && s.DeletedAt.Less(v) {
			return false
		}
	}
	return true
}

// Clone returns a deep copy of s (nil for nil).
func (s *State) Clone() *State {
	if s == nil {
		return nil
	}
	c := *s
	if s.Value != nil {
		c.Value = proto.Clone(s.Value)
	}
	c.Fields = maps.Clone(s.Fields)
	c.Elements = make(map[string][]Version, len(s.Elements))
	for k, v := range s.Elements {
		c.Elements[k] = slices.Clone(v)
	}
	return &c
}

// Change is one mutation to apply to a record.
type Change struct {
	// Fields are the top-level field names the change writes (the field
	// mask). A field in the mask but unset in Value is cleared; a field set
	// in Value must be in the mask.
	Fields []string
	// Value is a value of the record type; ignored for a delete.
	Value proto.Message
	// Delete makes the change a tombstone; Fields must then be empty.
	Delete bool
	// At is the change's version; it must not be zero.
	At Version
	// Server marks a write by the server itself: only it may set
	// SERVER_ONLY fields.
	Server bool
}

// Reasons a value lost a merge, as stored in the conflict log.
const (
	LossOlder   = "older"
	LossFrozen  = "frozen after submit"
	LossDeleted = "deleted"
)

// ErrServerOnlyField is wrapped by the error of a change in which a device
// sets a SERVER_ONLY field (errors.Is finds it).
var ErrServerOnlyField = errors.New("server-only field")

// Loss is a value that lost a merge, kept in the conflict log: the
// incoming value, or for a delete the existing value it cleared.
type Loss struct {
	Field string
	// Losing and Winning are values of the record type with only Field set.
	// For SET_UNION fields Losing holds only the elements that were lost.
	Losing, Winning     proto.Message
	LosingAt, WinningAt Version
	// Reason is LossOlder, LossFrozen or LossDeleted.
	Reason string
}

// Merge applies ch to cur (nil for a record not seen yet) and returns the
// new state and the values that lost. cur is never modified, and the
// returned state shares no memory with cur or ch.
//
// Per field, by policy:
//   - LAST_WRITER_WINS: the incoming value wins iff the field's version is
//     older than ch.At; otherwise it is a Loss (LossOlder, or LossDeleted
//     when the field's version is the tombstone's).
//   - SET_UNION: the stored list is the union of every write (elements
//     compared by value, messages by their deterministic encoding). Union
//     cannot remove elements: an empty incoming list changes nothing. The
//     list is ordered by each element's newest write, then by its position
//     in that write, which keeps "current elements, then new ones in
//     incoming order" when writes arrive in HLC order and converges whatever
//     the order. A write older than the record's delete adds nothing: its
//     missing elements are a Loss (LossDeleted).
//   - SERVER_ONLY: a change that is not ch.Server and names such a field
//     fails as a whole.
//   - FROZEN_AFTER_SUBMIT: last writer wins until cur is submitted; after
//     that a different value is a Loss (LossFrozen). The change that
//     submits a record still writes its own frozen fields.
//
// A delete is a tombstone at ch.At that wins over older writes only: every
// field whose version is older is cleared and takes version ch.At (union
// fields lose the elements written before it); the values cleared are
// Losses (LossDeleted). A newer edit resurrects the record with the fields
// it writes. A write whose value equals the current one is never a Loss. A
// delete of a record not seen yet makes a tombstone, so that older edits
// arriving later lose.
//
// Errors, with no state change: *Error CodeInvalid for a zero version, a
// missing value or one of another type, an unknown or nested field name, a
// field set but not in the mask, a delete with a mask; CodePermissionDenied
// (wrapping ErrServerOnlyField) naming the field when a non-server change
// sets a SERVER_ONLY field; CodeFailedPrecondition for a delete of a
// submitted record; CodeInternal when cur has no value of the type.
func (rt *RecordType) Merge(cur *State, ch Change) (*State, []Loss, error) {
	specs, err := rt.checkChange(cur, ch)
	if err != nil {
		return nil, nil, err
	}
	if cur == nil && !ch.Delete {
		next, err := rt.create(specs, ch)
		return next, nil, err
	}
	return rt.merge(cur, ch, specs)
}

// merge is Merge after checkChange, for every case (create applies the
// common one, an edit creating a record, more cheaply).
func (rt *RecordType) merge(cur *State, ch Change, specs []*FieldSpec) (*State, []Loss, error) {
	next, err := rt.begin(cur, ch.At)
	if err != nil {
		return nil, nil, Errorf(CodeInternal, "stored %s record: %v", rt.Name, err)
	}
	if ch.Delete {
		return next, rt.applyDelete(next, ch.At), nil
	}
	in, err := rt.own(ch.Value)
	if err != nil {
		return nil, nil, Errorf(CodeInvalid, "value: %v", err)
	}
	losses, err := rt.applyEdit(next, specs, in.ProtoReflect(), ch.At)
	if err != nil {
		return nil, nil, err
	}
	return next, losses, nil
}

// create is merge of an edit into a record not seen yet, without a field
// by field merge: every masked field is set from the change at ch.At (no
// version is older than ch.At, nothing is frozen yet), so the new value is
// the change's own value less its unknown fields (the checks have made
// sure it sets masked fields only), and each union list keeps its
// distinct elements in order, each at ch.At. Its result equals merge's
// (TestCreateEqualsTheGeneralMergeProperty).
func (rt *RecordType) create(specs []*FieldSpec, ch Change) (*State, error) {
	value, err := rt.own(ch.Value)
	if err != nil {
		return nil, Errorf(CodeInvalid, "value: %v", err)
	}
	m := value.ProtoReflect()
	if len(m.GetUnknown()) > 0 {
		m.SetUnknown(nil)
	}
	s := &State{Value: value, Fields: make(map[string]Version, len(specs)), Created: ch.At}
	for _, f := range specs {
		name := string(f.Desc.Name())
		s.Fields[name] = ch.At
		if f.Merge != fieldsyncv1.MergePolicy_MERGE_POLICY_SET_UNION || !m.Has(f.Desc) {
			continue
		}
		list := m.Get(f.Desc).List()
		if f.Desc.Kind() == protoreflect.StringKind && distinctStrings(list) {
			versions := make([]Version, list.Len())
			for i := range versions {
				versions[i] = ch.At
			}
			if s.Elements == nil {
				s.Elements = make(map[string][]Version, 1)
			}
			s.Elements[name] = versions
			continue
		}
		elems, err := distinct(f.Desc, list, ch.At)
		if err != nil {
			return nil, err
		}
		s.setElements(f, elems)
	}
	if s.Elements == nil {
		s.Elements = map[string][]Version{}
	}
	return s, nil
}

// distinctStrings reports whether a list of strings has no repeats.
func distinctStrings(list protoreflect.List) bool {
	n := list.Len()
	for i := 1; i < n; i++ {
		a := list.Get(i).String()
		for j := range i {
			if list.Get(j).String() == a {
				return false
			}
		}
	}
	return true
}

// begin returns the state a change starts from: a private copy of cur, or
// an empty record created at at.
func (rt *RecordType) begin(cur *State, at Version) (*State, error) {
	if cur == nil {
		return &State{Value: rt.New(), Fields: map[string]Version{}, Elements: map[string][]Version{}, Created: at}, nil
	}
	next := cur.Clone()
	value, err := rt.own(cur.Value)
	if err != nil {
		return nil, err
	}
	next.Value = value
	if next.Fields == nil {
		next.Fields = map[string]Version{}
	}
	return next, nil
}

// own returns a private copy of m as the record type's Go type, converting
// through the wire format when m is another representation of the type
// (a dynamicpb message, say).
func (rt *RecordType) own(m proto.Message) (proto.Message, error) {
	if m.ProtoReflect().Type() == rt.msgType {
		return proto.Clone(m), nil
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, err
	}
	out := rt.New()
	return out, proto.Unmarshal(b, out)
}

// checkChange validates ch against cur and returns the masked fields.
func (rt *RecordType) checkChange(cur *State, ch Change) ([]*FieldSpec, error) {
	switch {
	case cur != nil && !rt.is(cur.Value):
		return nil, Errorf(CodeInternal, "stored state of a %s record has no value of its type", rt.Name)
	case ch.At.IsZero():
		return nil, Errorf(CodeInvalid, "change has no version")
	case ch.Delete && len(ch.Fields) > 0:
		return nil, Errorf(CodeInvalid, "a delete must not carry a field mask")
	case ch.Delete && cur != nil && rt.Submitted(cur.Value):
		return nil, Errorf(CodeFailedPrecondition, "submitted records are audited and cannot be deleted")
	case ch.Delete:
		return nil, nil
	case ch.Value == nil:
		return nil, Errorf(CodeInvalid, "change has no value")
	case !rt.is(ch.Value):
		return nil, Errorf(CodeInvalid, "value is a %s, want %s", ch.Value.ProtoReflect().Descriptor().FullName(), rt.Name)
	}
	specs, err := rt.maskFields(ch.Fields)
	if err != nil {
		return nil, err
	}
	if err := rt.checkUnmasked(ch.Value, specs); err != nil {
		return nil, err
	}
	if !ch.Server {
		return specs, checkServerOnly(specs)
	}
	return specs, nil
}

// maskFields resolves the field mask, ignoring repeated names.
func (rt *RecordType) maskFields(names []string) ([]*FieldSpec, error) {
	specs := make([]*FieldSpec, 0, len(names))
	for _, name := range names {
		spec := rt.Fields[name]
		switch {
		case strings.Contains(name, "."):
			return nil, Errorf(CodeInvalid, "field mask path %q: nested paths are not supported, name a top-level field", name)
		case spec == nil:
			return nil, Errorf(CodeInvalid, "field mask path %q: %s has no such field", name, rt.Name)
		case !slices.Contains(specs, spec):
			specs = append(specs, spec)
		}
	}
	return specs, nil
}

// checkUnmasked refuses a value with a field set that the mask omits. It
// asks each field of the type whether it is set (Has), which reads no
// value (ranging over the set fields reads each one, copying strings).
// A type with extension ranges is ranged over instead, so that a set
// extension is seen too.
func (rt *RecordType) checkUnmasked(v proto.Message, specs []*FieldSpec) error {
	unmasked := func(fd protoreflect.FieldDescriptor) error {
		if slices.ContainsFunc(specs, func(s *FieldSpec) bool { return s.Desc.Number() == fd.Number() }) {
			return nil
		}
		return Errorf(CodeInvalid, "field %q is set but not in the field mask", fd.Name())
	}
	m := v.ProtoReflect()
	if m.Descriptor().ExtensionRanges().Len() > 0 {
		var err error
		m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			err = unmasked(fd)
			return err == nil
		})
		return err
	}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		if fd := fields.Get(i); m.Has(fd) {
			if err := unmasked(fd); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkServerOnly(specs []*FieldSpec) error {
	for _, s := range specs {
		if s.Merge == fieldsyncv1.MergePolicy_MERGE_POLICY_SERVER_ONLY {
			e := Errorf(CodePermissionDenied, "field %q is computed by the server and cannot be set by a device", s.Desc.Name())
			e.Err = ErrServerOnlyField
			return e
		}
	}
	return nil
}

// applyEdit writes the masked fields of in into s by policy.
func (rt *RecordType) applyEdit(s *State, specs []*FieldSpec, in protoreflect.Message, at Version) ([]Loss, error) {
	frozen := rt.Submitted(s.Value)
	var losses []Loss
	for _, f := range specs {
		var loss *Loss
		var err error
		switch {
		case f.Merge == fieldsyncv1.MergePolicy_MERGE_POLICY_SET_UNION:
			loss, err = rt.mergeUnion(s, f, in, at)
		case frozen && f.Merge == fieldsyncv1.MergePolicy_MERGE_POLICY_FROZEN_AFTER_SUBMIT:
			loss = rt.refuseFrozen(s, f, in, at)
		default:
			loss = rt.lastWriterWins(s, f, in, at)
		}
		if err != nil {
			return nil, err
		}
		if loss != nil {
			losses = append(losses, *loss)
		}
	}
	return losses, nil
}

func (rt *RecordType) lastWriterWins(s *State, f *FieldSpec, in protoreflect.Message, at Version) *Loss {
	name, dst := string(f.Desc.Name()), s.Value.ProtoReflect()
	cv := s.Fields[name]
	if cv.Less(at) {
		copyField(dst, in, f.Desc)
		s.Fields[name] = at
		return nil
	}
	if rt.fieldEqual(dst, in, f.Desc) {
		return nil
	}
	reason := LossOlder
	if cv == s.DeletedAt {
		reason = LossDeleted
	}
	return &Loss{Field: name, Losing: rt.only(in, f.Desc), Winning: rt.only(dst, f.Desc),
		LosingAt: at, WinningAt: cv, Reason: reason}
}

func (rt *RecordType) refuseFrozen(s *State, f *FieldSpec, in protoreflect.Message, at Version) *Loss {
	name, dst := string(f.Desc.Name()), s.Value.ProtoReflect()
	if rt.fieldEqual(dst, in, f.Desc) {
		return nil
	}
	return &Loss{Field: name, Losing: rt.only(in, f.Desc), Winning: rt.only(dst, f.Desc),
		LosingAt: at, WinningAt: s.Fields[name], Reason: LossFrozen}
}

// applyDelete writes a tombstone at at into s.
func (rt *RecordType) applyDelete(s *State, at Version) []Loss {
	var losses []Loss
	for _, f := range rt.ordered {
		var loss *Loss
		if f.Merge == fieldsyncv1.MergePolicy_MERGE_POLICY_SET_UNION {
			loss = rt.deleteElements(s, f, at)
		} else {
			loss = rt.deleteField(s, f, at)
		}
		if loss != nil {
			losses = append(losses, *loss)
		}
	}
	s.DeletedAt = maxVersion(s.DeletedAt, at)
	return losses
}

func (rt *RecordType) deleteField(s *State, f *FieldSpec, at Version) *Loss {
	name, dst := string(f.Desc.Name()), s.Value.ProtoReflect()
	cv := s.Fields[name]
	if !cv.Less(at) {
		return nil
	}
	s.Fields[name] = at
	if !dst.Has(f.Desc) {
		return nil
	}
	loss := &Loss{Field: name, Losing: rt.only(dst, f.Desc), Winning: rt.New(),
		LosingAt: cv, WinningAt: at, Reason: LossDeleted}
	dst.Clear(f.Desc)
	return loss
}

// copyField sets fd of dst to src's value, or clears it when src has none.
func copyField(dst, src protoreflect.Message, fd protoreflect.FieldDescriptor) {
	if src.Has(fd) {
		dst.Set(fd, src.Get(fd))
	} else {
		dst.Clear(fd)
	}
}

// only returns a new value of the record type with only fd copied from src.
func (rt *RecordType) only(src protoreflect.Message, fd protoreflect.FieldDescriptor) proto.Message {
	m := rt.New()
	copyField(m.ProtoReflect(), src, fd)
	return proto.Clone(m)
}

func (rt *RecordType) fieldEqual(a, b protoreflect.Message, fd protoreflect.FieldDescriptor) bool {
	return proto.Equal(rt.only(a, fd), rt.only(b, fd))
}

// element is one element of a SET_UNION list with the version of the
// newest write that carried it.
type element struct {
	v   protoreflect.Value
	key string
	at  Version
}

// mergeUnion adds the elements of in's list to s's.
func (rt *RecordType) mergeUnion(s *State, f *FieldSpec, in protoreflect.Message, at Version) (*Loss, error) {
	name := string(f.Desc.Name())
	cur, err := s.elements(f)
	if err != nil {
		return nil, err
	}
	inc, err := distinct(f.Desc, in.Get(f.Desc).List(), at)
	if err != nil {
		return nil, err
	}
	s.Fields[name] = maxVersion(s.Fields[name], at)
	if !at.Less(s.DeletedAt) {
		s.setElements(f, unionAt(cur, inc, at))
		return nil, nil
	}
	lost := slices.DeleteFunc(inc, func(e element) bool { return containsKey(cur, e.key) })
	if len(lost) == 0 {
		return nil, nil
	}
	return &Loss{Field: name, Losing: rt.listOf(f.Desc, lost), Winning: rt.only(s.Value.ProtoReflect(), f.Desc),
		LosingAt: at, WinningAt: s.DeletedAt, Reason: LossDeleted}, nil
}

// unionAt merges inc, written at at, into cur. An element keeps the version
// of its newest write; the list is sorted by that version, and elements of
// one write keep that write's order.
func unionAt(cur, inc []element, at Version) []element {
	out := make([]element, 0, len(cur)+len(inc))
	for _, e := range cur {
		if !(e.at.Less(at) && containsKey(inc, e.key)) {
			out = append(out, e)
		}
	}
	for _, e := range inc {
		if !containsKey(out, e.key) {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.Less(out[j].at) })
	return out
}

// deleteElements removes the elements written before at.
func (rt *RecordType) deleteElements(s *State, f *FieldSpec, at Version) *Loss {
	name := string(f.Desc.Name())
	cur, err := s.elements(f)
	if err != nil {
		cur = nil // unkeyable stored elements: keep nothing, report them all below
	}
	s.Fields[name] = maxVersion(s.Fields[name], at)
	var kept, lost []element
	for _, e := range cur {
		if e.at.Less(at) {
			lost = append(lost, e)
		} else {
			kept = append(kept, e)
		}
	}
	if len(lost) == 0 {
		return nil
	}
	loss := &Loss{Field: name, Losing: rt.listOf(f.Desc, lost), LosingAt: lost[len(lost)-1].at, WinningAt: at, Reason: LossDeleted}
	s.setElements(f, kept)
	loss.Winning = rt.only(s.Value.ProtoReflect(), f.Desc)
	return loss
}

// elements returns s's list for f with each element's version.
func (s *State) elements(f *FieldSpec) ([]element, error) {
	name := string(f.Desc.Name())
	list := s.Value.ProtoReflect().Get(f.Desc).List()
	versions := s.Elements[name]
	out := make([]element, 0, list.Len())
	for i := range list.Len() {
		key, err := elementKey(f.Desc, list.Get(i))
		if err != nil {
			return nil, err
		}
		at := s.Fields[name]
		if len(versions) == list.Len() {
			at = versions[i]
		}
		out = append(out, element{v: list.Get(i), key: key, at: at})
	}
	return out, nil
}

// setElements stores elems as f's list and their versions.
func (s *State) setElements(f *FieldSpec, elems []element) {
	name, dst := string(f.Desc.Name()), s.Value.ProtoReflect()
	if s.Elements == nil {
		s.Elements = map[string][]Version{}
	}
	if len(elems) == 0 {
		dst.Clear(f.Desc)
		delete(s.Elements, name)
		return
	}
	list := dst.NewField(f.Desc).List()
	versions := make([]Version, len(elems))
	for i, e := range elems {
		list.Append(e.v)
		versions[i] = e.at
	}
	dst.Set(f.Desc, protoreflect.ValueOfList(list))
	s.Elements[name] = versions
}

// distinct returns the elements of list without repeats, in order, at at.
func distinct(fd protoreflect.FieldDescriptor, list protoreflect.List, at Version) ([]element, error) {
	out := make([]element, 0, list.Len())
	for i := range list.Len() {
		key, err := elementKey(fd, list.Get(i))
		if err != nil {
			return nil, err
		}
		if !containsKey(out, key) {
			out = append(out, element{v: list.Get(i), key: key, at: at})
		}
	}
	return out, nil
}

// elementKey is the identity of a list element: its value, or for a message
// its deterministic wire encoding.
func elementKey(fd protoreflect.FieldDescriptor, v protoreflect.Value) (string, error) {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(v.Message().Interface())
		if err != nil {
			return "", Errorf(CodeInvalid, "field %q: element cannot be compared: %v", fd.Name(), err)
		}
		return string(b), nil
	case protoreflect.BytesKind:
		return string(v.Bytes()), nil
	case protoreflect.StringKind:
		return v.String(), nil // what fmt.Sprint gives, without boxing the value
	default:
		return fmt.Sprint(v.Interface()), nil
	}
}

func containsKey(elems []element, key string) bool {
	return slices.ContainsFunc(elems, func(e element) bool { return e.key == key })
}

// listOf returns a value of the record type whose field fd holds elems.
func (rt *RecordType) listOf(fd protoreflect.FieldDescriptor, elems []element) proto.Message {
	m := rt.New()
	list := m.ProtoReflect().Mutable(fd).List()
	for _, e := range elems {
		list.Append(e.v)
	}
	return proto.Clone(m)
}
