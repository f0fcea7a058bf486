package fieldsync

import (
	"sync"
	"time"
)

// hlcLogicalBits is the width of the logical counter of a wire HLC: the
// upper 48 bits are Unix milliseconds (sync.proto).
const hlcLogicalBits = 16

// clock is the device's hybrid logical clock. Its timestamps follow the wall
// clock when it moves forward and count logically when it stalls or goes
// back, so they never repeat or decrease; received timestamps (the server's)
// push it forward. The client persists its last value with every write, so
// it survives restarts and wall clocks set back.
type clock struct {
	mu   sync.Mutex
	last uint64
	now  func() time.Time
}

func (c *clock) physical() uint64 {
	ms := max(c.now().UnixMilli(), 0)
	return uint64(ms) << hlcLogicalBits
}

// Now returns a timestamp strictly greater than every one returned or
// received before.
func (c *clock) Now() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = max(c.last+1, c.physical())
	return c.last
}

// Observe merges a received timestamp into the clock and returns the new
// last value.
func (c *clock) Observe(remote uint64) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = max(c.last, remote)
	return c.last
}

// Last returns the newest timestamp the clock returned or received.
func (c *clock) Last() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}
