package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// openGC opens a fresh database with a table gc(id, v) for the tests.
func openGC(t testing.TB) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "fs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	err = db.WriteTx(context.Background(), func(tx *sql.Tx, _ time.Time) error {
		_, err := tx.Exec(`CREATE TABLE gc (id INTEGER PRIMARY KEY, v TEXT NOT NULL);
			CREATE TABLE gc_parent (id INTEGER PRIMARY KEY);
			CREATE TABLE gc_child (id INTEGER PRIMARY KEY, parent INTEGER NOT NULL REFERENCES gc_parent(id))`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// holdWriter starts a write that blocks the writer loop until release is
// called, so that the writes queued meanwhile form one group.
func holdWriter(t testing.TB, db *DB) (release func()) {
	t.Helper()
	started, unblock, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.WriteTx(context.Background(), func(*sql.Tx, time.Time) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	<-started
	return func() {
		close(unblock)
		if err := <-done; err != nil {
			t.Errorf("holding write: %v", err)
		}
	}
}

// waitQueued waits until n writes wait in the queue.
func waitQueued(db *DB, n int) {
	for {
		db.gw.mu.Lock()
		q := len(db.gw.queue)
		db.gw.mu.Unlock()
		if q >= n {
			return
		}
		runtime.Gosched()
	}
}

// group runs fns as one group (queued in order behind a held writer) and
// returns each one's WriteTx error.
func group(t *testing.T, db *DB, fns ...func(tx *sql.Tx, now time.Time) error) []error {
	t.Helper()
	release := holdWriter(t, db)
	commits := db.gw.stats.commits.Load()
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = db.WriteTx(context.Background(), fn) }()
		waitQueued(db, i+1) // keeps the order
	}
	release()
	wg.Wait()
	if got := db.gw.stats.commits.Load() - commits; got > 2 {
		t.Errorf("%d commits for the holding write and one group, want at most 2", got)
	}
	return errs
}

func insert(id int) func(tx *sql.Tx, now time.Time) error {
	return func(tx *sql.Tx, _ time.Time) error {
		_, err := tx.Exec(`INSERT INTO gc (id, v) VALUES (?, 'x')`, id)
		return err
	}
}

