package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/fieldsync/fieldsync/insights"
	"github.com/fieldsync/fieldsync/server"
)

// now reads the daemon's clock (Config.Now, default time.Now).
func (d *Daemon) now() time.Time {
	if d.cfg.Now != nil {
		return d.cfg.Now()
	}
	return time.Now()
}

// newConsumer returns a PHI and alert consumer on the daemon's store,
// engine and clock.
func (d *Daemon) newConsumer() *insights.Consumer {
	return &insights.Consumer{DB: d.db, Records: d.db, Alerts: d.engine, Flags: d.engine, Now: d.now, MaxClockSkew: d.cfg.MaxClockSkew, Logger: d.log}
}

// phiRecomputer serves SystemService.RecomputePhi: the running consumer,
// or one of its own when the consumers run in another process (they share
// the store, and alerts are idempotent by dedup key).
func (d *Daemon) phiRecomputer() server.PhiRecomputer {
	if d.insights != nil {
		return d.insights
	}
	return d.newConsumer()
}

// Sweep runs the insights consumer's time-based rules now, as its periodic
// sweep does, by the daemon's clock. Tests that move a manual clock
// (Config.Now) call it instead of waiting for SweepInterval.
func (d *Daemon) Sweep(ctx context.Context) error {
	if d.insights == nil {
		return errors.New("daemon: the insights consumer does not run in this process")
	}
	return d.insights.Sweep(ctx, d.now())
}
