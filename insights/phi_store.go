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
	// deltas are the changes of action tallies not stored yet, by scope
	// day (countAction); each such day is in pending too.
	deltas map[phiKey]*phiCounts
	// photoAvailable says on which records a photo is available (A6; the
	// event handler's work only).
	photoAvailable func(sha256 string, recordIDs []string) (map[string]bool, error)
	// known are stored actions as of now in the transaction, by record
	// id (nil: none stored), read ahead for a batch (readAhead) or
	// written by it (putAction): a batch reads its records' actions in
	// one query, not one per event.
	known map[string]*insightstore.Action
	// queued says that the transaction queued an effect (enqueue).
	queued bool
}

// readAhead reads the stored actions of records into w.known.
func (w *work) readAhead(recordIDs []string) error {
	var missing []string
	for _, id := range recordIDs {
		if _, ok := w.known[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	acts, err := w.tx.ActionsByID(w.tenantID, missing)
	if err != nil {
		return err
	}
	if w.known == nil {
		w.known = make(map[string]*insightstore.Action, len(missing))
	}
	for _, id := range missing {
		w.known[id] = nil
	}
	for _, a := range acts {
		w.known[a.RecordID] = a
	}
	return nil
}

// storedAction returns a record's stored action, or nil.
func (w *work) storedAction(recordID string) (*insightstore.Action, error) {
	if a, ok := w.known[recordID]; ok {
		if a == nil {
			return nil, nil
		}
		c := *a
		return &c, nil
	}
	return w.tx.Action(w.tenantID, recordID)
}

// putAction stores an action and remembers it in w.known.
func (w *work) putAction(a *insightstore.Action) error {
	if err := w.tx.PutAction(a); err != nil {
		return err
	}
	if w.known == nil {
		w.known = map[string]*insightstore.Action{}
	}
	c := *a
	w.known[a.RecordID] = &c
	return nil
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

// countAction adds (sign 1) or takes back (sign -1) what a stored action
// counts to its scope days' tallies, and marks those days pending. A
// change of an action takes back its old facts and adds its new ones, so
// an edit, or a new first submission that moves it to another scope or
// day, moves its part with it.
func (w *work) countAction(a *insightstore.Action, sign int64) {
	if a == nil || a.SubmittedMS == 0 {
		return
	}
	f := actionFact(a)
	date, c, ok := actionCounts(&f, w.cfg.Phi, w.cfg.Phi.loc())
	if !ok {
		return
	}
	if w.pending == nil {
		w.pending = phiKeys{}
	}
	if w.deltas == nil {
		w.deltas = map[phiKey]*phiCounts{}
	}
	keys := phiKeys{}
	keys.add(f.Scope, date)
	for k := range keys {
		w.pending[k] = true
		d := w.deltas[k]
		if d == nil {
			d = &phiCounts{}
			w.deltas[k] = d
		}
		d.plus(&c, sign)
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

// recompute brings the stored PHI of each scope day in keys up to date:
// its action tallies changed by w.deltas (countAction), its
// collaboration counted again as of w.now.
func (w *work) recompute(keys phiKeys) error {
	for _, k := range slices.SortedFunc(maps.Keys(keys), comparePhiKeys) {
		if err := w.recomputeDay(k); err != nil {
			return fmt.Errorf("recompute %s %s: %w", k.id, k.date, err)
		}
		delete(w.deltas, k)
	}
	return nil
}

func comparePhiKeys(a, b phiKey) int {
	return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.id, b.id), cmp.Compare(a.date, b.date))
}

// recomputeDay stores the PHI of one scope day (or removes it when nothing
// counts any more). The action components come from the tallies stored
// with the day plus the batch's changes to them (w.deltas), so a batch
// costs what it changed, not what the day holds; the day's actions are
// counted from the stored facts instead when it has no tallies (a new day,
// or one stored by PutPhiDay), when they were counted under other
// settings (PhiConfig.countingKey), or when a change would take back more
// than they hold. Collaboration is counted from the day's deliveries each
// time, as of w.now, since a feedback deadline passing changes it without
// any event.
func (w *work) recomputeDay(k phiKey) error {
	loc, key := w.cfg.Phi.loc(), w.cfg.Phi.countingKey()
	from, to := dayBounds(k.date, loc)
	stored, err := w.tx.PhiDayCounts(w.tenantID, k.kind, k.id, k.date)
	if err != nil {
		return err
	}
	var c phiCounts
	if stored != nil && stored.Config == key {
		c = countsFrom(stored)
		if d := w.deltas[k]; d != nil {
			c.plus(d, 1)
		}
	}
	if stored == nil || stored.Config != key || !c.valid() {
		acts, err := w.tx.Actions(w.tenantID, k.kind, k.id, from, to)
		if err != nil {
			return err
		}
		c = phiCounts{}
		if day := countPhi(factsFrom(acts, nil), w.cfg.Phi, w.now).days[k]; day != nil {
			c = *day
		}
	}
	// A delivery's feedback counts up to FeedbackWindow after the delivery.
	dels, err := w.tx.Deliveries(w.tenantID, k.kind, k.id, from-w.cfg.Phi.FeedbackWindow.D().Milliseconds(), to)
	if err != nil {
		return err
	}
	c.collaboration = ratio{}
	if day := countPhi(factsFrom(nil, dels), w.cfg.Phi, w.now).days[k]; day != nil {
		c.collaboration = day.collaboration
	}
	if c.empty() {
		return w.tx.DeletePhiDay(w.tenantID, k.kind, k.id, k.date)
	}
	return w.tx.PutPhiDayCounts(w.tenantID, w.cfg.Phi.day(k, &c), storedCounts(key, &c))
}

// countsFrom and storedCounts convert action tallies from and to their
// stored form (collaboration is not stored: it is counted each time).
func countsFrom(s *insightstore.PhiCounts) phiCounts {
	return phiCounts{
		keyAction: ratio{s.KeyActionsOnTime, s.KeyActions},
		quality:   ratio{s.QualityMet, s.QualityRecords},
		visits:    ratio{s.HighValueVisits, s.Visits},
	}
}

func storedCounts(key string, c *phiCounts) *insightstore.PhiCounts {
	return &insightstore.PhiCounts{Config: key,
		KeyActionsOnTime: c.keyAction.num, KeyActions: c.keyAction.den,
		QualityMet: c.quality.num, QualityRecords: c.quality.den,
		HighValueVisits: c.visits.num, Visits: c.visits.den}
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
	// Delete first: on PostgreSQL that locks the range's stored days, so a
	// consumer's batch counting one of them either commits before the
	// facts are read here or waits and counts on what this stores.
	if err := w.tx.DeletePhiDays(w.tenantID, fromDate, toDate); err != nil {
		return err
	}
	acts, err := w.tx.Actions(w.tenantID, fieldsyncv1.ScopeKind_SCOPE_KIND_UNSPECIFIED, "", from, to)
	if err != nil {
		return err
	}
	dels, err := w.tx.Deliveries(w.tenantID, fieldsyncv1.ScopeKind_SCOPE_KIND_UNSPECIFIED, "",
		from-w.cfg.Phi.FeedbackWindow.D().Milliseconds(), to)
	if err != nil {
		return err
	}
	acc, key := countPhi(factsFrom(acts, dels), w.cfg.Phi, w.now), w.cfg.Phi.countingKey()
	for _, k := range slices.SortedFunc(maps.Keys(acc.days), comparePhiKeys) {
		if k.date < fromDate || k.date > toDate {
			continue
		}
		c := acc.days[k]
		if err := w.tx.PutPhiDayCounts(w.tenantID, w.cfg.Phi.day(k, c), storedCounts(key, c)); err != nil {
			return err
		}
	}
	return nil
}
