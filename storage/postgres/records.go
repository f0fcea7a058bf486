package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/records"
	"github.com/fieldsync/fieldsync/storage/internal/rowcodec"
	"github.com/fieldsync/fieldsync/syncengine"
)

var _ syncengine.Store = (*DB)(nil)

// Update runs fn in one write transaction (see syncengine.Store), its
// statements pipelined (pipeline): a push costs a few round trips
// whatever its size.
func (db *DB) Update(ctx context.Context, fn func(tx syncengine.Tx) error) (err error) {
	defer classify(&err)
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	t := &recTx{pipeline: pipeline{ctx: ctx, conn: conn.Conn()}, now: db.Now(), reg: db.reg}
	t.buffered = t.flushRecords
	defer t.rollback()
	if err := fn(t); err != nil {
		return err
	}
	t.flush()
	return t.commit()
}

// recTx implements syncengine.Tx over one PostgreSQL transaction. A
// tenant's counters are read, and its counter row locked, on first use
// (before the tenant's records are read); they are written back at the
// end, and the lock goes with the commit.
type recTx struct {
	pipeline
	now     time.Time
	reg     *syncengine.Registry
	results rowcodec.ResultRuns
	events  []syncengine.Event
	tenants map[string]*tenantCounters // by tenant id, once locked
	// created and updated are the record rows written and not yet queued:
	// new records (a plain insert) and records written again (an upsert).
	created, updated recordRows
}

// tenantCounters are the last change version and conflict id a tenant
// handed out.
type tenantCounters struct {
	version, conflict uint64
	read              bool // the lock's round trip was sent
	// readVersion and readConflict are the counters as read.
	readVersion, readConflict uint64
}

func (t *recTx) Now() time.Time { return t.now }

// LastSeq returns an actor's highest applied seq and locks the actor's
// row until the transaction ends (the upsert creates a missing one), so a
// device's retry that reaches another node while its first push is in
// flight waits, then sees the seqs applied and answers from their results.
func (t *recTx) LastSeq(actor string) (uint64, error) {
	var v uint64
	err := t.row(`INSERT INTO actor_seqs (actor, last_seq) VALUES ($1, 0)
		ON CONFLICT (actor) DO UPDATE SET actor = EXCLUDED.actor RETURNING last_seq`, actor).Scan(&v)
	return v, err
}

func (t *recTx) SetLastSeq(actor string, seq uint64) error {
	t.queue("set last seq", `INSERT INTO actor_seqs (actor, last_seq) VALUES ($1, $2)
		ON CONFLICT (actor) DO UPDATE SET last_seq = EXCLUDED.last_seq`, actor, seq)
	return nil
}

