package syncengine_test

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"pgregory.net/rapid"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

const diagnosisType = "fieldsync.v1.Diagnosis"

// stored returns a record's stored state, or nil when absent.
func (w *world) stored(id string) *syncengine.StoredRecord {
	w.t.Helper()
	recs, err := w.db.GetRecords(context.Background(), w.tenant, []string{id})
	if err != nil {
		w.t.Fatal(err)
	}
	return recs[id]
}

// flag sets a diagnosis's repeat_photo_flagged as A6 does.
func (w *world) flag(id string) {
	w.t.Helper()
	if err := w.e.FlagRecord(context.Background(), w.tenant, diagnosisType, id, "repeat_photo_flagged"); err != nil {
		w.t.Fatalf("flag %s: %v", id, err)
	}
}

func TestRepeatPhotoFlagDoesNotReviveADeletedRecord(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	id := newID()
	w.push("staff", w.mut("staff", id, &fieldsyncv1.Diagnosis{VehicleModel: "X1"}, "vehicle_model"))
	_, cursor := w.pullAll("manager", "")
	if r := w.push("staff", w.del("staff", diagnosisType, id))[0]; r.Outcome != applied {
		t.Fatalf("delete: %v", r)
	}
	w.flag(id)
	if rec := w.stored(id); !rec.State.Deleted() {
		t.Fatalf("after the flag the record is live again: %v", rec.State.Value)
	}
	if recs, _ := w.pullAll("manager", cursor); recs[id].GetRemoved() != fieldsyncv1.RemovalReason_REMOVAL_REASON_DELETED {
		t.Fatalf("pulled %v, want a deletion", recs[id])
	}
}

func TestFlagOfAMissingRecordCreatesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	id := newID()
	w.flag(id)
	if rec := w.stored(id); rec != nil {
		t.Fatalf("a flag created a stub record: %v", rec.State.Value)
	}
}

func TestDeleteOlderThanAFlagStillDeletes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.otherDevice("staff", "staffB")
	id := newID()
	w.push("staff", w.mut("staff", id, &fieldsyncv1.Diagnosis{VehicleModel: "X1"}, "vehicle_model"))
	// staffB was offline: its delete carries an HLC older than the flag.
	del := w.del("staffB", diagnosisType, id)
	_, cursor := w.pullAll("manager", "")
	w.flag(id)
	if r := w.push("staffB", del)[0]; r.Outcome != applied {
		t.Fatalf("delete: %v", r)
	}
	if rec := w.stored(id); !rec.State.Deleted() {
		t.Fatalf("an applied delete left a live record: %v", rec.State.Value)
	}
	if recs, _ := w.pullAll("manager", cursor); recs[id].GetRemoved() != fieldsyncv1.RemovalReason_REMOVAL_REASON_DELETED {
		t.Fatalf("pulled %v, want a deletion", recs[id])
	}
}

// deviceOp is a device write or delete the property test applied.
type deviceOp struct {
	at     syncengine.Version
	delete bool
}

