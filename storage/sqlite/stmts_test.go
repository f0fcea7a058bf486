package sqlite

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// TestScansHoldingEveryReadConnectionDoNotDeadlock: as many scans as the
// read pool has connections, each in its read transaction, all reach a
// statement not prepared yet at once. Preparing it on the pool would wait
// for a free connection that none of them gives back (a fresh daemon's
// first pulls once hung this way until their callers' timeouts); each must
// prepare on its own transaction's connection instead.
func TestScansHoldingEveryReadConnectionDoNotDeadlock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "pool.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rec := &syncengine.StoredRecord{TenantID: "T", ID: "a", Type: "x.T", Actor: "d",
		Scope: syncengine.Scope{Owner: "u1"}, State: &syncengine.State{Value: &fieldsyncv1.Visit{}}}
	if err := db.Update(ctx, func(tx syncengine.Tx) error { _, err := tx.PutRecord(rec, nil); return err }); err != nil {
		t.Fatal(err)
	}
	// Every scan waits here, holding its read connection, until all have
	// come: then each wants the page's statement, prepared by none yet.
	var arrived sync.WaitGroup
	arrived.Add(ReadPoolSize)
	db.afterScanBound = func() {
		arrived.Done()
		arrived.Wait()
	}
	sel := syncengine.Selection{TenantID: "T", Terms: []syncengine.Term{{Field: syncengine.ByOwner, Value: "u1", Types: []string{"x.T"}}}}
	// A deadlock ends at this deadline with an error instead of hanging
	// the test binary.
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	errs := make(chan error, ReadPoolSize)
	for range ReadPoolSize {
		go func() {
			pg, err := db.ScanChanges(ctx, sel, 0, 10)
			if err == nil && len(pg.Rows) != 1 {
				t.Errorf("a scan returned %d rows, want 1", len(pg.Rows))
			}
			errs <- err
		}()
	}
	for range ReadPoolSize {
		if err := <-errs; err != nil {
			t.Fatalf("a scan failed: %v", err)
		}
	}
	// The statements were prepared on the pool once the scans ended.
	db.afterScanBound = nil
	if st := db.rstmts.lookup(`SELECT version FROM tenant_versions WHERE tenant_id = ?`); st == nil {
		t.Fatal("the latest-version statement was not prepared on the pool after the scans")
	}
}
