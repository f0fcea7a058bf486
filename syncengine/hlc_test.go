package syncengine

import (
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// fakeTime is a settable physical clock for tests.
type fakeTime struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeTime(unixMilli int64) *fakeTime { return &fakeTime{t: time.UnixMilli(unixMilli)} }

func (f *fakeTime) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeTime) Set(unixMilli int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = time.UnixMilli(unixMilli)
}

func TestMakeHLCRoundTripsMillisecondsAndCounter(t *testing.T) {
	t.Parallel()
	h := MakeHLC(1_714_552_200_123, 7)
	if h.UnixMilli() != 1_714_552_200_123 || h.Logical() != 7 {
		t.Fatalf("MakeHLC round trip: got %d/%d", h.UnixMilli(), h.Logical())
	}
	if got := uint64(h); got != 1_714_552_200_123<<16|7 {
		t.Fatalf("wire layout: got %#x", got)
	}
	if got, want := h.Time(), time.UnixMilli(1_714_552_200_123).UTC(); !got.Equal(want) {
		t.Fatalf("Time() = %v, want %v", got, want)
	}
	if got, want := h.String(), "2024-05-01T08:30:00.123Z/7"; got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}

func TestMakeHLCClampsMillisecondsToTheRange(t *testing.T) {
	t.Parallel()
	if got := MakeHLC(-5, 3); got.UnixMilli() != 0 || got.Logical() != 3 {
		t.Fatalf("negative ms: got %d/%d", got.UnixMilli(), got.Logical())
	}
	if got := MakeHLC(1<<50, 0); got.UnixMilli() != maxUnixMilli {
		t.Fatalf("ms beyond 48 bits: got %d, want %d", got.UnixMilli(), int64(maxUnixMilli))
	}
}

func TestHLCCounterOverflowCarriesIntoTheNextMillisecond(t *testing.T) {
	t.Parallel()
	if got := MakeHLC(5, 65535) + 1; got != MakeHLC(6, 0) {
		t.Fatalf("MakeHLC(5, 65535)+1 = %v", got)
	}
	ft := newFakeTime(1000)
	c := NewClock(ft.Now)
	c.Update(MakeHLC(1000, 65534))
	if got := c.Now(); got != MakeHLC(1001, 0) {
		t.Fatalf("Now after counter 65535: got %d/%d, want 1001/0", got.UnixMilli(), got.Logical())
	}
}

func TestClockNowFollowsPhysicalTimeAndCountsWhenItStalls(t *testing.T) {
	t.Parallel()
	ft := newFakeTime(1000)
	c := NewClock(ft.Now)
	steps := []struct {
		physical int64
		want     HLC
	}{
		{1000, MakeHLC(1000, 0)},
		{1000, MakeHLC(1000, 1)}, // time stands still
		{990, MakeHLC(1000, 2)},  // time goes back
		{1005, MakeHLC(1005, 0)}, // time moves on
	}
	for i, s := range steps {
		ft.Set(s.physical)
		if got := c.Now(); got != s.want {
			t.Fatalf("step %d: Now() = %v, want %v", i, got, s.want)
		}
	}
}

func TestNewClockWithNilUsesWallTime(t *testing.T) {
	t.Parallel()
	before := time.Now().UnixMilli()
	got := NewClock(nil).Now().UnixMilli()
	if got < before || got > time.Now().UnixMilli() {
		t.Fatalf("Now() = %d ms, not wall time", got)
	}
}

func TestClockNowIsStrictlyIncreasingUnderConcurrency(t *testing.T) {
	t.Parallel()
	ft := newFakeTime(1000) // a stalled clock forces the counter path
	c := NewClock(ft.Now)
	const goroutines, perG = 8, 2000
	results := make([][]HLC, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				if i%500 == 0 {
					ft.Set(1000 + int64(i/500)) // and sometimes moves
				}
				h := c.Now()
				if i%3 == 0 {
					h = c.Update(h - 5) // receives mixed with local events
				}
				results[g] = append(results[g], h)
			}
		})
	}
	wg.Wait()
	seen := make(map[HLC]bool, goroutines*perG)
	for g, hs := range results {
		for i, h := range hs {
			if i > 0 && h <= hs[i-1] {
				t.Fatalf("goroutine %d: timestamp %d (%v) not after %v", g, i, h, hs[i-1])
			}
			if seen[h] {
				t.Fatalf("timestamp %v returned twice", h)
			}
			seen[h] = true
		}
	}
}

