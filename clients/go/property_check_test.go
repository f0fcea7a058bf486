package fieldsync

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"pgregory.net/rapid"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/sqlite"
)

// snapshot is a device's local view: record id → value.
type snapshot map[string]proto.Message

var propTypes = []string{visitType, customerType, opLogType}

func takeSnapshot(t *rapid.T, name string, c *Client) snapshot {
	s := snapshot{}
	for _, typ := range propTypes {
		recs, err := c.List(context.Background(), typ)
		if err != nil {
			t.Fatalf("%s: list: %v", name, err)
		}
		for _, r := range recs {
			if r.Pending {
				t.Fatalf("%s: %s still pending at quiescence", name, r.ID)
			}
			s[r.ID] = r.Value
		}
	}
	return s
}

// freshSnapshot pulls a token's scope from scratch into a new store.
func (w *world) freshSnapshot(t *rapid.T, name, token string) snapshot {
	c := openDevice(t, w.e.devicePath(), WithServer(w.e.d.URL()), WithToken(token))
	defer c.Close()
	if err := c.Sync(context.Background()); err != nil {
		t.Fatalf("fresh %s: sync: %v", name, err)
	}
	return takeSnapshot(t, "fresh "+name, c)
}

func diffSnapshots(got, want snapshot) error {
	for id, v := range want {
		if g, ok := got[id]; !ok || !proto.Equal(g, v) {
			return fmt.Errorf("record %s: have %v, the server has %v", id, g, v)
		}
	}
	for id, v := range got {
		if _, ok := want[id]; !ok {
			return fmt.Errorf("record %s: have %v, the server does not send it", id, v)
		}
	}
	return nil
}

// check verifies the state at quiescence.
func (w *world) check(t *rapid.T) {
	server := w.checkConverged(t)
	acked := w.acked(t)
	w.checkNothingLost(t, acked, server)
	n := w.checkConflictLog(t, acked)
	w.checkExactlyOnce(t)
	t.Logf("%d writes, %d accepted, %d conflicts, %d records", len(w.writes), len(acked), n, len(server))
}

// checkConverged: every device holds exactly what a fresh pull with its
// token gets. It returns the server's state: the union of the fresh pulls
// and the admin's (sensitive records are visible to their owners only).
func (w *world) checkConverged(t *rapid.T) snapshot {
	server := w.freshSnapshot(t, "admin", w.e.creds.AdminToken)
	for _, d := range w.devs {
		if st, err := d.c.Status(context.Background()); err != nil || st.OutboxDepth != 0 {
			t.Fatalf("%s: status at quiescence %+v %v", d.name, st, err)
		}
		want := w.freshSnapshot(t, d.name, d.token)
		if err := diffSnapshots(takeSnapshot(t, d.name, d.c), want); err != nil {
			t.Fatalf("%s has not converged: %v", d.name, err)
		}
		for id, v := range want {
			server[id] = v
		}
	}
	return server
}

// acked returns the writes the server accepted: all but the rejected ones.
func (w *world) acked(t *rapid.T) []propWrite {
	rejected := map[string]bool{}
	for _, d := range w.devs {
		rj, err := d.c.Rejections(context.Background())
		if err != nil {
			t.Fatalf("%s: rejections: %v", d.name, err)
		}
		for _, r := range rj {
			rejected[fmt.Sprint(d.deviceID, "/", r.Seq)] = true
		}
	}
	var out []propWrite
	for _, pw := range w.writes {
		if !rejected[fmt.Sprint(pw.dev.deviceID, "/", pw.e.Seq)] {
			out = append(out, pw)
		}
	}
	return out
}

// version orders writes as the server does: HLC, then device id.
type version struct {
	hlc   uint64
	actor string
}

func (v version) less(o version) bool {
	if v.hlc != o.hlc {
		return v.hlc < o.hlc
	}
	return v.actor < o.actor
}

func maxVersion(a, b version) version {
	if a.less(b) {
		return b
	}
	return a
}

// expectation is what the server must hold for one record, from the
// accepted writes alone: per last-writer-wins field the value of the newest
// write (cleared when a newer delete, except scope fields, which a
// tombstone keeps where the record was), per set-union field every element
// of the writes newer than the newest delete; deleted when a delete is
// newer than every write.
type expectation struct {
	typ     protoreflect.MessageType
	lastPut version
	deleted version
	lww     map[string]lwwWrite
	union   map[string][]unionWrite
}

type lwwWrite struct {
	at    version
	value proto.Message // the record type with only the field set
}

type unionWrite struct {
	at    version
	value protoreflect.Message
}

