package fieldsync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// WatchIdleTimeout is how long Watch waits for a poke or heartbeat (the
// server sends one every 15 s by default) before it takes the stream for
// dead and reconnects.
const WatchIdleTimeout = time.Minute

var errStreamEnded = errors.New("watch stream ended")

// Watch keeps the device in sync while it runs: it syncs once, then opens
// the server's Watch stream and syncs on every poke (the device's scope
// changed) and after every local write, so an online device pushes and
// pulls at once. A broken or silent stream (see WatchIdleTimeout) is
// reopened with backoff (WithBackoff), after a sync. While the server
// cannot be reached (Sync's ErrUnreachable, or the stream cannot connect)
// Watch keeps reconnecting with backoff and logs a warning before each
// attempt (WithLogger). Watch returns nil when ctx ends.
//
// Errors: ErrNoServer, or an error that retrying cannot fix (from Sync, or
// the stream refused with e.g. Unauthenticated or PermissionDenied).
func (c *Client) Watch(ctx context.Context) error {
	if c.rpc == nil {
		return ErrNoServer
	}
	b := c.newBackoff()
	for {
		err := c.watchOnce(ctx, b)
		if ctx.Err() != nil {
			return nil
		}
		if !retryable(ctx, err) && !isResync(err) {
			return fmt.Errorf("watch: %w", err)
		}
		delay := b.next()
		if errors.Is(err, ErrUnreachable) || unreachable(err) {
			c.cfg.logger.WarnContext(ctx, "fieldsync: server unreachable; reconnecting", "server", c.cfg.server, "retry_in", delay.Round(time.Millisecond), "err", err)
		} else {
			c.cfg.logger.DebugContext(ctx, "fieldsync: watch stream broke, reconnecting", "err", err)
		}
		if sleep(ctx, delay) != nil {
			return nil
		}
	}
}

// watchOnce syncs, then follows one stream until it breaks.
func (c *Client) watchOnce(ctx context.Context, b *backoff) error {
	if err := c.Sync(ctx); err != nil {
		return err
	}
	cursor, err := metaString(ctx, c.db.read, "cursor")
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.Watch(sctx, connect.NewRequest(&fieldsyncv1.WatchRequest{Cursor: cursor}))
	if err != nil {
		return err
	}
	defer stream.Close()
	events := make(chan *fieldsyncv1.WatchResponse)
	failed := make(chan error, 1)
	go receive(sctx, stream, events, failed)
	return c.follow(ctx, b, events, failed)
}

// receive forwards a stream's messages until it ends, then its error.
func receive(ctx context.Context, stream *connect.ServerStreamForClient[fieldsyncv1.WatchResponse], events chan<- *fieldsyncv1.WatchResponse, failed chan<- error) {
	for stream.Receive() {
		select {
		case events <- stream.Msg():
		case <-ctx.Done():
			return
		}
	}
	err := stream.Err()
	if err == nil {
		err = connect.NewError(connect.CodeUnavailable, errStreamEnded)
	}
	failed <- err
}

// follow syncs on pokes and local writes until the stream fails or goes silent.
func (c *Client) follow(ctx context.Context, b *backoff, events <-chan *fieldsyncv1.WatchResponse, failed <-chan error) error {
	idle := time.NewTimer(WatchIdleTimeout)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-failed:
			return err
		case <-idle.C:
			return connect.NewError(connect.CodeUnavailable, fmt.Errorf("watch stream silent for %v", WatchIdleTimeout))
		case ev := <-events:
			idle.Reset(WatchIdleTimeout)
			b.reset()
			if ev.GetPoke() == nil {
				continue
			}
		case <-c.kick:
		}
		if err := c.Sync(ctx); err != nil {
			return err
		}
	}
}
