package syncengine

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// statusFieldName and recordStatusEnum are the convention of records.proto:
// a field named "status" of this enum type is a record's status.
const (
	statusFieldName  = "status"
	recordStatusEnum = protoreflect.FullName("fieldsync.v1.RecordStatus")
)

// RecordType is a synced record type, read from the message's
// (fieldsync.v1.record) option and its fields' (fieldsync.v1.field) options.
type RecordType struct {
	Name    protoreflect.FullName // "fieldsync.v1.Visit"
	Desc    protoreflect.MessageDescriptor
	Options *fieldsyncv1.RecordOptions
	// Fields holds every top-level field, by field name.
	Fields map[string]*FieldSpec
	// Status is the "status" field (enum fieldsync.v1.RecordStatus), or nil.
	Status protoreflect.FieldDescriptor
	// Owner, Store and Region are the scope fields; nil when the type has none.
	Owner, Store, Region protoreflect.FieldDescriptor
	// Parent is the field holding the id of the record this one lies with
	// ((fieldsync.v1.field).scope_from), and ParentType that record's type;
	// nil when the type has none.
	Parent     *FieldSpec
	ParentType *RecordType
	// AlertKind is the enum field naming the alerts subject a new record is
	// published on ((fieldsync.v1.field).alert_kind); nil unless the type
	// has publish_alerts.
	AlertKind protoreflect.FieldDescriptor
	// PhotoFields are the top-level fields holding photo refs
	// (fieldsync.v1.PhotoRef, singular or repeated), in field-number order.
	PhotoFields []protoreflect.FieldDescriptor

	msgType protoreflect.MessageType
	ordered []*FieldSpec // Fields by field number
}

// FieldSpec is the sync behaviour of one top-level field of a record type.
type FieldSpec struct {
	Desc protoreflect.FieldDescriptor
	// Merge is the field's policy; UNSPECIFIED is normalised to LAST_WRITER_WINS.
	Merge fieldsyncv1.MergePolicy
	Scope fieldsyncv1.ScopeKey
	// ScopeFrom is the record type whose id the field holds, when the record
	// takes its region and store from that record.
	ScopeFrom protoreflect.FullName
	// AlertKind marks the enum field that names a new record's alerts subject.
	AlertKind bool
}

// Registry holds the record types of a schema, by full name.
type Registry struct {
	byName map[protoreflect.FullName]*RecordType
	sorted []*RecordType
}

// NewRegistry reads every message of files whose (fieldsync.v1.record)
// option has record = true, nested messages included. It returns an error
// listing every contradiction in the schema: SET_UNION on a field that is
// not a list, two fields with the same scope key, a scope field that is not
// a singular string, a "status" field that is not a singular
// fieldsync.v1.RecordStatus or not FROZEN_AFTER_SUBMIT, FROZEN_AFTER_SUBMIT
// fields without a status, a oneof, an unknown policy or scope key, a
// sensitive type without owner or also shared, and a (fieldsync.v1.field)
// option on a message that is not a record type (it would have no effect).
func NewRegistry(files *protoregistry.Files) (*Registry, error) {
	if files == nil {
		return nil, errors.New("schema: no files")
	}
	r := &Registry{byName: make(map[protoreflect.FullName]*RecordType)}
	var errs []error
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		errs = append(errs, r.addMessages(fd.Messages())...)
		return true
	})
	errs = append(errs, r.linkParents()...)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	sort.Slice(r.sorted, func(i, j int) bool { return r.sorted[i].Name < r.sorted[j].Name })
	return r, nil
}

func (r *Registry) addMessages(msgs protoreflect.MessageDescriptors) []error {
	var errs []error
	for i := range msgs.Len() {
		md := msgs.Get(i)
		errs = append(errs, r.addMessages(md.Messages())...)
		opts, _ := proto.GetExtension(md.Options(), fieldsyncv1.E_Record).(*fieldsyncv1.RecordOptions)
		if !opts.GetRecord() {
			errs = append(errs, checkNoFieldOptions(md)...)
			continue
		}
		rt, typeErrs := newRecordType(md, opts)
		if len(typeErrs) > 0 {
			errs = append(errs, typeErrs...)
			continue
		}
		r.byName[rt.Name] = rt
		r.sorted = append(r.sorted, rt)
	}
	return errs
}

