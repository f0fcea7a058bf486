package nats_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/nats"
)

// These tests take from a real JetStream file store what a crash of the
// machine takes when the server acknowledged messages it had not fsynced
// yet: the stream's last messages. The outbox must put them back.

// msgsDir is where the embedded server n keeps stream's message blocks.
func (n *natsServer) msgsDir(stream string) string {
	return filepath.Join(n.dir, "jetstream", "$G", "streams", stream, "msgs")
}

// snapshot copies the message blocks of both streams (the server must be
// stopped) and returns a function that puts that copy back in place of
// whatever the streams hold by then: the streams as the disk had them at
// the last sync.
func (n *natsServer) snapshot(t *testing.T) (restore func()) {
	t.Helper()
	saved := t.TempDir()
	for _, stream := range relayStreams {
		if err := os.CopyFS(filepath.Join(saved, stream), os.DirFS(n.msgsDir(stream))); err != nil {
			t.Fatal(err)
		}
	}
	return func() {
		t.Helper()
		for _, stream := range relayStreams {
			if err := os.RemoveAll(n.msgsDir(stream)); err != nil {
				t.Fatal(err)
			}
			if err := os.CopyFS(n.msgsDir(stream), os.DirFS(filepath.Join(saved, stream))); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// truncateLastBlock cuts the last message block of stream to half its size
// (the server must be stopped) and removes the stream's index, the way an
// OS crash leaves a block whose end was never synced: the server rebuilds
// the stream from the blocks and drops the torn message.
func (n *natsServer) truncateLastBlock(t *testing.T, stream string) {
	t.Helper()
	dir := n.msgsDir(stream)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	last, lastIndex := "", -1
	for _, e := range entries {
		if idx, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".blk")); err == nil && strings.HasSuffix(e.Name(), ".blk") && idx > lastIndex {
			last, lastIndex = e.Name(), idx
		}
	}
	if last == "" {
		t.Fatalf("no message block in %s", dir)
	}
	info, err := os.Stat(filepath.Join(dir, last))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, last), info.Size()/2); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "index.db")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

var relayStreams = []string{events.ChangesStream, events.AlertsStream}

// streamLastSeq returns where stream ends. A server just restarted may
// leave a request unanswered (JetStream still recovering its streams, the
// client's first request after reconnecting lost): it asks again until
// the test's liveness runs out.
func streamLastSeq(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	deadline := time.Now().Add(liveness)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s, err := js.Stream(ctx, stream)
		cancel()
		if err == nil {
			return s.CachedInfo().State.LastSeq
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s: %v (still failing after %s)", stream, err, liveness)
		}
		t.Logf("stream %s: %v; asking again", stream, err)
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRelayPublishesAgainTheMessagesAStreamLost commits 200 events, takes
// the streams' last messages away behind a stopped server (as a crash
// before the sync would), restarts it and checks that every committed
// event is in its stream exactly once, in commit order, before and after
// more commits: whether the relay ran across the restart (it notices on
// reconnecting) or was started after it (it checks before its first pass),
// and whether a new event is waiting or not.
func TestRelayPublishesAgainTheMessagesAStreamLost(t *testing.T) {
	t.Parallel()
	losses := []struct {
		name string
		// prepare runs with the server stopped after 100 events; lose
		// runs with it stopped after 200.
		prepare func(t *testing.T, n *natsServer) (lose func())
	}{
		{"streams restored from a copy taken at event 100", func(t *testing.T, n *natsServer) func() {
			return n.snapshot(t)
		}},
		{"last block of each stream torn in half", func(t *testing.T, n *natsServer) func() {
			return func() {
				for _, stream := range relayStreams {
					n.truncateLastBlock(t, stream)
				}
			}
		}},
	}
	for _, loss := range losses {
		for _, restartRelay := range []bool{false, true} {
			name := loss.name + map[bool]string{false: ", relay running", true: ", relay restarted"}[restartRelay]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				n := startNATS(t)
				nc, js := connectJS(t, n.url())
				db := openOutbox(t)
				newRelay := func() *nats.Relay {
					return &nats.Relay{Outbox: db, JS: js, BatchSize: 32, Logger: quiet,
						MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
				}
				relay := newRelay()
				stop := runRelay(t, relay)
				commitEvents(t, db, relay, 0, 100)
				waitFor(t, "the first events to be sent", func() bool { return backlog(t, db) == 0 })
				n.stop()
				lose := loss.prepare(t, n)
				n.start(t)
				commitEvents(t, db, relay, 100, 200)
				waitFor(t, "every event to be sent", func() bool { return backlog(t, db) == 0 })
				checkDelivered(t, js, 200)
				before := map[string]uint64{}
				for _, s := range relayStreams {
					before[s] = streamLastSeq(t, js, s)
				}

				if restartRelay {
					stop()
				}
				n.stop()
				lose()
				n.start(t)
				waitFor(t, "the client to reconnect", nc.IsConnected)
				if restartRelay {
					// (A running relay may have put the tail back already;
					// its Resent count below says it found one.)
					for _, s := range relayStreams {
						if got := streamLastSeq(t, js, s); got >= before[s] {
							t.Fatalf("%s ends at %d after the loss, want before %d", s, got, before[s])
						}
					}
					relay = newRelay()
					runRelay(t, relay)
				}
				waitFor(t, "the lost messages to be published again", func() bool {
					return streamLastSeq(t, js, events.ChangesStream) == before[events.ChangesStream] &&
						streamLastSeq(t, js, events.AlertsStream) == before[events.AlertsStream]
				})
				checkDelivered(t, js, 200)
				if st := relay.Stats(); st.Resent == 0 {
					t.Fatalf("stats %+v: nothing resent", st)
				}
				commitEvents(t, db, relay, 200, 250)
				waitFor(t, "the new events to be sent", func() bool { return backlog(t, db) == 0 })
				checkDelivered(t, js, 250)
			})
		}
	}
}

