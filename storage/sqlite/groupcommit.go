package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Group commit: concurrent WriteTx callers share one transaction, so a
// group of writes costs one BEGIN IMMEDIATE and one COMMIT (one fsync under
// synchronous=FULL) instead of one each. A single writer loop takes every
// caller waiting (up to maxGroup) without waiting for more, runs each
// closure after the first in its own SAVEPOINT, commits once and then
// answers every caller of the group. A lone caller runs at once, in a
// plain transaction.
//
// Semantics, per caller, are those of a transaction of its own:
//   - fn sees the writes of the closures before it in the group (same
//     transaction, run one after another) and its now is read when it
//     starts, once per call as before;
//   - an error or panic from fn rolls back only fn's savepoint (the whole
//     transaction when fn ran first in it; the rest then run in a new
//     one), and that caller gets the error; the others go on;
//   - WriteTx returns nil only after the COMMIT holding fn's writes
//     succeeded; a failed COMMIT fails every closure of the group;
//   - a caller whose ctx ends while it is still queued is skipped and
//     returns ctx.Err(); once its closure has started it waits for the
//     outcome.
//
// A failing statement can end the whole SQLite transaction rather than
// only itself (an interrupted write, that is a caller's ctx ending mid
// statement; a full disk). The closures that ran before it in the group
// then get errGroupRolledBack without being run again, and the group's
// remaining closures go on in a new transaction.

// maxGroup bounds the closures sharing one transaction, so that a group
// under steady load still commits (and answers) often.
const maxGroup = 64

// errGroupRolledBack is returned to a caller whose writes were lost with
// the shared transaction because of another closure of its group.
var errGroupRolledBack = errors.New("write transaction rolled back by another write of its group; retry")

// errClosed is returned by WriteTx after Close.
var errClosed = errors.New("sqlite: database closed")

// writeReq is one WriteTx call waiting for the writer loop.
type writeReq struct {
	ctx context.Context
	fn  func(tx *sql.Tx, now time.Time) error
	// state: reqQueued, then reqTaken (the loop runs it) or reqAbandoned
	// (the caller left), whichever wins.
	state atomic.Int32
	done  chan error // buffered: the loop never blocks answering
}

const (
	reqQueued int32 = iota
	reqTaken
	reqAbandoned
)

// groupWriter is the queue and loop of group commit.
type groupWriter struct {
	mu     sync.Mutex
	queue  []*writeReq
	closed bool
	wake   chan struct{} // capacity 1: "the queue may be non-empty"
	exited chan struct{} // closed when the loop returns

	disabled atomic.Bool // SetGroupCommit(false)
	stats    groupStats
}

// groupStats count what the loop did; tests and benchmarks read them.
type groupStats struct {
	commits atomic.Int64 // transactions committed
	writes  atomic.Int64 // closures committed in them
}

func newGroupWriter() *groupWriter {
	return &groupWriter{wake: make(chan struct{}, 1), exited: make(chan struct{})}
}

// SetGroupCommit turns group commit on (the default) or off. Off, every
// WriteTx takes the writer connection for a transaction of its own, as
// before group commit; it is there to compare the two.
func (db *DB) SetGroupCommit(on bool) { db.gw.disabled.Store(!on) }

// writeGrouped queues fn for the writer loop and waits for its outcome.
func (db *DB) writeGrouped(ctx context.Context, fn func(tx *sql.Tx, now time.Time) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	if err := db.gw.enqueue(r); err != nil {
		return err
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return ctx.Err()
		}
		return <-r.done // started: its outcome decides
	}
}

func (g *groupWriter) enqueue(r *writeReq) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return errClosed
	}
	g.queue = append(g.queue, r)
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
	return nil
}

// take waits for queued requests and returns up to maxGroup of them; nil
// once the writer is closed and the queue drained.
func (g *groupWriter) take() []*writeReq {
	for {
		g.mu.Lock()
		if n := min(len(g.queue), maxGroup); n > 0 {
			reqs := g.queue[:n:n]
			g.queue = g.queue[n:]
			if len(g.queue) == 0 {
				g.queue = nil // let the old backing array go
			}
			g.mu.Unlock()
			return reqs
		}
		closed := g.closed
		g.mu.Unlock()
		if closed {
			return nil
		}
		<-g.wake
	}
}