// TestServerWritesNeverUndoDeviceWritesProperty interleaves device writes
// and deletes (from two devices, with clocks behind and ahead of the
// server's) with server flags and server writes of a device field, and
// checks after every step: a record whose newest device op is a delete is
// deleted and pulled as a removal (and one whose newest op is a write is
// live); a server write leaves every field a device wrote at a newer HLC
// as it was.
func TestServerWritesNeverUndoDeviceWritesProperty(t *testing.T) {
	w := newWorld(t)
	w.otherDevice("staff", "staffB")
	_, cursor := w.pullAll("manager", "")
	rapid.Check(t, func(rt *rapid.T) {
		id := newID()
		start := cursor
		base := w.e.Clock().Now().UnixMilli()
		step := uint16(0)
		hlc := func() syncengine.HLC {
			step++
			return syncengine.MakeHLC(base+rapid.Int64Range(-30, 30).Draw(rt, "ms"), step)
		}
		var ops []deviceOp
		device := func(who string, del bool) {
			var m syncengine.Mutation
			if del {
				m = w.del(who, diagnosisType, id)
			} else {
				v := &fieldsyncv1.Diagnosis{VehicleModel: rapid.SampledFrom([]string{"X1", "X2"}).Draw(rt, "model"),
					FaultSymptoms: fmt.Sprint(step)}
				m = w.mut(who, id, v, "vehicle_model", "fault_symptoms")
			}
			m.HLC = hlc()
			if len(ops) == 0 {
				m.HLC = syncengine.MakeHLC(base, 0) // the create comes first
			}
			r := w.push(who, m)[0]
			if r.Outcome != applied && r.Outcome != merged {
				rt.Fatalf("device op: %v", r)
			}
			ops = append(ops, deviceOp{at: syncengine.Version{HLC: syncengine.HLC(r.AppliedHlc), Actor: w.p[who].DeviceID}, delete: del})
		}
		device("staff", false)
		for range rapid.IntRange(1, 8).Draw(rt, "steps") {
			switch rapid.IntRange(0, 3).Draw(rt, "op") {
			case 0:
				device(rapid.SampledFrom([]string{"staff", "staffB"}).Draw(rt, "who"), false)
			case 1:
				device(rapid.SampledFrom([]string{"staff", "staffB"}).Draw(rt, "who"), true)
			case 2:
				w.checkServerWrite(rt, id, func() { w.flag(id) })
			case 3:
				w.checkServerWrite(rt, id, func() {
					_, err := w.e.ServerWrite(context.Background(), w.tenant, diagnosisType, id,
						&fieldsyncv1.Diagnosis{FaultSymptoms: "seeded"}, []string{"fault_symptoms"})
					if err != nil {
						rt.Fatal(err)
					}
				})
			}
			cursor = w.checkDeletedIffLastDeviceOpIs(rt, id, ops, start)
		}
	})
}

// checkDeletedIffLastDeviceOpIs checks the stored record and what a device
// pulls from start against the newest device op; it returns the new cursor.
func (w *world) checkDeletedIffLastDeviceOpIs(rt *rapid.T, id string, ops []deviceOp, start string) string {
	last := ops[0]
	for _, op := range ops[1:] {
		if last.at.Less(op.at) {
			last = op
		}
	}
	rec := w.stored(id)
	recs, cursor := w.pullAll("manager", start)
	switch {
	case rec == nil:
		rt.Fatalf("record %s is gone", id)
	case rec.State.Deleted() != last.delete:
		rt.Fatalf("deleted = %v, but the newest device op (%v) is a delete: %v", rec.State.Deleted(), last.at, last.delete)
	case (recs[id].GetRemoved() == fieldsyncv1.RemovalReason_REMOVAL_REASON_DELETED) != last.delete:
		rt.Fatalf("pulled %v, newest device op is a delete: %v", recs[id], last.delete)
	}
	return cursor
}

// checkServerWrite runs a server write and checks it changed no field a
// device wrote at a newer version than its own.
func (w *world) checkServerWrite(rt *rapid.T, id string, write func()) {
	before := w.stored(id)
	write()
	after := w.stored(id)
	if after.Version == before.Version {
		return
	}
	at := syncengine.Version{HLC: after.HLC, Actor: syncengine.ServerActor}
	bv, av := before.State.Value.ProtoReflect(), after.State.Value.ProtoReflect()
	for name, v := range before.State.Fields {
		if v.Actor == syncengine.ServerActor || !at.Less(v) {
			continue
		}
		fd := bv.Descriptor().Fields().ByName(protoreflect.Name(name))
		if after.State.Fields[name] != v || !bv.Get(fd).Equal(av.Get(fd)) {
			rt.Fatalf("server write at %v changed %s, written by a device at %v", at, name, v)
		}
	}
}
