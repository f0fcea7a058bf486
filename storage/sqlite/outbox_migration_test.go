package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/events"
)

// TestOutboxSentRunsMigration upgrades an outbox that main's schema left:
// events sent before 0014 (no stream recorded), events sent to either
// stream, unsent ones among them. After migration 0021 the unsent are
// pending in order, the sent are not, LastSent and Resend read the marks
// the rows held, and pruning deletes the old sent events only.
func TestOutboxSentRunsMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fs.db")
	raw := openBefore(t, path, "_outbox_sent_runs.sql")
	changes := events.ChangeSubject("T", "x.A")
	for _, r := range []struct {
		seq    int
		sentAt any // unix ms or nil
		stream any
		at     any
	}{
		{1, 1000, nil, nil}, // sent before 0014
		{2, 1000, events.ChangesStream, 7},
		{3, nil, nil, nil},
		{4, 2000, events.ChangesStream, 8},
		{5, 2000, events.AlertsStream, 3},
		{6, 9000, events.ChangesStream, 9},
		{7, nil, nil, nil},
	} {
		mustExec(t, raw, `INSERT INTO outbox (seq, event_id, subject, data, created_at, sent_at, stream, stream_seq)
			VALUES (?, ?, ?, x'00', ?, ?, ?, ?)`, r.seq, "ev-"+string(rune('0'+r.seq)), changes, 500+r.seq, r.sentAt, r.stream, r.at)
	}
	raw.Close()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pendingSeqs := func() []uint64 {
		t.Helper()
		evs, err := db.PendingEvents(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []uint64
		for _, ev := range evs {
			seqs = append(seqs, ev.Seq)
		}
		return seqs
	}
	if got := pendingSeqs(); !slices.Equal(got, []uint64{3, 7}) {
		t.Fatalf("pending after migration: %v, want [3 7]", got)
	}
	if n, oldest, err := db.OutboxBacklog(ctx); err != nil || n != 2 || !oldest.Equal(time.UnixMilli(503).UTC()) {
		t.Fatalf("backlog %d oldest %v (%v), want 2 at 503 ms", n, oldest, err)
	}
	for stream, want := range map[string]uint64{events.ChangesStream: 9, events.AlertsStream: 3} {
		if got, err := db.LastSent(ctx, stream); err != nil || got != want {
			t.Fatalf("LastSent(%s) = %d (%v), want %d", stream, got, err, want)
		}
	}
	if n, err := db.Resend(ctx, events.ChangesStream, 7); err != nil || n != 2 {
		t.Fatalf("Resend(changes, 7) = %d (%v), want events 4 and 6", n, err)
	}
	if got := pendingSeqs(); !slices.Equal(got, []uint64{3, 4, 6, 7}) {
		t.Fatalf("pending after Resend: %v, want [3 4 6 7]", got)
	}
	// Events 1, 2 and 5 were sent before 3 s; 4 and 6 are unsent again.
	if n, err := db.PruneSentEvents(ctx, time.UnixMilli(3000)); err != nil || n != 3 {
		t.Fatalf("pruned %d (%v), want 3", n, err)
	}
	if got := pendingSeqs(); !slices.Equal(got, []uint64{3, 4, 6, 7}) {
		t.Fatalf("pending after pruning: %v, want [3 4 6 7]", got)
	}
	if got, err := db.LastSent(ctx, events.AlertsStream); err != nil || got != 0 {
		t.Fatalf("LastSent(alerts) after pruning its event = %d (%v), want 0", got, err)
	}
	// New events come after the old ones and are pending too.
	err = db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
		_, err := AppendEvent(ctx, tx, events.OutboxEvent{ID: "ev-new", Subject: changes}, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := pendingSeqs(); !slices.Equal(got, []uint64{3, 4, 6, 7, 8}) {
		t.Fatalf("pending after an append: %v, want [3 4 6 7 8]", got)
	}
}
