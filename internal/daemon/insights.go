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
	c := &insights.Consumer{DB: d.db, Records: d.db, Alerts: d.engine, Flags: d.engine, Now: time.Now, MaxClockSkew: d.cfg.MaxClockSkew, Logger: d.log}
	var err error
	if c.RebateDisagreements, err = insights.RegisterRebateMetrics(reg); err != nil {
		return err
	}
	if err := c.Flush(ctx); err != nil {
		return err
	}
	d.goRun("insights consumer", func() error {
		return nats.ConsumeBatch(runCtx, js, nats.ConsumerConfig{
			Stream: events.ChangesStream, Durable: "insights", Logger: d.log,
		}, InsightsBatch, func(ctx context.Context, msgs []nats.Message) error {
			return c.HandleBatch(ctx, d.decodeEvents(msgs))
		})
	})
	d.goRun("insights sweep", func() error {
		return every(runCtx, SweepInterval, func() error {
			if err := c.Sweep(runCtx, time.Now()); err != nil {
				d.log.Error("insights sweep", "err", err)
			}
			return nil
		})
	})
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
