package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
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
	exec := func(query string, args ...any) error {
		r, err := tx.ExecContext(ctx, query, args...)
		if res == nil {
			res = r // the outbox row's insert, the first statement
		}
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
// multi-row inserts of up to eventChunk rows run by exec, and lists them
// in outbox_unsent. It is the one place outbox rows are written: the
// caller has checked every event (checkEvent) and runs exec in its write
// transaction.
//
// What every row of a chunk shares is bound once, as the record rows do
// (recordrows.go): the time always, the subject when the chunk's events
// all have one (a push's changes of one record type), so a chunk of 50
// binds 102 values rather than 200.
func insertEvents(exec func(query string, args ...any) error, evs []events.OutboxEvent, now time.Time) error {
	if len(evs) == 0 {
		return nil
	}
	args := make([]any, 0, 2+3*min(len(evs), eventChunk))
	for start := 0; start < len(evs); start += eventChunk {
		chunk := evs[start:min(start+eventChunk, len(evs))]
		shared := sameSubject(chunk)
		args = args[:0]
		if shared {
			args = append(args, chunk[0].Subject)
		}
		args = append(args, ms(now))
		for _, ev := range chunk {
			data := ev.Data
			if data == nil {
				data = []byte{}
			}
			if shared {
				args = append(args, ev.ID, data)
			} else {
				args = append(args, ev.ID, ev.Subject, data)
			}
		}
		if err := exec(eventStatement(len(chunk), shared), args...); err != nil {
			return err
		}
	}
	// The single writer gave the rows consecutive seqs (AUTOINCREMENT),
	// ending at the outbox's high-water mark.
	return exec(insertUnsent, len(evs))
}

// sameSubject reports whether every event of evs has the first one's subject.
func sameSubject(evs []events.OutboxEvent) bool {
	for _, ev := range evs[1:] {
		if ev.Subject != evs[0].Subject {
			return false
		}
	}
	return true
}

// eventStmts caches the texts of eventStatement: two per chunk size.
var eventStmts [2][eventChunk + 1]atomic.Pointer[string]

// eventStatement returns the INSERT of n outbox rows whose parameters are
// the subject when shared, the time, then each row's event id, subject
// (unless shared) and data, in the events' order.
func eventStatement(n int, sharedSubject bool) string {
	k := 0
	if sharedSubject {
		k = 1
	}
	if q := eventStmts[k][n].Load(); q != nil {
		return *q
	}
	// WHERE true: as in recordStatement, the SELECT's own clause ends it.
	q := `INSERT INTO outbox (event_id, subject, data, created_at) SELECT column1, column2, column3, ? FROM (VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?),", n), ",") + `) WHERE true`
	if sharedSubject {
		q = `INSERT INTO outbox (event_id, subject, data, created_at) SELECT column1, ?, column2, ? FROM (VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?),", n), ",") + `) WHERE true`
	}
	eventStmts[k][n].Store(&q)
	return q
}

const insertUnsent = `INSERT INTO outbox_unsent (seq) SELECT seq FROM outbox
	WHERE seq > (SELECT seq FROM sqlite_sequence WHERE name = 'outbox') - ?`

func checkEvent(ev events.OutboxEvent) error { return checkEventAfter(ev, "") }

