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
func (db *DB) PendingEvents(ctx context.Context, limit int) ([]events.OutboxEvent, error) {
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

// MarkSent records that the events with these sequence numbers were
// acknowledged by JetStream. Events already marked keep their first sent
// time; unknown sequence numbers are ignored.
func (db *DB) MarkSent(ctx context.Context, seqs []uint64) error {
	if len(seqs) == 0 {
		return nil
	}
	if _, err := db.pool.Exec(ctx, `UPDATE outbox SET sent_at = $1 WHERE seq = ANY($2) AND sent_at IS NULL`,
		ms(db.Now()), seqs); err != nil {
		return fmt.Errorf("mark sent: %w", err)
	}
	return nil
}

// OutboxBacklog returns the number of unsent events and when the oldest of
// them was committed (the zero time when there is none).
func (db *DB) OutboxBacklog(ctx context.Context) (count int64, oldest time.Time, err error) {
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
func (db *DB) PruneSentEvents(ctx context.Context, olderThan time.Time) (int64, error) {
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
