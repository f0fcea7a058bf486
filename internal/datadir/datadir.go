// Package datadir names the files fieldsyncd keeps in its data dir, so the
// daemon that writes them and the CLI that reads them agree without the CLI
// importing the daemon. It is a leaf: it imports only the standard library.
package datadir

// Default is the data dir fieldsyncd and fieldsync use when none is given.
const Default = "./data"

// Files in the data dir.
const (
	// NATSURLFile holds the embedded NATS server's client URL, one line;
	// `fieldsync events tail --data-dir` reads it.
	NATSURLFile = "nats.url"
	// OperatorTokenFile holds the operator token fieldsyncd generates when
	// no --operator-token-file is given; `fieldsync tenant` reads it.
	OperatorTokenFile = "operator-token"
	// APILockFile is the lock the API process holds: it owns the outbox
	// relay, the embedded NATS server and NATSURLFile.
	APILockFile = "fieldsyncd.lock"
	// ConsumersLockFile is the lock a consumers-only process holds.
	ConsumersLockFile = "consumers.lock"
)
