package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWALWritesAreGatheredPerCommit: a commit of many pages reaches the
// WAL in a few writes (pieces of at most unixMaxWrite bytes), not two per
// frame. Not parallel: walWrites counts every WAL write of the process.
func TestWALWritesAreGatheredPerCommit(t *testing.T) {
	ctx := context.Background()
	db := openGC(t)
	wal := dbPath(t, db) + "-wal"
	before, size := walWrites.Load(), fileSize(t, wal)
	insertGC(t, db, 0, 100, 2000) // about 100 pages of rows and their index
	written := fileSize(t, wal) - size
	writes := walWrites.Load() - before
	if frames := written / (4096 + 24); frames < 50 || writes > written/unixMaxWrite+2 {
		t.Fatalf("a commit that grew the WAL by %d bytes (%d frames) took %d writes", written, frames, writes)
	}
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM gc`).Scan(&n); err != nil || n != 100 {
		t.Fatalf("a reader sees %d rows (%v), want 100", n, err)
	}
}

// TestCommittedWritesAreInTheWALFileWhenCommitReturns: a copy of the
// database and its WAL taken right after a commit returned (no close, no
// checkpoint) holds the commit: nothing it wrote waits in memory.
func TestCommittedWritesAreInTheWALFileWhenCommitReturns(t *testing.T) {
	t.Parallel()
	db := openGC(t)
	insertGC(t, db, 0, 50, 3000)
	insertGC(t, db, 50, 1, 10)
	src := dbPath(t, db)
	dst := filepath.Join(t.TempDir(), "copy.db")
	copyFile(t, src, dst)
	copyFile(t, src+"-wal", dst+"-wal")
	assertGCRows(t, dst, 51)
}

// TestLargeAndRolledBackTransactionsThroughTheWALBuffer: a transaction
// larger than walBufMax and than the page cache (so SQLite spills frames
// before its commit), then one that spills and rolls back, then a small
// one: every committed row is there after a reopen and the database is
// intact.
func TestLargeAndRolledBackTransactionsThroughTheWALBuffer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fs.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	err = db.WriteTx(ctx, func(tx *sql.Tx, _ time.Time) error {
		_, err := tx.Exec(`CREATE TABLE gc (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	insertGC(t, db, 0, 6000, 4000) // ≈ 24 MB: past the 16 MB cache and walBufMax
	errRollback := errors.New("roll back")
	err = db.WriteTx(ctx, func(tx *sql.Tx, _ time.Time) error {
		if _, err := tx.Exec(`INSERT INTO gc (id, v) SELECT id + 10000, v FROM gc`); err != nil {
			return err
		}
		return errRollback
	})
	if !errors.Is(err, errRollback) {
		t.Fatalf("rolled back transaction: %v", err)
	}
	insertGC(t, db, 6000, 10, 100)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	assertGCRows(t, path, 6010)
}

// insertGC commits n rows of size random characters from id first.
func insertGC(t *testing.T, db *DB, first, n, size int) {
	t.Helper()
	err := db.WriteTx(context.Background(), func(tx *sql.Tx, _ time.Time) error {
		for i := range n {
			if _, err := tx.Exec(`INSERT INTO gc (id, v) VALUES (?, substr(hex(randomblob(?)), 1, ?))`, first+i, size, size); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// assertGCRows opens the database at path with the plain unix VFS and
// checks it is intact and holds want rows in gc.
func assertGCRows(t *testing.T, path string, want int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check: %q, %v", ok, err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM gc`).Scan(&n); err != nil || n != want {
		t.Fatalf("%d rows (%v), want %d", n, err, want)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
