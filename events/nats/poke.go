package nats

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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
// Core NATS delivers at most once: a poke sent while a node is
// disconnected from NATS is lost for that node's watchers, who see the
// change at their next pull (their own push, an app start, a later poke
// of the same scope).
type PokeBus struct {
	nc   *natsgo.Conn
	node string
	log  *slog.Logger
	sub  atomic.Pointer[natsgo.Subscription]

	sent, received, failed atomic.Uint64
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
// connection's dispatch goroutine: deliver must not block. Call it once.
func (b *PokeBus) Subscribe(deliver func(events.Poke)) error {
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
	return nil
}

// PokeStats are a bus's counters.
type PokeStats struct {
	Sent, Received, Failed uint64
}

// Stats returns the counters since the bus was made.
func (b *PokeBus) Stats() PokeStats {
	return PokeStats{Sent: b.sent.Load(), Received: b.received.Load(), Failed: b.failed.Load()}
}

// Close stops receiving pokes.
func (b *PokeBus) Close() error {
	if sub := b.sub.Load(); sub != nil {
		return sub.Unsubscribe()
	}
	return nil
}
