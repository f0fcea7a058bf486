package daemon

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/events/nats/embedded"
	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// liveness bounds every wait: reaching it means something is stuck.
const liveness = 2 * time.Minute

// TestTwoNodesRunOneRelayAndPokeEachOthersWatchers starts two daemons on
// one NATS and one SQLite file: one of them holds the relay lease and
// publishes the other's commits too; when it stops, the other takes over;
// a commit on either wakes a watcher on the other.
func TestTwoNodesRunOneRelayAndPokeEachOthersWatchers(t *testing.T) {
	srv, err := embedded.Start(embedded.Config{StoreDir: t.TempDir(), Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	shared := filepath.Join(t.TempDir(), "fieldsync.db")
	node := func() *Daemon {
		cfg := testConfig(t)
		cfg.NATSURL, cfg.SQLitePath = srv.ClientURL(), shared
		return startDaemon(t, cfg)
	}
	a, b := node(), node()
	kv := leaseBucket(t, a)
	holder, other := a, b
	if strings.Contains(leaseValue(t, kv, LeaseRelay), b.DataDir()) {
		holder, other = b, a
	}
	waitFor(t, "fieldsync_lease_held to show the holder", func() bool {
		return leaseHeld(t, holder, LeaseRelay) == 1 && leaseHeld(t, other, LeaseRelay) == 0
	})
	kv = leaseBucket(t, other) // the holder's connection closes with it
	rep := newRep(t, a)
	watch := watcher(t, other.Engine(), rep)

	push(t, holder.Engine(), rep, 1)
	if v := <-watch; v != 1 {
		t.Fatalf("watcher on the other node poked with %d, want 1", v)
	}
	push(t, other.Engine(), rep, 2) // published by the holder's relay
	waitStream(t, a.js, 2)

	holder.Close() // releases its leases
	waitFor(t, "the other node to take the relay lease", func() bool {
		return strings.Contains(leaseValue(t, kv, LeaseRelay), other.DataDir())
	})
	push(t, other.Engine(), rep, 3)
	waitStream(t, other.js, 3)
}

// leaseHeld reads the node's fieldsync_lease_held for key.
func leaseHeld(t *testing.T, d *Daemon, key string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(d.cluster.leaseHeld)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == key {
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func leaseBucket(t *testing.T, d *Daemon) jetstream.KeyValue {
	t.Helper()
	kv, err := d.js.KeyValue(context.Background(), nats.LeaseBucket)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// leaseValue waits until the key is held and returns its holder.
func leaseValue(t *testing.T, kv jetstream.KeyValue, key string) string {
	t.Helper()
	var v string
	waitFor(t, key+" to be held", func() bool {
		e, err := kv.Get(context.Background(), key)
		if err == nil {
			v = string(e.Value())
		}
		return err == nil
	})
	return v
}

// waitStream waits until the change stream holds n messages, then checks
// that it holds no more.
func waitStream(t *testing.T, js jetstream.JetStream, n uint64) {
	t.Helper()
	var got uint64
	waitFor(t, "the change events", func() bool {
		s, err := js.Stream(context.Background(), events.ChangesStream)
		if err != nil {
			t.Logf("change stream: %v; asking again", err) // a loaded server may miss a request
			return false
		}
		got = s.CachedInfo().State.Msgs
		return got >= n
	})
	if got != n {
		t.Fatalf("%d change events in the stream, want %d", got, n)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(liveness)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after %s", what, liveness)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newRep(t *testing.T, d *Daemon) *syncengine.Principal {
	t.Helper()
	ctx := context.Background()
	tn, err := d.Store().CreateTenant(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	r, err := d.Store().CreateRegion(ctx, tn.ID, "R")
	if err != nil {
		t.Fatal(err)
	}
	u := &syncengine.User{TenantID: tn.ID, DisplayName: "rep", Role: fieldsyncv1.Role_ROLE_REP, RegionID: r.ID}
	if err := d.Store().CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	return u.Principal("dev-rep")
}

// watcher opens a Watch for p once it is live and returns its pokes.
func watcher(t *testing.T, e *syncengine.Engine, p *syncengine.Principal) <-chan uint64 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	live, pokes := make(chan struct{}), make(chan uint64, 16)
	var once sync.Once
	go func() {
		_ = e.Watch(ctx, p, "", func(ev syncengine.WatchEvent) error {
			if ev.Version > 0 {
				pokes <- ev.Version
			} else {
				once.Do(func() { close(live) })
			}
			return nil
		})
	}()
	<-live
	return pokes
}

func push(t *testing.T, e *syncengine.Engine, p *syncengine.Principal, seq uint64) {
	t.Helper()
	m := syncengine.Mutation{
		Seq: seq, Type: "fieldsync.v1.Visit", RecordID: ids.New(),
		Value: &fieldsyncv1.Visit{Notes: "n"}, Fields: []string{"notes"}, HLC: e.Clock().Now(),
	}
	if _, err := e.Push(context.Background(), p, []syncengine.Mutation{m}); err != nil {
		t.Fatal(err)
	}
}

func TestNATSReplicasNeedAClusterAndStayWithinFive(t *testing.T) {
	for _, tc := range []struct {
		url      string
		replicas int
		ok       bool
	}{
		{"", 1, true},
		{"", 3, false}, // the embedded server is a single node
		{"nats://a:4222,nats://b:4222", 3, true},
		{"nats://a:4222", 0, false},
		{"nats://a:4222", 6, false},
	} {
		cfg := DefaultConfig()
		cfg.NATSURL, cfg.NATSReplicas = tc.url, tc.replicas
		err := cfg.Validate()
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "nats-replicas")) {
			t.Errorf("url %q replicas %d: Validate() = %v, want ok %v", tc.url, tc.replicas, err, tc.ok)
		}
	}
}

// TestTogetherEndsEveryTaskWhenOneStops: the insights consumer failing
// must end its lease term (logged, run again), not leave the sweep running
// under the lease with the consumer dead; and a task ending by itself
// ends the term too.
func TestTogetherEndsEveryTaskWhenOneStops(t *testing.T) {
	t.Parallel()
	failure := errors.New("consumer failed")
	blocks := func(ctx context.Context) error { <-ctx.Done(); return nil }
	for _, tc := range []struct {
		name string
		stop func(context.Context) error
		want error
	}{
		{"a task fails", func(context.Context) error { return failure }, failure},
		{"a task returns", func(context.Context) error { return nil }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- together(blocks, tc.stop, blocks)(context.Background()) }()
			select {
			case err := <-done:
				if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
					t.Fatalf("together returned %v, want %v", err, tc.want)
				}
			case <-time.After(liveness):
				t.Fatal("together still waits for the other tasks")
			}
		})
	}
	// Cancelled from outside: every task ends, no error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := together(blocks, blocks)(ctx); err != nil {
		t.Fatalf("cancelled: %v", err)
	}
}