// PushResult returns the stored result of an applied seq: from this
// transaction's pending results, or from the batch row that holds it.
func (t *recTx) PushResult(actor string, seq uint64) ([]byte, bool, error) {
	if b, ok := t.results.Get(actor, seq); ok {
		return b, true, nil
	}
	var first, last uint64
	var blob []byte
	err := t.row(`SELECT first_seq, last_seq, results FROM push_results WHERE actor = $1 AND first_seq <= $2
		ORDER BY first_seq DESC LIMIT 1`, actor, seq).Scan(&first, &last, &blob)
	if noRows(err) || err == nil && seq > last {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	b, err := rowcodec.NthResult(blob, int(seq-first))
	return b, err == nil, err
}

// SavePushResult keeps a result until the transaction ends, when each
// actor's consecutive results are written as one row.
func (t *recTx) SavePushResult(actor string, seq uint64, result []byte) error {
	t.results.Add(actor, seq, result)
	return nil
}

const recordColumns = `tenant_id, id, type, version, created_version, owner_id, store_id, region_id,
	value, clocks, deleted_hlc, deleted_actor, created_hlc, created_actor, hlc, actor, updated_at`

// GetRecord reads a record after locking its tenant's counters (in the
// same round trip), so that it reads the state the last writer of the
// tenant committed, and no other node writes the record before this
// transaction commits what it merges into it.
func (t *recTx) GetRecord(tenantID, id string) (*syncengine.StoredRecord, error) {
	t.lockTenant(tenantID)
	rec, err := scanRecord(t.reg, t.row(`SELECT `+recordColumns+` FROM records WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	if noRows(err) {
		return nil, nil
	}
	return rec, err
}

// GetRecords returns the stored records with these ids in one query (see
// syncengine.Tx), after locking their tenant's counters like GetRecord, in
// the same round trip.
func (t *recTx) GetRecords(tenantID string, idList []string) (map[string]*syncengine.StoredRecord, error) {
	out := make(map[string]*syncengine.StoredRecord, len(idList))
	if len(idList) == 0 {
		return out, nil
	}
	t.lockTenant(tenantID)
	err := t.query(func(rows pgx.Rows) error {
		rec, err := scanRecord(t.reg, rows)
		if err == nil {
			out[rec.ID] = rec
		}
		return err
	}, `SELECT `+recordColumns+` FROM records WHERE tenant_id = $1 AND id = ANY($2)`, tenantID, idList)
	if err != nil {
		return nil, fmt.Errorf("get records: %w", err)
	}
	return out, nil
}

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func getRecords(ctx context.Context, q querier, reg *syncengine.Registry, tenantID string, idList []string) (map[string]*syncengine.StoredRecord, error) {
	out := make(map[string]*syncengine.StoredRecord, len(idList))
	if len(idList) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, `SELECT `+recordColumns+` FROM records WHERE tenant_id = $1 AND id = ANY($2)`, tenantID, idList)
	if err != nil {
		return nil, fmt.Errorf("get records: %w", err)
	}
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

// scanRecord decodes one records row.
func scanRecord(reg *syncengine.Registry, row pgx.Row) (*syncengine.StoredRecord, error) {
	var r syncengine.StoredRecord
	var value, clocks []byte
	var delHLC, createdHLC, hlc uint64
	var delActor, createdActor string
	var updated int64
	if err := row.Scan(&r.TenantID, &r.ID, &r.Type, &r.Version, &r.CreatedVersion, &r.Scope.Owner, &r.Scope.Store, &r.Scope.Region,
		&value, &clocks, &delHLC, &delActor, &createdHLC, &createdActor, &hlc, &r.Actor, &updated); err != nil {
		return nil, err
	}
	rt, ok := reg.Lookup(r.Type)
	if !ok {
		return nil, fmt.Errorf("record %s: unknown type %q", r.ID, r.Type)
	}
	st := &syncengine.State{Value: rt.New()}
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

// counters returns the tenant's counters, locking its counter row on first
// use until the transaction ends (lockTenant).
func (t *recTx) counters(tenantID string) (*tenantCounters, error) {
	c := t.lockTenant(tenantID)
	if !c.read {
		if err := t.send(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// lockTenant queues, on the tenant's first use, the statement that locks
// its counter row until the transaction ends and reads its counters: the
// upsert creates a missing row and, like SELECT … FOR UPDATE, waits for a
// transaction holding the row and then returns its committed values. So
// one transaction at a time hands out a tenant's versions and conflict
// ids, and it commits them before the next one reads them; and the
// records a transaction reads after the lock (in the same round trip)
// are those the previous holder committed. The counters are read once the
// queue is sent.
func (t *recTx) lockTenant(tenantID string) *tenantCounters {
	if c, ok := t.tenants[tenantID]; ok {
		return c
	}
	c := &tenantCounters{}
	if t.tenants == nil {
		t.tenants = map[string]*tenantCounters{}
	}
	t.tenants[tenantID] = c
	t.pending().Queue(`INSERT INTO tenant_versions (tenant_id) VALUES ($1)
		ON CONFLICT (tenant_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id
		RETURNING version, conflict_id`, tenantID).QueryRow(func(row pgx.Row) error {
		if err := row.Scan(&c.version, &c.conflict); err != nil {
			return fmt.Errorf("lock tenant counters: %w", err)
		}
		c.read, c.readVersion, c.readConflict = true, c.version, c.conflict
		return nil
	})
	return c
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

// nextSeq hands out the next position of a surgery support (records.seq,
// read by HeldSurgeries), locking the counter until the transaction ends
// so positions commit in order; other record types take none (0).
func (t *recTx) nextSeq(recordType string) (uint64, error) {
	if recordType != records.PhotosCompleteType {
		return 0, nil
	}
	var seq uint64
	err := t.row(`UPDATE counters SET value = value + 1 WHERE name = 'surgery_seq' RETURNING value`).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("next surgery position: %w", err)
	}
	return seq, nil
}

// flush queues what the transaction buffered: the counters, the push
// results and the outbox events.
func (t *recTx) flush() {
	for tenantID, c := range t.tenants {
		if c.version != c.readVersion || c.conflict != c.readConflict {
			t.queue("save tenant counters", `UPDATE tenant_versions SET version = $2, conflict_id = $3 WHERE tenant_id = $1`,
				tenantID, c.version, c.conflict)
		}
	}
	for _, run := range t.results.Runs {
		t.queue("save push results", `INSERT INTO push_results (actor, first_seq, last_seq, results, created_at) VALUES ($1, $2, $3, $4, $5)`,
			run.Actor, run.First, run.Last(), rowcodec.JoinResults(run.Results), ms(t.now))
	}
	queueEvents(&t.pipeline, t.events, t.now)
}

// PutRecord writes a record's new state under the tenant's next version. A
// scope the record left gets its own exit row at the version just before.
func (t *recTx) PutRecord(rec *syncengine.StoredRecord, oldScope *syncengine.Scope) (uint64, error) {
	if oldScope != nil {
		exit, err := t.nextVersion(rec.TenantID)
		if err != nil {
			return 0, err
		}
		t.queue("scope exit "+rec.ID, `INSERT INTO scope_exits (tenant_id, version, record_id, type, owner_id, store_id, region_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			rec.TenantID, exit, rec.ID, rec.Type, oldScope.Owner, oldScope.Store, oldScope.Region, ms(t.now))
	}
	v, err := t.nextVersion(rec.TenantID)
	if err != nil {
		return 0, err
	}
	seq, err := t.nextSeq(rec.Type)
	if err != nil {
		return 0, err
	}
	rec.Version = v
	if rec.CreatedVersion == 0 {
		rec.CreatedVersion = v // a new record
	}
	value, err := proto.MarshalOptions{Deterministic: true}.Marshal(rec.State.Value)
	if err != nil {
		return 0, err
	}
	rec.Encoded = value
	key := recordKey{rec.TenantID, rec.ID}
	if t.created.has(key) || t.updated.has(key) {
		t.flushRecords() // one statement writes a row once
	}
	rows := &t.updated
	if rec.CreatedVersion == v {
		rows = &t.created
	}
	rows.add(key, rec, value, seq)
	return v, t.indexPhotos(rec)
}

// flushRecords queues the statements that write the record rows held
// back: one for the new records, one for those written again.
func (t *recTx) flushRecords() {
	if len(t.created.keys) > 0 {
		t.queue("put records", insertRecords, t.created.args()...)
		t.created = recordRows{}
	}
	if len(t.updated.keys) > 0 {
		t.queue("put records", insertRecords+upsertRecord, t.updated.args()...)
		t.updated = recordRows{}
	}
}

// insertRecords writes the rows of a recordRows.
const insertRecords = `INSERT INTO records (` + recordColumns + `, deleted, seq)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::text[], $7::text[], $8::text[],
		$9::bytea[], $10::bytea[], $11::int8[], $12::text[], $13::int8[], $14::text[], $15::int8[], $16::text[], $17::int8[],
		$18::bool[], $19::int8[])`

// recordKey names a record.
type recordKey struct{ tenantID, id string }

// recordRows are record rows, column by column, for insertRecords.
type recordRows struct {
	keys                                                                 map[recordKey]bool
	tenant, id, typ, owner, store, region, delActor, createdActor, actor []string
	version, createdVersion, delHLC, createdHLC, hlc, updated, seq       []int64
	value, clocks                                                        [][]byte
	deleted                                                              []bool
}

func (r *recordRows) has(k recordKey) bool { return r.keys[k] }

func (r *recordRows) add(k recordKey, rec *syncengine.StoredRecord, value []byte, seq uint64) {
	if r.keys == nil {
		r.keys = map[recordKey]bool{}
	}
	r.keys[k] = true
	st := rec.State
	r.tenant, r.id, r.typ = append(r.tenant, rec.TenantID), append(r.id, rec.ID), append(r.typ, rec.Type)
	r.version, r.createdVersion = append(r.version, int64(rec.Version)), append(r.createdVersion, int64(rec.CreatedVersion))
	r.owner, r.store, r.region = append(r.owner, rec.Scope.Owner), append(r.store, rec.Scope.Store), append(r.region, rec.Scope.Region)
	r.value, r.clocks = append(r.value, value), append(r.clocks, rowcodec.EncodeClocks(st.Fields, st.Elements))
	r.delHLC, r.delActor = append(r.delHLC, int64(st.DeletedAt.HLC)), append(r.delActor, st.DeletedAt.Actor)
	r.createdHLC, r.createdActor = append(r.createdHLC, int64(st.Created.HLC)), append(r.createdActor, st.Created.Actor)
	r.hlc, r.actor, r.updated = append(r.hlc, int64(rec.HLC)), append(r.actor, rec.Actor), append(r.updated, ms(rec.UpdatedAt))
	r.deleted, r.seq = append(r.deleted, st.Deleted()), append(r.seq, int64(seq))
}

// args are insertRecords' parameters.
func (r *recordRows) args() []any {
	return []any{r.tenant, r.id, r.typ, r.version, r.createdVersion, r.owner, r.store, r.region, r.value, r.clocks,
		r.delHLC, r.delActor, r.createdHLC, r.createdActor, r.hlc, r.actor, r.updated, r.deleted, r.seq}
}

const upsertRecord = ` ON CONFLICT (tenant_id, id) DO UPDATE SET version = EXCLUDED.version, owner_id = EXCLUDED.owner_id,
	store_id = EXCLUDED.store_id, region_id = EXCLUDED.region_id, value = EXCLUDED.value, clocks = EXCLUDED.clocks,
	deleted_hlc = EXCLUDED.deleted_hlc, deleted_actor = EXCLUDED.deleted_actor, hlc = EXCLUDED.hlc,
	actor = EXCLUDED.actor, updated_at = EXCLUDED.updated_at, deleted = EXCLUDED.deleted, seq = EXCLUDED.seq`

// AddConflict appends to the conflict log under the tenant's next conflict id.
func (t *recTx) AddConflict(c *syncengine.Conflict) error {
	counters, err := t.counters(c.TenantID)
	if err != nil {
		return err
	}
	counters.conflict++
	c.ID = counters.conflict
	err = t.exec(`INSERT INTO conflicts (tenant_id, id, record_type, record_id, field, losing, winning,
		losing_hlc, losing_actor, winning_hlc, winning_actor, reason, owner_id, store_id, region_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		c.TenantID, c.ID, c.RecordType, c.RecordID, c.Field, c.Losing, c.Winning, uint64(c.LosingAt.HLC), c.LosingAt.Actor,
		uint64(c.WinningAt.HLC), c.WinningAt.Actor, c.Reason, c.Scope.Owner, c.Scope.Store, c.Scope.Region, ms(c.CreatedAt))
	if err != nil {
		return fmt.Errorf("add conflict: %w", err)
	}
	return nil
}

// AppendEvent checks an event and keeps it for the transaction's end.
func (t *recTx) AppendEvent(ev syncengine.Event) error {
	if err := checkEvent(ev); err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	t.events = append(t.events, ev)
	return nil
}

func (t *recTx) AddReceipt(tenantID, deviceID, userID string, version uint64, at time.Time) (uint64, error) {
	var prev uint64
	err := t.row(`SELECT version FROM device_cursors WHERE device_id = $1`, deviceID).Scan(&prev)
	if err != nil && !noRows(err) {
		return 0, err
	}
	if version <= prev {
		return prev, nil
	}
	if err := t.exec(`INSERT INTO receipts (device_id, version, tenant_id, user_id, received_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`, deviceID, version, tenantID, userID, ms(at)); err != nil {
		return 0, err
	}
	return prev, t.exec(`INSERT INTO device_cursors (device_id, version, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (device_id) DO UPDATE SET version = EXCLUDED.version, updated_at = EXCLUDED.updated_at`, deviceID, version, ms(t.now))
}

// UserPlace returns a user's store and region (see syncengine.Tx).
func (t *recTx) UserPlace(tenantID, userID string) (syncengine.Scope, bool, error) {
	sc := syncengine.Scope{Owner: userID}
	err := t.row(`SELECT store_id, region_id FROM users WHERE id = $1 AND tenant_id = $2`, userID, tenantID).Scan(&sc.Store, &sc.Region)
	if noRows(err) {
		return syncengine.Scope{}, false, nil
	}
	return sc, err == nil, err
}

// StoreRegion returns the region of a store (see syncengine.Tx).
func (t *recTx) StoreRegion(tenantID, storeID string) (string, bool, error) {
	var region string
	err := t.row(`SELECT region_id FROM stores WHERE id = $1 AND tenant_id = $2`, storeID, tenantID).Scan(&region)
	if noRows(err) {
		return "", false, nil
	}
	return region, err == nil, err
}

// RegionExists reports whether the tenant has the region (see syncengine.Tx).
func (t *recTx) RegionExists(tenantID, regionID string) (bool, error) {
	var ok bool
	err := t.row(`SELECT EXISTS (SELECT 1 FROM regions WHERE id = $1 AND tenant_id = $2)`, regionID, tenantID).Scan(&ok)
	return ok, err
}

// GetRecords returns current records by id (see syncengine.Store).
func (db *DB) GetRecords(ctx context.Context, tenantID string, idList []string) (_ map[string]*syncengine.StoredRecord, err error) {
	defer classify(&err)
	return getRecords(ctx, db.pool, db.reg, tenantID, idList)
}

// GetRecordValues returns current records by id as stored bytes (see
// syncengine.Store).
func (db *DB) GetRecordValues(ctx context.Context, tenantID string, idList []string) (_ map[string]*syncengine.RawRecord, err error) {
	defer classify(&err)
	out := make(map[string]*syncengine.RawRecord, len(idList))
	if len(idList) == 0 {
		return out, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT id, type, value, owner_id, store_id, region_id, version, hlc, deleted, updated_at
		FROM records WHERE tenant_id = $1 AND id = ANY($2)`, tenantID, idList)
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

// CursorBounds reads a tenant's purge horizon and latest committed version
// (see syncengine.Store). Every version up to latest is committed: the
// transaction that handed it out held the tenant's counter row until it
// committed, and wrote latest in that commit.
func (db *DB) CursorBounds(ctx context.Context, tenantID string) (purged, latest uint64, err error) {
	defer classify(&err)
	err = db.pool.QueryRow(ctx, `SELECT purged_through, version FROM tenant_versions WHERE tenant_id = $1`, tenantID).Scan(&purged, &latest)
	if noRows(err) {
		return 0, 0, nil
	}
	return purged, latest, err
}

// ListConflicts reads the conflict log (see syncengine.Store), with the
// place of each writing device's user.
func (db *DB) ListConflicts(ctx context.Context, q syncengine.ConflictQuery) (_ []*syncengine.Conflict, err error) {
	defer classify(&err)
	rows, err := db.pool.Query(ctx, `SELECT c.id, c.tenant_id, c.record_type, c.record_id, c.field, c.losing, c.winning,
		c.losing_hlc, c.losing_actor, c.winning_hlc, c.winning_actor, c.reason, c.owner_id, c.store_id, c.region_id, c.created_at,
		lu.id, COALESCE(lu.store_id, ''), COALESCE(lu.region_id, ''), wu.id, COALESCE(wu.store_id, ''), COALESCE(wu.region_id, '')
		FROM conflicts c
		LEFT JOIN devices ld ON ld.id = c.losing_actor AND ld.tenant_id = c.tenant_id LEFT JOIN users lu ON lu.id = ld.user_id
		LEFT JOIN devices wd ON wd.id = c.winning_actor AND wd.tenant_id = c.tenant_id LEFT JOIN users wu ON wu.id = wd.user_id
		WHERE c.tenant_id = $1 AND c.id > $2 AND ($3 = '' OR c.record_id = $3) AND ($4 = '' OR c.losing_actor = $4)
		AND ($5 = '' OR c.store_id = $5) AND ($6 = '' OR c.region_id = $6) ORDER BY c.id LIMIT $7`,
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
		var lu, wu *string
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
func userPlace(userID *string, sc syncengine.Scope) *syncengine.Scope {
	if userID == nil {
		return nil
	}
	sc.Owner = *userID
	return &sc
}

// Receipts returns each device's first receipt at or beyond a version (see syncengine.Store).
func (db *DB) Receipts(ctx context.Context, tenantID string, minVersion uint64) (_ []syncengine.Delivery, err error) {
	defer classify(&err)
	rows, err := db.pool.Query(ctx, `SELECT r.device_id, MIN(r.user_id), MIN(r.version), MIN(r.received_at), MIN(u.role), MIN(u.region_id), MIN(u.store_id)
		FROM receipts r JOIN users u ON u.id = r.user_id
		WHERE r.tenant_id = $1 AND r.version >= $2 GROUP BY r.device_id ORDER BY r.device_id`, tenantID, minVersion)
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

// PurgeTombstones deletes tombstones and scope exits older than a time and
// moves each tenant's purge horizon, so its older cursors get "resync". A
// horizon is a committed change row's version, so no version at or below
// it can still commit.
func (db *DB) PurgeTombstones(ctx context.Context, olderThan time.Time) (_ int64, err error) {
	defer classify(&err)
	var n int64
	err = db.writeTx(ctx, func(tx pgx.Tx, _ time.Time) error {
		type horizon struct {
			tenantID string
			version  uint64
		}
		horizons, err := collect(ctx, tx, func(row pgx.Row) (horizon, error) {
			var h horizon
			return h, row.Scan(&h.tenantID, &h.version)
		}, `SELECT tenant_id, MAX(v) FROM (
			SELECT tenant_id, MAX(version) AS v FROM records WHERE deleted AND updated_at < $1 GROUP BY tenant_id
			UNION ALL SELECT tenant_id, MAX(version) FROM scope_exits WHERE created_at < $1 GROUP BY tenant_id) h
			GROUP BY tenant_id ORDER BY tenant_id`, ms(olderThan))
		if err != nil {
			return err
		}
		for _, h := range horizons {
			tag, err := tx.Exec(ctx, `DELETE FROM records WHERE tenant_id = $1 AND deleted AND version <= $2`, h.tenantID, h.version)
			if err != nil {
				return err
			}
			n += tag.RowsAffected()
			if _, err := tx.Exec(ctx, `DELETE FROM scope_exits WHERE tenant_id = $1 AND version <= $2`, h.tenantID, h.version); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE tenant_versions SET purged_through = GREATEST(purged_through, $2) WHERE tenant_id = $1`,
				h.tenantID, h.version); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("purge tombstones: %w", err)
	}
	return n, nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) (err error) {
	defer classify(&err)
	return db.pool.Ping(ctx)
}

// RecordsByOwner returns the live records of a type owned by a user, newest
// change first (operation logs read under an access grant).
func (db *DB) RecordsByOwner(ctx context.Context, tenantID, recordType, ownerID string, limit int) (_ []*syncengine.StoredRecord, err error) {
	defer classify(&err)
	owned := ` AND owner_id <> ''` // records_owner holds only records with an owner (migration 0012)
	if ownerID == "" {
		owned = ""
	}
	out, err := collect(ctx, db.pool, func(row pgx.Row) (*syncengine.StoredRecord, error) { return scanRecord(db.reg, row) },
		`SELECT `+recordColumns+` FROM records WHERE tenant_id = $1 AND type = $2 AND owner_id = $3`+owned+` AND NOT deleted
		ORDER BY version DESC LIMIT $4`, tenantID, recordType, ownerID, limit)
	if err != nil {
		return nil, fmt.Errorf("records by owner: %w", err)
	}
	return out, nil
}

// VersionBefore returns the version after which a listing of one record
// type starts to show the records changed at or after t: just below the
// first such record's version, or the tenant's latest version when there
// is none.
func (db *DB) VersionBefore(ctx context.Context, tenantID, recordType string, t time.Time) (_ uint64, err error) {
	defer classify(&err)
	var first *int64
	if err := db.pool.QueryRow(ctx, `SELECT MIN(version) FROM records WHERE tenant_id = $1 AND type = $2 AND updated_at >= $3`,
		tenantID, recordType, ms(t)).Scan(&first); err != nil {
		return 0, fmt.Errorf("version before: %w", err)
	}
	if first != nil {
		return uint64(*first) - 1, nil
	}
	_, latest, err := db.CursorBounds(ctx, tenantID)
	return latest, err
}
