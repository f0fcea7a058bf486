package nats

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	natsgo "github.com/nats-io/nats.go"

	"github.com/fieldsync/fieldsync/events"
)

// PokeNodeHeader names the node that sent a poke, so it can skip its own.
const PokeNodeHeader = "Fieldsync-Node"

// PokeBus carries pokes (events.Poke) between the nodes of a cluster on
// core NATS: Publish sends each local commit's poke, Subscribe hands every
// other node's pokes to a function (the engine's Poke).
//
// Core NATS delivers at most once and keeps nothing: pokes sent while a
// node is cut off from NATS are lost, both those it sends and those sent to
// it. So when its connection comes back, a node rechecks its own watchers
// and asks every other node to recheck theirs (events.RecheckSubject).
type PokeBus struct {
	nc         *natsgo.Conn
	node       string
	log        *slog.Logger
	sub        atomic.Pointer[natsgo.Subscription]
	recheckSub atomic.Pointer[natsgo.Subscription]

	sent, received, failed, rechecks atomic.Uint64
}

// NewPokeBus returns a bus on nc. Node identifies this process among the
// cluster's nodes; empty picks a random one.
func NewPokeBus(nc *natsgo.Conn, node string, log *slog.Logger) *PokeBus {
	if node == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		node = hex.EncodeToString(b)
	}
	return &PokeBus{nc: nc, node: node, log: orDefault(log, slog.Default())}
}

// Node is this bus's node name.
func (b *PokeBus) Node() string { return b.node }

// Publish sends p to the other nodes. It never blocks on the network: the
// message goes to the connection's buffer, and a poke that cannot be sent
// (NATS down) is counted and dropped.
func (b *PokeBus) Publish(p events.Poke) {
	data, err := json.Marshal(p)
	if err == nil {
		msg := natsgo.NewMsg(events.PokeSubject(p.TenantID))
		msg.Header.Set(PokeNodeHeader, b.node)
		msg.Data = data
		err = b.nc.PublishMsg(msg)
	}
	if err != nil {
		if b.failed.Add(1) == 1 || b.failed.Load()%1000 == 0 {
			b.log.Warn("poke not sent to other nodes", "tenant", p.TenantID, "err", err, "failed_total", b.failed.Load())
		}
		return
	}
	b.sent.Add(1)
}

// Subscribe hands every poke of another node to deliver, on the
// connection's dispatch goroutine: deliver must not block. It calls
// recheck when another node asks (events.RecheckSubject) and when this
// connection is re-established, after asking the others; recheck must not
// block either. Call Subscribe once.
func (b *PokeBus) Subscribe(deliver func(events.Poke), recheck func()) error {
	sub, err := b.nc.Subscribe(events.AllPokes, func(m *natsgo.Msg) {
		if m.Header.Get(PokeNodeHeader) == b.node {
			return
		}
		var p events.Poke
		if err := json.Unmarshal(m.Data, &p); err != nil || p.TenantID == "" {
			b.log.Warn("dropping a malformed poke", "subject", m.Subject, "err", err)
			return
		}
		b.received.Add(1)
		deliver(p)
	})
	if err != nil {
		return fmt.Errorf("subscribe to pokes: %w", err)
	}
	b.sub.Store(sub)
	rsub, err := b.nc.Subscribe(events.RecheckSubject, func(m *natsgo.Msg) {
		if m.Header.Get(PokeNodeHeader) != b.node {
			b.rechecks.Add(1)
			recheck()
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe to rechecks: %w", err)
	}
	b.recheckSub.Store(rsub)
	logReconnect := b.nc.ReconnectHandler()
	b.nc.SetReconnectHandler(func(nc *natsgo.Conn) {
		if logReconnect != nil {
			logReconnect(nc)
		}
		msg := natsgo.NewMsg(events.RecheckSubject)
		msg.Header.Set(PokeNodeHeader, b.node)
		if err := nc.PublishMsg(msg); err != nil {
			b.log.Warn("could not ask the other nodes to recheck their watchers", "err", err)
		}
		b.rechecks.Add(1)
		recheck()
	})
	return nil
}

// PokeStats are a bus's counters: pokes sent, received from other nodes
// and failed to send, and rechecks run.
type PokeStats struct {
	Sent, Received, Failed, Rechecks uint64
}

// Stats returns the counters since the bus was made.
func (b *PokeBus) Stats() PokeStats {
	return PokeStats{Sent: b.sent.Load(), Received: b.received.Load(), Failed: b.failed.Load(), Rechecks: b.rechecks.Load()}
}

// Close stops receiving pokes and rechecks.
func (b *PokeBus) Close() error {
	var errs []error
	for _, sub := range []*natsgo.Subscription{b.sub.Load(), b.recheckSub.Load()} {
		if sub != nil {
			errs = append(errs, sub.Unsubscribe())
		}
	}
	return errors.Join(errs...)
}
