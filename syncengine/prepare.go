package syncengine

import (
	"fmt"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/events"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// A push's creates (a mutation whose record does not exist yet: a new
// visit, the common case) are mostly work that does not depend on stored
// state: building the new state, the server's computed fields, validating
// the value and encoding it. The single writer runs every write
// transaction of the store one after another, so Push does that work
// beside the transaction, on the caller's goroutine while the transaction
// runs on another (beside), and the transaction uses it only when the mutation turns out to be
// a create whose place left the value as it was (finish); otherwise it
// takes the general path. What depends on the transaction (the HLC, the
// version, the placement and every check of stored state) stays inside it.
//
// The transaction never waits for the preparation of a mutation that has
// not started: it takes the general path for it instead (and the
// preparing goroutine skips it), so a writer shared by many pushes is
// never held up by one of them. It waits only for a mutation whose
// preparation is under way, a few microseconds. On a quiet writer the two
// run side by side (the preparation ahead, on the other core); on a busy
// one the preparation has finished while the push waited for its turn.

// prepared is a create worked out ahead of the transaction.
type prepared struct {
	// state is the created state (RecordType.create) with provisional
	// versions; stamp gives them the write's version.
	state *State
	// placed is where the create is expected to land: the value's own
	// scope with what it leaves empty filled by DefaultScope (a record it
	// refers to by scope_from is not read ahead of the transaction).
	placed Scope
	// value is state.Value placed there, after
	// TypeHooks.ComputeServerFields; it is valid when invalid is nil,
	// and encoded is its deterministic encoding. They stand only when
	// the transaction places the record at placed.
	value   proto.Message
	invalid error
	encoded []byte
	// eventHead is the encoding of the create's change event without
	// what the transaction gives it (event id, version, HLC, commit time;
	// see preparedEvent), when encoded is set; subject is its subject.
	eventHead []byte
	subject   string
}

// provisional is the version a prepared state carries until stamped:
// Merge's checks refuse only a zero version, and nothing else they do
// depends on it.
var provisional = Version{HLC: 1}

// preparing is a push's creates being worked out beside its transaction.
// A nil *preparing prepares nothing.
type preparing struct {
	slots []prepSlot
	stop  atomic.Bool // the push has ended: prepare no more
	// subject is the change subject of subjectType's events in the
	// caller's tenant, the last one worked out: a push's creates are
	// mostly of one type. Used by the preparing goroutine only.
	subjectType, subject string
}

// prepSlot is one mutation's preparation. Whoever locks it first decides
// it: the preparing goroutine fills pr, or the transaction takes it
// unprepared (the goroutine then skips it).
type prepSlot struct {
	mu      sync.Mutex
	decided bool
	pr      *prepared // nil when the mutation may not create its record
}

// prepare returns the preparation of muts' creates (nil when there is
// nothing to prepare); beside runs it.
func (e *Engine) prepare(muts []Mutation) *preparing {
	if len(muts) == 0 || e.noPrepare {
		return nil
	}
	return &preparing{slots: make([]prepSlot, len(muts))}
}

// beside runs update (the push's transaction) on a goroutine of its own
// and meanwhile, on the caller's, works out each mutation of muts that may
// create its record; those that may not, or that the general path will
// refuse, stay unprepared (the general path then reports the refusal as
// before). The preparation starts at once, on the goroutine already
// running, while the transaction waits for the writer; the caller's
// goroutine would only wait otherwise. A panic of update is its error, as
// it was on the caller's goroutine (connect turned it into one).
func (ps *preparing) beside(e *Engine, p *Principal, muts []Mutation, update func() error) error {
	if ps == nil {
		return update()
	}
	done := make(chan error, 1)
	go func() {
		var err error
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("push transaction panicked: %v", r)
			}
			ps.stop.Store(true) // what the transaction did not take is of no use
			done <- err
		}()
		err = update()
	}()
	ps.run(e, p, muts)
	return <-done
}

// run prepares the mutations in order, skipping those the transaction
// took already, until the transaction ends.
func (ps *preparing) run(e *Engine, p *Principal, muts []Mutation) {
	for i := range muts {
		if ps.stop.Load() {
			return
		}
		s := &ps.slots[i]
		s.mu.Lock()
		if !s.decided {
			s.pr, s.decided = ps.prepareOne(e, p, &muts[i]), true
		}
		s.mu.Unlock()
	}
}

