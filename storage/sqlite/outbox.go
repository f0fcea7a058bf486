package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/events"
)

// pruneChunk is the most rows one PruneSentEvents transaction deletes, so
// pruning never holds the writer for long.
const pruneChunk = 1000

// AppendEvent adds ev to the outbox inside tx, the caller's write
// transaction, so the event exists exactly when the change it reports is
// committed. now (the transaction's clock) becomes the event's CreatedAt;
// ev.Seq and ev.CreatedAt are ignored. It returns the event's sequence
// number, its position in commit order.
//
// It refuses an event without ID, with a subject that is not a fieldsync
// change or alert subject (see events.StreamForSubject), or with more than
// events.MaxEventSize bytes of data, because the relay could never publish
// it and it would hold back every later event. An ID already in the outbox
// is an error too.
func AppendEvent(ctx context.Context, tx *sql.Tx, ev events.OutboxEvent, now time.Time) (seq uint64, err error) {
	if err := checkEvent(ev); err != nil {
		return 0, fmt.Errorf("append event: %w", err)
	}
	var res sql.Result
	exec := func(query string, args ...any) (err error) {
		res, err = tx.ExecContext(ctx, query, args...)
		return err
	}
	if err := insertEvents(exec, []events.OutboxEvent{ev}, now); err != nil {
		return 0, fmt.Errorf("append event %s: %w", ev.ID, err)
	}
	id, err := res.LastInsertId() // the row's seq, its rowid
	if err != nil {
		return 0, fmt.Errorf("append event %s: %w", ev.ID, err)
	}
	return uint64(id), nil
}

// eventChunk is how many events one INSERT carries.
const eventChunk = 50

