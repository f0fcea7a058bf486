package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/events/nats/embedded"
	"github.com/fieldsync/fieldsync/internal/datadir"
)

// NATSURLFile, in the data dir, holds the embedded NATS server's client URL.
const NATSURLFile = datadir.NATSURLFile

// Event retention: sent outbox rows are pruned after this; the streams
// keep events for StreamMaxAge.
const (
	OutboxRetention = 7 * 24 * time.Hour
	StreamMaxAge    = 90 * 24 * time.Hour
)

// wireEvents connects to NATS (starting the embedded server unless
// --nats-url names one), makes sure the streams exist and starts the outbox
// relay. It returns the JetStream handle and the relay's kick.
func (d *Daemon) wireEvents(ctx, runCtx context.Context, reg prometheus.Registerer) (jetstream.JetStream, func(), error) {
	url := d.cfg.NATSURL
	if url == "" {
		emb, err := embedded.Start(embedded.Config{
			StoreDir: filepath.Join(d.cfg.DataDir, "nats"), Port: d.cfg.NATSPort, Logger: d.cfg.quietLogger(),
			SyncAlways: d.cfg.NATSSyncAlways,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("embedded nats: %w", err)
		}
		d.closers = append(d.closers, func() error { emb.Shutdown(); return nil })
		url = emb.ClientURL()
		// Tools (fieldsync events tail --data-dir) find the embedded server here.
		if err := os.WriteFile(filepath.Join(d.cfg.DataDir, NATSURLFile), []byte(url+"\n"), 0o600); err != nil {
			return nil, nil, err
		}
	}
	connectCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	nc, js, err := nats.Connect(connectCtx, nats.ConnConfig{URL: url, CredsFile: d.cfg.NATSCreds, Name: "fieldsyncd", Logger: d.log})
	if err != nil {
		return nil, nil, fmt.Errorf("connect nats %s: %w", url, err)
	}
	d.closers = append(d.closers, func() error { nc.Close(); return nil })
	d.deps.add(DepNATS, func(context.Context) error {
		if st := nc.Status(); st != natsgo.CONNECTED {
			return fmt.Errorf("nats connection is %s", st)
		}
		return nil
	})
	if err := nats.EnsureStreams(ctx, js, nats.StreamConfig{Replicas: d.cfg.NATSReplicas, MaxAge: StreamMaxAge}); err != nil {
		return nil, nil, err
	}
	if err := d.wireLeases(ctx, js, reg); err != nil {
		return nil, nil, err
	}
	if !d.cfg.Serve {
		return js, nil, nil // the API process owns the outbox and its relay
	}
	relay := &nats.Relay{Outbox: &yieldingOutbox{relayOutbox: d.db, activity: d.activity}, JS: js, Logger: d.log}
	if err := relay.RegisterMetrics(reg); err != nil {
		return nil, nil, err
	}
	d.goOnce(runCtx, "outbox relay", LeaseRelay, together(relay.Run, func(ctx context.Context) error {
		return every(ctx, time.Hour, func() error {
			_, err := d.db.PruneSentEvents(ctx, time.Now().Add(-OutboxRetention))
			return err
		})
	}))
	return js, relay.Kick, nil
}

// goRun runs a long-lived part until it returns; an error is logged (the
// part is meant to run until the daemon stops).
func (d *Daemon) goRun(name string, run func() error) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := run(); err != nil {
			d.log.Error(name+" stopped", "err", err)
		}
	}()
}

// every calls fn each period until ctx ends; errors are logged and the loop goes on.
func every(ctx context.Context, period time.Duration, fn func() error) error {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := fn(); err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
}
