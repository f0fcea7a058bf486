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

// skipReceipt reports whether writing this receipt can wait: the device's
// last receipt is recent and nothing it now acknowledges produces an event.
func (e *Engine) skipReceipt(ctx context.Context, p *Principal, version uint64) (bool, error) {
	last, ok := e.receipts.get(p.DeviceID)
	switch {
	case !ok:
		return false, nil
	case version <= last.version:
		return true, nil
	case time.Since(last.at) >= ReceiptInterval:
		return false, nil
	}
	rows, err := e.store.CreatedBetween(ctx, p.TenantID, e.cfg.DeliveryTypes, last.version, version)
	return len(rows) == 0, err
}
