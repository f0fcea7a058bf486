package sqlite_test

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

var (
	_ events.Outbox          = (*sqlite.DB)(nil)
	_ events.BacklogReporter = (*sqlite.DB)(nil)
)

// openOutboxDB opens a fresh database whose clock advances a second per
// transaction, starting at start.
func openOutboxDB(t *testing.T, start time.Time) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "outbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := start
	db.Now = func() time.Time { now = now.Add(time.Second); return now }
	return db
}

func outboxEvent(i int) events.OutboxEvent {
	return events.OutboxEvent{
		ID:      fmt.Sprintf("ev-%04d", i),
		Subject: events.ChangeSubject("tenant1", "fieldsync.v1.Visit"),
		Data:    []byte(fmt.Sprintf("payload %d", i)),
	}
}

// appendOutbox appends events [from, to) in one transaction each.
func appendOutbox(t *testing.T, db *sqlite.DB, from, to int) []uint64 {
	t.Helper()
	var seqs []uint64
	for i := from; i < to; i++ {
		err := db.WriteTx(t.Context(), func(tx *sql.Tx, now time.Time) error {
			seq, err := sqlite.AppendEvent(t.Context(), tx, outboxEvent(i), now)
			seqs = append(seqs, seq)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return seqs
}

// appendOutboxBulk appends events [from, to) in one transaction.
func appendOutboxBulk(t *testing.T, db *sqlite.DB, from, to int) []uint64 {
	t.Helper()
	var seqs []uint64
	err := db.WriteTx(t.Context(), func(tx *sql.Tx, now time.Time) error {
		for i := from; i < to; i++ {
			seq, err := sqlite.AppendEvent(t.Context(), tx, outboxEvent(i), now)
			if err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return seqs
}

func pending(t *testing.T, db *sqlite.DB, limit int) []events.OutboxEvent {
	t.Helper()
	evs, err := db.PendingEvents(t.Context(), limit)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestAppendEventCommitsWithTheTransaction(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	db := openOutboxDB(t, start)
	seqs := appendOutbox(t, db, 0, 1)
	evs := pending(t, db, 10)
	if len(evs) != 1 {
		t.Fatalf("got %d pending events, want 1", len(evs))
	}
	want := outboxEvent(0)
	got := evs[0]
	if got.Seq != seqs[0] || got.ID != want.ID || got.Subject != want.Subject || string(got.Data) != string(want.Data) {
		t.Fatalf("got %+v, want %+v with seq %d", got, want, seqs[0])
	}
	if !got.CreatedAt.Equal(start.Add(time.Second)) {
		t.Fatalf("CreatedAt = %v, want the transaction's clock %v", got.CreatedAt, start.Add(time.Second))
	}
}

func TestAppendEventRolledBackLeavesNoEvent(t *testing.T) {
	t.Parallel()
	db := openOutboxDB(t, time.Now())
	errChange := errors.New("the change failed")
	err := db.WriteTx(t.Context(), func(tx *sql.Tx, now time.Time) error {
		if _, err := sqlite.AppendEvent(t.Context(), tx, outboxEvent(0), now); err != nil {
			return err
		}
		return errChange
	})
	if !errors.Is(err, errChange) {
		t.Fatalf("WriteTx error = %v, want %v", err, errChange)
	}
	if evs := pending(t, db, 10); len(evs) != 0 {
		t.Fatalf("rolled back event is pending: %+v", evs)
	}
	// The ID is free again: the rolled-back row never existed.
	appendOutbox(t, db, 0, 1)
}

func TestAppendEventRefusesUnpublishableEvents(t *testing.T) {
	t.Parallel()
	db := openOutboxDB(t, time.Now())
	appendOutbox(t, db, 0, 1)
	for name, ev := range map[string]events.OutboxEvent{
		"empty id":      {Subject: events.AlertSubject("t", "stockout")},
		"foreign":       {ID: "x1", Subject: "orders.created"},
		"wildcard":      {ID: "x2", Subject: "fieldsync.*.changes.Visit"},
		"too big":       {ID: "x3", Subject: events.AlertSubject("t", "k"), Data: make([]byte, events.MaxEventSize+1)},
		"duplicate id":  outboxEvent(0),
		"empty subject": {ID: "x4"},
	} {
		err := db.WriteTx(t.Context(), func(tx *sql.Tx, now time.Time) error {
			_, err := sqlite.AppendEvent(t.Context(), tx, ev, now)
			return err
		})
		if err == nil {
			t.Errorf("%s: AppendEvent accepted %q", name, ev.Subject)
		}
	}
	if n := len(pending(t, db, 10)); n != 1 {
		t.Fatalf("%d pending events, want only the first", n)
	}
}

func TestPendingEventsOldestFirst(t *testing.T) {
	t.Parallel()
	db := openOutboxDB(t, time.Now())
	seqs := appendOutbox(t, db, 0, 25)
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("seq %d after %d: not increasing", seqs[i], seqs[i-1])
		}
	}
	evs := pending(t, db, 10)
	if len(evs) != 10 {
		t.Fatalf("got %d events, want the limit 10", len(evs))
	}
	for i, ev := range evs {
		if ev.Seq != seqs[i] || ev.ID != outboxEvent(i).ID {
			t.Fatalf("event %d = seq %d id %s, want seq %d id %s", i, ev.Seq, ev.ID, seqs[i], outboxEvent(i).ID)
		}
	}
	if _, err := db.PendingEvents(t.Context(), 0); err == nil {
		t.Fatal("PendingEvents accepted limit 0")
	}
}

func TestMarkSentRemovesFromPending(t *testing.T) {
	t.Parallel()
	db := openOutboxDB(t, time.Now())
	seqs := appendOutbox(t, db, 0, 5)
	if err := db.MarkSent(t.Context(), sentAll(seqs[:3])); err != nil {
		t.Fatal(err)
	}
	// Marking again, and marking unknown or no sequences, is harmless.
	if err := db.MarkSent(t.Context(), sentAll([]uint64{seqs[0], 9999})); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkSent(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	evs := pending(t, db, 10)
	if len(evs) != 2 || evs[0].Seq != seqs[3] || evs[1].Seq != seqs[4] {
		t.Fatalf("pending after marking 3 of 5: %+v", evs)
	}
}

func TestOutboxBacklogCountsUnsent(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	db := openOutboxDB(t, start)
	n, oldest, err := db.OutboxBacklog(t.Context())
	if err != nil || n != 0 || !oldest.IsZero() {
		t.Fatalf("empty outbox: backlog %d oldest %v err %v", n, oldest, err)
	}
	seqs := appendOutbox(t, db, 0, 4) // created at start+1s … start+4s
	if err := db.MarkSent(t.Context(), sentAll(seqs[:1])); err != nil {
		t.Fatal(err)
	}
	n, oldest, err = db.OutboxBacklog(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 || !oldest.Equal(start.Add(2*time.Second)) {
		t.Fatalf("backlog %d oldest %v, want 3 and %v", n, oldest, start.Add(2*time.Second))
	}
}

func TestPruneSentEventsKeepsUnsentAndRecent(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	db := openOutboxDB(t, start)
	seqs := appendOutboxBulk(t, db, 0, 2500) // clock at start+1s
	if err := db.MarkSent(t.Context(), sentAll(seqs[:2100])); err != nil {
		t.Fatal(err) // sent at start+2s
	}
	if err := db.MarkSent(t.Context(), sentAll(seqs[2100:2200])); err != nil {
		t.Fatal(err) // sent at start+3s
	}
	n, err := db.PruneSentEvents(t.Context(), start.Add(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2100 {
		t.Fatalf("pruned %d, want the 2100 sent before the cut-off", n)
	}
	if evs := pending(t, db, 1000); len(evs) != 300 || evs[0].Seq != seqs[2200] {
		t.Fatalf("after prune: %d pending, first %d; want 300 from %d", len(evs), evs[0].Seq, seqs[2200])
	}
	// Seq keeps growing after pruning: commit order is never reused.
	if next := appendOutbox(t, db, 2500, 2501); next[0] <= seqs[len(seqs)-1] {
		t.Fatalf("seq %d reused after prune (last was %d)", next[0], seqs[len(seqs)-1])
	}
}

func TestPendingEventsWalksTheUnsentTable(t *testing.T) {
	t.Parallel()
	db := openOutboxDB(t, time.Now())
	rows, err := db.Reader().QueryContext(t.Context(),
		`EXPLAIN QUERY PLAN SELECT o.seq, o.event_id, o.subject, o.data, o.created_at
		FROM outbox_unsent u CROSS JOIN outbox o ON o.seq = u.seq ORDER BY u.seq LIMIT 10`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	got := strings.Join(plan, "; ")
	if !strings.Contains(got, "SCAN u") || !strings.Contains(got, "SEARCH o USING INTEGER PRIMARY KEY") || strings.Contains(got, "TEMP B-TREE") {
		t.Fatalf("query plan %q does not walk outbox_unsent in order", got)
	}
}

// TestEveryWayIntoTheOutboxWritesTheSameRows appends events through the
// sync engine's transaction (many, in multi-row inserts), the photo
// service's and AppendEvent, and checks that all of them are pending in
// commit order, dated by their transaction's clock, with their data, and
// that every path refuses an unpublishable event.
func TestEveryWayIntoTheOutboxWritesTheSameRows(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	db := openOutboxDB(t, start)
	const engineEvents = 120 // more than one INSERT's worth
	// The first INSERT's events share their subject, the second's do not
	// (bound once or row by row: insertEvents).
	event := func(i int) events.OutboxEvent {
		ev := outboxEvent(i)
		if i >= 70 && i < 73 {
			ev.Subject = events.AlertSubject("tenant1", "stale_device")
		}
		return ev
	}
	err := db.Update(t.Context(), func(tx syncengine.Tx) error {
		for i := range engineEvents {
			if err := tx.AppendEvent(event(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	photoEvent := outboxEvent(engineEvents)
	photoEvent.Data = nil
	if err := db.UpdatePhotos(t.Context(), func(tx photos.Tx) error { return tx.AppendEvent(photoEvent) }); err != nil {
		t.Fatal(err)
	}
	appendOutbox(t, db, engineEvents+1, engineEvents+2)
	evs := pending(t, db, 1000)
	if len(evs) != engineEvents+2 {
		t.Fatalf("%d pending events, want %d", len(evs), engineEvents+2)
	}
	for i, got := range evs {
		want, tx := event(i), max(i-engineEvents+1, 0) // the engine's, then the photo one, then AppendEvent's
		if i == engineEvents {
			want.Data = nil
		}
		at := start.Add(time.Duration(tx+1) * time.Second)
		if i > 0 && got.Seq <= evs[i-1].Seq || got.ID != want.ID || got.Subject != want.Subject ||
			string(got.Data) != string(want.Data) || !got.CreatedAt.Equal(at) {
			t.Fatalf("event %d: %+v, want %+v at %v after seq %d", i, got, want, at, evs[max(i-1, 0)].Seq)
		}
	}
	bad := events.OutboxEvent{ID: "bad", Subject: "fieldsync.t.changes.a.b"}
	if err := db.Update(t.Context(), func(tx syncengine.Tx) error { return tx.AppendEvent(bad) }); err == nil {
		t.Error("the engine's transaction accepted an event on a five-token subject")
	}
	err = db.Update(t.Context(), func(tx syncengine.Tx) error {
		if err := tx.AppendEvent(outboxEvent(1000)); err != nil { // a subject checked already…
			return err
		}
		return tx.AppendEvent(bad) // …and then another
	})
	if err == nil {
		t.Error("the engine's transaction accepted an event on a five-token subject after a good one")
	}
	if err := db.UpdatePhotos(t.Context(), func(tx photos.Tx) error { return tx.AppendEvent(bad) }); err == nil {
		t.Error("the photo transaction accepted an event on a five-token subject")
	}
}

// sentAll marks seqs as stored in the changes stream at the same numbers.
func sentAll(seqs []uint64) []events.Sent {
	sent := make([]events.Sent, len(seqs))
	for i, seq := range seqs {
		sent[i] = events.Sent{Seq: seq, Stream: events.ChangesStream, StreamSeq: seq}
	}
	return sent
}