// storedIDs returns the ids in table gc, in order, read from the read pool.
func storedIDs(t *testing.T, db *DB) string {
	t.Helper()
	var s sql.NullString
	if err := db.read.QueryRow(`SELECT group_concat(id, ',') FROM (SELECT id FROM gc ORDER BY id)`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s.String
}

// TestGroupCommitFailingClosureRollsBackOnlyItself: in one group, the
// closure that fails loses its writes and gets its error; the others
// commit, and the one after it sees the one before it but not it.
func TestGroupCommitFailingClosureRollsBackOnlyItself(t *testing.T) {
	db := openGC(t)
	boom := errors.New("boom")
	var seen string
	errs := group(t, db,
		insert(1),
		func(tx *sql.Tx, _ time.Time) error {
			if err := insert(2)(tx, time.Time{}); err != nil {
				return err
			}
			return boom
		},
		func(tx *sql.Tx, _ time.Time) error {
			if err := tx.QueryRow(`SELECT group_concat(id, ',') FROM gc`).Scan(&seen); err != nil {
				return err
			}
			return insert(3)(tx, time.Time{})
		},
		insert(1), // a constraint error of its own
	)
	if errs[0] != nil || !errors.Is(errs[1], boom) || errs[2] != nil || errs[3] == nil {
		t.Fatalf("errors %v, want nil, boom, nil, a UNIQUE failure", errs)
	}
	if seen != "1" {
		t.Errorf("third closure saw %q, want the first's row only", seen)
	}
	if got := storedIDs(t, db); got != "1,3" {
		t.Errorf("committed ids %q, want 1,3", got)
	}
}

// TestGroupCommitFailingFirstClosure: the first closure of a group runs
// without a savepoint; when it fails (an error, a constraint, a panic),
// its writes are gone and the closures after it commit, each seeing the
// ones before it.
func TestGroupCommitFailingFirstClosure(t *testing.T) {
	db := openGC(t)
	boom := errors.New("boom")
	var seen string
	errs := group(t, db,
		func(tx *sql.Tx, _ time.Time) error {
			if err := insert(1)(tx, time.Time{}); err != nil {
				return err
			}
			return boom
		},
		func(tx *sql.Tx, _ time.Time) error {
			if err := insert(2)(tx, time.Time{}); err != nil {
				return err
			}
			panic("second")
		},
		insert(3),
		func(tx *sql.Tx, _ time.Time) error {
			if err := tx.QueryRow(`SELECT group_concat(id, ',') FROM gc`).Scan(&seen); err != nil {
				return err
			}
			return insert(4)(tx, time.Time{})
		},
	)
	if !errors.Is(errs[0], boom) || errs[1] == nil || errs[2] != nil || errs[3] != nil {
		t.Fatalf("errors %v, want boom, a panic, nil, nil", errs)
	}
	if seen != "3" {
		t.Errorf("fourth closure saw %q, want the third's row only", seen)
	}
	if got := storedIDs(t, db); got != "3,4" {
		t.Errorf("committed ids %q, want 3,4", got)
	}
}

// TestGroupCommitPanicFailsOnlyItsCaller: a panicking closure gives its
// caller an error, its writes are rolled back, the group commits and the
// writer goes on.
func TestGroupCommitPanicFailsOnlyItsCaller(t *testing.T) {
	db := openGC(t)
	errs := group(t, db,
		insert(1),
		func(tx *sql.Tx, _ time.Time) error {
			insert(2)(tx, time.Time{})
			panic("kaput")
		},
		insert(3),
	)
	if errs[0] != nil || errs[1] == nil || !strings.Contains(errs[1].Error(), "kaput") || errs[2] != nil {
		t.Fatalf("errors %v, want nil, a panic error, nil", errs)
	}
	// A lone closure panicking (no savepoint) is rolled back too.
	err := db.WriteTx(context.Background(), func(tx *sql.Tx, _ time.Time) error {
		insert(4)(tx, time.Time{})
		panic("alone")
	})
	if err == nil || !strings.Contains(err.Error(), "alone") {
		t.Fatalf("lone panic: %v", err)
	}
	if err := db.WriteTx(context.Background(), insert(5)); err != nil {
		t.Fatalf("write after the panics: %v", err)
	}
	if got := storedIDs(t, db); got != "1,3,5" {
		t.Errorf("committed ids %q, want 1,3,5", got)
	}
}

// TestGroupCommitSkipsCancelledCaller: a caller whose ctx ends while it
// waits returns at once with ctx.Err(), and its closure never runs.
func TestGroupCommitSkipsCancelledCaller(t *testing.T) {
	db := openGC(t)
	release := holdWriter(t, db)
	ctx, cancel := context.WithCancel(context.Background())
	ran := false
	errc := make(chan error, 1)
	go func() {
		errc <- db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error { ran = true; return insert(1)(tx, now) })
	}()
	waitQueued(db, 1)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) { // returned with the writer still held
		t.Fatalf("cancelled caller: %v", err)
	}
	release()
	if err := db.WriteTx(context.Background(), insert(2)); err != nil {
		t.Fatal(err)
	}
	if ran {
		t.Error("the cancelled caller's closure ran")
	}
	if got := storedIDs(t, db); got != "2" {
		t.Errorf("committed ids %q, want 2", got)
	}
	if err := db.WriteTx(ctx, insert(3)); !errors.Is(err, context.Canceled) {
		t.Errorf("already cancelled: %v", err)
	}
}

// TestGroupCommitCommitFailureFailsTheGroup: a deferred foreign key
// violation fails the COMMIT; every closure of the group gets the error,
// nothing of the group is stored, and the writer goes on.
func TestGroupCommitCommitFailureFailsTheGroup(t *testing.T) {
	db := openGC(t)
	errs := group(t, db,
		insert(1),
		func(tx *sql.Tx, _ time.Time) error {
			if _, err := tx.Exec(`PRAGMA defer_foreign_keys = ON`); err != nil {
				return err
			}
			_, err := tx.Exec(`INSERT INTO gc_child (id, parent) VALUES (1, 99)`)
			return err
		},
		insert(2),
	)
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "commit") {
			t.Errorf("closure %d: %v, want the commit failure", i, err)
		}
	}
	if err := db.WriteTx(context.Background(), insert(3)); err != nil {
		t.Fatalf("write after the failed commit: %v", err)
	}
	if got := storedIDs(t, db); got != "3" {
		t.Errorf("committed ids %q, want 3", got)
	}
}

// TestGroupCommitLostTransaction: a closure that ends the shared
// transaction itself loses the writes of the closures before it (they get
// errGroupRolledBack, not success); the closures after it run in a new
// transaction.
func TestGroupCommitLostTransaction(t *testing.T) {
	db := openGC(t)
	errs := group(t, db,
		insert(1),
		func(tx *sql.Tx, _ time.Time) error {
			_, err := tx.Exec(`ROLLBACK`)
			return err
		},
		insert(2),
	)
	if !errors.Is(errs[0], errGroupRolledBack) || errs[1] == nil || errs[2] != nil {
		t.Fatalf("errors %v, want rolled back, an error, nil", errs)
	}
	if got := storedIDs(t, db); got != "2" {
		t.Errorf("committed ids %q, want 2", got)
	}
}

