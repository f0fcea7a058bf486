package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fieldsync/fieldsync/syncengine"
)

// ScanChanges reads the change rows a selection selects after a version
// (see syncengine.Store). Each (term, type) is one range of a scope index
// (migration 0009) in version order; one statement merges the ranges,
// stops at limit, and only then reads the rows it returns. Its cost follows
// the page, not the tenant.
//
// The scan looks no further than the tenant's latest version when it
// starts: a change committed meanwhile gets a later version, which the
// next scan reads. So a page that did not stop at limit covers everything
// through that version. The bound and the rows are read in one snapshot:
// read apart, a record written again in between would have its row moved
// past the bound, missing from a page that claims to cover its earlier
// change (a device would not see it until its next pull).
func (db *DB) ScanChanges(ctx context.Context, sel syncengine.Selection, after uint64, limit int) (*syncengine.ChangePage, error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("scan changes: %w", err)
	}
	defer db.rstmts.preparePending(context.WithoutCancel(ctx)) // after the rollback: see txReadStmt
	defer tx.Rollback()
	latest, err := db.latestVersion(ctx, tx, sel.TenantID)
	switch {
	case err != nil:
		return nil, err
	case latest <= after || limit <= 0:
		return &syncengine.ChangePage{Through: after}, nil
	case len(sel.Terms) == 0:
		return &syncengine.ChangePage{Through: latest}, nil
	}
	if db.afterScanBound != nil {
		db.afterScanBound()
	}
	query, args := scanQuery(sel, after, latest, limit)
	st, err := db.txReadStmt(ctx, tx, query)
	if err != nil {
		return nil, fmt.Errorf("scan changes: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("scan changes: %w", err)
	}
	pg, err := scanChangePage(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("scan changes: %w", err)
	}
	if !pg.More {
		pg.Through = latest
	}
	return pg, nil
}

// latestVersion reads a tenant's latest version in tx (see CursorBounds).
func (db *DB) latestVersion(ctx context.Context, tx *sql.Tx, tenantID string) (uint64, error) {
	st, err := db.txReadStmt(ctx, tx, `SELECT version FROM tenant_versions WHERE tenant_id = ?`)
	if err != nil {
		return 0, fmt.Errorf("latest version: %w", err)
	}
	var latest uint64
	err = st.QueryRowContext(ctx, tenantID).Scan(&latest)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("latest version: %w", err)
	}
	return latest, nil
}

