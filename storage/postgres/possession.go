package postgres

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// indexPhotos keeps record_photos in step with the photo refs of a record.
func (t *recTx) indexPhotos(rec *syncengine.StoredRecord) error {
	rt, ok := t.reg.Lookup(rec.Type)
	if !ok || !rt.HasPhotos() {
		return nil
	}
	if err := t.exec(`DELETE FROM record_photos WHERE tenant_id = $1 AND record_id = $2`, rec.TenantID, rec.ID); err != nil {
		return err
	}
	if rec.State.Deleted() {
		return t.indexAttachers(rec, nil)
	}
	hashes := rt.PhotoHashes(rec.State.Value)
	if err := t.exec(`INSERT INTO record_photos (tenant_id, sha256, record_id, record_type)
		SELECT $1, h, $2, $3 FROM unnest($4::text[]) h ON CONFLICT DO NOTHING`, rec.TenantID, rec.ID, rec.Type, hashes); err != nil {
		return err
	}
	return t.indexAttachers(rec, hashes)
}

// indexAttachers keeps photo_attachers in step with a record's photo refs,
// as storage/sqlite does (see its indexAttachers): refs that left the
// record lose their attachers, the user of the device whose write carried
// a ref (the key itself for API keys) becomes one of its attachers, and
// the refs take the attachers of the same photos on the record's photo
// sources the writer may read (all of them for the server's writes).
func (t *recTx) indexAttachers(rec *syncengine.StoredRecord, hashes []string) error {
	if err := t.exec(`DELETE FROM photo_attachers WHERE tenant_id = $1 AND record_id = $2 AND sha256 <> ALL($3::text[])`,
		rec.TenantID, rec.ID, nonNil(hashes)); err != nil {
		return fmt.Errorf("index photo attachers: %w", err)
	}
	if len(hashes) == 0 {
		return nil
	}
	sources := syncengine.PhotoSources(rec.State.Value)
	if rec.Actor == syncengine.ServerActor {
		return t.sourceAttachers(rec, hashes, sources)
	}
	carried := carriedPhotos(rec.State, syncengine.Version{HLC: rec.HLC, Actor: rec.Actor})
	if err := t.exec(`INSERT INTO photo_attachers (tenant_id, sha256, record_id, user_id)
		SELECT $1, h, $2, COALESCE((SELECT user_id FROM devices WHERE id = $3 AND tenant_id = $1), $3) FROM unnest($4::text[]) h
		ON CONFLICT DO NOTHING`, rec.TenantID, rec.ID, rec.Actor, nonNil(carried)); err != nil {
		return fmt.Errorf("index photo attachers: %w", err)
	}
	sources, err := t.readableSources(rec, sources)
	if err != nil {
		return fmt.Errorf("index photo attachers: %w", err)
	}
	return t.sourceAttachers(rec, hashes, sources)
}

// sourceAttachers gives each photo of the record the attachers of the same
// photo on the source records.
func (t *recTx) sourceAttachers(rec *syncengine.StoredRecord, hashes, sources []string) error {
	if len(sources) == 0 {
		return nil
	}
	if err := t.exec(`INSERT INTO photo_attachers (tenant_id, sha256, record_id, user_id)
		SELECT a.tenant_id, a.sha256, $3, a.user_id FROM photo_attachers a
		WHERE a.tenant_id = $1 AND a.record_id <> $3 AND a.sha256 = ANY($2::text[]) AND a.record_id = ANY($4::text[])
		ON CONFLICT DO NOTHING`, rec.TenantID, hashes, rec.ID, sources); err != nil {
		return fmt.Errorf("index photo attachers: %w", err)
	}
	return nil
}

// readableSources keeps the live source records that the writer may read
// (syncengine.CanRead).
func (t *recTx) readableSources(rec *syncengine.StoredRecord, sources []string) ([]string, error) {
	if len(sources) == 0 {
		return nil, nil
	}
	p, err := t.writer(rec)
	if p == nil || err != nil {
		return nil, err
	}
	found, err := t.GetRecords(rec.TenantID, sources) // one round trip for them all
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range sources {
		src := found[id]
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
		err := t.row(`SELECT permissions FROM api_keys WHERE id = $1 AND tenant_id = $2`, keyID, rec.TenantID).Scan(&perms)
		if noRows(err) {
			return nil, nil
		}
		return &syncengine.Principal{TenantID: rec.TenantID, APIKeyID: keyID, Permissions: strings.Fields(perms)}, err
	}
	u := syncengine.User{TenantID: rec.TenantID}
	var role int32
	err := t.row(`SELECT u.id, u.display_name, u.role, u.region_id, u.store_id
		FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = $1 AND d.tenant_id = $2`, rec.Actor, rec.TenantID).
		Scan(&u.ID, &u.DisplayName, &role, &u.RegionID, &u.StoreID)
	if noRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u.Role = fieldsyncv1.Role(role)
	return u.Principal(rec.Actor), nil
}

// carriedPhotos returns the hashes of the photo refs that the write at
// version at carried (storage/sqlite's carriedPhotos).
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

// nonNil returns s, or an empty slice for nil (a NULL array matches nothing).
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// availableRef holds for the photo_attachers row a when one of the ref's
// attachers holds the photo.
const availableRef = `EXISTS (SELECT 1 FROM photo_holders h WHERE h.tenant_id = a.tenant_id AND h.sha256 = a.sha256
	AND h.user_id = a.user_id)`

// PhotoStates says which photos of the records are available: stored and
// held by a user who attached them to the record (see syncengine.Store).
func (db *DB) PhotoStates(ctx context.Context, tenantID string, recordIDs []string) (_ map[syncengine.PhotoKey]bool, err error) {
	defer classify(&err)
	out := make(map[syncengine.PhotoKey]bool)
	rows, err := db.pool.Query(ctx, `SELECT DISTINCT a.record_id, a.sha256 FROM photo_attachers a
		WHERE a.tenant_id = $1 AND a.record_id = ANY($2::text[]) AND `+availableRef, tenantID, nonNil(recordIDs))
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