// TestGroupCommitEveryAcknowledgedWriteIsStored: many concurrent writers,
// each reading its row back (from the read pool) once WriteTx returned.
func TestGroupCommitEveryAcknowledgedWriteIsStored(t *testing.T) {
	db := openGC(t)
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := fmt.Sprint("w", i)
			err := db.WriteTx(context.Background(), func(tx *sql.Tx, _ time.Time) error {
				_, err := tx.Exec(`INSERT INTO gc (id, v) VALUES (?, ?)`, i, v)
				return err
			})
			if err != nil {
				errs <- err
				return
			}
			var got string
			if err := db.read.QueryRow(`SELECT v FROM gc WHERE id = ?`, i).Scan(&got); err != nil || got != v {
				errs <- fmt.Errorf("row %d after its write returned: %q, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d writes in %d commits", db.gw.stats.writes.Load(), db.gw.stats.commits.Load())
}

// TestGroupCommitVersionsOfOneTenant: two record writes of one tenant in
// one group get distinct, consecutive versions, each closure's recTx
// reading the counters the one before it wrote.
func TestGroupCommitVersionsOfOneTenant(t *testing.T) {
	db := openGC(t)
	ctx := context.Background()
	tn, err := db.CreateTenant(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	putVisit(t, db, tn.ID, "v0")
	const n = 5
	versions := make([]uint64, n)
	fns := make([]func(*sql.Tx, time.Time) error, n)
	for i := range n {
		at := syncengine.Version{HLC: syncengine.MakeHLC(time.Now().UnixMilli(), 0), Actor: "d"}
		rec := &syncengine.StoredRecord{TenantID: tn.ID, ID: fmt.Sprint("g", i), Type: "fieldsync.v1.Visit", HLC: at.HLC, Actor: at.Actor,
			State:     &syncengine.State{Value: &fieldsyncv1.Visit{Notes: "n"}, Fields: map[string]syncengine.Version{"notes": at}, Created: at},
			UpdatedAt: time.Now()}
		fns[i] = func(stx *sql.Tx, now time.Time) error { // what Update runs
			t := &recTx{db: db, ctx: ctx, tx: stx, now: now, reg: syncengine.DefaultRegistry()}
			v, err := t.PutRecord(rec, nil)
			versions[i] = v
			if err != nil {
				return err
			}
			return t.flush()
		}
	}
	for i, err := range group(t, db, fns...) {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	for i := 1; i < n; i++ {
		if versions[i] != versions[i-1]+1 {
			t.Fatalf("versions %v, want consecutive", versions)
		}
	}
	page, err := db.ScanChanges(ctx, syncengine.Filter{TenantID: tn.ID, All: true}.Select(syncengine.DefaultRegistry()), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	rows := page.Rows
	if len(rows) != n+1 || rows[n].Version != versions[n-1] {
		t.Fatalf("change log %d rows (more %v), want %d ending at %d", len(rows), page.More, n+1, versions[n-1])
	}
}

// TestGroupCommitCloseDrains: Close lets the queued writes finish; WriteTx
// fails after it.
func TestGroupCommitCloseDrains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fs.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.WriteTx(context.Background(), func(tx *sql.Tx, _ time.Time) error {
		_, err := tx.Exec(`CREATE TABLE gc (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	release := holdWriter(t, db)
	const n = 10
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- db.WriteTx(context.Background(), insert(i)) }()
	}
	waitQueued(db, n)
	closed := make(chan error)
	go func() { closed <- db.Close() }()
	for {
		db.gw.mu.Lock()
		c := db.gw.closed
		db.gw.mu.Unlock()
		if c {
			break
		}
		runtime.Gosched()
	}
	if err := db.WriteTx(context.Background(), insert(99)); !errors.Is(err, errClosed) {
		t.Errorf("write after Close: %v", err)
	}
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("queued write: %v", err)
		}
	}
	db, err = Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := storedIDs(t, db); got != "0,1,2,3,4,5,6,7,8,9" {
		t.Errorf("stored %q, want the ten queued writes", got)
	}
}

// TestWriteTxAlone: without group commit, a write still commits, and a
// panicking closure is rolled back and frees the writer connection.
func TestWriteTxAlone(t *testing.T) {
	db := openGC(t)
	db.SetGroupCommit(false)
	err := db.WriteTx(context.Background(), func(tx *sql.Tx, _ time.Time) error {
		insert(1)(tx, time.Time{})
		panic("alone")
	})
	if err == nil || !strings.Contains(err.Error(), "alone") {
		t.Fatalf("panic: %v", err)
	}
	if err := db.WriteTx(context.Background(), insert(2)); err != nil {
		t.Fatal(err)
	}
	if got := storedIDs(t, db); got != "2" {
		t.Errorf("committed ids %q, want 2", got)
	}
}
