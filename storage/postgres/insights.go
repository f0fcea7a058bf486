package postgres

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

var _ insightstore.Store = (*DB)(nil)

// This file holds the insights tables (migrations/0004_insights.sql), as
// storage/sqlite's insights.go: the facts PHI is computed from, the
// materialised PHI, the rules' state, the pending alerts and flags, and
// A3's access grants with their audit trail.

// InsightsTx is one write transaction over the insights tables, its
// statements pipelined as a push's (pipeline): a write whose result the
// consumer does not read (PutAction, PutProgress, PutPhiDay...) is queued
// and goes with the next read or with the COMMIT, so a batch of events
// costs a round trip per read, not one per statement.
type InsightsTx struct {
	p *pipeline
	// Now is the transaction's clock reading (DB.Now, read once).
	Now time.Time
}

// InsightsWrite runs fn in one write transaction and commits it when fn
// returns nil. Consumers on several nodes may write at once; the rows a
// change event touches are keyed by the event's records, and a conflicting
// write waits for the other's commit.
func (db *DB) InsightsWrite(ctx context.Context, fn func(t insightstore.Tx) error) (err error) {
	defer classify(&err)
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	t := &InsightsTx{p: &pipeline{ctx: ctx, conn: conn.Conn()}, Now: db.Now()}
	defer t.p.rollback()
	if err := fn(t); err != nil {
		return err
	}
	return t.p.commit()
}

type insScanner = pgx.Row

// insQuery runs query and scans every row with scan.
func insQuery[T any](ctx context.Context, q querier, scan func(insScanner) (T, error), query string, args ...any) ([]T, error) {
	return collect(ctx, q, scan, query, args...)
}

// insOne returns the single row of query, or nil when there is none.
func insOne[T any](ctx context.Context, q querier, scan func(insScanner) (*T, error), query string, args ...any) (*T, error) {
	v, err := scan(q.QueryRow(ctx, query, args...))
	if noRows(err) {
		return nil, nil
	}
	return v, err
}

// rowsFunc runs a query and calls each for every row: a pipeline's query
// (the queue and the query in one round trip), or poolRows.
type rowsFunc func(each func(pgx.Rows) error, sql string, args ...any) error

