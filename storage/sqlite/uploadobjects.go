package sqlite

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/fieldsync/fieldsync/photos"
)

var _ photos.ObjectTx = (*photoTx)(nil)

// UploadObject returns an upload's shared object-store state, nil when
// none (see photos.ObjectTx).
func (t *photoTx) UploadObject(uploadID string) ([]byte, error) {
	var state []byte
	err := t.db.txQueryRow(t.ctx, t.tx, `SELECT state FROM upload_objects WHERE upload_id = ?`, uploadID).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
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
		_, err = t.db.txExec(t.ctx, t.tx, `DELETE FROM upload_objects WHERE upload_id = ?`, uploadID)
	} else {
		_, err = t.db.txExec(t.ctx, t.tx, `INSERT INTO upload_objects (upload_id, state) VALUES (?, ?)
			ON CONFLICT (upload_id) DO UPDATE SET state = excluded.state`, uploadID, state)
	}
	if err != nil {
		return fmt.Errorf("put object state of upload %s: %w", uploadID, err)
	}
	return nil
}
