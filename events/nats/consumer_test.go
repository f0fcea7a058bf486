package nats_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/nats"
)

// publishChanges publishes changeEvent [from, to) straight to JetStream,
// each with its ID: event i gets stream sequence i+1.
func publishChanges(tb testing.TB, js jetstream.JetStream, from, to int) {
	tb.Helper()
	for i := from; i < to; i++ {
		ev := changeEvent(i)
		if _, err := js.Publish(context.Background(), ev.Subject, ev.Data, jetstream.WithMsgID(ev.ID)); err != nil {
			tb.Fatal(err)
		}
	}
}

// recorder records the messages a handler saw.
type recorder struct {
	mu   sync.Mutex
	msgs []nats.Message
}

func (r *recorder) add(m nats.Message) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return len(r.msgs)
}

func (r *recorder) seen() []nats.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]nats.Message(nil), r.msgs...)
}

// consume runs Consume in the background until ctx is cancelled; wait
// cancels ctx and returns Consume's error.
func consume(ctx context.Context, cfg nats.ConsumerConfig, js jetstream.JetStream, handle func(context.Context, nats.Message) error) (wait func() error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- nats.Consume(ctx, js, cfg, handle) }()
	return func() error { cancel(); return <-done }
}

func TestConsumerResumesWhereItLeftOffAfterARestart(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	_, js := connectJS(t, n.url())
	publishChanges(t, js, 0, 20)
	cfg := nats.ConsumerConfig{Stream: events.ChangesStream, Durable: "resume", AckWait: 10 * time.Second}

	var first recorder
	stopped := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	wait := consume(ctx, cfg, js, func(ctx context.Context, m nats.Message) error {
		if first.add(m) == 10 {
			cancel() // stop mid-stream; this message is still acked
			close(stopped)
		}
		return nil
	})
	<-stopped
	if err := wait(); err != nil {
		t.Fatalf("Consume returned %v after cancel, want nil", err)
	}

	publishChanges(t, js, 20, 25) // more arrive while it is down
	var second recorder
	wait = consume(context.Background(), cfg, js, func(ctx context.Context, m nats.Message) error { second.add(m); return nil })
	waitFor(t, "the restarted consumer to see the 15 unacked messages", func() bool { return len(second.seen()) >= 15 })
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	// Acked messages never come back; every other one comes exactly once
	// (redeliveries may come in any order).
	got := map[uint64]int{}
	for _, m := range second.seen() {
		got[m.StreamSeq]++
		if want := changeEvent(int(m.StreamSeq) - 1).ID; m.MsgID != want {
			t.Fatalf("stream seq %d has MsgID %q, want %q", m.StreamSeq, m.MsgID, want)
		}
	}
	for seq := uint64(1); seq <= 25; seq++ {
		if want := map[bool]int{true: 0, false: 1}[seq <= 10]; got[seq] != want {
			t.Fatalf("restarted consumer saw stream seq %d %d times, want %d; saw %v", seq, got[seq], want, seqs(second.seen()))
		}
	}
}

func TestConsumerRedeliversWhenTheHandlerFails(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	_, js := connectJS(t, n.url())
	publishChanges(t, js, 0, 3)
	cfg := nats.ConsumerConfig{
		Stream: events.ChangesStream, Durable: "retry", FilterSubjects: []string{events.AllChanges},
		MaxAckPending: 1, RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond,
	}
	var got recorder
	wait := consume(context.Background(), cfg, js, func(ctx context.Context, m nats.Message) error {
		got.add(m)
		if m.StreamSeq == 2 && m.Delivered < 3 {
			return fmt.Errorf("fail delivery %d", m.Delivered)
		}
		return nil
	})
	waitFor(t, "all three handled", func() bool {
		s := got.seen()
		return len(s) == 5 && s[4].StreamSeq == 3
	})
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	// MaxAckPending 1 keeps order: message 3 waits for message 2's retries.
	want := []struct{ seq, delivered uint64 }{{1, 1}, {2, 1}, {2, 2}, {2, 3}, {3, 1}}
	for i, m := range got.seen() {
		if m.StreamSeq != want[i].seq || m.Delivered != want[i].delivered {
			t.Fatalf("delivery %d: seq %d delivered %d, want %+v", i, m.StreamSeq, m.Delivered, want[i])
		}
	}
}

func TestConsumerCarriesOnAcrossANATSRestart(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	nc, js := connectJS(t, n.url())
	publishChanges(t, js, 0, 5)
	var got recorder
	wait := consume(context.Background(), nats.ConsumerConfig{Stream: events.ChangesStream, Durable: "restart", Logger: quiet}, js,
		func(ctx context.Context, m nats.Message) error { got.add(m); return nil })
	waitFor(t, "the first five", func() bool { return len(got.seen()) == 5 })
	n.stop()
	n.start(t)
	waitFor(t, "the client to reconnect", nc.IsConnected)
	publishChanges(t, js, 5, 10)
	waitFor(t, "all ten", func() bool { return len(got.seen()) >= 10 })
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	for i, m := range got.seen() {
		if m.StreamSeq != uint64(i+1) || m.Delivered != 1 {
			t.Fatalf("delivery %d: %v, want each of 1…10 once, in order", i, seqs(got.seen()))
		}
	}
}

func TestConsumeNeedsStreamAndDurable(t *testing.T) {
	t.Parallel()
	err := nats.Consume(context.Background(), nil, nats.ConsumerConfig{Stream: events.ChangesStream}, nil)
	if err == nil {
		t.Fatal("Consume without Durable returned nil")
	}
}

func TestConsumeFailsForAMissingStream(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	_, js := connectJS(t, n.url())
	err := nats.Consume(context.Background(), js, nats.ConsumerConfig{Stream: "NOPE", Durable: "x"},
		func(context.Context, nats.Message) error { return nil })
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("Consume on a missing stream: %v, want ErrStreamNotFound", err)
	}
}

func seqs(ms []nats.Message) []string {
	var s []string
	for _, m := range ms {
		s = append(s, fmt.Sprintf("%d/%d", m.StreamSeq, m.Delivered))
	}
	return s
}

// TestConsumeReportsItsConsumerDeletedWhileNoPullWaits deletes the durable
// consumer while its only message is being handled (MaxAckPending 1: no
// pull request of ours waits at the server then, so none is told "consumer
// deleted"). Consume must return an error saying so, for the daemon to
// log it and run the consumer again; it used to carry on pulling from a
// consumer that no longer exists, every missed heartbeat logged at debug
// level only, and deliver nothing ever again.
func TestConsumeReportsItsConsumerDeletedWhileNoPullWaits(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	_, js := connectJS(t, n.url())
	publishChanges(t, js, 0, 3)
	cfg := nats.ConsumerConfig{Stream: events.ChangesStream, Durable: "deleted", MaxAckPending: 1, Logger: quiet}
	ctx, cancel := context.WithTimeout(context.Background(), liveness)
	defer cancel()
	var once sync.Once
	err := nats.Consume(ctx, js, cfg, func(ctx context.Context, m nats.Message) error {
		once.Do(func() {
			if err := js.DeleteConsumer(ctx, events.ChangesStream, cfg.Durable); err != nil {
				t.Error(err)
			}
		})
		return nil
	})
	if ctx.Err() != nil {
		t.Fatalf("Consume went on for %v with its consumer deleted (returned %v)", liveness, err)
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrConsumerDeleted) {
		t.Fatalf("Consume with its consumer deleted: %v, want ErrConsumerNotFound or ErrConsumerDeleted", err)
	}
}