// poolRows is a rowsFunc that runs its query on q.
func poolRows(ctx context.Context, q querier) rowsFunc {
	return func(each func(pgx.Rows) error, sql string, args ...any) error {
		rows, err := q.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := each(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
}

// listRows runs query with rows and scans every row with scan.
func listRows[T any](rows rowsFunc, scan func(insScanner) (T, error), query string, args ...any) ([]T, error) {
	var out []T
	err := rows(func(r pgx.Rows) error {
		v, err := scan(r)
		if err != nil {
			return err
		}
		out = append(out, v)
		return nil
	}, query, args...)
	return out, err
}

// pipeQuery sends the queue and query in one round trip and scans every
// row of query with scan.
func pipeQuery[T any](p *pipeline, scan func(insScanner) (T, error), query string, args ...any) ([]T, error) {
	return listRows(p.query, scan, query, args...)
}

// pipeOne sends the queue and query in one round trip and returns its
// single row, or nil when there is none.
func pipeOne[T any](p *pipeline, scan func(insScanner) (*T, error), query string, args ...any) (*T, error) {
	var v *T
	err := p.scanRow(func(row pgx.Row) error {
		var err error
		v, err = scan(row)
		return err
	}, query, args...)
	if noRows(err) {
		return nil, nil
	}
	return v, err
}

// exec queues a statement whose result the transaction does not read;
// what names it in its error, which shows at the next round trip.
func (t *InsightsTx) exec(what, query string, args ...any) error {
	t.p.queue(what, query, args...)
	return nil
}

// execCount sends the queue and a statement in one round trip and
// returns how many rows the statement changed.
func (t *InsightsTx) execCount(query string, args ...any) (int64, error) {
	var tag pgconn.CommandTag
	t.p.flushBuffered()
	t.p.pending().Queue(query, args...).Exec(func(ct pgconn.CommandTag) error { tag = ct; return nil })
	if err := t.p.send(); err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// insScopeFilter returns the column a scope kind filters on ("" for the
// whole tenant).
func insScopeFilter(kind fieldsyncv1.ScopeKind, ownerColumn string) (string, error) {
	switch kind {
	case fieldsyncv1.ScopeKind_SCOPE_KIND_UNSPECIFIED:
		return "", nil
	case fieldsyncv1.ScopeKind_SCOPE_KIND_REP:
		return ownerColumn, nil
	case fieldsyncv1.ScopeKind_SCOPE_KIND_STORE:
		return "store_id", nil
	case fieldsyncv1.ScopeKind_SCOPE_KIND_REGION:
		return "region_id", nil
	}
	return "", syncengine.Errorf(syncengine.CodeInvalid, "unknown scope kind %d", kind)
}

// MarkEventsApplied records that change events are applied and reports,
// for each, whether it is new, in one round trip (with the queue).
func (t *InsightsTx) MarkEventsApplied(tenantID string, eventIDs []string) ([]bool, error) {
	fresh := make([]bool, len(eventIDs))
	first := make(map[string]int, len(eventIDs)) // id -> its first place
	ids := make([]string, 0, len(eventIDs))
	for i, id := range eventIDs {
		if _, ok := first[id]; !ok {
			first[id] = i
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return fresh, nil
	}
	inserted, err := pipeQuery(t.p, func(row insScanner) (string, error) {
		var id string
		return id, row.Scan(&id)
	}, `INSERT INTO insights_applied_events (tenant_id, event_id, applied_at)
		SELECT $1, id, $3 FROM unnest($2::text[]) AS id ON CONFLICT DO NOTHING RETURNING event_id`, tenantID, ids, ms(t.Now))
	if err != nil {
		return nil, fmt.Errorf("mark events applied: %w", err)
	}
	for _, id := range inserted {
		fresh[first[id]] = true
	}
	return fresh, nil
}

// MarkEventApplied records that a change event is applied and reports
// whether it is new; false means it was applied before and must be skipped.
func (t *InsightsTx) MarkEventApplied(tenantID, eventID string) (bool, error) {
	n, err := t.execCount(`INSERT INTO insights_applied_events (tenant_id, event_id, applied_at) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, tenantID, eventID, ms(t.Now))
	if err != nil {
		return false, fmt.Errorf("mark event applied: %w", err)
	}
	return n == 1, nil
}

// InsightsConfig returns a tenant's stored insights configuration (JSON),
// or nil when the tenant uses the defaults.
func (t *InsightsTx) InsightsConfig(tenantID string) ([]byte, error) {
	return insConfig(t.p.row, tenantID)
}

// InsightsConfig returns a tenant's stored insights configuration (JSON),
// or nil when the tenant uses the defaults.
func (db *DB) InsightsConfig(ctx context.Context, tenantID string) (_ []byte, err error) {
	defer classify(&err)
	return insConfig(func(sql string, args ...any) pgx.Row { return db.pool.QueryRow(ctx, sql, args...) }, tenantID)
}

func insConfig(row func(sql string, args ...any) pgx.Row, tenantID string) ([]byte, error) {
	var cfg string
	err := row(`SELECT config FROM insights_config WHERE tenant_id = $1`, tenantID).Scan(&cfg)
	if noRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read insights config: %w", err)
	}
	return []byte(cfg), nil
}

// SetInsightsConfig stores a tenant's insights configuration (JSON).
func (db *DB) SetInsightsConfig(ctx context.Context, tenantID string, config []byte) (err error) {
	defer classify(&err)
	return db.writeTx(ctx, func(tx pgx.Tx, now time.Time) error {
		_, err := tx.Exec(ctx, `INSERT INTO insights_config (tenant_id, config, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (tenant_id) DO UPDATE SET config = EXCLUDED.config, updated_at = EXCLUDED.updated_at`,
			tenantID, string(config), ms(now))
		return err
	})
}

const insActionCols = `tenant_id, record_id, record_type, owner_user_id, store_id, region_id, customer_id,
	action_ms, submitted_ms, submitted_version, quality_kind, quality_count, tags, conclusion, value`

func scanInsightAction(row insScanner) (*insightstore.Action, error) {
	var a insightstore.Action
	var tags string
	err := row.Scan(&a.TenantID, &a.RecordID, &a.RecordType, &a.OwnerUserID, &a.StoreID, &a.RegionID, &a.CustomerID,
		&a.ActionMS, &a.SubmittedMS, &a.SubmittedVersion, &a.QualityKind, &a.QualityCount, &tags, &a.Conclusion, &a.Value)
	a.Tags = strings.Fields(tags)
	return &a, err
}

// Action returns a stored action record, or nil.
func (t *InsightsTx) Action(tenantID, recordID string) (*insightstore.Action, error) {
	return pipeOne(t.p, scanInsightAction, `SELECT `+insActionCols+` FROM insights_actions WHERE tenant_id = $1 AND record_id = $2`,
		tenantID, recordID)
}

// ActionsByID returns the stored actions of these records, leaving out
// those not stored: Action for many records in one round trip.
func (t *InsightsTx) ActionsByID(tenantID string, recordIDs []string) ([]*insightstore.Action, error) {
	if len(recordIDs) == 0 {
		return nil, nil
	}
	out, err := pipeQuery(t.p, scanInsightAction, `SELECT `+insActionCols+` FROM insights_actions
		WHERE tenant_id = $1 AND record_id = ANY($2)`, tenantID, recordIDs)
	if err != nil {
		return nil, fmt.Errorf("actions by id: %w", err)
	}
	return out, nil
}

// PutAction stores an action record, replacing the previous one.
func (t *InsightsTx) PutAction(a *insightstore.Action) error {
	err := t.exec("put action "+a.RecordID, `INSERT INTO insights_actions (`+insActionCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (tenant_id, record_id) DO UPDATE SET record_type = EXCLUDED.record_type, owner_user_id = EXCLUDED.owner_user_id,
		store_id = EXCLUDED.store_id, region_id = EXCLUDED.region_id, customer_id = EXCLUDED.customer_id,
		action_ms = EXCLUDED.action_ms, submitted_ms = EXCLUDED.submitted_ms, submitted_version = EXCLUDED.submitted_version,
		quality_kind = EXCLUDED.quality_kind, quality_count = EXCLUDED.quality_count, tags = EXCLUDED.tags,
		conclusion = EXCLUDED.conclusion, value = EXCLUDED.value`,
		a.TenantID, a.RecordID, a.RecordType, a.OwnerUserID, a.StoreID, a.RegionID, a.CustomerID,
		a.ActionMS, a.SubmittedMS, a.SubmittedVersion, a.QualityKind, a.QualityCount, strings.Join(a.Tags, " "), a.Conclusion, a.Value)
	return err
}

// SubmittedActions returns the submitted action records of a customer with
// the given record type whose action time is in [fromMS, toMS], by record id.
func (t *InsightsTx) SubmittedActions(tenantID, customerID, recordType string, fromMS, toMS int64) ([]*insightstore.Action, error) {
	return pipeQuery(t.p, scanInsightAction, `SELECT `+insActionCols+` FROM insights_actions
		WHERE tenant_id = $1 AND customer_id = $2 AND record_type = $3 AND submitted_ms > 0 AND action_ms BETWEEN $4 AND $5 ORDER BY record_id`,
		tenantID, customerID, recordType, fromMS, toMS)
}

const insFactCols = `record_id, record_type, owner_user_id, store_id, region_id, action_ms, submitted_ms, quality_kind, quality_count, tags`

// scanInsightFact reads the columns PHI and the sweeps need (insFactCols).
func scanInsightFact(row insScanner) (*insightstore.Action, error) {
	var a insightstore.Action
	var tags string
	err := row.Scan(&a.RecordID, &a.RecordType, &a.OwnerUserID, &a.StoreID, &a.RegionID,
		&a.ActionMS, &a.SubmittedMS, &a.QualityKind, &a.QualityCount, &tags)
	a.Tags = strings.Fields(tags)
	return &a, err
}

// Actions returns the action records of a scope (the whole tenant for
// SCOPE_KIND_UNSPECIFIED) first submitted in [fromMS, toMS). For speed the
// records carry only what PHI reads: TenantID, CustomerID, Conclusion,
// Value and SubmittedVersion are left empty.
func (t *InsightsTx) Actions(tenantID string, kind fieldsyncv1.ScopeKind, scopeID string, fromMS, toMS int64) ([]*insightstore.Action, error) {
	col, err := insScopeFilter(kind, "owner_user_id")
	if err != nil {
		return nil, err
	}
	q := `SELECT ` + insFactCols + ` FROM insights_actions` +
		` WHERE tenant_id = $1 AND submitted_ms > 0 AND submitted_ms >= $2 AND submitted_ms < $3`
	args := []any{tenantID, fromMS, toMS}
	if col != "" {
		q += ` AND ` + col + ` = $4`
		args = append(args, scopeID)
	}
	out, err := pipeQuery(t.p, scanInsightFact, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list actions: %w", err)
	}
	return out, nil
}

// PutMaterialRelease stores a campaign material's release time and reports
// whether it changed.
func (t *InsightsTx) PutMaterialRelease(tenantID, materialID string, releasedMS int64) (bool, error) {
	n, err := t.execCount(`INSERT INTO insights_materials (tenant_id, material_id, released_ms) VALUES ($1, $2, $3)
		ON CONFLICT (tenant_id, material_id) DO UPDATE SET released_ms = EXCLUDED.released_ms
		WHERE insights_materials.released_ms <> EXCLUDED.released_ms`, tenantID, materialID, releasedMS)
	if err != nil {
		return false, fmt.Errorf("put material %s: %w", materialID, err)
	}
	return n > 0, nil
}

// MaterialReleased returns a material's stored release time, or 0.
func (t *InsightsTx) MaterialReleased(tenantID, materialID string) (int64, error) {
	var v int64
	err := t.p.row(`SELECT released_ms FROM insights_materials WHERE tenant_id = $1 AND material_id = $2`,
		tenantID, materialID).Scan(&v)
	if noRows(err) {
		return 0, nil
	}
	return v, err
}

const insDeliverySelect = `SELECT d.tenant_id, d.material_id, d.rep_user_id, d.store_id, d.region_id,
	COALESCE(m.released_ms, 0), d.delivered_ms, d.feedback_ms
	FROM insights_deliveries d LEFT JOIN insights_materials m ON m.tenant_id = d.tenant_id AND m.material_id = d.material_id `

func scanInsightDelivery(row insScanner) (*insightstore.Delivery, error) {
	var d insightstore.Delivery
	err := row.Scan(&d.TenantID, &d.MaterialID, &d.RepUserID, &d.StoreID, &d.RegionID, &d.ReleasedMS, &d.DeliveredMS, &d.FeedbackMS)
	return &d, err
}

// Delivery returns the delivery of a material to a rep, or nil.
func (t *InsightsTx) Delivery(tenantID, materialID, repUserID string) (*insightstore.Delivery, error) {
	return pipeOne(t.p, scanInsightDelivery, insDeliverySelect+`WHERE d.tenant_id = $1 AND d.material_id = $2 AND d.rep_user_id = $3`,
		tenantID, materialID, repUserID)
}

// PutDelivery stores a delivery (ReleasedMS is ignored).
func (t *InsightsTx) PutDelivery(d *insightstore.Delivery) error {
	err := t.exec("put delivery "+d.MaterialID+"/"+d.RepUserID, `INSERT INTO insights_deliveries (tenant_id, material_id, rep_user_id, store_id, region_id, delivered_ms, feedback_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, material_id, rep_user_id) DO UPDATE SET store_id = EXCLUDED.store_id,
		region_id = EXCLUDED.region_id, delivered_ms = EXCLUDED.delivered_ms, feedback_ms = EXCLUDED.feedback_ms`,
		d.TenantID, d.MaterialID, d.RepUserID, d.StoreID, d.RegionID, d.DeliveredMS, d.FeedbackMS)
	return err
}

// MaterialDeliveries returns every delivery of a material.
func (t *InsightsTx) MaterialDeliveries(tenantID, materialID string) ([]*insightstore.Delivery, error) {
	return pipeQuery(t.p, scanInsightDelivery, insDeliverySelect+`WHERE d.tenant_id = $1 AND d.material_id = $2`, tenantID, materialID)
}

// Deliveries returns the deliveries of a scope (the whole tenant for
// SCOPE_KIND_UNSPECIFIED) made in [fromMS, toMS).
func (t *InsightsTx) Deliveries(tenantID string, kind fieldsyncv1.ScopeKind, scopeID string, fromMS, toMS int64) ([]*insightstore.Delivery, error) {
	col, err := insScopeFilter(kind, "rep_user_id")
	if err != nil {
		return nil, err
	}
	q := insDeliverySelect +
		`WHERE d.tenant_id = $1 AND d.delivered_ms > 0 AND d.delivered_ms >= $2 AND d.delivered_ms < $3`
	args := []any{tenantID, fromMS, toMS}
	if col != "" {
		q += ` AND d.` + col + ` = $4`
		args = append(args, scopeID)
	}
	out, err := pipeQuery(t.p, scanInsightDelivery, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// SweepFeedbackDeadlines returns the deliveries made at or before
// deliveredByMS that were not swept yet, and marks them swept.
func (t *InsightsTx) SweepFeedbackDeadlines(tenantID string, deliveredByMS int64) ([]*insightstore.Delivery, error) {
	out, err := pipeQuery(t.p, scanInsightDelivery, insDeliverySelect+
		`WHERE d.tenant_id = $1 AND d.swept = 0 AND d.delivered_ms > 0 AND d.delivered_ms <= $2`, tenantID, deliveredByMS)
	if err != nil {
		return nil, fmt.Errorf("sweep feedback deadlines: %w", err)
	}
	err = t.exec("sweep feedback deadlines", `UPDATE insights_deliveries SET swept = 1 WHERE tenant_id = $1 AND swept = 0 AND delivered_ms > 0 AND delivered_ms <= $2`,
		tenantID, deliveredByMS)
	return out, err
}

const insPhiCols = `scope_kind, scope_id, date, key_action_completion, action_quality, collaboration_timeliness,
	phi_index, high_value_action_share, has_key_action, has_quality, has_collaboration, has_visits, event_count`

func scanPhiDay(row insScanner) (*fieldsyncv1.PhiDay, error) {
	var d fieldsyncv1.PhiDay
	var kind int32
	err := row.Scan(&kind, &d.ScopeId, &d.Date, &d.KeyActionCompletion, &d.ActionQuality, &d.CollaborationTimeliness,
		&d.Index, &d.HighValueActionShare, &d.HasKeyAction, &d.HasQuality, &d.HasCollaboration, &d.HasVisits, &d.EventCount)
	d.ScopeKind = fieldsyncv1.ScopeKind(kind)
	return &d, err
}

// PutPhiDay stores one scope's PHI for one day, replacing what was there.
func (t *InsightsTx) PutPhiDay(tenantID string, d *fieldsyncv1.PhiDay) error {
	err := t.exec("put phi day", `INSERT INTO insights_phi_days (tenant_id, `+insPhiCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (tenant_id, scope_kind, scope_id, date) DO UPDATE SET key_action_completion = EXCLUDED.key_action_completion,
		action_quality = EXCLUDED.action_quality, collaboration_timeliness = EXCLUDED.collaboration_timeliness,
		phi_index = EXCLUDED.phi_index, high_value_action_share = EXCLUDED.high_value_action_share,
		has_key_action = EXCLUDED.has_key_action, has_quality = EXCLUDED.has_quality,
		has_collaboration = EXCLUDED.has_collaboration, has_visits = EXCLUDED.has_visits, event_count = EXCLUDED.event_count,
		counts_config = NULL`,
		tenantID, int32(d.ScopeKind), d.ScopeId, d.Date, d.KeyActionCompletion, d.ActionQuality, d.CollaborationTimeliness,
		d.Index, d.HighValueActionShare, d.HasKeyAction, d.HasQuality, d.HasCollaboration, d.HasVisits, d.EventCount)
	return err
}

const insPhiCountCols = `counts_config, key_actions_on_time, key_actions, quality_met, quality_records, high_value_visits, visits`

// PhiDayCounts returns the tallies stored with a scope's day, or nil. It
// claims the day first with a transaction-scoped advisory lock on its key
// (held while no row exists yet too) and reads the row FOR UPDATE (which
// also waits for a Recompute deleting it), so two transactions counting
// the same day take turns and the second reads what the first committed.
func (t *InsightsTx) PhiDayCounts(tenantID string, kind fieldsyncv1.ScopeKind, scopeID, date string) (*insightstore.PhiCounts, error) {
	key := fmt.Sprintf("insights_phi_days/%s/%d/%s/%s", tenantID, int32(kind), scopeID, date)
	t.p.queue("claim phi day", `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, key)
	var c insightstore.PhiCounts
	var config *string
	err := t.p.row(`SELECT `+insPhiCountCols+` FROM insights_phi_days WHERE tenant_id = $1 AND scope_kind = $2 AND scope_id = $3 AND date = $4 FOR UPDATE`,
		tenantID, int32(kind), scopeID, date).Scan(&config, &c.KeyActionsOnTime, &c.KeyActions, &c.QualityMet, &c.QualityRecords, &c.HighValueVisits, &c.Visits)
	if noRows(err) || (err == nil && config == nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("phi day counts: %w", err)
	}
	c.Config = *config
	return &c, nil
}

// PutPhiDayCounts stores one scope's PHI for one day with its tallies,
// replacing what was there.
func (t *InsightsTx) PutPhiDayCounts(tenantID string, d *fieldsyncv1.PhiDay, c *insightstore.PhiCounts) error {
	return t.exec("put phi day", `INSERT INTO insights_phi_days (tenant_id, `+insPhiCols+`, `+insPhiCountCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
		ON CONFLICT (tenant_id, scope_kind, scope_id, date) DO UPDATE SET key_action_completion = EXCLUDED.key_action_completion,
		action_quality = EXCLUDED.action_quality, collaboration_timeliness = EXCLUDED.collaboration_timeliness,
		phi_index = EXCLUDED.phi_index, high_value_action_share = EXCLUDED.high_value_action_share,
		has_key_action = EXCLUDED.has_key_action, has_quality = EXCLUDED.has_quality,
		has_collaboration = EXCLUDED.has_collaboration, has_visits = EXCLUDED.has_visits, event_count = EXCLUDED.event_count,
		counts_config = EXCLUDED.counts_config, key_actions_on_time = EXCLUDED.key_actions_on_time, key_actions = EXCLUDED.key_actions,
		quality_met = EXCLUDED.quality_met, quality_records = EXCLUDED.quality_records,
		high_value_visits = EXCLUDED.high_value_visits, visits = EXCLUDED.visits`,
		tenantID, int32(d.ScopeKind), d.ScopeId, d.Date, d.KeyActionCompletion, d.ActionQuality, d.CollaborationTimeliness,
		d.Index, d.HighValueActionShare, d.HasKeyAction, d.HasQuality, d.HasCollaboration, d.HasVisits, d.EventCount,
		c.Config, c.KeyActionsOnTime, c.KeyActions, c.QualityMet, c.QualityRecords, c.HighValueVisits, c.Visits)
}

// DeletePhiDay removes one scope's PHI for one day.
func (t *InsightsTx) DeletePhiDay(tenantID string, kind fieldsyncv1.ScopeKind, scopeID, date string) error {
	return t.exec("delete phi day", `DELETE FROM insights_phi_days WHERE tenant_id = $1 AND scope_kind = $2 AND scope_id = $3 AND date = $4`,
		tenantID, int32(kind), scopeID, date)
}

// DeletePhiDays removes every scope's PHI for the dates in [fromDate, toDate].
func (t *InsightsTx) DeletePhiDays(tenantID, fromDate, toDate string) error {
	return t.exec("delete phi days", `DELETE FROM insights_phi_days WHERE tenant_id = $1 AND date >= $2 AND date <= $3`, tenantID, fromDate, toDate)
}

// PhiDays returns the stored PHI of a scope kind for the dates in
// [fromDate, toDate], of one scope or, when scopeID is empty, of all.
func (t *InsightsTx) PhiDays(tenantID string, kind fieldsyncv1.ScopeKind, scopeID, fromDate, toDate string) ([]*fieldsyncv1.PhiDay, error) {
	return insPhiDays(t.p.query, tenantID, kind, scopeID, fromDate, toDate)
}

func insPhiDays(rows rowsFunc, tenantID string, kind fieldsyncv1.ScopeKind, scopeID, fromDate, toDate string) ([]*fieldsyncv1.PhiDay, error) {
	query := `SELECT ` + insPhiCols + ` FROM insights_phi_days WHERE tenant_id = $1 AND scope_kind = $2 AND scope_id = $3 AND date >= $4 AND date <= $5 ORDER BY date`
	args := []any{tenantID, int32(kind), scopeID, fromDate, toDate}
	if scopeID == "" {
		query = `SELECT ` + insPhiCols + ` FROM insights_phi_days WHERE tenant_id = $1 AND scope_kind = $2 AND date >= $3 AND date <= $4 ORDER BY scope_id, date`
		args = []any{tenantID, int32(kind), fromDate, toDate}
	}
	out, err := listRows(rows, scanPhiDay, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list phi days: %w", err)
	}
	return out, nil
}

var insDatePattern = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// PhiSeries returns the PHI of one rep, store or region for the dates in
// [fromDate, toDate] (inclusive, YYYY-MM-DD), oldest first. Days without
// events have no entry. A malformed request is CodeInvalid.
func (db *DB) PhiSeries(ctx context.Context, tenantID string, kind fieldsyncv1.ScopeKind, scopeID, fromDate, toDate string) (_ []*fieldsyncv1.PhiDay, err error) {
	defer classify(&err)
	if kind == fieldsyncv1.ScopeKind_SCOPE_KIND_UNSPECIFIED || scopeID == "" {
		return nil, syncengine.Errorf(syncengine.CodeInvalid, "phi series: scope kind and scope id are required")
	}
	if _, err := insScopeFilter(kind, ""); err != nil {
		return nil, err
	}
	if !insDatePattern.MatchString(fromDate) || !insDatePattern.MatchString(toDate) || fromDate > toDate {
		return nil, syncengine.Errorf(syncengine.CodeInvalid, "phi series: want from_date <= to_date, both YYYY-MM-DD")
	}
	return insPhiDays(poolRows(ctx, db.pool), tenantID, kind, scopeID, fromDate, toDate)
}

// PutCustomer stores a customer unless a newer version is stored already.
func (t *InsightsTx) PutCustomer(c *insightstore.Customer) error {
	err := t.exec("put customer "+c.CustomerID, `INSERT INTO insights_customers (tenant_id, customer_id, assigned_rep_id, store_id, region_id, name, version)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, customer_id) DO UPDATE SET assigned_rep_id = EXCLUDED.assigned_rep_id,
		store_id = EXCLUDED.store_id, region_id = EXCLUDED.region_id, name = EXCLUDED.name, version = EXCLUDED.version
		WHERE EXCLUDED.version >= insights_customers.version`,
		c.TenantID, c.CustomerID, c.AssignedRepID, c.StoreID, c.RegionID, c.Name, c.Version)
	return err
}

// Customer returns a stored customer, or nil.
func (t *InsightsTx) Customer(tenantID, customerID string) (*insightstore.Customer, error) {
	return pipeOne(t.p, func(row insScanner) (*insightstore.Customer, error) {
		var c insightstore.Customer
		err := row.Scan(&c.TenantID, &c.CustomerID, &c.AssignedRepID, &c.StoreID, &c.RegionID, &c.Name, &c.Version)
		return &c, err
	}, `SELECT tenant_id, customer_id, assigned_rep_id, store_id, region_id, name, version FROM insights_customers
		WHERE tenant_id = $1 AND customer_id = $2`, tenantID, customerID)
}

// StockState returns the last version seen of a stock-level record and the
// event that started its current below-safety-stock episode ("" when not
// below or never seen).
func (t *InsightsTx) StockState(tenantID, recordID string) (version uint64, episode string, err error) {
	err = t.p.row(`SELECT version, episode FROM insights_stock WHERE tenant_id = $1 AND record_id = $2`,
		tenantID, recordID).Scan(&version, &episode)
	if noRows(err) {
		return 0, "", nil
	}
	return version, episode, err
}

// PutStockState stores a stock-level record's version and episode.
func (t *InsightsTx) PutStockState(tenantID, recordID string, version uint64, episode string) error {
	return t.exec("put stock state", `INSERT INTO insights_stock (tenant_id, record_id, version, episode) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant_id, record_id) DO UPDATE SET version = EXCLUDED.version, episode = EXCLUDED.episode`,
		tenantID, recordID, version, episode)
}

// AddPhotoUse records that a photo is attached to a record (once per record).
func (t *InsightsTx) AddPhotoUse(tenantID, sha256 string, u insightstore.PhotoUse) error {
	return t.exec("add photo use", `INSERT INTO insights_photos (tenant_id, sha256, record_id, record_type, owner_user_id, store_id, region_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`, tenantID, sha256, u.RecordID, u.RecordType, u.OwnerUserID, u.StoreID, u.RegionID)
}

// RemovePhotoUses forgets a record's photo uses: a deleted record uses no photo.
func (t *InsightsTx) RemovePhotoUses(tenantID, recordID string) error {
	return t.exec("remove photo uses", `DELETE FROM insights_photos WHERE tenant_id = $1 AND record_id = $2`, tenantID, recordID)
}

// PhotoUses returns the records a photo is attached to, by record id.
func (t *InsightsTx) PhotoUses(tenantID, sha256 string) ([]insightstore.PhotoUse, error) {
	return pipeQuery(t.p, func(row insScanner) (insightstore.PhotoUse, error) {
		var u insightstore.PhotoUse
		err := row.Scan(&u.RecordType, &u.RecordID, &u.OwnerUserID, &u.StoreID, &u.RegionID)
		return u, err
	}, `SELECT record_type, record_id, owner_user_id, store_id, region_id FROM insights_photos
		WHERE tenant_id = $1 AND sha256 = $2 ORDER BY record_id`, tenantID, sha256)
}

// AddStall records a stall candidate; a visit already recorded is kept as is.
func (t *InsightsTx) AddStall(s *insightstore.Stall) error {
	return t.exec("add stall", `INSERT INTO insights_stalls (tenant_id, visit_id, customer_id, rep_user_id, store_id, region_id, start_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`, s.TenantID, s.VisitID, s.CustomerID, s.RepUserID, s.StoreID, s.RegionID, s.StartMS)
}

// DueStalls returns the unresolved stalls that started at or before startedByMS.
func (t *InsightsTx) DueStalls(tenantID string, startedByMS int64) ([]*insightstore.Stall, error) {
	return pipeQuery(t.p, func(row insScanner) (*insightstore.Stall, error) {
		var s insightstore.Stall
		err := row.Scan(&s.TenantID, &s.VisitID, &s.CustomerID, &s.RepUserID, &s.StoreID, &s.RegionID, &s.StartMS)
		return &s, err
	}, `SELECT tenant_id, visit_id, customer_id, rep_user_id, store_id, region_id, start_ms FROM insights_stalls
		WHERE tenant_id = $1 AND resolved_at IS NULL AND start_ms <= $2 ORDER BY start_ms, visit_id`, tenantID, startedByMS)
}

// ResolveStall marks a stall as dealt with.
func (t *InsightsTx) ResolveStall(tenantID, visitID string) error {
	return t.exec("resolve stall", `UPDATE insights_stalls SET resolved_at = $1 WHERE tenant_id = $2 AND visit_id = $3`, ms(t.Now), tenantID, visitID)
}

// PutProgress records a change of a customer's visit, commitment or
// opportunity at atMS, unless a later change of the record is stored.
func (t *InsightsTx) PutProgress(tenantID, customerID, recordID, linkedVisitID string, atMS int64) error {
	return t.exec("put progress", `INSERT INTO insights_progress (tenant_id, customer_id, record_id, linked_visit_id, at_ms) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (tenant_id, customer_id, record_id) DO UPDATE SET linked_visit_id = EXCLUDED.linked_visit_id, at_ms = EXCLUDED.at_ms
		WHERE EXCLUDED.at_ms >= insights_progress.at_ms`, tenantID, customerID, recordID, linkedVisitID, atMS)
}

// ProgressTimes returns the times of a customer's progress records other
// than visitID itself and its own open commitments.
func (t *InsightsTx) ProgressTimes(tenantID, customerID, visitID string) ([]int64, error) {
	return pipeQuery(t.p, func(row insScanner) (int64, error) {
		var v int64
		return v, row.Scan(&v)
	}, `SELECT at_ms FROM insights_progress WHERE tenant_id = $1 AND customer_id = $2 AND record_id != $3 AND linked_visit_id != $4`,
		tenantID, customerID, visitID, visitID)
}

// EnqueueEffect stores an effect unless one with its dedup key exists (or,
// with e.Update, replaces its alert when it differs and queues it again),
// and reports whether it stored anything.
func (t *InsightsTx) EnqueueEffect(e *insightstore.Effect) (bool, error) {
	var alert []byte
	if e.Alert != nil {
		var err error
		if alert, err = (proto.MarshalOptions{Deterministic: true}).Marshal(e.Alert); err != nil {
			return false, fmt.Errorf("enqueue %s: %w", e.DedupKey, err)
		}
	}
	conflict := `DO NOTHING`
	if e.Update {
		conflict = `DO UPDATE SET alert = EXCLUDED.alert, done_at = NULL, revision = insights_effects.revision + 1, attempts = 0,
			retry_at = 0 WHERE insights_effects.alert IS DISTINCT FROM EXCLUDED.alert`
	}
	n, err := t.execCount(`INSERT INTO insights_effects (tenant_id, dedup_key, alert, record_type, record_id, field, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, dedup_key) `+conflict,
		e.TenantID, e.DedupKey, alert, e.RecordType, e.RecordID, e.Field, ms(t.Now))
	if err != nil {
		return false, fmt.Errorf("enqueue %s: %w", e.DedupKey, err)
	}
	return n == 1, nil
}

// PendingInsightEffects returns up to limit effects not yet done and due
// at now (not waiting for a retry: DeferInsightEffect), oldest first.
func (db *DB) PendingInsightEffects(ctx context.Context, now time.Time, limit int) (_ []*insightstore.Effect, err error) {
	defer classify(&err)
	out, err := insQuery(ctx, db.pool, func(row insScanner) (*insightstore.Effect, error) {
		var e insightstore.Effect
		var alert []byte
		if err := row.Scan(&e.ID, &e.TenantID, &e.DedupKey, &alert, &e.RecordType, &e.RecordID, &e.Field, &e.Revision, &e.Attempts); err != nil {
			return nil, err
		}
		if alert != nil {
			e.Alert = &fieldsyncv1.Alert{}
			return &e, proto.Unmarshal(alert, e.Alert)
		}
		return &e, nil
	}, `SELECT id, tenant_id, dedup_key, alert, record_type, record_id, field, revision, attempts FROM insights_effects
		WHERE done_at IS NULL AND retry_at <= $1 ORDER BY id LIMIT $2`, ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("pending effects: %w", err)
	}
	return out, nil
}

// MarkInsightEffectsDone records, in one statement, that effects were
// performed: each in the revision read, so one replaced since stays queued.
func (db *DB) MarkInsightEffectsDone(ctx context.Context, effects []*insightstore.Effect) (err error) {
	defer classify(&err)
	if len(effects) == 0 {
		return nil
	}
	idList, revs := make([]int64, len(effects)), make([]int64, len(effects))
	for i, e := range effects {
		idList[i], revs[i] = e.ID, e.Revision
	}
	_, err = db.pool.Exec(ctx, `UPDATE insights_effects e SET done_at = $1
		FROM unnest($2::bigint[], $3::bigint[]) AS d(id, revision) WHERE e.id = d.id AND e.revision = d.revision`,
		ms(db.Now()), idList, revs)
	return err
}

// DeferInsightEffect records a failed try of an effect (in the revision
// read) and leaves it until retryAt: other effects go on meanwhile.
func (db *DB) DeferInsightEffect(ctx context.Context, e *insightstore.Effect, retryAt time.Time) (err error) {
	defer classify(&err)
	return db.writeTx(ctx, func(tx pgx.Tx, _ time.Time) error {
		_, err := tx.Exec(ctx, `UPDATE insights_effects SET attempts = attempts + 1, retry_at = $1 WHERE id = $2 AND revision = $3`,
			ms(retryAt), e.ID, e.Revision)
		return err
	})
}

// Finding returns a stored finding, or nil.
func (t *InsightsTx) Finding(tenantID, key string) (*insightstore.Finding, error) {
	return pipeOne(t.p, func(row insScanner) (*insightstore.Finding, error) {
		f := insightstore.Finding{Key: key}
		return &f, row.Scan(&f.Episode, &f.OpenedMS, &f.LastMS, &f.Evidence)
	}, `SELECT episode, opened_ms, last_ms, evidence FROM insights_findings WHERE tenant_id = $1 AND finding_key = $2`, tenantID, key)
}

// PutFinding stores a finding, replacing the previous one.
func (t *InsightsTx) PutFinding(tenantID string, f *insightstore.Finding) error {
	return t.exec("put finding", `INSERT INTO insights_findings (tenant_id, finding_key, episode, opened_ms, last_ms, evidence)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, finding_key) DO UPDATE SET episode = EXCLUDED.episode,
		opened_ms = EXCLUDED.opened_ms, last_ms = EXCLUDED.last_ms, evidence = EXCLUDED.evidence`, tenantID, f.Key, f.Episode, f.OpenedMS, f.LastMS, f.Evidence)
}

// LatestIntervention returns the last day of the latest A3 intervention in
// a region, or "".
func (t *InsightsTx) LatestIntervention(tenantID, regionID string) (string, error) {
	var end *string
	err := t.p.row(`SELECT MAX(end_date) FROM insights_interventions WHERE tenant_id = $1 AND region_id = $2`,
		tenantID, regionID).Scan(&end)
	if end == nil {
		return "", err
	}
	return *end, err
}

// AddIntervention records an A3 intervention for a region's fall ending on endDate.
func (t *InsightsTx) AddIntervention(tenantID, regionID, endDate string) error {
	return t.exec("add intervention", `INSERT INTO insights_interventions (tenant_id, region_id, end_date, raised_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING`,
		tenantID, regionID, endDate, ms(t.Now))
}

const insGrantCols = `id, grantee_user_id, subject_user_id, reason, created_at, expires_at`

func scanGrant(row insScanner) (*fieldsyncv1.AccessGrant, error) {
	var g fieldsyncv1.AccessGrant
	var created, expires int64
	if err := row.Scan(&g.Id, &g.GranteeUserId, &g.SubjectUserId, &g.Reason, &created, &expires); err != nil {
		return nil, err
	}
	g.CreateTime, g.ExpireTime = timestamppb.New(fromMS(created)), timestamppb.New(fromMS(expires))
	g.Duration = durationpb.New(fromMS(expires).Sub(fromMS(created)))
	return &g, nil
}

// CreateGrant grants grantee read access to subject's device operation logs
// from create to expire, once per dedupKey: a second call returns the first
// grant.
func (t *InsightsTx) CreateGrant(tenantID, granteeUserID, subjectUserID, reason, dedupKey string, create, expire time.Time) (*fieldsyncv1.AccessGrant, error) {
	err := t.exec("create grant", `INSERT INTO access_grants (id, tenant_id, grantee_user_id, subject_user_id, reason, dedup_key, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`, ids.NewAt(create), tenantID, granteeUserID, subjectUserID, reason, dedupKey, ms(create), ms(expire))
	if err != nil {
		return nil, fmt.Errorf("create grant: %w", err)
	}
	return scanGrant(t.p.row(`SELECT `+insGrantCols+` FROM access_grants WHERE tenant_id = $1 AND dedup_key = $2`,
		tenantID, dedupKey))
}

// ActiveGrant returns the grant under which grantee may read subject's
// device operation logs at now (created at or before now, expiring after
// it), the one expiring last. Without one it returns CodePermissionDenied.
func (db *DB) ActiveGrant(ctx context.Context, tenantID, granteeUserID, subjectUserID string, now time.Time) (_ *fieldsyncv1.AccessGrant, err error) {
	defer classify(&err)
	g, err := insOne(ctx, db.pool, scanGrant, `SELECT `+insGrantCols+` FROM access_grants
		WHERE tenant_id = $1 AND grantee_user_id = $2 AND subject_user_id = $3 AND created_at <= $4 AND expires_at > $5
		ORDER BY expires_at DESC LIMIT 1`, tenantID, granteeUserID, subjectUserID, ms(now), ms(now))
	if err != nil {
		return nil, fmt.Errorf("active grant: %w", err)
	}
	if g == nil {
		return nil, syncengine.Errorf(syncengine.CodePermissionDenied, "no active grant for %s to read %s's operation logs", granteeUserID, subjectUserID)
	}
	return g, nil
}

// RecordAudit records a read of recordsRead operation logs by reader under
// a grant. The grant must be the tenant's, name reader and subject, and be
// active at readTime; otherwise it returns CodePermissionDenied and records
// nothing.
func (db *DB) RecordAudit(ctx context.Context, tenantID, grantID, readerUserID, subjectUserID string, recordsRead int64, readTime time.Time) (_ *fieldsyncv1.AuditEntry, err error) {
	defer classify(&err)
	e := &fieldsyncv1.AuditEntry{Id: ids.NewAt(readTime), GrantId: grantID, ReaderUserId: readerUserID,
		SubjectUserId: subjectUserID, RecordsRead: recordsRead, ReadTime: timestamppb.New(readTime)}
	err = db.writeTx(ctx, func(tx pgx.Tx, _ time.Time) error {
		tag, err := tx.Exec(ctx, `INSERT INTO audit_entries (id, tenant_id, grant_id, reader_user_id, subject_user_id, records_read, read_at)
			SELECT $1, $2, id, $3, $4, $5, $6 FROM access_grants WHERE id = $7 AND tenant_id = $8 AND grantee_user_id = $9 AND subject_user_id = $10
			AND created_at <= $11 AND expires_at > $12`, e.Id, tenantID, readerUserID, subjectUserID, recordsRead, ms(readTime),
			grantID, tenantID, readerUserID, subjectUserID, ms(readTime), ms(readTime))
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return syncengine.Errorf(syncengine.CodePermissionDenied, "grant %q does not allow %s to read %s's operation logs now", grantID, readerUserID, subjectUserID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record audit: %w", err)
	}
	return e, nil
}

// ListGrants returns the tenant's grants held by granteeUserID, or all of
// them when it is empty, newest first.
func (db *DB) ListGrants(ctx context.Context, tenantID, granteeUserID string) (_ []*fieldsyncv1.AccessGrant, err error) {
	defer classify(&err)
	out, err := insQuery(ctx, db.pool, scanGrant, `SELECT `+insGrantCols+` FROM access_grants
		WHERE tenant_id = $1 AND ($2 = '' OR grantee_user_id = $3) ORDER BY created_at DESC, id`, tenantID, granteeUserID, granteeUserID)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	return out, nil
}

// ListAudit returns the tenant's audit entries about subjectUserID, or all
// of them when it is empty, newest first.
func (db *DB) ListAudit(ctx context.Context, tenantID, subjectUserID string) (_ []*fieldsyncv1.AuditEntry, err error) {
	defer classify(&err)
	out, err := insQuery(ctx, db.pool, func(row insScanner) (*fieldsyncv1.AuditEntry, error) {
		var e fieldsyncv1.AuditEntry
		var read int64
		err := row.Scan(&e.Id, &e.GrantId, &e.ReaderUserId, &e.SubjectUserId, &e.RecordsRead, &read)
		e.ReadTime = timestamppb.New(fromMS(read))
		return &e, err
	}, `SELECT id, grant_id, reader_user_id, subject_user_id, records_read, read_at FROM audit_entries
		WHERE tenant_id = $1 AND ($2 = '' OR subject_user_id = $3) ORDER BY read_at DESC, id`, tenantID, subjectUserID, subjectUserID)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}

// UsersByRole returns the tenant's users with a role, limited to a region
// and a store when those are non-empty, by id.
func (db *DB) UsersByRole(ctx context.Context, tenantID string, role fieldsyncv1.Role, regionID, storeID string) (_ []*syncengine.User, err error) {
	defer classify(&err)
	return insUsersByRole(poolRows(ctx, db.pool), tenantID, role, regionID, storeID)
}

// UsersByRole is DB.UsersByRole inside the transaction.
func (t *InsightsTx) UsersByRole(tenantID string, role fieldsyncv1.Role, regionID, storeID string) ([]*syncengine.User, error) {
	return insUsersByRole(t.p.query, tenantID, role, regionID, storeID)
}

func insUsersByRole(rows rowsFunc, tenantID string, role fieldsyncv1.Role, regionID, storeID string) ([]*syncengine.User, error) {
	out, err := listRows(rows, scanUser, `SELECT `+userColumns+` FROM users WHERE tenant_id = $1 AND role = $2
		AND ($3 = '' OR region_id = $4) AND ($5 = '' OR store_id = $6) ORDER BY id`,
		tenantID, int32(role), regionID, regionID, storeID, storeID)
	if err != nil {
		return nil, fmt.Errorf("users by role: %w", err)
	}
	return out, nil
}

// User returns a user of the tenant, or nil.
func (t *InsightsTx) User(tenantID, userID string) (*syncengine.User, error) {
	u, err := scanUser(t.p.row(`SELECT `+userColumns+` FROM users WHERE id = $1 AND tenant_id = $2`, userID, tenantID))
	if noRows(err) {
		return nil, nil
	}
	return u, err
}

// Names returns the display names of the tenant's users, regions and
// stores among ids, by id; unknown ids are left out. The lookups go in
// one round trip.
func (t *InsightsTx) Names(tenantID string, ids ...string) (map[string]string, error) {
	out := map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	t.p.flushBuffered()
	for _, id := range ids {
		t.p.pending().Queue(`SELECT display_name FROM users WHERE id = $1 AND tenant_id = $2
			UNION ALL SELECT name FROM regions WHERE id = $1 AND tenant_id = $2
			UNION ALL SELECT name FROM stores WHERE id = $1 AND tenant_id = $2`, id, tenantID).Query(func(rows pgx.Rows) error {
			if rows.Next() {
				var name string
				if err := rows.Scan(&name); err != nil {
					return err
				}
				out[id] = name
			}
			return rows.Err()
		})
	}
	if err := t.p.send(); err != nil {
		return nil, fmt.Errorf("names: %w", err)
	}
	return out, nil
}

// TenantIDs returns every tenant's id.
func (db *DB) TenantIDs(ctx context.Context) (_ []string, err error) {
	defer classify(&err)
	return insQuery(ctx, db.pool, func(row insScanner) (string, error) {
		var id string
		return id, row.Scan(&id)
	}, `SELECT id FROM tenants ORDER BY id`)
}

// StaleDevices returns the tenant's unrevoked devices whose reported
// oldest unsynced write was made before beforeMS, by device id.
func (t *InsightsTx) StaleDevices(tenantID string, beforeMS int64) ([]*insightstore.StaleDevice, error) {
	out, err := pipeQuery(t.p, func(row insScanner) (*insightstore.StaleDevice, error) {
		var d insightstore.StaleDevice
		return &d, row.Scan(&d.DeviceID, &d.DeviceName, &d.UserID, &d.UserName, &d.StoreID, &d.RegionID,
			&d.OutboxDepth, &d.OldestUnsyncedMS, &d.ReportedMS, &d.AppVersion, &d.SDKVersion)
	}, `SELECT d.id, d.name, u.id, u.display_name, u.store_id, COALESCE(NULLIF(u.region_id, ''), st.region_id, ''),
		s.outbox_depth, s.oldest_unsynced_at, s.reported_at, s.app_version, s.sdk_version
		FROM device_status s JOIN devices d ON d.id = s.device_id JOIN users u ON u.id = d.user_id
		LEFT JOIN stores st ON st.id = u.store_id
		WHERE s.tenant_id = $1 AND s.oldest_unsynced_at IS NOT NULL AND s.oldest_unsynced_at < $2 AND d.revoked_at IS NULL
		ORDER BY d.id`, tenantID, beforeMS)
	if err != nil {
		return nil, fmt.Errorf("stale devices: %w", err)
	}
	return out, nil
}

// OpenFindings returns the keys of the tenant's open findings (episode
// set) whose key starts with prefix.
func (t *InsightsTx) OpenFindings(tenantID, prefix string) ([]string, error) {
	out, err := pipeQuery(t.p, func(row insScanner) (string, error) {
		var k string
		err := row.Scan(&k)
		return k, err
	}, `SELECT finding_key FROM insights_findings WHERE tenant_id = $1 AND starts_with(finding_key, $2) AND episode != ''
		ORDER BY finding_key COLLATE "C"`, tenantID, prefix) // byte order and prefix whatever the database's collation
	if err != nil {
		return nil, fmt.Errorf("open findings: %w", err)
	}
	return out, nil
}
