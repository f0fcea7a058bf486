package fieldsync

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"connectrpc.com/connect"
)

// Sync exchanges changes with the server: it pushes the outbox in seq
// order, in batches, then pulls every change in the device's scope until
// the server has no more. Push results are stored as they come (applied
// changes, merge losses in Conflicts, refusals in Rejections; a refused
// change never blocks the ones after it), pulled records replace the
// server's state under the pending local edits, which stay on top. A cursor
// the server refuses starts a full resync that keeps pending edits.
//
// Network failures and transient server errors are retried with backoff
// (WithBackoff) until ctx ends; each batch and page is stored in its own
// transaction, so a retry, a restart or a killed process loses nothing and
// resends nothing the server applied twice (the server answers a resent
// seq with its first result). Only one Sync runs at a time; a concurrent
// call waits for the running one.
//
// Photos go after the records: once the outbox is pushed and the changes
// pulled, Sync uploads the photo queue (see AddPhoto), oldest first, each
// in chunks (WithChunkSize), two in flight (WithUploadWindow), from the
// offset the server's upload holds, so a dropped connection, an Aborted
// chunk or a restarted process sends no acknowledged byte again. A local
// write made meanwhile is pushed before any chunk sent after it; a stored photo has its records pulled again, showing it
// available. A photo the server refuses for good (its completion refused
// twice, its local copy damaged, or larger than the server accepts)
// becomes PhotoFailed, and one the server cannot take now (Unavailable: its
// object store is down) is put off with backoff: neither fails Sync or
// holds up the records; Photos and Status show them. A call refused for the
// device's request rate or calls in progress (ResourceExhausted with a
// RetryInfo detail or Retry-After) is made again after the hinted wait.
//
// The delivery receipt of the pulled pages (an Ack) is sent in the
// background once the last page is stored: Sync returns without waiting
// for its answer. The next Sync (or Watch's next pull) waits for it before
// it pulls, Close waits for it (at most 2 s), and WaitAcked waits for it on demand. A
// receipt that fails is not retried: the next Pull sends the stored cursor,
// which records it then. Nothing else depends on it (the cursor is stored
// before it leaves), so what is applied, stored or sent again is the same
// whether it landed or not.
//
// Should the server answer a seq with the result of another mutation (the
// device token was used by a reinstalled or restored store, whose seqs
// started over), the pending changes are renumbered after the server's last
// seq and sent again, rather than taken as applied.
//
// A server that cannot be reached (no connection, no answer within
// WithConnectTimeout, or Unavailable) is retried for WithUnreachableAfter
// after the Sync started or last made progress; then Sync returns
// ErrUnreachable.
//
// Errors: ErrNoServer; ErrUnreachable (wrapping the last failure too);
// ctx's error when it ends before the sync completes (wrapping the last
// failure too); a *connect.Error that retrying cannot
// fix (Unauthenticated for a revoked device, PermissionDenied,
// InvalidArgument, …); or a local store error.
func (c *Client) Sync(ctx context.Context) error {
	if c.rpc == nil {
		return ErrNoServer
	}
	c.syncMu.Lock()
	defer c.syncMu.Unlock()
	b := c.newBackoff()
	for {
		err := c.syncOnce(ctx, b)
		if err == nil {
			return nil
		}
		if !retryable(ctx, err) {
			return fmt.Errorf("sync: %w", err)
		}
		if down := time.Since(b.since); unreachable(err) && down >= c.cfg.unreachable {
			return fmt.Errorf("sync: %w: no answer from %s for %v: %w", ErrUnreachable, c.cfg.server, down.Round(time.Millisecond), err)
		}
		c.cfg.logger.DebugContext(ctx, "fieldsync: sync failed, retrying", "err", err)
		if werr := b.wait(ctx); werr != nil {
			return fmt.Errorf("sync: %w (last failure: %w)", werr, err)
		}
	}
}

// syncOnce pushes and pulls, then uploads the photo queue, pushing and
// pulling again when the photo pass asks for it (see uploadPhotos). A new
// device learns its identity beside the exchange, not before it: its first
// sync does not wait a round trip and a commit for it. Its error comes
// first: a token the server refuses fails both the same way.
func (c *Client) syncOnce(ctx context.Context, b *backoff) error {
	identity := make(chan error, 1)
	go func() { identity <- c.learnIdentity(ctx) }()
	err := c.exchange(ctx, b)
	if ierr := <-identity; ierr != nil {
		return ierr
	}
	return err
}

