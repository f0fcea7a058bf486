package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fieldsync/fieldsync/events"
)

// insertEvents writes evs to the outbox in their order, dated now, and
// lists them in outbox_unsent, in one statement: the caller has checked every event (checkEvent) and runs it
// in its write transaction.
func insertEvents(ctx context.Context, tx pgx.Tx, evs []events.OutboxEvent, now time.Time) error {
	if len(evs) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, insertEventsSQL, eventArrays(evs, now)...)
	return err
}

const insertEventsSQL = `WITH ins AS (INSERT INTO outbox (event_id, subject, data, created_at)
	SELECT e.id, e.subject, e.data, $4 FROM unnest($1::text[], $2::text[], $3::bytea[]) WITH ORDINALITY AS e(id, subject, data, n)
	ORDER BY e.n RETURNING seq)
	INSERT INTO outbox_unsent (seq) SELECT seq FROM ins`

// eventArrays are the parameters of insertEventsSQL.
func eventArrays(evs []events.OutboxEvent, now time.Time) []any {
	ids := make([]string, len(evs))
	subjects := make([]string, len(evs))
	data := make([][]byte, len(evs))
	for i, ev := range evs {
		ids[i], subjects[i], data[i] = ev.ID, ev.Subject, ev.Data
		if data[i] == nil {
			data[i] = []byte{}
		}
	}
	return []any{ids, subjects, data, ms(now)}
}

