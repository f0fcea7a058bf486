package syncengine

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/events"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// DefaultPullLimit is the page size of a Pull that names none.
const DefaultPullLimit = 500

// PullResult is one page of changes.
type PullResult struct {
	Records    []*fieldsyncv1.Record
	NextCursor string
	HasMore    bool
}

// Pull returns the current state of the records in the caller's scope that
// changed after the cursor, in commit order; records that left the scope
// come as removals. A page holds up to limit records, and ends early (with
// HasMore) once their values reach about 4 MiB. The cursor a device sends is stored as its delivery
// receipt. Errors: CodeInvalid for a malformed cursor; CodeResyncRequired
// (detail *fieldsyncv1.ResyncRequired) for a cursor older than tombstone
// retention or minted for another scope.
func (e *Engine) Pull(ctx context.Context, p *Principal, cursorText string, limit int) (*PullResult, error) {
	return e.pull(ctx, p, cursorText, limit, true)
}

// PullAhead is Pull for a device that pulls ahead of what it stored: it
// asks for the next page while it stores the last one, so the cursor is
// not its delivery receipt and none is recorded. The device's Ack of the
// last page (noted as served, as by Pull) or its next Pull records it.
func (e *Engine) PullAhead(ctx context.Context, p *Principal, cursorText string, limit int) (*PullResult, error) {
	return e.pull(ctx, p, cursorText, limit, false)
}

func (e *Engine) pull(ctx context.Context, p *Principal, cursorText string, limit int, receipt bool) (*PullResult, error) {
	f := FilterFor(p)
	after, err := e.checkCursor(ctx, f, cursorText)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultPullLimit
	}
	if receipt && cursorText != "" && p.IsDevice() {
		if err := e.receipt(ctx, p, f, after); err != nil {
			return nil, err
		}
	}
	page, err := e.scan(ctx, f, after, limit)
	if err != nil {
		return nil, err
	}
	page.trimToBudget(maxPullPageBytes)
	recs, err := e.materializeNoted(ctx, p, f, after, page)
	if err != nil {
		return nil, err
	}
	return &PullResult{
		Records:    recs,
		NextCursor: cursor{version: page.last, scope: scopeHash(f)}.encode(),
		HasMore:    page.more,
	}, nil
}

func (e *Engine) checkCursor(ctx context.Context, f Filter, text string) (uint64, error) {
	if text == "" {
		return 0, nil
	}
	c, err := decodeCursor(text)
	if err != nil {
		return 0, err
	}
	if c.scope != scopeHash(f) {
		return 0, resync("the cursor was minted for another scope (role, store or region changed): pull again from the start")
	}
	purged, latest, err := e.store.CursorBounds(ctx, f.TenantID)
	if err != nil {
		return 0, err
	}
	if c.version < purged {
		return 0, resync(fmt.Sprintf("the cursor (version %d) is older than tombstone retention (purged through %d): pull again from the start", c.version, purged))
	}
	if c.version > latest {
		return 0, resync(fmt.Sprintf("the cursor (version %d) is beyond the latest version (%d), so it was not minted by this server's data (restored from a backup?): pull again from the start", c.version, latest))
	}
	return c.version, nil
}

func resync(reason string) error {
	return Errorf(CodeResyncRequired, "resync required: %s", reason).WithDetail(&fieldsyncv1.ResyncRequired{Reason: reason})
}

// page is what a scan found: rows to send, the version the scan covered
// through, and whether rows may remain.
type page struct {
	rows []ChangeRow
	last uint64
	more bool
}

// scan reads the change rows in the filter after a version, up to limit.
// Storage selects them by index (Filter.Select); Matches, the policy,
// checks each row again, so a storage fault cannot widen what a caller sees.
func (e *Engine) scan(ctx context.Context, f Filter, after uint64, limit int) (*page, error) {
	cp, err := e.store.ScanChanges(ctx, f.Select(e.reg), after, limit)
	if err != nil {
		return nil, err
	}
	pg := &page{last: cp.Through, more: cp.More} // conservatively: the next pull may be empty
	for _, r := range cp.Rows {
		if rt, ok := e.reg.Lookup(r.Type); ok && f.Matches(rt, r.Scope) {
			pg.rows = append(pg.rows, r)
		}
	}
	return pg, nil
}

