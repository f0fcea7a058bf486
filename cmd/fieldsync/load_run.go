package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"time"
)

// drainWorkers bounds the devices syncing at once after the run.
const drainWorkers = 64

// run sets up the devices, drives them for --duration, lets every device
// sync what it wrote offline (the drain), and sums up. The summary is
// returned with an error too when the run got that far.
func (l *loadRun) run(ctx context.Context) (*loadSummary, error) {
	rss := newRSSWatch(l.cfg)
	defer rss.stop()
	l.rss = rss
	sum := &loadSummary{Run: l.id, Server: l.cfg.baseURL(), Mix: l.cfg.mix.String(), Devices: l.cfg.devices, PerUser: l.cfg.perUser}
	setupStats, start := l.stats.Load(), time.Now()
	err := l.setup(ctx)
	sum.Region, sum.Setup = l.region, phaseOf(setupStats, time.Since(start))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("setup: %w", err), l.cleanup(ctx, sum))
	}
	runStats := newLoadStats()
	l.stats.Store(runStats)
	rss.mark()
	start = time.Now()
	if l.cfg.mix.burst == 0 { // push5-pull: the rounds only (round)
		l.prof.start()
	}
	derr := l.drive(ctx)
	derr = errors.Join(derr, l.prof.stop())
	sum.Elapsed = time.Since(start)
	sum.RSS = rss.sample(l.count.syncs.Load())
	drainStats := newLoadStats()
	l.stats.Store(drainStats)
	start = time.Now()
	derr = errors.Join(derr, l.drain(ctx))
	sum.Drain = phaseOf(drainStats, time.Since(start))
	sum.fill(l, runStats)
	derr = errors.Join(derr, sum.readDevices(ctx, l))
	return sum, errors.Join(derr, l.cleanup(ctx, sum))
}

// drive runs the devices for --duration: the weighted mix, or rounds of
// push5-pull.
func (l *loadRun) drive(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx) // Canceled at the end: calls it cuts short are not measured
	defer time.AfterFunc(l.cfg.duration, cancel).Stop()
	defer cancel()
	if l.cfg.mix.burst > 0 {
		return l.burst(runCtx, ctx)
	}
	bar := newLoadBar(l.stderr, "load", int64(l.cfg.duration/time.Second))
	stop := bar.follow(func() int64 { return int64(time.Since(bar.start) / time.Second) }, l.stats.Load())
	var wg sync.WaitGroup
	for _, d := range l.devices {
		wg.Go(func() { d.drive(runCtx, ctx, l) })
	}
	wg.Wait()
	stop()
	return nil
}