// exchange is syncOnce after the identity. A pull waits for the receipt
// of the one before (see WaitAcked), so the server records receipts in the
// order the pages were stored.
func (c *Client) exchange(ctx context.Context, b *backoff) error {
	for {
		c.forgetPushStatus() // the photo pass changed the queue (see wireStatus)
		if err := c.push(ctx, b); err != nil {
			return err
		}
		if err := c.acks.wait(ctx); err != nil {
			return err
		}
		if err := c.pull(ctx, b); err != nil {
			return err
		}
		again, err := c.uploadPhotos(ctx, b)
		if err != nil || !again {
			return err
		}
	}
}

// WaitAcked waits until the delivery receipt that the last Sync sent in
// the background (see Sync) has been answered or has failed; it returns at
// once when none is in flight. Use it when the server's record of
// deliveries must include that Sync's pages before going on (a test, a
// report read right after a sync); Sync and Close wait for it themselves.
//
// Errors: ctx's error when it ends first (the receipt stays in flight).
func (c *Client) WaitAcked(ctx context.Context) error {
	return c.acks.wait(ctx)
}

// ackLater sends the receipt of the pages stored up to next in the
// background (see ack), in a context that outlives the Sync's, so a caller
// that cancels its ctx once Sync returned does not cut it short. It is
// bounded by the request timeout (DefaultRequestTimeout when that is
// disabled); Close cancels it after ackCloseGrace.
func (c *Client) ackLater(ctx context.Context, sent, next string) {
	if next == "" || next == sent {
		return // nothing the first Pull did not record already
	}
	timeout := c.cfg.requestTimeout
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	c.acks.start(func() {
		defer cancel()
		c.ack(ctx, sent, next)
	}, cancel)
}

// inFlight is the one background call a client may have in flight (the
// last Sync's receipt): started while no other runs, waited for by anyone.
type inFlight struct {
	mu     sync.Mutex
	done   chan struct{}      // closed when the call ended; nil before the first
	cancel context.CancelFunc // cancels the call's context
}

// start runs call in the background; cancel cancels its context. The
// caller made sure no call runs.
func (f *inFlight) start(call func(), cancel context.CancelFunc) {
	done := make(chan struct{})
	f.mu.Lock()
	f.done, f.cancel = done, cancel
	f.mu.Unlock()
	go func() {
		defer close(done)
		call()
	}()
}

// stop waits up to grace for the call in flight, if any, then cancels it
// and waits for it to end.
func (f *inFlight) stop(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if f.wait(ctx) == nil {
		return
	}
	f.mu.Lock()
	done, stop := f.done, f.cancel
	f.mu.Unlock()
	stop()
	<-done
}

// wait waits for the call in flight, if any, or for ctx to end.
func (f *inFlight) wait(ctx context.Context) error {
	f.mu.Lock()
	done := f.done
	f.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryable reports whether a failed call may succeed when tried again:
// network failures and transient server states, but only while ctx lives.
func retryable(ctx context.Context, err error) bool {
	var ce *connect.Error
	if ctx.Err() != nil || !errors.As(err, &ce) {
		return false
	}
	switch ce.Code() {
	case connect.CodeUnavailable, connect.CodeUnknown, connect.CodeInternal, connect.CodeDeadlineExceeded,
		connect.CodeCanceled, connect.CodeResourceExhausted, connect.CodeAborted:
		return true
	}
	return false
}

// unreachable reports whether a retryable failure means the server could
// not be reached: no connection or no answer (not an error the server
// sent), or Unavailable.
func unreachable(err error) bool {
	return !connect.IsWireError(err) || connect.CodeOf(err) == connect.CodeUnavailable
}

// backoff is exponential backoff with jitter. since is when the calls
// last made progress (or started).
type backoff struct {
	lo, hi time.Duration
	n      int
	since  time.Time
}

func (c *Client) newBackoff() *backoff {
	return &backoff{lo: c.cfg.backoffMin, hi: c.cfg.backoffMax, since: time.Now()}
}

// next returns the next delay: lo·2ⁿ capped at hi, drawn in [d/2, d].
func (b *backoff) next() time.Duration {
	d := b.hi
	if b.n < 32 {
		d = min(b.lo<<b.n, b.hi)
	}
	b.n++
	return d/2 + rand.N(d/2+1)
}

// reset starts over after progress.
func (b *backoff) reset() { b.n, b.since = 0, time.Now() }

// wait sleeps for the next delay or until ctx ends (returning its error).
func (b *backoff) wait(ctx context.Context) error { return sleep(ctx, b.next()) }

// sleep sleeps for d or until ctx ends (returning its error).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
