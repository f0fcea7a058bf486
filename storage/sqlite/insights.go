package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

var _ insightstore.Store = (*DB)(nil)

// This file holds the insights tables (migrations/0005_insights.sql): the
// facts PHI is computed from, the materialised PHI, the rules' state, the
// pending alerts and flags, and A3's access grants with their audit trail.

// InsightsTx is one write transaction over the insights tables. The
// insights consumer does everything one change event causes in one
// InsightsTx, together with the record that the event was applied.
//
// The action and progress rows it is given (PutAction, PutProgress) wait
// in the transaction and go to their tables in multi-row statements
// (flushActions; flushProgress stages progress rows, folded in later):
// before the next statement that reads their table, and before the
// commit. A batch of events thus writes its action rows in a few
// statements rather than one per event, and reads what it wrote.
type InsightsTx struct {
	ctx context.Context
	tx  *stmtTx // statements prepared once, bound once per transaction
	// Now is the transaction's clock reading (DB.Now, read once).
	Now time.Time

	actions  []*insightstore.Action // PutAction's rows not written yet
	progress []insProgress          // PutProgress's rows not written yet
	// stageEmpty: the transaction folded the staged progress rows and
	// staged none since, so ProgressTimes (once per due confirmation of a
	// sweep) need not fold again.
	stageEmpty bool
}

// insProgress is one PutProgress row waiting in an InsightsTx.
type insProgress struct {
	tenantID, customerID, recordID, linkedVisitID string
	atMS                                          int64
}

// InsightsWrite runs fn in one write transaction (BEGIN IMMEDIATE) and
// commits it when fn returns nil.
func (db *DB) InsightsWrite(ctx context.Context, fn func(t insightstore.Tx) error) error {
	return db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
		t := &InsightsTx{ctx: ctx, tx: newStmtTx(db, tx), Now: now}
		if err := fn(t); err != nil {
			return err
		}
		return t.flush()
	})
}

// flush writes the rows waiting in the transaction.
func (t *InsightsTx) flush() error {
	if err := t.flushActions(); err != nil {
		return err
	}
	return t.flushProgress()
}

// insChunks splits n rows into chunks of 64, 16, 4 and 1 rows, largest
// first, so that a multi-row statement has one of four shapes, each
// prepared once (stmtTx).
func insChunks(n int) []int {
	var out []int
	for _, size := range []int{64, 16, 4, 1} {
		for ; n >= size; n -= size {
			out = append(out, size)
		}
	}
	return out
}

// insValues returns rows groups of cols placeholders: "(?, ?), (?, ?)".
func insValues(rows, cols int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}

func (t *InsightsTx) exec(query string, args ...any) error {
	_, err := t.tx.ExecContext(t.ctx, query, args...)
	return err
}

// insScopeFilter returns the column a scope kind filters on ("" for the
// whole tenant) and the index that serves the query, named table + "_" +
// ownerIndex, "_store", "_region" or "_time". Queries name their index
// (INDEXED BY): without statistics the planner prefers the tenant-wide time
// index, which would scan a whole tenant-day to recompute one rep's day.
func insScopeFilter(kind fieldsyncv1.ScopeKind, table, ownerColumn, ownerIndex string) (col, index string, err error) {
	switch kind {
	case fieldsyncv1.ScopeKind_SCOPE_KIND_UNSPECIFIED:
		return "", table + "_time", nil
	case fieldsyncv1.ScopeKind_SCOPE_KIND_REP:
		return ownerColumn, table + "_" + ownerIndex, nil
	case fieldsyncv1.ScopeKind_SCOPE_KIND_STORE:
		return "store_id", table + "_store", nil
	case fieldsyncv1.ScopeKind_SCOPE_KIND_REGION:
		return "region_id", table + "_region", nil
	}
	return "", "", syncengine.Errorf(syncengine.CodeInvalid, "unknown scope kind %d", kind)
}

// MarkEventsApplied records that change events are applied and reports,
// for each, whether it is new, in one statement per 1,000 events (the ids
// go in as a JSON array; RETURNING names those inserted).
func (t *InsightsTx) MarkEventsApplied(tenantID string, eventIDs []string) ([]bool, error) {
	fresh := make([]bool, len(eventIDs))
	first := make(map[string]int, len(eventIDs)) // id -> its first place
	var ids []string
	for i, id := range eventIDs {
		if _, ok := first[id]; !ok {
			first[id] = i
			ids = append(ids, id)
		}
	}
	for start := 0; start < len(ids); start += 1000 {
		chunk, err := json.Marshal(ids[start:min(start+1000, len(ids))])
		if err != nil {
			return nil, err
		}
		inserted, err := queryAll(t.ctx, t.tx, func(row rowScanner) (string, error) {
			var id string
			return id, row.Scan(&id)
		}, `INSERT OR IGNORE INTO insights_applied_events (tenant_id, event_id, applied_at)
			SELECT ?, value, ? FROM json_each(?) WHERE true RETURNING event_id`, tenantID, ms(t.Now), string(chunk))
		if err != nil {
			return nil, fmt.Errorf("mark events applied: %w", err)
		}
		for _, id := range inserted {
			fresh[first[id]] = true
		}
	}
	return fresh, nil
}