// linkParents resolves each scope_from to its record type, which must be
// another record type with a region or store to take.
func (r *Registry) linkParents() []error {
	var errs []error
	for _, rt := range r.sorted {
		if rt.Parent == nil {
			continue
		}
		pt, ok := r.byName[rt.Parent.ScopeFrom]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: scope_from names %q, not a record type", rt.Parent.Desc.FullName(), rt.Parent.ScopeFrom))
		case pt == rt || (pt.Region == nil && pt.Store == nil):
			errs = append(errs, fmt.Errorf("%s: scope_from %s has no region or store to take", rt.Parent.Desc.FullName(), pt.Name))
		default:
			rt.ParentType = pt
		}
	}
	return errs
}

// checkNoFieldOptions refuses field options on a message that is not a
// record type: the engine never reads them, so they would silently do nothing.
func checkNoFieldOptions(md protoreflect.MessageDescriptor) []error {
	var errs []error
	for i := range md.Fields().Len() {
		fd := md.Fields().Get(i)
		if proto.HasExtension(fd.Options(), fieldsyncv1.E_Field) {
			errs = append(errs, fmt.Errorf("%s: (fieldsync.v1.field) on a message that is not a record type has no effect", fd.FullName()))
		}
	}
	return errs
}

func newRecordType(md protoreflect.MessageDescriptor, opts *fieldsyncv1.RecordOptions) (*RecordType, []error) {
	rt := &RecordType{
		Name:    md.FullName(),
		Desc:    md,
		Options: opts,
		Fields:  make(map[string]*FieldSpec, md.Fields().Len()),
		msgType: messageType(md),
	}
	var errs []error
	for i := range md.Fields().Len() {
		fd := md.Fields().Get(i)
		spec, err := newFieldSpec(fd)
		if err == nil {
			err = rt.place(spec)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", fd.FullName(), err))
			continue
		}
		rt.Fields[string(fd.Name())] = spec
		rt.ordered = append(rt.ordered, spec)
	}
	sortSpecs(rt.ordered)
	rt.PhotoFields = photoFields(md)
	errs = append(errs, rt.checkType()...)
	return rt, errs
}

// messageType returns the generated Go type of md when it is linked into the
// binary, so that values are the generated structs, and a dynamic type for
// schemas that are not (descriptors built at run time).
func messageType(md protoreflect.MessageDescriptor) protoreflect.MessageType {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
	if err == nil && mt.Descriptor() == md {
		return mt
	}
	return dynamicpb.NewMessageType(md)
}

func newFieldSpec(fd protoreflect.FieldDescriptor) (*FieldSpec, error) {
	fo, _ := proto.GetExtension(fd.Options(), fieldsyncv1.E_Field).(*fieldsyncv1.FieldSyncOptions)
	spec := &FieldSpec{Desc: fd, Merge: fo.GetMerge(), Scope: fo.GetScope(), ScopeFrom: protoreflect.FullName(fo.GetScopeFrom()), AlertKind: fo.GetAlertKind()}
	if spec.Merge == fieldsyncv1.MergePolicy_MERGE_POLICY_UNSPECIFIED {
		spec.Merge = fieldsyncv1.MergePolicy_MERGE_POLICY_LAST_WRITER_WINS
	}
	switch {
	case spec.Merge.Descriptor().Values().ByNumber(spec.Merge.Number()) == nil:
		return nil, fmt.Errorf("unknown merge policy %d", spec.Merge)
	case spec.Scope.Descriptor().Values().ByNumber(spec.Scope.Number()) == nil:
		return nil, fmt.Errorf("unknown scope key %d", spec.Scope)
	case spec.Merge == fieldsyncv1.MergePolicy_MERGE_POLICY_SET_UNION && !fd.IsList():
		return nil, errors.New("SET_UNION needs a repeated (non-map) field")
	case fd.ContainingOneof() != nil && !fd.ContainingOneof().IsSynthetic():
		return nil, errors.New("oneof fields cannot be merged field by field")
	case (spec.Scope != fieldsyncv1.ScopeKey_SCOPE_KEY_UNSPECIFIED || spec.ScopeFrom != "") &&
		(fd.Kind() != protoreflect.StringKind || fd.Cardinality() == protoreflect.Repeated):
		return nil, errors.New("a scope field must be a singular string (so must a scope_from field)")
	case spec.ScopeFrom != "" && spec.Scope != fieldsyncv1.ScopeKey_SCOPE_KEY_UNSPECIFIED:
		return nil, errors.New("a field cannot be both a scope field and scope_from")
	case spec.AlertKind && (fd.Kind() != protoreflect.EnumKind || fd.IsList()):
		return nil, errors.New("an alert_kind field must be a singular enum")
	case (fo.GetPhotoHash() || fo.GetPhotoSources()) && (fd.Kind() != protoreflect.StringKind || fd.IsMap()):
		return nil, errors.New("a photo_hash or photo_sources field must be a string or repeated string")
	case fo.GetPhotoHash() && fo.GetPhotoSources():
		return nil, errors.New("a field cannot be both photo_hash and photo_sources")
	}
	return spec, nil
}

