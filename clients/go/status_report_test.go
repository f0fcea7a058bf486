package fieldsync

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/proto/fieldsync/v1/fieldsyncv1connect"
)

// TestWireStatusLeavesOutThePushedBatch: the status a push carries counts
// the outbox entries after its batch, aged by the client's clock, with the
// app version cleaned to the server's rules and the SDK's version.
func TestWireStatusLeavesOutThePushedBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	c := openDevice(t, filepath.Join(t.TempDir(), "d.db"), WithClock(clock), WithAppVersion("2.4 beta\n"))
	for range 3 {
		mustPut(t, c, c.NewID(), &fieldsyncv1.Visit{Notes: "n"}, "notes")
		advance(time.Minute)
	}
	advance(7 * time.Minute) // the first write is 10 min old
	batch, err := pendingHead(ctx, c.db.read, 1)
	if err != nil || len(batch) != 1 {
		t.Fatalf("pending head: %v, %v", batch, err)
	}
	for _, tc := range []struct {
		sent  uint64
		depth uint32
		age   time.Duration
	}{
		{0, 3, 10 * time.Minute},           // a pull: everything pending
		{batch[0].Seq, 2, 9 * time.Minute}, // a push of the first: the rest
		{batch[0].Seq + 2, 0, 0},           // a push of all three: none
	} {
		w, err := c.wireStatus(ctx, tc.sent)
		if err != nil {
			t.Fatal(err)
		}
		if w.GetOutboxDepth() != tc.depth || w.GetOldestUnsyncedAge().AsDuration() != tc.age || (tc.depth == 0) != (w.GetOldestUnsyncedAge() == nil) {
			t.Errorf("after seq %d: depth %d, age %v; want %d, %v", tc.sent, w.GetOutboxDepth(), w.GetOldestUnsyncedAge().AsDuration(), tc.depth, tc.age)
		}
		if w.GetAppVersion() != "2.4_beta_" || w.GetSdkVersion() != sdkVersion() || w.GetLastSyncTime() != nil {
			t.Errorf("versions %q, %q, last sync %v", w.GetAppVersion(), w.GetSdkVersion(), w.GetLastSyncTime())
		}
	}
	if sdkVersion() == "" {
		t.Error("no SDK version in the test binary's build info")
	}
}

// TestSyncReportsStatusToTheServer: after a sync the admin sees the
// device's status: its outbox empty, its app and SDK versions.
func TestSyncReportsStatusToTheServer(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	rep := e.device(e.token("rep"), WithAppVersion("2.4.1"))
	mustPut(t, rep, rep.NewID(), &fieldsyncv1.Visit{Notes: "n"}, "notes")
	mustSync(t, rep)
	admin := fieldsyncv1connect.NewAdminServiceClient(http.DefaultClient, e.d.URL(), connect.WithInterceptors(authInterceptor(e.creds.AdminToken)))
	res, err := admin.ListDevices(ctx, connect.NewRequest(&fieldsyncv1.ListDevicesRequest{UserId: e.user("rep", 0).UserID}))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range res.Msg.GetDevices() {
		if d.GetId() != e.user("rep", 0).DeviceID {
			continue
		}
		s := d.GetStatus()
		if s == nil || s.GetAppVersion() != "2.4.1" || s.GetSdkVersion() != sdkVersion() || s.GetOutboxDepth() != 0 || d.GetStatusTime() == nil {
			t.Fatalf("device status = %v at %v", s, d.GetStatusTime())
		}
		return
	}
	t.Fatalf("the rep's device is not listed: %v", res.Msg.GetDevices())
}

// TestPullStatusAfterAPushSeesLaterWrites: the Pull after a Push that left
// nothing pending sends the Push's status, unless a local write came
// since: then it reads the outbox again and reports the write.
func TestPullStatusAfterAPushSeesLaterWrites(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	rep := e.device(e.token("rep"))
	mustPut(t, rep, rep.NewID(), &fieldsyncv1.Visit{Notes: "n"}, "notes")
	rep.syncMu.Lock()
	defer rep.syncMu.Unlock()
	if err := rep.push(ctx, rep.newBackoff()); err != nil {
		t.Fatal(err)
	}
	pushed := rep.pushed
	if pushed == nil || pushed.status.GetOutboxDepth() != 0 {
		t.Fatalf("the push's status: %v", pushed)
	}
	if s, err := rep.wireStatus(ctx, 0); err != nil || s != pushed.status {
		t.Fatalf("the pull's status with no write since the push = %v (%v), want the push's", s, err)
	}
	mustPut(t, rep, rep.NewID(), &fieldsyncv1.Visit{Notes: "after the push"}, "notes")
	if s, err := rep.wireStatus(ctx, 0); err != nil || s.GetOutboxDepth() != 1 {
		t.Fatalf("the pull's status after a write = %v (%v), want an outbox depth of 1", s, err)
	}
	rep.forgetPushStatus()
	if s, err := rep.wireStatus(ctx, 0); err != nil || s == pushed.status {
		t.Fatalf("after forgetPushStatus the pull's status = %v (%v), want one read afresh", s, err)
	}
}
