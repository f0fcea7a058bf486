package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/fieldsync/fieldsync/syncengine"
)

// indexAttachers keeps photo_attachers in step with a record's photo refs
// (hashes, nil for a deleted record): refs that left the record lose their
// attachers, and the user of the device whose write carried a ref (the
// key itself for API keys) becomes one of its attachers. The server holds
// no photo: a ref the server writes takes the attachers of the same photo
// on the record's photo sources (see serverAttachers).
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
	if rec.Actor == syncengine.ServerActor {
		return t.serverAttachers(rec, hashes)
	}
	for _, h := range carriedPhotos(rec.State, syncengine.Version{HLC: rec.HLC, Actor: rec.Actor}) {
		if err := t.exec(`INSERT OR IGNORE INTO photo_attachers (tenant_id, sha256, record_id, user_id)
			VALUES (?1, ?2, ?3, COALESCE((SELECT user_id FROM devices WHERE id = ?4 AND tenant_id = ?1), ?4))`,
			rec.TenantID, h, rec.ID, rec.Actor); err != nil {
			return fmt.Errorf("index photo attachers: %w", err)
		}
	}
	return nil
}

// serverAttachers gives each photo of a record the server wrote the
// attachers of the same photo on the record's photo sources
// (syncengine.PhotoSources: the diagnoses an alert shows), so the photo is
// available on the record only where it is available on a source: alert
// evidence never launders a photo its source record cites without holding
// it. A record without photo sources gets no attachers from the server.
func (t *recTx) serverAttachers(rec *syncengine.StoredRecord, hashes []string) error {
	sources := syncengine.PhotoSources(rec.State.Value)
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
