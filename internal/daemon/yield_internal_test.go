package daemon

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/storage/sqlite"
)

// TestTheRelayReadsTheOutboxWhileCallsStayInProgress checks that the
// relay's yield to the API is bounded: calls that never end do not
// keep the relay from reading the outbox.
func TestTheRelayReadsTheOutboxWhileCallsStayInProgress(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fieldsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := &server.Activity{}
	for range runtime.GOMAXPROCS(0) + 1 {
		defer a.Enter()()
	}
	if !(&yieldingOutbox{activity: a}).busy() {
		t.Fatal("more calls than cores in progress: the relay should yield")
	}
	o := &yieldingOutbox{relayOutbox: db, activity: a}
	for range 2 {
		if _, err := o.PendingEvents(ctx, 10); err != nil {
			t.Fatal(err)
		}
	}
	// A cancelled read does not wait either.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	o.yield(cctx)
}