// take returns mutation i's prepared create, or nil when it has none or
// its preparation has not started (the transaction then takes the
// general path). A prepared create is used at most once: a rerun of the
// transaction takes the general path.
func (ps *preparing) take(i int) *prepared {
	if ps == nil {
		return nil
	}
	s := &ps.slots[i]
	s.mu.Lock()
	defer s.mu.Unlock()
	pr := s.pr
	s.pr, s.decided = nil, true
	return pr
}

func (ps *preparing) prepareOne(e *Engine, p *Principal, m *Mutation) *prepared {
	if m.Delete || m.DecodeErr != nil || m.Value == nil {
		return nil
	}
	rt, ok := e.reg.Lookup(m.Type)
	if !ok || rt.Options.GetServerCreated() {
		return nil
	}
	ch := Change{Fields: m.Fields, Value: m.Value, At: provisional}
	specs, err := rt.checkChange(nil, ch)
	if err != nil {
		return nil
	}
	st, err := rt.create(specs, ch)
	if err != nil {
		return nil
	}
	pr := &prepared{state: st, value: proto.Clone(st.Value)}
	sc := rt.Scope(st.Value)
	if pr.placed = DefaultScope(p, rt, sc); pr.placed != sc {
		rt.SetScope(pr.value, pr.placed)
	}
	e.cfg.Hooks.ComputeServerFields(pr.value)
	if pr.invalid = e.validator.Validate(pr.value); pr.invalid == nil {
		if pr.encoded, err = (proto.MarshalOptions{Deterministic: true}).Marshal(pr.value); err != nil {
			return nil
		}
		head := changeEventHead(p.TenantID, string(rt.Name), m.RecordID, p.Actor(), p, pr.placed)
		head.Value = rawAny(string(rt.Name), pr.encoded)
		// Room for the transaction's part (tailRoom), so that appending it
		// in the transaction copies nothing.
		size := proto.Size(head)
		if pr.eventHead, err = (proto.MarshalOptions{}).MarshalAppend(make([]byte, 0, size+tailRoom), head); err != nil {
			return nil
		}
		if ps.subjectType != string(rt.Name) {
			ps.subjectType, ps.subject = string(rt.Name), events.ChangeSubject(p.TenantID, string(rt.Name))
		}
		pr.subject = ps.subject
	}
	return pr
}

// tailRoom is the room a prepared event head leaves for the transaction's
// part: an event id (26 bytes), three varints and a timestamp, with their
// tags and lengths.
const tailRoom = 96

// preparedEvent returns the change event of a prepared create as
// changeEvent would have encoded it: the prepared head followed by what
// the transaction gave the record. Fields encoded one after another decode
// as one message, so the event decodes to the one changeEvent builds
// (its bytes differ only in the fields' order). ok is false when the
// create did not stand as prepared (see finish) and the general path
// builds the event.
func preparedEvent(w *write, rec *StoredRecord, created bool) (ev events.OutboxEvent, ok bool, err error) {
	pr := w.prep
	if pr == nil || pr.eventHead == nil || !created || w.history || w.p == nil || rec.State.Deleted() ||
		rec.Precoded == nil || rec.Scope != pr.placed { // write sets Precoded when the prepared value stood
		return events.OutboxEvent{}, false, nil
	}
	tail := &fieldsyncv1.ChangeEvent{}
	setChangeEventTail(tail, rec, rec.UpdatedAt)
	// The head is appended to in place: a prepared create is used once.
	data := pr.eventHead
	pr.eventHead = nil
	if data, err = (proto.MarshalOptions{}).MarshalAppend(data, tail); err != nil {
		return events.OutboxEvent{}, false, fmt.Errorf("encode change event %s: %w", tail.EventId, err)
	}
	return events.OutboxEvent{ID: tail.EventId, Subject: pr.subject, Data: data}, true, nil
}

// stamp gives the prepared state the write's version, as create would
// have, and returns it. A prepared create is used at most once.
func (pr *prepared) stamp(at Version) *State {
	s := pr.state
	for k := range s.Fields {
		s.Fields[k] = at
	}
	for _, vs := range s.Elements {
		for i := range vs {
			vs[i] = at
		}
	}
	s.Created = at
	return s
}
