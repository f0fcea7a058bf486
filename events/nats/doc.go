// Package nats carries committed changes from the outbox to NATS
// JetStream and from JetStream to consumers, in the vocabulary of package
// events.
//
// A Relay reads the outbox (an events.Outbox, normally storage/sqlite) in
// commit order, publishes each event with its ID as Nats-Msg-Id, and marks
// it sent only once JetStream has acknowledged it. While NATS is
// unreachable the outbox grows; nothing is lost.
//
// Consume and ConsumeBatch run a durable pull consumer with explicit acks.
// Delivery is at least once, so handlers must be idempotent (see Consume).
//
// The NATS server is either external (Connect with a URL) or embedded in
// the process (events/nats/embedded).
package nats
