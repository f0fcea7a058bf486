package fieldsync

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// entry is one outbox row: a local mutation.
type entry struct {
	Seq      uint64
	Type     string
	RecordID string
	Fields   []string
	Value    []byte // wire bytes of Type holding only Fields; nil for deletes
	Delete   bool
	HLC      uint64
	Created  time.Time
	Acked    bool
	Lost     []string // fields whose value lost the server's merge
}

const entryColumns = `seq, type, record_id, fields, value, del, hlc, created_at, acked, lost`

func scanEntries(rows *sql.Rows) ([]entry, error) {
	defer rows.Close()
	var out []entry
	for rows.Next() {
		var e entry
		var fields, lost string
		var created int64
		if err := rows.Scan(&e.Seq, &e.Type, &e.RecordID, &fields, &e.Value, &e.Delete, &e.HLC, &created, &e.Acked, &lost); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		e.Fields, e.Lost, e.Created = splitFields(fields), splitFields(lost), time.UnixMilli(created)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

// insertEntry appends a mutation to the outbox.
func insertEntry(ctx context.Context, tx *sql.Tx, e *entry) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO outbox (seq, type, record_id, fields, value, del, hlc, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, e.Type, e.RecordID, joinFields(e.Fields), e.Value, e.Delete, e.HLC, e.Created.UnixMilli())
	if err != nil {
		return fmt.Errorf("append to outbox: %w", err)
	}
	return nil
}

// pendingHead returns the first n entries the server has not answered, in seq order.
func pendingHead(ctx context.Context, q querier, n int) ([]entry, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+entryColumns+` FROM outbox WHERE acked = 0 ORDER BY seq LIMIT +?`, n) // +?: see storage/sqlite/scan.go (a bare LIMIT ? re-plans at every new value)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return scanEntries(rows)
}

// entriesFor returns a record's entries, acked or not, in seq order.
func entriesFor(ctx context.Context, q querier, id string) ([]entry, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+entryColumns+` FROM outbox WHERE record_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("read outbox of %s: %w", id, err)
	}
	return scanEntries(rows)
}

// ackEntry marks an entry answered as applied, with the fields that lost.
func ackEntry(ctx context.Context, tx *sql.Tx, seq uint64, lost []string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE outbox SET acked = 1, lost = ? WHERE seq = ?`, joinFields(lost), seq); err != nil {
		return fmt.Errorf("ack seq %d: %w", seq, err)
	}
	return nil
}

// deleteEntry removes an entry (rejected: the server will never apply it).
func deleteEntry(ctx context.Context, tx *sql.Tx, seq uint64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE seq = ?`, seq); err != nil {
		return fmt.Errorf("drop seq %d: %w", seq, err)
	}
	return nil
}

// dropAcked removes the acked entries of a record: a pulled state includes them.
func dropAcked(ctx context.Context, tx *sql.Tx, id string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE record_id = ? AND acked = 1`, id); err != nil {
		return fmt.Errorf("drop acked entries of %s: %w", id, err)
	}
	return nil
}

// outboxIDs returns the ids of the records that have outbox entries.
func outboxIDs(ctx context.Context, q querier, ackedOnly bool) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT record_id FROM outbox WHERE acked = 1 OR ?`, !ackedOnly)
	if err != nil {
		return nil, fmt.Errorf("read outbox ids: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("read outbox ids: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}

// toWire converts an entry to a wire mutation, reusing its encoded value.
func (e *entry) toWire() *fieldsyncv1.Mutation {
	m := &fieldsyncv1.Mutation{Seq: e.Seq, RecordType: e.Type, RecordId: e.RecordID, Delete: e.Delete, Hlc: e.HLC}
	if !e.Delete {
		m.Value = &anypb.Any{TypeUrl: "type.googleapis.com/" + e.Type, Value: e.Value}
		m.FieldMask = &fieldmaskpb.FieldMask{Paths: e.Fields}
	}
	return m
}

// effectiveFields are the fields of the entry that hold in the local view.
func (e *entry) effectiveFields() []string {
	if len(e.Lost) == 0 {
		return e.Fields
	}
	return slices.DeleteFunc(slices.Clone(e.Fields), func(f string) bool { return slices.Contains(e.Lost, f) })
}