// scanQuery builds the statement of a scan: ?1 the tenant, ?2 and ?3 the
// versions after and through, ?4 the limit, then the term values and type
// names. Its text depends only on the shape of the selection (how many
// terms of each field, how many types each), so a few prepared statements
// serve every caller.
//
// The limit is written +?4, not ?4: SQLite (3.46 and later) reads a LIMIT
// that is a bare parameter's value when it plans the statement, so every
// new binding of it made the prepared scan parse and plan itself again
// (sqlite3Reprepare: 7% of the server's CPU in a first sync). An expression
// is bound like any other parameter and the plan is the same.
//
// The ranges are merged with UNION ALL on the version alone, which SQLite
// does lazily; a row two terms select comes twice, side by side, and
// scanChangePage drops the copy. Record rows carry their rowid, exit rows
// none.
//
// A row is two columns: the value, and one text (rowText) of the rest:
// the version and two flags (version*4 + 2 for an exit + 1 for a deleted
// record), hlc, updated_at, id, type, owner, store and region. Every column
// read costs two or three calls into SQLite, each taking the connection's
// mutex (modernc opens every connection SQLITE_OPEN_FULLMUTEX): as eleven
// columns they were a quarter of the server's CPU in a first sync.
func scanQuery(sel syncengine.Selection, after, through uint64, limit int) (string, []any) {
	b := &scanBuilder{args: []any{sel.TenantID, after, through, limit}, types: map[string]string{}}
	var shape []scanRange
	var key strings.Builder
	b.eachRange(sel, func(string) bool { return true }, func(field syncengine.ScopeField, value, typ string, empty bool) {
		shape = append(shape, scanRange{field, value, typ, empty})
		key.WriteByte(byte('0' + field))
		if empty {
			key.WriteByte('!') // an empty value: another index (recordsRange)
		}
		key.WriteString(value)
		key.WriteString(typ)
		key.WriteByte(';')
	})
	if q, ok := scanQueries.Load(key.String()); ok {
		return q.(string), b.args
	}
	for _, r := range shape {
		index, where := recordsRange(r.field, r.value, r.typ, r.empty)
		b.arms = append(b.arms, "SELECT version, rowid AS rid FROM records INDEXED BY "+index+where+" AND version <= ?3",
			"SELECT version, NULL AS rid FROM scope_exits INDEXED BY "+scopeIndex("scope_exits", r.field)+
				rangeWhere(r.field, r.value, r.typ)+" AND version <= ?3")
	}
	q := `SELECT ` + rowText([]string{"u.version * 4 + (u.rid IS NULL) * 2 + COALESCE(r.deleted, 0)", "COALESCE(r.hlc, 0)", "COALESCE(r.updated_at, 0)"},
		[]string{"COALESCE(r.id, x.record_id)", "COALESCE(r.type, x.type)", "COALESCE(r.owner_id, x.owner_id)",
			"COALESCE(r.store_id, x.store_id)", "COALESCE(r.region_id, x.region_id)"}) + `, r.value
		FROM (` + unionAll(b.arms, func(g string) string { return "SELECT version, rid FROM (" + g + " ORDER BY 1 LIMIT +?4)" }) + `
		ORDER BY 1 LIMIT +?4) u
		LEFT JOIN records r ON r.rowid = u.rid
		LEFT JOIN scope_exits x ON u.rid IS NULL AND x.tenant_id = ?1 AND x.version = u.version`
	if scanQueryCount.Add(1) <= maxScanQueries {
		scanQueries.Store(key.String(), q)
	}
	return q, b.args
}

// rowText is the SQL of one text holding integers and strings (see
// parseRowText): each integer in decimal and each string's byte length,
// every one followed by a comma, then the strings one after the other. A
// column read is two or three calls into SQLite, each behind the
// connection's mutex: the scan's row was ten columns, now two. The last
// string's length is there so that a text whose strings do not add up (one
// holding a NUL, where printf's %s stops) is refused, not cut wrongly.
func rowText(ints, strs []string) string {
	var format strings.Builder
	var args []string
	for _, i := range ints {
		format.WriteString("%d,")
		args = append(args, i)
	}
	for _, s := range strs {
		format.WriteString("%d,")
		args = append(args, "octet_length("+s+")")
	}
	for _, s := range strs {
		format.WriteString("%s")
		args = append(args, s)
	}
	return "printf('" + format.String() + "', " + strings.Join(args, ", ") + ")"
}

// parseRowText splits a text of rowText into len(ints) integers and
// len(strs) strings, which share its bytes.
func parseRowText(h string, ints []int64, strs []string) error {
	rest := h
	next := func() (int64, bool) {
		num, after, ok := strings.Cut(rest, ",")
		n, err := strconv.ParseInt(num, 10, 64)
		rest = after
		return n, ok && err == nil
	}
	for i := range ints {
		n, ok := next()
		if !ok {
			return fmt.Errorf("scan row: malformed %.60q", h)
		}
		ints[i] = n
	}
	var lens [8]int
	for i := range strs {
		n, ok := next()
		if !ok || n < 0 || n > int64(len(h)) {
			return fmt.Errorf("scan row: malformed %.60q", h)
		}
		lens[i] = int(n)
	}
	for i := range strs {
		if lens[i] > len(rest) {
			return fmt.Errorf("scan row: malformed %.60q", h)
		}
		strs[i], rest = rest[:lens[i]], rest[lens[i]:]
	}
	if rest != "" {
		return fmt.Errorf("scan row: malformed %.60q", h)
	}
	return nil
}

