package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/internal/rowcodec"
	"github.com/fieldsync/fieldsync/syncengine"
)

var _ syncengine.Store = (*DB)(nil)

// Update runs fn in one write transaction (see syncengine.Store).
func (db *DB) Update(ctx context.Context, fn func(tx syncengine.Tx) error) error {
	return db.WriteTx(ctx, func(stx *sql.Tx, now time.Time) error {
		t := &recTx{db: db, ctx: ctx, tx: stx, now: now, reg: db.reg}
		if err := fn(t); err != nil {
			return err
		}
		return t.flush()
	})
}

// recTx implements syncengine.Tx over one SQLite transaction. The version
// counters (each tenant's, and the commit sequence) are read once and
// written back at the end.
type recTx struct {
	db      *DB
	results rowcodec.ResultRuns
	events  []syncengine.Event
	// eventSubject is the subject of the event appended last, checked.
	eventSubject string
	ctx          context.Context
	tx           *sql.Tx
	now          time.Time
	reg          *syncengine.Registry
	tenants      map[string]*tenantCounters // by tenant id, once read
	stored       storedRun                  // the push_results row read last
	stmts        map[string]*sql.Stmt       // prepared statements bound to tx, by query
	pending      pendingRecords             // record rows written at the end (see keepRecord)
	seq          uint64                     // the last commit sequence handed out; 0 until read
}

// tenantCounters are the last change version and conflict id a tenant
// handed out: each tenant numbers its own, so neither says anything about
// another tenant.
type tenantCounters struct {
	version, conflict uint64
}

func (t *recTx) Now() time.Time { return t.now }

func (t *recTx) exec(q string, args ...any) error {
	if s := t.stmt(q); s != nil {
		_, err := s.ExecContext(t.ctx, args...)
		return err
	}
	_, err := t.tx.ExecContext(t.ctx, q, args...)
	return err
}

// queryRow runs a (cached) query in the transaction.
func (t *recTx) queryRow(q string, args ...any) *sql.Row {
	if s := t.stmt(q); s != nil {
		return s.QueryRowContext(t.ctx, args...)
	}
	return t.tx.QueryRowContext(t.ctx, q, args...)
}

