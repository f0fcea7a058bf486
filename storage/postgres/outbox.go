package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fieldsync/fieldsync/events"
)

// insertEvents writes evs to the outbox in their order, dated now, in one
// statement: the caller has checked every event (checkEvent) and runs it
// in its write transaction.
func insertEvents(ctx context.Context, tx pgx.Tx, evs []events.OutboxEvent, now time.Time) error {
	if len(evs) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, insertEventsSQL, eventArrays(evs, now)...)
	return err
}

const insertEventsSQL = `INSERT INTO outbox (event_id, subject, data, created_at)
	SELECT e.id, e.subject, e.data, $4 FROM unnest($1::text[], $2::text[], $3::bytea[]) WITH ORDINALITY AS e(id, subject, data, n)
	ORDER BY e.n`

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

// pruneChunk is the most rows one PruneSentEvents statement deletes.
const pruneChunk = 1000

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
	rows, err := db.pool.Query(ctx,
		`SELECT seq, event_id, subject, data, created_at FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT $1`, limit)
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
// where each was stored, in one statement. Events already marked keep
// their first mark; unknown sequence numbers are ignored.
func (db *DB) MarkSent(ctx context.Context, sent []events.Sent) (err error) {
	defer classify(&err)
	if len(sent) == 0 {
		return nil
	}
	seqs := make([]int64, len(sent))
	streams := make([]string, len(sent))
	streamSeqs := make([]int64, len(sent))
	for i, s := range sent {
		seqs[i], streams[i], streamSeqs[i] = int64(s.Seq), s.Stream, int64(s.StreamSeq)
	}
	if _, err := db.pool.Exec(ctx, `UPDATE outbox o SET sent_at = $1, stream = s.stream, stream_seq = s.stream_seq
		FROM unnest($2::bigint[], $3::text[], $4::bigint[]) AS s(seq, stream, stream_seq)
		WHERE o.seq = s.seq AND o.sent_at IS NULL`,
		ms(db.Now()), seqs, streams, streamSeqs); err != nil {
		return fmt.Errorf("mark sent: %w", err)
	}
	return nil
}

// LastSent returns the highest stream sequence MarkSent recorded for an
// event of stream still in the outbox, 0 when there is none.
func (db *DB) LastSent(ctx context.Context, stream string) (_ uint64, err error) {
	defer classify(&err)
	var last int64
	if err := db.pool.QueryRow(ctx, `SELECT COALESCE(MAX(stream_seq), 0) FROM outbox
		WHERE stream = $1 AND stream_seq IS NOT NULL`, stream).Scan(&last); err != nil {
		return 0, fmt.Errorf("last sent of %s: %w", stream, err)
	}
	return uint64(last), nil
}

// Resend makes the events of stream recorded above stream sequence after
// unsent again, and returns how many.
func (db *DB) Resend(ctx context.Context, stream string, after uint64) (_ int64, err error) {
	defer classify(&err)
	tag, err := db.pool.Exec(ctx, `UPDATE outbox SET sent_at = NULL, stream = NULL, stream_seq = NULL
		WHERE stream = $1 AND stream_seq IS NOT NULL AND stream_seq > $2`, stream, int64(after))
	if err != nil {
		return 0, fmt.Errorf("resend %s after %d: %w", stream, after, err)
	}
	return tag.RowsAffected(), nil
}

// OutboxBacklog returns the number of unsent events and when the oldest of
// them was committed (the zero time when there is none).
func (db *DB) OutboxBacklog(ctx context.Context) (count int64, oldest time.Time, err error) {
	defer classify(&err)
	var created *int64
	err = db.pool.QueryRow(ctx, `SELECT COUNT(*),
	  (SELECT created_at FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT 1)
	  FROM outbox WHERE sent_at IS NULL`).Scan(&count, &created)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("outbox backlog: %w", err)
	}
	if created == nil {
		return count, time.Time{}, nil
	}
	return count, fromMS(*created), nil
}

// PruneSentEvents deletes events that were marked sent before olderThan
// and returns how many it deleted, at most pruneChunk rows a statement.
// Unsent events are never deleted.
func (db *DB) PruneSentEvents(ctx context.Context, olderThan time.Time) (_ int64, err error) {
	defer classify(&err)
	var total int64
	for {
		tag, err := db.pool.Exec(ctx, `DELETE FROM outbox WHERE seq IN
		  (SELECT seq FROM outbox WHERE sent_at IS NOT NULL AND sent_at < $1 LIMIT $2)`, olderThan.UnixMilli(), pruneChunk)
		if err != nil {
			return total, fmt.Errorf("prune sent events: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneChunk {
			return total, nil
		}
	}
}
