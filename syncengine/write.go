package syncengine

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/records"
)

// write is one change to one record, by a caller or by the server.
type write struct {
	p      *Principal // nil for server writes
	tenant string     // server writes: the tenant
	rt     *RecordType
	id     string
	at     Version
	change Change
	ingest bool // an integrator's bulk load: may use IngestIDPrefix ids
	// history marks a history import (ImportHistory): its key holds
	// HistoryPermission rather than the type's writer permission, and its
	// change event carries eventTime as its commit time.
	history   bool
	eventTime time.Time
	// prep is the change worked out ahead as a create (Push); used when
	// the record does not exist (see prepared).
	prep *prepared
}

func (w *write) tenantID() string {
	if w.p != nil {
		return w.p.TenantID
	}
	return w.tenant
}

// writeOutcome is what a write did.
type writeOutcome struct {
	at        Version
	losses    []Loss
	version   uint64 // 0 when nothing changed
	conflicts []*fieldsyncv1.Conflict
}

// result turns an outcome into a mutation result.
func (o *writeOutcome) result(m *Mutation) *fieldsyncv1.MutationResult {
	r := &fieldsyncv1.MutationResult{
		Seq: m.Seq, RecordId: m.RecordID,
		Outcome:    fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_APPLIED,
		AppliedHlc: uint64(o.at.HLC),
		Conflicts:  o.conflicts,
	}
	for _, l := range o.losses {
		// A delete's losses are the existing values it cleared, not its own.
		if l.LosingAt == o.at {
			r.LostFields = append(r.LostFields, l.Field)
		}
	}
	if len(r.LostFields) > 0 {
		r.Outcome = fieldsyncv1.MutationOutcome_MUTATION_OUTCOME_MERGED
	}
	return r
}

// commitBatch collects what a transaction changed, for watchers.
type commitBatch struct {
	version uint64
	scopes  []changedScope
}

func (b *commitBatch) add(version uint64, rt *RecordType, scopes ...Scope) {
	b.version = max(b.version, version)
	for _, s := range scopes {
		// A batch's writes mostly land in one scope, and the watchers
		// take the scopes as a set (publish, pokeOf): a repeat of the last
		// is left out rather than walked again after the commit.
		c := changedScope{rt: rt, scope: s}
		if n := len(b.scopes); n > 0 && b.scopes[n-1] == c {
			continue
		}
		b.scopes = append(b.scopes, c)
	}
}

// write merges one change into the stored record and writes the new state,
// its conflicts and its event. Domain errors leave the transaction usable.
func (e *Engine) write(tx Tx, w *write, batch *commitBatch) (*writeOutcome, error) {
	if w.p != nil && !w.rt.Options.GetServerCreated() && records.ReservedID(w.id) {
		return nil, Errorf(CodeInvalid, "record_id: ids starting with %q are reserved for records the server creates", records.ServerIDPrefix)
	}
	if err := checkIngestID(w); err != nil {
		return nil, err
	}
	cur, err := tx.GetRecord(w.tenantID(), w.id)
	if err != nil {
		return nil, err
	}
	before, err := e.checkExisting(w, cur)
	if err != nil {
		return nil, err
	}
	if cur == nil && w.change.Delete || !serverMayWrite(w, cur) {
		return &writeOutcome{at: w.at}, nil // nothing to delete, or to flag
	}
	var curState *State
	if cur != nil {
		curState = cur.State
	}
	var next *State
	var losses []Loss
	if cur == nil && !w.change.Delete && w.prep != nil {
		// Merge's checks and create, done ahead: only the version was missing.
		next = w.prep.stamp(w.at)
	} else if next, losses, err = w.rt.Merge(curState, w.change); err != nil {
		return nil, err
	}
	if w.change.Delete {
		losses = keepPlacement(w.rt, cur, next, losses)
	}
	after, err := e.finish(tx, w, cur, next)
	if err != nil {
		return nil, err
	}
	out := &writeOutcome{at: w.at, losses: losses}
	if err := e.logConflicts(tx, w, after, losses, out); err != nil {
		return nil, err
	}
	if cur != nil && unchanged(cur.State, next) {
		return out, nil
	}
	rec := &StoredRecord{
		TenantID: w.tenantID(), ID: w.id, Type: string(w.rt.Name), State: next, Scope: after,
		HLC: w.at.HLC, Actor: w.at.Actor, UpdatedAt: tx.Now(),
	}
	if w.prep != nil && next.Value == w.prep.value {
		rec.Precoded = w.prep.encoded
	}
	if cur != nil {
		rec.CreatedVersion = cur.CreatedVersion
	}
	var left *Scope
	if before != nil && *before != after {
		left = before
	}
	if out.version, err = tx.PutRecord(rec, left); err != nil {
		return nil, err
	}
	if err := e.emitChange(tx, w, rec, cur == nil); err != nil {
		return nil, err
	}
	batch.add(out.version, w.rt, after)
	if left != nil {
		batch.add(out.version, w.rt, *left)
	}
	return out, nil
}

