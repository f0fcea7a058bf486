package syncengine

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// ReceiptInterval is how often, at most, a device's delivery receipt is
// written when the pages it acknowledges deliver nothing that produces an
// event. A first sync pulls hundreds of pages a second; writing (and
// fsyncing) a receipt for each one cost a third of its time. Receipts that
// produce delivery events (campaign material, alerts) are always written
// at once; for other records, GetDeliveries may report a delivery up to
// this much later than it happened (or at the device's next pull).
const ReceiptInterval = time.Second

// receiptCache remembers each device's last written receipt.
type receiptCache struct {
	mu sync.Mutex
	m  map[string]receiptMark
}

type receiptMark struct {
	version uint64
	at      time.Time
}

func (c *receiptCache) get(deviceID string) (receiptMark, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.m[deviceID]
	return m, ok
}

func (c *receiptCache) put(deviceID string, m receiptMark) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]receiptMark{}
	}
	c.m[deviceID] = m
}

// skipReceipt reports whether writing a receipt up to version can wait:
// the device's last receipt (last) is recent and nothing it now
// acknowledges produces an event (ahead: the delivery-type records created
// since last; records of other scopes created meanwhile do not count).
func skipReceipt(last receiptMark, version uint64, ahead []ChangeRow) bool {
	return version <= last.version || (time.Since(last.at) < ReceiptInterval && len(ahead) == 0)
}

// servedPages is how many of a device's last served pages the log keeps,
// and ServedPageTTL how long an entry stays: an Ack comes at once after
// the device stored the page, so an older one is refused and the device's
// next Pull records the receipt instead.
const (
	servedPages   = 8
	ServedPageTTL = time.Hour
)

// noteServed adds the page a device was served to the served-pages log in
// the store, which every node shares: a device behind a load balancer may
// Ack on another node than the one that served its Pull. Only the last
// page of a pull is noted: it is the one a device acks (AckRequest's
// contract, and what both SDKs do), so a first sync of many pages writes
// once. A pull that found nothing new (its page ends where its cursor
// did) reads the log instead, and writes only when the log lacks that
// cursor or holds it from ServedPageTTL/2 ago or more; its Ack is then
// clamped to that earlier time.
func (e *Engine) noteServed(ctx context.Context, p *Principal, after uint64, served *page) error {
	if !p.IsDevice() || served.more {
		return nil
	}
	now := e.clock.now()
	if served.last == after {
		at, ok, err := e.store.ServedAt(ctx, p.TenantID, p.DeviceID, served.last)
		switch {
		case err != nil:
			return fmt.Errorf("served pages: %w", err)
		case ok && now.Sub(at) < ServedPageTTL/2 && !now.Before(at):
			return nil
		}
	}
	pg := ServedPage{TenantID: p.TenantID, DeviceID: p.DeviceID, Version: served.last, At: now}
	if err := e.store.NoteServed(ctx, pg, servedPages, now.Add(-ServedPageTTL)); err != nil {
		return fmt.Errorf("note served page: %w", err)
	}
	return nil
}

// servedAt returns when the device was served a page ending at version,
// if that is in the log and not expired.
func (e *Engine) servedAt(ctx context.Context, p *Principal, version uint64) (time.Time, bool, error) {
	at, ok, err := e.store.ServedAt(ctx, p.TenantID, p.DeviceID, version)
	if err != nil || !ok {
		return time.Time{}, false, err
	}
	return at, e.clock.now().Sub(at) < ServedPageTTL, nil
}

// Ack records a device's delivery receipt for the pages it stored up to a
// cursor, dated when the device stored the last one: storedAt, clamped to
// no earlier than the page was served and no later than the server's
// clock. It returns the receipt's time. Delivery events of newly delivered
// records carry that time as their commit time.
//
// Errors: CodePermissionDenied when the caller is not a device (a device
// acks only for itself: the receipt is always the caller's own);
// CodeInvalid for a malformed cursor; CodeResyncRequired for a cursor of
// another scope or older than tombstone retention; CodeFailedPrecondition
// for a cursor not served to this device as the last page of a pull within
// ServedPageTTL, by any node sharing the store (another device's, or an
// old one: the next Pull records the receipt).
func (e *Engine) Ack(ctx context.Context, p *Principal, cursorText string, storedAt time.Time) (time.Time, error) {
	if !p.IsDevice() {
		return time.Time{}, Errorf(CodePermissionDenied, "only a device acknowledges pages, for itself")
	}
	f := FilterFor(p)
	version, err := e.checkCursor(ctx, f, cursorText)
	if err != nil {
		return time.Time{}, err
	}
	served, ok, err := e.servedAt(ctx, p, version)
	if err != nil {
		return time.Time{}, err
	}
	if !ok {
		return time.Time{}, Errorf(CodeFailedPrecondition, "cursor: not a page served to this device lately; the next pull records the receipt")
	}
	last, _ := e.receipts.get(p.DeviceID)
	ahead, err := e.readReceiptAhead(ctx, f, last.version, version)
	if err != nil {
		return time.Time{}, err
	}
	var at time.Time
	err = e.writeReceipt(ctx, p, f, version, ahead, func(now time.Time) time.Time {
		at = clampReceipt(storedAt, served, now)
		return at
	})
	return at, err
}

// clampReceipt dates a receipt: stored, but not before served nor after now.
func clampReceipt(stored, served, now time.Time) time.Time {
	if stored.Before(served) {
		stored = served
	}
	if stored.After(now) {
		stored = now
	}
	return stored
}