// materializeNoted is materialize with the page noted as served (see
// noteServed) meanwhile: the note is a durable write in the single writer,
// and the answer waits for both, not for one after the other.
func (e *Engine) materializeNoted(ctx context.Context, p *Principal, f Filter, after uint64, pg *page) ([]*fieldsyncv1.Record, error) {
	if !p.IsDevice() || pg.more {
		return e.materialize(ctx, f, pg) // nothing to note
	}
	noted := make(chan error, 1)
	go func() { noted <- e.noteServed(ctx, p, after, pg) }()
	recs, err := e.materialize(ctx, f, pg)
	if nerr := <-noted; err == nil {
		err = nerr
	}
	return recs, err
}

// materialize turns matched rows into wire records: current state,
// tombstones as DELETED removals, scope exits as OUT_OF_SCOPE removals
// unless the record is visible again.
func (e *Engine) materialize(ctx context.Context, f Filter, pg *page) ([]*fieldsyncv1.Record, error) {
	var exits []string // records that left a scope: is each visible again?
	for _, r := range pg.rows {
		if r.Record == nil {
			exits = append(exits, r.RecordID)
		}
	}
	recs, err := e.store.GetRecordValues(ctx, f.TenantID, exits)
	if err != nil {
		return nil, err
	}
	var withPhotos []string
	out := make([]*fieldsyncv1.Record, 0, len(pg.rows))
	for _, r := range pg.rows {
		rec := r.Record
		if rec == nil {
			rec = recs[r.RecordID]
		}
		w, hs, err := e.wireRecord(f, r, rec)
		if err != nil {
			return nil, err
		}
		if w != nil {
			out = append(out, w)
			if len(hs) > 0 {
				withPhotos = append(withPhotos, w.Id)
			}
		}
	}
	return out, e.fillPhotoStates(ctx, f.TenantID, out, withPhotos)
}

func (e *Engine) wireRecord(f Filter, r ChangeRow, rec *RawRecord) (*fieldsyncv1.Record, []string, error) {
	rt, _ := e.reg.Lookup(r.Type)
	w := &fieldsyncv1.Record{RecordType: r.Type, Id: r.RecordID, Version: r.Version}
	switch {
	case r.Exit && rec != nil && f.Matches(rt, rec.Scope):
		return nil, nil, nil // visible again: its record row carries it
	case r.Exit:
		w.Removed = fieldsyncv1.RemovalReason_REMOVAL_REASON_OUT_OF_SCOPE
		return w, nil, nil
	case rec == nil:
		return nil, nil, nil // purged meanwhile
	}
	w.Version, w.Hlc, w.UpdateTime = rec.Version, uint64(rec.HLC), timestamppb.New(rec.UpdatedAt)
	if rec.Deleted {
		w.Removed = fieldsyncv1.RemovalReason_REMOVAL_REASON_DELETED
		return w, nil, nil
	}
	// The stored bytes are the value's encoding: no decode and re-encode.
	w.Value = &anypb.Any{TypeUrl: "type.googleapis.com/" + r.Type, Value: rec.Value}
	if !rt.HasPhotos() {
		return w, nil, nil
	}
	m := rt.New()
	if err := proto.Unmarshal(rec.Value, m); err != nil {
		return nil, nil, fmt.Errorf("decode record %s: %w", r.RecordID, err)
	}
	hs := rt.PhotoHashes(m)
	for _, h := range hs {
		w.Photos = append(w.Photos, &fieldsyncv1.PhotoStatus{Sha256: h, State: fieldsyncv1.PhotoState_PHOTO_STATE_PENDING})
	}
	return w, hs, nil
}

// fillPhotoStates marks the photos available on each record (those of
// the records with photos, ids).
func (e *Engine) fillPhotoStates(ctx context.Context, tenantID string, recs []*fieldsyncv1.Record, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	avail, err := e.store.PhotoStates(ctx, tenantID, ids)
	if err != nil {
		return err
	}
	for _, r := range recs {
		for _, ph := range r.Photos {
			if avail[PhotoKey{RecordID: r.Id, SHA256: ph.Sha256}] {
				ph.State = fieldsyncv1.PhotoState_PHOTO_STATE_AVAILABLE
			}
		}
	}
	return nil
}

