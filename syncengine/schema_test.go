package syncengine

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

const (
	lww    = fieldsyncv1.MergePolicy_MERGE_POLICY_LAST_WRITER_WINS
	union  = fieldsyncv1.MergePolicy_MERGE_POLICY_SET_UNION
	server = fieldsyncv1.MergePolicy_MERGE_POLICY_SERVER_ONLY
	frozen = fieldsyncv1.MergePolicy_MERGE_POLICY_FROZEN_AFTER_SUBMIT
)

// recordType returns a record type of the default registry by short name.
func recordType(t testing.TB, short string) *RecordType {
	t.Helper()
	rt, ok := DefaultRegistry().Lookup("fieldsync.v1." + short)
	if !ok {
		t.Fatalf("record type %s not in the default registry", short)
	}
	return rt
}

func TestDefaultRegistryFindsEveryRecordTypeOfRecordsProto(t *testing.T) {
	t.Parallel()
	want := []string{
		"fieldsync.v1.Alert", "fieldsync.v1.CampaignFeedback", "fieldsync.v1.CampaignMaterial",
		"fieldsync.v1.Commitment", "fieldsync.v1.Customer", "fieldsync.v1.DeviceOperationLog",
		"fieldsync.v1.Diagnosis", "fieldsync.v1.Opportunity", "fieldsync.v1.Quote", "fieldsync.v1.RebateRule",
		"fieldsync.v1.SampleShipment", "fieldsync.v1.SatisfactionRating", "fieldsync.v1.StockLevel", "fieldsync.v1.SurgerySupport",
		"fieldsync.v1.Visit",
	}
	types := DefaultRegistry().Types()
	var got []string
	for _, rt := range types {
		got = append(got, string(rt.Name))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("Types() =\n%v\nwant (sorted)\n%v", got, want)
	}
	if _, ok := DefaultRegistry().Lookup("fieldsync.v1.PhotoRef"); ok {
		t.Fatal("PhotoRef is not a record type")
	}
	if first, again := DefaultRegistry(), DefaultRegistry(); first != again {
		t.Fatal("DefaultRegistry is built more than once")
	}
}

func TestDefaultRegistryReadsMergePoliciesFromFieldOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ, field string
		want       fieldsyncv1.MergePolicy
	}{
		{"Visit", "notes", lww}, // no option: normalised
		{"Visit", "status", frozen},
		{"Visit", "customer_id", frozen},
		{"Visit", "action_tags", union},
		{"Visit", "high_value", server},
		{"SurgerySupport", "consumable_models", union},
		{"SurgerySupport", "pre_op_photo", frozen},
		{"SurgerySupport", "photos_complete", server},
		{"Diagnosis", "photos", union},
		{"Diagnosis", "suggested_work_items", lww},
		{"Quote", "technical_parameters", frozen},
		{"Quote", "complete", server},
		{"CampaignMaterial", "attachments", union},
		{"DeviceOperationLog", "entries", union},
		{"Alert", "recipient_user_id", server},
		{"Alert", "acknowledged_time", lww},
		{"StockLevel", "on_hand", lww},
		{"SampleShipment", "state", lww},
		{"SampleShipment", "recipient_address", frozen},
		{"SampleShipment", "items", frozen},
	}
	for _, tt := range tests {
		spec := recordType(t, tt.typ).Fields[tt.field]
		if spec == nil {
			t.Errorf("%s.%s: no field spec", tt.typ, tt.field)
			continue
		}
		if spec.Merge != tt.want || string(spec.Desc.Name()) != tt.field {
			t.Errorf("%s.%s: merge %v, want %v", tt.typ, tt.field, spec.Merge, tt.want)
		}
	}
}

