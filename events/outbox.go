// Package events is fieldsync's event vocabulary, free of any transport:
// the subjects events are published on (ChangeSubject, AlertSubject), the
// change event every producer builds (NewChangeEvent, ChangeOutboxEvent),
// and the outbox contract between the store that keeps events and the
// relay that publishes them (OutboxEvent, Outbox).
//
// The write path: the sync engine and the photo service append an
// OutboxEvent in the same transaction as the change it reports
// (storage/sqlite.AppendEvent); a relay reads the outbox in commit order and
// publishes each event. NATS JetStream, the relay, the consumer plumbing
// and the embedded server live in events/nats, so that the domain and
// storage packages that speak this vocabulary do not link NATS.
package events

import (
	"context"
	"time"
)

// MaxEventSize is the largest event payload the outbox accepts, in bytes.
// It leaves room for headers under the NATS default max_payload of 1 MiB, so
// an accepted event can always be published.
const MaxEventSize = 1<<20 - 4<<10

// OutboxEvent is one event waiting in, or read from, the outbox.
type OutboxEvent struct {
	// Seq is the event's position in commit order, assigned by the outbox.
	Seq uint64
	// ID is unique and stable; it is published as Nats-Msg-Id, the
	// deduplication key.
	ID string
	// Subject is the NATS subject, built with ChangeSubject or AlertSubject.
	Subject string
	// Data is the payload, normally a serialized fieldsync.v1.ChangeEvent.
	Data []byte
	// CreatedAt is the commit time, set by the outbox.
	CreatedAt time.Time
}

// Sent is one event JetStream acknowledged: its outbox sequence and where
// the stream stored it.
type Sent struct {
	// Seq is the event's outbox sequence (OutboxEvent.Seq).
	Seq uint64
	// Stream is the stream that stored it (ChangesStream or AlertsStream).
	Stream string
	// StreamSeq is its sequence in Stream, from the acknowledgement (for a
	// duplicate, the sequence of the copy stored before).
	StreamSeq uint64
}

// Outbox is what the Relay needs from the store holding the outbox.
//
// Sent events stay in the outbox, with the stream sequence they were
// stored at, until they are pruned (the daemon keeps them for a week).
// That makes the outbox, not JetStream's disk, the durable copy of every
// event: when a stream comes back from a crash without its last messages
// (JetStream fsyncs periodically, not per message), the relay compares the
// stream's last sequence with LastSent and sends the missing events again
// (Resend). See docs/events.md, "Durability".
type Outbox interface {
	// PendingEvents returns up to limit unsent events, oldest (lowest Seq)
	// first.
	PendingEvents(ctx context.Context, limit int) ([]OutboxEvent, error)
	// MarkSent records that these events were acknowledged by JetStream,
	// and where each was stored. Marking an event twice is not an error
	// (the first mark stays); unknown sequence numbers are ignored.
	MarkSent(ctx context.Context, sent []Sent) error
	// LastSent returns the highest stream sequence recorded by MarkSent for
	// an event of stream still in the outbox, 0 when there is none.
	LastSent(ctx context.Context, stream string) (uint64, error)
	// Resend makes the events of stream recorded at a stream sequence
	// above after unsent again, so that PendingEvents returns them (in
	// their original order) and the relay publishes them again. It returns
	// how many events it made unsent.
	Resend(ctx context.Context, stream string, after uint64) (int64, error)
}

// BacklogReporter is an optional Outbox capability: when the Outbox
// implements it, the Relay reports the number of unsent events.
type BacklogReporter interface {
	// OutboxBacklog returns the number of unsent events and the creation
	// time of the oldest (zero when there is none).
	OutboxBacklog(ctx context.Context) (count int64, oldest time.Time, err error)
}

// FirstMarks returns the marks of sent that take effect, in their order:
// the first mark of each event for which unsent reports true (the events
// that were unsent before this MarkSent). A store implementing MarkSent
// uses it to keep first marks and ignore unknown sequence numbers.
func FirstMarks(sent []Sent, unsent map[uint64]bool) []Sent {
	marks := make([]Sent, 0, len(unsent))
	for _, s := range sent {
		if unsent[s.Seq] {
			marks = append(marks, s)
			delete(unsent, s.Seq)
		}
	}
	return marks
}

// SentRuns splits marks into runs: consecutive outbox sequences stored in
// one stream at consecutive stream sequences, which a store can record as
// one row (a relay's pass is usually one run per stream; a duplicate,
// whose stream sequence is the earlier copy's, starts a run of its own).
func SentRuns(marks []Sent) [][]Sent {
	var runs [][]Sent
	from := 0
	for i := 1; i <= len(marks); i++ {
		if i < len(marks) {
			prev, s := marks[i-1], marks[i]
			if s.Stream == prev.Stream && s.Seq == prev.Seq+1 && s.StreamSeq == prev.StreamSeq+1 {
				continue
			}
		}
		runs = append(runs, marks[from:i])
		from = i
	}
	return runs
}
