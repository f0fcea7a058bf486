package insights

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// recomputeChunkDays is how many days one Recompute transaction rebuilds,
// so a long range neither holds the writer nor the facts in memory at once.
const recomputeChunkDays = 7

// work is one transaction's insights work for one tenant.
type work struct {
	tx       insightstore.Tx
	cfg      Config
	tenantID string
	// now is the consumer's clock: PHI's asOf and the alerts' raise time.
	now time.Time
	// skew is how far after an event's commit a device time may be (Consumer.MaxClockSkew).
	skew time.Duration
	// pending are the scope days touched and not recomputed yet (touch).
	pending phiKeys
	// photoAvailable says on which records a photo is available (A6; the
	// event handler's work only).
	photoAvailable func(sha256 string, recordIDs []string) (map[string]bool, error)
}

// touch marks scope days for recomputation at the end of the batch.
func (w *work) touch(keys phiKeys) {
	if w.pending == nil {
		w.pending = phiKeys{}
	}
	for k := range keys {
		w.pending[k] = true
	}
}

// phiKeys is a set of scope days whose stored PHI must be recomputed.
type phiKeys map[phiKey]bool

func (k phiKeys) add(s Scope, date string) {
	for _, key := range []phiKey{
		{fieldsyncv1.ScopeKind_SCOPE_KIND_REP, s.RepID, date},
		{fieldsyncv1.ScopeKind_SCOPE_KIND_STORE, s.StoreID, date},
		{fieldsyncv1.ScopeKind_SCOPE_KIND_REGION, s.RegionID, date},
	} {
		if key.id != "" {
			k[key] = true
		}
	}
}

// addAction adds the scope days an action's facts count on.
func (w *work) addAction(k phiKeys, a *insightstore.Action) {
	if a != nil && a.SubmittedMS != 0 {
		k.add(Scope{a.OwnerUserID, a.StoreID, a.RegionID}, dateOf(msTime(a.SubmittedMS), w.cfg.Phi.loc()))
	}
}

// addDelivery adds the scope days a delivery's facts may count on.
func (w *work) addDelivery(k phiKeys, d *insightstore.Delivery) {
	if d == nil || d.DeliveredMS == 0 {
		return
	}
	loc, s := w.cfg.Phi.loc(), Scope{d.RepUserID, d.StoreID, d.RegionID}
	delivered := msTime(d.DeliveredMS)
	k.add(s, dateOf(delivered, loc))
	k.add(s, dateOf(delivered.Add(w.cfg.Phi.FeedbackWindow.D()), loc))
	if d.FeedbackMS != 0 {
		k.add(s, dateOf(later(msTime(d.FeedbackMS), delivered), loc))
	}
}

// recompute rebuilds the stored PHI of each scope day in keys.
func (w *work) recompute(keys phiKeys) error {
	for _, k := range slices.SortedFunc(maps.Keys(keys), comparePhiKeys) {
		if err := w.recomputeDay(k); err != nil {
			return fmt.Errorf("recompute %s %s: %w", k.id, k.date, err)
		}
	}
	return nil
}

func comparePhiKeys(a, b phiKey) int {
	return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.id, b.id), cmp.Compare(a.date, b.date))
}

// recomputeDay loads every fact that can count on one scope day, computes
// its PHI and stores it (or removes it when nothing counts any more).
func (w *work) recomputeDay(k phiKey) error {
	from, to := dayBounds(k.date, w.cfg.Phi.loc())
	acts, err := w.tx.Actions(w.tenantID, k.kind, k.id, from, to)
	if err != nil {
		return err
	}
	// A delivery's feedback counts up to FeedbackWindow after the delivery.
	dels, err := w.tx.Deliveries(w.tenantID, k.kind, k.id, from-w.cfg.Phi.FeedbackWindow.D().Milliseconds(), to)
	if err != nil {
		return err
	}
	for _, d := range ComputePhi(factsFrom(acts, dels), w.cfg.Phi, w.now) {
		if d.ScopeKind == k.kind && d.ScopeId == k.id && d.Date == k.date {
			return w.tx.PutPhiDay(w.tenantID, d)
		}
	}
	return w.tx.DeletePhiDay(w.tenantID, k.kind, k.id, k.date)
}

// Recompute rebuilds the stored PHI of every scope for the dates in
// [fromDate, toDate] (inclusive, YYYY-MM-DD) from the stored facts, under
// the tenant's current configuration, with feedback deadlines counted as
// of Now. Each run of recomputeChunkDays days is one transaction. Malformed
// dates are CodeInvalid.
func (c *Consumer) Recompute(ctx context.Context, tenantID, fromDate, toDate string) error {
	from, err := parseDate(fromDate)
	if err != nil {
		return err
	}
	to, err := parseDate(toDate)
	if err != nil {
		return err
	}
	if to.Before(from) {
		return syncengine.Errorf(syncengine.CodeInvalid, "recompute: %s is after %s", fromDate, toDate)
	}
	now := c.now()
	for start := fromDate; start <= toDate; start = addDays(start, recomputeChunkDays) {
		end := min(addDays(start, recomputeChunkDays-1), toDate)
		err := c.DB.InsightsWrite(ctx, func(tx insightstore.Tx) error {
			cfg, err := c.config(tx, tenantID)
			if err != nil {
				return err
			}
			w := &work{tx: tx, cfg: cfg, tenantID: tenantID, now: now}
			return w.recomputeRange(start, end)
		})
		if err != nil {
			return fmt.Errorf("recompute %s..%s: %w", start, end, err)
		}
	}
	return nil
}

func (w *work) recomputeRange(fromDate, toDate string) error {
	loc := w.cfg.Phi.loc()
	from, _ := dayBounds(fromDate, loc)
	_, to := dayBounds(toDate, loc)
	acts, err := w.tx.Actions(w.tenantID, fieldsyncv1.ScopeKind_SCOPE_KIND_UNSPECIFIED, "", from, to)
	if err != nil {
		return err
	}
	dels, err := w.tx.Deliveries(w.tenantID, fieldsyncv1.ScopeKind_SCOPE_KIND_UNSPECIFIED, "",
		from-w.cfg.Phi.FeedbackWindow.D().Milliseconds(), to)
	if err != nil {
		return err
	}
	if err := w.tx.DeletePhiDays(w.tenantID, fromDate, toDate); err != nil {
		return err
	}
	for _, d := range ComputePhi(factsFrom(acts, dels), w.cfg.Phi, w.now) {
		if d.Date < fromDate || d.Date > toDate {
			continue
		}
		if err := w.tx.PutPhiDay(w.tenantID, d); err != nil {
			return err
		}
	}
	return nil
}
