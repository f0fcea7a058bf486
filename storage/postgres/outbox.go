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
	ids := make([]string, len(evs))
	subjects := make([]string, len(evs))
	data := make([][]byte, len(evs))
	for i, ev := range evs {
		ids[i], subjects[i], data[i] = ev.ID, ev.Subject, ev.Data
		if data[i] == nil {
			data[i] = []byte{}
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO outbox (event_id, subject, data, created_at)
		SELECT e.id, e.subject, e.data, $4 FROM unnest($1::text[], $2::text[], $3::bytea[]) WITH ORDINALITY AS e(id, subject, data, n)
		ORDER BY e.n`, ids, subjects, data, ms(now))
	return err
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
