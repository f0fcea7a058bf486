package nats_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/nats"
)

func TestRelayDeliversEveryEventOnceInCommitOrder(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	_, js := connectJS(t, n.url())
	db := openOutbox(t)
	relay := &nats.Relay{Outbox: db, JS: js, BatchSize: 32}
	commitEvents(t, db, nil, 0, 100) // a backlog before the relay starts
	runRelay(t, relay)
	commitEvents(t, db, relay, 100, 400) // and commits while it runs
	waitFor(t, "an empty outbox", func() bool { return backlog(t, db) == 0 })
	checkDelivered(t, js, 400)
	if st := relay.Stats(); st.Published != 400 || st.Duplicates != 0 {
		t.Fatalf("stats %+v, want 400 published, no duplicates", st)
	}
}

func TestRelayKeepsABacklogWhileNATSIsDownAndDeliversItAfter(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	_, js := connectJS(t, n.url())
	db := openOutbox(t)
	relay := &nats.Relay{Outbox: db, JS: js, BatchSize: 16, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Logger: quiet}
	runRelay(t, relay)
	commitEvents(t, db, relay, 0, 50)
	waitFor(t, "the first events to be sent", func() bool { return backlog(t, db) == 0 })

	n.stop()
	failed := relay.Stats().Failures
	commitEvents(t, db, relay, 50, 150)
	waitFor(t, "the relay to fail and back off repeatedly", func() bool {
		st := relay.Stats()
		return st.Failures >= failed+5 && st.Backlog == 100
	})
	if got := backlog(t, db); got != 100 {
		t.Fatalf("backlog %d while NATS is down, want all 100 new events unsent", got)
	}

	n.start(t) // same store directory, same port
	waitFor(t, "the backlog to drain", func() bool { return backlog(t, db) == 0 })
	checkDelivered(t, js, 150)
	if st := relay.Stats(); st.Backlog != 0 || st.Published < 150 {
		t.Fatalf("stats after recovery %+v", st)
	}
}

func TestRelayLosesNothingWhenNATSStopsMidBacklog(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	_, js := connectJS(t, n.url())
	db := openOutbox(t)
	commitEvents(t, db, nil, 0, 1500)
	relay := &nats.Relay{Outbox: db, JS: js, BatchSize: 64, Logger: quiet,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	runRelay(t, relay)
	waitFor(t, "the relay to be part-way through", func() bool { return relay.Stats().Published >= 200 })
	n.stop() // publishes are in flight: some stored without an ack reaching the relay
	failed := relay.Stats().Failures
	waitFor(t, "the relay to back off", func() bool { return relay.Stats().Failures >= failed+3 })
	n.start(t)
	waitFor(t, "the backlog to drain", func() bool { return backlog(t, db) == 0 })
	checkDelivered(t, js, 1500)
}

// crashingOutbox publishes normally but fails MarkSent, as if the process
// died between JetStream's ack and the outbox update.
type crashingOutbox struct {
	events.Outbox
	cancel context.CancelFunc // when set, also "kills" the relay
}

func (o crashingOutbox) MarkSent(context.Context, []events.Sent) error {
	if o.cancel != nil {
		o.cancel()
	}
	return errors.New("killed before mark sent")
}

func TestRelayRepublishAfterCrashBeforeMarkSentLeavesOneCopy(t *testing.T) {
	t.Parallel()
	for _, kill := range []bool{false, true} {
		name := map[bool]string{false: "mark sent fails", true: "relay killed"}[kill]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			n := startNATS(t)
			_, js := connectJS(t, n.url())
			db := openOutbox(t)
			commitEvents(t, db, nil, 0, 60)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := crashingOutbox{Outbox: db}
			if kill {
				out.cancel = cancel
			}
			first := &nats.Relay{Outbox: out, JS: js, BatchSize: 100, Logger: quiet, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}
			done := make(chan error, 1)
			go func() { done <- first.Run(ctx) }()
			stored := func() int {
				return len(storedIDs(t, js, events.ChangesStream)) + len(storedIDs(t, js, events.AlertsStream))
			}
			if !kill { // it retries: each pass republishes the duplicates and goes on
				waitFor(t, "every event to be stored once", func() bool { return stored() == 60 })
				cancel()
			} // else it dies at its first MarkSent, once every publish was acknowledged
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := backlog(t, db); got != 60 {
				t.Fatalf("backlog %d after the crashes, want all 60 events unsent", got)
			}
			before := stored()
			if before == 0 {
				t.Fatal("the first relay stored nothing")
			}

			second := &nats.Relay{Outbox: db, JS: js, BatchSize: 25}
			runRelay(t, second)
			waitFor(t, "the outbox to drain", func() bool { return backlog(t, db) == 0 })
			checkDelivered(t, js, 60)
			// Standalone JetStream checks Nats-Expected-Last-Sequence before
			// it deduplicates, so a relay that took a duplicate's sequence for
			// the stream's end had every pass after it refused.
			if st := second.Stats(); st.Published != 60 || st.Duplicates != uint64(before) || st.Failures != 0 {
				t.Fatalf("restarted relay stats %+v, want 60 published, %d of them duplicates, no failed pass", st, before)
			}
		})
	}
}

