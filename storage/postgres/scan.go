package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/fieldsync/fieldsync/syncengine"
)

// ScanChanges reads the change rows a selection selects after a version
// (see syncengine.Store), as storage/sqlite does: each (term, type) is one
// range of a scope index in version order, and one statement merges the
// ranges and stops at limit.
//
// The scan reads no further than the tenant's latest committed version,
// which the same statement reads first: every version up to it is
// committed (see CursorBounds), so the rows the scan returns leave no gap
// a later commit could fill, and a page that did not stop at limit covers
// everything through latest. One statement is one snapshot: a record
// written again after the bound was read cannot have left the page for a
// version above it. So a page is one round trip.
func (db *DB) ScanChanges(ctx context.Context, sel syncengine.Selection, after uint64, limit int) (_ *syncengine.ChangePage, err error) {
	defer classify(&err)
	if limit <= 0 {
		return &syncengine.ChangePage{Through: after}, nil
	}
	query, args := scanQuery(sel, after, limit)
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("scan changes: %w", err)
	}
	page, err := scanChangePage(rows, after, limit)
	if err != nil {
		return nil, fmt.Errorf("scan changes: %w", err)
	}
	return page, nil
}

// scanQuery builds the statement of a scan: $1 the tenant, $2 the version
// after, $3 the limit, then the term values and type names. Its first
// column is the tenant's latest version (bound), read in the statement's
// snapshot; it returns no row when that is not after $2, and one row of
// NULLs beside it when no change row is. Each (term, type) range is an
// ordered index scan limited on its own that reads the row's columns as
// it goes, and PostgreSQL merges the ranges (Merge Append), pulling from
// each only what the page takes: at most a page and one row per range. A
// row two terms select comes twice, side by side, and scanChangePage
// drops the copy.
func scanQuery(sel syncengine.Selection, after uint64, limit int) (string, []any) {
	b := &scanBuilder{args: []any{sel.TenantID, after, limit}, types: map[string]string{}}
	b.eachRange(sel, func(string) bool { return true }, func(field syncengine.ScopeField, value, typ string, empty bool) {
		where := rangeWhere(field, value, typ, "bound.latest") + " ORDER BY version LIMIT $3"
		b.arms = append(b.arms, "(SELECT version, false AS exit, id, type, owner_id, store_id, region_id, deleted, value, hlc, updated_at FROM records"+
			recordsRange(field, value, typ, empty, "bound.latest")+" ORDER BY version LIMIT $3)",
			"(SELECT version, true, record_id, type, owner_id, store_id, region_id, false, NULL::bytea, 0::bigint, 0::bigint FROM scope_exits"+where+")")
	})
	if len(b.arms) == 0 {
		return `SELECT version, NULL::bigint, false, '', '', '', '', '', false, NULL::bytea, 0::bigint, 0::bigint
			FROM tenant_versions WHERE tenant_id = $1 AND version > $2`, b.args[:2]
	}
	return `SELECT bound.latest, s.version, COALESCE(s.exit, false), COALESCE(s.id, ''), COALESCE(s.type, ''),
		COALESCE(s.owner_id, ''), COALESCE(s.store_id, ''), COALESCE(s.region_id, ''), COALESCE(s.deleted, false), s.value,
		COALESCE(s.hlc, 0), COALESCE(s.updated_at, 0)
		FROM (SELECT version AS latest FROM tenant_versions WHERE tenant_id = $1 AND version > $2) bound
		LEFT JOIN LATERAL (` + strings.Join(b.arms, "\n\t\tUNION ALL ") + `
		ORDER BY 1 LIMIT $3) s ON true
		ORDER BY s.version`, b.args
}

// scanBuilder collects the arms of a scan and their parameters.
type scanBuilder struct {
	arms  []string
	args  []any
	types map[string]string // type name → its parameter
}

func (b *scanBuilder) param(v string) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

func (b *scanBuilder) typeParam(typ string) string {
	if p, ok := b.types[typ]; ok {
		return p
	}
	p := b.param(typ)
	b.types[typ] = p
	return p
}

