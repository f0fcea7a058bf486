package nats

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Lease bucket defaults.
const (
	// LeaseBucket is the JetStream KV bucket holding the fieldsync leases.
	LeaseBucket = "fieldsync_leases"
	// DefaultLeaseTTL is how long a lease outlives its holder's last
	// renewal: a crashed holder's work resumes elsewhere within about
	// DefaultLeaseTTL plus a poll (DefaultLeaseTTL/4); a released lease is
	// taken at once.
	DefaultLeaseTTL = 10 * time.Second
)

// LeaseBucketConfig configures the lease bucket.
type LeaseBucketConfig struct {
	// TTL is the bucket's per-key TTL: a key not written for TTL vanishes.
	// Default DefaultLeaseTTL.
	TTL time.Duration
	// Replicas is the number of copies in a NATS cluster. Default 1.
	Replicas int
}

// EnsureLeaseBucket creates the lease bucket (file storage, one revision
// per key, keys expiring TTL after their last write, leaving a marker where
// the server supports it), or updates it to cfg.
func EnsureLeaseBucket(ctx context.Context, js jetstream.JetStream, cfg LeaseBucketConfig) (jetstream.KeyValue, error) {
	kvc := jetstream.KeyValueConfig{
		Bucket:      LeaseBucket,
		Description: "fieldsync leases: one holder per key runs a cluster-wide task",
		History:     1,
		TTL:         orDefault(cfg.TTL, DefaultLeaseTTL),
		Storage:     jetstream.FileStorage,
		Replicas:    max(cfg.Replicas, 1),
	}
	// An expired key leaves a marker (NATS 2.11 and later), which wakes the
	// waiting holders at once instead of at their next poll.
	kvc.LimitMarkerTTL = kvc.TTL
	kv, err := js.CreateOrUpdateKeyValue(ctx, kvc)
	if errors.Is(err, jetstream.ErrLimitMarkerTTLNotSupported) {
		kvc.LimitMarkerTTL = 0
		kv, err = js.CreateOrUpdateKeyValue(ctx, kvc)
	}
	if err != nil {
		return nil, fmt.Errorf("ensure lease bucket: %w", err)
	}
	return kv, nil
}

// Lease runs a task on at most one holder at a time, holding one key of a
// lease bucket (EnsureLeaseBucket).
//
// Acquiring is a Create (only when the key is absent); holding is an
// Update on the held revision every TTL/4. The key expires TTL after its
// last successful write, so a holder that dies is replaced once TTL has
// passed. The holder gives the lease up — cancelling the task's context —
// at the first Update refused on its revision (another holder has the key,
// or it expired) or once its connection is closed, and in any case at
// TTL*2/3 after the start of its last successful write, measured on its
// own monotonic clock: the key, stamped by the server after that start,
// lives at least TTL, so the task is cancelled before any other holder can
// Create the key, as long as clocks run at the same rate within TTL/3, the
// NATS servers' clocks agree within TTL/3 and the holder is not paused
// longer than that. Run waits for the task to return before trying again.
//
// Cancelling is only as good as the task's checks of its context: a task
// must stop its effects once its context is done (the outbox relay checks
// it before every publish). A paused process (GC, SIGSTOP, swapped out) can
// wake after its lease has passed to another and finish the call it was
// in: what the task does must tolerate that (the relay: Nats-Msg-Id
// deduplication within DuplicateWindow; consumers are idempotent).
type Lease struct {
	// KV is the lease bucket. Required.
	KV jetstream.KeyValue
	// Key names the task, e.g. "relay". Required.
	Key string
	// Holder describes this holder in the key's value (for operators);
	// default host name and pid. A random suffix makes each Lease's value
	// its own.
	Holder string
	// Logger receives acquisitions and losses. Default slog.Default().
	Logger *slog.Logger
	// OnChange, when set, is called with true right after the lease is
	// acquired and with false once the task has returned after a loss or
	// release (tests, metrics).
	OnChange func(held bool)
}