func TestDefaultRegistryFindsScopeAndStatusFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ                          string
		owner, store, region, status string
	}{
		{"Visit", "owner_user_id", "store_id", "region_id", "status"},
		{"SurgerySupport", "owner_user_id", "", "region_id", "status"},
		{"Diagnosis", "owner_user_id", "store_id", "region_id", "status"},
		{"Quote", "owner_user_id", "store_id", "region_id", "status"},
		{"Commitment", "owner_user_id", "store_id", "region_id", ""},
		{"Customer", "assigned_rep_id", "store_id", "region_id", ""},
		{"Opportunity", "owner_user_id", "store_id", "region_id", ""},
		{"StockLevel", "", "", "region_id", ""},
		{"CampaignMaterial", "owner_user_id", "", "region_id", ""},
		{"CampaignFeedback", "owner_user_id", "", "region_id", ""},
		{"SatisfactionRating", "", "store_id", "region_id", ""},
		{"DeviceOperationLog", "owner_user_id", "", "region_id", ""},
		{"Alert", "recipient_user_id", "", "", ""},
		{"SampleShipment", "owner_user_id", "store_id", "region_id", "status"},
	}
	name := func(fd protoreflect.FieldDescriptor) string {
		if fd == nil {
			return ""
		}
		return string(fd.Name())
	}
	for _, tt := range tests {
		rt := recordType(t, tt.typ)
		got := [4]string{name(rt.Owner), name(rt.Store), name(rt.Region), name(rt.Status)}
		if want := [4]string{tt.owner, tt.store, tt.region, tt.status}; got != want {
			t.Errorf("%s: owner/store/region/status = %q, want %q", tt.typ, got, want)
		}
		if rt.Owner != nil && rt.Fields[name(rt.Owner)].Scope != fieldsyncv1.ScopeKey_SCOPE_KEY_OWNER {
			t.Errorf("%s: owner field spec has scope %v", tt.typ, rt.Fields[name(rt.Owner)].Scope)
		}
	}
}

func TestDefaultRegistryReadsRecordOptions(t *testing.T) {
	t.Parallel()
	if !recordType(t, "DeviceOperationLog").Options.GetSensitive() {
		t.Error("DeviceOperationLog should be sensitive")
	}
	if !recordType(t, "StockLevel").Options.GetShared() || recordType(t, "StockLevel").Options.GetWriterPermission() != "stock:write" {
		t.Error("StockLevel should be shared and writable with stock:write")
	}
	if !recordType(t, "Alert").Options.GetServerCreated() {
		t.Error("Alert should be server-created")
	}
	if got := recordType(t, "CampaignFeedback").Options.GetReaderRoles(); len(got) != 1 || got[0] != fieldsyncv1.Role_ROLE_MARKETING {
		t.Errorf("CampaignFeedback reader roles = %v", got)
	}
}

