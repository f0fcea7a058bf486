package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// maxPhiScopes bounds the places one PhiSeriesMany reads.
const maxPhiScopes = 1000

// PhiSeriesMany returns the PHI of several places of one kind for the
// dates in [fromDate, toDate] (inclusive, YYYY-MM-DD), by scope id, each
// oldest first, in one query: the dashboard's drill-down reads a region's
// stores or a store's people at once. Places without PHI have no entry.
func (db *DB) PhiSeriesMany(ctx context.Context, tenantID string, kind fieldsyncv1.ScopeKind, scopeIDs []string, fromDate, toDate string) (map[string][]*fieldsyncv1.PhiDay, error) {
	if kind == fieldsyncv1.ScopeKind_SCOPE_KIND_UNSPECIFIED || len(scopeIDs) > maxPhiScopes {
		return nil, syncengine.Errorf(syncengine.CodeInvalid, "phi series: a scope kind and at most %d scope ids are required", maxPhiScopes)
	}
	if !insDatePattern.MatchString(fromDate) || !insDatePattern.MatchString(toDate) || fromDate > toDate {
		return nil, syncengine.Errorf(syncengine.CodeInvalid, "phi series: want from_date <= to_date, both YYYY-MM-DD")
	}
	out := make(map[string][]*fieldsyncv1.PhiDay, len(scopeIDs))
	if len(scopeIDs) == 0 {
		return out, nil
	}
	arr, err := json.Marshal(scopeIDs)
	if err != nil {
		return nil, err
	}
	days, err := queryAll(ctx, db.read, scanPhiDay, `SELECT `+insPhiCols+` FROM insights_phi_days
		WHERE tenant_id = ? AND scope_kind = ? AND scope_id IN (SELECT value FROM json_each(?)) AND date >= ? AND date <= ?
		ORDER BY scope_id, date`, tenantID, int32(kind), string(arr), fromDate, toDate)
	if err != nil {
		return nil, fmt.Errorf("list phi days: %w", err)
	}
	for _, d := range days {
		out[d.ScopeId] = append(out[d.ScopeId], d)
	}
	return out, nil
}