func TestClockUpdateIsAfterBothTheLocalAndTheRemoteClock(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		physical       int64
		last, remote   HLC
		want           HLC
		wantAfterLocal bool
	}{
		{"remote ahead", 1000, MakeHLC(1000, 3), MakeHLC(2000, 5), MakeHLC(2000, 6), true},
		{"remote behind", 1000, MakeHLC(1000, 3), MakeHLC(500, 9), MakeHLC(1000, 4), true},
		{"same millisecond, higher remote counter", 1000, MakeHLC(1000, 3), MakeHLC(1000, 8), MakeHLC(1000, 9), true},
		{"physical ahead of both", 3000, MakeHLC(1000, 3), MakeHLC(2000, 5), MakeHLC(3000, 0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ft := newFakeTime(tt.last.UnixMilli())
			c := NewClock(ft.Now)
			c.Update(tt.last - 1) // brings the clock to exactly last
			ft.Set(tt.physical)
			if got := c.Update(tt.remote); got != tt.want {
				t.Fatalf("Update(%v) = %v, want %v", tt.remote, got, tt.want)
			}
			if got := c.Now(); got <= tt.want {
				t.Fatalf("Now() after Update = %v, not after %v", got, tt.want)
			}
		})
	}
}

func TestClockBoundClampsOnlyBeyondTheSkew(t *testing.T) {
	t.Parallel()
	const now = 1_000_000
	skew := 5 * time.Second
	tests := []struct {
		name      string
		remote    HLC
		want      HLC
		wantAhead time.Duration
	}{
		{"behind", MakeHLC(now-60_000, 4), MakeHLC(now-60_000, 4), 0},
		{"ahead within skew", MakeHLC(now+4_999, 9), MakeHLC(now+4_999, 9), 0},
		{"exactly at the bound", MakeHLC(now+5_000, 0), MakeHLC(now+5_000, 0), 0},
		{"at the bound millisecond with a counter", MakeHLC(now+5_000, 42), MakeHLC(now+5_000, 42), 0},
		{"one millisecond beyond", MakeHLC(now+5_001, 0), MakeHLC(now+5_000, 0), time.Millisecond},
		{"a day beyond", MakeHLC(now+5_000+86_400_000, 7), MakeHLC(now+5_000, 0), 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := NewClock(newFakeTime(now).Now)
			got, ahead := c.Bound(tt.remote, skew)
			if got != tt.want || ahead != tt.wantAhead {
				t.Fatalf("Bound(%v) = %v, %v; want %v, %v", tt.remote, got, ahead, tt.want, tt.wantAhead)
			}
		})
	}
}

func TestClockBoundTreatsNegativeSkewAsZeroAndDoesNotAdvanceTheClock(t *testing.T) {
	t.Parallel()
	c := NewClock(newFakeTime(1000).Now)
	got, ahead := c.Bound(MakeHLC(1001, 0), -time.Hour)
	if got != MakeHLC(1000, 0) || ahead != time.Millisecond {
		t.Fatalf("Bound with negative skew = %v, %v", got, ahead)
	}
	if now := c.Now(); now != MakeHLC(1000, 0) {
		t.Fatalf("Now() after Bound = %v: Bound moved the clock", now)
	}
}

// TestClockNeverGoesBackProperty drives a clock with random physical time
// moves, local events and receives.
func TestClockNeverGoesBackProperty(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		ft := newFakeTime(rapid.Int64Range(0, 1<<40).Draw(t, "start"))
		c := NewClock(ft.Now)
		var last HLC
		for i := range rapid.IntRange(1, 50).Draw(t, "steps") {
			if rapid.Bool().Draw(t, "move") {
				ft.Set(rapid.Int64Range(0, 1<<40).Draw(t, "physical"))
			}
			var got HLC
			if remote := HLC(rapid.Uint64Range(0, 1<<56).Draw(t, "remote")); rapid.Bool().Draw(t, "receive") {
				got = c.Update(remote)
				if got <= remote {
					t.Fatalf("step %d: Update(%v) = %v, not after remote", i, remote, got)
				}
			} else {
				got = c.Now()
			}
			if got <= last || got.UnixMilli() < ft.Now().UnixMilli() {
				t.Fatalf("step %d: %v after %v at physical %d", i, got, last, ft.Now().UnixMilli())
			}
			last = got
		}
	})
}
