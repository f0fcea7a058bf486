package fieldsync

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Record is a record as the device sees it: the server's state with the
// device's pending edits on top.
type Record struct {
	// Type is the full protobuf name of the record type, e.g. "fieldsync.v1.Visit".
	Type string
	ID   string
	// Value is the record's current local value, of Type.
	Value proto.Message
	// Version is the server's version of the state the view builds on; 0
	// when the server has not sent the record yet.
	Version uint64
	// Pending is set while local changes to the record wait to be pushed.
	Pending bool
}

// Put writes fields of a record locally: its type is value's message type,
// id its id (make new ones with NewID). fields is the field mask: the
// top-level field names to write, a named field unset in value being
// cleared; with none, every field set in value is written. The local view
// changes and the change joins the outbox in one transaction, so it is
// visible at once and is never lost, whether or not the device is online.
// Set-union fields (e.g. Visit.action_tags) add their elements.
//
// Errors: ErrInvalidID, ErrNotRecordType, ErrUnknownField, ErrNoFields,
// ErrTypeMismatch (the id is a record of another type), or a store error.
// Whether the server accepts the change is known after Sync: see
// Rejections and Conflicts.
func (c *Client) Put(ctx context.Context, id string, value proto.Message, fields ...string) error {
	if !validID(id) {
		return fmt.Errorf("put %q: %w", id, ErrInvalidID)
	}
	m := value.ProtoReflect()
	typ := string(m.Descriptor().FullName())
	if !isRecord(m.Descriptor()) {
		return fmt.Errorf("put %s: %w: %s", id, ErrNotRecordType, typ)
	}
	mask, err := resolveMask(m, fields)
	if err != nil {
		return fmt.Errorf("put %s: %w", id, err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(project(m, mask))
	if err != nil {
		return fmt.Errorf("put %s: encode: %w", id, err)
	}
	return c.write(ctx, &entry{Type: typ, RecordID: id, Fields: mask, Value: b})
}

// Delete deletes a record locally and queues the delete. On the server it
// wins over older edits only (a newer edit from another device brings the
// record back), and deleting a submitted record is rejected. Deleting a
// record the device does not hold is allowed.
//
// Errors: ErrInvalidID, ErrNotRecordType, ErrTypeMismatch, or a store error.
func (c *Client) Delete(ctx context.Context, recordType, id string) error {
	if !validID(id) {
		return fmt.Errorf("delete %q: %w", id, ErrInvalidID)
	}
	if _, err := lookupType(recordType); err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	return c.write(ctx, &entry{Type: recordType, RecordID: id, Delete: true})
}

// write commits one local mutation: its seq and HLC, the outbox entry and
// the new local view, all in one transaction.
func (c *Client) write(ctx context.Context, e *entry) error {
	err := c.db.update(ctx, func(tx *sql.Tx) error { return c.writeTx(ctx, tx, e) })
	if err != nil {
		return fmt.Errorf("write %s: %w", e.RecordID, err)
	}
	c.wrote()
	return nil
}

// writeTx is the body of Client.write's transaction: it stamps the entry,
// appends it to the outbox and rebuilds the record's local view.
func (c *Client) writeTx(ctx context.Context, tx *sql.Tx, e *entry) error {
	r, err := loadRow(ctx, tx, e.RecordID)
	switch {
	case err != nil:
		return err
	case r == nil:
		r = &row{id: e.RecordID, typ: e.Type}
	case r.typ != e.Type:
		return fmt.Errorf("%w: %s is a %s", ErrTypeMismatch, e.RecordID, r.typ)
	}
	if err := c.stamp(ctx, tx, e); err != nil {
		return err
	}
	entries, err := entriesFor(ctx, tx, e.RecordID)
	if err != nil {
		return err
	}
	if err := r.rebuild(entries); err != nil {
		return err
	}
	return r.save(ctx, tx)
}

// stamp gives an entry the next seq and a new HLC, stores both counters and
// appends the entry to the outbox.
func (c *Client) stamp(ctx context.Context, tx *sql.Tx, e *entry) error {
	seq, err := metaInt(ctx, tx, "next_seq")
	if err != nil {
		return err
	}
	e.Seq, e.HLC, e.Created = uint64(seq), c.clock.Now(), c.cfg.now()
	if err := setMeta(ctx, tx, "next_seq", seq+1); err != nil {
		return err
	}
	if err := setMeta(ctx, tx, "hlc", int64(e.HLC)); err != nil {
		return err
	}
	return insertEntry(ctx, tx, e)
}

// Get reads a record's local view into into, which must be a message of
// recordType. found is false when the device does not hold the record (or
// holds it under another type, or deleted it locally).
//
// Errors: ErrNotRecordType, ErrTypeMismatch, or a store or decode error.
func (c *Client) Get(ctx context.Context, recordType, id string, into proto.Message) (found bool, err error) {
	if string(into.ProtoReflect().Descriptor().FullName()) != recordType {
		return false, fmt.Errorf("get %s: %w: %s into %s", id, ErrTypeMismatch, recordType, into.ProtoReflect().Descriptor().FullName())
	}
	if _, err := lookupType(recordType); err != nil {
		return false, fmt.Errorf("get %s: %w", id, err)
	}
	r, err := loadRow(ctx, c.db.read, id)
	if err != nil || r == nil || r.typ != recordType || r.viewBytes() == nil {
		return false, err
	}
	if err := proto.Unmarshal(r.viewBytes(), into); err != nil {
		return false, fmt.Errorf("get %s: decode: %w", id, err)
	}
	return true, nil
}

// List returns every record of a type the device holds, local view, by id.
//
// Errors: ErrNotRecordType, or a store or decode error.
func (c *Client) List(ctx context.Context, recordType string) ([]Record, error) {
	mt, err := lookupType(recordType)
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	rows, err := c.db.read.QueryContext(ctx, `SELECT r.id, r.version, CASE r.state WHEN 0 THEN r.base ELSE r.view END,
		EXISTS (SELECT 1 FROM outbox o WHERE o.record_id = r.id AND o.acked = 0)
		FROM records r WHERE r.type = ? AND r.state != 2 ORDER BY r.id`, recordType)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", recordType, err)
	}
	defer rows.Close()
	var out []Record
	for rows.Next() {
		rec, err := scanRecord(rows, mt)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", recordType, err)
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

func scanRecord(rows *sql.Rows, mt protoreflect.MessageType) (Record, error) {
	rec := Record{Type: string(mt.Descriptor().FullName())}
	var b []byte
	if err := rows.Scan(&rec.ID, &rec.Version, &b, &rec.Pending); err != nil {
		return rec, err
	}
	m, err := decode(mt, b)
	if err != nil {
		return rec, err
	}
	rec.Value = m.Interface()
	return rec, nil
}

// validID checks a record id against the server's rule: 1 to 64 letters,
// digits, '_' or '-'.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, ch := range id {
		ok := ch == '_' || ch == '-' || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}

// RecordTypes lists the full names of the synced record types the SDK
// knows (every registered message marked as a record), sorted.
func RecordTypes() []string {
	var out []string
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		if isRecord(mt.Descriptor()) {
			out = append(out, string(mt.Descriptor().FullName()))
		}
		return true
	})
	slices.Sort(out)
	return out
}
