package insights

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/records"
	"github.com/fieldsync/fieldsync/syncengine"
)

// AlertWriter writes records as the server (the sync engine implements
// it). The consumer writes each Alert through records.WriteAlert: the first
// write creates it, a later one updates a finding's evidence, and writing
// the same values again changes nothing.
type AlertWriter interface {
	ServerWrite(ctx context.Context, tenantID, recordType, id string, value proto.Message, fields []string) (bool, error)
}

// RecordFlagger sets a server-only boolean field on a record (A6 sets
// repeat_photo_flagged). Setting a field that is already set is a no-op.
type RecordFlagger interface {
	FlagRecord(ctx context.Context, tenantID, recordType, recordID, field string) error
}

// Consumer turns the change stream into PHI and alerts. Handle applies one
// change event; Sweep runs the time-based rules (A3, A4, A5) and counts
// feedback deadlines that passed; Recompute rebuilds stored PHI.
//
// Alerts and flags are decided inside the event's transaction and queued
// in it (sqlite insights_effects); they are performed after the commit,
// through Alerts and Flags, and marked done. A crash in between performs
// them again, which is safe because both are idempotent by dedup key.
type Consumer struct {
	DB     insightstore.Store
	Alerts AlertWriter
	Flags  RecordFlagger
	// Now is the clock for feedback deadlines and alert times. Default time.Now.
	Now func() time.Time
	// MaxClockSkew bounds the device-set times of actions (visit_time,
	// surgery_time, a diagnosis's HLC) to at most this long after the
	// event's commit, as the sync engine bounds HLCs. Default
	// DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// Logger logs the effects dropped or retried. Default slog.Default().
	Logger *slog.Logger
	// Photos says on which records a photo is available; A6 counts only
	// those uses. Default: the DB's photo attachers and holders.
	Photos PhotoAvailability
	// Records reads the rebate rules and quotes for A7's recorded rebate
	// (rebate.go). Default: DB.
	Records RecordReader
	// RebateDisagreements counts submitted quotes whose device rebate
	// differs from the server's (RegisterRebateMetrics); nil counts nothing.
	RebateDisagreements prometheus.Counter

	flushMu     sync.Mutex
	flushFailed atomic.Bool // effects may be pending: a Flush did not finish

	configMu sync.Mutex
	configs  map[string]cachedConfig // by tenant
}

// PhotoAvailability says on which records a photo is available: one of
// the attachers of the record's ref holds the photo.
type PhotoAvailability interface {
	PhotoAvailableOn(ctx context.Context, tenantID, sha256 string, recordIDs []string) (map[string]bool, error)
}

// dbPhotos is the PhotoAvailability of the store (its PhotoStates).
type dbPhotos struct{ db insightstore.Photos }

func (d dbPhotos) PhotoAvailableOn(ctx context.Context, tenantID, sha256 string, recordIDs []string) (map[string]bool, error) {
	states, err := d.db.PhotoStates(ctx, tenantID, recordIDs)
	out := map[string]bool{}
	for k, ok := range states {
		if ok && k.SHA256 == sha256 {
			out[k.RecordID] = true
		}
	}
	return out, err
}

// DefaultMaxClockSkew is the default Consumer.MaxClockSkew, the sync engine's default.
const DefaultMaxClockSkew = 5 * time.Minute

func (c *Consumer) skew() time.Duration {
	if c.MaxClockSkew > 0 {
		return c.MaxClockSkew
	}
	return DefaultMaxClockSkew
}

