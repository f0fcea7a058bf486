package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

// relayHold holds back the relay's kicks while a benchmark times a call
// (HoldRelay).
type relayHold struct {
	mu      sync.Mutex
	held    bool
	pending bool
	kick    func() // the relay's; nil when the relay runs elsewhere
}

// held wraps the relay's kick so that HoldRelay can hold it back.
func (d *Daemon) held(kick func()) func() {
	if kick == nil {
		return nil
	}
	d.hold.kick = kick
	return func() {
		d.hold.mu.Lock()
		if d.hold.held {
			d.hold.pending = true
			d.hold.mu.Unlock()
			return
		}
		d.hold.mu.Unlock()
		kick()
	}
}

// HoldRelay keeps commits from waking the outbox relay until release is
// called (release kicks it once if a commit came meanwhile). Benchmarks
// use it to time a call without the event delivery its commit starts
// running beside it: the relay's JetStream publishes and the consumers
// they wake. The relay still reads the outbox at its poll interval (a
// second), so a long hold delays events rather than losing them.
func (d *Daemon) HoldRelay() (release func()) {
	d.hold.mu.Lock()
	d.hold.held = true
	d.hold.mu.Unlock()
	return func() {
		d.hold.mu.Lock()
		pending := d.hold.pending
		d.hold.held, d.hold.pending = false, false
		d.hold.mu.Unlock()
		if pending {
			d.hold.kick()
		}
	}
}