// TestRelayResetsAConsumerPastTheEndOfAStreamThatLostItsTail has a durable
// consumer read and acknowledge every message, then tears the stream's tail
// while the consumer's state survives. The server reconciles a consumer it
// recovers past the end of its stream by itself; a replicated one it does
// not, which the second case stands for by moving the consumer past the
// end after the restart. Either way the consumer must then receive the
// messages the relay publishes again, and its ack floor reach the end.
func TestRelayResetsAConsumerPastTheEndOfAStreamThatLostItsTail(t *testing.T) {
	t.Parallel()
	for _, pushAhead := range []bool{false, true} {
		name := map[bool]string{false: "reconciled by the server", true: "left past the end"}[pushAhead]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			n := startNATS(t)
			nc, js := connectJS(t, n.url())
			db := openOutbox(t)
			ctx, cancel := context.WithTimeout(context.Background(), liveness)
			defer cancel()
			relay := &nats.Relay{Outbox: db, JS: js, Logger: quiet}
			stop := runRelay(t, relay)
			commitEvents(t, db, relay, 0, 300)
			waitFor(t, "every event to be sent", func() bool { return backlog(t, db) == 0 })
			end := streamLastSeq(t, js, events.ChangesStream)
			cons, err := js.CreateOrUpdateConsumer(ctx, events.ChangesStream, jetstream.ConsumerConfig{
				Durable: "reader", AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, cons, int(end)); len(got) != int(end) {
				t.Fatalf("read %d messages, want %d", len(got), end)
			}

			stop()
			n.stop()
			n.truncateLastBlock(t, events.ChangesStream)
			n.start(t)
			waitFor(t, "the client to reconnect", nc.IsConnected)
			last := streamLastSeq(t, js, events.ChangesStream)
			if last >= end {
				t.Fatalf("stream ends at %d after the loss, want before %d", last, end)
			}
			if pushAhead {
				if _, err := js.ResetConsumerToSequence(ctx, events.ChangesStream, "reader", end+1); err != nil {
					t.Fatal(err)
				}
			}
			ci, err := cons.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ahead := ci.Delivered.Stream > last; ahead != pushAhead {
				t.Fatalf("consumer delivered up to %d, stream ends at %d: want past the end %v", ci.Delivered.Stream, last, pushAhead)
			}

			relay = &nats.Relay{Outbox: db, JS: js, Logger: quiet}
			runRelay(t, relay)
			waitFor(t, "the lost messages to be published again", func() bool {
				return streamLastSeq(t, js, events.ChangesStream) == end
			})
			checkDelivered(t, js, 300)
			got := readAll(t, cons, int(end-last))
			want := storedIDs(t, js, events.ChangesStream)[last:]
			if !slices.Equal(got, want) {
				t.Fatalf("the consumer received %d messages %v… after the loss, want the %d published again %v…", len(got), head(got), len(want), head(want))
			}
			if ci, err = cons.Info(ctx); err != nil || ci.AckFloor.Stream != end || ci.NumPending != 0 {
				t.Fatalf("consumer after reading: %+v (%v), want ack floor %d and nothing pending", ci, err, end)
			}
		})
	}
}

// readAll fetches and acknowledges n messages from cons and returns their
// message ids in delivery order.
func readAll(t *testing.T, cons jetstream.Consumer, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), liveness)
	defer cancel()
	var ids []string
	for len(ids) < n && ctx.Err() == nil {
		batch, err := cons.Fetch(n-len(ids), jetstream.FetchContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		for msg := range batch.Messages() {
			ids = append(ids, msg.Headers().Get(jetstream.MsgIDHeader))
			if err := msg.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ids
}
