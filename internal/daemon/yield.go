package daemon

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/server"
)

// The outbox relay makes way for the API's calls: when it starts a new
// cycle (its previous read of the outbox had caught up) while more unary
// calls are in progress than the process has cores (GOMAXPROCS), so that
// the calls alone can keep every core busy, it waits until they are
// fewer, or for relayMaxYield at most, before it reads. The relay,
// JetStream storing what it publishes and the insights consumer that
// wakes up then cost about as much CPU per pushed visit as the push
// itself; on a burst of syncs (1,000 devices at once) they ran beside the
// calls and lengthened them. With fewer calls (a single client pushing)
// the relay runs beside them as before, on a core they leave idle.
// Events are delayed by at most relayMaxYield per cycle (the relay's own
// poll interval is as long), never held: once a cycle began, the relay
// reads batch after batch without waiting until it caught up, so a
// steady load delays events but does not slow the relay's throughput.
// Nothing is skipped or reordered: the outbox is read as before, only
// later.
const (
	relayMaxYield  = time.Second
	relayYieldTick = 5 * time.Millisecond
)

// relayOutbox is what the relay needs of the store.
type relayOutbox interface {
	events.Outbox
	events.BacklogReporter
}

// yieldingOutbox is the relay's outbox: PendingEvents first yields to the
// calls in progress when the last read had caught up.
type yieldingOutbox struct {
	relayOutbox
	activity *server.Activity
	// behind: the last read returned a full batch, so the relay is
	// working through a backlog and must not wait.
	behind atomic.Bool
}

func (o *yieldingOutbox) PendingEvents(ctx context.Context, limit int) ([]events.OutboxEvent, error) {
	if !o.behind.Load() {
		o.yield(ctx)
	}
	evs, err := o.relayOutbox.PendingEvents(ctx, limit)
	o.behind.Store(err == nil && len(evs) >= limit)
	return evs, err
}

// yield waits while more unary calls are in progress than there are
// cores, until relayMaxYield has passed or ctx ended.
func (o *yieldingOutbox) yield(ctx context.Context) {
	if !o.busy() {
		return
	}
	deadline := time.NewTimer(relayMaxYield)
	defer deadline.Stop()
	tick := time.NewTicker(relayYieldTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
			if !o.busy() {
				return
			}
		}
	}
}

// busy reports whether more unary calls are in progress than there are cores.
func (o *yieldingOutbox) busy() bool {
	return o.activity.InFlight() > int64(runtime.GOMAXPROCS(0))
}
