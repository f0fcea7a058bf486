package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pipeline is a write transaction on one connection that sends its
// statements in as few round trips as it can: a statement whose result
// the transaction does not need (an insert, an update) is queued, and the
// queue goes to the server, in order and in one round trip (a pgx.Batch,
// pipelined), with the next statement whose result it needs, or with the
// COMMIT. BEGIN goes with the first round trip. So a push of 100
// mutations costs three round trips (its seq; its tenant's lock and its
// records; its writes and the commit), not one per statement.
//
// A statement that reads sees every statement queued before it, since the
// queue is sent first in the same pipeline. An error of a queued statement
// shows at the round trip that sends it: the server skips the rest of the
// pipeline, and the transaction rolls back.
type pipeline struct {
	ctx    context.Context
	conn   *pgx.Conn
	batch  *pgx.Batch // statements queued for the next round trip
	begun  bool       // BEGIN was queued (it goes with the first round trip)
	closed bool       // COMMIT went through, or the transaction was rolled back
	// buffered, when set, queues the rows the transaction holds back to
	// write many in one statement: it runs before a statement that reads
	// and before the COMMIT.
	buffered func()
}

// flushBuffered queues the rows held back (buffered).
func (p *pipeline) flushBuffered() {
	if p.buffered != nil {
		p.buffered()
	}
}

// pending is the queue of the next round trip, which begins the
// transaction when it is the first.
func (p *pipeline) pending() *pgx.Batch {
	if p.batch == nil {
		p.batch = &pgx.Batch{}
		if !p.begun {
			p.batch.Queue("BEGIN")
			p.begun = true
		}
	}
	return p.batch
}

// queue adds a statement whose result the transaction does not need;
// what names it in an error.
func (p *pipeline) queue(what, sql string, args ...any) {
	p.pending().Queue(sql, args...).Exec(func(pgconn.CommandTag) error { return nil })
	if what != "" {
		p.label(what)
	}
}

// exec queues a statement (queue), for code written as if it ran it: the
// error of the statement shows at the next round trip.
func (p *pipeline) exec(sql string, args ...any) error {
	p.queue("", sql, args...)
	return nil
}

// label makes the error of the last queued statement say what it was.
func (p *pipeline) label(what string) {
	q := p.batch.QueuedQueries[len(p.batch.QueuedQueries)-1]
	fn := q.Fn
	q.Fn = func(br pgx.BatchResults) error {
		if err := fn(br); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
}

// send sends the queued statements in one round trip.
func (p *pipeline) send() error {
	if p.batch == nil {
		return nil
	}
	b := p.batch
	p.batch = nil
	return p.conn.SendBatch(p.ctx, b).Close()
}

// row is sql's row: its Scan sends the queue and sql in one round trip.
func (p *pipeline) row(sql string, args ...any) pgx.Row {
	return pipelineRow{p: p, sql: sql, args: args}
}

type pipelineRow struct {
	p    *pipeline
	sql  string
	args []any
}

func (r pipelineRow) Scan(dest ...any) error {
	return r.p.scanRow(func(row pgx.Row) error { return row.Scan(dest...) }, r.sql, r.args...)
}

// scanRow sends the queue and sql in one round trip; scan reads sql's
// row, and its pgx.ErrNoRows is returned as is.
func (p *pipeline) scanRow(scan func(pgx.Row) error, sql string, args ...any) error {
	var scanErr error
	p.flushBuffered()
	p.pending().Queue(sql, args...).QueryRow(func(row pgx.Row) error {
		scanErr = scan(row)
		if noRows(scanErr) {
			return nil // not an error of the batch: pgx would forget its prepared statements
		}
		return scanErr
	})
	if err := p.send(); err != nil {
		return err
	}
	return scanErr
}

// query sends the queue and sql in one round trip, and calls each for
// every row of sql.
func (p *pipeline) query(each func(pgx.Rows) error, sql string, args ...any) error {
	p.flushBuffered()
	p.pending().Queue(sql, args...).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			if err := each(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	return p.send()
}

// sync sends the queue and returns the connection, inside the begun
// transaction, for a statement run on its own.
func (p *pipeline) sync() (*pgx.Conn, error) {
	p.flushBuffered()
	p.pending()
	if err := p.send(); err != nil {
		return nil, err
	}
	return p.conn, nil
}

// commit sends the queue and the COMMIT in one round trip.
func (p *pipeline) commit() error {
	p.flushBuffered()
	if !p.begun {
		p.closed = true
		return p.send() // nothing was queued: nothing to commit
	}
	var tag pgconn.CommandTag
	p.pending().Queue("COMMIT").Exec(func(ct pgconn.CommandTag) error { tag = ct; return nil })
	if err := p.send(); err != nil {
		return err
	}
	p.closed = true
	if tag.String() != "COMMIT" {
		return errors.New("commit: the transaction was rolled back")
	}
	return nil
}

// rollback ends a transaction that did not commit. A connection left in
// a transaction is closed by the pool on release instead.
func (p *pipeline) rollback() {
	if !p.begun || p.closed {
		return
	}
	p.closed = true
	p.batch = nil
	_, _ = p.conn.Exec(context.WithoutCancel(p.ctx), "ROLLBACK")
}