// memOutbox is an in-memory Outbox whose events a test can edit.
type memOutbox struct {
	mu   sync.Mutex
	evs  []events.OutboxEvent
	sent map[uint64]events.Sent
}

func (o *memOutbox) PendingEvents(_ context.Context, limit int) ([]events.OutboxEvent, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []events.OutboxEvent
	for _, ev := range o.evs {
		if _, sent := o.sent[ev.Seq]; !sent && len(out) < limit {
			out = append(out, ev)
		}
	}
	return out, nil
}

func (o *memOutbox) MarkSent(_ context.Context, sent []events.Sent) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range sent {
		if _, ok := o.sent[s.Seq]; !ok {
			o.sent[s.Seq] = s
		}
	}
	return nil
}

func (o *memOutbox) LastSent(_ context.Context, stream string) (uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var last uint64
	for _, s := range o.sent {
		if s.Stream == stream {
			last = max(last, s.StreamSeq)
		}
	}
	return last, nil
}

func (o *memOutbox) Resend(_ context.Context, stream string, after uint64) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var n int64
	for seq, s := range o.sent {
		if s.Stream == stream && s.StreamSeq > after {
			delete(o.sent, seq)
			n++
		}
	}
	return n, nil
}

func (o *memOutbox) setData(seq uint64, data []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.evs[seq-1].Data = data
}