// queueEvents is insertEvents as one statement of a pipelined transaction.
func queueEvents(p *pipeline, evs []events.OutboxEvent, now time.Time) {
	if len(evs) == 0 {
		return
	}
	p.queue("append events", insertEventsSQL, eventArrays(evs, now)...)
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

var (
	_ events.Outbox          = (*DB)(nil)
	_ events.BacklogReporter = (*DB)(nil)
)

// PendingEvents returns up to limit unsent committed events, lowest seq
// first. With several writers a seq is not quite commit order: an event
// whose transaction commits late shows up after higher seqs were read, and
// is read then (the relay reads unsent rows, not after a cursor). Within a
// tenant it is commit order: a transaction inserts its events while it
// holds the tenant's counter row (records.go).
func (db *DB) PendingEvents(ctx context.Context, limit int) (_ []events.OutboxEvent, err error) {
	defer classify(&err)
	if limit <= 0 {
		return nil, fmt.Errorf("pending events: limit %d must be positive", limit)
	}
	// Each unsent seq looks its row up (the LIMIT 1 keeps the planner from
	// flattening the lateral subquery into a join): a generic plan made
	// while the tables were small would otherwise merge or hash with the
	// whole outbox, a week of sent rows, at every pass.
	rows, err := db.pool.Query(ctx, `SELECT u.seq, o.event_id, o.subject, o.data, o.created_at
		FROM (SELECT seq FROM outbox_unsent ORDER BY seq LIMIT $1) u
		CROSS JOIN LATERAL (SELECT event_id, subject, data, created_at FROM outbox WHERE outbox.seq = u.seq LIMIT 1) o
		ORDER BY u.seq`, limit)
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
// where each was stored, in one transaction, without touching their
// outbox rows: it takes them out of outbox_unsent and records the marks as
// runs in outbox_sent. Events already marked keep their first mark;
// unknown sequence numbers are ignored.
func (db *DB) MarkSent(ctx context.Context, sent []events.Sent) (err error) {
	defer classify(&err)
	if len(sent) == 0 {
		return nil
	}
	seqs := make([]int64, len(sent))
	for i, s := range sent {
		seqs[i] = int64(s.Seq)
	}
	err = db.writeTx(ctx, func(tx pgx.Tx, now time.Time) error {
		rows, err := tx.Query(ctx, `DELETE FROM outbox_unsent WHERE seq = ANY($1) RETURNING seq`, seqs)
		if err != nil {
			return err
		}
		taken := make(map[uint64]bool, len(sent))
		for rows.Next() {
			var seq int64
			if err := rows.Scan(&seq); err != nil {
				return err
			}
			taken[uint64(seq)] = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		runs := events.SentRuns(events.FirstMarks(sent, taken))
		if len(runs) == 0 {
			return nil
		}
		var firsts, lasts, lastStreamSeqs []int64
		var streams []string
		for _, run := range runs {
			first, last := run[0], run[len(run)-1]
			firsts, lasts = append(firsts, int64(first.Seq)), append(lasts, int64(last.Seq))
			streams, lastStreamSeqs = append(streams, first.Stream), append(lastStreamSeqs, int64(last.StreamSeq))
		}
		_, err = tx.Exec(ctx, `INSERT INTO outbox_sent (first_seq, last_seq, stream, last_stream_seq, sent_at)
			SELECT r.first_seq, r.last_seq, r.stream, r.last_stream_seq, $5
			FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[]) AS r(first_seq, last_seq, stream, last_stream_seq)`,
			firsts, lasts, streams, lastStreamSeqs, ms(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("mark sent: %w", err)
	}
	return nil
}

// LastSent returns the highest stream sequence MarkSent recorded for an
// event of stream still in the outbox, 0 when there is none.
func (db *DB) LastSent(ctx context.Context, stream string) (_ uint64, err error) {
	defer classify(&err)
	var last int64
	if err := db.pool.QueryRow(ctx, `SELECT COALESCE(MAX(last_stream_seq), 0) FROM outbox_sent WHERE stream = $1`,
		stream).Scan(&last); err != nil {
		return 0, fmt.Errorf("last sent of %s: %w", stream, err)
	}
	return uint64(last), nil
}

// Resend makes the events of stream recorded above stream sequence after
// unsent again, and returns how many: each run recorded past after is cut
// there (or deleted when it begins past it) and the events cut off go back
// to outbox_unsent.
func (db *DB) Resend(ctx context.Context, stream string, after uint64) (_ int64, err error) {
	defer classify(&err)
	var n int64
	err = db.writeTx(ctx, func(tx pgx.Tx, _ time.Time) error {
		rows, err := tx.Query(ctx, `SELECT first_seq, last_seq, last_stream_seq FROM outbox_sent
			WHERE stream = $1 AND last_stream_seq > $2 FOR UPDATE`, stream, int64(after))
		if err != nil {
			return err
		}
		runs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (r [3]int64, err error) {
			err = row.Scan(&r[0], &r[1], &r[2])
			return r, err
		})
		if err != nil {
			return err
		}
		for _, r := range runs {
			first, last, lastStreamSeq := r[0], r[1], r[2]
			keep := min(max(int64(after)-(lastStreamSeq-(last-first))+1, 0), last-first+1)
			if keep == 0 {
				_, err = tx.Exec(ctx, `DELETE FROM outbox_sent WHERE first_seq = $1`, first)
			} else {
				_, err = tx.Exec(ctx, `UPDATE outbox_sent SET last_seq = $2, last_stream_seq = $3 WHERE first_seq = $1`,
					first, first+keep-1, int64(after))
			}
			if err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `INSERT INTO outbox_unsent (seq) SELECT seq FROM outbox WHERE seq BETWEEN $1 AND $2`,
				first+keep, last)
			if err != nil {
				return err
			}
			n += tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("resend %s after %d: %w", stream, after, err)
	}
	return n, nil
}

// OutboxBacklog returns the number of unsent events and when the oldest of
// them was committed (the zero time when there is none).
func (db *DB) OutboxBacklog(ctx context.Context) (count int64, oldest time.Time, err error) {
	defer classify(&err)
	var created *int64
	err = db.pool.QueryRow(ctx, `SELECT COUNT(*),
	  (SELECT created_at FROM outbox WHERE seq = (SELECT MIN(seq) FROM outbox_unsent))
	  FROM outbox_unsent`).Scan(&count, &created)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("outbox backlog: %w", err)
	}
	if created == nil {
		return count, time.Time{}, nil
	}
	return count, fromMS(*created), nil
}

// pruneRuns is the most runs of sent events one PruneSentEvents statement
// deletes (a run is up to a relay batch of events).
const pruneRuns = 100

// PruneSentEvents deletes events that were marked sent before olderThan
// and returns how many it deleted, the events of at most pruneRuns runs a
// statement. Unsent events are never deleted.
func (db *DB) PruneSentEvents(ctx context.Context, olderThan time.Time) (_ int64, err error) {
	defer classify(&err)
	var total int64
	for {
		var runs, n int64
		err := db.pool.QueryRow(ctx, `WITH r AS (DELETE FROM outbox_sent WHERE first_seq IN
		    (SELECT first_seq FROM outbox_sent WHERE sent_at < $1 ORDER BY sent_at LIMIT $2)
		    RETURNING first_seq, last_seq),
		  d AS (DELETE FROM outbox o USING r WHERE o.seq BETWEEN r.first_seq AND r.last_seq RETURNING 1)
		  SELECT (SELECT COUNT(*) FROM r), (SELECT COUNT(*) FROM d)`, olderThan.UnixMilli(), pruneRuns).Scan(&runs, &n)
		if err != nil {
			return total, fmt.Errorf("prune sent events: %w", err)
		}
		total += n
		if runs < pruneRuns {
			return total, nil
		}
	}
}