// scanQueries keeps the text of scanQuery by the selection's shape (each
// range's field and parameters, in order): a pull builds its key, not the
// statement (building it was a fifth of a pull's scan). At most
// maxScanQueries shapes are kept; a role or scope has one.
var (
	scanQueries    sync.Map // shape key → statement text
	scanQueryCount atomic.Int64
)

const maxScanQueries = 4096

// scanRange is one (term, type) range of a scan: its field and the
// parameters holding its value and type.
type scanRange struct {
	field      syncengine.ScopeField
	value, typ string
	empty      bool // the term's value is empty
}

// scanBuilder collects the arms of a scan and their parameters.
type scanBuilder struct {
	arms  []string
	args  []any
	types map[string]string // type name → its parameter
}

func (b *scanBuilder) param(v string) string {
	b.args = append(b.args, v)
	return "?" + strconv.Itoa(len(b.args))
}

func (b *scanBuilder) typeParam(typ string) string {
	if p, ok := b.types[typ]; ok {
		return p
	}
	p := b.param(typ)
	b.types[typ] = p
	return p
}

// compoundTerms is how many SELECTs unionAll joins in one compound: SQLite
// refuses more than 500.
const compoundTerms = 200

// unionAll joins selects with UNION ALL. Past compoundTerms it joins them
// in groups, each made one SELECT by wrap, so a selection of many types
// still makes a statement SQLite accepts.
func unionAll(selects []string, wrap func(group string) string) string {
	for len(selects) > compoundTerms {
		var groups []string
		for g := range slices.Chunk(selects, compoundTerms) {
			groups = append(groups, wrap(strings.Join(g, "\n\t\tUNION ALL ")))
		}
		selects = groups
	}
	return strings.Join(selects, "\n\t\tUNION ALL ")
}

// scopeColumns are the column and index-name suffix of each term field.
var scopeColumns = map[syncengine.ScopeField][2]string{
	syncengine.ByOwner: {"owner_id", "owner"}, syncengine.ByStore: {"store_id", "store"},
	syncengine.ByRegion: {"region_id", "region"}, syncengine.AnyPlace: {"", "type"},
}

// eachRange calls add for each (term, type) of sel whose type keep
// accepts, with the parameters holding the term's value and the type.
func (b *scanBuilder) eachRange(sel syncengine.Selection, keep func(typ string) bool, add func(field syncengine.ScopeField, value, typ string, empty bool)) {
	for _, t := range sel.Terms {
		value := ""
		for _, typ := range t.Types {
			if !keep(typ) {
				continue
			}
			if value == "" && t.Field != syncengine.AnyPlace {
				value = b.param(t.Value)
			}
			add(t.Field, value, b.typeParam(typ), t.Field != syncengine.AnyPlace && t.Value == "")
		}
	}
}

// scopeIndex names the index a range of a table reads.
func scopeIndex(table string, field syncengine.ScopeField) string {
	return table + "_" + scopeColumns[field][1]
}

// partialScope are the term fields whose records index holds only the
// rows with a value there (migration 0020): a record without a store (a
// visit, a rep's customer) or without an owner (a shared record) is in no
// range of them a term reads.
var partialScope = map[syncengine.ScopeField]string{syncengine.ByOwner: "owner_id", syncengine.ByStore: "store_id"}

// recordsRange is the index and WHERE clause of one (term, type) range of
// the records table. A partial index serves a query only when its WHERE
// says what the index's does, so a range of one says the column is not empty
// beside the term's value; a term whose value is empty (Select makes none,
// but a Selection may say so) reads the type's range and compares the
// column row by row. value is the parameter holding the term's value,
// empty whether that value is "".
func recordsRange(field syncengine.ScopeField, value, typ string, empty bool) (index, where string) {
	where = rangeWhere(field, value, typ)
	col, partial := partialScope[field]
	switch {
	case !partial:
		return scopeIndex("records", field), where
	case empty:
		return scopeIndex("records", syncengine.AnyPlace), where
	}
	return scopeIndex("records", field), where + " AND " + col + " != ''"
}

