package natscluster_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/internal/natscluster"
	"github.com/fieldsync/fieldsync/storage/sqlite"
)

// liveness bounds every wait: reaching it means something is stuck.
const liveness = 2 * time.Minute

var quiet = slog.New(slog.DiscardHandler)

func startCluster(t *testing.T) *natscluster.Cluster {
	t.Helper()
	c, err := natscluster.Start(natscluster.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Shutdown)
	return c
}

// TestRelayPublishesEachEventOnceWhileANodeRestarts relays a stream of
// commits into a 3-replica stream while the stream's leader node is stopped
// and started again: every event is stored once, in commit order.
func TestRelayPublishesEachEventOnceWhileANodeRestarts(t *testing.T) {
	logs := &logBuf{}
	c, err := natscluster.Start(natscluster.Config{Dir: t.TempDir(), Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), liveness)
	defer cancel()
	nc, js, err := nats.Connect(ctx, nats.ConnConfig{URL: c.URL(), Logger: logs.logger().With("who", "client")})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	dumpOnFailure(t, c, events.ChangesStream, logs)
	if err := nats.EnsureStreams(ctx, js, nats.StreamConfig{Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fieldsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	relay := &nats.Relay{Outbox: db, JS: js, Logger: logs.logger().With("who", "relay"), MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, AckTimeout: 2 * time.Second}
	rctx, stopRelay := context.WithCancel(context.Background())
	relayDone := make(chan error, 1)
	go func() { relayDone <- relay.Run(rctx) }()
	defer func() { stopRelay(); <-relayDone }()

	const total = 300
	committed := make(chan error, 1)
	go func() { committed <- commit(db, relay, total) }()
	waitFor(t, "a third of the events", func() bool { return relay.Stats().Published >= total/3 })
	leader := c.StreamLeader(events.ChangesStream)
	if leader < 0 {
		t.Fatal("the change stream has no leader")
	}
	c.Stop(leader)
	defer func() { t.Logf("relay stats %+v", relay.Stats()) }()
	waitFor(t, "two thirds of the events", func() bool { return relay.Stats().Published >= 2*total/3 })
	if err := c.Restart(leader); err != nil {
		t.Fatal(err)
	}
	if err := <-committed; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the whole outbox", func() bool { return relay.Stats().Published >= total })
	ids := storedIDs(t, js, events.ChangesStream)
	if len(ids) != total {
		t.Errorf("%d events stored, want %d", len(ids), total)
	}
	for i, id := range ids {
		if want := eventID(i); id != want {
			t.Fatalf("event %d stored is %s, want %s (every event once, in commit order)", i, id, want)
		}
	}
}

func eventID(i int) string { return fmt.Sprintf("ev-%06d", i) }

// commit appends n change events, one transaction each, kicking the relay.
func commit(db *sqlite.DB, relay *nats.Relay, n int) error {
	for i := range n {
		ev := events.OutboxEvent{ID: eventID(i), Subject: events.ChangeSubject("tenant1", "fieldsync.v1.Visit"), Data: fmt.Appendf(nil, "event %d", i)}
		err := db.WriteTx(context.Background(), func(tx *sql.Tx, now time.Time) error {
			_, err := sqlite.AppendEvent(context.Background(), tx, ev, now)
			return err
		})
		if err != nil {
			return err
		}
		relay.Kick()
		time.Sleep(time.Millisecond) // a steady trickle, so the stop lands mid-stream
	}
	return nil
}

// storedIDs returns the Nats-Msg-Id of every message in stream, in order.
func storedIDs(t *testing.T, js jetstream.JetStream, stream string) []string {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	st := s.CachedInfo().State
	var ids []string
	for seq := st.FirstSeq; st.Msgs > 0 && seq <= st.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
	}
	return ids
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(liveness)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after %s", what, liveness)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReplicatedStreamRefusesAWrongLastSequenceAndStaysUp pins the server
// behaviour the relay's ordering relies on: in a 3-replica stream a publish
// expecting the wrong last sequence is refused with an error and the stream
// keeps its leader, and a duplicate is acknowledged before its expectation
// is checked. (Nats-Expected-Last-Msg-Id is not usable there: NATS 2.15
// checks it only when applying and takes the stream offline at the first
// mismatch.)
func TestReplicatedStreamRefusesAWrongLastSequenceAndStaysUp(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), liveness)
	defer cancel()
	nc, js, err := nats.Connect(ctx, nats.ConnConfig{URL: c.URL(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nats.EnsureStreams(ctx, js, nats.StreamConfig{Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	subject := events.ChangeSubject("tenant1", "fieldsync.v1.Visit")
	publish := func(id string, lastSeq uint64) (*jetstream.PubAck, error) {
		return js.Publish(ctx, subject, []byte(id), jetstream.WithMsgID(id), jetstream.WithExpectLastSequence(lastSeq))
	}
	if _, err := publish("a", 0); err != nil {
		t.Fatal(err)
	}
	var apiErr *jetstream.APIError
	if _, err := publish("c", 5); !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
		t.Fatalf("publish expecting the wrong last sequence: %v, want wrong last sequence", err)
	}
	if ack, err := publish("b", 1); err != nil || ack.Sequence != 2 {
		t.Fatalf("publish after a refusal: %+v, %v; want stored at 2", ack, err)
	}
	if ack, err := publish("a", 7); err != nil || !ack.Duplicate || ack.Sequence != 1 {
		t.Fatalf("republish with a stale expectation: %+v, %v; want a duplicate of 1", ack, err)
	}
	if got := storedIDs(t, js, events.ChangesStream); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("stream holds %v, want [a b]", got)
	}
}
