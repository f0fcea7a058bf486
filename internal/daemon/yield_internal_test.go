package daemon

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync/server"
	"github.com/fieldsync/fieldsync/storage/sqlite"
)

// TestTheRelayReadsTheOutboxWhileACallStaysInProgress checks that the
// relay's yield to the API is bounded: a call that never ends does not
// keep the relay from reading the outbox.
func TestTheRelayReadsTheOutboxWhileACallStaysInProgress(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fieldsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := &server.Activity{}
	exit := a.Enter()
	defer exit()
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
