package fieldsync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Row states: what the local view of a record is.
const (
	stateSynced  = 0 // the view is base
	stateEdited  = 1 // the view is the view column: base plus outbox entries
	stateDeleted = 2 // deleted locally, the delete not yet pulled back
)

// row is one local record: the server's state (base) and the local view.
type row struct {
	id, typ string
	base    []byte // nil when the server has no state for this device
	version uint64
	hlc     uint64
	gen     int64
	state   int
	view    []byte
}

// loadRow reads a record row; nil when there is none.
func loadRow(ctx context.Context, q querier, id string) (*row, error) {
	r := &row{id: id}
	err := q.QueryRowContext(ctx, `SELECT type, base, version, hlc, gen, state, view FROM records WHERE id = ?`, id).
		Scan(&r.typ, &r.base, &r.version, &r.hlc, &r.gen, &r.state, &r.view)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read record %s: %w", id, err)
	}
	return r, nil
}

// viewBytes returns the encoded local view; nil when the record is not
// visible (deleted locally, or no state at all).
func (r *row) viewBytes() []byte {
	switch r.state {
	case stateSynced:
		return r.base
	case stateEdited:
		return r.view
	}
	return nil
}

// rebuild recomputes the view from base and the record's outbox entries:
// each entry's effective fields are applied on top, in seq order, as the
// server merges them (a delete hides the record until a later edit).
func (r *row) rebuild(entries []entry) error {
	if len(entries) == 0 {
		r.state, r.view = stateSynced, nil
		return nil
	}
	mt, err := lookupType(r.typ)
	if err != nil {
		return err
	}
	var msg protoreflect.Message
	if r.base != nil {
		if msg, err = decode(mt, r.base); err != nil {
			return err
		}
	}
	for i := range entries {
		if msg, err = applyEntry(mt, msg, &entries[i]); err != nil {
			return err
		}
	}
	if msg == nil {
		r.state, r.view = stateDeleted, nil
		return nil
	}
	r.state = stateEdited
	r.view, err = proto.MarshalOptions{Deterministic: true}.Marshal(msg.Interface())
	return err
}

// applyEntry applies one entry to a view (nil: no visible record).
func applyEntry(mt protoreflect.MessageType, view protoreflect.Message, e *entry) (protoreflect.Message, error) {
	if e.Delete {
		return nil, nil
	}
	in, err := decode(mt, e.Value)
	if err != nil {
		return nil, err
	}
	if view == nil {
		view = mt.New()
	}
	applyFields(view, in, e.effectiveFields())
	return view, nil
}

func decode(mt protoreflect.MessageType, b []byte) (protoreflect.Message, error) {
	m := mt.New()
	if err := proto.Unmarshal(b, m.Interface()); err != nil {
		return nil, fmt.Errorf("decode %s: %w", mt.Descriptor().FullName(), err)
	}
	return m, nil
}

// save writes the row, or deletes it when nothing is left to show or send.
func (r *row) save(ctx context.Context, tx *sql.Tx) error {
	if r.base == nil && r.state == stateSynced {
		if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE id = ?`, r.id); err != nil {
			return fmt.Errorf("drop record %s: %w", r.id, err)
		}
		return nil
	}
	_, err := tx.ExecContext(ctx, upsertRecord, r.id, r.typ, r.base, r.version, r.hlc, r.view, r.state, r.gen)
	if err != nil {
		return fmt.Errorf("write record %s: %w", r.id, err)
	}
	return nil
}

const upsertRecord = `INSERT INTO records (id, type, base, version, hlc, view, state, gen) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (id) DO UPDATE SET type = excluded.type, base = excluded.base, version = excluded.version,
	hlc = excluded.hlc, view = excluded.view, state = excluded.state, gen = excluded.gen`

// refresh rebuilds a stored record's view from its current entries and saves it.
func refresh(ctx context.Context, tx *sql.Tx, id string) error {
	r, err := loadRow(ctx, tx, id)
	if err != nil || r == nil {
		return err
	}
	entries, err := entriesFor(ctx, tx, id)
	if err != nil {
		return err
	}
	if err := r.rebuild(entries); err != nil {
		return fmt.Errorf("rebuild %s: %w", id, err)
	}
	return r.save(ctx, tx)
}
