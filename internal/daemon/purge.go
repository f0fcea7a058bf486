package daemon

import (
	"context"
	"time"
)

// PurgeInterval is how often tombstones older than the retention are purged.
const PurgeInterval = time.Hour

// tombstonePurger deletes tombstones and scope exits older than a time (see
// sqlite.DB.PurgeTombstones); devices with older cursors then resync.
type tombstonePurger interface {
	PurgeTombstones(ctx context.Context, olderThan time.Time) (int64, error)
}

// wirePurge purges tombstones hourly in the process that runs the consumers
// (one per data dir: it holds the consumers lock), unless retention is 0.
func (d *Daemon) wirePurge(runCtx context.Context) {
	if !d.cfg.Consumers || d.cfg.TombstoneRetention <= 0 {
		return
	}
	d.goRun("tombstone purge", func() error {
		return every(runCtx, PurgeInterval, func() error {
			purgeTombstones(runCtx, d, d.db, time.Now())
			return nil
		})
	})
}

// purgeTombstones runs one purge as of now; a failure is logged and the next
// hour tries again.
func purgeTombstones(ctx context.Context, d *Daemon, p tombstonePurger, now time.Time) int64 {
	cutoff := now.Add(-d.cfg.TombstoneRetention)
	n, err := p.PurgeTombstones(ctx, cutoff)
	if err != nil {
		d.log.Error("tombstone purge", "err", err, "older_than", cutoff)
		return 0
	}
	if n > 0 {
		d.log.Info("tombstones purged", "records", n, "older_than", cutoff)
	}
	return n
}
