package postgres

import (
	"fmt"

	"github.com/fieldsync/fieldsync/photos"
)

var _ photos.ObjectTx = (*photoTx)(nil)

// UploadObject returns an upload's shared object-store state, nil when
// none (see photos.ObjectTx).
func (t *photoTx) UploadObject(uploadID string) ([]byte, error) {
	var state []byte
	err := t.tx.QueryRow(t.ctx, `SELECT state FROM upload_objects WHERE upload_id = $1`, uploadID).Scan(&state)
	if noRows(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("object state of upload %s: %w", uploadID, err)
	}
	return state, nil
}

// PutUploadObject records an upload's shared object-store state; nil
// deletes it (see photos.ObjectTx).
func (t *photoTx) PutUploadObject(uploadID string, state []byte) error {
	var err error
	if state == nil {
		_, err = t.tx.Exec(t.ctx, `DELETE FROM upload_objects WHERE upload_id = $1`, uploadID)
	} else {
		_, err = t.tx.Exec(t.ctx, `INSERT INTO upload_objects (upload_id, state) VALUES ($1, $2)
			ON CONFLICT (upload_id) DO UPDATE SET state = EXCLUDED.state`, uploadID, state)
	}
	if err != nil {
		return fmt.Errorf("put object state of upload %s: %w", uploadID, err)
	}
	return nil
}
