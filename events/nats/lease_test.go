package nats_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/storage/sqlite"
)

// leaseTTL is short so that a takeover after a holder's death is quick.
const leaseTTL = 2 * time.Second

// term is one holder's tenure, on the test process's monotonic clock.
type term struct {
	holder         string
	acquired, lost time.Time
}

// leaseLog records every tenure of every holder and counts those holding.
type leaseLog struct {
	t      *testing.T
	mu     sync.Mutex
	terms  []term
	active atomic.Int32
}

// task is the work a holder runs: it counts itself active while its
// context lives and records its tenure.
func (l *leaseLog) task(holder string) func(context.Context) error {
	return func(ctx context.Context) error {
		if n := l.active.Add(1); n != 1 {
			l.t.Errorf("%s started while %d holders were active", holder, n-1)
		}
		start := time.Now()
		<-ctx.Done()
		end := time.Now()
		l.active.Add(-1)
		l.mu.Lock()
		l.terms = append(l.terms, term{holder, start, end})
		l.mu.Unlock()
		return nil
	}
}

func (l *leaseLog) snapshot() []term {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]term(nil), l.terms...)
}

// contender is one holder with its own connection.
type contender struct {
	name   string
	nc     *natsgo.Conn
	cut    atomic.Bool // partitioned: every lease call hangs
	held   atomic.Bool
	cancel context.CancelFunc
	done   chan error
}

// partitionKV is a real bucket whose writes and reads hang until their
// context ends while cut is set, as behind a network partition.
type partitionKV struct {
	jetstream.KeyValue
	cut *atomic.Bool
}