// scopeColumns is the column of each term field.
var scopeColumns = map[syncengine.ScopeField]string{
	syncengine.ByOwner: "owner_id", syncengine.ByStore: "store_id", syncengine.ByRegion: "region_id", syncengine.AnyPlace: "",
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

// partialScope are the term fields whose records index holds only the
// rows with a value there (migration 0012).
var partialScope = map[syncengine.ScopeField]bool{syncengine.ByOwner: true, syncengine.ByStore: true}

// recordsRange is rangeWhere for the records table: a range of a partial
// index says the column is not empty beside the term's value, which the planner
// needs to prove the index's predicate from a generic plan; a term whose
// value is empty (Select makes none, but a Selection may say so) is in
// none of it and reads the type's range. value is the parameter holding
// the term's value, empty whether that value is "".
func recordsRange(field syncengine.ScopeField, value, typ string, empty bool, through string) string {
	where := rangeWhere(field, value, typ, through)
	if partialScope[field] && !empty {
		where += " AND " + scopeColumns[field] + " <> ''"
	}
	return where
}

// rangeWhere is the WHERE clause of one (term, type) range: its rows with
// a version after $2 and, when through is not empty, at most through.
// The version bounds are row comparisons over the scope index's columns
// from the term's on, which only that index can serve: compared on its
// own, version would let the planner take the (tenant_id, version) index
// instead and filter every row of the tenant in the range for the term
// (it cannot tell from a generic plan that the term selects few).
func rangeWhere(field syncengine.ScopeField, value, typ, through string) string {
	where := " WHERE tenant_id = $1 AND "
	if col := scopeColumns[field]; col != "" {
		where += col + " = " + value + " AND "
	}
	where += "type = " + typ + " AND version > $2"
	if through != "" {
		where += " AND version <= " + through
	}
	return where
}

// scanChangePage reads the rows of a scan (scanQuery): a record row
// carries the record's current state, an exit row the scope the record
// left. limit rows, copies included, mean the scan stopped early: it
// covered through the last; otherwise it covered through the bound.
func scanChangePage(rows pgx.Rows, after uint64, limit int) (*syncengine.ChangePage, error) {
	defer rows.Close()
	pg := &syncengine.ChangePage{Through: after}
	var latest uint64
	n := 0
	for rows.Next() {
		var r syncengine.ChangeRow
		var raw syncengine.RawRecord
		var version *uint64
		var hlc uint64
		var updated int64
		if err := rows.Scan(&latest, &version, &r.Exit, &r.RecordID, &r.Type, &r.Scope.Owner, &r.Scope.Store, &r.Scope.Region, &r.Deleted,
			&raw.Value, &hlc, &updated); err != nil {
			return nil, err
		}
		if version == nil {
			break // the bound alone: no change row
		}
		n++
		if r.Version = *version; r.Version == pg.Through && len(pg.Rows) > 0 {
			continue // the same row again, from another term
		}
		pg.Through = r.Version
		if !r.Exit {
			raw.Type, raw.Scope, raw.Version, raw.Deleted = r.Type, r.Scope, r.Version, r.Deleted
			raw.HLC, raw.UpdatedAt = syncengine.HLC(hlc), fromMS(updated)
			r.Record = &raw
		}
		pg.Rows = append(pg.Rows, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	pg.More = n == limit
	if !pg.More && latest > after {
		pg.Through = latest
	}
	return pg, nil
}

// CreatedBetween lists the records sel selects of the types that were
// created in (from, to] (see syncengine.Tx).
func (t *recTx) CreatedBetween(sel syncengine.Selection, types []string, from, to uint64) ([]syncengine.ChangeRow, error) {
	conn, err := t.sync()
	if err != nil {
		return nil, err
	}
	return createdBetween(t.ctx, conn, sel, types, from, to)
}

// CreatedBetween is recTx.CreatedBetween outside a transaction (see
// syncengine.Store).
func (db *DB) CreatedBetween(ctx context.Context, sel syncengine.Selection, types []string, from, to uint64) (_ []syncengine.ChangeRow, err error) {
	defer classify(&err)
	return createdBetween(ctx, db.pool, sel, types, from, to)
}

// createdBetween reads the scope indexes like ScanChanges, for records of
// the types sel selects: a record created after from has a version after
// it too, and the indexes carry created_version. The rows found are read
// by their key (LATERAL), never by a join over the tenant's table.
func createdBetween(ctx context.Context, q querier, sel syncengine.Selection, types []string, from, to uint64) ([]syncengine.ChangeRow, error) {
	query, args := createdQuery(sel, types, from, to)
	if query == "" {
		return nil, nil
	}
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("created between: %w", err)
	}
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

// createdQuery is createdBetween's statement, "" when sel selects none of
// the types.
func createdQuery(sel syncengine.Selection, types []string, from, to uint64) (string, []any) {
	b := &scanBuilder{args: []any{sel.TenantID, from, to}, types: map[string]string{}}
	b.eachRange(sel, func(typ string) bool { return slices.Contains(types, typ) }, func(field syncengine.ScopeField, value, typ string, empty bool) {
		b.arms = append(b.arms, "SELECT id FROM records"+recordsRange(field, value, typ, empty, "")+" AND created_version > $2 AND created_version <= $3")
	})
	if len(b.arms) == 0 {
		return "", nil
	}
	return `SELECT r.created_version, r.id, r.type, r.owner_id, r.store_id, r.region_id, r.deleted
		FROM (SELECT DISTINCT id FROM (` + strings.Join(b.arms, "\n\t\tUNION ALL ") + `) a) c
		CROSS JOIN LATERAL (SELECT * FROM records WHERE tenant_id = $1 AND id = c.id LIMIT 1) r
		ORDER BY r.created_version`, b.args
}
