package syncengine

import (
	"context"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// ListConflicts returns the conflict log as the caller may read it: a
// device its own losses; store managers their store's; directors and tech
// advisors their region's; admins and keys with "records:read" all of the
// tenant. Other roles get their own losses only.
func (e *Engine) ListConflicts(ctx context.Context, p *Principal, recordID string, afterID uint64, limit int) ([]*fieldsyncv1.Conflict, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	q := ConflictQuery{TenantID: p.TenantID, RecordID: recordID, AfterID: afterID, Limit: limit}
	switch {
	case p.IsAPIKey() && p.Can("records:read"):
	case p.IsAPIKey():
		return nil, Errorf(CodePermissionDenied, "this API key lacks records:read")
	case p.Role == fieldsyncv1.Role_ROLE_ADMIN:
	case p.Role == fieldsyncv1.Role_ROLE_STORE_MANAGER:
		q.StoreID = p.StoreID
	case p.Role == fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR || p.Role == fieldsyncv1.Role_ROLE_TECH_ADVISOR:
		q.RegionID = p.RegionID
	default:
		q.LosingActor = p.Actor()
	}
	cs, err := e.store.ListConflicts(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]*fieldsyncv1.Conflict, 0, len(cs))
	for _, c := range cs {
		out = append(out, ConflictToWire(c))
	}
	return out, nil
}

// Deliveries says when a record (its creation, and its current version)
// reached each device that acknowledged it. The caller must see the record.
func (e *Engine) Deliveries(ctx context.Context, p *Principal, recordID string) ([]Delivery, error) {
	recs, err := e.store.GetRecords(ctx, p.TenantID, []string{recordID})
	if err != nil {
		return nil, err
	}
	rec := recs[recordID]
	if rec == nil {
		return nil, Errorf(CodeNotFound, "record %q not found", recordID)
	}
	rt, ok := e.reg.Lookup(rec.Type)
	if !ok || !FilterFor(p).Matches(rt, rec.Scope) {
		return nil, Errorf(CodeNotFound, "record %q not found", recordID)
	}
	all, err := e.store.Receipts(ctx, p.TenantID, rec.CreatedVersion)
	if err != nil {
		return nil, err
	}
	var out []Delivery
	for _, d := range all {
		if d.Reader != nil && FilterFor(d.Reader).Matches(rt, rec.Scope) {
			out = append(out, d)
		}
	}
	return out, nil
}