// burst runs rounds of push5-pull, --rounds of them or until runCtx
// ends (at least one): every device writes its visits offline, then all
// sync at the same moment.
func (l *loadRun) burst(runCtx, opCtx context.Context) error {
	for l.moreRounds(runCtx) {
		if err := l.parallel(opCtx, len(l.devices), drainWorkers, func(ctx context.Context, i int) error {
			for range l.cfg.mix.burst {
				if err := l.devices[i].putVisit(ctx, l); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("write visits: %w", err)
		}
		l.round(opCtx)
		if opCtx.Err() != nil {
			return opCtx.Err()
		}
	}
	return nil
}

// moreRounds reports whether burst should run another round.
func (l *loadRun) moreRounds(runCtx context.Context) bool {
	n := int(l.count.rounds.Load())
	if l.cfg.rounds > 0 {
		return n < l.cfg.rounds
	}
	return n == 0 || runCtx.Err() == nil
}

// actSyncFromRelease is a round's sync timed from the barrier's release.
const actSyncFromRelease = "sync from release"

// round starts every device's Sync at once and waits for them all.
func (l *loadRun) round(ctx context.Context) {
	n := l.count.rounds.Add(1)
	bar := newLoadBar(l.stderr, fmt.Sprintf("round %d", n), int64(len(l.devices)))
	var done counter
	stop := bar.follow(done.load, l.stats.Load())
	defer stop()
	release := make(chan struct{})
	var released time.Time // set before release is closed
	var wg, ready sync.WaitGroup
	ready.Add(len(l.devices))
	for _, d := range l.devices {
		wg.Go(func() {
			growStack(d.n)
			ready.Done()
			<-release
			if !l.acquire(ctx) {
				return
			}
			defer l.release()
			start := time.Now()
			err := d.c.Sync(ctx)
			end := time.Now()
			l.count.syncs.Add(1)
			st := l.stats.Load()
			st.op("sync", end.Sub(start), err)
			// From the moment all devices were let go: also the time a
			// device waited for its goroutine to run (and for a
			// --concurrency slot), which "sync" leaves out.
			st.latency(actSyncFromRelease, end.Sub(released), err != nil)
			done.add(1)
		})
	}
	// Every device at the barrier before the release: starting 1,000
	// goroutines and growing their stacks is the generator's own work,
	// which no device shares with the others, so it stays out of the
	// round's times and CPU.
	ready.Wait()
	defer roundGC()()
	l.prof.start()
	l.rss.roundStart()
	released = time.Now()
	close(release)
	wg.Wait()
	l.rss.syncsEnd()
	l.waitAcked(ctx)
	l.rss.roundEnd()
}

// waitAcked waits for the delivery receipts the round's syncs sent in the
// background (the SDK's Sync returns without waiting for them), so that
// the round's CPU includes them and the next round's syncs do not wait.
func (l *loadRun) waitAcked(ctx context.Context) {
	for _, d := range l.devices {
		d.c.WaitAcked(ctx)
	}
}

// growStack makes the calling goroutine's stack as large as a device's
// sync needs before the round's release. A new goroutine starts with a
// small stack that a sync (HTTP, protobuf, the SDK's SQLite) grows by
// doubling, copying it each time: 8–10% of the generator's CPU in the
// round, work no real device shares with 999 others. Growing it while
// it is still empty copies next to nothing.
//
// (The frame is indexed by i, so that the compiler keeps it whole.)
//
//go:noinline
func growStack(i int) byte {
	var b [growStackBytes]byte
	b[i%growStackBytes] = byte(i)
	return b[(i*7)%growStackBytes]
}

// growStackBytes is the frame growStack takes: the stack doubles to
// twice that.
const growStackBytes = 32 << 10

// roundGC lets the generator's heap grow further between collections
// while a round runs (GOGC=400 unless GOGC is set): the 1,000 devices'
// clients and stores share one heap, whose collections took 7% of the
// generator's CPU in the round. The returned func restores the setting.
func roundGC() func() {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(roundGCPercent)
	return func() { debug.SetGCPercent(old) }
}

const roundGCPercent = 400

// drain syncs every device once after the run, so that what devices
// wrote offline reaches the server before the counts are taken.
func (l *loadRun) drain(ctx context.Context) error {
	bar := newLoadBar(l.stderr, "drain", int64(len(l.devices)))
	defer bar.finish()
	var failed []error
	var mu sync.Mutex
	l.parallel(ctx, len(l.devices), drainWorkers, func(ctx context.Context, i int) error {
		start := time.Now()
		err := l.devices[i].c.Sync(ctx)
		l.stats.Load().op("sync", time.Since(start), err)
		bar.add(1)
		if err != nil {
			mu.Lock()
			failed = append(failed, fmt.Errorf("device %d: %w", l.devices[i].n, err))
			mu.Unlock()
		}
		return nil
	})
	if len(failed) > 0 {
		return fmt.Errorf("drain: %d devices did not sync: %w", len(failed), failed[0])
	}
	return nil
}

// cleanup revokes the run's devices when --cleanup asks for it.
func (l *loadRun) cleanup(ctx context.Context, sum *loadSummary) error {
	if !l.cfg.cleanup || len(l.devices) == 0 {
		return nil
	}
	n, err := l.revoke(context.WithoutCancel(ctx))
	sum.Revoked = n
	if err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	return nil
}
