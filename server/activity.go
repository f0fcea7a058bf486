package server

import (
	"context"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
)

// Activity counts the unary calls in progress (streams such as Watch are
// left out: they stay open while idle), so that background work on the
// same machine can make way for them: the daemon's outbox relay waits
// for a quiet moment before it reads (internal/daemon). A nil *Activity
// counts nothing and is never busy. Safe for concurrent use.
type Activity struct {
	inFlight atomic.Int64
	lastEnd  atomic.Int64 // unix nanoseconds of the last call's end
}

// Enter counts a call in; the returned func counts it out. The server's
// interceptor calls it for each unary call.
func (a *Activity) Enter() (exit func()) {
	a.inFlight.Add(1)
	return func() {
		a.lastEnd.Store(time.Now().UnixNano())
		a.inFlight.Add(-1)
	}
}

// QuietFor reports whether no unary call has been in progress for at
// least d (always true for a nil Activity).
func (a *Activity) QuietFor(d time.Duration) bool {
	if a == nil {
		return true
	}
	if a.inFlight.Load() > 0 {
		return false
	}
	return time.Since(time.Unix(0, a.lastEnd.Load())) >= d
}

// InFlight returns the unary calls in progress.
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
