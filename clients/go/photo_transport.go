package fieldsync

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// newMediaClient builds the MediaService client of a configuration, with
// the same HTTP client, token, timeout and protocol as the sync client.
func newMediaClient(cfg *config) fieldsyncv1connect.MediaServiceClient {
	hc, opts := clientSetup(cfg)
	return fieldsyncv1connect.NewMediaServiceClient(hc, cfg.server, opts...)
}

// wireCode returns the code of an error the server sent; 0 for nil and for
// errors the client made up (a dropped connection, a timeout, ctx ending).
func wireCode(err error) connect.Code {
	var ce *connect.Error
	if !errors.As(err, &ce) || !connect.IsWireError(err) {
		return 0
	}
	return ce.Code()
}

// uploadOffset returns the UploadOffset detail of a server error: the
// offset the server's upload continues at.
func uploadOffset(err error) (int64, bool) {
	var ce *connect.Error
	if !errors.As(err, &ce) || !connect.IsWireError(err) {
		return 0, false
	}
	for _, d := range ce.Details() {
		if v, derr := d.Value(); derr == nil {
			if o, ok := v.(*fieldsyncv1.UploadOffset); ok {
				return o.GetOffset(), true
			}
		}
	}
	return 0, false
}

// photoStatePuller is the sync client with the photo states of every
// pulled record stored (record_photos) as each page arrives, before the
// page itself is applied. A page that fails to apply is pulled again, so
// states stored ahead of their record are overwritten then.
type photoStatePuller struct {
	fieldsyncv1connect.SyncServiceClient
	db *store
}

func (p photoStatePuller) Pull(ctx context.Context, req *connect.Request[fieldsyncv1.PullRequest]) (*connect.Response[fieldsyncv1.PullResponse], error) {
	res, err := p.SyncServiceClient.Pull(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := storePhotoStates(ctx, p.db, res.Msg.GetRecords()); err != nil {
		return nil, fmt.Errorf("store photo states: %w", err)
	}
	return res, nil
}

// storePhotoStates replaces the stored photo states of the pulled records.
// Pages without photos skip the write while nothing is stored.
func storePhotoStates(ctx context.Context, db *store, recs []*fieldsyncv1.Record) error {
	if !anyPhotos(recs) {
		var stored bool
		if err := db.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM record_photos)`).Scan(&stored); err != nil || !stored {
			return err
		}
	}
	return db.update(ctx, func(tx *sql.Tx) error {
		for _, r := range recs {
			if _, err := tx.ExecContext(ctx, `DELETE FROM record_photos WHERE record_id = ?`, r.GetId()); err != nil {
				return err
			}
			for _, ph := range r.GetPhotos() {
				_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO record_photos (record_id, sha256, available) VALUES (?, ?, ?)`,
					r.GetId(), ph.GetSha256(), ph.GetState() == fieldsyncv1.PhotoState_PHOTO_STATE_AVAILABLE)
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func anyPhotos(recs []*fieldsyncv1.Record) bool {
	for _, r := range recs {
		if len(r.GetPhotos()) > 0 {
			return true
		}
	}
	return false
}