func expectations(t *rapid.T, acked []propWrite) map[string]*expectation {
	out := map[string]*expectation{}
	for _, pw := range acked {
		x := out[pw.e.RecordID]
		if x == nil {
			mt, err := lookupType(pw.e.Type)
			if err != nil {
				t.Fatal(err)
			}
			x = &expectation{typ: mt, lww: map[string]lwwWrite{}, union: map[string][]unionWrite{}}
			out[pw.e.RecordID] = x
		}
		x.add(t, pw)
	}
	return out
}

func (x *expectation) add(t *rapid.T, pw propWrite) {
	at := version{pw.e.HLC, pw.dev.deviceID}
	if pw.e.Delete {
		x.deleted = maxVersion(x.deleted, at)
		return
	}
	x.lastPut = maxVersion(x.lastPut, at)
	v, err := decode(x.typ, pw.e.Value)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range pw.e.Fields {
		fd := v.Descriptor().Fields().ByName(protoreflect.Name(f))
		if mergePolicy(fd) == fieldsyncv1.MergePolicy_MERGE_POLICY_SET_UNION {
			x.union[f] = append(x.union[f], unionWrite{at, v})
		} else if cur, ok := x.lww[f]; !ok || cur.at.less(at) {
			x.lww[f] = lwwWrite{at, only(v, fd)}
		}
	}
}

// only returns a copy of v with only field fd.
func only(v protoreflect.Message, fd protoreflect.FieldDescriptor) proto.Message {
	m := v.New()
	if v.Has(fd) {
		m.Set(fd, v.Get(fd))
	}
	return proto.Clone(m.Interface())
}

// checkNothingLost compares the server's state with the expectations.
func (w *world) checkNothingLost(t *rapid.T, acked []propWrite, server snapshot) {
	for id, x := range expectations(t, acked) {
		got, present := server[id]
		gone := x.lastPut == (version{}) || x.lastPut.less(x.deleted)
		if gone || !present {
			if gone != !present {
				t.Fatalf("record %s: present %v on the server, expected deleted %v (%+v)", id, present, gone, x)
			}
			continue
		}
		if err := x.verify(got.ProtoReflect()); err != nil {
			t.Fatalf("record %s: %v\nserver: %v", id, err, got)
		}
	}
}

func (x *expectation) verify(got protoreflect.Message) error {
	for f, lw := range x.lww {
		fd := got.Descriptor().Fields().ByName(protoreflect.Name(f))
		want := lw.value
		if lw.at.less(x.deleted) {
			if isScopeField(fd) {
				continue // kept by the tombstone: its value depends on the order writes arrived in
			}
			want = got.New().Interface() // a newer delete cleared it
		}
		if g := only(got, fd); !proto.Equal(g, want) {
			return fmt.Errorf("field %s: server has %v, the newest accepted write (%v) says %v", f, g, lw.at, want)
		}
	}
	for f, writes := range x.union {
		fd := got.Descriptor().Fields().ByName(protoreflect.Name(f))
		var want []string
		for _, uw := range writes {
			if x.deleted.less(uw.at) {
				want = append(want, listKeys(uw.value, fd)...)
			}
		}
		want = slices.Compact(slices.Sorted(slices.Values(want)))
		if g := slices.Sorted(slices.Values(listKeys(got, fd))); !slices.Equal(g, want) {
			return fmt.Errorf("field %s: server has %q, the union of the accepted writes is %q", f, g, want)
		}
	}
	return nil
}

func isScopeField(fd protoreflect.FieldDescriptor) bool {
	fo, _ := proto.GetExtension(fd.Options(), fieldsyncv1.E_Field).(*fieldsyncv1.FieldSyncOptions)
	return fo.GetScope() != fieldsyncv1.ScopeKey_SCOPE_KEY_UNSPECIFIED
}

func listKeys(m protoreflect.Message, fd protoreflect.FieldDescriptor) []string {
	var out []string
	l := m.Get(fd).List()
	for i := range l.Len() {
		out = append(out, elementKey(fd, l.Get(i)))
	}
	return out
}

