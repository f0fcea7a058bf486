package postgres_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/internal/pgtest"
	"github.com/fieldsync/fieldsync/storage/postgres"
	"github.com/fieldsync/fieldsync/syncengine"
)

// migrateBefore applies the migrations numbered below version to the
// database at url, as an older server left it.
func migrateBefore(t *testing.T, url string, version int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	for _, f := range files {
		num, _, _ := strings.Cut(filepath.Base(f), "_")
		v, err := strconv.Atoi(num)
		if err != nil || v >= version {
			continue
		}
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, v, filepath.Base(f)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOutboxSentRunsMigration upgrades an outbox that the schema before
// 0013 left: events sent before 0007 (no stream recorded), events sent to
// either stream, unsent ones among them. After the migration the unsent
// are pending in order, the sent are not, LastSent and Resend read the
// marks the rows held, and pruning deletes the old sent events only.
func TestOutboxSentRunsMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.DB(t)
	migrateBefore(t, url, 13)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	changes := events.ChangeSubject("T", "x.A")
	for _, r := range []struct {
		seq    int64
		sentAt *int64
		stream *string
		at     *int64
	}{
		{1, ptr[int64](1000), nil, nil},
		{2, ptr[int64](1000), ptr(events.ChangesStream), ptr[int64](7)},
		{3, nil, nil, nil},
		{4, ptr[int64](2000), ptr(events.ChangesStream), ptr[int64](8)},
		{5, ptr[int64](2000), ptr(events.AlertsStream), ptr[int64](3)},
		{6, ptr[int64](9000), ptr(events.ChangesStream), ptr[int64](9)},
		{7, nil, nil, nil},
	} {
		if _, err := conn.Exec(ctx, `INSERT INTO outbox (seq, event_id, subject, data, created_at, sent_at, stream, stream_seq)
			VALUES ($1, $2, $3, '\x00', $4, $5, $6, $7)`, r.seq, "ev-"+strconv.FormatInt(r.seq, 10), changes, 500+r.seq, r.sentAt, r.stream, r.at); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, `SELECT setval(pg_get_serial_sequence('outbox', 'seq'), 7)`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	db, err := postgres.Open(ctx, url)
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
	err = db.Update(ctx, func(tx syncengine.Tx) error {
		return tx.AppendEvent(events.OutboxEvent{ID: "ev-new", Subject: changes, Data: []byte{}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := pendingSeqs(); len(got) != 5 || got[4] <= 7 {
		t.Fatalf("pending after an append: %v, want [3 4 6 7] and a new event", got)
	}
}

func ptr[T any](v T) *T { return &v }
