package syncengine

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ServerWrite writes fields of a record as the server itself: computed and
// server-only fields, alerts, seeded data. No scope or role check applies;
// the merge, validation, conflict log and events do. A server write never
// undoes a device's delete: a deleted record is left alone, and a write of
// server-only fields alone creates no missing record. It reports whether
// the record changed.
func (e *Engine) ServerWrite(ctx context.Context, tenantID, recordType, id string, value proto.Message, fields []string) (bool, error) {
	return e.ServerWriteGuarded(ctx, tenantID, recordType, id, value, fields, nil)
}

// ServerWriteGuarded is ServerWrite with guard run first in the write's
// transaction (a nil guard is none): an error of guard rolls everything
// back and is returned wrapped, so a write can depend on a claim made in
// the same transaction (a single-use token). guard may complete value
// (its scope fields) from what it reads in tx.
func (e *Engine) ServerWriteGuarded(ctx context.Context, tenantID, recordType, id string, value proto.Message, fields []string, guard func(tx Tx) error) (bool, error) {
	rt, ok := e.reg.Lookup(recordType)
	if !ok {
		return false, Errorf(CodeInvalid, "unknown record type %q", recordType)
	}
	at := Version{HLC: e.clock.Now(), Actor: ServerActor}
	w := write{tenant: tenantID, rt: rt, id: id, at: at,
		change: Change{Fields: fields, Value: value, At: at, Server: true}}
	var batch commitBatch
	var out *writeOutcome
	err := e.store.Update(ctx, func(tx Tx) error {
		batch = commitBatch{}
		if guard != nil {
			if err := guard(tx); err != nil {
				return err
			}
		}
		var err error
		out, err = e.write(tx, &w, &batch)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("server write %s %s: %w", recordType, id, err)
	}
	e.committed(tenantID, batch.version, batch.scopes)
	return out.version != 0, nil
}

// AllFields lists every field of a record type, for whole-record writes.
func AllFields(m proto.Message) []string {
	fds := m.ProtoReflect().Descriptor().Fields()
	out := make([]string, fds.Len())
	for i := range fds.Len() {
		out[i] = string(fds.Get(i).Name())
	}
	return out
}

// FlagRecord sets a server-only boolean field of a record to true; a
// deleted or missing record stays as it is.
func (e *Engine) FlagRecord(ctx context.Context, tenantID, recordType, recordID, field string) error {
	rt, ok := e.reg.Lookup(recordType)
	if !ok {
		return Errorf(CodeInvalid, "unknown record type %q", recordType)
	}
	fd := rt.Desc.Fields().ByName(protoreflect.Name(field))
	if fd == nil || fd.Kind() != protoreflect.BoolKind {
		return Errorf(CodeInvalid, "%s has no boolean field %q", recordType, field)
	}
	v := rt.New()
	v.ProtoReflect().Set(fd, protoreflect.ValueOfBool(true))
	_, err := e.ServerWrite(ctx, tenantID, recordType, recordID, v, []string{field})
	return err
}

// TouchRecord gives a live record a new version without changing it, so
// devices pull it again (a photo it refers to became available) and
// watchers are poked. A missing or deleted record, or one of another type,
// is left alone. No change event is written: the caller writes its own.
func (e *Engine) TouchRecord(ctx context.Context, tenantID, recordType, id string) error {
	rt, ok := e.reg.Lookup(recordType)
	if !ok {
		return Errorf(CodeInvalid, "unknown record type %q", recordType)
	}
	var batch commitBatch
	err := e.store.Update(ctx, func(tx Tx) error {
		batch = commitBatch{}
		cur, err := tx.GetRecord(tenantID, id)
		if err != nil || cur == nil || cur.Type != recordType || cur.State.Deleted() {
			return err
		}
		cur.UpdatedAt = tx.Now()
		v, err := tx.PutRecord(cur, nil)
		batch.add(v, rt, cur.Scope)
		return err
	})
	if err != nil {
		return fmt.Errorf("touch %s %s: %w", recordType, id, err)
	}
	e.committed(tenantID, batch.version, batch.scopes)
	return nil
}
