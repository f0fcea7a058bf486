package nats_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/events/nats/embedded"
	"github.com/fieldsync/fieldsync/internal/benchenv"
	"github.com/fieldsync/fieldsync/storage/sqlite"
)

// benchPayload is the size of a typical serialized ChangeEvent.
const benchPayload = 256

func benchEvent(prefix string, i int) events.OutboxEvent {
	return events.OutboxEvent{
		ID:      fmt.Sprintf("%s-%09d", prefix, i),
		Subject: events.ChangeSubject("tenant1", "fieldsync.v1.Visit"),
		Data:    make([]byte, benchPayload),
	}
}

// fillOutbox commits events [from, to), 500 per transaction.
func fillOutbox(b *testing.B, db *sqlite.DB, from, to int) {
	b.Helper()
	ctx := context.Background()
	for lo := from; lo < to; lo += 500 {
		err := db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
			for i := lo; i < min(lo+500, to); i++ {
				if _, err := sqlite.AppendEvent(ctx, tx, benchEvent("relay", i), now); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// relayAll runs a relay until it has published n events.
func relayAll(b *testing.B, db *sqlite.DB, js jetstream.JetStream, n int) time.Duration {
	start := time.Now()
	relay := &nats.Relay{Outbox: db, JS: js}
	stop := runRelay(b, relay)
	for relay.Stats().Published < uint64(n) {
		time.Sleep(100 * time.Microsecond)
	}
	stop()
	return time.Since(start)
}

// publishAll publishes events [from, to) with synchronous js.Publish calls.
func publishAll(b *testing.B, js jetstream.JetStream, from, to int) time.Duration {
	start := time.Now()
	for i := from; i < to; i++ {
		ev := benchEvent("sync", i)
		if _, err := js.Publish(context.Background(), ev.Subject, ev.Data, jetstream.WithMsgID(ev.ID)); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// BenchmarkRelayThroughput compares, on one embedded JetStream (its
// default periodic fsync), a relay draining a SQLite outbox with a bare loop of
// synchronous js.Publish calls. The b.N events go in ten rounds, each
// relaying a slice of them then publishing as many in the bare loop, so
// both see the same machine load. ns/op is the relay's time per event;
// relay/sync is the ratio of the two rates.
func BenchmarkRelayThroughput(b *testing.B) {
	n := startNATS(b)
	_, js := connectJS(b, n.url())
	db := openOutbox(b)
	const rounds = 10
	var relayTime, syncTime time.Duration
	b.ResetTimer()
	for r := range rounds {
		from, to := b.N*r/rounds, b.N*(r+1)/rounds
		b.StopTimer()
		fillOutbox(b, db, from, to)
		b.StartTimer()
		relayTime += relayAll(b, db, js, to-from)
		b.StopTimer()
		syncTime += publishAll(b, js, from, to)
		b.StartTimer()
	}
	b.StopTimer()
	relayRate := float64(b.N) / relayTime.Seconds()
	syncRate := float64(b.N) / syncTime.Seconds()
	b.ReportMetric(relayRate, "relay_events/s")
	b.ReportMetric(syncRate, "sync_publish_events/s")
	b.ReportMetric(relayRate/syncRate, "relay/sync")
}

// BenchmarkRelaySyncAlwaysVsPeriodic drains the same events from a SQLite
// outbox into an embedded JetStream that fsyncs every message before
// acknowledging it (SyncAlways, the former default) and into one that
// fsyncs every second (the default: the outbox is the events' durable
// copy, docs/events.md "Durability"), in ten rounds alternating which
// goes first. It reports both rates, their ratio and the process's CPU
// time per event on each side.
func BenchmarkRelaySyncAlwaysVsPeriodic(b *testing.B) {
	type side struct {
		name      string
		js        jetstream.JetStream
		db        *sqlite.DB
		took, cpu time.Duration
	}
	newSide := func(name string, syncAlways bool) *side {
		srv, err := embedded.Start(embedded.Config{StoreDir: b.TempDir(), Port: -1, SyncAlways: syncAlways})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(srv.Shutdown)
		_, js := connectJS(b, srv.ClientURL())
		return &side{name: name, js: js, db: openOutbox(b)}
	}
	sides := []*side{newSide("sync_always", true), newSide("periodic", false)}
	benchenv.ReportLoad(b)
	const rounds = 10
	b.ResetTimer()
	for r := range rounds {
		from, to := b.N*r/rounds, b.N*(r+1)/rounds
		b.StopTimer()
		for _, s := range sides {
			fillOutbox(b, s.db, from, to)
		}
		b.StartTimer()
		for _, s := range []*side{sides[r%2], sides[1-r%2]} {
			cpu := benchenv.CPUTime()
			s.took += relayAll(b, s.db, s.js, to-from)
			s.cpu += benchenv.CPUTime() - cpu
		}
	}
	b.StopTimer()
	for _, s := range sides {
		b.ReportMetric(float64(b.N)/s.took.Seconds(), s.name+"_events/s")
		b.ReportMetric(float64(s.cpu.Microseconds())/float64(b.N), s.name+"_cpu_us/event")
	}
	b.ReportMetric(sides[0].took.Seconds()/sides[1].took.Seconds(), "periodic/sync_always")
	benchenv.ReportLoad(b)
}

// BenchmarkCommitToConsumerLatency commits one event at a time (kicking the
// relay) and waits until a durable consumer's handler has it; it reports
// the p50 and p99 time from commit to handler.
func BenchmarkCommitToConsumerLatency(b *testing.B) {
	n := startNATS(b)
	_, js := connectJS(b, n.url())
	db := openOutbox(b)
	relay := &nats.Relay{Outbox: db, JS: js}
	runRelay(b, relay)
	got := make(chan string, 1)
	wait := consume(context.Background(), nats.ConsumerConfig{Stream: events.ChangesStream, Durable: "bench"}, js,
		func(_ context.Context, m nats.Message) error { got <- m.MsgID; return nil })
	b.Cleanup(func() { wait() })

	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		ev := benchEvent("lat", i)
		err := db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
			_, err := sqlite.AppendEvent(ctx, tx, ev, now)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		committed := time.Now()
		relay.Kick()
		if id := <-got; id != ev.ID {
			b.Fatalf("consumer got %s, want %s", id, ev.ID)
		}
		lat = append(lat, time.Since(committed))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50_ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99_ms")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
