package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/fieldsync/fieldsync/syncengine"
)

// indexAttachers keeps photo_attachers in step with a record's photo refs
// (hashes, nil for a deleted record): refs that left the record lose their
// attachers, and the user of the device whose write carried a ref (the
// key itself for API keys) becomes one of its attachers. The refs also
// take the attachers of the same photos on the record's photo sources:
// all of them for the server's writes (the server holds no photo), those
// the writer may read for a device's or a key's (see sourceAttachers).
func (t *recTx) indexAttachers(rec *syncengine.StoredRecord, hashes []string) error {
	keep, err := json.Marshal(hashes)
	if err != nil {
		return err
	}
	if err := t.exec(`DELETE FROM photo_attachers WHERE tenant_id = ? AND record_id = ?
		AND sha256 NOT IN (SELECT value FROM json_each(?))`, rec.TenantID, rec.ID, string(keep)); err != nil {
		return fmt.Errorf("index photo attachers: %w", err)
	}
	if len(hashes) == 0 {
		return nil
	}
	sources := syncengine.PhotoSources(rec.State.Value)
	if rec.Actor == syncengine.ServerActor {
		return t.sourceAttachers(rec, hashes, sources)
	}
	for _, h := range carriedPhotos(rec.State, syncengine.Version{HLC: rec.HLC, Actor: rec.Actor}) {
		if err := t.exec(`INSERT OR IGNORE INTO photo_attachers (tenant_id, sha256, record_id, user_id)
			VALUES (?1, ?2, ?3, COALESCE((SELECT user_id FROM devices WHERE id = ?4 AND tenant_id = ?1), ?4))`,
			rec.TenantID, h, rec.ID, rec.Actor); err != nil {
			return fmt.Errorf("index photo attachers: %w", err)
		}
	}
	if sources, err = t.readableSources(rec, sources); err != nil {
		return fmt.Errorf("index photo attachers: %w", err)
	}
	return t.sourceAttachers(rec, hashes, sources)
}

// sourceAttachers gives each photo of the record the attachers of the same
// photo on the source records, so the photo is available on the record
// where it is available on a source: alert evidence shows no photo its
// source record cites without holding it, and a quote shows the photos of
// its diagnosis that its writer could open there. Rows stay until the
// photo leaves the record.
func (t *recTx) sourceAttachers(rec *syncengine.StoredRecord, hashes, sources []string) error {
	if len(sources) == 0 {
		return nil
	}
	src, err := json.Marshal(sources)
	if err != nil {
		return err
	}
	keep, err := json.Marshal(hashes)
	if err != nil {
		return err
	}
	if err := t.exec(`INSERT OR IGNORE INTO photo_attachers (tenant_id, sha256, record_id, user_id)
		SELECT a.tenant_id, a.sha256, ?3, a.user_id FROM photo_attachers a
		WHERE a.tenant_id = ?1 AND a.record_id != ?3 AND a.sha256 IN (SELECT value FROM json_each(?2))
		AND a.record_id IN (SELECT value FROM json_each(?4))`, rec.TenantID, string(keep), rec.ID, string(src)); err != nil {
		return fmt.Errorf("index photo attachers: %w", err)
	}
	return nil
}

// readableSources keeps the live source records that the writer (the user
// of the writing device, or the API key) may read (syncengine.CanRead):
// citing a record one cannot read, or a hash, grants nothing.
func (t *recTx) readableSources(rec *syncengine.StoredRecord, sources []string) ([]string, error) {
	if len(sources) == 0 {
		return nil, nil
	}
	p, err := t.writer(rec)
	if p == nil || err != nil {
		return nil, err
	}
	var out []string
	for _, id := range sources {
		src, err := t.GetRecord(rec.TenantID, id)
		if err != nil {
			return nil, err
		}
		if src == nil || src.State.Deleted() || id == rec.ID {
			continue
		}
		if rt, ok := t.reg.Lookup(src.Type); ok && syncengine.CanRead(p, rt, src.Scope) {
			out = append(out, id)
		}
	}
	return out, nil
}

// writer returns the principal that wrote rec: its device's user, or its
// API key; nil for an actor the tenant does not know.
func (t *recTx) writer(rec *syncengine.StoredRecord) (*syncengine.Principal, error) {
	if keyID, ok := strings.CutPrefix(rec.Actor, "key:"); ok {
		var perms string
		err := t.queryRow(`SELECT permissions FROM api_keys WHERE id = ? AND tenant_id = ?`, keyID, rec.TenantID).Scan(&perms)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return &syncengine.Principal{TenantID: rec.TenantID, APIKeyID: keyID, Permissions: strings.Fields(perms)}, err
	}
	var deviceID string
	u, err := scanUserWith(t.queryRow(`SELECT d.id, u.id, u.tenant_id, u.display_name, u.role, u.region_id, u.store_id, u.created_at
		FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = ? AND d.tenant_id = ?`, rec.Actor, rec.TenantID), &deviceID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return u.Principal(deviceID), nil
}

// carriedPhotos returns the hashes of the photo refs that the write at
// version at carried: a single ref whose field it wrote, each element of
// a list it carried (the whole list when element versions are missing).
func carriedPhotos(st *syncengine.State, at syncengine.Version) []string {
	var out []string
	st.Value.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if !syncengine.IsPhotoField(fd) {
			return true
		}
		name := string(fd.Name())
		if !fd.IsList() {
			if st.Fields[name] == at {
				out = append(out, syncengine.PhotoHash(fd, v))
			}
			return true
		}
		list, versions := v.List(), st.Elements[name]
		for i := range list.Len() {
			ev := st.Fields[name]
			if len(versions) == list.Len() {
				ev = versions[i]
			}
			if ev == at {
				out = append(out, syncengine.PhotoHash(fd, list.Get(i)))
			}
		}
		return true
	})
	return out
}

// PhotoStates says which photos of the records are available: stored and
// held by a user who attached them to the record (see syncengine.Store).
// The ids travel as one JSON array parameter.
func (db *DB) PhotoStates(ctx context.Context, tenantID string, recordIDs []string) (map[syncengine.PhotoKey]bool, error) {
	out := make(map[syncengine.PhotoKey]bool)
	arr, err := json.Marshal(recordIDs)
	if err != nil {
		return nil, err
	}
	st, err := db.readStmt(ctx, `SELECT DISTINCT a.record_id, a.sha256 FROM photo_attachers a
		WHERE a.tenant_id = ? AND a.record_id IN (SELECT value FROM json_each(?)) AND `+availableRef)
	if err != nil {
		return nil, fmt.Errorf("photo states: %w", err)
	}
	rows, err := st.QueryContext(ctx, tenantID, string(arr))
	if err != nil {
		return nil, fmt.Errorf("photo states: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k syncengine.PhotoKey
		if err := rows.Scan(&k.RecordID, &k.SHA256); err != nil {
			return nil, err
		}
		out[k] = true
	}
	return out, rows.Err()
}