// close stops new requests and waits until the queued ones have run.
func (g *groupWriter) close() {
	g.mu.Lock()
	already := g.closed
	g.closed = true
	g.mu.Unlock()
	if !already {
		select {
		case g.wake <- struct{}{}:
		default:
		}
	}
	<-g.exited
}

// writeLoop runs groups until the writer is closed and drained.
func (db *DB) writeLoop() {
	defer close(db.gw.exited)
	for {
		reqs := db.gw.take()
		if reqs == nil {
			return
		}
		db.runGroup(reqs)
		db.wstmts.preparePending(context.Background())
	}
}

// runGroup runs reqs in one transaction (or more, if one is lost) and
// answers each of them.
func (db *DB) runGroup(reqs []*writeReq) {
	var tx *sql.Tx
	var ok []*writeReq // run, their writes waiting for the commit
	for i, r := range reqs {
		if !r.state.CompareAndSwap(reqQueued, reqTaken) {
			continue // its caller left
		}
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		if tx == nil {
			var err error
			if tx, err = db.write.BeginTx(context.Background(), nil); err != nil {
				r.done <- fmt.Errorf("begin: %w", err)
				continue
			}
		}
		// The first closure of a transaction needs no savepoint: when it
		// fails, the transaction holds nothing else and is rolled back
		// whole. A savepoint would make SQLite copy every page the closure
		// changes to its journal first.
		first := len(ok) == 0
		err, lost := db.runOne(tx, r, first)
		switch {
		case err == nil:
			ok = append(ok, r)
			continue
		case first:
			tx.Rollback()
			r.done <- err
			if i < len(reqs)-1 {
				db.runGroup(reqs[i+1:])
			}
			return
		}
		r.done <- err
		if lost {
			tx.Rollback()
			answer(ok, errGroupRolledBack)
			db.runGroup(reqs[i+1:])
			return
		}
	}
	db.finish(tx, ok)
}

// finish commits tx when any closure's writes are in it and answers them.
func (db *DB) finish(tx *sql.Tx, ok []*writeReq) {
	if tx == nil {
		return
	}
	if len(ok) == 0 {
		tx.Rollback()
		return
	}
	if err := tx.Commit(); err != nil {
		answer(ok, fmt.Errorf("commit: %w", err))
		return
	}
	db.gw.stats.commits.Add(1)
	db.gw.stats.writes.Add(int64(len(ok)))
	answer(ok, nil)
}

func answer(reqs []*writeReq, err error) {
	for _, r := range reqs {
		r.done <- err
	}
}

// runOne runs r's closure in tx, inside a savepoint unless alone (first
// in tx), its statements prepared once (a burst of 1,000 syncs runs
// thousands). It returns the closure's error, and lost when the savepoint
// could not be rolled back or released: the transaction is gone with the
// writes before.
func (db *DB) runOne(tx *sql.Tx, r *writeReq, alone bool) (err error, lost bool) {
	bg := context.Background()
	if !alone {
		if _, err := db.txExec(bg, tx, `SAVEPOINT w`); err != nil {
			return fmt.Errorf("savepoint: %w", err), true
		}
	}
	err = callFn(r.fn, tx, db.Now())
	if alone {
		return err, false
	}
	if err != nil {
		if _, rerr := db.txExec(bg, tx, `ROLLBACK TO w`); rerr != nil {
			return err, true
		}
	}
	if _, rerr := db.txExec(bg, tx, `RELEASE w`); rerr != nil {
		return errors.Join(err, fmt.Errorf("release savepoint: %w", rerr)), true
	}
	return err, false
}

// callFn calls the closure, turning a panic into its error.
func callFn(fn func(tx *sql.Tx, now time.Time) error, tx *sql.Tx, now time.Time) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sqlite: write transaction panicked: %v", p)
		}
	}()
	return fn(tx, now)
}
