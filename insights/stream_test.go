package insights

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/events/nats/embedded"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// TestConsumerOnJetStreamAppliesRedeliveredBatchesOnce runs the consumer
// as the daemon does (nats.ConsumeBatch on an embedded NATS server) over
// the events of every rule. The handler loses the ack of its first batch
// (it reports failure after HandleBatch committed, so the batch is
// redelivered) and makes the commit of another fail. The outcome equals
// applying each event once, alone.
func TestConsumerOnJetStreamAppliesRedeliveredBatchesOnce(t *testing.T) {
	alone := newEnv(t)
	for _, ev := range allRuleEvents(alone) {
		alone.handle(ev)
	}
	want := alone.outcome(t)

	e := newEnv(t)
	js := embeddedJetStream(t)
	evs := allRuleEvents(e)
	for _, ev := range evs {
		if _, err := js.Publish(e.ctx, events.ChangeSubject(ev.TenantId, cmpOr(ev.RecordType, "unknown")), marshal(t, ev),
			jetstream.WithMsgID(ev.EventId)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	lostAck, failedCommit := false, false
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() {
		cfg := nats.ConsumerConfig{Stream: events.ChangesStream, Durable: "insights", RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond}
		done <- nats.ConsumeBatch(ctx, js, cfg, 8, func(ctx context.Context, msgs []nats.Message) error {
			mu.Lock()
			defer mu.Unlock()
			decoded := make([]*fieldsyncv1.ChangeEvent, len(msgs))
			for i, m := range msgs {
				ev, err := DecodeEvent(m.Data)
				must(t, err)
				decoded[i] = ev
			}
			if lostAck && len(msgs) > 1 && !failedCommit {
				stop := failPhiWrites(t, e)
				defer stop()
				err := e.c.HandleBatch(ctx, decoded)
				failedCommit = err != nil
				return err
			}
			if err := e.c.HandleBatch(ctx, decoded); err != nil {
				return err
			}
			if !lostAck && len(msgs) > 1 {
				lostAck = true
				return errors.New("the ack is lost") // applied, yet redelivered
			}
			return nil
		})
	}()
	waitApplied(t, js, uint64(len(evs)))
	cancel()
	must(t, <-done)
	if !lostAck || !failedCommit {
		t.Fatalf("lost ack %v, failed commit %v: the stream did not come in batches", lostAck, failedCommit)
	}
	if got := e.outcome(t); !slices.Equal(got, want) {
		t.Fatalf("outcome differs from one event at a time:\n%s", diffLines(strings.Join(want, "\n"), strings.Join(got, "\n")))
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func embeddedJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	srv, err := embedded.Start(embedded.Config{StoreDir: t.TempDir(), Port: -1})
	must(t, err)
	t.Cleanup(srv.Shutdown)
	nc, js, err := nats.Connect(context.Background(), nats.ConnConfig{URL: srv.ClientURL(), Name: t.Name()})
	must(t, err)
	t.Cleanup(nc.Close)
	must(t, nats.EnsureStreams(context.Background(), js, nats.StreamConfig{}))
	return js
}

// waitApplied waits until the insights consumer acknowledged n messages.
func waitApplied(t *testing.T, js jetstream.JetStream, n uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := js.Consumer(context.Background(), events.ChangesStream, "insights")
		if err == nil && c.CachedInfo().AckFloor.Stream >= n && c.CachedInfo().NumAckPending == 0 {
			return
		}
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the consumer did not acknowledge %d messages within 30s", n)
}