func TestDefaultRegistryReadsDeliveryAndAlertOptions(t *testing.T) {
	t.Parallel()
	if got := DefaultRegistry().DeliveryTypes(); strings.Join(got, ",") != "fieldsync.v1.Alert,fieldsync.v1.CampaignMaterial" {
		t.Errorf("DeliveryTypes = %v; want Alert and CampaignMaterial", got)
	}
	alert := recordType(t, "Alert")
	if alert.AlertKind == nil || alert.AlertKind.Name() != "kind" {
		t.Fatalf("Alert's alert_kind field = %v; want kind", alert.AlertKind)
	}
	for _, tt := range []struct {
		rt   *RecordType
		m    proto.Message
		want string
		ok   bool
	}{
		{alert, &fieldsyncv1.Alert{Kind: fieldsyncv1.AlertKind_ALERT_KIND_STALLED_CLOSE}, "ALERT_KIND_STALLED_CLOSE", true},
		{alert, &fieldsyncv1.Alert{}, "ALERT_KIND_UNSPECIFIED", true},
		{alert, &fieldsyncv1.Alert{Kind: 99}, "99", true},
		{alert, &fieldsyncv1.Visit{}, "", false},
		{recordType(t, "Visit"), &fieldsyncv1.Visit{}, "", false},
	} {
		if got, ok := tt.rt.AlertKindOf(tt.m); got != tt.want || ok != tt.ok {
			t.Errorf("%s.AlertKindOf(%v) = %q, %v; want %q, %v", tt.rt.Name, tt.m, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRecordTypeNewReturnsTheGeneratedGoType(t *testing.T) {
	t.Parallel()
	if _, ok := recordType(t, "Visit").New().(*fieldsyncv1.Visit); !ok {
		t.Fatalf("New() = %T, want *fieldsyncv1.Visit", recordType(t, "Visit").New())
	}
	for _, rt := range DefaultRegistry().Types() {
		if m := rt.New(); m.ProtoReflect().Descriptor() != rt.Desc || m.ProtoReflect().Type() != rt.msgType {
			t.Errorf("%s: New() has another descriptor or type", rt.Name)
		}
	}
}

func TestRecordTypeScopeReadsAndSetScopeWritesTheScopeFields(t *testing.T) {
	t.Parallel()
	visit := recordType(t, "Visit")
	v := &fieldsyncv1.Visit{OwnerUserId: "u1", StoreId: "s1", RegionId: "r1", Notes: "keep"}
	if got := visit.Scope(v); got != (Scope{Owner: "u1", Store: "s1", Region: "r1"}) {
		t.Fatalf("Scope = %+v", got)
	}
	visit.SetScope(v, Scope{Owner: "u2", Region: "r2"})
	if v.OwnerUserId != "u2" || v.StoreId != "" || v.RegionId != "r2" || v.Notes != "keep" {
		t.Fatalf("after SetScope: %v", v)
	}
	held := proto.Clone(v)
	visit.SetScope(v, Scope{Owner: "u2", Region: "r2"}) // what it holds already
	if !proto.Equal(v, held) {
		t.Fatalf("SetScope of the scope it holds: %v, want %v", v, held)
	}
	stock := recordType(t, "StockLevel") // region only
	s := &fieldsyncv1.StockLevel{RegionId: "r1"}
	stock.SetScope(s, Scope{Owner: "ignored", Store: "ignored", Region: "r9"})
	if got := stock.Scope(s); got != (Scope{Region: "r9"}) {
		t.Fatalf("StockLevel scope = %+v", got)
	}
	if got := visit.Scope(s); got != (Scope{}) {
		t.Fatalf("Scope of a value of another type = %+v, want empty", got)
	}
	visit.SetScope(s, Scope{Region: "x"}) // another type: no-op, no panic
	if visit.Scope((*fieldsyncv1.Visit)(nil)) != (Scope{}) {
		t.Fatal("Scope of a nil value should be empty")
	}
}

func TestRecordTypeSubmittedReadsTheStatusField(t *testing.T) {
	t.Parallel()
	visit := recordType(t, "Visit")
	if visit.Submitted(&fieldsyncv1.Visit{Status: fieldsyncv1.RecordStatus_RECORD_STATUS_DRAFT}) {
		t.Error("a draft is not submitted")
	}
	if !visit.Submitted(&fieldsyncv1.Visit{Status: fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED}) {
		t.Error("a submitted visit is submitted")
	}
	if recordType(t, "Commitment").Submitted(&fieldsyncv1.Commitment{}) {
		t.Error("a type without status is never submitted")
	}
	if visit.Submitted(nil) {
		t.Error("nil is not submitted")
	}
}

// testField is a field of a test descriptor.
func testField(name string, number int32, typ descriptorpb.FieldDescriptorProto_Type, opts *fieldsyncv1.FieldSyncOptions) *descriptorpb.FieldDescriptorProto {
	fd := &descriptorpb.FieldDescriptorProto{
		Name: proto.String(name), Number: proto.Int32(number), Type: typ.Enum(),
		Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
	}
	if typ == descriptorpb.FieldDescriptorProto_TYPE_ENUM {
		fd.TypeName = proto.String(".fieldsync.v1.RecordStatus")
	}
	if opts != nil {
		fd.Options = &descriptorpb.FieldOptions{}
		proto.SetExtension(fd.Options, fieldsyncv1.E_Field, opts)
	}
	return fd
}

func repeated(fd *descriptorpb.FieldDescriptorProto) *descriptorpb.FieldDescriptorProto {
	fd.Label = descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	return fd
}

// testMessage is a message of a test descriptor; opts nil means not a record.
func testMessage(opts *fieldsyncv1.RecordOptions, fields ...*descriptorpb.FieldDescriptorProto) *descriptorpb.DescriptorProto {
	md := &descriptorpb.DescriptorProto{Name: proto.String("Thing"), Field: fields}
	if opts != nil {
		md.Options = &descriptorpb.MessageOptions{}
		proto.SetExtension(md.Options, fieldsyncv1.E_Record, opts)
	}
	return md
}

// testFiles builds a one-file registry in package fstest.v1 that may use
// fieldsync.v1.RecordStatus.
func testFiles(t *testing.T, msgs ...*descriptorpb.DescriptorProto) *protoregistry.Files {
	t.Helper()
	fdp := &descriptorpb.FileDescriptorProto{
		Name: proto.String("fstest/v1/thing.proto"), Package: proto.String("fstest.v1"),
		Syntax: proto.String("proto3"), Dependency: []string{"fieldsync/v1/records.proto"},
		MessageType: msgs,
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatalf("build test descriptor: %v", err)
	}
	files := new(protoregistry.Files)
	if err := files.RegisterFile(fd); err != nil {
		t.Fatalf("register test descriptor: %v", err)
	}
	return files
}

var (
	stringT = descriptorpb.FieldDescriptorProto_TYPE_STRING
	int64T  = descriptorpb.FieldDescriptorProto_TYPE_INT64
	enumT   = descriptorpb.FieldDescriptorProto_TYPE_ENUM
	record  = &fieldsyncv1.RecordOptions{Record: true}
)

func fo(merge fieldsyncv1.MergePolicy, scope fieldsyncv1.ScopeKey) *fieldsyncv1.FieldSyncOptions {
	return &fieldsyncv1.FieldSyncOptions{Merge: merge, Scope: scope}
}

func TestNewRegistryRefusesContradictorySchemas(t *testing.T) {
	t.Parallel()
	alerting := &fieldsyncv1.RecordOptions{Record: true, PublishAlerts: true}
	kind := &fieldsyncv1.FieldSyncOptions{AlertKind: true}
	serverMade := &fieldsyncv1.RecordOptions{Record: true, ServerCreated: true}
	sources := &fieldsyncv1.FieldSyncOptions{PhotoSources: true}
	owner, region := fieldsyncv1.ScopeKey_SCOPE_KEY_OWNER, fieldsyncv1.ScopeKey_SCOPE_KEY_REGION
	oneof := testMessage(record, testField("a", 1, stringT, nil), testField("b", 2, stringT, nil))
	oneof.OneofDecl = []*descriptorpb.OneofDescriptorProto{{Name: proto.String("choice")}}
	oneof.Field[0].OneofIndex, oneof.Field[1].OneofIndex = proto.Int32(0), proto.Int32(0)
	tests := []struct {
		name    string
		msg     *descriptorpb.DescriptorProto
		wantErr string
	}{
		{"SET_UNION on a singular field", testMessage(record, testField("tag", 1, stringT, fo(union, 0))), "SET_UNION needs a repeated"},
		{"two fields with the same scope key", testMessage(record, testField("a", 1, stringT, fo(0, owner)), testField("b", 2, stringT, fo(0, owner))), `already on field "a"`},
		{"scope key on a number", testMessage(record, testField("region", 1, int64T, fo(0, region))), "scope field must be a singular string"},
		{"scope key on a repeated string", testMessage(record, repeated(testField("region", 1, stringT, fo(0, region)))), "scope field must be a singular string"},
		{"status of the wrong type", testMessage(record, testField("status", 1, stringT, fo(frozen, 0))), `"status" must be a singular fieldsync.v1.RecordStatus`},
		{"status that is not frozen", testMessage(record, testField("status", 1, enumT, nil)), "status field must be FROZEN_AFTER_SUBMIT"},
		{"frozen field without status", testMessage(record, testField("x", 1, stringT, fo(frozen, 0))), `need a "status" field`},
		{"oneof field", oneof, "oneof"},
		{"unknown merge policy", testMessage(record, testField("x", 1, stringT, fo(99, 0))), "unknown merge policy 99"},
		{"unknown scope key", testMessage(record, testField("x", 1, stringT, fo(0, 7))), "unknown scope key 7"},
		{"sensitive without owner", testMessage(&fieldsyncv1.RecordOptions{Record: true, Sensitive: true}, testField("x", 1, stringT, nil)), "sensitive type needs an owner"},
		{"sensitive and shared", testMessage(&fieldsyncv1.RecordOptions{Record: true, Sensitive: true, Shared: true}, testField("o", 1, stringT, fo(0, owner))), "both sensitive and shared"},
		{"scope_from naming no record type", testMessage(record, testField("c", 1, stringT, &fieldsyncv1.FieldSyncOptions{ScopeFrom: "fstest.v1.Nope"})), "not a record type"},
		{"scope_from naming a type without region or store", testMessage(record, testField("c", 1, stringT, &fieldsyncv1.FieldSyncOptions{ScopeFrom: "fstest.v1.Thing"})), "no region or store to take"},
		{"scope_from on a number", testMessage(record, testField("c", 1, int64T, &fieldsyncv1.FieldSyncOptions{ScopeFrom: "fstest.v1.Thing"})), "must be a singular string"},
		{"scope_from on a scope field", testMessage(record, testField("c", 1, stringT, &fieldsyncv1.FieldSyncOptions{Scope: region, ScopeFrom: "fstest.v1.Thing"})), "both a scope field and scope_from"},
		{"two scope_from fields", testMessage(record, testField("r", 1, stringT, fo(0, region)),
			testField("a", 2, stringT, &fieldsyncv1.FieldSyncOptions{ScopeFrom: "fstest.v1.Thing"}),
			testField("b", 3, stringT, &fieldsyncv1.FieldSyncOptions{ScopeFrom: "fstest.v1.Thing"})), `scope_from is already on field "a"`},
		{"field option outside a record type", testMessage(nil, testField("x", 1, stringT, fo(union, 0))), "not a record type has no effect"},
		{"alert_kind on a string", testMessage(alerting, testField("kind", 1, stringT, kind)), "alert_kind field must be a singular enum"},
		{"publish_alerts without alert_kind", testMessage(alerting, testField("x", 1, stringT, nil)), "publish_alerts needs exactly one alert_kind"},
		{"alert_kind without publish_alerts", testMessage(record, testField("kind", 1, enumT, kind)), "publish_alerts needs exactly one alert_kind"},
		{"two alert_kind fields", testMessage(alerting, testField("a", 1, enumT, kind), testField("b", 2, enumT, kind)), `alert_kind is already on field "a"`},
		{"photo_hash on a number", testMessage(record, testField("h", 1, int64T, &fieldsyncv1.FieldSyncOptions{PhotoHash: true})), "photo_hash or photo_sources field must be a string"},
		{"photo_sources on a number", testMessage(serverMade, testField("s", 1, int64T, sources)), "photo_hash or photo_sources field must be a string"},
		{"photo_hash and photo_sources", testMessage(serverMade, testField("s", 1, stringT, &fieldsyncv1.FieldSyncOptions{PhotoHash: true, PhotoSources: true})), "both photo_hash and photo_sources"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := NewRegistry(testFiles(t, tt.msg))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewRegistry = %v, %v; want an error containing %q", r, err, tt.wantErr)
			}
		})
	}
	if _, err := NewRegistry(nil); err == nil {
		t.Fatal("NewRegistry(nil) should fail")
	}
}

func TestNewRegistryReportsEveryContradictionAtOnce(t *testing.T) {
	t.Parallel()
	msg := testMessage(record,
		testField("tag", 1, stringT, fo(union, 0)),
		testField("x", 2, int64T, fo(0, fieldsyncv1.ScopeKey_SCOPE_KEY_STORE)))
	_, err := NewRegistry(testFiles(t, msg))
	if err == nil || !strings.Contains(err.Error(), "fstest.v1.Thing.tag") || !strings.Contains(err.Error(), "fstest.v1.Thing.x") {
		t.Fatalf("NewRegistry = %v; want both field errors", err)
	}
}

func TestNewRegistryAcceptsARuntimeSchemaWithDynamicValues(t *testing.T) {
	t.Parallel()
	msg := testMessage(&fieldsyncv1.RecordOptions{Record: true, WriterRoles: []fieldsyncv1.Role{fieldsyncv1.Role_ROLE_REP}},
		testField("status", 1, enumT, fo(frozen, 0)),
		testField("owner", 2, stringT, fo(0, fieldsyncv1.ScopeKey_SCOPE_KEY_OWNER)),
		repeated(testField("tags", 3, stringT, fo(union, 0))),
		testField("note", 4, stringT, nil))
	r, err := NewRegistry(testFiles(t, msg))
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	rt, ok := r.Lookup("fstest.v1.Thing")
	if !ok || len(r.Types()) != 1 {
		t.Fatalf("Lookup = %v, %v; Types = %v", rt, ok, r.Types())
	}
	if rt.Status == nil || rt.Owner == nil || rt.Fields["note"].Merge != lww || rt.Fields["tags"].Merge != union {
		t.Fatalf("record type read wrongly: %+v", rt)
	}
	v := rt.New()
	rt.SetScope(v, Scope{Owner: "u1"})
	v.ProtoReflect().Mutable(rt.Fields["tags"].Desc).List().Append(protoreflect.ValueOfString("a"))
	st, _, err := rt.Merge(nil, Change{Fields: []string{"owner", "tags"}, Value: v, At: Version{HLC: 1, Actor: "d"}})
	if err != nil || rt.Scope(st.Value) != (Scope{Owner: "u1"}) {
		t.Fatalf("Merge on a dynamic type: %v, %v", st, err)
	}
}

func TestPhotoHashFieldsAreOnlyMarkedStrings(t *testing.T) {
	t.Parallel()
	h := strings.Repeat("ab", 32)
	q := &fieldsyncv1.Quote{DiagnosisId: "d1", DiagnosisPhotoSha256S: []string{h, h}, WorkItems: []string{strings.Repeat("cd", 32)}}
	if got := PhotoHashes(q); !slices.Equal(got, []string{h}) {
		t.Errorf("PhotoHashes(quote) = %v, want the cited hash once (work items are no photos)", got)
	}
	if rt, _ := DefaultRegistry().Lookup("fieldsync.v1.Quote"); !rt.HasPhotos() {
		t.Error("Quote has photo fields")
	}
	a := &fieldsyncv1.Alert{RelatedRecordIds: []string{"d1", "d2", "d1"}}
	if got := PhotoSources(a); !slices.Equal(got, []string{"d1", "d2"}) {
		t.Errorf("PhotoSources(alert) = %v, want d1, d2", got)
	}
	if got := PhotoSources(q); !slices.Equal(got, []string{"d1"}) {
		t.Errorf("PhotoSources(quote) = %v, want its diagnosis", got)
	}
}
