package syncengine

import (
	"context"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// Conflict list limits: a ListConflicts call without a limit, or with one
// above MaxConflictLimit, gets DefaultConflictLimit conflicts at most.
const (
	DefaultConflictLimit = 100
	MaxConflictLimit     = 1000
)

// ListConflicts returns the conflicts of the tenant with id > afterID, in
// id order, whose record the caller may read (CanRead, on the scope the
// record had when the value lost): up to limit of them (1 to
// MaxConflictLimit, default DefaultConflictLimit), only recordID's when it
// is set. A conflict of a record the caller
// may not read is left out, as if it did not exist; a writer the caller may
// not know of (mayKnowActor) has its device id left empty.
func (e *Engine) ListConflicts(ctx context.Context, p *Principal, recordID string, afterID uint64, limit int) ([]*fieldsyncv1.Conflict, error) {
	if limit <= 0 || limit > MaxConflictLimit {
		limit = DefaultConflictLimit
	}
	f := FilterFor(p)
	if f.TenantID == "" {
		return nil, nil
	}
	q := ConflictQuery{TenantID: f.TenantID, RecordID: recordID, AfterID: afterID, Limit: limit}
	var out []*fieldsyncv1.Conflict
	for {
		cs, err := e.store.ListConflicts(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			if rt, ok := e.reg.Lookup(c.RecordType); ok && f.Matches(rt, c.Scope) {
				out = append(out, conflictFor(p, f, c))
			}
			if len(out) == limit {
				return out, nil
			}
		}
		if len(cs) < q.Limit {
			return out, nil
		}
		q.AfterID = cs[len(cs)-1].ID
	}
}

// conflictFor converts a conflict for p, blanking the writers p may not
// know of (see mayKnowActor).
func conflictFor(p *Principal, f Filter, c *Conflict) *fieldsyncv1.Conflict {
	out := ConflictToWire(c)
	if !mayKnowActor(p, f, c.LosingAt.Actor, c.LosingPlace) {
		out.LosingDeviceId = ""
	}
	if !mayKnowActor(p, f, c.WinningAt.Actor, c.WinningPlace) {
		out.WinningDeviceId = ""
	}
	return out
}

// hideWriters blanks, in the conflicts of p's push result, the writers
// other than p and the server unless p's filter covers the whole tenant:
// ListConflicts names the devices of the people p covers.
func hideWriters(p *Principal, cs []*fieldsyncv1.Conflict) {
	f := FilterFor(p)
	for _, c := range cs {
		if !mayKnowActor(p, f, c.LosingDeviceId, nil) {
			c.LosingDeviceId = ""
		}
		if !mayKnowActor(p, f, c.WinningDeviceId, nil) {
			c.WinningDeviceId = ""
		}
	}
}

// mayKnowActor reports whether p may learn who wrote a value, as
// GetDeliveries decides which devices p may know of: itself, the server,
// anyone for a filter covering the whole tenant (admins, keys with
// records:read), and a device whose user's place p's filter covers.
// Another API key, or a device the store cannot place, stays unnamed.
func mayKnowActor(p *Principal, f Filter, actor string, place *Scope) bool {
	switch {
	case actor == p.Actor() || actor == ServerActor || f.All:
		return true
	case place == nil:
		return false
	}
	return f.CoversPlace(*place)
}

// Deliveries says when a record (its creation, and its current version)
// reached each device that acknowledged it and the caller may know of (see
// mayKnowDevice). The caller must see the record (CanRead); a record it
// may not see is CodeNotFound, as a missing one.
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
		if d.Reader != nil && CanRead(d.Reader, rt, rec.Scope) && mayKnowDevice(p, rt, d.Reader) {
			out = append(out, d)
		}
	}
	return out, nil
}

// mayKnowDevice reports whether p may learn of reader's device: when p's
// filter covers the reader's place (a rep: its own devices; store roles:
// their store's people; directors and tech advisors: their region's;
// admins and keys with records:read: all), and for shared records also
// when p publishes tenant-wide (marketing follows its material's delivery).
func mayKnowDevice(p *Principal, rt *RecordType, reader *Principal) bool {
	f := FilterFor(p)
	if rt.Options.GetShared() && f.SharedAll {
		return true
	}
	return f.CoversPlace(Scope{Owner: reader.UserID, Store: reader.StoreID, Region: reader.RegionID})
}