// place records spec as the status or a scope field of rt when it is one.
func (rt *RecordType) place(spec *FieldSpec) error {
	fd := spec.Desc
	if fd.Name() == statusFieldName {
		if fd.Kind() != protoreflect.EnumKind || fd.IsList() || fd.Enum().FullName() != recordStatusEnum {
			return fmt.Errorf("a field named %q must be a singular %s", statusFieldName, recordStatusEnum)
		}
		if spec.Merge != fieldsyncv1.MergePolicy_MERGE_POLICY_FROZEN_AFTER_SUBMIT {
			return errors.New("the status field must be FROZEN_AFTER_SUBMIT, or a submitted record could go back to draft")
		}
		rt.Status = fd
	}
	if spec.ScopeFrom != "" {
		if rt.Parent != nil {
			return fmt.Errorf("scope_from is already on field %q", rt.Parent.Desc.Name())
		}
		rt.Parent = spec
	}
	if spec.AlertKind {
		if rt.AlertKind != nil {
			return fmt.Errorf("alert_kind is already on field %q", rt.AlertKind.Name())
		}
		rt.AlertKind = fd
	}
	var slot *protoreflect.FieldDescriptor
	switch spec.Scope {
	case fieldsyncv1.ScopeKey_SCOPE_KEY_OWNER:
		slot = &rt.Owner
	case fieldsyncv1.ScopeKey_SCOPE_KEY_STORE:
		slot = &rt.Store
	case fieldsyncv1.ScopeKey_SCOPE_KEY_REGION:
		slot = &rt.Region
	default:
		return nil
	}
	if *slot != nil {
		return fmt.Errorf("scope key %s is already on field %q", spec.Scope, (*slot).Name())
	}
	*slot = fd
	return nil
}

// checkType reports contradictions between a type's options and its fields.
func (rt *RecordType) checkType() []error {
	var errs []error
	if rt.Status == nil && rt.hasPolicy(fieldsyncv1.MergePolicy_MERGE_POLICY_FROZEN_AFTER_SUBMIT) {
		errs = append(errs, fmt.Errorf("%s: FROZEN_AFTER_SUBMIT fields need a %q field", rt.Name, statusFieldName))
	}
	if rt.Options.GetSensitive() && rt.Owner == nil {
		errs = append(errs, fmt.Errorf("%s: a sensitive type needs an owner scope field", rt.Name))
	}
	if rt.Options.GetSensitive() && rt.Options.GetShared() {
		errs = append(errs, fmt.Errorf("%s: a type cannot be both sensitive and shared", rt.Name))
	}
	if rt.Options.GetPublishAlerts() != (rt.AlertKind != nil) {
		errs = append(errs, fmt.Errorf("%s: publish_alerts needs exactly one alert_kind field, and alert_kind needs publish_alerts", rt.Name))
	}
	return errs
}

// sortSpecs orders field specs by field number.
func sortSpecs(specs []*FieldSpec) {
	sort.Slice(specs, func(i, j int) bool { return specs[i].Desc.Number() < specs[j].Desc.Number() })
}

