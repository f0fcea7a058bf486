package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCheckpointsRunBesideTheWriter: the WAL reaches the database file
// through the checkpointer's connection, well before the writer's own
// threshold (writerAutoCheckpoint pages), and what a reader sees is
// unchanged by it.
func TestCheckpointsRunBesideTheWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openGC(t)
	path := filepath.Join(filepath.Dir(dbPath(t, db)), "fs.db")
	before := fileSize(t, path)
	const writes, perWrite = 20, 40 // 800 rows of 8 KB: about 1,800 pages, far below the writer's threshold
	for i := range writes {
		err := db.WriteTx(ctx, func(tx *sql.Tx, _ time.Time) error {
			for j := range perWrite {
				if _, err := tx.Exec(`INSERT INTO gc (id, v) VALUES (?, hex(randomblob(4000)))`, i*perWrite+j); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for db.ckpt.runs.Load() == 0 || fileSize(t, path) < before+writes*perWrite*8000/2 {
		if time.Now().After(deadline) {
			t.Fatalf("after %d writes of %d KB: %d checkpoints, database file %d bytes (was %d); want the WAL copied into it",
				writes, perWrite*8, db.ckpt.runs.Load(), fileSize(t, path), before)
		}
		time.Sleep(20 * time.Millisecond)
		db.ckpt.poke()
	}
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM gc WHERE length(v) = 8000`).Scan(&n); err != nil || n != writes*perWrite {
		t.Fatalf("a reader sees %d rows (%v), want %d", n, err, writes*perWrite)
	}
}

// dbPath returns the file db was opened on.
func dbPath(t *testing.T, db *DB) string {
	t.Helper()
	var seq int
	var name, file string
	if err := db.read.QueryRow(`PRAGMA database_list`).Scan(&seq, &name, &file); err != nil {
		t.Fatal(err)
	}
	return file
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
