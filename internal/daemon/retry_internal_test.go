package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

// TestASingleNodeRunsAFailedTaskAgain checks that a task of goOnce (the
// relay, the insights consumer) that fails on a node without leases runs
// again, as a lease holder's does, instead of staying stopped.
func TestASingleNodeRunsAFailedTaskAgain(t *testing.T) {
	defer func(lo, hi time.Duration) { taskRetryMin, taskRetryMax = lo, hi }(taskRetryMin, taskRetryMax)
	taskRetryMin, taskRetryMax = time.Millisecond, 4*time.Millisecond
	d := &Daemon{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	runs := make(chan int, 10)
	n := 0
	d.goOnce(ctx, "flaky task", LeaseInsights, func(ctx context.Context) error {
		n++
		runs <- n
		if n < 3 {
			return errors.New("consumer deleted")
		}
		if n == 3 {
			return nil // returning by itself counts too
		}
		<-ctx.Done()
		return ctx.Err()
	})
	for want := 1; want <= 4; want++ {
		select {
		case got := <-runs:
			if got != want {
				t.Fatalf("run %d, want %d", got, want)
			}
		case <-time.After(time.Minute):
			t.Fatalf("the task did not run a %d. time after it stopped", want)
		}
	}
	cancel()
	d.wg.Wait() // ends once the task returned for the cancelled context
	if len(runs) != 0 {
		t.Fatalf("the task ran again after the daemon stopped")
	}
}
