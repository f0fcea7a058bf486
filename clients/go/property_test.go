package fieldsync

import (
	"context"
	"errors"
	"flag"
	"os"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"pgregory.net/rapid"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

var long = flag.Bool("fieldsync.long", false, "run property tests with 1000 checks (default: 10, or -rapid.checks)")

// propChecks sets rapid's number of checks for this test unless
// -rapid.checks was given: 10, or 1000 with -fieldsync.long.
func propChecks(t *testing.T) {
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
	if explicit {
		return
	}
	n := 10
	if *long {
		n = 1000
	}
	old := flag.Lookup("rapid.checks").Value.String()
	if err := flag.Set("rapid.checks", strconv.Itoa(n)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { flag.Set("rapid.checks", old) })
}

// propDevice is one device of the property test.
type propDevice struct {
	name     string
	role     string
	userID   string
	deviceID string
	token    string
	path     string
	ft       *faultTransport
	c        *Client
	stamped  int // local writes made: the seqs it used
}

// propWrite is a local write the test made, as it went into the outbox.
type propWrite struct {
	dev *propDevice
	e   entry
}

// world is the state of one check: a server, its devices, every write made.
type world struct {
	e      *env
	devs   []*propDevice
	writes []propWrite
	rep1   string
	rep2   string
}

func TestConvergenceProperty(t *testing.T) {
	propChecks(t)
	root := t.TempDir()
	rapid.Check(t, func(rt *rapid.T) {
		dir, err := os.MkdirTemp(root, "check")
		if err != nil {
			rt.Fatal(err)
		}
		w := newWorld(rt, dir)
		rt.Repeat(map[string]func(*rapid.T){
			"create":   w.create,
			"edit":     w.edit,
			"tag":      w.tag,
			"reassign": w.reassign,
			"delete":   w.delete,
			"sync":     w.sync,
			"restart":  w.restart,
			"crash":    w.crash,
			"invalid":  w.invalid,
		})
		w.quiesce(rt)
		w.check(rt)
	})
}

func newWorld(t *rapid.T, dir string) *world {
	e := startIn(t, dir)
	w := &world{e: e, rep1: e.user("rep", 0).UserID, rep2: e.user("rep", 1).UserID}
	add := func(name, role string, i int) {
		u := e.user(role, i)
		w.addDevice(t, name, role, u.UserID, u.DeviceToken, u.DeviceID)
	}
	add("rep1-a", "rep", 0)
	token, id := e.enroll(w.rep1, "second phone")
	w.addDevice(t, "rep1-b", "rep", w.rep1, token, id)
	add("rep2", "rep", 1)
	add("director", "regional_director", 0)
	add("staff", "store_staff", 0)
	add("manager", "store_manager", 0)
	return w
}

func (w *world) addDevice(t *rapid.T, name, role, userID, token, deviceID string) {
	d := &propDevice{name: name, role: role, userID: userID, deviceID: deviceID, token: token, path: w.e.devicePath(), ft: newFaultTransport()}
	d.c = w.open(t, d)
	w.devs = append(w.devs, d)
}

func (w *world) open(t *rapid.T, d *propDevice) *Client {
	return openDevice(t, d.path, WithServer(w.e.d.URL()), WithToken(d.token), WithHTTPClient(d.ft.client()),
		// Pull pages stay at the default size: smaller ones hit
		// TestServerBugPullPageEndingOnScopeExitDropsTheRecord.
		WithBackoff(time.Millisecond, 5*time.Millisecond), WithBatchSize(3))
}

func (w *world) device(t *rapid.T) *propDevice {
	return rapid.SampledFrom(w.devs).Draw(t, "device")
}

var (
	notesValues = []string{"n1", "n2", "n3", "n4", ""}
	tagValues   = []string{"first_contact", "price_negotiation", "technical_demo", "decision_maker_confirmed"}
	nameValues  = []string{"Ruijin", "Huashan", "Zhongshan", "Renji"}
	kindValues  = []fieldsyncv1.VisitKind{fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE, fieldsyncv1.VisitKind_VISIT_KIND_PROCUREMENT, fieldsyncv1.VisitKind_VISIT_KIND_STORE_CUSTOMER}
)

// create makes a new record of a type the device's role writes: a visit
// (shared with the director, or the store), a customer (assigned to a rep,
// or the store's), or a private operation log (reps and store staff).
func (w *world) create(t *rapid.T) {
	w.createOn(t, w.device(t))
}

func (w *world) createOn(t *rapid.T, d *propDevice) {
	types := []string{visitType, customerType}
	if d.role == "rep" || d.role == "store_staff" {
		types = append(types, opLogType)
	}
	var v proto.Message
	switch rapid.SampledFrom(types).Draw(t, "type") {
	case visitType:
		v = w.newVisit(t, d)
	case customerType:
		v = w.newCustomer(t, d)
	default:
		v = &fieldsyncv1.DeviceOperationLog{FormRecordId: rapid.SampledFrom(notesValues[:4]).Draw(t, "form")}
	}
	w.put(t, d, d.c.NewID(), v)
}

func (w *world) newVisit(t *rapid.T, d *propDevice) *fieldsyncv1.Visit {
	v := &fieldsyncv1.Visit{
		Notes: rapid.SampledFrom(notesValues[:4]).Draw(t, "notes"), Kind: rapid.SampledFrom(kindValues).Draw(t, "kind"),
		ActionTags: rapid.SliceOfNDistinct(rapid.SampledFrom(tagValues), 0, 2, rapid.ID).Draw(t, "tags"),
	}
	if d.role == "regional_director" {
		v.OwnerUserId = rapid.SampledFrom([]string{d.userID, w.rep1, w.rep2}).Draw(t, "owner")
	}
	return v
}

func (w *world) newCustomer(t *rapid.T, d *propDevice) *fieldsyncv1.Customer {
	c := &fieldsyncv1.Customer{Name: rapid.SampledFrom(nameValues).Draw(t, "name"), Kind: fieldsyncv1.CustomerKind_CUSTOMER_KIND_HOSPITAL}
	switch d.role {
	case "rep":
		c.AssignedRepId = d.userID
	case "regional_director":
		c.AssignedRepId = rapid.SampledFrom([]string{w.rep1, w.rep2}).Draw(t, "assigned")
	}
	return c
}

// edit changes one last-writer-wins field of a record the device holds.
func (w *world) edit(t *rapid.T) {
	d := w.device(t)
	rec := w.pickOrCreate(t, d, visitType, customerType, opLogType)
	switch v := rec.Value.(type) {
	case *fieldsyncv1.Visit:
		if rapid.Bool().Draw(t, "notes?") {
			v.Notes = rapid.SampledFrom(notesValues).Draw(t, "notes")
			w.put(t, d, rec.ID, v, "notes")
		} else {
			v.Kind = rapid.SampledFrom(kindValues).Draw(t, "kind")
			w.put(t, d, rec.ID, v, "kind")
		}
	case *fieldsyncv1.Customer:
		v.Address = rapid.SampledFrom(notesValues).Draw(t, "address")
		w.put(t, d, rec.ID, v, "address")
	case *fieldsyncv1.DeviceOperationLog:
		v.FormRecordType = rapid.SampledFrom(notesValues).Draw(t, "form type")
		w.put(t, d, rec.ID, v, "form_record_type")
	}
}

// tag adds an action tag to a visit (a set-union field).
func (w *world) tag(t *rapid.T) {
	d := w.device(t)
	rec := w.pickOrCreate(t, d, visitType)
	v := rec.Value.(*fieldsyncv1.Visit)
	v.ActionTags = append(v.ActionTags, rapid.SampledFrom(tagValues).Draw(t, "tag"))
	w.put(t, d, rec.ID, v, "action_tags")
}

// invalid writes what the server must refuse: a server-only field, or a
// submitted clinical-director visit without its mandatory fields.
func (w *world) invalid(t *rapid.T) {
	d := w.device(t)
	if rapid.Bool().Draw(t, "server-only?") {
		rec := w.pickOrCreate(t, d, visitType)
		w.put(t, d, rec.ID, &fieldsyncv1.Visit{Notes: "sneaky", HighValue: true}, "notes", "high_value")
		return
	}
	w.put(t, d, d.c.NewID(), &fieldsyncv1.Visit{
		Status: fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED, Kind: fieldsyncv1.VisitKind_VISIT_KIND_CLINICAL_DIRECTOR,
		CustomerId: "h1", VisitTime: timestamppb.Now(),
	})
}

// reassign moves a customer from one rep to the other (directors only).
func (w *world) reassign(t *rapid.T) {
	d := w.devs[3]
	rec := w.pickOrCreate(t, d, customerType)
	c := rec.Value.(*fieldsyncv1.Customer)
	c.AssignedRepId = map[string]string{w.rep1: w.rep2, w.rep2: w.rep1}[c.AssignedRepId]
	if c.AssignedRepId == "" {
		t.Skip("not a rep's customer")
	}
	w.put(t, d, rec.ID, c, "assigned_rep_id")
}

func (w *world) delete(t *rapid.T) {
	d := w.device(t)
	rec := w.pickOrCreate(t, d, visitType, customerType, opLogType)
	if err := d.c.Delete(context.Background(), rec.Type, rec.ID); err != nil {
		t.Fatalf("%s: delete %s: %v", d.name, rec.ID, err)
	}
	w.logWrite(t, d)
}

// pick draws a record of the types from the device's local view.
func (w *world) pick(t *rapid.T, d *propDevice, types ...string) Record {
	var all []Record
	for _, typ := range types {
		recs, err := d.c.List(context.Background(), typ)
		if err != nil {
			t.Fatalf("%s: list: %v", d.name, err)
		}
		all = append(all, recs...)
	}
	if len(all) == 0 {
		t.Skip("no record to pick")
	}
	return rapid.SampledFrom(all).Draw(t, "record")
}

// pickOrCreate draws a record of the types, creating records on the
// device first when it holds none, so that edits find something to edit.
func (w *world) pickOrCreate(t *rapid.T, d *propDevice, types ...string) Record {
	for range 3 {
		if n := w.count(t, d, types...); n > 0 {
			break
		}
		w.createOn(t, d)
	}
	return w.pick(t, d, types...)
}

func (w *world) count(t *rapid.T, d *propDevice, types ...string) int {
	n := 0
	for _, typ := range types {
		recs, err := d.c.List(context.Background(), typ)
		if err != nil {
			t.Fatalf("%s: list: %v", d.name, err)
		}
		n += len(recs)
	}
	return n
}

func (w *world) put(t *rapid.T, d *propDevice, id string, v proto.Message, fields ...string) {
	if err := d.c.Put(context.Background(), id, v, fields...); err != nil {
		t.Fatalf("%s: put %s: %v", d.name, id, err)
	}
	w.logWrite(t, d)
}

// logWrite notes the device's newest outbox entry as a write of the test.
func (w *world) logWrite(t *rapid.T, d *propDevice) {
	rows, err := d.c.db.read.QueryContext(context.Background(), `SELECT `+entryColumns+` FROM outbox ORDER BY seq DESC LIMIT 1`)
	if err != nil {
		t.Fatal(err)
	}
	es, err := scanEntries(rows)
	if err != nil || len(es) != 1 {
		t.Fatalf("%s: newest outbox entry: %v %v", d.name, es, err)
	}
	d.stamped++
	w.writes = append(w.writes, propWrite{dev: d, e: es[0]})
}

// sync runs a Sync through up to four network faults (dropped requests or
// answers, duplicated and replayed pushes, cut answers); Sync retries
// through them, so it must succeed.
func (w *world) sync(t *rapid.T) {
	d := w.device(t)
	var plan []fault
	for _, f := range rapid.SliceOfN(rapid.IntRange(0, int(numFaults)-1), 0, 4).Draw(t, "faults") {
		plan = append(plan, fault(f))
	}
	d.ft.set(nil, plan...)
	if err := d.c.Sync(context.Background()); err != nil {
		t.Fatalf("%s: sync: %v", d.name, err)
	}
}

// restart closes the device and opens its file again.
func (w *world) restart(t *rapid.T) {
	d := w.device(t)
	w.reopen(t, d)
}

func (w *world) reopen(t *rapid.T, d *propDevice) {
	if err := d.c.Close(); err != nil {
		t.Fatalf("%s: close: %v", d.name, err)
	}
	d.c = w.open(t, d)
}

// crash kills the device during a Sync, after the server handled a call
// and before its answer arrived, then restarts it.
func (w *world) crash(t *rapid.T) {
	d := w.device(t)
	ctx, kill := context.WithCancel(context.Background())
	defer kill()
	d.ft.set(kill, faultDropResponse)
	err := d.c.Sync(ctx)
	d.ft.set(nil)
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("%s: sync through a crash: %v", d.name, err)
	}
	w.reopen(t, d)
}

// quiesce lets every device sync without faults until nothing is left:
// one round pushes every outbox, the next pulls what the others pushed.
func (w *world) quiesce(t *rapid.T) {
	for range 2 {
		for _, d := range w.devs {
			d.ft.set(nil)
			if err := d.c.Sync(context.Background()); err != nil {
				t.Fatalf("%s: final sync: %v", d.name, err)
			}
		}
	}
}

// GoString keeps rapid's logs short.
func (d *propDevice) GoString() string { return d.name }
