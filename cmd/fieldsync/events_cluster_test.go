package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/internal/natscluster"
)

// TestEventsTailFromStartOnAClusterPrintsEveryEvent tails a replicated
// stream from its start, many times, on a healthy 3-node NATS cluster and
// with its leader stopped. The tail used one pull request per event, and a
// pull that found no responder for a moment (the new consumer's interest
// not yet known on every server, a leader changing) ended it early: in a
// cluster run it printed 5 of 13 events, here about one tail in five fell
// short.
func TestEventsTailFromStartOnAClusterPrintsEveryEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node NATS cluster")
	}
	t.Parallel()
	c, err := natscluster.Start(natscluster.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // liveness
	defer cancel()
	nc, js, err := nats.Connect(ctx, nats.ConnConfig{URL: c.URL(), Logger: quietLog})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nats.EnsureStreams(ctx, js, nats.StreamConfig{Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	const n = 13
	for i := range n {
		if _, err := js.Publish(ctx, "fieldsync.t1.changes.Visit", nil, jetstream.WithMsgID(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	tails := func(when string) {
		for range 10 {
			tnc, tjs, err := nats.Connect(ctx, nats.ConnConfig{URL: c.URL(), Logger: quietLog})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = tail(ctx, tjs, events.ChangesStream, "", true, n, &out)
			tnc.Close()
			if got := strings.Count(out.String(), "\n"); err != nil || got != n {
				t.Fatalf("%s: printed %d of %d events (err %v)", when, got, n, err)
			}
		}
	}
	tails("healthy")
	stopped := c.StreamLeader(events.ChangesStream)
	c.Stop(stopped)
	for l := -1; l < 0 || l == stopped; l = c.StreamLeader(events.ChangesStream) {
		if ctx.Err() != nil {
			t.Fatal("no new leader of the stream")
		}
		time.Sleep(20 * time.Millisecond)
	}
	tails("leader stopped")
}

var quietLog = slog.New(slog.DiscardHandler)
