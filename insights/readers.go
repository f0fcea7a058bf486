package insights

import "github.com/fieldsync/fieldsync/syncengine"

// An alert quotes records (A1's conclusions, A6's records, their photos
// through related_record_ids). Each recipient's alert is built from the
// evidence that recipient may read, judged by syncengine.CanRead with the
// recipient's user as principal, so that an alert never shows what its
// recipient could not open: a record naming a customer its writer cannot
// read joins a finding, but the writer's alert leaves out what it cannot see.

// reader is an alert recipient as the visibility policy sees it.
type reader struct {
	id string
	p  *syncengine.Principal
}

// recipientDevice stands in for the recipient's devices in its principal:
// what a user may read depends on its role and places alone.
const recipientDevice = "alert-recipient"

// readers returns the recipients that are users of the tenant, in order,
// each with its principal (role, region and store from its user record).
func (w *work) readers(ids []string) ([]reader, error) {
	out := make([]reader, 0, len(ids))
	for _, id := range ids {
		u, err := w.tx.User(w.tenantID, id)
		if err != nil {
			return nil, err
		}
		if u != nil {
			out = append(out, reader{id: id, p: u.Principal(recipientDevice)})
		}
	}
	return out, nil
}

// canRead reports whether the reader may read a record of recordType
// placed at sc.
func (r reader) canRead(recordType string, sc Scope) bool {
	rt, ok := syncengine.DefaultRegistry().Lookup(recordType)
	return ok && syncengine.CanRead(r.p, rt, syncengine.Scope{Owner: sc.RepID, Store: sc.StoreID, Region: sc.RegionID})
}