// rangeWhere is the WHERE clause of one (term, type) range: its rows with
// a version after ?2.
func rangeWhere(field syncengine.ScopeField, value, typ string) string {
	where := " WHERE tenant_id = ?1 AND "
	if col := scopeColumns[field][0]; col != "" {
		where += col + " = " + value + " AND "
	}
	return where + "type = " + typ + " AND version > ?2"
}

// scanChangePage reads the rows of a scan: a record row carries the
// record's current state, an exit row the scope the record left. limit
// rows, copies included, mean the scan stopped early: it covered through
// the last.
//
// The row is scanned into a scanRow, whose destinations database/sql
// fills without converting (see scanRow); the page's records are
// allocated together, and their values copied into one buffer.
func scanChangePage(rows *sql.Rows, limit int) (*syncengine.ChangePage, error) {
	defer rows.Close()
	pg := &syncengine.ChangePage{Rows: make([]syncengine.ChangeRow, 0, min(limit, firstScanRows))}
	var recs []syncengine.RawRecord
	var values []byte
	var sr scanRow
	dest := sr.dest()
	n := 0
	for ; rows.Next(); n++ {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		r, raw, err := sr.change()
		if err != nil {
			return nil, err
		}
		if r.Version == pg.Through {
			continue // the same row again, from another term
		}
		pg.Through = r.Version
		if !r.Exit {
			if len(recs) == cap(recs) {
				recs = make([]syncengine.RawRecord, 0, min(max(2*cap(recs), firstScanRows), limit, maxScanSlab))
			}
			values, raw.Value = appendValue(values, sr.value)
			recs = append(recs, raw)
			r.Record = &recs[len(recs)-1]
		}
		pg.Rows = append(pg.Rows, r)
	}
	pg.More = n == limit
	return pg, rows.Err()
}

// What scanChangePage allocates ahead: room for firstScanRows rows, then
// twice as much each time it is full, records in slabs of at most
// maxScanSlab. A page's limit is what it may hold, not what it will: most
// pulls of a busy fleet return a few rows, and sizing every page for its
// limit allocated half a megabyte for each (the 1,000-device burst's
// server RSS rose by 40–60 MB, its CPU per sync by a fifth).
const (
	firstScanRows = 16
	maxScanSlab   = 1024
)

// appendValue copies v into buf, the page's value buffer, and returns the
// copy, capped so nothing can append into the next value. A full buffer is
// left to the values already cut from it and a new one begun, twice its
// size (at most 1 MiB), at least room for firstScanRows values like v.
func appendValue(buf, v []byte) ([]byte, []byte) {
	if v == nil {
		return buf, nil
	}
	if len(buf)+len(v) > cap(buf) {
		buf = make([]byte, 0, max(min(max(2*cap(buf), firstScanRows*len(v)), 1<<20), len(v)))
	}
	at := len(buf)
	buf = append(buf, v...)
	return buf, buf[at:len(buf):len(buf)]
}

// scanRow holds one row of the scan as database/sql reads it: its
// integers, id, type and scope in one text (rowText; the strings cut from
// it share its bytes), and the value as *sql.RawBytes (the driver's bytes,
// copied once by appendValue instead of cloned by database/sql).
type scanRow struct {
	text  string
	value sql.RawBytes
}

// dest lists the destinations of the scan's columns, in order.
func (s *scanRow) dest() []any {
	return []any{&s.text, &s.value}
}

