package sqlite

import (
	"context"
	"database/sql"
	"sync/atomic"
	"time"
)

// The WAL is copied back into the database file by a connection of its
// own, beside the single writer, instead of by the commit that crosses
// SQLite's threshold (1,000 pages): on the writer that checkpoint, and
// its fsync of the database file, is time every queued write waits for
// (about a tenth of the writer's time per visit in BENCHMARKS.md). The
// writer still checkpoints by itself past writerAutoCheckpoint pages, a
// bound on the WAL should the checkpointer fall behind.
const (
	// checkpointEvery is the least time between two checkpoints: about
	// what SQLite's threshold gives at a few thousand pages a second.
	checkpointEvery = 250 * time.Millisecond
	// writerAutoCheckpoint is the writer's own threshold, in pages (64 MiB
	// of 4 KiB pages).
	writerAutoCheckpoint = 16384
)

// checkpointer runs PRAGMA wal_checkpoint(PASSIVE) on its connection
// after writes, at most every checkpointEvery. A passive checkpoint
// neither waits for nor blocks the writer or readers; it copies what no
// reader still needs, and the writer starts the WAL over once all of it
// has been copied.
type checkpointer struct {
	conn  *sql.DB
	every time.Duration
	kick  chan struct{}
	stop  chan struct{}
	done  chan struct{}
	runs  atomic.Int64 // checkpoints that copied frames (tests)
}

func startCheckpointer(path string) (*checkpointer, error) {
	conn, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, err
	}
	conn.SetMaxOpenConns(1)
	conn.SetMaxIdleConns(1)
	conn.SetConnMaxLifetime(0)
	c := &checkpointer{conn: conn, every: checkpointEvery, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c, nil
}

// poke asks for a checkpoint after a commit; it never blocks.
func (c *checkpointer) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		var busy, logged, copied int64
		err := c.conn.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logged, &copied)
		if err == nil && copied > 0 {
			c.runs.Add(1)
		}
		// An error (the database busy past the timeout, say) is left to
		// the next poke and to the writer's own threshold.
		select {
		case <-c.stop:
			return
		case <-time.After(c.every):
		}
	}
}

// close stops the checkpointer; the writer's close checkpoints what is left.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.conn.Close()
}