// Run repeatedly acquires the lease and runs task while holding it, until
// ctx ends; then it releases the lease (deleting the key, so another holder
// takes over at its next poll) and returns nil. A task returning by itself
// also releases the lease; an error is logged and the task runs again after
// a pause of TTL/3 (here or on another holder).
func (l *Lease) Run(ctx context.Context, task func(ctx context.Context) error) error {
	if l.KV == nil || l.Key == "" {
		return errors.New("lease: KV and Key are required")
	}
	log := orDefault(l.Logger, slog.Default()).With("lease", l.Key)
	ttl, err := l.bucketTTL(ctx, log)
	if err != nil || ttl == 0 {
		return err // ttl 0: ctx ended
	}
	h := &holding{Lease: l, ttl: ttl, value: []byte(l.holderValue()), log: log}
	for {
		rev, deadline, ok := h.acquire(ctx)
		if !ok {
			return nil
		}
		if !h.hold(ctx, rev, deadline, task) {
			return nil
		}
	}
}

// Retries of the bucket's status at the start of Run.
const (
	statusRetryMin = 250 * time.Millisecond
	statusRetryMax = 10 * time.Second
)

// bucketTTL reads the bucket's TTL, each try bounded by APITimeout, trying
// again (with a logged warning) until it succeeds or ctx ends (then 0 and
// no error): a node starting while NATS is down, or while the bucket's
// stream has no leader, must still take part once it is back. It fails
// only when the bucket has no TTL or the connection is closed for good.
func (l *Lease) bucketTTL(ctx context.Context, log *slog.Logger) (time.Duration, error) {
	wait := statusRetryMin
	for {
		sctx, cancel := context.WithTimeout(ctx, APITimeout)
		st, err := l.KV.Status(sctx)
		cancel()
		switch {
		case err == nil && st.TTL() > 0:
			return st.TTL(), nil
		case err == nil:
			return 0, fmt.Errorf("lease %s: bucket %s has no TTL", l.Key, st.Bucket())
		case ctx.Err() != nil:
			return 0, nil
		case errors.Is(err, natsgo.ErrConnectionClosed):
			return 0, fmt.Errorf("lease %s: %w", l.Key, err)
		}
		log.Warn("lease: cannot read the lease bucket; retrying", "err", err, "retry_in", wait)
		if !sleep(ctx, wait, nil) {
			return 0, nil
		}
		wait = min(wait*2, statusRetryMax)
	}
}

func (l *Lease) holderValue() string {
	holder := l.Holder
	if holder == "" {
		host, _ := os.Hostname()
		holder = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	nonce := make([]byte, 6)
	_, _ = rand.Read(nonce)
	return holder + "/" + hex.EncodeToString(nonce)
}

// holding is one Run's state.
type holding struct {
	*Lease
	ttl   time.Duration
	value []byte
	log   *slog.Logger
}

// validity is how long after the start of a successful write the holder
// still counts the lease as its own.
func (h *holding) validity() time.Duration { return h.ttl * 2 / 3 }

// acquire tries Create every TTL/4, and at once when the key is deleted
// (a holder releasing it), until it succeeds (ok) or ctx ends. It returns
// the revision and the local deadline of the lease.
func (h *holding) acquire(ctx context.Context) (rev uint64, deadline time.Time, ok bool) {
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	released := h.watchReleases(wctx)
	poll := max(h.ttl/4, 10*time.Millisecond)
	for {
		start := time.Now()
		rev, err := h.create(ctx)
		if err == nil {
			h.log.Info("lease acquired", "revision", rev, "holder", string(h.value))
			return rev, start.Add(h.validity()), true
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && ctx.Err() == nil {
			h.log.Warn("lease: acquire failed", "err", err)
		}
		if !sleep(ctx, poll, released) {
			return 0, time.Time{}, false
		}
	}
}

// watchReleases signals each deletion of the key until ctx ends; nil (no
// signal, polling only) when the watch cannot start.
func (h *holding) watchReleases(ctx context.Context) <-chan struct{} {
	w, err := h.KV.Watch(ctx, h.Key, jetstream.UpdatesOnly())
	if err != nil {
		return nil
	}
	released := make(chan struct{}, 1)
	go func() {
		defer func() { _ = w.Stop() }()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e != nil && e.Operation() != jetstream.KeyValuePut {
					select {
					case released <- struct{}{}:
					default:
					}
				}
			}
		}
	}()
	return released
}

