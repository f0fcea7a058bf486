package outboxtest

import (
	"context"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/internal/benchenv"
	"github.com/fieldsync/fieldsync/internal/ids"
)

// BenchAppendAndMark is the outbox's share of the single writer per
// event, as the end-to-end path drives it; storage/sqlite and
// storage/postgres run it as BenchmarkOutboxAppendAndMark. Each op commits
// one push's worth of events (100, ≈ 590 bytes each like a visit's change
// event, each with a new ULID as its id) in one transaction, then the
// relay's read of them and its MarkSent, in the changes stream at
// consecutive sequences. It reports the time per event in each
// transaction (wall, fsyncs included) and the process's CPU time per
// event (for a store in another process, the client side only). The
// outbox starts with 50,000 sent events, so that its indexes are not tiny.
func BenchAppendAndMark(b *testing.B, be Backend) {
	ctx := context.Background()
	const perTx = 100
	data := make([]byte, 590)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var streamSeq uint64
	pushEvents := func() {
		err := be.Write(ctx, func(appendEvent func(events.OutboxEvent) error) error {
			for range perTx {
				if err := appendEvent(events.OutboxEvent{ID: ids.New(), Subject: events.ChangeSubject("t", "fieldsync.v1.Visit"), Data: data}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	markEvents := func() {
		evs, err := be.Store.PendingEvents(ctx, 256)
		if err != nil {
			b.Fatal(err)
		}
		sent := make([]events.Sent, len(evs))
		for i, ev := range evs {
			streamSeq++
			sent[i] = events.Sent{Seq: ev.Seq, Stream: events.ChangesStream, StreamSeq: streamSeq}
		}
		if err := be.Store.MarkSent(ctx, sent); err != nil {
			b.Fatal(err)
		}
	}
	for range 500 {
		pushEvents()
		markEvents()
	}
	var push, mark time.Duration
	cpu := benchenv.CPUTime()
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		pushEvents()
		t1 := time.Now()
		markEvents()
		push, mark = push+t1.Sub(t0), mark+time.Since(t1)
	}
	total := float64(b.N * perTx)
	b.ReportMetric(float64(push.Nanoseconds())/total/1000, "push-µs/event")
	b.ReportMetric(float64(mark.Nanoseconds())/total/1000, "mark-µs/event")
	b.ReportMetric(float64((push+mark).Nanoseconds())/total/1000, "µs/event")
	b.ReportMetric(float64((benchenv.CPUTime()-cpu).Nanoseconds())/total/1000, "cpu-µs/event")
	benchenv.ReportLoad(b)
	b.ReportMetric(0, "ns/op")
}