func (rt *RecordType) hasPolicy(p fieldsyncv1.MergePolicy) bool {
	for _, f := range rt.Fields {
		if f.Merge == p {
			return true
		}
	}
	return false
}

var defaultRegistry = sync.OnceValue(func() *Registry {
	r, err := NewRegistry(protoregistry.GlobalFiles)
	if err != nil {
		panic(err)
	}
	return r
})

// DefaultRegistry returns the registry of the record types linked into the
// binary (protoregistry.GlobalFiles), built on first use. It panics when
// that schema is contradictory: a broken schema is a build defect.
func DefaultRegistry() *Registry { return defaultRegistry() }

// Lookup returns the record type with the full name name ("fieldsync.v1.Visit").
func (r *Registry) Lookup(name string) (*RecordType, bool) {
	rt, ok := r.byName[protoreflect.FullName(name)]
	return rt, ok
}

// Types returns every record type, sorted by full name. The slice is the
// caller's; the types are shared and must not be modified.
func (r *Registry) Types() []*RecordType { return slices.Clone(r.sorted) }

// DeliveryTypes returns the full names of the types with delivery_events,
// sorted: each device's first pull of their records is published as an event.
func (r *Registry) DeliveryTypes() []string {
	var out []string
	for _, rt := range r.sorted {
		if rt.Options.GetDeliveryEvents() {
			out = append(out, string(rt.Name))
		}
	}
	return out
}

// AlertKindOf returns the name of m's alert_kind value (its number when the
// enum has no such value); ok is false when the type publishes no alerts
// or m is not of the type.
func (rt *RecordType) AlertKindOf(m proto.Message) (kind string, ok bool) {
	if rt.AlertKind == nil || !rt.is(m) {
		return "", false
	}
	n := m.ProtoReflect().Get(rt.AlertKind).Enum()
	if v := rt.AlertKind.Enum().Values().ByNumber(n); v != nil {
		return string(v.Name()), true
	}
	return strconv.Itoa(int(n)), true
}

// New returns an empty value of the record type: the generated Go type when
// it is linked into the binary.
func (rt *RecordType) New() proto.Message { return rt.msgType.New().Interface() }

// is reports whether m is a non-nil value of the record type.
func (rt *RecordType) is(m proto.Message) bool {
	return m != nil && m.ProtoReflect().IsValid() && m.ProtoReflect().Descriptor().FullName() == rt.Name
}

// Scope reads the owner, store and region of m. Missing scope fields, and
// an m that is not of the record type, read as empty.
func (rt *RecordType) Scope(m proto.Message) Scope {
	if !rt.is(m) {
		return Scope{}
	}
	get := func(fd protoreflect.FieldDescriptor) string {
		if fd == nil {
			return ""
		}
		return m.ProtoReflect().Get(fd).String()
	}
	return Scope{Owner: get(rt.Owner), Store: get(rt.Store), Region: get(rt.Region)}
}

// SetScope writes s into the scope fields the type has (an empty string
// clears the field). It does nothing when m is not of the record type.
func (rt *RecordType) SetScope(m proto.Message, s Scope) {
	if !rt.is(m) {
		return
	}
	set := func(fd protoreflect.FieldDescriptor, v string) {
		if fd == nil {
			return
		}
		// A field that holds v already is left as it is: setting a string
		// through reflection allocates several times over. (A field with
		// presence must still be set to an empty string it lacks.)
		if pm := m.ProtoReflect(); pm.Get(fd).String() != v || v == "" && fd.HasPresence() && !pm.Has(fd) {
			pm.Set(fd, protoreflect.ValueOfString(v))
		}
	}
	set(rt.Owner, s.Owner)
	set(rt.Store, s.Store)
	set(rt.Region, s.Region)
}

// Submitted reports whether m's status is RECORD_STATUS_SUBMITTED. A type
// without status is never submitted.
func (rt *RecordType) Submitted(m proto.Message) bool {
	if rt.Status == nil || !rt.is(m) {
		return false
	}
	return m.ProtoReflect().Get(rt.Status).Enum() == protoreflect.EnumNumber(fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED)
}