// checkConflictLog: the server's log is exactly the conflicts the devices
// were told about, holds no loss twice, and every loss of a test device is
// a value it wrote and the server accepted, lost to a newer write.
func (w *world) checkConflictLog(t *rapid.T, acked []propWrite) int {
	told := map[uint64]Conflict{}
	for _, d := range w.devs {
		cs, err := d.c.Conflicts(context.Background())
		if err != nil {
			t.Fatalf("%s: conflicts: %v", d.name, err)
		}
		for _, c := range cs {
			if c.RecordType != "fieldsync.v1.DeviceOperationLog" { // sensitive: the admin's log leaves it out
				told[c.ID] = c
			}
		}
	}
	log := w.e.serverConflicts("")
	if len(log) != len(told) {
		t.Fatalf("the server logged %d conflicts, the devices were told of %d", len(log), len(told))
	}
	byWrite := map[string]propWrite{}
	for _, pw := range acked {
		byWrite[fmt.Sprint(pw.dev.deviceID, "/", pw.e.HLC)] = pw
	}
	seen := map[string]bool{}
	for _, c := range log {
		if _, ok := told[c.GetId()]; !ok {
			t.Fatalf("conflict %d was never reported to a device: %v", c.GetId(), c)
		}
		key := fmt.Sprint(c.GetRecordId(), c.GetField(), c.GetLosingDeviceId(), c.GetLosingHlc(), c.GetReason())
		if seen[key] {
			t.Fatalf("the same loss is logged twice (a mutation applied twice?): %v", c)
		}
		seen[key] = true
		if err := checkLoss(c, byWrite); err != nil {
			t.Fatalf("conflict %v: %v", c, err)
		}
	}
	return len(log)
}

// serverActor is the actor of the server's own writes in the conflict log.
const serverActor = "server"

// checkLoss checks one logged loss against the accepted writes.
func checkLoss(c *fieldsyncv1.Conflict, byWrite map[string]propWrite) error {
	loser, ok := byWrite[fmt.Sprint(c.GetLosingDeviceId(), "/", c.GetLosingHlc())]
	if !ok {
		if c.GetLosingHlc() == 0 || c.GetLosingDeviceId() == serverActor {
			return nil // a value the server wrote (default scope, demo data), cleared by a delete
		}
		return errors.New("the losing value is no accepted write")
	}
	winner, ok := byWrite[fmt.Sprint(c.GetWinningDeviceId(), "/", c.GetWinningHlc())]
	switch {
	case !ok && c.GetWinningDeviceId() == serverActor:
		return nil // the server's own write (computed fields, demo data)
	case !ok:
		return errors.New("the winning value is no accepted write")
	case loser.e.RecordID != c.GetRecordId() || winner.e.RecordID != c.GetRecordId():
		return errors.New("the writes are of another record")
	case c.GetReason() != "frozen after submit" && !(version{c.GetLosingHlc(), c.GetLosingDeviceId()}).less(version{c.GetWinningHlc(), c.GetWinningDeviceId()}):
		return errors.New("the losing write is not older than the winning one")
	}
	if loser.e.Delete || !slices.Contains(loser.e.Fields, c.GetField()) {
		return nil
	}
	mt, _ := lookupType(loser.e.Type)
	v, err := decode(mt, loser.e.Value)
	if err != nil {
		return err
	}
	fd := v.Descriptor().Fields().ByName(protoreflect.Name(c.GetField()))
	losing, err := unpackAny(c.GetRecordType(), c.GetLosingValue())
	if err != nil {
		return err
	}
	if !fd.IsList() && !proto.Equal(only(v, fd), losing) {
		return fmt.Errorf("logged losing value %v, the write had %v", losing, only(v, fd))
	}
	return nil
}

// checkExactlyOnce: each device's seqs were applied once each — the
// server's last seq is the number of writes the device made — and no
// mutation changed a record twice (one change event per device HLC).
func (w *world) checkExactlyOnce(t *rapid.T) {
	for _, d := range w.devs {
		last, err := lastSeq(w.e.d.Store(), d.deviceID)
		if err != nil {
			t.Fatal(err)
		}
		if last != uint64(d.stamped) {
			t.Fatalf("%s made %d writes, the server applied seqs up to %d", d.name, d.stamped, last)
		}
	}
	lite, ok := w.e.d.Store().(*sqlite.DB) // the SDK's tests run the daemon on SQLite
	if !ok {
		t.Fatalf("the daemon runs on %T, not SQLite", w.e.d.Store())
	}
	rows, err := lite.Reader().QueryContext(context.Background(), `SELECT data FROM outbox WHERE subject LIKE '%.changes.%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var b []byte
		ev := &fieldsyncv1.ChangeEvent{}
		if err := rows.Scan(&b); err != nil || proto.Unmarshal(b, ev) != nil {
			t.Fatalf("read change event: %v", err)
		}
		key := fmt.Sprint(ev.GetDeviceId(), "/", ev.GetHlc(), "/", ev.GetRecordId())
		if seen[key] {
			t.Fatalf("two changes from one mutation (applied twice): %v", ev)
		}
		seen[key] = true
	}
}
