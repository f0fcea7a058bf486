package syncengine

import (
	"google.golang.org/protobuf/proto"
)

// A push's creates (a mutation whose record does not exist yet: a new
// visit, the common case) are mostly work that does not depend on stored
// state: building the new state, the server's computed fields, validating
// the value and encoding it. The single writer runs every write
// transaction of the store one after another, so Push does that work
// before the transaction, on the caller's goroutine, and the transaction
// uses it only when the mutation turns out to be a create whose place
// left the value as it was (finish); otherwise it takes the general path.
// What depends on the transaction (the HLC, the version, the placement
// and every check of stored state) stays inside it.

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
}

// provisional is the version a prepared state carries until stamped:
// Merge's checks refuse only a zero version, and nothing else they do
// depends on it.
var provisional = Version{HLC: 1}

// prepare works out ahead of the transaction each mutation of muts that
// may create its record; nil where it may not, or where the general path
// will refuse it (it then reports the refusal as before).
func (e *Engine) prepare(p *Principal, muts []Mutation) []*prepared {
	if len(muts) == 0 {
		return nil
	}
	if e.noPrepare {
		return nil
	}
	out := make([]*prepared, len(muts))
	for i := range muts {
		out[i] = e.prepareOne(p, &muts[i])
	}
	return out
}

func (e *Engine) prepareOne(p *Principal, m *Mutation) *prepared {
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
	}
	return pr
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