func (c *Consumer) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// DecodeEvent decodes a ChangeEvent from untrusted bytes and checks it.
// Bytes that are no ChangeEvent, or an event missing its id, tenant or
// commit time, or whose value is not its record type, are CodeInvalid:
// they can never succeed, so the caller should drop them rather than retry.
func DecodeEvent(data []byte) (*fieldsyncv1.ChangeEvent, error) {
	ev := &fieldsyncv1.ChangeEvent{}
	if err := proto.Unmarshal(data, ev); err != nil {
		return nil, syncengine.Errorf(syncengine.CodeInvalid, "change event: %v", err)
	}
	if err := checkEvent(ev); err != nil {
		return nil, err
	}
	if _, err := decodeRecord(ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// HandleMessage decodes a ChangeEvent (see DecodeEvent) and handles it.
func (c *Consumer) HandleMessage(ctx context.Context, data []byte) error {
	ev, err := DecodeEvent(data)
	if err != nil {
		return err
	}
	return c.HandleBatch(ctx, []*fieldsyncv1.ChangeEvent{ev})
}

// Handle applies one change event; see HandleBatch.
func (c *Consumer) Handle(ctx context.Context, ev *fieldsyncv1.ChangeEvent) error {
	return c.HandleBatch(ctx, []*fieldsyncv1.ChangeEvent{ev})
}

// HandleBatch applies change events, in order, in one transaction: each
// updates the PHI facts and evaluates the event-driven rules (A1, A2, A6,
// and A5's bookkeeping), and the stored PHI of every day they touched is
// recomputed once at the end. The transaction records each event's id, so
// an event handled again, alone or in any batch, changes nothing; a batch
// that fails changes nothing at all. Events the consumer does not read
// (other record types, deletes, photo states) cost no write. Then it
// performs the queued alerts and flags (see Flush), when it queued any or
// an earlier Flush did not finish. An invalid event makes
// the whole batch CodeInvalid (DecodeEvent finds them first). Last it
// records the server's rebate on the quotes submitted (rebate.go).
func (c *Consumer) HandleBatch(ctx context.Context, evs []*fieldsyncv1.ChangeEvent) error {
	queued, err := c.applyBatch(ctx, evs)
	if err != nil {
		return err
	}
	if queued || c.mayHavePending() {
		if err := c.Flush(ctx); err != nil {
			return err
		}
	}
	return c.recordRebates(ctx, evs)
}

// applyBatch applies evs in one transaction and reports whether it queued
// an effect.
func (c *Consumer) applyBatch(ctx context.Context, evs []*fieldsyncv1.ChangeEvent) (bool, error) {
	recs, read := make([]proto.Message, len(evs)), make([]bool, len(evs))
	n := 0
	for i, ev := range evs {
		if err := checkEvent(ev); err != nil {
			return false, err
		}
		rec, err := decodeRecord(ev)
		if err != nil {
			return false, err
		}
		recs[i], read[i] = rec, relevant(ev, rec)
		if read[i] {
			n++
		}
	}
	if n == 0 {
		return false, nil
	}
	now := c.now()
	queued := false
	err := c.DB.InsightsWrite(ctx, func(tx insightstore.Tx) error {
		b := &batch{c: c, ctx: ctx, tx: tx, now: now, works: map[string]*work{}, ahead: actionIDs(evs, read)}
		fresh, err := markApplied(tx, evs, read)
		if err != nil {
			return err
		}
		for i, ev := range evs {
			if !fresh[i] {
				continue
			}
			if err := b.apply(ev, recs[i]); err != nil {
				return fmt.Errorf("handle event %s: %w", ev.EventId, err)
			}
		}
		queued = b.queued()
		return b.finish()
	})
	return queued, err
}

// relevant reports whether the consumer reads an event: an upsert of a
// type it reads, a delete (a deleted record uses no photo: A6), a
// delivery of campaign material, or a photo becoming available on a
// surgery or diagnosis (A6).
func relevant(ev *fieldsyncv1.ChangeEvent, rec proto.Message) bool {
	switch ev.Op {
	case fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT:
		return rec != nil
	case fieldsyncv1.ChangeOp_CHANGE_OP_DELETE:
		return true
	case fieldsyncv1.ChangeOp_CHANGE_OP_DELIVERY:
		return ev.RecordType == materialType && ev.UserId != ""
	case fieldsyncv1.ChangeOp_CHANGE_OP_PHOTO_STATE:
		return ev.PhotoAvailable && ev.PhotoSha256 != "" && (ev.RecordType == surgeryType || ev.RecordType == diagnosisType)
	}
	return false
}

// batch is one HandleBatch transaction: one work per tenant, whose PHI
// days are recomputed at the end.
type batch struct {
	c     *Consumer
	ctx   context.Context
	tx    insightstore.Tx
	now   time.Time
	works map[string]*work
	// ahead are the records whose stored actions each tenant's work reads
	// ahead, in one query (actionIDs).
	ahead map[string][]string
}

// actionTypes are the record types whose upserts read and write a stored
// action (handler.action).
var actionTypes = map[string]bool{visitType: true, surgeryType: true, diagnosisType: true, quoteType: true}

// actionIDs returns, by tenant, the records of the upserts among evs that
// the consumer reads (read) and that store an action.
func actionIDs(evs []*fieldsyncv1.ChangeEvent, read []bool) map[string][]string {
	ids := map[string][]string{}
	for i, ev := range evs {
		if read[i] && ev.Op == fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT && actionTypes[ev.RecordType] {
			ids[ev.TenantId] = append(ids[ev.TenantId], ev.RecordId)
		}
	}
	return ids
}

// markApplied records the events the batch reads (read) as applied, one
// statement per tenant, and reports which of them are new: an event
// applied before, in an earlier batch or earlier in this one, is skipped.
func markApplied(tx insightstore.Tx, evs []*fieldsyncv1.ChangeEvent, read []bool) ([]bool, error) {
	byTenant := map[string][]int{} // tenant -> places in evs
	var tenants []string
	for i, ev := range evs {
		if !read[i] {
			continue
		}
		if _, ok := byTenant[ev.TenantId]; !ok {
			tenants = append(tenants, ev.TenantId)
		}
		byTenant[ev.TenantId] = append(byTenant[ev.TenantId], i)
	}
	fresh := make([]bool, len(evs))
	for _, tenantID := range tenants {
		places := byTenant[tenantID]
		ids := make([]string, len(places))
		for j, i := range places {
			ids[j] = evs[i].EventId
		}
		got, err := tx.MarkEventsApplied(tenantID, ids)
		if err != nil {
			return nil, err
		}
		if len(got) != len(ids) {
			return nil, fmt.Errorf("mark events applied: %d answers for %d events", len(got), len(ids))
		}
		for j, i := range places {
			fresh[i] = got[j]
		}
	}
	return fresh, nil
}

// apply applies one new event (markApplied).
func (b *batch) apply(ev *fieldsyncv1.ChangeEvent, rec proto.Message) error {
	w := b.works[ev.TenantId]
	if w == nil {
		cfg, err := b.c.config(b.tx, ev.TenantId)
		if err != nil {
			return err
		}
		w = &work{tx: b.tx, cfg: cfg, tenantID: ev.TenantId, now: b.now, skew: b.c.skew(), pending: phiKeys{}}
		w.photoAvailable = func(sha256 string, ids []string) (map[string]bool, error) {
			return b.c.photos().PhotoAvailableOn(b.ctx, w.tenantID, sha256, ids)
		}
		if err := w.readAhead(b.ahead[ev.TenantId]); err != nil {
			return err
		}
		b.works[ev.TenantId] = w
	}
	h := &handler{work: w, ev: ev}
	return h.apply(rec)
}

// queued reports whether the batch queued an effect.
func (b *batch) queued() bool {
	for _, w := range b.works {
		if w.queued {
			return true
		}
	}
	return false
}

// finish recomputes the PHI days the batch touched.
func (b *batch) finish() error {
	for _, tenantID := range sortedKeys(b.works) {
		w := b.works[tenantID]
		if err := w.recompute(w.pending); err != nil {
			return err
		}
	}
	return nil
}

// mayHavePending reports whether effects may wait from an earlier failure.
func (c *Consumer) mayHavePending() bool { return c.flushFailed.Load() }

// Flush performs the alerts and flags queued by committed transactions,
// oldest first, marking them done once performed. Handle and Sweep call
// it; call it at start-up too, for what a crash left behind.
//
// One effect never holds up the others, of its tenant or any other: an
// effect the engine refuses for good (an invalid alert, an id taken by a
// record of another type) is logged and dropped, and one that fails for
// now is logged and left for a later Flush after a backoff that grows
// with its failures (retryBackoff). Only a failure of the store, or ctx
// ending, makes Flush return an error.
func (c *Consumer) Flush(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.flushFailed.Store(true)
	for {
		effects, err := c.DB.PendingInsightEffects(ctx, c.now(), 100)
		if err != nil {
			return err
		}
		if len(effects) == 0 {
			waiting, err := c.DB.PendingInsightEffects(ctx, afterEveryRetry, 1)
			c.flushFailed.Store(err != nil || len(waiting) > 0)
			return err
		}
		if err := c.performAll(ctx, effects); err != nil {
			return err
		}
	}
}

// performAll performs effects in order and marks those performed, or
// dropped, done in one transaction; those that failed for now wait.
func (c *Consumer) performAll(ctx context.Context, effects []*insightstore.Effect) error {
	var done []*insightstore.Effect
	var failed error
	for _, e := range effects {
		err := c.perform(ctx, e)
		switch {
		case err == nil:
			done = append(done, e)
		case ctx.Err() != nil:
			failed = fmt.Errorf("perform %s: %w", e.DedupKey, err)
		case permanentFailure(err):
			c.logger().Error("insights: dropping an effect the engine refuses", "tenant", e.TenantID, "dedup_key", e.DedupKey, "err", err)
			done = append(done, e)
		default:
			retry := c.now().Add(retryBackoff(e.Attempts))
			c.logger().Warn("insights: effect failed; it is retried later", "tenant", e.TenantID, "dedup_key", e.DedupKey,
				"attempts", e.Attempts+1, "retry_at", retry, "err", err)
			if err := c.DB.DeferInsightEffect(ctx, e, retry); err != nil {
				failed = fmt.Errorf("defer %s: %w", e.DedupKey, err)
			}
		}
		if failed != nil {
			break
		}
	}
	if err := c.DB.MarkInsightEffectsDone(ctx, done); err != nil {
		return fmt.Errorf("mark effects done: %w", err)
	}
	return failed
}

// afterEveryRetry is a time after every effect's retry_at.
var afterEveryRetry = time.Unix(1<<40, 0)

// permanentFailure reports whether an effect failed for good: an invalid
// alert, or a domain error of the engine other than internal or
// unavailable (an unknown type or field, a record of another type at the
// alert's id). Retrying those cannot help.
func permanentFailure(err error) bool {
	if errors.Is(err, records.ErrInvalidAlert) {
		return true
	}
	var de *syncengine.Error
	return errors.As(err, &de) && de.Code != syncengine.CodeInternal && de.Code != syncengine.CodeUnavailable
}

// retryBackoff is how long an effect that failed attempts times before
// waits: one second, doubling, at most an hour.
func retryBackoff(attempts int) time.Duration {
	return min(time.Second<<min(attempts, 12), time.Hour)
}

func (c *Consumer) photos() PhotoAvailability {
	if c.Photos != nil {
		return c.Photos
	}
	return dbPhotos{c.DB}
}

func (c *Consumer) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func (c *Consumer) perform(ctx context.Context, e *insightstore.Effect) error {
	if e.Alert != nil {
		if c.Alerts == nil {
			return fmt.Errorf("insights: Consumer.Alerts is nil")
		}
		return records.WriteAlert(ctx, c.Alerts, e.TenantID, e.Alert)
	}
	if c.Flags == nil {
		return fmt.Errorf("insights: Consumer.Flags is nil")
	}
	return c.Flags.FlagRecord(ctx, e.TenantID, e.RecordType, e.RecordID, e.Field)
}

func checkEvent(ev *fieldsyncv1.ChangeEvent) error {
	switch {
	case ev == nil:
		return syncengine.Errorf(syncengine.CodeInvalid, "change event is nil")
	case ev.EventId == "" || ev.TenantId == "" || ev.RecordType == "" || ev.RecordId == "":
		return syncengine.Errorf(syncengine.CodeInvalid, "change event %q: event id, tenant id, record type and record id are required", ev.EventId)
	case ev.CommitTime.CheckValid() != nil:
		return syncengine.Errorf(syncengine.CodeInvalid, "change event %s: commit time missing or invalid", ev.EventId)
	}
	return nil
}

// The record types the consumer reads by name.
var (
	visitType     = typeName((*fieldsyncv1.Visit)(nil))
	surgeryType   = typeName((*fieldsyncv1.SurgerySupport)(nil))
	diagnosisType = typeName((*fieldsyncv1.Diagnosis)(nil))
	quoteType     = typeName((*fieldsyncv1.Quote)(nil))
	materialType  = typeName((*fieldsyncv1.CampaignMaterial)(nil))
)

func typeName(m proto.Message) string { return string(m.ProtoReflect().Descriptor().FullName()) }

// readTypes are the record types whose values the consumer decodes.
var readTypes = func() map[string]protoreflect.MessageType {
	out := map[string]protoreflect.MessageType{}
	for _, m := range []proto.Message{
		&fieldsyncv1.Visit{}, &fieldsyncv1.SurgerySupport{}, &fieldsyncv1.Diagnosis{}, &fieldsyncv1.Quote{},
		&fieldsyncv1.CampaignMaterial{}, &fieldsyncv1.CampaignFeedback{}, &fieldsyncv1.Customer{},
		&fieldsyncv1.Commitment{}, &fieldsyncv1.Opportunity{}, &fieldsyncv1.StockLevel{},
		&fieldsyncv1.RebateRule{},
	} {
		out[typeName(m)] = m.ProtoReflect().Type()
	}
	return out
}()

// decodeRecord returns the event's record value when the consumer reads its
// type, nil otherwise. A value of another type is CodeInvalid.
func decodeRecord(ev *fieldsyncv1.ChangeEvent) (proto.Message, error) {
	mt, ok := readTypes[ev.RecordType]
	if !ok || ev.Value == nil {
		return nil, nil
	}
	m := mt.New().Interface()
	if err := ev.Value.UnmarshalTo(m); err != nil {
		return nil, syncengine.Errorf(syncengine.CodeInvalid, "change event %s: value: %v", ev.EventId, err)
	}
	return m, nil
}
