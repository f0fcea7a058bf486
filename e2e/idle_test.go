package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/fieldsync/fieldsync/events"
	"github.com/fieldsync/fieldsync/events/nats"
	"github.com/fieldsync/fieldsync/internal/daemon"
	"github.com/fieldsync/fieldsync/syncengine"
)

// TestWaitIdleReturnsOnceRelayAndConsumersCaughtUp pushes a batch and
// checks that, when WaitIdle returns, the outbox is empty, the change
// stream holds every event and the insights consumer has acknowledged all
// of them (what the benchmarks rely on to time a quiet daemon).
func TestWaitIdleReturnsOnceRelayAndConsumersCaughtUp(t *testing.T) {
	t.Parallel()
	e := start(t, "")
	var seq uint64
	const n = 300
	if _, err := e.sync(e.token("rep")).Push(context.Background(),
		connect.NewRequest(benchPushRequest(syncengine.NewClock(nil), &seq, n))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.d.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if backlog, _, err := e.d.Store().OutboxBacklog(ctx); err != nil || backlog != 0 {
		t.Fatalf("outbox backlog %d (%v) after WaitIdle, want 0", backlog, err)
	}
	url, err := os.ReadFile(filepath.Join(e.dir, daemon.NATSURLFile))
	if err != nil {
		t.Fatal(err)
	}
	nc, js, err := nats.Connect(ctx, nats.ConnConfig{URL: strings.TrimSpace(string(url)), Name: "idle test"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	st, err := js.Stream(ctx, events.ChangesStream)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := st.Info(ctx); err != nil || info.State.Msgs < n {
		t.Fatalf("change stream: %v (%v), want at least %d messages", info, err, n)
	}
	c, err := js.Consumer(ctx, events.ChangesStream, "insights")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ci.NumPending != 0 || ci.NumAckPending != 0 {
		t.Fatalf("insights consumer: %d pending, %d unacknowledged after WaitIdle, want none", ci.NumPending, ci.NumAckPending)
	}
}