func (t *recTx) LastSeq(actor string) (uint64, error) {
	var v uint64
	err := t.queryRow(`SELECT last_seq FROM actor_seqs WHERE actor = ?`, actor).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

func (t *recTx) SetLastSeq(actor string, seq uint64) error {
	return t.exec(`INSERT INTO actor_seqs (actor, last_seq) VALUES (?, ?)
		ON CONFLICT(actor) DO UPDATE SET last_seq = excluded.last_seq`, actor, seq)
}

// PushResult returns the stored result of an applied seq: from this
// transaction's pending results, or from the batch row that holds it.
func (t *recTx) PushResult(actor string, seq uint64) ([]byte, bool, error) {
	if b, ok := t.results.Get(actor, seq); ok {
		return b, true, nil
	}
	return t.storedResult(actor, seq)
}

// SavePushResult keeps a result until the transaction ends, when each
// actor's consecutive results are written as one row.
func (t *recTx) SavePushResult(actor string, seq uint64, result []byte) error {
	t.results.Add(actor, seq, result)
	return nil
}

const recordColumns = `tenant_id, id, type, version, created_version, owner_id, store_id, region_id,
	value, clocks, deleted_hlc, deleted_actor, created_hlc, created_actor, hlc, actor, updated_at`

func (t *recTx) GetRecord(tenantID, id string) (*syncengine.StoredRecord, error) {
	if row := t.pending.get(tenantID, id); row != nil {
		return scanRecord(t.reg, row)
	}
	rec, err := scanRecord(t.reg, t.queryRow(`SELECT `+recordColumns+` FROM records WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return rec, err
}

// scanRecord decodes one records row.
func scanRecord(reg *syncengine.Registry, row interface{ Scan(...any) error }) (*syncengine.StoredRecord, error) {
	var r syncengine.StoredRecord
	var value, clocks []byte
	var delHLC, createdHLC, hlc uint64
	var delActor, createdActor string
	var updated int64
	st := &syncengine.State{}
	if err := row.Scan(&r.TenantID, &r.ID, &r.Type, &r.Version, &r.CreatedVersion, &r.Scope.Owner, &r.Scope.Store, &r.Scope.Region,
		&value, &clocks, &delHLC, &delActor, &createdHLC, &createdActor, &hlc, &r.Actor, &updated); err != nil {
		return nil, err
	}
	rt, ok := reg.Lookup(r.Type)
	if !ok {
		return nil, fmt.Errorf("record %s: unknown type %q", r.ID, r.Type)
	}
	st.Value = rt.New()
	if err := proto.Unmarshal(value, st.Value); err != nil {
		return nil, fmt.Errorf("record %s: %w", r.ID, err)
	}
	var err error
	if st.Fields, st.Elements, err = rowcodec.DecodeClocks(clocks); err != nil {
		return nil, fmt.Errorf("record %s: %w", r.ID, err)
	}
	st.DeletedAt = syncengine.Version{HLC: syncengine.HLC(delHLC), Actor: delActor}
	st.Created = syncengine.Version{HLC: syncengine.HLC(createdHLC), Actor: createdActor}
	r.State, r.HLC, r.UpdatedAt = st, syncengine.HLC(hlc), fromMS(updated)
	return &r, nil
}

// counters returns the tenant's counters, read on first use; a tenant
// without a row yet starts from 0.
func (t *recTx) counters(tenantID string) (*tenantCounters, error) {
	if c, ok := t.tenants[tenantID]; ok {
		return c, nil
	}
	c := &tenantCounters{}
	err := t.queryRow(`SELECT version, conflict_id FROM tenant_versions WHERE tenant_id = ?`, tenantID).Scan(&c.version, &c.conflict)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read tenant counters: %w", err)
	}
	if t.tenants == nil {
		t.tenants = map[string]*tenantCounters{}
	}
	t.tenants[tenantID] = c
	return c, nil
}

// nextVersion hands out the tenant's next change version.
func (t *recTx) nextVersion(tenantID string) (uint64, error) {
	c, err := t.counters(tenantID)
	if err != nil {
		return 0, err
	}
	c.version++
	return c.version, nil
}

// nextSeq hands out the next commit sequence number (server-internal).
func (t *recTx) nextSeq() (uint64, error) {
	if t.seq == 0 {
		if err := t.queryRow(`SELECT value FROM counters WHERE name = 'seq'`).Scan(&t.seq); err != nil {
			return 0, fmt.Errorf("read commit sequence: %w", err)
		}
	}
	t.seq++
	return t.seq, nil
}

// flush writes what the transaction buffered: the version counters, the
// push results and the outbox events.
func (t *recTx) flush() error {
	if err := t.flushRecords(); err != nil {
		return err
	}
	for tenantID, c := range t.tenants {
		if err := t.exec(`INSERT INTO tenant_versions (tenant_id, version, conflict_id) VALUES (?, ?, ?)
			ON CONFLICT(tenant_id) DO UPDATE SET version = excluded.version, conflict_id = excluded.conflict_id`,
			tenantID, c.version, c.conflict); err != nil {
			return err
		}
	}
	if t.seq != 0 {
		if err := t.exec(`UPDATE counters SET value = ? WHERE name = 'seq'`, t.seq); err != nil {
			return err
		}
	}
	for _, run := range t.results.Runs {
		if err := t.exec(`INSERT INTO push_results (actor, first_seq, last_seq, results, created_at) VALUES (?, ?, ?, ?, ?)`,
			run.Actor, run.First, run.Last(), rowcodec.JoinResults(run.Results), ms(t.now)); err != nil {
			return fmt.Errorf("save push results: %w", err)
		}
	}
	return t.flushEvents()
}

// PutRecord writes a record's new state under the tenant's next version. A
// scope the record left gets its own exit row at the version just before,
// so every change row has a version of its own and no page boundary can
// fall between two rows that share one. The record's row itself is written
// at the transaction's end with the others (see keepRecord).
func (t *recTx) PutRecord(rec *syncengine.StoredRecord, oldScope *syncengine.Scope) (uint64, error) {
	if oldScope != nil {
		exit, err := t.nextVersion(rec.TenantID)
		if err != nil {
			return 0, err
		}
		if err := t.exec(`INSERT INTO scope_exits (tenant_id, version, record_id, type, owner_id, store_id, region_id, created_at) VALUES (?,?,?,?,?,?,?,?)`,
			rec.TenantID, exit, rec.ID, rec.Type, oldScope.Owner, oldScope.Store, oldScope.Region, ms(t.now)); err != nil {
			return 0, fmt.Errorf("scope exit %s: %w", rec.ID, err)
		}
	}
	v, err := t.nextVersion(rec.TenantID)
	if err != nil {
		return 0, err
	}
	seq, err := t.nextSeq()
	if err != nil {
		return 0, err
	}
	rec.Version = v
	insert := rec.CreatedVersion == 0 // a new record: a plain insert
	if insert {
		rec.CreatedVersion = v
	}
	value := rec.Precoded
	if value == nil {
		var err error
		if value, err = (proto.MarshalOptions{Deterministic: true}).Marshal(rec.State.Value); err != nil {
			return 0, err
		}
	}
	rec.Encoded = value
	if err := t.keepRecord(rec, insert, value, seq); err != nil {
		return 0, err
	}
	return v, t.indexPhotos(rec)
}

const upsertRecord = ` ON CONFLICT(tenant_id, id) DO UPDATE SET version = excluded.version, owner_id = excluded.owner_id,
	store_id = excluded.store_id, region_id = excluded.region_id, value = excluded.value, clocks = excluded.clocks,
	deleted_hlc = excluded.deleted_hlc, deleted_actor = excluded.deleted_actor, hlc = excluded.hlc,
	actor = excluded.actor, updated_at = excluded.updated_at, deleted = excluded.deleted, seq = excluded.seq`

// indexPhotos keeps record_photos in step with the photo refs of a record.
func (t *recTx) indexPhotos(rec *syncengine.StoredRecord) error {
	rt, ok := t.reg.Lookup(rec.Type)
	if !ok || !rt.HasPhotos() {
		return nil
	}
	if err := t.exec(`DELETE FROM record_photos WHERE tenant_id = ? AND record_id = ?`, rec.TenantID, rec.ID); err != nil {
		return err
	}
	if rec.State.Deleted() {
		return t.indexAttachers(rec, nil)
	}
	hashes := rt.PhotoHashes(rec.State.Value)
	for _, h := range hashes {
		if err := t.exec(`INSERT OR IGNORE INTO record_photos (tenant_id, sha256, record_id, record_type) VALUES (?,?,?,?)`,
			rec.TenantID, h, rec.ID, rec.Type); err != nil {
			return err
		}
	}
	return t.indexAttachers(rec, hashes)
}

// AddConflict appends to the conflict log under the tenant's next conflict id.
func (t *recTx) AddConflict(c *syncengine.Conflict) error {
	counters, err := t.counters(c.TenantID)
	if err != nil {
		return err
	}
	counters.conflict++
	c.ID = counters.conflict
	err = t.exec(insertConflict, c.TenantID, c.ID, c.RecordType, c.RecordID, c.Field, c.Losing, c.Winning, uint64(c.LosingAt.HLC), c.LosingAt.Actor,
		uint64(c.WinningAt.HLC), c.WinningAt.Actor, c.Reason, c.Scope.Owner, c.Scope.Store, c.Scope.Region, ms(c.CreatedAt))
	if err != nil {
		return fmt.Errorf("add conflict: %w", err)
	}
	return nil
}

const insertConflict = `INSERT INTO conflicts (tenant_id, id, record_type, record_id, field, losing, winning,
		losing_hlc, losing_actor, winning_hlc, winning_actor, reason, owner_id, store_id, region_id, created_at)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`

// AppendEvent checks an event and keeps it for the transaction's end,
// when all of them are inserted in commit order with multi-row inserts.
func (t *recTx) AppendEvent(ev syncengine.Event) error {
	if err := checkEventAfter(ev, t.eventSubject); err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	t.eventSubject = ev.Subject
	if t.events == nil {
		t.events = (*eventsPool.Get().(*[]syncengine.Event))[:0]
	}
	t.events = append(t.events, ev)
	return nil
}

// eventsPool keeps a transaction's slice of events for the next (as
// pendingPool does its record rows).
var eventsPool = sync.Pool{New: func() any { return new([]syncengine.Event) }}

func (t *recTx) flushEvents() error {
	if err := insertEvents(t.exec, t.events, t.now); err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	if t.events != nil {
		clear(t.events)
		evs := t.events[:0]
		eventsPool.Put(&evs)
		t.events = nil
	}
	return nil
}

func (t *recTx) AddReceipt(tenantID, deviceID, userID string, version uint64, at time.Time) (uint64, error) {
	var prev uint64
	err := t.queryRow(`SELECT version FROM device_cursors WHERE device_id = ?`, deviceID).Scan(&prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	if version <= prev {
		return prev, nil
	}
	if err := t.exec(`INSERT OR IGNORE INTO receipts (device_id, version, tenant_id, user_id, received_at) VALUES (?,?,?,?,?)`,
		deviceID, version, tenantID, userID, ms(at)); err != nil {
		return 0, err
	}
	return prev, t.exec(`INSERT INTO device_cursors (device_id, version, updated_at) VALUES (?,?,?)
		ON CONFLICT(device_id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`, deviceID, version, ms(t.now))
}

// GetRecords returns current records by id (see syncengine.Store). The ids
// travel as one JSON array parameter, so one prepared statement serves any
// number of them.
func (db *DB) GetRecords(ctx context.Context, tenantID string, idList []string) (map[string]*syncengine.StoredRecord, error) {
	out := make(map[string]*syncengine.StoredRecord, len(idList))
	if len(idList) == 0 {
		return out, nil
	}
	arr, err := json.Marshal(idList)
	if err != nil {
		return nil, err
	}
	st, err := db.readStmt(ctx, getRecordsByID)
	if err != nil {
		return nil, fmt.Errorf("get records: %w", err)
	}
	rows, err := st.QueryContext(ctx, tenantID, string(arr))
	if err != nil {
		return nil, fmt.Errorf("get records: %w", err)
	}
	return scanRecordsInto(db.reg, rows, out)
}

// scanRecordsInto adds the records of rows to out by id and closes rows.
func scanRecordsInto(reg *syncengine.Registry, rows *sql.Rows, out map[string]*syncengine.StoredRecord) (map[string]*syncengine.StoredRecord, error) {
	defer rows.Close()
	for rows.Next() {
		rec, err := scanRecord(reg, rows)
		if err != nil {
			return nil, err
		}
		out[rec.ID] = rec
	}
	return out, rows.Err()
}

// GetRecordValues returns current records by id as stored bytes (see
// syncengine.Store).
func (db *DB) GetRecordValues(ctx context.Context, tenantID string, idList []string) (map[string]*syncengine.RawRecord, error) {
	out := make(map[string]*syncengine.RawRecord, len(idList))
	if len(idList) == 0 {
		return out, nil
	}
	arr, err := json.Marshal(idList)
	if err != nil {
		return nil, err
	}
	st, err := db.readStmt(ctx, `SELECT id, type, value, owner_id, store_id, region_id, version, hlc, deleted, updated_at
		FROM records WHERE tenant_id = ? AND id IN (SELECT value FROM json_each(?))`)
	if err != nil {
		return nil, fmt.Errorf("get record values: %w", err)
	}
	rows, err := st.QueryContext(ctx, tenantID, string(arr))
	if err != nil {
		return nil, fmt.Errorf("get record values: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var r syncengine.RawRecord
		var hlc uint64
		var updated int64
		if err := rows.Scan(&id, &r.Type, &r.Value, &r.Scope.Owner, &r.Scope.Store, &r.Scope.Region, &r.Version, &hlc, &r.Deleted, &updated); err != nil {
			return nil, err
		}
		r.HLC, r.UpdatedAt = syncengine.HLC(hlc), fromMS(updated)
		out[id] = &r
	}
	return out, rows.Err()
}

// CursorBounds reads a tenant's purge horizon and latest version (see
// syncengine.Store). A tenant that never changed anything has both at 0.
func (db *DB) CursorBounds(ctx context.Context, tenantID string) (purged, latest uint64, err error) {
	st, err := db.readStmt(ctx, `SELECT purged_through, version FROM tenant_versions WHERE tenant_id = ?`)
	if err != nil {
		return 0, 0, fmt.Errorf("cursor bounds: %w", err)
	}
	err = st.QueryRowContext(ctx, tenantID).Scan(&purged, &latest)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	return purged, latest, err
}

// PurgeTombstones deletes tombstones and scope exits older than a time and
// moves each tenant's purge horizon, so its older cursors get "resync".
func (db *DB) PurgeTombstones(ctx context.Context, olderThan time.Time) (int64, error) {
	var n int64
	err := db.WriteTx(ctx, func(tx *sql.Tx, _ time.Time) error {
		horizons, err := purgeHorizons(ctx, tx, olderThan)
		if err != nil {
			return err
		}
		for tenantID, horizon := range horizons {
			res, err := tx.ExecContext(ctx, `DELETE FROM records WHERE tenant_id = ? AND deleted = 1 AND version <= ?`, tenantID, horizon)
			if err != nil {
				return err
			}
			purged, _ := res.RowsAffected()
			n += purged
			if _, err := tx.ExecContext(ctx, `DELETE FROM scope_exits WHERE tenant_id = ? AND version <= ?`, tenantID, horizon); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE tenant_versions SET purged_through = MAX(purged_through, ?) WHERE tenant_id = ?`,
				horizon, tenantID); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// purgeHorizons returns, per tenant, the newest version of a tombstone or
// scope exit older than a time.
func purgeHorizons(ctx context.Context, tx *sql.Tx, olderThan time.Time) (map[string]uint64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT tenant_id, MAX(v) FROM (
		SELECT tenant_id, MAX(version) AS v FROM records WHERE deleted = 1 AND updated_at < ?1 GROUP BY tenant_id
		UNION ALL SELECT tenant_id, MAX(version) FROM scope_exits WHERE created_at < ?1 GROUP BY tenant_id)
		GROUP BY tenant_id`, ms(olderThan))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var tenantID string
		var v uint64
		if err := rows.Scan(&tenantID, &v); err != nil {
			return nil, err
		}
		out[tenantID] = v
	}
	return out, rows.Err()
}

// ListConflicts reads the conflict log (see syncengine.Store), with the
// place of each writing device's user.
func (db *DB) ListConflicts(ctx context.Context, q syncengine.ConflictQuery) ([]*syncengine.Conflict, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT c.id, c.tenant_id, c.record_type, c.record_id, c.field, c.losing, c.winning,
		c.losing_hlc, c.losing_actor, c.winning_hlc, c.winning_actor, c.reason, c.owner_id, c.store_id, c.region_id, c.created_at,
		lu.id, COALESCE(lu.store_id, ''), COALESCE(lu.region_id, ''), wu.id, COALESCE(wu.store_id, ''), COALESCE(wu.region_id, '')
		FROM conflicts c
		LEFT JOIN devices ld ON ld.id = c.losing_actor AND ld.tenant_id = c.tenant_id LEFT JOIN users lu ON lu.id = ld.user_id
		LEFT JOIN devices wd ON wd.id = c.winning_actor AND wd.tenant_id = c.tenant_id LEFT JOIN users wu ON wu.id = wd.user_id
		WHERE c.tenant_id = ? AND c.id > ? AND (?3 = '' OR c.record_id = ?3) AND (?4 = '' OR c.losing_actor = ?4)
		AND (?5 = '' OR c.store_id = ?5) AND (?6 = '' OR c.region_id = ?6) ORDER BY c.id LIMIT +?7`,
		q.TenantID, q.AfterID, q.RecordID, q.LosingActor, q.StoreID, q.RegionID, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("list conflicts: %w", err)
	}
	defer rows.Close()
	var out []*syncengine.Conflict
	for rows.Next() {
		var c syncengine.Conflict
		var lh, wh uint64
		var created int64
		var lu, wu sql.NullString
		var lp, wp syncengine.Scope
		if err := rows.Scan(&c.ID, &c.TenantID, &c.RecordType, &c.RecordID, &c.Field, &c.Losing, &c.Winning, &lh, &c.LosingAt.Actor,
			&wh, &c.WinningAt.Actor, &c.Reason, &c.Scope.Owner, &c.Scope.Store, &c.Scope.Region, &created,
			&lu, &lp.Store, &lp.Region, &wu, &wp.Store, &wp.Region); err != nil {
			return nil, err
		}
		c.LosingAt.HLC, c.WinningAt.HLC, c.CreatedAt = syncengine.HLC(lh), syncengine.HLC(wh), fromMS(created)
		c.LosingPlace, c.WinningPlace = userPlace(lu, lp), userPlace(wu, wp)
		out = append(out, &c)
	}
	return out, rows.Err()
}

// userPlace is the place of a user found by a LEFT JOIN, nil when none was.
func userPlace(userID sql.NullString, sc syncengine.Scope) *syncengine.Scope {
	if !userID.Valid {
		return nil
	}
	sc.Owner = userID.String
	return &sc
}

// Receipts returns each device's first receipt at or beyond a version (see syncengine.Store).
func (db *DB) Receipts(ctx context.Context, tenantID string, minVersion uint64) ([]syncengine.Delivery, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT r.device_id, r.user_id, MIN(r.version), MIN(r.received_at), u.role, u.region_id, u.store_id
		FROM receipts r JOIN users u ON u.id = r.user_id
		WHERE r.tenant_id = ? AND r.version >= ? GROUP BY r.device_id ORDER BY r.device_id`, tenantID, minVersion)
	if err != nil {
		return nil, fmt.Errorf("receipts: %w", err)
	}
	defer rows.Close()
	var out []syncengine.Delivery
	for rows.Next() {
		var d syncengine.Delivery
		var at int64
		var role int32
		p := &syncengine.Principal{TenantID: tenantID}
		if err := rows.Scan(&d.DeviceID, &d.UserID, &d.Version, &at, &role, &p.RegionID, &p.StoreID); err != nil {
			return nil, err
		}
		p.UserID, p.DeviceID, p.Role = d.UserID, d.DeviceID, fieldsyncv1.Role(role)
		d.Delivered, d.Reader = fromMS(at), p
		out = append(out, d)
	}
	return out, rows.Err()
}

// RecordsByOwner returns the live records of a type owned by a user, newest
// change first (operation logs read under an access grant).
func (db *DB) RecordsByOwner(ctx context.Context, tenantID, recordType, ownerID string, limit int) ([]*syncengine.StoredRecord, error) {
	owned := ` AND owner_id != ''` // records_owner holds only records with an owner (migration 0020)
	if ownerID == "" {
		owned = ""
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+recordColumns+` FROM records
		WHERE tenant_id = ? AND type = ? AND owner_id = ?`+owned+` AND deleted = 0 ORDER BY version DESC LIMIT +?`,
		tenantID, recordType, ownerID, limit)
	if err != nil {
		return nil, fmt.Errorf("records by owner: %w", err)
	}
	return db.scanRecords(rows)
}

// scanRecords reads every row of a SELECT of recordColumns, and closes rows.
func (db *DB) scanRecords(rows *sql.Rows) ([]*syncengine.StoredRecord, error) {
	defer rows.Close()
	var out []*syncengine.StoredRecord
	for rows.Next() {
		rec, err := scanRecord(db.reg, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}
