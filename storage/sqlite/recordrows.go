package sqlite

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/fieldsync/fieldsync/storage/internal/rowcodec"
	"github.com/fieldsync/fieldsync/syncengine"
)

// Record rows are written at the transaction's end, a batch's rows in a
// few multi-row INSERTs rather than one statement each: a push of 100
// mutations paid the statement's fixed cost (binding, opening a cursor on
// the table and each of its indexes, resetting) 100 times. Until then the
// transaction answers its own reads of those records from the rows it
// keeps (GetRecord), and flushes them before any other read of the
// records table (GetRecords, CreatedBetween), so what it reads is what a
// statement per write would have shown.

// recordArgs is how many values a records row binds: recordColumns, then
// deleted and seq.
const recordArgs = 19

// pendingRecord is one records row waiting for the transaction's end.
// Its columns are kept as they are and boxed into arguments only when
// bound (arg): a column a chunk's rows share is then boxed once per chunk,
// not once per row (the boxes were a good part of a push's garbage).
type pendingRecord struct {
	// insert: the record had no stored row when the transaction first
	// wrote it, so the row goes in with a plain INSERT (a stored row is
	// then an error, as it was for a statement per write); otherwise an
	// upsert.
	insert bool

	tenantID, id, typ       string
	version, createdVersion int64
	owner, store, region    string
	value, clocks           []byte
	deletedHLC              int64
	deletedActor            string
	createdHLC              int64
	createdActor            string
	hlc                     int64
	actor                   string
	updatedAt               int64
	deleted                 bool
	seq                     int64
}

// arg returns column c (recordColumns, then deleted and seq) as bound.
func (p *pendingRecord) arg(c int) any {
	switch c {
	case 0:
		return p.tenantID
	case 1:
		return p.id
	case 2:
		return p.typ
	case 3:
		return p.version
	case 4:
		return p.createdVersion
	case 5:
		return p.owner
	case 6:
		return p.store
	case 7:
		return p.region
	case 8:
		return p.value
	case 9:
		return p.clocks
	case 10:
		return p.deletedHLC
	case 11:
		return p.deletedActor
	case 12:
		return p.createdHLC
	case 13:
		return p.createdActor
	case 14:
		return p.hlc
	case 15:
		return p.actor
	case 16:
		return p.updatedAt
	case 17:
		return p.deleted
	case 18:
		return p.seq
	}
	return nil
}

// sameAs reports whether column c holds the same value in p and o,
// without boxing it; never for the blobs (value, clocks), which no chunk
// shares.
func (p *pendingRecord) sameAs(o *pendingRecord, c int) bool {
	switch c {
	case 0:
		return p.tenantID == o.tenantID
	case 1:
		return p.id == o.id
	case 2:
		return p.typ == o.typ
	case 3:
		return p.version == o.version
	case 4:
		return p.createdVersion == o.createdVersion
	case 5:
		return p.owner == o.owner
	case 6:
		return p.store == o.store
	case 7:
		return p.region == o.region
	case 10:
		return p.deletedHLC == o.deletedHLC
	case 11:
		return p.deletedActor == o.deletedActor
	case 12:
		return p.createdHLC == o.createdHLC
	case 13:
		return p.createdActor == o.createdActor
	case 14:
		return p.hlc == o.hlc
	case 15:
		return p.actor == o.actor
	case 16:
		return p.updatedAt == o.updatedAt
	case 17:
		return p.deleted == o.deleted
	case 18:
		return p.seq == o.seq
	}
	return false
}

// Scan reads the row back as a SELECT of recordColumns would (scanRecord).
func (p *pendingRecord) Scan(dest ...any) error {
	if len(dest) > recordArgs {
		return fmt.Errorf("pending record: %d columns, have %d", len(dest), recordArgs)
	}
	for i, d := range dest {
		switch d := d.(type) {
		case *string:
			*d = p.arg(i).(string)
		case *uint64:
			*d = uint64(p.arg(i).(int64))
		case *int64:
			*d = p.arg(i).(int64)
		case *[]byte:
			*d = slices.Clone(p.arg(i).([]byte))
		default:
			return fmt.Errorf("pending record: cannot scan column %d into %T", i, d)
		}
	}
	return nil
}

// recordKey names a record across tenants.
type recordKey struct{ tenantID, id string }

// pendingRecords are a transaction's record rows in the order first
// written; a record written again keeps its place and takes the new row.
type pendingRecords struct {
	rows []pendingRecord
	at   map[recordKey]int // index in rows
	// What flushRecords works with: the rows by kind, and the arguments
	// of a statement.
	byKind []*pendingRecord
	args   []any
}