// insertEvents writes evs to the outbox in their order, dated now, with
// multi-row inserts of up to eventChunk rows run by exec. It is the one
// place outbox rows are written: the caller has checked every event
// (checkEvent) and runs exec in its write transaction.
func insertEvents(exec func(query string, args ...any) error, evs []events.OutboxEvent, now time.Time) error {
	for start := 0; start < len(evs); start += eventChunk {
		chunk := evs[start:min(start+eventChunk, len(evs))]
		args := make([]any, 0, 4*len(chunk))
		for _, ev := range chunk {
			data := ev.Data
			if data == nil {
				data = []byte{}
			}
			args = append(args, ev.ID, ev.Subject, data, ms(now))
		}
		q := `INSERT INTO outbox (event_id, subject, data, created_at) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?),", len(chunk)), ",")
		if err := exec(q, args...); err != nil {
			return err
		}
	}
	return nil
}

func checkEvent(ev events.OutboxEvent) error {
	if ev.ID == "" {
		return errors.New("event id is empty")
	}
	if _, ok := events.StreamForSubject(ev.Subject); !ok {
		return fmt.Errorf("event %s: subject %q is not a fieldsync change or alert subject", ev.ID, ev.Subject)
	}
	if len(ev.Data) > events.MaxEventSize {
		return fmt.Errorf("event %s: %d bytes of data, more than %d", ev.ID, len(ev.Data), events.MaxEventSize)
	}
	return nil
}

// PendingEvents returns up to limit unsent events, oldest first (in commit
// order). It reads through the read pool, so it sees committed events only.
func (db *DB) PendingEvents(ctx context.Context, limit int) ([]events.OutboxEvent, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("pending events: limit %d must be positive", limit)
	}
	rows, err := db.read.QueryContext(ctx,
		`SELECT seq, event_id, subject, data, created_at FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("pending events: %w", err)
	}
	defer rows.Close()
	var evs []events.OutboxEvent
	for rows.Next() {
		var ev events.OutboxEvent
		var created int64
		if err := rows.Scan(&ev.Seq, &ev.ID, &ev.Subject, &ev.Data, &created); err != nil {
			return nil, fmt.Errorf("pending events: %w", err)
		}
		ev.CreatedAt = fromMS(created)
		evs = append(evs, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending events: %w", err)
	}
	return evs, nil
}

// MarkSent records that these events were acknowledged by JetStream and
// where each was stored, all in one transaction. Events already marked
// keep their first mark; unknown sequence numbers are ignored.
func (db *DB) MarkSent(ctx context.Context, sent []events.Sent) error {
	if len(sent) == 0 {
		return nil
	}
	err := db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
		st := newStmtTx(db, tx)
		for _, r := range sentRuns(sent) {
			first, last := sent[r.from], sent[r.to-1]
			if _, err := st.ExecContext(ctx, `UPDATE outbox SET sent_at = ?, stream = ?, stream_seq = ? + (seq - ?)
				WHERE seq BETWEEN ? AND ? AND sent_at IS NULL`,
				ms(now), first.Stream, int64(first.StreamSeq), first.Seq, first.Seq, last.Seq); err != nil {
				return fmt.Errorf("events %d..%d: %w", first.Seq, last.Seq, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark sent: %w", err)
	}
	return nil
}

// sentRun is sent[from:to]: consecutive outbox sequences stored in one
// stream at consecutive stream sequences, which one UPDATE marks.
type sentRun struct{ from, to int }

// sentRuns splits sent into runs (a relay's pass is usually one run per
// stream; a duplicate, whose stream sequence is the earlier copy's, starts
// a run of its own).
func sentRuns(sent []events.Sent) []sentRun {
	var runs []sentRun
	for i := range sent {
		if n := len(runs); n > 0 {
			prev := sent[i-1]
			if s := sent[i]; runs[n-1].to == i && s.Stream == prev.Stream && s.Seq == prev.Seq+1 && s.StreamSeq == prev.StreamSeq+1 {
				runs[n-1].to++
				continue
			}
		}
		runs = append(runs, sentRun{from: i, to: i + 1})
	}
	return runs
}

// LastSent returns the highest stream sequence MarkSent recorded for an
// event of stream still in the outbox, 0 when there is none.
func (db *DB) LastSent(ctx context.Context, stream string) (uint64, error) {
	var last int64
	err := db.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(stream_seq), 0) FROM outbox
	  WHERE stream = ? AND stream_seq IS NOT NULL`, stream).Scan(&last)
	if err != nil {
		return 0, fmt.Errorf("last sent of %s: %w", stream, err)
	}
	return uint64(last), nil
}

// Resend makes the events of stream recorded above stream sequence after
// unsent again, and returns how many.
func (db *DB) Resend(ctx context.Context, stream string, after uint64) (int64, error) {
	var n int64
	err := db.WriteTx(ctx, func(tx *sql.Tx, _ time.Time) error {
		res, err := tx.ExecContext(ctx, `UPDATE outbox SET sent_at = NULL, stream = NULL, stream_seq = NULL
		  WHERE stream = ? AND stream_seq IS NOT NULL AND stream_seq > ?`, stream, int64(after))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("resend %s after %d: %w", stream, after, err)
	}
	return n, nil
}

// OutboxBacklog returns the number of unsent events and when the oldest of
// them was committed (the zero time when there is none).
func (db *DB) OutboxBacklog(ctx context.Context) (count int64, oldest time.Time, err error) {
	var created sql.NullInt64
	err = db.read.QueryRowContext(ctx, `SELECT COUNT(*),
	  (SELECT created_at FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT 1)
	  FROM outbox WHERE sent_at IS NULL`).Scan(&count, &created)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("outbox backlog: %w", err)
	}
	return count, nullMS(created), nil
}

// PruneSentEvents deletes events that were marked sent before olderThan and
// returns how many it deleted. Unsent events are never deleted. It works in
// transactions of at most pruneChunk rows so that writers are not held up.
func (db *DB) PruneSentEvents(ctx context.Context, olderThan time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := db.WriteTx(ctx, func(tx *sql.Tx, _ time.Time) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE seq IN
			  (SELECT seq FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ? LIMIT ?)`,
				olderThan.UnixMilli(), pruneChunk)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune sent events: %w", err)
		}
		total += n
		if n < pruneChunk {
			return total, nil
		}
	}
}