// serverMayWrite reports whether a server write may touch the record: never
// a deleted one (a flag or a computed field must not bring it back), and a
// missing one only when the write creates it (an alert, seeded data) rather
// than just setting server-only fields of a record that is gone.
func serverMayWrite(w *write, cur *StoredRecord) bool {
	switch {
	case w.p != nil:
		return true
	case cur != nil:
		return !cur.State.Deleted()
	case w.rt.Options.GetServerCreated():
		return true
	}
	return slices.ContainsFunc(w.change.Fields, func(name string) bool {
		spec := w.rt.Fields[name]
		return spec == nil || spec.Merge != fieldsyncv1.MergePolicy_MERGE_POLICY_SERVER_ONLY
	})
}

// keepPlacement restores the scope fields a delete cleared: a tombstone
// stays where the record was, so the devices that saw it get the removal
// (and an edit after the delete brings the record back to the same place).
func keepPlacement(rt *RecordType, cur *StoredRecord, next *State, losses []Loss) []Loss {
	rt.SetScope(next.Value, cur.Scope)
	kept := losses[:0]
	for _, l := range losses {
		if spec := rt.Fields[l.Field]; spec == nil || spec.Scope == fieldsyncv1.ScopeKey_SCOPE_KEY_UNSPECIFIED {
			kept = append(kept, l)
		}
	}
	return kept
}

// checkExisting checks the stored record against the write: in the
// caller's scope, of the same type, and for a device's write to a
// server-created record, the device's own and not a delete. It returns the
// record's scope before the write. A record the caller may not read is
// refused with one answer whatever its type, so the answer tells nothing
// about it.
func (e *Engine) checkExisting(w *write, cur *StoredRecord) (*Scope, error) {
	if cur == nil {
		return nil, nil
	}
	if w.p != nil && !w.history && !e.callerReads(w.p, cur) {
		return nil, Errorf(CodePermissionDenied, "record %q is not in your scope", w.id)
	}
	if cur.Type != string(w.rt.Name) {
		return nil, Errorf(CodeNotFound, "record %q exists with another type (%s)", w.id, cur.Type)
	}
	if w.p != nil && w.p.IsDevice() && w.rt.Options.GetServerCreated() {
		if err := checkServerCreated(w, cur); err != nil {
			return nil, err
		}
	}
	s := cur.Scope
	return &s, nil
}

// callerReads reports whether p may read the stored record (CanRead on its
// own type).
func (e *Engine) callerReads(p *Principal, cur *StoredRecord) bool {
	rt, ok := e.reg.Lookup(cur.Type)
	return ok && CanRead(p, rt, cur.Scope)
}

// checkServerCreated refuses a device's delete of a server-created record,
// and any write by a device other than the record's owner (its recipient):
// the recipient may only set the fields the server leaves to it (an
// alert's acknowledgement; the others are SERVER_ONLY).
func checkServerCreated(w *write, cur *StoredRecord) error {
	switch {
	case w.change.Delete:
		return Errorf(CodePermissionDenied, "%s records are removed by the server only; the recipient may acknowledge them", w.rt.Name.Name())
	case w.rt.Owner != nil && cur.Scope.Owner != w.p.UserID:
		return Errorf(CodePermissionDenied, "%s records are written by their recipient only", w.rt.Name.Name())
	}
	return nil
}

