package fieldsync

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fieldsync/fieldsync/internal/ids"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// Client is one device: a local store of the records it sees, an outbox of
// the changes made on it, and the sync protocol that exchanges both with the
// server. Every method is safe for concurrent use; local reads and writes
// never wait for the network.
type Client struct {
	cfg      *config
	db       *store
	clock    *clock
	rpc      fieldsyncv1connect.SyncServiceClient     // nil without a server
	media    fieldsyncv1connect.MediaServiceClient    // nil without a server
	identity fieldsyncv1connect.IdentityServiceClient // nil without a server

	photoDir string // local copies of queued photos (WithPhotoDir)

	syncMu sync.Mutex // one Sync at a time
	acks   inFlight   // the last Sync's delivery receipt (see WaitAcked)
	// closeGrace is how long Close waits for that receipt (ackCloseGrace).
	closeGrace time.Duration
	kick       chan struct{} // a local write happened (Watch pushes it at once)
	writes     atomic.Uint64 // local writes so far (see wrote)

	identityKnown atomic.Bool // the store holds the identity (see learnIdentity)
	pushed        *sentStatus // the status the sync's last Push carried (see wireStatus); under syncMu
}

// Open opens the device store at path, creating the SQLite file (and its
// WAL files beside it) when missing and applying schema migrations. The
// client works offline at once; WithServer and WithToken enable Sync and
// Watch. Close the client when done.
//
// The store belongs to one device: the first Open with a token binds it to
// that token (and the first Sync records the device the server names, see
// Identity); an Open with another token fails with ErrWrongDevice, so one
// device's changes are never sent as another's. Reset starts over.
//
// Errors: ErrWrongDevice; the file cannot be opened or created, or its
// schema is newer or damaged.
func Open(ctx context.Context, path string, opts ...Option) (*Client, error) {
	cfg := newConfig(opts)
	db, err := openStore(ctx, path)
	if err != nil {
		return nil, err
	}
	if err := bindToken(ctx, db, cfg.token); err != nil {
		db.close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	last, err := metaInt(ctx, db.read, "hlc")
	if err != nil {
		db.close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	c := &Client{cfg: cfg, db: db, clock: &clock{last: uint64(last), now: cfg.now}, kick: make(chan struct{}, 1), closeGrace: ackCloseGrace}
	c.photoDir = photoDir(path, cfg)
	if cfg.server != "" {
		c.rpc = photoStatePuller{SyncServiceClient: newSyncClient(cfg), db: db}
		c.media = newMediaClient(cfg)
		c.identity = newIdentityClient(cfg)
	}
	return c, nil
}

// ackCloseGrace is how long Close waits for a delivery receipt in flight
// before it gives up on it: an app closing the client (at shutdown, on a
// link gone silent) must not wait for the request timeout.
const ackCloseGrace = 2 * time.Second

// Close waits for the delivery receipt the last Sync sent in the
// background (see WaitAcked), for at most 2 s, cancelling it then: the next
// Sync's first Pull records the receipt instead. Then it closes the store.
// Other calls in flight fail; pending writes stay in the file for the next
// Open.
func (c *Client) Close() error {
	c.acks.stop(c.closeGrace)
	return c.db.close()
}

// NewID returns a new record id: a ULID (48 bits of milliseconds from the
// client's clock, 80 random bits, 26 Crockford base32 characters) that sorts
// by creation time and needs no server.
func (c *Client) NewID() string {
	return ids.NewAt(c.cfg.now())
}

// wrote tells a running Watch that a local write waits to be pushed, and
// counts it (a status built before it is out of date).
func (c *Client) wrote() {
	c.writes.Add(1)
	select {
	case c.kick <- struct{}{}:
	default:
	}
}
