package sqlite_test

import (
	"context"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/storage/sqlite"
)

// TestMarkSentRecordsEachEventsFirstMark: MarkSent marks runs of
// consecutive events with one statement each; whatever the marks (streams
// mixed, sequences with gaps, duplicates pointing back, events marked
// twice, unknown sequences), each event keeps the stream and stream
// sequence of its first mark, as marking one at a time would.
func TestMarkSentRecordsEachEventsFirstMark(t *testing.T) {
	t.Parallel()
	db := openOutboxDB(t, time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	const n = 40
	seqs := appendOutbox(t, db, 0, n)
	type mark struct {
		stream string
		seq    uint64
	}
	first := map[uint64]mark{}
	unknown := seqs[n-1] + 1000
	rapid.Check(t, func(t *rapid.T) {
		calls := rapid.IntRange(1, 4).Draw(t, "calls")
		for range calls {
			var sent []events.Sent
			i := rapid.IntRange(0, n-1).Draw(t, "start")
			streamSeq := rapid.Uint64Range(1, 1<<40).Draw(t, "streamSeq")
			for k := rapid.IntRange(0, 12).Draw(t, "len"); k > 0 && i < n; k-- {
				stream := events.ChangesStream
				if rapid.IntRange(0, 5).Draw(t, "alerts") == 0 {
					stream = events.AlertsStream
				}
				seq := seqs[i]
				if rapid.IntRange(0, 9).Draw(t, "unknown") == 0 {
					seq = unknown
				}
				sent = append(sent, events.Sent{Seq: seq, Stream: stream, StreamSeq: streamSeq})
				switch rapid.IntRange(0, 5).Draw(t, "step") {
				case 0: // a gap in the outbox sequences
					i += 2
				case 1: // a duplicate: the stream sequence points back
					streamSeq -= min(streamSeq-1, 3)
					i++
				default:
					i++
				}
				streamSeq++
			}
			if err := db.MarkSent(t.Context(), sent); err != nil {
				t.Fatal(err)
			}
			for _, s := range sent {
				if _, ok := first[s.Seq]; !ok && s.Seq != unknown {
					first[s.Seq] = mark{s.Stream, s.StreamSeq}
				}
			}
		}
		marks := eventMarks(t, db)
		if len(marks) != n {
			t.Fatalf("read %d events, want %d", len(marks), n)
		}
		for _, m := range marks {
			want, marked := first[m.seq]
			switch {
			case marked != m.sent:
				t.Fatalf("event %d: sent %v, want %v", m.seq, m.sent, marked)
			case marked && (m.stream != want.stream || m.streamSeq != want.seq):
				t.Fatalf("event %d: recorded at %s/%d, want %s/%d", m.seq, m.stream, m.streamSeq, want.stream, want.seq)
			}
		}
	})
}

// eventMark is what the outbox says of one event: sent or not, and where
// it was stored.
type eventMark struct {
	seq       uint64
	sent      bool
	stream    string
	streamSeq uint64
}

// eventMarks reads every event's mark, expanding the runs of outbox_sent,
// and fails the test unless each event is either unsent (in outbox_unsent)
// or in exactly one run.
func eventMarks(t interface {
	Helper()
	Fatal(...any)
	Fatalf(string, ...any)
}, db *sqlite.DB) []eventMark {
	t.Helper()
	rows, err := db.Reader().QueryContext(context.Background(), `SELECT o.seq, r.first_seq IS NOT NULL,
		COALESCE(r.stream, ''), COALESCE(r.last_stream_seq - (r.last_seq - o.seq), 0),
		EXISTS (SELECT 1 FROM outbox_unsent u WHERE u.seq = o.seq)
		FROM outbox o LEFT JOIN outbox_sent r ON o.seq BETWEEN r.first_seq AND r.last_seq ORDER BY o.seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var marks []eventMark
	for rows.Next() {
		var m eventMark
		var unsent bool
		if err := rows.Scan(&m.seq, &m.sent, &m.stream, &m.streamSeq, &unsent); err != nil {
			t.Fatal(err)
		}
		if n := len(marks); n > 0 && marks[n-1].seq == m.seq {
			t.Fatalf("event %d is in two runs", m.seq)
		}
		if m.sent == unsent {
			t.Fatalf("event %d: in a run %v, in outbox_unsent %v", m.seq, m.sent, unsent)
		}
		marks = append(marks, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var orphans int
	if err := db.Reader().QueryRowContext(context.Background(), `SELECT
		(SELECT COUNT(*) FROM outbox_unsent u WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.seq = u.seq)) +
		(SELECT COUNT(*) FROM outbox_sent r WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.seq BETWEEN r.first_seq AND r.last_seq))`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Fatalf("%d unsent entries or runs name no outbox event", orphans)
	}
	return marks
}
