package insights

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/records"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

// fakeSink is an in-memory AlertWriter and RecordFlagger: idempotent by
// dedup key like the real one, and able to fail on demand.
type fakeSink struct {
	mu       sync.Mutex
	alerts   map[string]*fieldsyncv1.Alert // by dedup key
	order    []string
	flags    map[string]bool // "type/id/field"
	calls    int
	updates  int // alerts replaced with new content
	failNext int // fail this many calls
}

func newFakeSink() *fakeSink {
	return &fakeSink{alerts: map[string]*fieldsyncv1.Alert{}, flags: map[string]bool{}}
}

func (f *fakeSink) fail() error {
	f.calls++
	if f.failNext > 0 {
		f.failNext--
		return fmt.Errorf("fake: unavailable")
	}
	return nil
}

// ServerWrite stores an alert by dedup key, creating or replacing it, and
// counts the writes that changed something.
func (f *fakeSink) ServerWrite(_ context.Context, tenantID, recordType, id string, value proto.Message, fields []string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(); err != nil {
		return false, err
	}
	a := value.(*fieldsyncv1.Alert)
	if id != records.AlertID(tenantID, a.DedupKey) || recordType != records.AlertType {
		return false, fmt.Errorf("fake: alert %s written as %s %s", a.DedupKey, recordType, id)
	}
	old, ok := f.alerts[a.DedupKey]
	if ok && proto.Equal(old, a) {
		return false, nil
	}
	if !ok {
		f.order = append(f.order, a.DedupKey)
	} else {
		f.updates++
	}
	f.alerts[a.DedupKey] = proto.Clone(a).(*fieldsyncv1.Alert)
	return true, nil
}

func (f *fakeSink) FlagRecord(_ context.Context, tenantID, recordType, recordID, field string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail(); err != nil {
		return err
	}
	f.flags[recordType+"/"+recordID+"/"+field] = true
	return nil
}

// list returns the alerts of a kind in the order raised.
func (f *fakeSink) list(kind fieldsyncv1.AlertKind) []*fieldsyncv1.Alert {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*fieldsyncv1.Alert
	for _, k := range f.order {
		if a := f.alerts[k]; a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}

func (f *fakeSink) flagged() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.flags {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// env is a tenant with an organisation in a fresh database, and a Consumer.
//
//	region north: store s1 (alice staff, mgr1 manager), rep bob, rep dave,
//	              director dirN, tech advisor techN
//	region south: store s2 (carol staff, mgr2 manager), director dirS, tech advisor techS
//	marketing:    mkt
type env struct {
	t        testing.TB
	ctx      context.Context
	db       *sqlite.DB
	c        *Consumer
	sink     *fakeSink
	photos   *fakePhotos
	tenant   string
	ids      map[string]string // name → id (regions, stores, users)
	names    map[string]string // id → name
	now      time.Time
	seq      int
	versions map[string]uint64
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, ctx: ctx, db: db, sink: newFakeSink(), photos: &fakePhotos{pending: map[string]bool{}}, ids: map[string]string{}, names: map[string]string{},
		versions: map[string]uint64{}, now: time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)}
	e.c = e.consumer()
	e.setUpOrg()
	return e
}

// consumer returns a new Consumer over the env's database (a "restart").
func (e *env) consumer() *Consumer {
	return &Consumer{DB: e.db, Alerts: e.sink, Flags: e.sink, Now: func() time.Time { return e.now }, Photos: e.photos}
}

// fakePhotos is a PhotoAvailability: a photo is available on every record
// but where a test marked it pending.
type fakePhotos struct {
	mu      sync.Mutex
	pending map[string]bool // "record/sha256"
}

func (f *fakePhotos) PhotoAvailableOn(_ context.Context, _, sha256 string, recordIDs []string) (map[string]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]bool{}
	for _, id := range recordIDs {
		out[id] = !f.pending[id+"/"+sha256]
	}
	return out, nil
}

// setPending marks a photo pending (true) or available on a record.
func (f *fakePhotos) setPending(recordID, sha256 string, pending bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending[recordID+"/"+sha256] = pending
}

func (e *env) name(id, name string) {
	e.ids[name], e.names[id] = id, name
}