// MarkEventApplied records that a change event is applied and reports
// whether it is new; false means it was applied before and must be skipped.
func (t *InsightsTx) MarkEventApplied(tenantID, eventID string) (bool, error) {
	res, err := t.tx.ExecContext(t.ctx, `INSERT OR IGNORE INTO insights_applied_events (tenant_id, event_id, applied_at) VALUES (?, ?, ?)`,
		tenantID, eventID, ms(t.Now))
	if err != nil {
		return false, fmt.Errorf("mark event applied: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// InsightsConfig returns a tenant's stored insights configuration (JSON),
// or nil when the tenant uses the defaults.
func (t *InsightsTx) InsightsConfig(tenantID string) ([]byte, error) {
	return insConfig(t.ctx, t.tx, tenantID)
}

// InsightsConfig returns a tenant's stored insights configuration (JSON),
// or nil when the tenant uses the defaults.
func (db *DB) InsightsConfig(ctx context.Context, tenantID string) ([]byte, error) {
	return insConfig(ctx, db.read, tenantID)
}

func insConfig(ctx context.Context, q querier, tenantID string) ([]byte, error) {
	var cfg []byte
	err := q.QueryRowContext(ctx, `SELECT config FROM insights_config WHERE tenant_id = ?`, tenantID).Scan(&cfg)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read insights config: %w", err)
	}
	return cfg, nil
}

// SetInsightsConfig stores a tenant's insights configuration (JSON).
func (db *DB) SetInsightsConfig(ctx context.Context, tenantID string, config []byte) error {
	return db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO insights_config (tenant_id, config, updated_at) VALUES (?, ?, ?)
			ON CONFLICT(tenant_id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at`,
			tenantID, string(config), ms(now))
		return err
	})
}

// insDiagnosisType is the one record type insights_actions_diagnoses holds.
const insDiagnosisType = "fieldsync.v1.Diagnosis"

const insActionCols = `tenant_id, record_id, record_type, owner_user_id, store_id, region_id, customer_id,
	action_ms, submitted_ms, submitted_version, quality_kind, quality_count, tags, conclusion, value`

func scanInsightAction(row rowScanner) (*insightstore.Action, error) {
	var a insightstore.Action
	var tags string
	err := row.Scan(&a.TenantID, &a.RecordID, &a.RecordType, &a.OwnerUserID, &a.StoreID, &a.RegionID, &a.CustomerID,
		&a.ActionMS, &a.SubmittedMS, &a.SubmittedVersion, &a.QualityKind, &a.QualityCount, &tags, &a.Conclusion, &a.Value)
	a.Tags = strings.Fields(tags)
	return &a, err
}

// Action returns a stored action record, or nil.
func (t *InsightsTx) Action(tenantID, recordID string) (*insightstore.Action, error) {
	if err := t.flushActions(); err != nil {
		return nil, err
	}
	return queryOne(t.ctx, t.tx, scanInsightAction, `SELECT `+insActionCols+` FROM insights_actions WHERE tenant_id = ? AND record_id = ?`,
		tenantID, recordID)
}

// ActionsByID returns the stored actions of these records, leaving out
// those not stored: Action for many records in one statement (the ids go
// in as one JSON array, so the statement is prepared once).
func (t *InsightsTx) ActionsByID(tenantID string, recordIDs []string) ([]*insightstore.Action, error) {
	if len(recordIDs) == 0 {
		return nil, nil
	}
	if err := t.flushActions(); err != nil {
		return nil, err
	}
	ids, err := json.Marshal(recordIDs)
	if err != nil {
		return nil, err
	}
	out, err := queryAll(t.ctx, t.tx, scanInsightAction, `SELECT `+insActionCols+` FROM insights_actions
		WHERE tenant_id = ? AND record_id IN (SELECT value FROM json_each(?))`, tenantID, string(ids))
	if err != nil {
		return nil, fmt.Errorf("actions by id: %w", err)
	}
	return out, nil
}

// PutAction stores an action record, replacing the previous one. The row
// waits in the transaction (see InsightsTx) and is written with the
// others before the next read of the actions or the commit.
func (t *InsightsTx) PutAction(a *insightstore.Action) error {
	c := *a
	c.Tags = slices.Clone(a.Tags)
	c.Value = slices.Clone(a.Value)
	t.actions = append(t.actions, &c)
	return nil
}

// flushActions writes the action rows waiting in the transaction, in
// their order (a record put twice ends as put last). As flushProgress,
// it inserts each chunk with INSERT OR IGNORE (no statement journal, as
// INSERT OR REPLACE needs) and updates the stored rows it left out only
// when there were some.
func (t *InsightsTx) flushActions() error {
	rows := foldActions(t.actions)
	t.actions = nil
	return insInsertOrUpdate(t, rows, 15, func(args []any, a *insightstore.Action) []any {
		return append(args, a.TenantID, a.RecordID, a.RecordType, a.OwnerUserID, a.StoreID, a.RegionID, a.CustomerID,
			a.ActionMS, a.SubmittedMS, a.SubmittedVersion, a.QualityKind, a.QualityCount, strings.Join(a.Tags, " "), a.Conclusion, a.Value)
	}, func(values string) string {
		return `INSERT OR IGNORE INTO insights_actions (` + insActionCols + `) VALUES ` + values
	}, func(values string) string {
		return insActionUpdate + values + insActionUpdateWhere
	}, func(a *insightstore.Action) string { return "put action " + a.RecordID })
}

// insActionUpdate and insActionUpdateWhere make the UPDATE … FROM (VALUES
// …) of flushActions around a VALUES list in insActionCols order: it sets
// every column of the stored rows that differ, as a replacement would.
var insActionUpdate, insActionUpdateWhere = func() (string, string) {
	cols := strings.Fields(strings.ReplaceAll(insActionCols, ",", " "))
	var set, differ []string
	for i, c := range cols[2:] {
		v := fmt.Sprintf("v.column%d", i+3)
		set = append(set, c+" = "+v)
		differ = append(differ, "insights_actions."+c+" IS NOT "+v)
	}
	return `UPDATE insights_actions SET ` + strings.Join(set, ", ") + ` FROM (VALUES `,
		`) AS v WHERE insights_actions.tenant_id = v.column1 AND insights_actions.record_id = v.column2 AND (` + strings.Join(differ, " OR ") + `)`
}()

// foldActions keeps the last row of each record, at the record's first
// place: what putting them one after another leaves.
func foldActions(rows []*insightstore.Action) []*insightstore.Action {
	type key struct{ tenantID, recordID string }
	at := make(map[key]int, len(rows))
	out := rows[:0:0]
	for _, a := range rows {
		k := key{a.TenantID, a.RecordID}
		if i, ok := at[k]; ok {
			out[i] = a
			continue
		}
		at[k] = len(out)
		out = append(out, a)
	}
	return out
}

// SubmittedActions returns the submitted action records of a customer with
// the given record type whose action time is in [fromMS, toMS], by record id.
func (t *InsightsTx) SubmittedActions(tenantID, customerID, recordType string, fromMS, toMS int64) ([]*insightstore.Action, error) {
	if err := t.flushActions(); err != nil {
		return nil, err
	}
	q := `SELECT ` + insActionCols + ` FROM insights_actions WHERE tenant_id = ? AND customer_id = ? AND record_type = ?
		AND submitted_ms > 0 AND action_ms BETWEEN ? AND ? ORDER BY record_id`
	if recordType == insDiagnosisType {
		// The partial index holds diagnoses only (A1 reads no other type);
		// its WHERE must appear literally for the planner to use it.
		q = `SELECT ` + insActionCols + ` FROM insights_actions INDEXED BY insights_actions_diagnoses
		WHERE tenant_id = ? AND customer_id = ? AND record_type = ? AND record_type = 'fieldsync.v1.Diagnosis'
		AND submitted_ms > 0 AND action_ms BETWEEN ? AND ? ORDER BY record_id`
	}
	return queryAll(t.ctx, t.tx, scanInsightAction, q, tenantID, customerID, recordType, fromMS, toMS)
}

const insFactCols = `record_id, record_type, owner_user_id, store_id, region_id, action_ms, submitted_ms, quality_kind, quality_count, tags`

// scanInsightFact reads the columns PHI and the sweeps need (insFactCols).
func scanInsightFact(row rowScanner) (*insightstore.Action, error) {
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
	if err := t.flushActions(); err != nil {
		return nil, err
	}
	col, index, err := insScopeFilter(kind, "insights_actions", "owner_user_id", "owner")
	if err != nil {
		return nil, err
	}
	q := `SELECT ` + insFactCols + ` FROM insights_actions INDEXED BY ` + index +
		` WHERE tenant_id = ? AND submitted_ms > 0 AND submitted_ms >= ? AND submitted_ms < ?`
	args := []any{tenantID, fromMS, toMS}
	if col != "" {
		q += ` AND ` + col + ` = ?`
		args = append(args, scopeID)
	}
	out, err := queryAll(t.ctx, t.tx, scanInsightFact, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list actions: %w", err)
	}
	return out, nil
}

// PutMaterialRelease stores a campaign material's release time and reports
// whether it changed.
func (t *InsightsTx) PutMaterialRelease(tenantID, materialID string, releasedMS int64) (bool, error) {
	res, err := t.tx.ExecContext(t.ctx, `INSERT INTO insights_materials (tenant_id, material_id, released_ms) VALUES (?, ?, ?)
		ON CONFLICT(tenant_id, material_id) DO UPDATE SET released_ms = excluded.released_ms WHERE released_ms != excluded.released_ms`,
		tenantID, materialID, releasedMS)
	if err != nil {
		return false, fmt.Errorf("put material %s: %w", materialID, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// MaterialReleased returns a material's stored release time, or 0.
func (t *InsightsTx) MaterialReleased(tenantID, materialID string) (int64, error) {
	var v int64
	err := t.tx.QueryRowContext(t.ctx, `SELECT released_ms FROM insights_materials WHERE tenant_id = ? AND material_id = ?`,
		tenantID, materialID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

const insDeliverySelect = `SELECT d.tenant_id, d.material_id, d.rep_user_id, d.store_id, d.region_id,
	COALESCE(m.released_ms, 0), d.delivered_ms, d.feedback_ms
	FROM insights_deliveries d LEFT JOIN insights_materials m ON m.tenant_id = d.tenant_id AND m.material_id = d.material_id `

func scanInsightDelivery(row rowScanner) (*insightstore.Delivery, error) {
	var d insightstore.Delivery
	err := row.Scan(&d.TenantID, &d.MaterialID, &d.RepUserID, &d.StoreID, &d.RegionID, &d.ReleasedMS, &d.DeliveredMS, &d.FeedbackMS)
	return &d, err
}

// Delivery returns the delivery of a material to a rep, or nil.
func (t *InsightsTx) Delivery(tenantID, materialID, repUserID string) (*insightstore.Delivery, error) {
	return queryOne(t.ctx, t.tx, scanInsightDelivery, insDeliverySelect+`WHERE d.tenant_id = ? AND d.material_id = ? AND d.rep_user_id = ?`,
		tenantID, materialID, repUserID)
}

// PutDelivery stores a delivery (ReleasedMS is ignored).
func (t *InsightsTx) PutDelivery(d *insightstore.Delivery) error {
	err := t.exec(`INSERT INTO insights_deliveries (tenant_id, material_id, rep_user_id, store_id, region_id, delivered_ms, feedback_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(tenant_id, material_id, rep_user_id) DO UPDATE SET store_id = excluded.store_id,
		region_id = excluded.region_id, delivered_ms = excluded.delivered_ms, feedback_ms = excluded.feedback_ms`,
		d.TenantID, d.MaterialID, d.RepUserID, d.StoreID, d.RegionID, d.DeliveredMS, d.FeedbackMS)
	if err != nil {
		return fmt.Errorf("put delivery %s/%s: %w", d.MaterialID, d.RepUserID, err)
	}
	return nil
}

// MaterialDeliveries returns every delivery of a material.
func (t *InsightsTx) MaterialDeliveries(tenantID, materialID string) ([]*insightstore.Delivery, error) {
	return queryAll(t.ctx, t.tx, scanInsightDelivery, insDeliverySelect+`WHERE d.tenant_id = ? AND d.material_id = ?`, tenantID, materialID)
}

// Deliveries returns the deliveries of a scope (the whole tenant for
// SCOPE_KIND_UNSPECIFIED) made in [fromMS, toMS).
func (t *InsightsTx) Deliveries(tenantID string, kind fieldsyncv1.ScopeKind, scopeID string, fromMS, toMS int64) ([]*insightstore.Delivery, error) {
	col, index, err := insScopeFilter(kind, "insights_deliveries", "rep_user_id", "rep")
	if err != nil {
		return nil, err
	}
	q := strings.Replace(insDeliverySelect, "insights_deliveries d", "insights_deliveries d INDEXED BY "+index, 1) +
		`WHERE d.tenant_id = ? AND d.delivered_ms > 0 AND d.delivered_ms >= ? AND d.delivered_ms < ?`
	args := []any{tenantID, fromMS, toMS}
	if col != "" {
		q += ` AND d.` + col + ` = ?`
		args = append(args, scopeID)
	}
	out, err := queryAll(t.ctx, t.tx, scanInsightDelivery, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// SweepFeedbackDeadlines returns the deliveries made at or before
// deliveredByMS that were not swept yet, and marks them swept.
func (t *InsightsTx) SweepFeedbackDeadlines(tenantID string, deliveredByMS int64) ([]*insightstore.Delivery, error) {
	out, err := queryAll(t.ctx, t.tx, scanInsightDelivery, insDeliverySelect+
		`WHERE d.tenant_id = ? AND d.swept = 0 AND d.delivered_ms > 0 AND d.delivered_ms <= ?`, tenantID, deliveredByMS)
	if err != nil {
		return nil, fmt.Errorf("sweep feedback deadlines: %w", err)
	}
	err = t.exec(`UPDATE insights_deliveries SET swept = 1 WHERE tenant_id = ? AND swept = 0 AND delivered_ms > 0 AND delivered_ms <= ?`,
		tenantID, deliveredByMS)
	return out, err
}

const insPhiCols = `scope_kind, scope_id, date, key_action_completion, action_quality, collaboration_timeliness,
	phi_index, high_value_action_share, has_key_action, has_quality, has_collaboration, has_visits, event_count`

func scanPhiDay(row rowScanner) (*fieldsyncv1.PhiDay, error) {
	var d fieldsyncv1.PhiDay
	var kind int32
	err := row.Scan(&kind, &d.ScopeId, &d.Date, &d.KeyActionCompletion, &d.ActionQuality, &d.CollaborationTimeliness,
		&d.Index, &d.HighValueActionShare, &d.HasKeyAction, &d.HasQuality, &d.HasCollaboration, &d.HasVisits, &d.EventCount)
	d.ScopeKind = fieldsyncv1.ScopeKind(kind)
	return &d, err
}

// PutPhiDay stores one scope's PHI for one day, replacing what was there.
func (t *InsightsTx) PutPhiDay(tenantID string, d *fieldsyncv1.PhiDay) error {
	err := t.exec(`INSERT OR REPLACE INTO insights_phi_days (tenant_id, `+insPhiCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		tenantID, int32(d.ScopeKind), d.ScopeId, d.Date, d.KeyActionCompletion, d.ActionQuality, d.CollaborationTimeliness,
		d.Index, d.HighValueActionShare, d.HasKeyAction, d.HasQuality, d.HasCollaboration, d.HasVisits, d.EventCount)
	if err != nil {
		return fmt.Errorf("put phi day: %w", err)
	}
	return nil
}

const insPhiCountCols = `counts_config, key_actions_on_time, key_actions, quality_met, quality_records, high_value_visits, visits`

// PhiDayCounts returns the tallies stored with a scope's day, or nil. The
// writer is alone (BEGIN IMMEDIATE), so the day needs no claim.
func (t *InsightsTx) PhiDayCounts(tenantID string, kind fieldsyncv1.ScopeKind, scopeID, date string) (*insightstore.PhiCounts, error) {
	var c insightstore.PhiCounts
	var config sql.NullString
	err := t.tx.QueryRowContext(t.ctx, `SELECT `+insPhiCountCols+` FROM insights_phi_days WHERE tenant_id = ? AND scope_kind = ? AND scope_id = ? AND date = ?`,
		tenantID, int32(kind), scopeID, date).Scan(&config, &c.KeyActionsOnTime, &c.KeyActions, &c.QualityMet, &c.QualityRecords, &c.HighValueVisits, &c.Visits)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !config.Valid) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("phi day counts: %w", err)
	}
	c.Config = config.String
	return &c, nil
}

// PutPhiDayCounts stores one scope's PHI for one day with its tallies,
// replacing what was there.
func (t *InsightsTx) PutPhiDayCounts(tenantID string, d *fieldsyncv1.PhiDay, c *insightstore.PhiCounts) error {
	err := t.exec(`INSERT OR REPLACE INTO insights_phi_days (tenant_id, `+insPhiCols+`, `+insPhiCountCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		tenantID, int32(d.ScopeKind), d.ScopeId, d.Date, d.KeyActionCompletion, d.ActionQuality, d.CollaborationTimeliness,
		d.Index, d.HighValueActionShare, d.HasKeyAction, d.HasQuality, d.HasCollaboration, d.HasVisits, d.EventCount,
		c.Config, c.KeyActionsOnTime, c.KeyActions, c.QualityMet, c.QualityRecords, c.HighValueVisits, c.Visits)
	if err != nil {
		return fmt.Errorf("put phi day: %w", err)
	}
	return nil
}

// DeletePhiDay removes one scope's PHI for one day.
func (t *InsightsTx) DeletePhiDay(tenantID string, kind fieldsyncv1.ScopeKind, scopeID, date string) error {
	return t.exec(`DELETE FROM insights_phi_days WHERE tenant_id = ? AND scope_kind = ? AND scope_id = ? AND date = ?`,
		tenantID, int32(kind), scopeID, date)
}

// DeletePhiDays removes every scope's PHI for the dates in [fromDate, toDate].
func (t *InsightsTx) DeletePhiDays(tenantID, fromDate, toDate string) error {
	return t.exec(`DELETE FROM insights_phi_days WHERE tenant_id = ? AND date >= ? AND date <= ?`, tenantID, fromDate, toDate)
}

// PhiDays returns the stored PHI of a scope kind for the dates in
// [fromDate, toDate], of one scope or, when scopeID is empty, of all.
func (t *InsightsTx) PhiDays(tenantID string, kind fieldsyncv1.ScopeKind, scopeID, fromDate, toDate string) ([]*fieldsyncv1.PhiDay, error) {
	return insPhiDays(t.ctx, t.tx, tenantID, kind, scopeID, fromDate, toDate)
}

func insPhiDays(ctx context.Context, q querier, tenantID string, kind fieldsyncv1.ScopeKind, scopeID, fromDate, toDate string) ([]*fieldsyncv1.PhiDay, error) {
	query := `SELECT ` + insPhiCols + ` FROM insights_phi_days WHERE tenant_id = ? AND scope_kind = ? AND scope_id = ? AND date >= ? AND date <= ? ORDER BY date`
	args := []any{tenantID, int32(kind), scopeID, fromDate, toDate}
	if scopeID == "" {
		query = `SELECT ` + insPhiCols + ` FROM insights_phi_days WHERE tenant_id = ? AND scope_kind = ? AND date >= ? AND date <= ? ORDER BY scope_id, date`
		args = []any{tenantID, int32(kind), fromDate, toDate}
	}
	out, err := queryAll(ctx, q, scanPhiDay, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list phi days: %w", err)
	}
	return out, nil
}

var insDatePattern = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// PhiSeries returns the PHI of one rep, store or region for the dates in
// [fromDate, toDate] (inclusive, YYYY-MM-DD), oldest first. Days without
// events have no entry. A malformed request is CodeInvalid.
func (db *DB) PhiSeries(ctx context.Context, tenantID string, kind fieldsyncv1.ScopeKind, scopeID, fromDate, toDate string) ([]*fieldsyncv1.PhiDay, error) {
	if kind == fieldsyncv1.ScopeKind_SCOPE_KIND_UNSPECIFIED || scopeID == "" {
		return nil, syncengine.Errorf(syncengine.CodeInvalid, "phi series: scope kind and scope id are required")
	}
	if _, _, err := insScopeFilter(kind, "", "", ""); err != nil {
		return nil, err
	}
	if !insDatePattern.MatchString(fromDate) || !insDatePattern.MatchString(toDate) || fromDate > toDate {
		return nil, syncengine.Errorf(syncengine.CodeInvalid, "phi series: want from_date <= to_date, both YYYY-MM-DD")
	}
	return insPhiDays(ctx, db.read, tenantID, kind, scopeID, fromDate, toDate)
}

// PutCustomer stores a customer unless a newer version is stored already.
func (t *InsightsTx) PutCustomer(c *insightstore.Customer) error {
	err := t.exec(`INSERT INTO insights_customers (tenant_id, customer_id, assigned_rep_id, store_id, region_id, name, version)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(tenant_id, customer_id) DO UPDATE SET assigned_rep_id = excluded.assigned_rep_id,
		store_id = excluded.store_id, region_id = excluded.region_id, name = excluded.name, version = excluded.version
		WHERE excluded.version >= insights_customers.version`,
		c.TenantID, c.CustomerID, c.AssignedRepID, c.StoreID, c.RegionID, c.Name, c.Version)
	if err != nil {
		return fmt.Errorf("put customer %s: %w", c.CustomerID, err)
	}
	return nil
}

// Customer returns a stored customer, or nil.
func (t *InsightsTx) Customer(tenantID, customerID string) (*insightstore.Customer, error) {
	return queryOne(t.ctx, t.tx, func(row rowScanner) (*insightstore.Customer, error) {
		var c insightstore.Customer
		err := row.Scan(&c.TenantID, &c.CustomerID, &c.AssignedRepID, &c.StoreID, &c.RegionID, &c.Name, &c.Version)
		return &c, err
	}, `SELECT tenant_id, customer_id, assigned_rep_id, store_id, region_id, name, version FROM insights_customers
		WHERE tenant_id = ? AND customer_id = ?`, tenantID, customerID)
}

// StockState returns the last version seen of a stock-level record and the
// event that started its current below-safety-stock episode ("" when not
// below or never seen).
func (t *InsightsTx) StockState(tenantID, recordID string) (version uint64, episode string, err error) {
	err = t.tx.QueryRowContext(t.ctx, `SELECT version, episode FROM insights_stock WHERE tenant_id = ? AND record_id = ?`,
		tenantID, recordID).Scan(&version, &episode)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	return version, episode, err
}

// PutStockState stores a stock-level record's version and episode.
func (t *InsightsTx) PutStockState(tenantID, recordID string, version uint64, episode string) error {
	return t.exec(`INSERT OR REPLACE INTO insights_stock (tenant_id, record_id, version, episode) VALUES (?, ?, ?, ?)`,
		tenantID, recordID, version, episode)
}

// AddPhotoUse records that a photo is attached to a record (once per record).
func (t *InsightsTx) AddPhotoUse(tenantID, sha256 string, u insightstore.PhotoUse) error {
	return t.exec(`INSERT OR IGNORE INTO insights_photos (tenant_id, sha256, record_id, record_type, owner_user_id, store_id, region_id)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, tenantID, sha256, u.RecordID, u.RecordType, u.OwnerUserID, u.StoreID, u.RegionID)
}

// RemovePhotoUses forgets a record's photo uses: a deleted record uses no photo.
func (t *InsightsTx) RemovePhotoUses(tenantID, recordID string) error {
	return t.exec(`DELETE FROM insights_photos WHERE tenant_id = ? AND record_id = ?`, tenantID, recordID)
}

// PhotoUses returns the records a photo is attached to, by record id.
func (t *InsightsTx) PhotoUses(tenantID, sha256 string) ([]insightstore.PhotoUse, error) {
	return queryAll(t.ctx, t.tx, func(row rowScanner) (insightstore.PhotoUse, error) {
		var u insightstore.PhotoUse
		err := row.Scan(&u.RecordType, &u.RecordID, &u.OwnerUserID, &u.StoreID, &u.RegionID)
		return u, err
	}, `SELECT record_type, record_id, owner_user_id, store_id, region_id FROM insights_photos
		WHERE tenant_id = ? AND sha256 = ? ORDER BY record_id`, tenantID, sha256)
}

// AddStall records a stall candidate; a visit already recorded is kept as is.
func (t *InsightsTx) AddStall(s *insightstore.Stall) error {
	return t.exec(`INSERT OR IGNORE INTO insights_stalls (tenant_id, visit_id, customer_id, rep_user_id, store_id, region_id, start_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, s.TenantID, s.VisitID, s.CustomerID, s.RepUserID, s.StoreID, s.RegionID, s.StartMS)
}

// DueStalls returns the unresolved stalls that started at or before startedByMS.
func (t *InsightsTx) DueStalls(tenantID string, startedByMS int64) ([]*insightstore.Stall, error) {
	return queryAll(t.ctx, t.tx, func(row rowScanner) (*insightstore.Stall, error) {
		var s insightstore.Stall
		err := row.Scan(&s.TenantID, &s.VisitID, &s.CustomerID, &s.RepUserID, &s.StoreID, &s.RegionID, &s.StartMS)
		return &s, err
	}, `SELECT tenant_id, visit_id, customer_id, rep_user_id, store_id, region_id, start_ms FROM insights_stalls
		WHERE tenant_id = ? AND resolved_at IS NULL AND start_ms <= ? ORDER BY start_ms, visit_id`, tenantID, startedByMS)
}

// ResolveStall marks a stall as dealt with.
func (t *InsightsTx) ResolveStall(tenantID, visitID string) error {
	return t.exec(`UPDATE insights_stalls SET resolved_at = ? WHERE tenant_id = ? AND visit_id = ?`, ms(t.Now), tenantID, visitID)
}

// PutProgress records a change of a customer's visit, commitment or
// opportunity at atMS, unless a later change of the record is stored. The
// row waits in the transaction (see InsightsTx) and is written with the
// others before the next read of the progress rows or the commit.
func (t *InsightsTx) PutProgress(tenantID, customerID, recordID, linkedVisitID string, atMS int64) error {
	t.progress = append(t.progress, insProgress{tenantID, customerID, recordID, linkedVisitID, atMS})
	return nil
}

// progressFoldAt is how many staged progress rows make flushProgress fold
// them into insights_progress (a variable for the tests).
var progressFoldAt int64 = 4096

// flushProgress stages the progress rows waiting in the transaction, in
// their order (each row is applied after the ones before it), and folds
// the staged rows into insights_progress once progressFoldAt are staged.
//
// The rows of one key are folded in memory first (the last of the latest
// times wins, which is what applying them one after another leaves).
// Then each chunk is appended to insights_progress_staged in one
// multi-row INSERT (migration 0022): at the end of its rowid b-tree, so
// a batch's rows fill one or two pages, where writing them to
// insights_progress, keyed by customer, dirtied a page per customer of
// the batch, each copied to the WAL at every commit. The fold writes
// those pages once per progressFoldAt rows. INSERT OR IGNORE needs no
// statement journal (nothing can conflict: seq is the next rowid).
func (t *InsightsTx) flushProgress() error {
	rows := foldProgress(t.progress)
	t.progress = nil
	var last int64
	for _, n := range insChunks(len(rows)) {
		chunk := rows[:n]
		rows = rows[n:]
		args := make([]any, 0, 5*n)
		for _, p := range chunk {
			args = append(args, p.tenantID, p.customerID, p.recordID, p.linkedVisitID, p.atMS)
		}
		res, err := t.tx.ExecContext(t.ctx, `INSERT OR IGNORE INTO insights_progress_staged
			(tenant_id, customer_id, record_id, linked_visit_id, at_ms) VALUES `+insValues(n, 5), args...)
		if err != nil {
			return fmt.Errorf("put progress %s: %w", chunk[0].recordID, err)
		}
		if last, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("put progress %s: %w", chunk[0].recordID, err)
		}
		t.stageEmpty = false
	}
	// seq restarts at 1 after a fold, so the last one is how many are staged.
	if last >= progressFoldAt {
		return t.foldStagedProgress()
	}
	return nil
}

// foldStagedProgress applies the staged progress rows to insights_progress
// and empties the stage, in the transaction. The rows go in one after
// another in seq order, each under PutProgress's rule (it replaces the
// stored row when its time is the same or later; a replacement that
// would change nothing is not written), which is what writing them
// directly would have left.
func (t *InsightsTx) foldStagedProgress() error {
	err := t.exec(`INSERT INTO insights_progress (tenant_id, customer_id, record_id, linked_visit_id, at_ms)
		SELECT tenant_id, customer_id, record_id, linked_visit_id, at_ms FROM insights_progress_staged WHERE true ORDER BY seq
		ON CONFLICT(tenant_id, customer_id, record_id) DO UPDATE SET linked_visit_id = excluded.linked_visit_id, at_ms = excluded.at_ms
		WHERE excluded.at_ms > insights_progress.at_ms
			OR (excluded.at_ms = insights_progress.at_ms AND excluded.linked_visit_id != insights_progress.linked_visit_id)`)
	if err != nil {
		return fmt.Errorf("fold staged progress: %w", err)
	}
	if err := t.exec(`DELETE FROM insights_progress_staged`); err != nil {
		return fmt.Errorf("fold staged progress: %w", err)
	}
	t.stageEmpty = true
	return nil
}

// FoldInsightsProgress folds the staged progress rows into
// insights_progress (see flushProgress) in a transaction of its own, so
// that a reader of the tables themselves (storage/migrate) finds every
// row in insights_progress.
func (db *DB) FoldInsightsProgress(ctx context.Context) error {
	return db.InsightsWrite(ctx, func(t insightstore.Tx) error { return t.(*InsightsTx).foldStagedProgress() })
}

// foldProgress folds the rows of each key into one, keeping the first
// place of the key: a row replaces the one before it when its time is
// the same or later, as PutProgress's rows applied in order would.
func foldProgress(rows []insProgress) []insProgress {
	type key struct{ tenantID, customerID, recordID string }
	at := make(map[key]int, len(rows))
	out := rows[:0:0]
	for _, p := range rows {
		k := key{p.tenantID, p.customerID, p.recordID}
		i, ok := at[k]
		switch {
		case !ok:
			at[k] = len(out)
			out = append(out, p)
		case p.atMS >= out[i].atMS:
			out[i] = p
		}
	}
	return out
}

// insInsertOrUpdate writes rows whose keys are distinct in multi-row
// statements of insChunks sizes: each chunk as insert (an INSERT OR
// IGNORE around its VALUES list), and, only when that inserted fewer rows
// than the chunk holds (some keys were stored), as update too (an UPDATE
// … FROM (VALUES …) that must leave the rows just inserted as they are).
// bind appends a row's cols values to args; what names a chunk's first
// row in an error.
func insInsertOrUpdate[T any](t *InsightsTx, rows []T, cols int, bind func(args []any, row T) []any,
	insert, update func(values string) string, what func(T) string) error {
	for _, n := range insChunks(len(rows)) {
		chunk := rows[:n]
		rows = rows[n:]
		args := make([]any, 0, cols*n)
		for _, r := range chunk {
			args = bind(args, r)
		}
		values := insValues(n, cols)
		res, err := t.tx.ExecContext(t.ctx, insert(values), args...)
		if err != nil {
			return fmt.Errorf("%s: %w", what(chunk[0]), err)
		}
		inserted, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("%s: %w", what(chunk[0]), err)
		}
		if inserted == int64(n) {
			continue
		}
		if err := t.exec(update(values), args...); err != nil {
			return fmt.Errorf("%s: %w", what(chunk[0]), err)
		}
	}
	return nil
}

// ProgressTimes returns the times of a customer's progress records other
// than visitID itself and its own open commitments.
func (t *InsightsTx) ProgressTimes(tenantID, customerID, visitID string) ([]int64, error) {
	if err := t.flushProgress(); err != nil {
		return nil, err
	}
	if !t.stageEmpty {
		if err := t.foldStagedProgress(); err != nil {
			return nil, err
		}
	}
	return queryAll(t.ctx, t.tx, func(row rowScanner) (int64, error) {
		var v int64
		return v, row.Scan(&v)
	}, `SELECT at_ms FROM insights_progress WHERE tenant_id = ? AND customer_id = ? AND record_id != ? AND linked_visit_id != ?`,
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
		conflict = `DO UPDATE SET alert = excluded.alert, done_at = NULL, revision = revision + 1, attempts = 0, retry_at = 0
			WHERE alert IS NOT excluded.alert`
	}
	res, err := t.tx.ExecContext(t.ctx, `INSERT INTO insights_effects (tenant_id, dedup_key, alert, record_type, record_id, field, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(tenant_id, dedup_key) `+conflict,
		e.TenantID, e.DedupKey, alert, e.RecordType, e.RecordID, e.Field, ms(t.Now))
	if err != nil {
		return false, fmt.Errorf("enqueue %s: %w", e.DedupKey, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// PendingInsightEffects returns up to limit effects not yet done and due
// at now (not waiting for a retry: DeferInsightEffect), oldest first.
func (db *DB) PendingInsightEffects(ctx context.Context, now time.Time, limit int) ([]*insightstore.Effect, error) {
	out, err := queryAll(ctx, db.read, func(row rowScanner) (*insightstore.Effect, error) {
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
		WHERE done_at IS NULL AND retry_at <= ? ORDER BY id LIMIT +?`, ms(now), limit)
	if err != nil {
		return nil, fmt.Errorf("pending effects: %w", err)
	}
	return out, nil
}

// MarkInsightEffectsDone records, in one transaction, that effects were
// performed: each in the revision read, so one replaced since stays queued.
func (db *DB) MarkInsightEffectsDone(ctx context.Context, effects []*insightstore.Effect) error {
	if len(effects) == 0 {
		return nil
	}
	return db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
		for _, e := range effects {
			if _, err := tx.ExecContext(ctx, `UPDATE insights_effects SET done_at = ? WHERE id = ? AND revision = ?`,
				ms(now), e.ID, e.Revision); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeferInsightEffect records a failed try of an effect (in the revision
// read) and leaves it until retryAt: other effects go on meanwhile.
func (db *DB) DeferInsightEffect(ctx context.Context, e *insightstore.Effect, retryAt time.Time) error {
	return db.WriteTx(ctx, func(tx *sql.Tx, _ time.Time) error {
		_, err := tx.ExecContext(ctx, `UPDATE insights_effects SET attempts = attempts + 1, retry_at = ? WHERE id = ? AND revision = ?`,
			ms(retryAt), e.ID, e.Revision)
		return err
	})
}

// Finding returns a stored finding, or nil.
func (t *InsightsTx) Finding(tenantID, key string) (*insightstore.Finding, error) {
	return queryOne(t.ctx, t.tx, func(row rowScanner) (*insightstore.Finding, error) {
		f := insightstore.Finding{Key: key}
		return &f, row.Scan(&f.Episode, &f.OpenedMS, &f.LastMS, &f.Evidence)
	}, `SELECT episode, opened_ms, last_ms, evidence FROM insights_findings WHERE tenant_id = ? AND finding_key = ?`, tenantID, key)
}

// PutFinding stores a finding, replacing the previous one.
func (t *InsightsTx) PutFinding(tenantID string, f *insightstore.Finding) error {
	return t.exec(`INSERT OR REPLACE INTO insights_findings (tenant_id, finding_key, episode, opened_ms, last_ms, evidence)
		VALUES (?, ?, ?, ?, ?, ?)`, tenantID, f.Key, f.Episode, f.OpenedMS, f.LastMS, f.Evidence)
}

// LatestIntervention returns the last day of the latest A3 intervention in
// a region, or "".
func (t *InsightsTx) LatestIntervention(tenantID, regionID string) (string, error) {
	var end sql.NullString
	err := t.tx.QueryRowContext(t.ctx, `SELECT MAX(end_date) FROM insights_interventions WHERE tenant_id = ? AND region_id = ?`,
		tenantID, regionID).Scan(&end)
	return end.String, err
}

// AddIntervention records an A3 intervention for a region's fall ending on endDate.
func (t *InsightsTx) AddIntervention(tenantID, regionID, endDate string) error {
	return t.exec(`INSERT OR IGNORE INTO insights_interventions (tenant_id, region_id, end_date, raised_at) VALUES (?, ?, ?, ?)`,
		tenantID, regionID, endDate, ms(t.Now))
}

const insGrantCols = `id, grantee_user_id, subject_user_id, reason, created_at, expires_at`

func scanGrant(row rowScanner) (*fieldsyncv1.AccessGrant, error) {
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
	err := t.exec(`INSERT OR IGNORE INTO access_grants (id, tenant_id, grantee_user_id, subject_user_id, reason, dedup_key, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, ids.NewAt(create), tenantID, granteeUserID, subjectUserID, reason, dedupKey, ms(create), ms(expire))
	if err != nil {
		return nil, fmt.Errorf("create grant: %w", err)
	}
	return scanGrant(t.tx.QueryRowContext(t.ctx, `SELECT `+insGrantCols+` FROM access_grants WHERE tenant_id = ? AND dedup_key = ?`,
		tenantID, dedupKey))
}

// ActiveGrant returns the grant under which grantee may read subject's
// device operation logs at now (created at or before now, expiring after
// it), the one expiring last. Without one it returns CodePermissionDenied.
func (db *DB) ActiveGrant(ctx context.Context, tenantID, granteeUserID, subjectUserID string, now time.Time) (*fieldsyncv1.AccessGrant, error) {
	g, err := queryOne(ctx, db.read, scanGrant, `SELECT `+insGrantCols+` FROM access_grants
		WHERE tenant_id = ? AND grantee_user_id = ? AND subject_user_id = ? AND created_at <= ? AND expires_at > ?
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
func (db *DB) RecordAudit(ctx context.Context, tenantID, grantID, readerUserID, subjectUserID string, recordsRead int64, readTime time.Time) (*fieldsyncv1.AuditEntry, error) {
	e := &fieldsyncv1.AuditEntry{Id: ids.NewAt(readTime), GrantId: grantID, ReaderUserId: readerUserID,
		SubjectUserId: subjectUserID, RecordsRead: recordsRead, ReadTime: timestamppb.New(readTime)}
	err := db.WriteTx(ctx, func(tx *sql.Tx, _ time.Time) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO audit_entries (id, tenant_id, grant_id, reader_user_id, subject_user_id, records_read, read_at)
			SELECT ?, ?, id, ?, ?, ?, ? FROM access_grants WHERE id = ? AND tenant_id = ? AND grantee_user_id = ? AND subject_user_id = ?
			AND created_at <= ? AND expires_at > ?`, e.Id, tenantID, readerUserID, subjectUserID, recordsRead, ms(readTime),
			grantID, tenantID, readerUserID, subjectUserID, ms(readTime), ms(readTime))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
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
func (db *DB) ListGrants(ctx context.Context, tenantID, granteeUserID string) ([]*fieldsyncv1.AccessGrant, error) {
	out, err := queryAll(ctx, db.read, scanGrant, `SELECT `+insGrantCols+` FROM access_grants
		WHERE tenant_id = ? AND (? = '' OR grantee_user_id = ?) ORDER BY created_at DESC, id`, tenantID, granteeUserID, granteeUserID)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	return out, nil
}

// ListAudit returns the tenant's audit entries about subjectUserID, or all
// of them when it is empty, newest first.
func (db *DB) ListAudit(ctx context.Context, tenantID, subjectUserID string) ([]*fieldsyncv1.AuditEntry, error) {
	out, err := queryAll(ctx, db.read, func(row rowScanner) (*fieldsyncv1.AuditEntry, error) {
		var e fieldsyncv1.AuditEntry
		var read int64
		err := row.Scan(&e.Id, &e.GrantId, &e.ReaderUserId, &e.SubjectUserId, &e.RecordsRead, &read)
		e.ReadTime = timestamppb.New(fromMS(read))
		return &e, err
	}, `SELECT id, grant_id, reader_user_id, subject_user_id, records_read, read_at FROM audit_entries
		WHERE tenant_id = ? AND (? = '' OR subject_user_id = ?) ORDER BY read_at DESC, id`, tenantID, subjectUserID, subjectUserID)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}

// UsersByRole returns the tenant's users with a role, limited to a region
// and a store when those are non-empty, by id.
func (db *DB) UsersByRole(ctx context.Context, tenantID string, role fieldsyncv1.Role, regionID, storeID string) ([]*syncengine.User, error) {
	return insUsersByRole(ctx, db.read, tenantID, role, regionID, storeID)
}

// UsersByRole is DB.UsersByRole inside the transaction.
func (t *InsightsTx) UsersByRole(tenantID string, role fieldsyncv1.Role, regionID, storeID string) ([]*syncengine.User, error) {
	return insUsersByRole(t.ctx, t.tx, tenantID, role, regionID, storeID)
}

func insUsersByRole(ctx context.Context, q querier, tenantID string, role fieldsyncv1.Role, regionID, storeID string) ([]*syncengine.User, error) {
	out, err := queryAll(ctx, q, scanUser, `SELECT `+userColumns+` FROM users WHERE tenant_id = ? AND role = ?
		AND (? = '' OR region_id = ?) AND (? = '' OR store_id = ?) ORDER BY id`,
		tenantID, int32(role), regionID, regionID, storeID, storeID)
	if err != nil {
		return nil, fmt.Errorf("users by role: %w", err)
	}
	return out, nil
}

// User returns a user of the tenant, or nil.
func (t *InsightsTx) User(tenantID, userID string) (*syncengine.User, error) {
	u, err := scanUser(t.tx.QueryRowContext(t.ctx, `SELECT `+userColumns+` FROM users WHERE id = ? AND tenant_id = ?`, userID, tenantID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return u, err
}

// Names returns the display names of the tenant's users, regions and
// stores among ids, by id; unknown ids are left out.
func (t *InsightsTx) Names(tenantID string, ids ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, id := range ids {
		var name string
		err := t.tx.QueryRowContext(t.ctx, `SELECT display_name FROM users WHERE id = ?1 AND tenant_id = ?2
			UNION ALL SELECT name FROM regions WHERE id = ?1 AND tenant_id = ?2
			UNION ALL SELECT name FROM stores WHERE id = ?1 AND tenant_id = ?2`, id, tenantID).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("names: %w", err)
		}
		out[id] = name
	}
	return out, nil
}

// TenantIDs returns every tenant's id.
func (db *DB) TenantIDs(ctx context.Context) ([]string, error) {
	return queryAll(ctx, db.read, func(row rowScanner) (string, error) {
		var id string
		return id, row.Scan(&id)
	}, `SELECT id FROM tenants ORDER BY id`)
}