// change is the row read: its change row and, unless it is an exit, its
// record (Value left to the caller).
func (s *scanRow) change() (syncengine.ChangeRow, syncengine.RawRecord, error) {
	var ints [3]int64  // version*4 + exit*2 + deleted, hlc, updated_at
	var strs [5]string // id, type, owner, store, region
	if err := parseRowText(s.text, ints[:], strs[:]); err != nil || ints[0] < 0 {
		return syncengine.ChangeRow{}, syncengine.RawRecord{}, cmp.Or(err, fmt.Errorf("scan row: malformed %.60q", s.text))
	}
	head := ints[0]
	r := syncengine.ChangeRow{Version: uint64(head) >> 2, RecordID: strs[0], Type: strs[1],
		Scope: syncengine.Scope{Owner: strs[2], Store: strs[3], Region: strs[4]}, Deleted: head&1 != 0, Exit: head&2 != 0}
	if r.Exit {
		return r, syncengine.RawRecord{}, nil
	}
	return r, syncengine.RawRecord{Type: r.Type, Scope: r.Scope, Version: r.Version, Deleted: r.Deleted,
		HLC: syncengine.HLC(uint64(ints[1])), UpdatedAt: fromMS(ints[2])}, nil
}

// CreatedBetween lists the records sel selects of the types that were
// created in (from, to] (see syncengine.Tx).
func (t *recTx) CreatedBetween(sel syncengine.Selection, types []string, from, to uint64) ([]syncengine.ChangeRow, error) {
	query, args := createdQuery(sel, types, from, to)
	if query == "" {
		return nil, nil
	}
	if err := t.flushRecords(); err != nil { // the query reads what the transaction wrote
		return nil, err
	}
	rows, err := t.tx.QueryContext(t.ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("created between: %w", err)
	}
	return scanChangeRows(rows)
}

// CreatedBetween is recTx.CreatedBetween outside a transaction (see
// syncengine.Store), with a prepared statement: a device's pulls ask it
// for every page.
func (db *DB) CreatedBetween(ctx context.Context, sel syncengine.Selection, types []string, from, to uint64) ([]syncengine.ChangeRow, error) {
	query, args := createdQuery(sel, types, from, to)
	if query == "" {
		return nil, nil
	}
	st, err := db.readStmt(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("created between: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, fmt.Errorf("created between: %w", err)
	}
	return scanChangeRows(rows)
}

// createdQuery reads the scope indexes like ScanChanges, for records of
// the types sel selects: a record created after from has a version after
// it too, and the indexes carry created_version, so only rows of the
// caller's scope changed since from are read, and only those created by to
// are fetched. It returns "" when sel selects none of the types.
func createdQuery(sel syncengine.Selection, types []string, from, to uint64) (string, []any) {
	b := &scanBuilder{args: []any{sel.TenantID, from, to}, types: map[string]string{}}
	b.eachRange(sel, func(typ string) bool { return slices.Contains(types, typ) }, func(field syncengine.ScopeField, value, typ string, empty bool) {
		index, where := recordsRange(field, value, typ, empty)
		b.arms = append(b.arms, "SELECT rowid AS rid FROM records INDEXED BY "+index+where+" AND created_version > ?2 AND created_version <= ?3")
	})
	if len(b.arms) == 0 {
		return "", nil
	}
	return `SELECT r.created_version, r.id, r.type, r.owner_id, r.store_id, r.region_id, r.deleted
		FROM records r WHERE r.rowid IN (` + unionAll(b.arms, func(g string) string { return "SELECT rid FROM (" + g + ")" }) + `)
		ORDER BY r.created_version`, b.args
}

func scanChangeRows(rows *sql.Rows) ([]syncengine.ChangeRow, error) {
	defer rows.Close()
	var out []syncengine.ChangeRow
	for rows.Next() {
		var r syncengine.ChangeRow
		if err := rows.Scan(&r.Version, &r.RecordID, &r.Type, &r.Scope.Owner, &r.Scope.Store, &r.Scope.Region, &r.Deleted); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
