package daemon

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/insights"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// SweepInterval is how often the time-based rules (A3, A5) run.
const SweepInterval = 10 * time.Minute

// InsightsBatch is the most change events the insights consumer applies in
// one transaction.
const InsightsBatch = 256

// wireInsights runs the PHI and alert consumer on the change stream as a
// durable JetStream consumer, and its periodic sweep.
func (d *Daemon) wireInsights(ctx, runCtx context.Context, js jetstream.JetStream, reg prometheus.Registerer) error {
	c := d.newConsumer()
	var err error
	if c.RebateDisagreements, err = insights.RegisterRebateMetrics(reg); err != nil {
		return err
	}
	d.insights = c
	if !d.clustered() { // on a cluster, the lease holder flushes when it starts
		if err := c.Flush(ctx); err != nil {
			return err
		}
	}
	consume := func(ctx context.Context) error {
		if d.clustered() {
			if err := c.Flush(ctx); err != nil {
				return err
			}
		}
		return nats.ConsumeBatch(ctx, js, nats.ConsumerConfig{
			Stream: events.ChangesStream, Durable: "insights", Logger: d.log,
		}, InsightsBatch, func(ctx context.Context, msgs []nats.Message) error {
			return c.HandleBatch(ctx, d.decodeEvents(msgs))
		})
	}
	sweep := func(ctx context.Context) error {
		return every(ctx, SweepInterval, func() error {
			if err := c.Sweep(ctx, d.now()); err != nil {
				d.log.Error("insights sweep", "err", err)
			}
			return nil
		})
	}
	d.goOnce(runCtx, "insights consumer and sweep", LeaseInsights, together(consume, sweep))
	return nil
}

// decodeEvents decodes change events; an undecodable one is logged and
// left out, so it is acknowledged with its batch rather than retried forever.
func (d *Daemon) decodeEvents(msgs []nats.Message) []*fieldsyncv1.ChangeEvent {
	evs := make([]*fieldsyncv1.ChangeEvent, 0, len(msgs))
	for _, msg := range msgs {
		ev, err := insights.DecodeEvent(msg.Data)
		if err != nil {
			d.log.Warn("insights: dropping an undecodable event", "subject", msg.Subject, "msg_id", msg.MsgID, "err", err)
			continue
		}
		evs = append(evs, ev)
	}
	return evs
}