func (k partitionKV) hang(ctx context.Context) error {
	if !k.cut.Load() {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (k partitionKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if err := k.hang(ctx); err != nil {
		return 0, err
	}
	return k.KeyValue.Create(ctx, key, value, opts...)
}

func (k partitionKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := k.hang(ctx); err != nil {
		return 0, err
	}
	return k.KeyValue.Update(ctx, key, value, rev)
}

func (k partitionKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	if err := k.hang(ctx); err != nil {
		return nil, err
	}
	return k.KeyValue.Get(ctx, key)
}

func (k partitionKV) Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	if err := k.hang(ctx); err != nil {
		return err
	}
	return k.KeyValue.Delete(ctx, key, opts...)
}

func startContender(t *testing.T, url, name string, log *leaseLog) *contender {
	t.Helper()
	nc, js := connectJS(t, url)
	kv, err := js.KeyValue(context.Background(), nats.LeaseBucket)
	if err != nil {
		t.Fatal(err)
	}
	c := &contender{name: name, nc: nc, done: make(chan error, 1)}
	l := &nats.Lease{KV: partitionKV{kv, &c.cut}, Key: "relay", Holder: name, Logger: quiet, OnChange: c.held.Store}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() { c.done <- l.Run(ctx, log.task(name)) }()
	t.Cleanup(c.stop)
	return c
}

func (c *contender) stop() {
	if c.cancel != nil {
		c.cancel()
		<-c.done
		c.cancel = nil
	}
}

// watchLease records every write of the lease key as the server saw it.
func watchLease(t *testing.T, kv jetstream.KeyValue) func() []jetstream.KeyValueEntry {
	t.Helper()
	w, err := kv.Watch(context.Background(), "relay", jetstream.IncludeHistory())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []jetstream.KeyValueEntry
	go func() {
		for e := range w.Updates() {
			if e != nil {
				mu.Lock()
				seen = append(seen, e)
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { _ = w.Stop() })
	return func() []jetstream.KeyValueEntry {
		mu.Lock()
		defer mu.Unlock()
		return append([]jetstream.KeyValueEntry(nil), seen...)
	}
}

// TestLeaseHasOneHolderAndMovesWhenItsHolderDies kills the holder four
// times, with a new contender each time — closing its connection (it
// gives up at once) or cutting it off so that every call hangs (it gives
// up at its deadline): the other contender takes over, no two tasks ever
// run at once, each tenure ends before the next begins, and the key's
// history shows each new holder's Create at least a TTL after the dead
// holder's last renewal.
func TestLeaseHasOneHolderAndMovesWhenItsHolderDies(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	_, js := connectJS(t, n.url())
	kv, err := nats.EnsureLeaseBucket(context.Background(), js, nats.LeaseBucketConfig{TTL: leaseTTL})
	if err != nil {
		t.Fatal(err)
	}
	history := watchLease(t, kv)
	log := &leaseLog{t: t}
	live := []*contender{startContender(t, n.url(), "h0", log), startContender(t, n.url(), "h1", log)}
	const rounds = 4
	for round := range rounds {
		var holder, other *contender
		waitFor(t, "a holder", func() bool {
			for i, c := range live {
				if c.held.Load() {
					holder, other = c, live[1-i]
					return true
				}
			}
			return false
		})
		if other.held.Load() {
			t.Fatalf("round %d: %s and %s both hold the lease", round, holder.name, other.name)
		}
		killed, how := time.Now(), "closed"
		if round%2 == 0 {
			holder.nc.Close() // dead: no renewal, no release
		} else {
			holder.cut.Store(true)
			how = "cut off"
		}
		waitFor(t, other.name+" to take over", other.held.Load)
		t.Logf("round %d: %s took over %s after %s was %s (TTL %s)", round, other.name, time.Since(killed).Round(time.Millisecond), holder.name, how, leaseTTL)
		holder.stop()
		live = []*contender{other, startContender(t, n.url(), fmt.Sprintf("h%d", round+2), log)}
	}
	checkTenures(t, log.snapshot(), rounds)
	checkHistory(t, history(), rounds)
}

// checkTenures checks that no tenure overlaps the next.
func checkTenures(t *testing.T, terms []term, atLeast int) {
	t.Helper()
	if len(terms) < atLeast {
		t.Fatalf("%d tenures recorded, want at least %d", len(terms), atLeast)
	}
	for i := 1; i < len(terms); i++ {
		prev, next := terms[i-1], terms[i]
		if !prev.lost.Before(next.acquired) {
			t.Errorf("%s's tenure began %s before %s's ended", next.holder, prev.lost.Sub(next.acquired), prev.holder)
		}
	}
}

// checkHistory checks that every change of holder not preceded by a
// release (a Delete) is written at least a TTL (server time) after the
// previous holder's last write; an expiry shows as a marker (Purge).
func checkHistory(t *testing.T, entries []jetstream.KeyValueEntry, takeovers int) {
	t.Helper()
	changes := 0
	var last jetstream.KeyValueEntry // the last Put
	released := false
	for _, e := range entries {
		switch e.Operation() {
		case jetstream.KeyValueDelete:
			released = true
			continue
		case jetstream.KeyValuePurge:
			continue
		}
		if last != nil && string(last.Value()) != string(e.Value()) {
			changes++
			if gap := e.Created().Sub(last.Created()); gap < leaseTTL && !released {
				t.Errorf("revision %d (%s) written %s after revision %d (%s): less than the TTL", e.Revision(), e.Value(), gap, last.Revision(), last.Value())
			}
		}
		last, released = e, false
	}
	if changes < takeovers {
		t.Errorf("%d changes of holder in the key's history, want %d", changes, takeovers)
	}
}

// TestLeaseIsReleasedOnShutdownAndTakenAtOnce stops the holder cleanly:
// it deletes the key, so the other contender need not wait for the TTL.
func TestLeaseIsReleasedOnShutdownAndTakenAtOnce(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	_, js := connectJS(t, n.url())
	kv, err := nats.EnsureLeaseBucket(context.Background(), js, nats.LeaseBucketConfig{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	history := watchLease(t, kv)
	log := &leaseLog{t: t}
	a := startContender(t, n.url(), "a", log)
	waitFor(t, "a to hold", a.held.Load)
	b := startContender(t, n.url(), "b", log)
	a.stop()
	waitFor(t, "b to take over", b.held.Load) // within the test's liveness, far below the hour's TTL
	checkTenures(t, log.snapshot(), 1)
	var ops []jetstream.KeyValueOp
	for _, e := range history() {
		ops = append(ops, e.Operation())
	}
	want := []jetstream.KeyValueOp{jetstream.KeyValuePut, jetstream.KeyValueDelete, jetstream.KeyValuePut}
	if fmt.Sprint(ops) != fmt.Sprint(want) {
		t.Errorf("key history %v, want %v (create, release, create)", ops, want)
	}
}

// TestLeaseRunNeedsKVAndKey checks the required fields.
func TestLeaseRunNeedsKVAndKey(t *testing.T) {
	t.Parallel()
	if err := (&nats.Lease{Key: "relay"}).Run(context.Background(), nil); err == nil {
		t.Error("Run without KV succeeded")
	}
}

// leasedRelay is a relay with its own connection, run under the lease.
type leasedRelay struct {
	nc    *natsgo.Conn
	relay *nats.Relay
	held  atomic.Bool
}

func startLeasedRelay(t *testing.T, url string, outbox events.Outbox) *leasedRelay {
	t.Helper()
	nc, js := connectJS(t, url)
	kv, err := js.KeyValue(context.Background(), nats.LeaseBucket)
	if err != nil {
		t.Fatal(err)
	}
	r := &leasedRelay{nc: nc, relay: &nats.Relay{Outbox: outbox, JS: js, Logger: quiet, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}}
	l := &nats.Lease{KV: kv, Key: "relay", Logger: quiet, OnChange: r.held.Store}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, r.relay.Run) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// TestLeasedRelayHandsOverWithoutLosingOrRepeatingAnEvent runs two relays
// on one outbox under the relay lease and kills the active one (closes its
// connection) while events are being committed: the other takes over and
// every event is in its stream once, in commit order.
func TestLeasedRelayHandsOverWithoutLosingOrRepeatingAnEvent(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	_, js := connectJS(t, n.url())
	if _, err := nats.EnsureLeaseBucket(context.Background(), js, nats.LeaseBucketConfig{TTL: leaseTTL}); err != nil {
		t.Fatal(err)
	}
	db := openOutbox(t)
	relays := []*leasedRelay{startLeasedRelay(t, n.url(), db), startLeasedRelay(t, n.url(), db)}
	published := func() uint64 { return relays[0].relay.Stats().Published + relays[1].relay.Stats().Published }
	const total = 400
	committed := make(chan error, 1)
	go func() {
		for i := range total {
			err := db.WriteTx(context.Background(), func(tx *sql.Tx, now time.Time) error {
				_, err := sqlite.AppendEvent(context.Background(), tx, testEvent(i), now)
				return err
			})
			if err != nil {
				committed <- err
				return
			}
			relays[0].relay.Kick()
			relays[1].relay.Kick()
			time.Sleep(time.Millisecond) // a trickle, so the kill lands mid-stream
		}
		committed <- nil
	}()
	waitFor(t, "a quarter of the events", func() bool { return published() >= total/4 })
	holder := relays[0]
	if relays[1].held.Load() {
		holder = relays[1]
	}
	holder.nc.Close()
	if err := <-committed; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an empty backlog", func() bool { return backlog(t, db) == 0 })
	checkDelivered(t, js, total)
	t.Logf("published %d + %d, duplicates %d + %d", relays[0].relay.Stats().Published, relays[1].relay.Stats().Published,
		relays[0].relay.Stats().Duplicates, relays[1].relay.Stats().Duplicates)
}

// signalOn is a slog handler that signals each record with message msg.
type signalOn struct {
	msg string
	ch  chan struct{}
}

func (h signalOn) Enabled(context.Context, slog.Level) bool { return true }
func (h signalOn) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h signalOn) WithGroup(string) slog.Handler            { return h }
func (h signalOn) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return nil
}

// TestLeaseStartedWhileNATSIsDownHoldsOnceItIsBack starts a holder while
// its NATS server is down. Run used to return the first failed read of the
// bucket, and the node then never ran the task (the daemon logs that its
// lease loop stopped, once); now it tries again until NATS is back, and
// takes the lease.
func TestLeaseStartedWhileNATSIsDownHoldsOnceItIsBack(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), liveness)
	defer cancel()
	_, js := connectJS(t, n.url())
	if _, err := nats.EnsureLeaseBucket(ctx, js, nats.LeaseBucketConfig{TTL: leaseTTL}); err != nil {
		t.Fatal(err)
	}
	nc, hjs, err := nats.Connect(ctx, nats.ConnConfig{URL: n.url(), Name: "holder", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	kv, err := hjs.KeyValue(ctx, nats.LeaseBucket)
	if err != nil {
		t.Fatal(err)
	}
	n.stop()

	retrying := make(chan struct{}, 1)
	var held atomic.Bool
	l := &nats.Lease{KV: kv, Key: "relay", OnChange: held.Store,
		Logger: slog.New(signalOn{msg: "lease: cannot read the lease bucket; retrying", ch: retrying})}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(runCtx, func(ctx context.Context) error { <-ctx.Done(); return nil }) }()
	select {
	case err := <-done:
		stop()
		t.Fatalf("Run returned while NATS was down: %v", err)
	case <-retrying:
	case <-ctx.Done():
		t.Fatal("Run neither returned nor retried")
	}
	n.start(t)
	waitFor(t, "the lease held once NATS is back", held.Load)
	stop()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
