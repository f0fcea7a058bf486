package syncengine

import (
	"context"
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

// servedPages is how many of a device's last served pages the engine
// remembers, to date their acknowledgements (Ack).
const servedPages = 8

// servedLog remembers, per device, when the server served its last pages:
// the version a page's cursor ends at and the time it was served. It lives
// in memory only: after a restart, acks of pages served before it fail and
// the device's next Pull records the receipt instead.
type servedLog struct {
	mu sync.Mutex
	m  map[string][]receiptMark
}

func (l *servedLog) put(deviceID string, version uint64, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string][]receiptMark{}
	}
	pages := append(l.m[deviceID], receiptMark{version: version, at: at})
	if len(pages) > servedPages {
		pages = pages[len(pages)-servedPages:]
	}
	l.m[deviceID] = pages
}

// servedAt returns when the device was last served a page ending at version.
func (l *servedLog) servedAt(deviceID string, version uint64) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	pages := l.m[deviceID]
	for i := len(pages) - 1; i >= 0; i-- {
		if pages[i].version == version {
			return pages[i].at, true
		}
	}
	return time.Time{}, false
}

// noteServed remembers that a device was served a page ending at version.
func (e *Engine) noteServed(p *Principal, version uint64) {
	if p.IsDevice() {
		e.served.put(p.DeviceID, version, e.clock.now())
	}
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
// for a cursor this engine did not serve to this device lately (another
// device's, or served before a restart: the next Pull records the receipt).
func (e *Engine) Ack(ctx context.Context, p *Principal, cursorText string, storedAt time.Time) (time.Time, error) {
	if !p.IsDevice() {
		return time.Time{}, Errorf(CodePermissionDenied, "only a device acknowledges pages, for itself")
	}
	f := FilterFor(p)
	version, err := e.checkCursor(ctx, f, cursorText)
	if err != nil {
		return time.Time{}, err
	}
	served, ok := e.served.servedAt(p.DeviceID, version)
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
