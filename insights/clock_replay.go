package insights

import (
	"context"
	"fmt"

	"github.com/fieldsync/fieldsync/insights/insightstore"
)

// RecomputeHistory rebuilds a tenant's stored PHI for the dates in
// [fromDate, toDate] (see Recompute), then evaluates the time-based rules
// as of the end of each of those days, oldest first, as a sweep run then
// would have (feedback deadlines, A3, A4, A5; not the stale-device check,
// which is about devices now), never later than the consumer's clock.
// Findings already alerted are not alerted again: alerts keep their dedup
// keys. It returns the number of days recomputed.
func (c *Consumer) RecomputeHistory(ctx context.Context, tenantID, fromDate, toDate string) (int, error) {
	if err := c.Recompute(ctx, tenantID, fromDate, toDate); err != nil {
		return 0, err
	}
	for day := fromDate; day <= toDate; day = addDays(day, 1) {
		done, err := c.sweepDayEnd(ctx, tenantID, day)
		if err != nil {
			return 0, fmt.Errorf("rules as of %s: %w", day, err)
		}
		if done {
			break // the days after the clock have their PHI recomputed only
		}
	}
	return daysBetween(fromDate, toDate) + 1, c.Flush(ctx)
}

// sweepDayEnd runs the time-based rules of a tenant as of the end of day,
// or of the consumer's clock when that is earlier (reported as done).
func (c *Consumer) sweepDayEnd(ctx context.Context, tenantID, day string) (bool, error) {
	done := false
	err := c.DB.InsightsWrite(ctx, func(tx insightstore.Tx) error {
		cfg, err := c.config(tx, tenantID)
		if err != nil {
			return err
		}
		at := dayStart(addDays(day, 1), cfg.Phi.loc())
		if now := c.now(); !at.Before(now) {
			at, done = now, true
		}
		w := &work{tx: tx, cfg: cfg, tenantID: tenantID, now: at, skew: c.skew()}
		for _, step := range []func() error{w.sweepFeedback, w.sweepInterventions, w.sweepProspecting, w.sweepStalls} {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	})
	return done, err
}
