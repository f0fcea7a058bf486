package insights

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

// AlertWriter creates Alert records; idempotent by Alert.DedupKey (a second
// call with the same key is a no-op). The sync engine implements it.
type AlertWriter interface {
	RaiseAlert(ctx context.Context, tenantID string, a *fieldsyncv1.Alert) error
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
	DB     *sqlite.DB
	Alerts AlertWriter
	Flags  RecordFlagger
	// Now is the clock for feedback deadlines and alert times. Default time.Now.
	Now func() time.Time
	// MaxClockSkew bounds the device-set times of actions (visit_time,
	// surgery_time, a diagnosis's HLC) to at most this long after the
	// event's commit, as the sync engine bounds HLCs. Default
	// DefaultMaxClockSkew.
	MaxClockSkew time.Duration

	flushMu sync.Mutex
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

// HandleMessage decodes a ChangeEvent from untrusted bytes and handles it.
// Bytes that are no ChangeEvent, or an event missing its id, tenant or
// commit time, or whose value is not its record type, are CodeInvalid:
// they can never succeed, so the caller should drop them rather than retry.
func (c *Consumer) HandleMessage(ctx context.Context, data []byte) error {
	ev := &fieldsyncv1.ChangeEvent{}
	if err := proto.Unmarshal(data, ev); err != nil {
		return syncengine.Errorf(syncengine.CodeInvalid, "change event: %v", err)
	}
	return c.Handle(ctx, ev)
}

// Handle applies one change event: it updates the PHI facts and the stored
// PHI of the days they touch, and evaluates the event-driven rules (A1, A2,
// A6, and A5's bookkeeping), all in one transaction that also records the
// event id, so an event handled again changes nothing. Then it performs the
// queued alerts and flags (see Flush). Invalid events are CodeInvalid.
func (c *Consumer) Handle(ctx context.Context, ev *fieldsyncv1.ChangeEvent) error {
	if err := checkEvent(ev); err != nil {
		return err
	}
	rec, err := decodeRecord(ev)
	if err != nil {
		return err
	}
	now := c.now()
	err = c.DB.InsightsWrite(ctx, func(tx *sqlite.InsightsTx) error {
		fresh, err := tx.MarkEventApplied(ev.TenantId, ev.EventId)
		if err != nil || !fresh {
			return err
		}
		cfg, err := loadConfigTx(tx, ev.TenantId)
		if err != nil {
			return err
		}
		h := &handler{work: work{tx: tx, cfg: cfg, tenantID: ev.TenantId, now: now, skew: c.skew()}, ev: ev}
		return h.apply(rec)
	})
	if err != nil {
		return fmt.Errorf("handle event %s: %w", ev.EventId, err)
	}
	return c.Flush(ctx)
}

// Flush performs the alerts and flags queued by committed transactions,
// oldest first, marking each done once performed. Handle and Sweep call
// it; call it at start-up too, for what a crash left behind.
func (c *Consumer) Flush(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	for {
		effects, err := c.DB.PendingInsightEffects(ctx, 100)
		if err != nil || len(effects) == 0 {
			return err
		}
		for _, e := range effects {
			if err := c.perform(ctx, e); err != nil {
				return fmt.Errorf("perform %s: %w", e.DedupKey, err)
			}
			if err := c.DB.MarkInsightEffectDone(ctx, e.ID); err != nil {
				return fmt.Errorf("mark %s done: %w", e.DedupKey, err)
			}
		}
	}
}

func (c *Consumer) perform(ctx context.Context, e *sqlite.InsightEffect) error {
	if e.Alert != nil {
		if c.Alerts == nil {
			return fmt.Errorf("insights: Consumer.Alerts is nil")
		}
		return c.Alerts.RaiseAlert(ctx, e.TenantID, e.Alert)
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
