package postgres

// SetAfterScanBound makes ScanChanges call f between reading its bound and
// its rows.
func SetAfterScanBound(db *DB, f func()) { db.afterScanBound = f }