func TestRelayNeverStoresAnEventAheadOfARefusedOne(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	_, js := connectJS(t, n.url())
	ctx := context.Background()
	s, err := js.Stream(ctx, events.ChangesStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.MaxMsgSize = 1000 // the stream refuses bigger messages (headers included)
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	out := &memOutbox{sent: map[uint64]events.Sent{}}
	for i := range 6 {
		ev := changeEvent(i)
		ev.Seq = uint64(i + 1)
		out.evs = append(out.evs, ev)
	}
	out.evs[2].Data = make([]byte, 2000) // refused by the stream
	relay := &nats.Relay{Outbox: out, JS: js, Logger: quiet, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}
	runRelay(t, relay)
	waitFor(t, "repeated failures on the refused event", func() bool { return relay.Stats().Failures >= 3 })
	ids := func(evs []events.OutboxEvent) []string {
		var s []string
		for _, ev := range evs {
			s = append(s, ev.ID)
		}
		return s
	}
	if got, want := storedIDs(t, js, events.ChangesStream), ids(out.evs[:2]); !slices.Equal(got, want) {
		t.Fatalf("stream holds %v while event 3 is refused, want only %v", got, want)
	}

	out.setData(3, []byte("fixed"))
	relay.Kick()
	waitFor(t, "every event sent", func() bool { p, _ := out.PendingEvents(ctx, 10); return len(p) == 0 })
	if got, want := storedIDs(t, js, events.ChangesStream), ids(out.evs); !slices.Equal(got, want) {
		t.Fatalf("stream holds %v, want %v", got, want)
	}
}

func TestRelayKickStartsAPassWithoutWaitingForThePollInterval(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	_, js := connectJS(t, n.url())
	db := openOutbox(t)
	relay := &nats.Relay{Outbox: db, JS: js, PollInterval: time.Hour}
	runRelay(t, relay)
	for i := range 3 {
		commitEvents(t, db, relay, i, i+1) // kicks after the commit
		waitFor(t, "the kicked event to be sent", func() bool { return backlog(t, db) == 0 })
	}
	checkDelivered(t, js, 3)
}

func TestRelayMetricsCountPublishedEvents(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	_, js := connectJS(t, n.url())
	db := openOutbox(t)
	relay := &nats.Relay{Outbox: db, JS: js}
	reg := prometheus.NewRegistry()
	if err := relay.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if err := relay.RegisterMetrics(reg); err == nil {
		t.Fatal("registering the same metrics twice succeeded")
	}
	runRelay(t, relay)
	commitEvents(t, db, relay, 0, 10)
	waitFor(t, "the outbox to drain", func() bool { return relay.Stats().Published == 10 })
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		m := f.GetMetric()[0]
		got[f.GetName()] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	if got["fieldsync_outbox_published_total"] != 10 || got["fieldsync_outbox_duplicates_total"] != 0 {
		t.Fatalf("metrics %v, want 10 published", got)
	}
	if _, ok := got["fieldsync_outbox_backlog"]; !ok || len(got) != 5 {
		t.Fatalf("metrics %v, want the five relay metrics", got)
	}
}

func TestRelayRunStopsWhenItsConnectionIsClosed(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	nc, js := connectJS(t, n.url())
	db := openOutbox(t)
	commitEvents(t, db, nil, 0, 1)
	nc.Close()
	err := (&nats.Relay{Outbox: db, JS: js, Logger: quiet}).Run(context.Background())
	if !errors.Is(err, natsgo.ErrConnectionClosed) {
		t.Fatalf("Run on a closed connection: %v, want ErrConnectionClosed", err)
	}
	if got := backlog(t, db); got != 1 {
		t.Fatalf("backlog %d, want the event still unsent", got)
	}
}

func TestRelayRunNeedsOutboxAndJetStream(t *testing.T) {
	t.Parallel()
	if err := (&nats.Relay{}).Run(context.Background()); err == nil {
		t.Fatal("Run without Outbox and JS returned nil")
	}
}

// TestRelayRelearnsWhereAStreamEndsAfterAForeignMessage stores a message
// the relay did not send between two of its passes: the relay's expected
// last sequence is refused, it fails a pass, learns where the stream now
// ends and delivers the rest, each event once. (Order around a foreign
// message is not guaranteed: the relay must be its streams' only
// publisher, see Relay.)
func TestRelayRelearnsWhereAStreamEndsAfterAForeignMessage(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	_, js := connectJS(t, n.url())
	db := openOutbox(t)
	relay := &nats.Relay{Outbox: db, JS: js, BatchSize: 16, Logger: quiet, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}
	runRelay(t, relay)
	commitEvents(t, db, relay, 0, 40)
	waitFor(t, "the first events to be sent", func() bool { return backlog(t, db) == 0 })
	ctx, cancel := context.WithTimeout(context.Background(), liveness)
	defer cancel()
	if _, err := js.Publish(ctx, testEvent(1).Subject, []byte("foreign"), jetstream.WithMsgID("foreign")); err != nil {
		t.Fatal(err)
	}
	commitEvents(t, db, relay, 40, 80)
	waitFor(t, "the rest to be sent", func() bool { return relay.Stats().Published == 80 })
	if st := relay.Stats(); st.Failures == 0 {
		t.Fatalf("stats %+v, want a refused pass", st)
	}
	var want []string
	for i := range 80 {
		if ev := testEvent(i); ev.Subject != testEvent(0).Subject {
			want = append(want, ev.ID)
		}
	}
	got := slices.DeleteFunc(storedIDs(t, js, events.ChangesStream), func(id string) bool { return id == "foreign" })
	if slices.Sort(got); !slices.Equal(got, want) {
		t.Fatalf("changes stream holds %d events %v, want each of %d once", len(got), got, len(want))
	}
}

// stuckOutbox is a real outbox whose reads of pending events hang until
// their context ends while stuck is set, as on a database connection that
// stopped answering (half-open after a network fault).
type stuckOutbox struct {
	events.Outbox
	stuck atomic.Bool
	hung  chan struct{} // signalled when a read hangs
}

func (o *stuckOutbox) PendingEvents(ctx context.Context, limit int) ([]events.OutboxEvent, error) {
	if o.stuck.Load() {
		select {
		case o.hung <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return o.Outbox.PendingEvents(ctx, limit)
}

// TestRelayGivesUpAReadOfTheOutboxThatHangs: a read of the outbox that
// never returns used to hold the relay forever, silently, while its lease
// kept being renewed; each read is now bounded by OutboxTimeout, so the
// pass fails and is retried, and the events are delivered once the
// database answers again.
func TestRelayGivesUpAReadOfTheOutboxThatHangs(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	_, js := connectJS(t, n.url())
	db := openOutbox(t)
	outbox := &stuckOutbox{Outbox: db, hung: make(chan struct{}, 1)}
	outbox.stuck.Store(true)
	relay := &nats.Relay{Outbox: outbox, JS: js, Logger: quiet, OutboxTimeout: 200 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	commitEvents(t, db, nil, 0, 20)
	runRelay(t, relay)
	select {
	case <-outbox.hung:
	case <-time.After(liveness):
		t.Fatal("the relay never read the outbox")
	}
	waitFor(t, "a failed pass", func() bool { return relay.Stats().Failures > 0 })
	outbox.stuck.Store(false)
	waitFor(t, "the backlog relayed", func() bool { return backlog(t, db) == 0 })
	checkDelivered(t, js, 20)
}
