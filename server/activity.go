package server

import (
	"context"
	"sync/atomic"

	"connectrpc.com/connect"
)

// Activity counts the unary calls in progress (streams such as Watch are
// left out: they stay open while idle), so that background work on the
// same machine can make way for them: the daemon's outbox relay waits
// while more calls are in progress than there are cores
// (internal/daemon). A nil *Activity counts nothing. Safe for concurrent
// use.
type Activity struct {
	inFlight atomic.Int64
}

// Enter counts a call in; the returned func counts it out. The server's
// interceptor calls it for each unary call.
func (a *Activity) Enter() (exit func()) {
	a.inFlight.Add(1)
	return func() { a.inFlight.Add(-1) }
}

// InFlight returns the unary calls in progress (0 for a nil Activity).
func (a *Activity) InFlight() int64 {
	if a == nil {
		return 0
	}
	return a.inFlight.Load()
}

// activityInterceptor counts unary calls into an Activity.
type activityInterceptor struct{ a *Activity }

func (i activityInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		defer i.a.Enter()()
		return next(ctx, req)
	}
}

func (i activityInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i activityInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}
