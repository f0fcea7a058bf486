package nats_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/events/nats/embedded"
	"github.com/fieldsync/fieldsync/storage/sqlite"
)

// liveness bounds every wait in these tests: reaching it means the code
// under test is stuck, not slow.
const liveness = 2 * time.Minute

// natsServer is an embedded NATS that a test can stop and restart on the
// same store directory and port.
type natsServer struct {
	dir  string
	port int
	srv  *embedded.Server
}

func startNATS(tb testing.TB) *natsServer {
	tb.Helper()
	n := &natsServer{dir: tb.TempDir(), port: -1}
	n.start(tb)
	n.port = n.srv.Port()
	tb.Cleanup(n.stop)
	return n
}

func (n *natsServer) start(tb testing.TB) {
	tb.Helper()
	srv, err := embedded.Start(embedded.Config{StoreDir: n.dir, Port: n.port})
	if err != nil {
		tb.Fatal(err)
	}
	n.srv = srv
}

func (n *natsServer) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv = nil
	}
}

func (n *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// connectJS connects to url and makes sure both streams exist.
func connectJS(tb testing.TB, url string) (*natsgo.Conn, jetstream.JetStream) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), liveness)
	defer cancel()
	nc, js, err := nats.Connect(ctx, nats.ConnConfig{URL: url, Name: tb.Name(), Logger: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	if err := nats.EnsureStreams(ctx, js, nats.StreamConfig{}); err != nil {
		tb.Fatal(err)
	}
	return nc, js
}

func openOutbox(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "fieldsync.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// testEvent is event i: mostly changes of two record types, every fifth an
// alert, so both streams are exercised.
func testEvent(i int) events.OutboxEvent {
	subject := events.ChangeSubject("tenant1", []string{"fieldsync.v1.Visit", "fieldsync.v1.Order"}[i%2])
	if i%5 == 0 {
		subject = events.AlertSubject("tenant1", "stockout")
	}
	return events.OutboxEvent{ID: fmt.Sprintf("ev-%06d", i), Subject: subject, Data: fmt.Appendf(nil, "event %d", i)}
}

// changeEvent is a change event numbered i, for tests that use one stream.
func changeEvent(i int) events.OutboxEvent {
	return events.OutboxEvent{
		ID:      fmt.Sprintf("ch-%06d", i),
		Subject: events.ChangeSubject("tenant1", "fieldsync.v1.Visit"),
		Data:    fmt.Appendf(nil, "change %d", i),
	}
}

// commitEvents appends events [from, to), one transaction each, kicking the
// relay (when not nil) after each commit.
func commitEvents(tb testing.TB, db *sqlite.DB, relay *nats.Relay, from, to int) {
	tb.Helper()
	for i := from; i < to; i++ {
		err := db.WriteTx(context.Background(), func(tx *sql.Tx, now time.Time) error {
			_, err := sqlite.AppendEvent(context.Background(), tx, testEvent(i), now)
			return err
		})
		if err != nil {
			tb.Fatal(err)
		}
		if relay != nil {
			relay.Kick()
		}
	}
}

// runRelay runs r until the test ends and checks that Run returns nil.
// The returned stop function ends it earlier.
func runRelay(tb testing.TB, r *nats.Relay) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("relay Run: %v", err)
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(liveness)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("still waiting for %s after %s", what, liveness)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func backlog(tb testing.TB, db *sqlite.DB) int64 {
	tb.Helper()
	n, _, err := db.OutboxBacklog(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// storedIDs returns the Nats-Msg-Id of every message in stream, in stream
// order.
func storedIDs(tb testing.TB, js jetstream.JetStream, stream string) []string {
	tb.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		tb.Fatal(err)
	}
	st := s.CachedInfo().State
	var ids []string
	for seq := st.FirstSeq; st.Msgs > 0 && seq <= st.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
	}
	return ids
}

// checkDelivered checks that each stream holds exactly the events [0, n)
// that belong to it, once each, in commit order.
func checkDelivered(tb testing.TB, js jetstream.JetStream, n int) {
	tb.Helper()
	want := map[string][]string{}
	for i := range n {
		ev := testEvent(i)
		stream, _ := events.StreamForSubject(ev.Subject)
		want[stream] = append(want[stream], ev.ID)
	}
	for _, stream := range []string{events.ChangesStream, events.AlertsStream} {
		if got := storedIDs(tb, js, stream); !slices.Equal(got, want[stream]) {
			tb.Fatalf("%s holds %d messages %v…, want %d %v…", stream, len(got), head(got), len(want[stream]), head(want[stream]))
		}
	}
}

func head(s []string) []string { return s[:min(len(s), 8)] }

// quiet is a logger for relays that are expected to fail many times.
var quiet = slog.New(slog.DiscardHandler)