// receipt stores a device's cursor as its delivery receipt, and publishes a
// delivery event (on the record type's change subject, op DELIVERY) for each
// newly delivered record of the delivery types.
func (e *Engine) receipt(ctx context.Context, p *Principal, f Filter, version uint64) error {
	last, known := e.receipts.get(p.DeviceID)
	if known && version <= last.version {
		return nil
	}
	ahead, err := e.readReceiptAhead(ctx, f, last.version, version)
	if err != nil || (known && skipReceipt(last, version, ahead.rows)) {
		return err
	}
	return e.writeReceipt(ctx, p, f, version, ahead, func(now time.Time) time.Time { return now })
}

// receiptAhead is what a receipt newly delivers as read before its write
// transaction: the delivery-type records of the caller's selection created
// in (from, to].
type receiptAhead struct {
	from uint64
	rows []ChangeRow
}

// readReceiptAhead reads, on the read pool, the delivery-type records created in
// (from, to] that a receipt up to to delivers.
func (e *Engine) readReceiptAhead(ctx context.Context, f Filter, from, to uint64) (receiptAhead, error) {
	if from >= to {
		return receiptAhead{from: from}, nil
	}
	rows, err := e.store.CreatedBetween(ctx, f.Select(e.reg), e.cfg.DeliveryTypes, from, to)
	return receiptAhead{from: from, rows: rows}, err
}

// writeReceipt stores a receipt dated by date (given the transaction's
// time) and publishes its delivery events with that time.
//
// What the receipt newly delivers was read ahead, outside the single
// writer, from the device's last receipt this engine wrote (0 if none):
// the transaction only stores the receipt and the events. Exactly-once
// holds because the transaction reads the device's previous receipt (prev)
// itself and emits only records created after it. A read-ahead that
// started above prev (the store holds an older receipt than this engine
// remembers writing, e.g. restored from a backup) is redone inside the
// transaction.
func (e *Engine) writeReceipt(ctx context.Context, p *Principal, f Filter, version uint64, ahead receiptAhead, date func(now time.Time) time.Time) error {
	err := e.store.Update(ctx, func(tx Tx) error {
		at := date(tx.Now())
		prev, err := tx.AddReceipt(p.TenantID, p.DeviceID, p.UserID, version, at)
		if err != nil || version <= prev {
			return err
		}
		rows := ahead.rows
		if prev < ahead.from {
			if rows, err = tx.CreatedBetween(f.Select(e.reg), e.cfg.DeliveryTypes, prev, version); err != nil {
				return err
			}
		}
		return e.emitDeliveries(tx, p, f, rows, prev, version, at)
	})
	if err == nil {
		e.receipts.put(p.DeviceID, receiptMark{version: version, at: time.Now()})
	}
	return err
}

// emitDeliveries publishes a delivery event for each row created after
// prev that the device's filter matches.
func (e *Engine) emitDeliveries(tx Tx, p *Principal, f Filter, rows []ChangeRow, prev, version uint64, at time.Time) error {
	for _, r := range rows {
		if r.Version <= prev {
			continue // delivered by an earlier receipt
		}
		if rt, ok := e.reg.Lookup(r.Type); ok && f.Matches(rt, r.Scope) {
			if err := e.emitDelivery(tx, p, r, version, at); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *Engine) emitDelivery(tx Tx, p *Principal, r ChangeRow, version uint64, at time.Time) error {
	ev := events.NewChangeEvent(fieldsyncv1.ChangeOp_CHANGE_OP_DELIVERY, events.Change{
		TenantID: p.TenantID, RecordType: r.Type, RecordID: r.RecordID, Version: r.Version,
		DeviceID: p.DeviceID, UserID: p.UserID, At: at,
		OwnerUserID: r.Scope.Owner, StoreID: r.Scope.Store, RegionID: r.Scope.Region,
	})
	ev.DeliveredVersion = version
	out, err := events.ChangeOutboxEvent(ev)
	if err != nil {
		return err
	}
	return tx.AppendEvent(out)
}
