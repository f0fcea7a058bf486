package nats_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/sqlite"
	"github.com/fieldsync/fieldsync/syncengine"
)

// node is one fieldsyncd's engine and poke bus over a shared database file.
type node struct {
	e   *syncengine.Engine
	bus *nats.PokeBus
	nc  *natsgo.Conn
}

func startNode(t *testing.T, dbPath, natsURL string) *node {
	t.Helper()
	db, err := sqlite.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	nc, _ := connectJS(t, natsURL)
	bus := nats.NewPokeBus(nc, "", quiet)
	e, err := syncengine.New(syncengine.Config{Store: db, Logger: quiet, HeartbeatInterval: time.Hour, OnPoke: bus.Publish})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	if err := bus.Subscribe(e.Poke, func() { go e.Recheck(context.Background()) }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	return &node{e: e, bus: bus, nc: nc}
}

// watch opens a Watch stream for p on n and returns its pokes, once the
// stream is live.
func (n *node) watch(t *testing.T, p *syncengine.Principal) <-chan uint64 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	live, pokes := make(chan struct{}), make(chan uint64, 16)
	go func() {
		_ = n.e.Watch(ctx, p, "", func(ev syncengine.WatchEvent) error {
			if ev.Version == 0 {
				close(live)
			} else {
				pokes <- ev.Version
			}
			return nil
		})
	}()
	<-live
	return pokes
}

func (n *node) push(t *testing.T, p *syncengine.Principal, seq uint64) {
	t.Helper()
	m := syncengine.Mutation{
		Seq: seq, Type: "fieldsync.v1.Visit", RecordID: ids.New(),
		Value: &fieldsyncv1.Visit{Notes: "n"}, Fields: []string{"notes"}, HLC: n.e.Clock().Now(),
	}
	if _, err := n.e.Push(context.Background(), p, []syncengine.Mutation{m}); err != nil {
		t.Fatal(err)
	}
}

// TestPokeOfACommitOnOneNodeWakesAWatcherOnAnother runs two engines on one
// database file, connected only through NATS: a commit on either wakes a
// watcher on the other with the commit's version, and no node takes its
// own pokes from NATS.
func TestPokeOfACommitOnOneNodeWakesAWatcherOnAnother(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	dbPath := filepath.Join(t.TempDir(), "fieldsync.db")
	a, b := startNode(t, dbPath, n.url()), startNode(t, dbPath, n.url())
	rep := newRep(t, dbPath)
	onA, onB := a.watch(t, rep), b.watch(t, rep)

	a.push(t, rep, 1)
	if v := <-onB; v != 1 {
		t.Fatalf("watcher on B poked with version %d, want 1", v)
	}
	if v := <-onA; v != 1 {
		t.Fatalf("watcher on A poked with version %d, want 1", v)
	}
	b.push(t, rep, 2)
	if v := <-onA; v != 2 {
		t.Fatalf("watcher on A poked with version %d, want 2", v)
	}
	// A received B's poke after its own (sent earlier on the same server):
	// each node got exactly the other's.
	if sa, sb := a.bus.Stats(), b.bus.Stats(); sa.Received != 1 || sb.Received != 1 || sa.Sent != 1 || sb.Sent != 1 {
		t.Errorf("stats A %+v, B %+v: want one poke sent and one received by each", sa, sb)
	}
}

// TestPokesLostWhileCutOffAreMadeUpByARecheck commits on one node while
// NATS is down, so its poke is lost: when the connections come back, the
// nodes recheck their watchers against the store and the watcher on the
// other node is poked all the same.
func TestPokesLostWhileCutOffAreMadeUpByARecheck(t *testing.T) {
	t.Parallel()
	n := startNATS(t)
	dbPath := filepath.Join(t.TempDir(), "fieldsync.db")
	a, b := startNode(t, dbPath, n.url()), startNode(t, dbPath, n.url())
	rep := newRep(t, dbPath)
	onB := b.watch(t, rep)
	n.stop()
	// The client learns of the outage from its socket a moment later;
	// until then a publish still goes into the dead connection's buffer.
	for a.nc.IsConnected() {
		time.Sleep(time.Millisecond)
	}
	a.push(t, rep, 1)
	if st := a.bus.Stats(); st.Failed != 1 || st.Sent != 0 {
		t.Fatalf("A's poke bus %+v while NATS is down: want the poke failed", st)
	}
	n.start(t)
	if v := <-onB; v != 1 {
		t.Fatalf("watcher on B poked with version %d, want 1", v)
	}
}

// newRep creates a tenant with a region and a rep in it.
func newRep(t *testing.T, dbPath string) *syncengine.Principal {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tn, err := db.CreateTenant(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	r, err := db.CreateRegion(ctx, tn.ID, "R")
	if err != nil {
		t.Fatal(err)
	}
	u := &syncengine.User{TenantID: tn.ID, DisplayName: "rep", Role: fieldsyncv1.Role_ROLE_REP, RegionID: r.ID}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	return u.Principal("dev-rep")
}

// TestPokeLatencyAcrossNodes reports (no threshold) how long after a push
// returns a watcher on another node is woken, next to one on the same node.
func TestPokeLatencyAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("a measurement")
	}
	n := startNATS(t)
	dbPath := filepath.Join(t.TempDir(), "fieldsync.db")
	a, b := startNode(t, dbPath, n.url()), startNode(t, dbPath, n.url())
	rep := newRep(t, dbPath)
	onA, onB := a.watch(t, rep), b.watch(t, rep)
	const rounds = 100
	local, remote := make([]time.Duration, rounds), make([]time.Duration, rounds)
	for i := range rounds {
		a.push(t, rep, uint64(i+1)) // committed and poked locally when it returns
		start := time.Now()
		<-onA
		local[i] = time.Since(start)
		<-onB
		remote[i] = time.Since(start)
	}
	slices.Sort(local)
	slices.Sort(remote)
	t.Logf("push return to watcher wake-up over %d commits: local p50 %s p99 %s; other node p50 %s p99 %s",
		rounds, local[rounds/2], local[rounds*99/100], remote[rounds/2], remote[rounds*99/100])
}