// create creates the key, or takes back a key that still holds this
// holder's value (a Create or Update whose answer was lost).
func (h *holding) create(ctx context.Context) (uint64, error) {
	cctx, cancel := context.WithTimeout(ctx, h.validity())
	defer cancel()
	rev, err := h.KV.Create(cctx, h.Key, h.value)
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return rev, err
	}
	e, gerr := h.KV.Get(cctx, h.Key)
	if gerr != nil || string(e.Value()) != string(h.value) {
		return 0, err
	}
	return h.KV.Update(cctx, h.Key, h.value, e.Revision())
}

// hold runs task while renewing the lease; it reports false when ctx ended.
func (h *holding) hold(ctx context.Context, rev uint64, deadline time.Time, task func(context.Context) error) bool {
	taskCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- task(taskCtx) }()
	h.changed(true)
	renew := time.NewTicker(max(h.ttl/4, 10*time.Millisecond))
	defer renew.Stop()
	expire := time.NewTimer(time.Until(deadline))
	defer expire.Stop()
	for {
		select {
		case err := <-done:
			h.release(rev)
			h.changed(false)
			if err != nil {
				h.log.Error("lease: task failed; released", "err", err)
			}
			return sleep(ctx, h.ttl/3, nil)
		case <-ctx.Done():
			cancel()
			h.awaitTask(done)
			h.release(rev)
			h.changed(false)
			return false
		case <-expire.C:
			h.lost(cancel, done, "not renewed in time")
			return true
		case <-renew.C:
			next, err := h.renew(ctx, rev, deadline)
			switch {
			case err == nil:
				rev, deadline = next.rev, next.deadline
				expire.Reset(time.Until(deadline))
			case isWrongRevision(err):
				h.lost(cancel, done, "taken or expired")
				return true
			case errors.Is(err, natsgo.ErrConnectionClosed):
				h.lost(cancel, done, "connection closed")
				return true
			case ctx.Err() == nil:
				h.log.Warn("lease: renewal failed; retrying", "err", err, "valid_for", time.Until(deadline).Round(time.Millisecond))
			}
		}
	}
}

type renewal struct {
	rev      uint64
	deadline time.Time
}

// renew updates the key on rev, giving up at the current deadline.
func (h *holding) renew(ctx context.Context, rev uint64, deadline time.Time) (renewal, error) {
	start := time.Now()
	rctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	next, err := h.KV.Update(rctx, h.Key, h.value, rev)
	if err != nil {
		return renewal{}, err
	}
	return renewal{next, start.Add(h.validity())}, nil
}

// lost cancels the task and waits for it.
func (h *holding) lost(cancel context.CancelFunc, done <-chan error, why string) {
	cancel()
	h.log.Warn("lease lost: stopping the task", "why", why)
	if err := h.awaitTask(done); err != nil {
		h.log.Warn("lease: task ended with an error after the lease was lost", "err", err)
	}
	h.log.Warn("lease lost: task stopped", "why", why)
	h.changed(false)
}

// awaitTask waits for a cancelled task to return, and says so in the log
// every TTL while it does not: a task that ignores its context keeps this
// holder from trying for the lease again, and must not do so silently.
func (h *holding) awaitTask(done <-chan error) error {
	t := time.NewTicker(h.ttl)
	defer t.Stop()
	began := time.Now()
	for {
		select {
		case err := <-done:
			return err
		case <-t.C:
			h.log.Error("lease: the task has not returned since it was cancelled; this holder cannot take the lease again until it does",
				"waited", time.Since(began).Round(time.Second))
		}
	}
}

// release deletes the key if it still holds rev, so another holder need
// not wait for the TTL.
func (h *holding) release(rev uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), h.ttl/3)
	defer cancel()
	if err := h.KV.Delete(ctx, h.Key, jetstream.LastRevision(rev)); err != nil {
		h.log.Debug("lease: release failed (it expires by itself)", "err", err)
		return
	}
	h.log.Info("lease released")
}

func (h *holding) changed(held bool) {
	if h.OnChange != nil {
		h.OnChange(held)
	}
}

// isWrongRevision reports whether err is JetStream refusing a write on a
// revision that is no longer the key's last.
func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return errors.Is(err, jetstream.ErrKeyExists)
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}
