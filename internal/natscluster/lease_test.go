package natscluster_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/events/nats"
)

// TestLeaseKeepsOneHolderWhileTheBucketLeaderRestarts runs two contenders
// for a lease in a 3-replica bucket and stops the node leading the
// bucket's stream, then starts it again: at no time do both run their
// task, the lease is renewed through the new leader, and afterwards one of
// them holds the lease.
func TestLeaseKeepsOneHolderWhileTheBucketLeaderRestarts(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), liveness)
	defer cancel()
	nc, js, err := nats.Connect(ctx, nats.ConnConfig{URL: c.URL(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	bucket, err := nats.EnsureLeaseBucket(ctx, js, nats.LeaseBucketConfig{TTL: 2 * time.Second, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	revision := func() uint64 {
		e, err := bucket.Get(ctx, "relay")
		if err != nil {
			return 0
		}
		return e.Revision()
	}
	var active, terms atomic.Int32
	task := func(ctx context.Context) error {
		if n := active.Add(1); n != 1 {
			t.Errorf("a task started while %d ran", n-1)
		}
		terms.Add(1)
		<-ctx.Done()
		active.Add(-1)
		return nil
	}
	held := make([]*atomic.Bool, 2)
	for i := range held {
		held[i] = new(atomic.Bool)
		cnc, cjs, err := nats.Connect(ctx, nats.ConnConfig{URL: c.URL(), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer cnc.Close()
		kv, err := cjs.KeyValue(ctx, nats.LeaseBucket)
		if err != nil {
			t.Fatal(err)
		}
		l := &nats.Lease{KV: kv, Key: "relay", Logger: quiet, OnChange: held[i].Store}
		lctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- l.Run(lctx, task) }()
		defer func() { stop(); <-done }()
	}
	someone := func() bool { return held[0].Load() || held[1].Load() }
	waitFor(t, "a holder", someone)
	leader := c.StreamLeader("KV_" + nats.LeaseBucket)
	if leader < 0 {
		t.Fatal("the lease bucket has no leader")
	}
	before := revision()
	c.Stop(leader)
	waitFor(t, "a renewal through a new leader", func() bool { return revision() > before+2 })
	if err := c.Restart(leader); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a holder after the restart", someone)
	t.Logf("%d tenures", terms.Load())
}