// pendingPool keeps pendingRecords' storage from one transaction to the
// next: a push's rows (100 of them, ≈ 200 bytes each, and the map, the
// arguments) were grown anew every time, about a tenth of the bytes a
// push allocates, and the garbage collector's work grows with those bytes.
var pendingPool = sync.Pool{New: func() any {
	return &pendingRecords{at: make(map[recordKey]int, maxRecordRows), rows: make([]pendingRecord, 0, maxRecordRows)}
}}

// take gives p storage from the pool.
func (p *pendingRecords) take() { *p = *pendingPool.Get().(*pendingRecords) }

// release empties p and gives its storage back to the pool, holding on
// to none of the rows' values.
func (p *pendingRecords) release() {
	clear(p.rows)
	clear(p.at)
	clear(p.byKind)
	clear(p.args[:cap(p.args)]) // a shorter last chunk left the longer ones' arguments beyond len
	pendingPool.Put(&pendingRecords{rows: p.rows[:0], at: p.at, byKind: p.byKind[:0], args: p.args[:0]})
	*p = pendingRecords{}
}

func (p *pendingRecords) get(tenantID, id string) *pendingRecord {
	if i, ok := p.at[recordKey{tenantID, id}]; ok {
		return &p.rows[i]
	}
	return nil
}

// keepRecord keeps rec's new row (value its encoding, seq its commit
// sequence) for the transaction's end.
func (t *recTx) keepRecord(rec *syncengine.StoredRecord, insert bool, value []byte, seq uint64) error {
	st := rec.State
	// Integers go in as int64, a value the driver takes as it is: a uint64
	// argument costs database/sql a conversion (and an allocation) each.
	// Versions, HLCs and commit sequences stay below 1<<63 (the push
	// path bounds device HLCs); one that does not is refused, as the
	// conversion did, rather than stored as a negative number that no
	// read scans back into a uint64.
	if (rec.Version|rec.CreatedVersion|uint64(st.DeletedAt.HLC)|uint64(st.Created.HLC)|uint64(rec.HLC)|seq)>>63 != 0 {
		return fmt.Errorf("put record %s: a version, HLC or sequence of 1<<63 or more does not fit the records table", rec.ID)
	}
	row := pendingRecord{
		insert:   insert,
		tenantID: rec.TenantID, id: rec.ID, typ: rec.Type, version: int64(rec.Version), createdVersion: int64(rec.CreatedVersion),
		owner: rec.Scope.Owner, store: rec.Scope.Store, region: rec.Scope.Region,
		value: value, clocks: rowcodec.EncodeClocks(st.Fields, st.Elements),
		deletedHLC: int64(st.DeletedAt.HLC), deletedActor: st.DeletedAt.Actor, createdHLC: int64(st.Created.HLC), createdActor: st.Created.Actor,
		hlc: int64(rec.HLC), actor: rec.Actor, updatedAt: ms(rec.UpdatedAt), deleted: st.Deleted(), seq: int64(seq),
	}
	p := &t.pending
	key := recordKey{rec.TenantID, rec.ID}
	i, ok := p.at[key]
	switch {
	case !ok:
		if p.at == nil {
			p.take()
		}
		p.at[key] = len(p.rows)
		p.rows = append(p.rows, row)
	case insert:
		// A second creation of the same record: the stored row's primary
		// key refused this when each write ran its own statement.
		return fmt.Errorf("put record %s: created twice in one transaction", rec.ID)
	default:
		row.insert = p.rows[i].insert // the row is not stored yet either way
		p.rows[i] = row
	}
	return nil
}

// maxRecordRows is the most rows one INSERT carries. Chunks are powers of
// two up to it, so a handful of statement texts (each prepared once)
// serve any batch size.
const maxRecordRows = 32

// The rows of a batch mostly share most of their values: one tenant, type,
// device and scope, the transaction's time. A column whose value is the
// same in every row of a chunk is bound once, in the SELECT of an INSERT
// whose VALUES rows carry only the other columns, rather than once per
// row (numbered parameters would do it too, but modernc then reads every
// parameter's name back, which costs more than it saves): binding is a good part of the
// insert's cost (modernc copies every text and blob into C memory and
// database/sql converts every argument), and a chunk of 32 new visits
// binds 267 values instead of 608. Which columns are shared is a bitmask
// (sharedGroups); a chunk's statement text depends on it and on the
// chunk's size.

