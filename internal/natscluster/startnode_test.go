package natscluster_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/internal/freeport"
	"github.com/fieldsync/fieldsync/internal/natscluster"
)

// TestStartNodeFormsAClusterOfSeparateNodes starts the three nodes of one
// cluster each on its own (as three processes would), stops the node
// leading a 3-replica stream and starts it again on its store: the
// stream keeps its messages and takes new ones.
func TestStartNodeFormsAClusterOfSeparateNodes(t *testing.T) {
	ports := freeport.TestPorts(t, 6)
	cfg := natscluster.Config{Dir: t.TempDir(), ClientPorts: ports[:3], RoutePorts: ports[3:]}
	nodes := make([]*natscluster.Cluster, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { nodes[i], errs[i] = natscluster.StartNode(cfg, i) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(nodes[i].Shutdown)
	}
	ctx, cancel := context.WithTimeout(context.Background(), liveness)
	defer cancel()
	nc, js, err := nats.Connect(ctx, nats.ConnConfig{URL: nodes[0].URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nats.EnsureStreams(ctx, js, nats.StreamConfig{Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	publish := func(id string) {
		t.Helper()
		waitFor(t, "publish "+id, func() bool {
			_, err := js.Publish(ctx, events.ChangeSubject("t", "Visit"), []byte(id), jetstream.WithMsgID(id))
			return err == nil
		})
	}
	publish("before")
	leader := -1
	waitFor(t, "a stream leader", func() bool {
		for i, n := range nodes {
			if n.StreamLeader(events.ChangesStream) == i {
				leader = i
				return true
			}
		}
		return false
	})
	nodes[leader].Stop(leader)
	publish("while its leader is down")
	if err := nodes[leader].Restart(leader); err != nil {
		t.Fatal(err)
	}
	publish("after")
	// Read through the restarted node alone.
	nc2, js2, err := nats.Connect(ctx, nats.ConnConfig{URL: nodes[leader].URLs()[leader]})
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	var got []string
	waitFor(t, "the stream read in full", func() bool {
		got = nil
		for seq := uint64(1); seq <= 3; seq++ {
			m, err := js2.Stream(ctx, events.ChangesStream)
			if err != nil {
				return false
			}
			msg, err := m.GetMsg(ctx, seq)
			if err != nil {
				return false
			}
			got = append(got, msg.Header.Get(jetstream.MsgIDHeader))
		}
		return true
	})
	if want := []string{"before", "while its leader is down", "after"}; !slices.Equal(got, want) {
		t.Fatalf("stream holds %q, want %q", got, want)
	}
}

func TestStartNodeRefusesAnIncompleteConfig(t *testing.T) {
	ports := freeport.TestPorts(t, 6)
	for _, tc := range []struct {
		name string
		cfg  natscluster.Config
		node int
	}{
		{"no route ports", natscluster.Config{Dir: t.TempDir(), ClientPorts: ports[:3]}, 0},
		{"no client ports", natscluster.Config{Dir: t.TempDir(), RoutePorts: ports[3:]}, 0},
		{"too few route ports", natscluster.Config{Dir: t.TempDir(), ClientPorts: ports[:3], RoutePorts: ports[3:5]}, 0},
		{"node out of range", natscluster.Config{Dir: t.TempDir(), ClientPorts: ports[:3], RoutePorts: ports[3:]}, 3},
		{"negative node", natscluster.Config{Dir: t.TempDir(), ClientPorts: ports[:3], RoutePorts: ports[3:]}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c, err := natscluster.StartNode(tc.cfg, tc.node); err == nil {
				c.Shutdown()
				t.Fatal("started")
			}
		})
	}
}