func (e *env) setUpOrg() {
	t := e.t
	tenant, err := e.db.CreateTenant(e.ctx, "acme")
	must(t, err)
	e.tenant = tenant.ID
	for _, r := range []string{"north", "south"} {
		reg, err := e.db.CreateRegion(e.ctx, e.tenant, r)
		must(t, err)
		e.name(reg.ID, r)
	}
	for store, region := range map[string]string{"s1": "north", "s2": "south"} {
		s, err := e.db.CreateStore(e.ctx, e.tenant, e.ids[region], store)
		must(t, err)
		e.name(s.ID, store)
	}
	for _, u := range []struct {
		name, region, store string
		role                fieldsyncv1.Role
	}{
		{"alice", "north", "s1", fieldsyncv1.Role_ROLE_STORE_STAFF},
		{"mgr1", "north", "s1", fieldsyncv1.Role_ROLE_STORE_MANAGER},
		{"bob", "north", "", fieldsyncv1.Role_ROLE_REP},
		{"dave", "north", "", fieldsyncv1.Role_ROLE_REP},
		{"dirN", "north", "", fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR},
		{"techN", "north", "", fieldsyncv1.Role_ROLE_TECH_ADVISOR},
		{"carol", "south", "s2", fieldsyncv1.Role_ROLE_STORE_STAFF},
		{"mgr2", "south", "s2", fieldsyncv1.Role_ROLE_STORE_MANAGER},
		{"dirS", "south", "", fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR},
		{"techS", "south", "", fieldsyncv1.Role_ROLE_TECH_ADVISOR},
		{"mkt", "", "", fieldsyncv1.Role_ROLE_MARKETING},
	} {
		usr := &syncengine.User{TenantID: e.tenant, DisplayName: u.name, Role: u.role, RegionID: e.ids[u.region], StoreID: e.ids[u.store]}
		must(t, e.db.CreateUser(e.ctx, usr))
		e.name(usr.ID, u.name)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// id returns the id of a named region, store or user ("" for "").
func (e *env) id(name string) string {
	if name == "" {
		return ""
	}
	id, ok := e.ids[name]
	if !ok {
		e.t.Fatalf("unknown name %q", name)
	}
	return id
}

// event builds a change event for rec, versioned per record, with the
// record's scope fields copied as the sync engine does.
func (e *env) event(op fieldsyncv1.ChangeOp, recordID string, rec proto.Message, commit, hlc time.Time) *fieldsyncv1.ChangeEvent {
	e.seq++
	e.versions[recordID]++
	ev := &fieldsyncv1.ChangeEvent{
		EventId: fmt.Sprintf("ev-%05d", e.seq), Sequence: uint64(e.seq), TenantId: e.tenant, Op: op,
		RecordId: recordID, Version: e.versions[recordID], Hlc: uint64(hlc.UnixMilli()) << 16,
		CommitTime: timestamppb.New(commit),
	}
	if rec != nil {
		ev.RecordType = string(rec.ProtoReflect().Descriptor().FullName())
		v, err := anypb.New(rec)
		must(e.t, err)
		ev.Value = v
		ev.OwnerUserId, ev.StoreId, ev.RegionId = scopeField(rec, "owner_user_id"), scopeField(rec, "store_id"), scopeField(rec, "region_id")
	}
	return ev
}

func scopeField(m proto.Message, name string) string {
	fd := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		return ""
	}
	return m.ProtoReflect().Get(fd).String()
}

// upsert handles an UPSERT of rec committed at commit (HLC = commit).
func (e *env) upsert(recordID string, rec proto.Message, commit time.Time) *fieldsyncv1.ChangeEvent {
	return e.handle(e.event(fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT, recordID, rec, commit, commit))
}

func (e *env) handle(ev *fieldsyncv1.ChangeEvent) *fieldsyncv1.ChangeEvent {
	e.t.Helper()
	if err := e.c.Handle(e.ctx, ev); err != nil {
		e.t.Fatalf("handle %s: %v", ev.EventId, err)
	}
	return ev
}

// delivery is a DELIVERY of material to a device of user at commit.
func (e *env) delivery(materialID, user, device string, commit time.Time) *fieldsyncv1.ChangeEvent {
	ev := e.event(fieldsyncv1.ChangeOp_CHANGE_OP_DELIVERY, materialID, nil, commit, commit)
	ev.RecordType, ev.UserId, ev.DeviceId, ev.DeliveredVersion = materialType, e.id(user), device, 1
	return ev
}

func (e *env) sweep(now time.Time) {
	e.t.Helper()
	e.now = now
	if err := e.c.Sweep(e.ctx, now); err != nil {
		e.t.Fatalf("sweep: %v", err)
	}
}

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// at is 2026-02-dd hh:mm UTC.
func at(day, hour, minute int) time.Time {
	return time.Date(2026, 2, day, hour, minute, 0, 0, time.UTC)
}

func photo(seed string) *fieldsyncv1.PhotoRef {
	sha := fmt.Sprintf("%064x", []byte(seed))
	return &fieldsyncv1.PhotoRef{Sha256: sha[len(sha)-64:], SizeBytes: 1000, ContentType: "image/jpeg"}
}

// Record builders: submitted records in the env's organisation.

func (e *env) visit(owner, customer string, visitTime time.Time, tags ...string) *fieldsyncv1.Visit {
	u := e.user(owner)
	return &fieldsyncv1.Visit{Status: submitted, OwnerUserId: u.ID, RegionId: u.RegionID, StoreId: u.StoreID,
		CustomerId: customer, VisitTime: ts(visitTime), Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, ActionTags: tags}
}

// directorVisit is a clinical-director visit with the first n mandatory fields set.
func (e *env) directorVisit(owner, customer string, visitTime time.Time, n int, tags ...string) *fieldsyncv1.Visit {
	v := e.visit(owner, customer, visitTime, tags...)
	v.Kind = fieldsyncv1.VisitKind_VISIT_KIND_CLINICAL_DIRECTOR
	if n >= 1 {
		v.CoreProblemSolved = "sterile field setup"
	}
	if n >= 2 {
		v.FollowUpCommitments = "send the sizing chart"
	}
	if n >= 3 {
		v.NextAppointmentTime = ts(visitTime.Add(7 * 24 * time.Hour))
	}
	return v
}

func (e *env) diagnosis(owner, customer, conclusion string, photos ...*fieldsyncv1.PhotoRef) *fieldsyncv1.Diagnosis {
	u := e.user(owner)
	return &fieldsyncv1.Diagnosis{Status: submitted, OwnerUserId: u.ID, RegionId: u.RegionID, StoreId: u.StoreID,
		CustomerId: customer, Conclusion: conclusion, VehicleModel: "Sagitar 2019", Photos: photos}
}

// quote has the given technical parameters as name=value pairs.
func (e *env) quote(owner string, params ...string) *fieldsyncv1.Quote {
	u := e.user(owner)
	q := &fieldsyncv1.Quote{Status: submitted, OwnerUserId: u.ID, RegionId: u.RegionID, StoreId: u.StoreID,
		DiagnosisId: "d-x", DiagnosisPhotoSha256S: []string{photo("q").Sha256}}
	for i := 0; i+1 < len(params); i += 2 {
		q.TechnicalParameters = append(q.TechnicalParameters, &fieldsyncv1.TechnicalParameter{Name: params[i], Value: params[i+1]})
	}
	return q
}

// params returns n distinct non-empty parameters.
func params(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("p%d", i), "v")
	}
	return out
}