// finish places the record (see place), fills computed fields of the
// merged state, validates it, and checks the caller may leave the record
// where it now is.
func (e *Engine) finish(tx Tx, w *write, cur *StoredRecord, next *State) (Scope, error) {
	sc := w.rt.Scope(next.Value)
	// A create prepared ahead: its placed value with computed fields and
	// its validation stand when the record lands where it expected.
	pr := w.prep
	if pr != nil && pr.state != next {
		pr = nil
	}
	if w.p != nil && !next.Deleted() {
		placed, err := e.place(tx, w, cur, next, sc)
		if err != nil {
			return Scope{}, err
		}
		if placed != sc {
			if pr == nil || placed != pr.placed {
				// Else the prepared value, placed there already, replaces
				// next.Value below.
				w.rt.SetScope(next.Value, placed)
			}
			stampScope(w.rt, next, sc, placed, w.at)
			sc = placed
		}
	}
	if pr != nil && sc != pr.placed {
		pr = nil
	}
	if pr != nil {
		next.Value = pr.value
		if pr.invalid != nil {
			return Scope{}, Errorf(CodeInvalid, "%s", ViolationMessage(pr.invalid))
		}
	} else {
		e.cfg.Hooks.ComputeServerFields(next.Value)
		if !next.Deleted() {
			if err := e.validator.Validate(next.Value); err != nil && !keptValuesOnly(err, cur, next.Value) {
				return Scope{}, Errorf(CodeInvalid, "%s", ViolationMessage(err))
			}
		}
	}
	if w.p != nil {
		var before *Scope
		if cur != nil {
			before = &cur.Scope
		}
		if cur == nil && w.rt.Options.GetServerCreated() {
			return Scope{}, Errorf(CodePermissionDenied, "%s records are created by the server only", w.rt.Name.Name())
		}
		if err := w.checkWrite(before, sc); err != nil {
			return Scope{}, err
		}
		if err := e.checkChange(w, cur, next); err != nil {
			return Scope{}, err
		}
	}
	return sc, nil
}

// checkChange asks the type's hooks whether the caller may make the change
// (TypeHooks.CheckChange).
func (e *Engine) checkChange(w *write, cur *StoredRecord, next *State) error {
	var before, after proto.Message
	if cur != nil && !cur.State.Deleted() {
		before = cur.State.Value
	}
	if !next.Deleted() {
		after = next.Value
	} else if before == nil {
		return nil // deleting what is gone already
	}
	err := e.cfg.Hooks.CheckChange(w.p.Role, w.p.Can, before, after)
	if err == nil {
		return nil
	}
	var denied interface{ PermissionDenied() bool }
	if errors.As(err, &denied) && denied.PermissionDenied() {
		return Errorf(CodePermissionDenied, "%s", err)
	}
	return Errorf(CodeInvalid, "%s", err)
}

// stampScope gives the scope fields that place filled the write's version.
func stampScope(rt *RecordType, st *State, before, after Scope, at Version) {
	for _, f := range [...]struct {
		fd      protoreflect.FieldDescriptor
		changed bool
	}{
		{rt.Owner, before.Owner != after.Owner}, {rt.Store, before.Store != after.Store}, {rt.Region, before.Region != after.Region},
	} {
		if f.fd != nil && f.changed {
			st.Fields[string(f.fd.Name())] = at
		}
	}
}

// unchanged reports whether a merge left the state as it was, versions included.
func unchanged(a, b *State) bool {
	return a.DeletedAt == b.DeletedAt && maps.Equal(a.Fields, b.Fields) &&
		maps.EqualFunc(a.Elements, b.Elements, slices.Equal) && proto.Equal(a.Value, b.Value)
}

// logConflicts keeps every losing value in the conflict log and in the
// outcome (for the push result).
func (e *Engine) logConflicts(tx Tx, w *write, sc Scope, losses []Loss, out *writeOutcome) error {
	for _, l := range losses {
		c := &Conflict{
			TenantID: w.tenantID(), RecordType: string(w.rt.Name), RecordID: w.id, Field: l.Field,
			LosingAt: l.LosingAt, WinningAt: l.WinningAt, Reason: l.Reason, Scope: sc, CreatedAt: tx.Now(),
		}
		var err error
		if c.Losing, err = marshal(l.Losing); err != nil {
			return err
		}
		if c.Winning, err = marshal(l.Winning); err != nil {
			return err
		}
		if err := tx.AddConflict(c); err != nil {
			return err
		}
		out.conflicts = append(out.conflicts, ConflictToWire(c))
	}
	return nil
}

