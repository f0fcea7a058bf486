package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// recordingPurger remembers the cutoffs it was asked to purge before.
type recordingPurger struct {
	cutoffs []time.Time
	err     error
}

func (p *recordingPurger) PurgeTombstones(_ context.Context, olderThan time.Time) (int64, error) {
	p.cutoffs = append(p.cutoffs, olderThan)
	return 3, p.err
}

func TestPurgeKeepsTombstonesForTheRetention(t *testing.T) {
	d := &Daemon{cfg: DefaultConfig(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	p := &recordingPurger{}
	if n := purgeTombstones(context.Background(), d, p, now); n != 3 {
		t.Fatalf("purged %d, want the store's 3", n)
	}
	if want := now.Add(-90 * 24 * time.Hour); len(p.cutoffs) != 1 || !p.cutoffs[0].Equal(want) {
		t.Fatalf("purged before %v, want %v (90 days)", p.cutoffs, want)
	}
	p.err = errors.New("disk full")
	if n := purgeTombstones(context.Background(), d, p, now); n != 0 {
		t.Fatalf("a failed purge reports %d", n)
	}
}

func TestTombstoneRetentionUnderAnHourIsRefused(t *testing.T) {
	for _, tc := range []struct {
		retention time.Duration
		ok        bool
	}{{0, true}, {time.Hour, true}, {90 * 24 * time.Hour, true}, {time.Minute, false}, {-time.Hour, false}} {
		cfg := DefaultConfig()
		cfg.TombstoneRetention = tc.retention
		err := cfg.Validate()
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "tombstone-retention")) {
			t.Errorf("retention %v: %v", tc.retention, err)
		}
	}
}
