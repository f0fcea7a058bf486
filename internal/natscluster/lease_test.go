package natscluster_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/internal/natscluster"
)

// TestLeaseKeepsOneHolderWhileTheBucketLeaderRestarts runs two contenders
// for a lease in a 3-replica bucket and stops the node leading the
// bucket's stream, then starts it again: at no time do both run their
// task, the lease is renewed through the new leader, and afterwards one of
// them holds the lease.
func TestLeaseKeepsOneHolderWhileTheBucketLeaderRestarts(t *testing.T) {
	logs := &logBuf{}
	c, err := natscluster.Start(natscluster.Config{Dir: t.TempDir(), Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), liveness)
	defer cancel()
	nc, js, err := nats.Connect(ctx, nats.ConnConfig{URL: c.URL(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	dumpOnFailure(t, c, "KV_"+nats.LeaseBucket, logs)
	bucket, err := nats.EnsureLeaseBucket(ctx, js, nats.LeaseBucketConfig{TTL: 2 * time.Second, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	var lastGet string
	defer func() {
		if t.Failed() {
			t.Logf("last read of the key: %s", lastGet)
		}
	}()
	// Each read gets its own timeout: a read sent to the node being
	// stopped is never answered and must not hold the wait until liveness.
	revision := func() uint64 {
		rctx, cancel := context.WithTimeout(ctx, nats.APITimeout)
		defer cancel()
		e, err := bucket.Get(rctx, "relay")
		if err != nil {
			lastGet = err.Error()
			return 0
		}
		lastGet = fmt.Sprintf("revision %d", e.Revision())
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
		l := &nats.Lease{KV: kv, Key: "relay", Logger: logs.logger().With("holder", i), OnChange: held[i].Store}
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
	t.Logf("before %d", before)
	c.Stop(leader)
	waitFor(t, "a renewal through a new leader", func() bool { return revision() > before+2 })
	if err := c.Restart(leader); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a holder after the restart", someone)
	t.Logf("%d tenures", terms.Load())
}
