package daemon

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/insights"
	"github.com/fieldsync/fieldsync/syncengine"
)

// SweepInterval is how often the time-based rules (A3, A5) run.
const SweepInterval = 10 * time.Minute

// wireInsights runs the PHI and alert consumer on the change stream as a
// durable JetStream consumer, and its periodic sweep.
func (d *Daemon) wireInsights(ctx, runCtx context.Context, js jetstream.JetStream) error {
	c := &insights.Consumer{DB: d.db, Alerts: d.engine, Flags: d.engine, Now: time.Now, MaxClockSkew: d.cfg.MaxClockSkew}
	if err := c.Flush(ctx); err != nil {
		return err
	}
	d.goRun("insights consumer", func() error {
		return events.Consume(runCtx, js, events.ConsumerConfig{
			Stream: events.ChangesStream, Durable: "insights", Logger: d.log,
		}, func(ctx context.Context, msg events.Message) error {
			err := c.HandleMessage(ctx, msg.Data)
			if syncengine.IsCode(err, syncengine.CodeInvalid) {
				d.log.Warn("insights: dropping an undecodable event", "subject", msg.Subject, "msg_id", msg.MsgID, "err", err)
				return nil // a poison message is acknowledged, not retried forever
			}
			return err
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
