package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// loadBar draws a phase's progress on w as "setup [#####.....]  52%
// 520/1000  12s  calls 2345 errors 0": redrawn in place with \r on a
// terminal (at most ten times a second); elsewhere one line per tenth,
// as the photo progress bar does (progressBar), so a log stays readable.
type loadBar struct {
	w     io.Writer
	tty   bool
	label string
	total int64
	start time.Time
	done  counter
	stats *loadStats // calls and errors to show; nil: none

	mu    sync.Mutex
	drawn time.Time // of the last line drawn
	tenth int64
	ended bool
}

func newLoadBar(w io.Writer, label string, total int64) *loadBar {
	return &loadBar{w: w, tty: isTerminal(w), label: label, total: max(total, 1), start: time.Now(), tenth: -1}
}

// add counts n more done and draws the bar if due.
func (b *loadBar) add(n int64) { b.draw(b.done.add(n), false) }

// follow draws done() every 200 ms until the returned stop is called,
// which draws the last line.
func (b *loadBar) follow(done func() int64, st *loadStats) (stop func()) {
	b.stats = st
	quit, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				b.draw(min(done(), b.total), false)
			}
		}
	}()
	return func() {
		close(quit)
		<-ended
		b.draw(min(done(), b.total), true)
		b.finish()
	}
}

// draw writes the line for done when it is due (or final).
func (b *loadBar) draw(done int64, final bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ended {
		return
	}
	tenth := done * 10 / b.total
	switch {
	case !b.tty && tenth == b.tenth:
		return // this tenth was drawn
	case b.tty && !final && time.Since(b.drawn) < 100*time.Millisecond && done < b.total:
		return
	}
	b.drawn, b.tenth = time.Now(), tenth
	line := b.line(done)
	if b.tty {
		fmt.Fprintf(b.w, "\r%s  ", line)
	} else {
		fmt.Fprintln(b.w, line)
	}
}

// line is the bar's text for done.
func (b *loadBar) line(done int64) string {
	const width = 20
	n := int(done * width / b.total)
	s := fmt.Sprintf("%s [%s%s] %3d%% %d/%d  %s", b.label, strings.Repeat("#", n), strings.Repeat(".", width-n),
		done*100/b.total, done, b.total, time.Since(b.start).Round(time.Second))
	if b.stats != nil {
		calls, failed := b.stats.calls()
		s += fmt.Sprintf("  calls %d errors %d", calls, failed)
	}
	return s
}

// finish ends the bar's line on a terminal; later draws are dropped.
func (b *loadBar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tty && !b.ended {
		fmt.Fprintln(b.w)
	}
	b.ended = true
}

// counter is a count read by a progress bar while goroutines add to it.
type counter struct{ n atomic.Int64 }

func (c *counter) add(n int64) int64 { return c.n.Add(n) }
func (c *counter) load() int64       { return c.n.Load() }