// checkEventAfter is checkEvent for an event whose subject may be checked
// already (a non-empty checked): a transaction's events mostly share one,
// and parsing it again for each showed in a push's profile.
func checkEventAfter(ev events.OutboxEvent, checked string) error {
	if ev.ID == "" {
		return errors.New("event id is empty")
	}
	if ev.Subject != checked || checked == "" {
		if _, ok := events.StreamForSubject(ev.Subject); !ok {
			return fmt.Errorf("event %s: subject %q is not a fieldsync change or alert subject", ev.ID, ev.Subject)
		}
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
	rows, err := db.read.QueryContext(ctx, `SELECT o.seq, o.event_id, o.subject, o.data, o.created_at
		FROM outbox_unsent u CROSS JOIN outbox o ON o.seq = u.seq ORDER BY u.seq LIMIT +?`, limit)
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
// where each was stored, all in one transaction, without touching their
// outbox rows: it takes them out of outbox_unsent and records the marks as
// runs in outbox_sent (one row for a relay pass to one stream). Events
// already marked keep their first mark; unknown sequence numbers are
// ignored.
func (db *DB) MarkSent(ctx context.Context, sent []events.Sent) error {
	if len(sent) == 0 {
		return nil
	}
	err := db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
		st := newStmtTx(db, tx)
		taken := make(map[uint64]bool, len(sent))
		for _, r := range seqRanges(sent) {
			if err := takeUnsent(ctx, st, r.first, r.last, taken); err != nil {
				return fmt.Errorf("events %d..%d: %w", r.first, r.last, err)
			}
		}
		for _, run := range events.SentRuns(events.FirstMarks(sent, taken)) {
			first, last := run[0], run[len(run)-1]
			if _, err := st.ExecContext(ctx, `INSERT INTO outbox_sent (first_seq, last_seq, stream, last_stream_seq, sent_at)
				VALUES (?, ?, ?, ?, ?)`, first.Seq, last.Seq, first.Stream, int64(last.StreamSeq), ms(now)); err != nil {
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

// takeUnsent deletes the events first..last from outbox_unsent and adds
// the seqs it deleted to taken.
func takeUnsent(ctx context.Context, st *stmtTx, first, last uint64, taken map[uint64]bool) error {
	rows, err := st.QueryContext(ctx, `DELETE FROM outbox_unsent WHERE seq BETWEEN ? AND ? RETURNING seq`, first, last)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var seq uint64
		if err := rows.Scan(&seq); err != nil {
			return err
		}
		taken[seq] = true
	}
	return rows.Err()
}

// seqRange is the outbox sequences first..last.
type seqRange struct{ first, last uint64 }

// seqRanges returns the runs of consecutive outbox sequences in sent, in
// its order (a relay's pass is one range).
func seqRanges(sent []events.Sent) []seqRange {
	var rs []seqRange
	for i, s := range sent {
		if n := len(rs); n > 0 && i > 0 && s.Seq == sent[i-1].Seq+1 && rs[n-1].last == sent[i-1].Seq {
			rs[n-1].last = s.Seq
			continue
		}
		rs = append(rs, seqRange{s.Seq, s.Seq})
	}
	return rs
}

// LastSent returns the highest stream sequence MarkSent recorded for an
// event of stream still in the outbox, 0 when there is none.
func (db *DB) LastSent(ctx context.Context, stream string) (uint64, error) {
	var last int64
	err := db.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(last_stream_seq), 0) FROM outbox_sent WHERE stream = ?`, stream).Scan(&last)
	if err != nil {
		return 0, fmt.Errorf("last sent of %s: %w", stream, err)
	}
	return uint64(last), nil
}

// Resend makes the events of stream recorded above stream sequence after
// unsent again, and returns how many: each run recorded past after is cut
// there (or deleted when it begins past it) and the events cut off go back
// to outbox_unsent.
func (db *DB) Resend(ctx context.Context, stream string, after uint64) (int64, error) {
	var n int64
	err := db.WriteTx(ctx, func(tx *sql.Tx, _ time.Time) error {
		runs, err := runsPast(ctx, tx, stream, after)
		if err != nil {
			return err
		}
		for _, r := range runs {
			keep := r.keep(after) // the run's events stored at or below after
			if keep == 0 {
				_, err = tx.ExecContext(ctx, `DELETE FROM outbox_sent WHERE first_seq = ?`, r.first)
			} else {
				_, err = tx.ExecContext(ctx, `UPDATE outbox_sent SET last_seq = ?, last_stream_seq = ? WHERE first_seq = ?`,
					r.first+keep-1, int64(after), r.first)
			}
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO outbox_unsent (seq) SELECT seq FROM outbox WHERE seq BETWEEN ? AND ?`,
				r.first+keep, r.last)
			if err != nil {
				return err
			}
			m, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += m
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("resend %s after %d: %w", stream, after, err)
	}
	return n, nil
}

// sentMarks is one run of outbox_sent: events first..last stored in a
// stream up to lastStreamSeq.
type sentMarks struct{ first, last, lastStreamSeq uint64 }

// keep returns how many of the run's events were stored at or below
// stream sequence after.
func (r sentMarks) keep(after uint64) uint64 {
	n := r.last - r.first + 1
	firstStreamSeq := r.lastStreamSeq - (n - 1)
	if after < firstStreamSeq {
		return 0
	}
	return min(after-firstStreamSeq+1, n)
}

// runsPast reads the runs of stream recorded past stream sequence after.
func runsPast(ctx context.Context, tx *sql.Tx, stream string, after uint64) ([]sentMarks, error) {
	rows, err := tx.QueryContext(ctx, `SELECT first_seq, last_seq, last_stream_seq FROM outbox_sent
		WHERE stream = ? AND last_stream_seq > ?`, stream, int64(after))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var runs []sentMarks
	for rows.Next() {
		var r sentMarks
		if err := rows.Scan(&r.first, &r.last, &r.lastStreamSeq); err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return runs, rows.Err()
}

// OutboxBacklog returns the number of unsent events and when the oldest of
// them was committed (the zero time when there is none).
func (db *DB) OutboxBacklog(ctx context.Context) (count int64, oldest time.Time, err error) {
	var created sql.NullInt64
	err = db.read.QueryRowContext(ctx, `SELECT COUNT(*),
	  (SELECT o.created_at FROM outbox_unsent u CROSS JOIN outbox o ON o.seq = u.seq ORDER BY u.seq LIMIT 1)
	  FROM outbox_unsent`).Scan(&count, &created)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("outbox backlog: %w", err)
	}
	return count, nullMS(created), nil
}

// PruneSentEvents deletes events that were marked sent before olderThan and
// returns how many it deleted. Unsent events are never deleted. It works in
// transactions of about pruneChunk rows (whole runs) so that writers are
// not held up.
func (db *DB) PruneSentEvents(ctx context.Context, olderThan time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		var more bool
		err := db.WriteTx(ctx, func(tx *sql.Tx, _ time.Time) (err error) {
			n, more, err = pruneRuns(ctx, tx, olderThan)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("prune sent events: %w", err)
		}
		total += n
		if !more {
			return total, nil
		}
	}
}

// pruneRuns deletes the oldest runs sent before olderThan and their
// events, until about pruneChunk events are deleted, and reports whether
// more may be left.
func pruneRuns(ctx context.Context, tx *sql.Tx, olderThan time.Time) (n int64, more bool, err error) {
	rows, err := tx.QueryContext(ctx, `SELECT first_seq, last_seq FROM outbox_sent WHERE sent_at < ? ORDER BY sent_at LIMIT +?`,
		olderThan.UnixMilli(), pruneChunk)
	if err != nil {
		return 0, false, err
	}
	var runs []seqRange
	var events uint64
	for rows.Next() && events < pruneChunk {
		var r seqRange
		if err := rows.Scan(&r.first, &r.last); err != nil {
			rows.Close()
			return 0, false, err
		}
		runs, events = append(runs, r), events+r.last-r.first+1
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, false, err
	}
	for _, r := range runs {
		res, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE seq BETWEEN ? AND ?`, r.first, r.last)
		if err != nil {
			return n, false, err
		}
		m, err := res.RowsAffected()
		if err != nil {
			return n, false, err
		}
		n += m
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox_sent WHERE first_seq = ?`, r.first); err != nil {
			return n, false, err
		}
	}
	return n, events >= pruneChunk, nil
}