func marshal(m proto.Message) ([]byte, error) {
	if m == nil {
		return nil, nil
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// ConflictToWire converts a stored conflict for the API.
func ConflictToWire(c *Conflict) *fieldsyncv1.Conflict {
	return &fieldsyncv1.Conflict{
		Id: c.ID, RecordType: c.RecordType, RecordId: c.RecordID, Field: c.Field,
		LosingValue: rawAny(c.RecordType, c.Losing), WinningValue: rawAny(c.RecordType, c.Winning),
		LosingHlc: uint64(c.LosingAt.HLC), WinningHlc: uint64(c.WinningAt.HLC),
		LosingDeviceId: c.LosingAt.Actor, WinningDeviceId: c.WinningAt.Actor,
		Reason: c.Reason, CreateTime: timestamppb.New(c.CreatedAt),
	}
}

// rawAny wraps already-marshalled bytes of a record type in an Any. Empty
// bytes are a value too (a cleared field), so they are never left out.
func rawAny(recordType string, b []byte) *anypb.Any {
	return &anypb.Any{TypeUrl: "type.googleapis.com/" + recordType, Value: b}
}

// emitChange writes the record's change event (and, for a new record of a
// type with publish_alerts, the alert event) to the outbox.
func (e *Engine) emitChange(tx Tx, w *write, rec *StoredRecord, created bool) error {
	ev, ok, err := preparedEvent(w, rec, created)
	if err != nil {
		return err
	}
	if !ok {
		if ev, err = events.ChangeOutboxEvent(e.changeEvent(w, rec)); err != nil {
			return err
		}
	}
	if err := tx.AppendEvent(ev); err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	if kind, ok := w.rt.AlertKindOf(rec.State.Value); ok && created {
		return tx.AppendEvent(Event{ID: ids.New(), Subject: events.AlertSubject(rec.TenantID, kind), Data: ev.Data})
	}
	return nil
}

func (e *Engine) changeEvent(w *write, rec *StoredRecord) *fieldsyncv1.ChangeEvent {
	ev := changeEventHead(rec.TenantID, rec.Type, rec.ID, w.at.Actor, w.p, rec.Scope)
	commit := rec.UpdatedAt
	if w.history {
		commit = w.eventTime
	}
	setChangeEventTail(ev, rec, commit)
	switch {
	case rec.State.Deleted():
		ev.Op = fieldsyncv1.ChangeOp_CHANGE_OP_DELETE
	case rec.Encoded != nil:
		ev.Value = rawAny(rec.Type, rec.Encoded)
	default:
		if v, err := anypb.New(rec.State.Value); err == nil {
			ev.Value = v
		}
	}
	return ev
}

// changeEventHead returns the upsert event of a record without what its
// transaction gives it (see setChangeEventTail) nor its value: which
// record, who changed it (device; p's user, none for a server write) and
// where the record is placed. Both changeEvent and a create prepared ahead
// of its transaction (prepareOne) build their events from it.
func changeEventHead(tenantID, recordType, recordID, device string, p *Principal, sc Scope) *fieldsyncv1.ChangeEvent {
	ev := &fieldsyncv1.ChangeEvent{
		TenantId: tenantID, Op: fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT, RecordType: recordType, RecordId: recordID,
		DeviceId: device, OwnerUserId: sc.Owner, StoreId: sc.Store, RegionId: sc.Region,
	}
	if p != nil {
		ev.UserId = p.UserID
	}
	return ev
}

// setChangeEventTail sets what rec's transaction gives its change event: a
// new event id (taken in commit order), the version (also its sequence),
// the HLC and the commit time.
func setChangeEventTail(ev *fieldsyncv1.ChangeEvent, rec *StoredRecord, commit time.Time) {
	ev.EventId, ev.Version, ev.Sequence, ev.Hlc = ids.New(), rec.Version, rec.Version, uint64(rec.HLC)
	ev.CommitTime = timestamppb.New(commit)
}
