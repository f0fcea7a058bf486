package sqlite_test

import (
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/fieldsync/fieldsync/events"
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
		rows, err := db.Reader().QueryContext(t.Context(), `SELECT seq, stream, stream_seq, sent_at IS NOT NULL FROM outbox ORDER BY seq`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		count := 0
		for rows.Next() {
			var seq uint64
			var stream *string
			var streamSeq *uint64
			var sent bool
			if err := rows.Scan(&seq, &stream, &streamSeq, &sent); err != nil {
				t.Fatal(err)
			}
			count++
			want, marked := first[seq]
			switch {
			case marked != sent:
				t.Fatalf("event %d: sent %v, want %v", seq, sent, marked)
			case !marked && (stream != nil || streamSeq != nil):
				t.Fatalf("event %d: unsent but recorded at %v/%v", seq, stream, streamSeq)
			case marked && (stream == nil || streamSeq == nil || *stream != want.stream || *streamSeq != want.seq):
				t.Fatalf("event %d: recorded at %v/%v, want %s/%d", seq, stream, streamSeq, want.stream, want.seq)
			}
		}
		if err := rows.Err(); err != nil || count != n {
			t.Fatalf("read %d events, err %v", count, err)
		}
	})
}
