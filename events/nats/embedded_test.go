package nats_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/events/nats/embedded"
)

func TestEmbeddedRestartKeepsMessagesAndDeduplication(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	nc, js := connectJS(t, n.url())
	ctx := context.Background()
	ev := testEvent(1)
	if _, err := js.Publish(ctx, ev.Subject, ev.Data, jetstream.WithMsgID(ev.ID)); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	n.stop()

	n.port = -1 // any port: the data is in the store directory
	n.start(t)
	_, js = connectJS(t, n.srv.ClientURL())
	if got := storedIDs(t, js, events.ChangesStream); len(got) != 1 || got[0] != ev.ID {
		t.Fatalf("after restart the stream holds %v, want [%s]", got, ev.ID)
	}
	ack, err := js.Publish(ctx, ev.Subject, ev.Data, jetstream.WithMsgID(ev.ID))
	if err != nil {
		t.Fatal(err)
	}
	if !ack.Duplicate {
		t.Fatal("republishing after a restart was not recognised as a duplicate")
	}
}

func TestEmbeddedWithoutListenerServesInProcessClients(t *testing.T) {
	t.Parallel()
	srv, err := embedded.Start(embedded.Config{StoreDir: t.TempDir(), Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	if srv.ClientURL() != "" || srv.Port() != 0 {
		t.Fatalf("server without listener has URL %q port %d", srv.ClientURL(), srv.Port())
	}
	ctx := context.Background()
	nc, js, err := nats.Connect(ctx, nats.ConnConfig{InProcess: srv})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nats.EnsureStreams(ctx, js, nats.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	ev := testEvent(0)
	if _, err := js.Publish(ctx, ev.Subject, ev.Data, jetstream.WithMsgID(ev.ID)); err != nil {
		t.Fatal(err)
	}
}

func TestEnsureStreamsConfiguresBothStreamsIdempotently(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	_, js := connectJS(t, n.url()) // first call
	ctx := context.Background()
	if err := nats.EnsureStreams(ctx, js, nats.StreamConfig{MaxAge: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	for stream, subject := range map[string]string{events.ChangesStream: events.AllChanges, events.AlertsStream: events.AllAlerts} {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		c := s.CachedInfo().Config
		if len(c.Subjects) != 1 || c.Subjects[0] != subject || c.Storage != jetstream.FileStorage ||
			c.Retention != jetstream.LimitsPolicy || c.Discard != jetstream.DiscardOld ||
			c.Duplicates != nats.DuplicateWindow || c.MaxAge != 24*time.Hour || c.Replicas != 1 {
			t.Fatalf("%s config %+v", stream, c)
		}
	}
	if err := nats.EnsureStreams(ctx, js, nats.StreamConfig{MaxAge: time.Minute}); err == nil {
		t.Fatal("EnsureStreams accepted a MaxAge shorter than the duplicate window")
	}
}

func TestConnectGivesUpWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	url := n.url()
	n.stop() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, _, err := nats.Connect(ctx, nats.ConnConfig{URL: url})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect to a dead server: %v, want the context's deadline", err)
	}
}
