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
// read first: every version up to it is committed (see CursorBounds), so
// the rows the scan returns leave no gap a later commit could fill, and a
// page that did not stop at limit covers everything through latest.
func (db *DB) ScanChanges(ctx context.Context, sel syncengine.Selection, after uint64, limit int) (*syncengine.ChangePage, error) {
	var page *syncengine.ChangePage
	// One snapshot for the bound and the rows: a record written again in
	// between would have left its row's version for one above the bound,
	// and the page would claim a change it does not hold.
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var latest uint64
		err := tx.QueryRow(ctx, `SELECT version FROM tenant_versions WHERE tenant_id = $1`, sel.TenantID).Scan(&latest)
		switch {
		case noRows(err):
			latest = 0
		case err != nil:
			return err
		}
		switch {
		case latest <= after || limit <= 0:
			page = &syncengine.ChangePage{Through: after}
			return nil
		case len(sel.Terms) == 0:
			page = &syncengine.ChangePage{Through: latest}
			return nil
		}
		if db.afterScanBound != nil {
			db.afterScanBound()
		}
		query, args := scanQuery(sel, after, latest, limit)
		rows, err := tx.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		if page, err = scanChangePage(rows, limit); err != nil {
			return err
		}
		if !page.More {
			page.Through = latest
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan changes: %w", err)
	}
	return page, nil
}

// scanQuery builds the statement of a scan: $1 the tenant, $2 and $3 the
// versions after and through, $4 the limit, then the term values and type
// names. Each range is limited on its own, so PostgreSQL merges ordered
// index scans (Merge Append) and reads at most a page of each; a row two
// terms select comes twice, side by side, and scanChangePage drops the
// copy. Record rows carry their id, exit rows none; each row of the page
// is then read by its key (LATERAL: a lookup per row, never a join over
// the tenant's table).
func scanQuery(sel syncengine.Selection, after, through uint64, limit int) (string, []any) {
	b := &scanBuilder{args: []any{sel.TenantID, after, through, limit}, types: map[string]string{}}
	b.eachRange(sel, func(string) bool { return true }, func(field syncengine.ScopeField, value, typ string) {
		where := rangeWhere(field, value, typ) + " AND version <= $3 ORDER BY version LIMIT $4"
		b.arms = append(b.arms, "(SELECT version, id AS rid FROM records"+where+")",
			"(SELECT version, NULL::text AS rid FROM scope_exits"+where+")")
	})
	return `SELECT u.version, u.rid IS NULL, COALESCE(r.id, x.record_id), COALESCE(r.type, x.type),
		COALESCE(r.owner_id, x.owner_id), COALESCE(r.store_id, x.store_id), COALESCE(r.region_id, x.region_id),
		COALESCE(r.deleted, false), r.value, COALESCE(r.hlc, 0), COALESCE(r.updated_at, 0)
		FROM (` + strings.Join(b.arms, "\n\t\tUNION ALL ") + `
		ORDER BY 1 LIMIT $4) u
		LEFT JOIN LATERAL (SELECT * FROM records WHERE u.rid IS NOT NULL AND tenant_id = $1 AND id = u.rid LIMIT 1) r ON true
		LEFT JOIN LATERAL (SELECT * FROM scope_exits WHERE u.rid IS NULL AND tenant_id = $1 AND version = u.version LIMIT 1) x ON true
		ORDER BY u.version`, b.args
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
func (b *scanBuilder) eachRange(sel syncengine.Selection, keep func(typ string) bool, add func(field syncengine.ScopeField, value, typ string)) {
	for _, t := range sel.Terms {
		value := ""
		for _, typ := range t.Types {
			if !keep(typ) {
				continue
			}
			if value == "" && t.Field != syncengine.AnyPlace {
				value = b.param(t.Value)
			}
			add(t.Field, value, b.typeParam(typ))
		}
	}
}

// rangeWhere is the WHERE clause of one (term, type) range: its rows with
// a version after $2.
func rangeWhere(field syncengine.ScopeField, value, typ string) string {
	where := " WHERE tenant_id = $1 AND "
	if col := scopeColumns[field]; col != "" {
		where += col + " = " + value + " AND "
	}
	return where + "type = " + typ + " AND version > $2"
}

// scanChangePage reads the rows of a scan: a record row carries the
// record's current state, an exit row the scope the record left. limit
// rows, copies included, mean the scan stopped early: it covered through
// the last.
func scanChangePage(rows pgx.Rows, limit int) (*syncengine.ChangePage, error) {
	defer rows.Close()
	pg := &syncengine.ChangePage{}
	n := 0
	for ; rows.Next(); n++ {
		var r syncengine.ChangeRow
		var raw syncengine.RawRecord
		var hlc uint64
		var updated int64
		if err := rows.Scan(&r.Version, &r.Exit, &r.RecordID, &r.Type, &r.Scope.Owner, &r.Scope.Store, &r.Scope.Region, &r.Deleted,
			&raw.Value, &hlc, &updated); err != nil {
			return nil, err
		}
		if r.Version == pg.Through {
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
	pg.More = n == limit
	return pg, rows.Err()
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
func (db *DB) CreatedBetween(ctx context.Context, sel syncengine.Selection, types []string, from, to uint64) ([]syncengine.ChangeRow, error) {
	return createdBetween(ctx, db.pool, sel, types, from, to)
}

// createdBetween reads the scope indexes like ScanChanges, for records of
// the types sel selects: a record created after from has a version after
// it too, and the indexes carry created_version. The rows found are read
// by their key (LATERAL), never by a join over the tenant's table.
func createdBetween(ctx context.Context, q querier, sel syncengine.Selection, types []string, from, to uint64) ([]syncengine.ChangeRow, error) {
	b := &scanBuilder{args: []any{sel.TenantID, from, to}, types: map[string]string{}}
	b.eachRange(sel, func(typ string) bool { return slices.Contains(types, typ) }, func(field syncengine.ScopeField, value, typ string) {
		b.arms = append(b.arms, "SELECT id FROM records"+rangeWhere(field, value, typ)+" AND created_version > $2 AND created_version <= $3")
	})
	if len(b.arms) == 0 {
		return nil, nil
	}
	rows, err := q.Query(ctx, `SELECT r.created_version, r.id, r.type, r.owner_id, r.store_id, r.region_id, r.deleted
		FROM (SELECT DISTINCT id FROM (`+strings.Join(b.arms, "\n\t\tUNION ALL ")+`) a) c
		CROSS JOIN LATERAL (SELECT * FROM records WHERE tenant_id = $1 AND id = c.id LIMIT 1) r
		ORDER BY r.created_version`, b.args...)
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
