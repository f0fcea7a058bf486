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

// TestConsumeBatchAcksAfterTheHandlerAndIsolatesAFailure publishes 200
// events before the consumer starts, so they arrive in batches. A batch
// holding stream sequence 7 fails, and sequence 7 fails once more on its
// own: its batch is handed over again one message at a time, 7 is
// redelivered, and every message ends up handled and acknowledged.
func TestConsumeBatchAcksAfterTheHandlerAndIsolatesAFailure(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	_, js := connectJS(t, n.url())
	publishChanges(t, js, 0, 200)
	cfg := nats.ConsumerConfig{Stream: events.ChangesStream, Durable: "batch", RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond}
	var mu sync.Mutex
	applied, largest, failures := map[uint64]int{}, 0, 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- nats.ConsumeBatch(ctx, js, cfg, 64, func(ctx context.Context, msgs []nats.Message) error {
			mu.Lock()
			defer mu.Unlock()
			largest = max(largest, len(msgs))
			for _, m := range msgs {
				if m.StreamSeq == 7 && m.Delivered == 1 {
					failures++
					return fmt.Errorf("seq 7 fails on its first delivery (call %d)", failures)
				}
			}
			for _, m := range msgs { // applied only when the whole batch succeeds
				applied[m.StreamSeq]++
			}
			return nil
		})
	}()
	waitFor(t, "all 200 applied and acknowledged", func() bool {
		info, err := js.Consumer(context.Background(), events.ChangesStream, "batch")
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return false // ConsumeBatch has not created it yet
		}
		if err != nil {
			t.Fatal(err)
		}
		ci, err := info.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return ci.NumPending == 0 && ci.NumAckPending == 0 && ci.AckFloor.Stream == 200
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for seq := uint64(1); seq <= 200; seq++ {
		if applied[seq] != 1 {
			t.Fatalf("stream seq %d applied %d times, want once", seq, applied[seq])
		}
	}
	if largest < 2 || failures != 2 {
		t.Errorf("largest batch %d, failures %d: want batches and two failures (in its batch, then alone)", largest, failures)
	}
}
