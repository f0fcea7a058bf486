package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/syncengine"
)

// Lease keys: each names work that runs once per cluster.
const (
	LeaseRelay      = "relay"           // the outbox relay and its pruning
	LeaseInsights   = "insights"        // the PHI and alert consumer and its sweep
	LeaseTombstones = "tombstone-purge" // the hourly tombstone purge
)

// clusterParts are what a node on a cluster adds to a daemon.
type clusterParts struct {
	leases    jetstream.KeyValue   // the lease bucket
	leaseHeld *prometheus.GaugeVec // fieldsync_lease_held{lease}
	pokes     *nats.PokeBus        // pokes to and from the other nodes
}

// clustered reports whether this node shares its NATS with other nodes
// (--nats-url): then the relay, the consumers and the purges run under
// leases, once per cluster, and commits poke the other nodes' watchers.
// On the embedded NATS the data-dir lock makes this process the only one.
func (d *Daemon) clustered() bool { return d.cfg.NATSURL != "" }

// wireLeases makes the lease bucket on a shared NATS, and the gauge
// fieldsync_lease_held{lease} saying which leases this node holds.
func (d *Daemon) wireLeases(ctx context.Context, js jetstream.JetStream, reg prometheus.Registerer) error {
	if !d.clustered() {
		return nil
	}
	kv, err := nats.EnsureLeaseBucket(ctx, js, nats.LeaseBucketConfig{TTL: nats.DefaultLeaseTTL, Replicas: d.cfg.NATSReplicas})
	if err != nil {
		return err
	}
	d.cluster.leases = kv
	d.cluster.leaseHeld = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "fieldsync_lease_held", Help: "1 while this node holds the lease and runs its work (relay, insights, tombstone-purge).",
	}, []string{"lease"})
	return reg.Register(d.cluster.leaseHeld)
}

// goOnce runs task until runCtx ends: directly on a single node, and under
// the lease key on a cluster, where task's context ends when the lease is
// lost (and task runs again if this node takes the lease back). A task
// that fails runs again after a pause on both (see retryTask).
func (d *Daemon) goOnce(runCtx context.Context, name, key string, task func(context.Context) error) {
	if d.cluster.leases == nil {
		d.goRun(name, func() error { return d.retryTask(runCtx, name, task) })
		return
	}
	held := d.cluster.leaseHeld.WithLabelValues(key)
	l := &nats.Lease{KV: d.cluster.leases, Key: key, Holder: d.nodeName(), Logger: d.log.With("task", name), OnChange: func(h bool) {
		v := 0.0
		if h {
			v = 1
		}
		held.Set(v)
	}}
	d.goRun(name, func() error { return l.Run(runCtx, task) })
}

// Pauses before a failed task runs again on a single node: doubled after
// each failure in a row, from taskRetryMin to taskRetryMax; a run that
// lasted taskRetryMax or more starts the doubling over.
var (
	taskRetryMin = time.Second
	taskRetryMax = 30 * time.Second
)

// retryTask runs task until ctx ends, running it again after a pause when
// it returns before that (failed, or done by itself), with the error
// logged. A lease does the same on a cluster. Before, a single node's
// insights consumer that returned an error (the consumer deleted by an
// operator, a JetStream error) stayed stopped until the process restarted,
// while the API went on serving and alerts silently ceased.
func (d *Daemon) retryTask(ctx context.Context, name string, task func(context.Context) error) error {
	pause := taskRetryMin
	for {
		began := time.Now()
		err := task(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(began) >= taskRetryMax {
			pause = taskRetryMin
		}
		d.log.Error(name+" stopped; running it again", "err", err, "retry_in", pause)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		pause = min(2*pause, taskRetryMax)
	}
}

// together runs tasks concurrently under one lease: the first to return
// (failed, or done by itself) cancels the others, and together returns
// once all have, with their errors. A task that stopped must end the
// lease's term, so that the lease logs its error and runs them all again:
// waiting for the others instead kept the lease held with, for example, the
// insights consumer dead and its failure unlogged behind a sweep that
// never returns.
func together(tasks ...func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		errs := make([]error, len(tasks))
		var wg sync.WaitGroup
		for i, task := range tasks {
			wg.Go(func() {
				defer cancel()
				errs[i] = task(ctx)
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}
}

// nodeName names this node in leases: host, pid and data dir.
func (d *Daemon) nodeName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d:%s", host, os.Getpid(), d.cfg.DataDir)
}

// wirePokes, on a cluster, returns the engine's OnPoke: each commit's poke
// goes to the other nodes. Call subscribePokes once the engine exists.
func (d *Daemon) wirePokes(nc *natsgo.Conn) func(events.Poke) {
	if !d.clustered() || !d.cfg.Serve {
		return nil
	}
	d.cluster.pokes = nats.NewPokeBus(nc, "", d.log)
	d.closers = append(d.closers, d.cluster.pokes.Close)
	return d.cluster.pokes.Publish
}

// subscribePokes hands the other nodes' pokes to the engine's watchers,
// and rechecks every watcher when asked (a node's NATS connection came
// back, see nats.PokeBus), one recheck at a time, merging requests.
func (d *Daemon) subscribePokes(runCtx context.Context, e *syncengine.Engine) error {
	if d.cluster.pokes == nil {
		return nil
	}
	asked := make(chan struct{}, 1)
	d.goRun("watch rechecks", func() error {
		for {
			select {
			case <-runCtx.Done():
				return nil
			case <-asked:
				if err := e.Recheck(runCtx); err != nil && runCtx.Err() == nil {
					d.log.Warn("watch recheck failed", "err", err)
				}
			}
		}
	})
	return d.cluster.pokes.Subscribe(e.Poke, func() {
		select {
		case asked <- struct{}{}:
		default:
		}
	})
}