func (e *env) surgery(owner string, surgeryTime time.Time, photos ...*fieldsyncv1.PhotoRef) *fieldsyncv1.SurgerySupport {
	u := e.user(owner)
	s := &fieldsyncv1.SurgerySupport{Status: submitted, OwnerUserId: u.ID, RegionId: u.RegionID, HospitalId: "h1",
		SurgeryTime: ts(surgeryTime), ConsumableModels: []string{"stent-3x18"}}
	slots := []**fieldsyncv1.PhotoRef{&s.PreOpPhoto, &s.IntraOpPhoto, &s.PostOpCountPhoto}
	for i, p := range photos {
		*slots[i] = p
	}
	return s
}

func (e *env) user(name string) *syncengine.User {
	u, err := e.db.GetUser(e.ctx, e.tenant, e.id(name))
	must(e.t, err)
	return u
}

// upsertAt is an UPSERT of rec made on the device at hlc and committed at
// commit (made offline, pushed later).
func (e *env) upsertAt(recordID string, rec proto.Message, hlc, commit time.Time) *fieldsyncv1.ChangeEvent {
	return e.event(fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT, recordID, rec, commit, hlc)
}

func (e *env) setConfig(mut func(*Config)) {
	cfg := DefaultConfig()
	mut(&cfg)
	must(e.t, SaveConfig(e.ctx, e.db, e.tenant, cfg))
}

// recipients returns the names of the alerts' recipients, sorted.
func (e *env) recipients(alerts []*fieldsyncv1.Alert) []string {
	var out []string
	for _, a := range alerts {
		out = append(out, e.names[a.RecipientUserId])
	}
	slices.Sort(out)
	return out
}
