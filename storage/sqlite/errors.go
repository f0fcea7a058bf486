package sqlite

import (
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/fieldsync/fieldsync/storage"
)

// classify wraps *err with storage.ErrUnavailable when the database was
// locked by another process (SQLITE_BUSY, extended codes included) past
// the busy timeout: a consumers-only daemon or a tool writing the same
// file; the same call may succeed later. Other errors, I/O errors
// included, stay internal faults.
func classify(err *error) {
	se := (*sqlite.Error)(nil)
	if *err != nil && errors.As(*err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY && !errors.Is(*err, storage.ErrUnavailable) {
		*err = fmt.Errorf("%w: %w", storage.ErrUnavailable, *err)
	}
}
