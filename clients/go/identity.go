package fieldsync

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"connectrpc.com/connect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// Identity is the device a store belongs to, as the server named it.
type Identity struct {
	DeviceID string
	UserID   string
	TenantID string
}

// Identity returns the device the store is bound to; its fields are empty
// until the first Sync asked the server. Errors: a store error.
func (c *Client) Identity(ctx context.Context) (Identity, error) {
	var id Identity
	var err error
	for key, dst := range map[string]*string{"device_id": &id.DeviceID, "user_id": &id.UserID, "tenant_id": &id.TenantID} {
		if *dst, err = metaString(ctx, c.db.read, key); err != nil {
			return Identity{}, err
		}
	}
	return id, nil
}

// tokenHash identifies a token without keeping it in the store.
func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// bindToken binds the store to the token on its first use with one, and
// refuses any other token after that (ErrWrongDevice).
func bindToken(ctx context.Context, db *store, token string) error {
	if token == "" {
		return nil // offline use: nothing is sent as anyone
	}
	return db.update(ctx, func(tx *sql.Tx) error {
		bound, err := metaString(ctx, tx, "token_hash")
		switch {
		case err != nil:
			return err
		case bound == "":
			return setMeta(ctx, tx, "token_hash", tokenHash(token))
		case bound != tokenHash(token):
			return wrongDevice(ctx, tx)
		}
		return nil
	})
}

func wrongDevice(ctx context.Context, q querier) error {
	device, _ := metaString(ctx, q, "device_id")
	user, _ := metaString(ctx, q, "user_id")
	if device == "" {
		return fmt.Errorf("%w: it was first used with another device token; open it with that token, or Reset it", ErrWrongDevice)
	}
	return fmt.Errorf("%w: it belongs to device %s (user %s); open it with that device's token, or Reset it", ErrWrongDevice, device, user)
}

// learnIdentity asks the server, once, which device the token is and
// records it (see Identity). Once the store holds it, the client
// remembers so, and later syncs do not read it again.
func (c *Client) learnIdentity(ctx context.Context) error {
	if c.identityKnown.Load() {
		return nil
	}
	known, err := metaString(ctx, c.db.read, "tenant_id") // every caller has one; API keys no device
	if err != nil {
		return err
	}
	if known != "" {
		c.identityKnown.Store(true)
		return nil
	}
	res, err := c.identity.WhoAmI(ctx, connect.NewRequest(&fieldsyncv1.WhoAmIRequest{}))
	if err != nil {
		return fmt.Errorf("whoami: %w", err)
	}
	err = c.db.update(ctx, func(tx *sql.Tx) error {
		for key, v := range map[string]string{"device_id": res.Msg.GetDeviceId(), "user_id": res.Msg.GetUserId(), "tenant_id": res.Msg.GetTenantId()} {
			if err := setMeta(ctx, tx, key, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && res.Msg.GetTenantId() != "" {
		c.identityKnown.Store(true)
	}
	return err
}

// newIdentityClient builds the IdentityService client of a configuration.
func newIdentityClient(cfg *config) fieldsyncv1connect.IdentityServiceClient {
	hc, opts := clientSetup(cfg)
	return fieldsyncv1connect.NewIdentityServiceClient(hc, cfg.server, opts...)
}

// Reset deletes the device store at path, with its WAL files and its
// default photo folder (path + ".photos"; a WithPhotoDir folder is the
// caller's), so the next Open starts a new device: the way to use another
// device token on this file. Close every Client of the store first. A
// missing store is nothing to reset.
//
// Errors: ErrUnsynced when local changes or photos have not reached the
// server and force is false (nothing is deleted); a file that is not a
// device store (nothing is deleted); a store or file error.
func Reset(ctx context.Context, path string, force bool) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := checkDeviceStore(ctx, path); err != nil {
		return err
	}
	if !force {
		if err := checkSynced(ctx, path); err != nil {
			return err
		}
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("reset: %w", err)
		}
	}
	if err := os.RemoveAll(path + ".photos"); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	return nil
}

// checkDeviceStore makes sure path is a device store before Reset deletes
// it, reading it without changing it.
func checkDeviceStore(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	defer db.Close()
	var n int
	err = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('meta', 'outbox', 'records')`).Scan(&n)
	if err != nil || n != 3 {
		return fmt.Errorf("reset %s: not a fieldsync device store (%v); nothing deleted", path, err)
	}
	return nil
}

// checkSynced returns ErrUnsynced when the store holds changes or photos
// the server has not taken.
func checkSynced(ctx context.Context, path string) error {
	db, err := openStore(ctx, path)
	if err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	defer db.close()
	var changes, photos int
	err = db.read.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM outbox WHERE acked = 0),
		(SELECT COUNT(*) FROM photos WHERE state IN (?, ?))`, PhotoQueued, PhotoUploading).Scan(&changes, &photos)
	if err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	if changes+photos > 0 {
		return fmt.Errorf("reset %s: %w: %d local changes and %d photos have not reached the server (sync first, or force)", path, ErrUnsynced, changes, photos)
	}
	return nil
}