// sharedGroups are the columns that may be shared, in groups shared
// whole or not at all, so that a chunk's mask is one of 8 and the
// statement texts stay few whatever the rows hold (a device must not be
// able to make the writer prepare statements without end): the batch's
// own (tenant, type, deleted and its version, writer, time); the scope;
// the creator.
var sharedGroups = [...]uint32{
	1<<0 | 1<<2 | 1<<10 | 1<<11 | 1<<15 | 1<<16 | 1<<17,
	1<<5 | 1<<6 | 1<<7,
	1 << 13,
}

// sharedColumns returns the mask of the groups of columns whose values
// are the same in every row.
func sharedColumns(rows []*pendingRecord) uint32 {
	var mask uint32
	for _, g := range sharedGroups {
		if sameIn(rows, g) {
			mask |= g
		}
	}
	return mask
}

// sameIn reports whether every row holds the first row's values in the
// columns of mask (none of them a blob).
func sameIn(rows []*pendingRecord, mask uint32) bool {
	for _, r := range rows[1:] {
		for c := range recordArgs {
			if mask&(1<<c) != 0 && !r.sameAs(rows[0], c) {
				return false
			}
		}
	}
	return true
}

// recordStmtKey names one statement text of record rows.
type recordStmtKey struct {
	upsert bool
	n      int    // rows
	shared uint32 // columns bound once (sharedColumns)
}

// recordStmts caches the statement texts by key.
var recordStmts sync.Map // recordStmtKey → string

// recordStatement returns the text of an INSERT of k.n rows whose
// k.shared columns are bound once, first (in the SELECT), and the others
// row by row (in its VALUES).
//
// The statements are INSERT OR FAIL: with the default (ABORT) a
// statement that writes several rows must be able to undo itself alone,
// so SQLite copies every page it touches into a statement journal first
// (about a tenth of the insert's cost). A failed flush never leaves the
// transaction standing (its error ends the closure, and the writer rolls
// the transaction or its savepoint back), so the rows a failing statement
// wrote before the failure are undone all the same; what FAIL changes is
// only that SQLite need not keep the copy.
func recordStatement(k recordStmtKey) string {
	if q, ok := recordStmts.Load(k); ok {
		return q.(string)
	}
	var b strings.Builder
	b.WriteString(`INSERT OR FAIL INTO records (` + recordColumns + `, deleted, seq) SELECT `)
	perRow := 0 // columns of the VALUES rows
	for c := range recordArgs {
		if c > 0 {
			b.WriteByte(',')
		}
		if k.shared&(1<<c) != 0 {
			b.WriteByte('?')
		} else {
			perRow++
			b.WriteString("column" + strconv.Itoa(perRow))
		}
	}
	b.WriteString(` FROM (VALUES `)
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", perRow), ",") + ")"
	b.WriteString(strings.TrimSuffix(strings.Repeat(row+",", k.n), ","))
	// WHERE true: without it SQLite would read ON CONFLICT as a join's ON.
	b.WriteString(`) WHERE true`)
	if k.upsert {
		b.WriteString(upsertRecord)
	}
	q, _ := recordStmts.LoadOrStore(k, b.String())
	return q.(string)
}

// flushRecords writes the pending record rows: new records' with plain
// INSERTs, the others' with upserts, each kind in the order first written.
func (t *recTx) flushRecords() error {
	p := &t.pending
	if len(p.rows) == 0 {
		return nil
	}
	byKind := p.byKind[:0]
	for i := range p.rows {
		if p.rows[i].insert {
			byKind = append(byKind, &p.rows[i])
		}
	}
	inserts := len(byKind)
	for i := range p.rows {
		if !p.rows[i].insert {
			byKind = append(byKind, &p.rows[i])
		}
	}
	p.byKind = byKind
	if err := t.insertRecords(false, byKind[:inserts]); err != nil {
		return err
	}
	if err := t.insertRecords(true, byKind[inserts:]); err != nil {
		return err
	}
	p.release()
	return nil
}

func (t *recTx) insertRecords(upsert bool, rows []*pendingRecord) error {
	args := t.pending.args
	defer func() { t.pending.args = args }()
	for len(rows) > 0 {
		n := maxRecordRows // the largest chunk not longer than rows
		for n > len(rows) {
			n /= 2
		}
		chunk := rows[:n]
		k := recordStmtKey{upsert: upsert, n: n, shared: sharedColumns(chunk)}
		args = args[:0]
		for c := range recordArgs {
			if k.shared&(1<<c) != 0 {
				args = append(args, chunk[0].arg(c))
			}
		}
		for _, r := range chunk {
			for c := range recordArgs {
				if k.shared&(1<<c) == 0 {
					args = append(args, r.arg(c))
				}
			}
		}
		if err := t.exec(recordStatement(k), args...); err != nil {
			return fmt.Errorf("put records: %w", err)
		}
		rows = rows[n:]
	}
	return nil
}
