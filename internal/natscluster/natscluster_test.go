package natscluster_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
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
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fieldsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	relay := &nats.Relay{Outbox: db, JS: js, Logger: quiet, MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, AckTimeout: 2 * time.Second}
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
	t.Logf("relay stats %+v", relay.Stats())
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
