// Package fieldsync is the offline-first Go SDK of fieldsync: a device's
// local SQLite store of the records it sees, an outbox of the changes made
// on it, and the sync protocol (ARCHITECTURE.md, "The sync contract") that
// exchanges both with the server.
//
// Writes are local and immediate: Put and Delete change the local view and
// append to the outbox in one transaction, with a per-device seq and a
// hybrid-logical-clock timestamp. Sync pushes the outbox (exactly once: the
// server answers a resent seq with its first result) and pulls the changes
// of the device's scope, keeping pending local edits on top of newer server
// state. Watch keeps an online device in sync as changes happen. The
// delivery receipt of the pulled pages goes in the background: Sync
// returns once they are stored; WaitAcked and Close wait for the receipt.
//
//	c, err := fieldsync.Open(ctx, "device.db",
//		fieldsync.WithServer("https://sync.example.com"),
//		fieldsync.WithToken(token))
//	...
//	id := c.NewID()
//	err = c.Put(ctx, id, &fieldsyncv1.Visit{CustomerId: cust, Notes: "demo went well"})
//	...
//	err = c.Sync(ctx) // when there is signal; or run c.Watch(ctx) in the background
package fieldsync
