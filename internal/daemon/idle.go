package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// WaitIdle waits until the daemon's background work has caught up with
// every commit so far: the outbox relay has published every event and each
// durable JetStream consumer (the PHI and alert consumer among them) has
// acknowledged every message of its stream. Benchmarks call it so that
// what they time does not share the machine with work left over from
// before (a relay or consumer backlog). It returns ctx's error when ctx
// ends first.
func (d *Daemon) WaitIdle(ctx context.Context) error {
	for {
		idle, err := d.idle(ctx)
		if err != nil || idle {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// idle reports whether the outbox is empty and no consumer has messages
// pending or unacknowledged, reading the outbox again after the consumers:
// a consumer's work may commit events of its own.
func (d *Daemon) idle(ctx context.Context) (bool, error) {
	if n, _, err := d.db.OutboxBacklog(ctx); err != nil || n > 0 {
		return false, err
	}
	if d.js == nil {
		return true, nil
	}
	for name := range d.js.StreamNames(ctx).Name() {
		s, err := d.js.Stream(ctx, name)
		if err != nil {
			return false, fmt.Errorf("stream %s: %w", name, err)
		}
		lister := s.ListConsumers(ctx)
		for ci := range lister.Info() {
			if ci.NumPending > 0 || ci.NumAckPending > 0 || ci.NumRedelivered > 0 {
				return false, nil
			}
		}
		if err := lister.Err(); err != nil && !errors.Is(err, context.Canceled) {
			return false, fmt.Errorf("consumers of %s: %w", name, err)
		}
	}
	n, _, err := d.db.OutboxBacklog(ctx)
	return n == 0 && err == nil, err
}
