package syncengine

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// HLC is a hybrid logical clock timestamp: the upper 48 bits are Unix
// milliseconds, the lower 16 bits a logical counter (the wire format of
// sync.proto). Timestamps order as plain integers, and adding one to a
// timestamp whose counter is 65535 carries into the next millisecond.
type HLC uint64

const (
	logicalBits  = 16
	maxUnixMilli = 1<<(64-logicalBits) - 1 // year 10889
)

// MakeHLC builds a timestamp from Unix milliseconds and a logical counter.
// Milliseconds outside the 48-bit range are clamped to it (negative to 0).
func MakeHLC(unixMilli int64, logical uint16) HLC {
	unixMilli = min(max(unixMilli, 0), maxUnixMilli)
	return HLC(uint64(unixMilli)<<logicalBits | uint64(logical))
}

// UnixMilli returns the physical part in Unix milliseconds.
func (h HLC) UnixMilli() int64 { return int64(uint64(h) >> logicalBits) }

// Logical returns the logical counter.
func (h HLC) Logical() uint16 { return uint16(h) }

// Time returns the physical part as a UTC time.
func (h HLC) Time() time.Time { return time.UnixMilli(h.UnixMilli()).UTC() }

// String formats h as "2024-05-01T08:30:00.123Z/4" (physical time/logical).
func (h HLC) String() string {
	return fmt.Sprintf("%s/%d", h.Time().Format("2006-01-02T15:04:05.000Z07:00"), h.Logical())
}

// next returns the smallest timestamp after h, saturating at the end of the
// range rather than wrapping to zero.
func (h HLC) next() HLC {
	if h == math.MaxUint64 {
		return h
	}
	return h + 1
}

// Clock is a hybrid logical clock, safe for concurrent use. Its timestamps
// follow physical time when it moves forward and count logically when it
// stalls or goes backwards, so they never repeat or decrease.
type Clock struct {
	mu   sync.Mutex
	last HLC
	now  func() time.Time
}

// NewClock returns a clock reading physical time from now (time.Now when
// nil). now is only ever called with the clock's lock held.
func NewClock(now func() time.Time) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{now: now}
}

// physical returns the physical clock as a timestamp with counter 0.
// The caller holds c.mu.
func (c *Clock) physical() HLC { return MakeHLC(c.now().UnixMilli(), 0) }

// Now returns a timestamp for a local event: strictly greater than every
// timestamp the clock returned or received before (until the end of the
// HLC range, where it saturates).
func (c *Clock) Now() HLC {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = max(c.last.next(), c.physical())
	return c.last
}

// Update merges a received timestamp into the clock and returns the
// timestamp of the receive event: strictly greater than both remote and
// every timestamp returned before. Bound remote first if it comes from a
// clock that may be far ahead; Update trusts it.
func (c *Clock) Update(remote HLC) HLC {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = max(max(c.last, remote).next(), c.physical())
	return c.last
}

// Bound limits a received timestamp to at most maxSkew ahead of the local
// physical clock, compared at millisecond resolution. A timestamp beyond the
// bound is replaced by the bound itself (physical+maxSkew, counter 0), and
// the second result says how far beyond the bound it was; otherwise remote
// is returned unchanged with 0. A negative maxSkew counts as 0. Bound does
// not advance the clock.
func (c *Clock) Bound(remote HLC, maxSkew time.Duration) (HLC, time.Duration) {
	c.mu.Lock()
	physicalMilli := c.now().UnixMilli()
	c.mu.Unlock()
	limit := physicalMilli + max(maxSkew, 0).Milliseconds()
	if remote.UnixMilli() <= limit {
		return remote, 0
	}
	bound := MakeHLC(limit, 0)
	return bound, time.Duration(remote.UnixMilli()-bound.UnixMilli()) * time.Millisecond
}
