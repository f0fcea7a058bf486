package fieldsync

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/daemon"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// serverLastSeq is the highest seq the server applied for a device.
func (e *env) serverLastSeq(deviceID string) uint64 {
	e.t.Helper()
	last, err := lastSeq(e.d.Store(), deviceID)
	if err != nil {
		e.t.Fatalf("read last seq of %s: %v", deviceID, err)
	}
	return last
}

// lastSeq reads the highest seq the store applied for an actor (0: none),
// on either store.
func lastSeq(st daemon.Store, actor string) (last uint64, err error) {
	err = st.Update(context.Background(), func(tx syncengine.Tx) error {
		last, err = tx.LastSeq(actor)
		return err
	})
	return last, err
}

func TestReplayAfterCrashLosesAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	e := start(t)
	rep := e.user("rep", 0)
	path := filepath.Join(t.TempDir(), "device.db")
	ctx, crash := context.WithCancel(context.Background())
	ft := newFaultTransport()
	ft.set(crash, faultDropResponse) // the process dies once the server has the push
	c := openDevice(t, path, WithServer(e.d.URL()), WithToken(rep.DeviceToken), WithHTTPClient(ft.client()))
	id, other := c.NewID(), c.NewID()
	mustPut(t, c, id, &fieldsyncv1.Visit{Notes: "a"})
	mustPut(t, c, id, &fieldsyncv1.Visit{Notes: "b"}, "notes") // replaying seq 1 after it would lose: a conflict
	mustPut(t, c, other, &fieldsyncv1.Visit{Notes: "other"})
	if err := c.Sync(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("sync through the crash: %v", err)
	}
	if got := e.serverLastSeq(rep.DeviceID); got != 3 {
		t.Fatalf("the server applied up to seq %d before the crash, want 3", got)
	}
	c.Close()

	c = openDevice(t, path, WithServer(e.d.URL()), WithToken(rep.DeviceToken), WithHTTPClient(ft.client()))
	if st := mustStatus(t, c); st.OutboxDepth != 3 {
		t.Fatalf("after the restart the outbox holds %d, want the 3 unanswered writes", st.OutboxDepth)
	}
	mustSync(t, c)
	if ft.pushes != 2 {
		t.Fatalf("%d pushes, want the first and one resend", ft.pushes)
	}
	if v, found := visit(t, c, id); !found || v.Notes != "b" {
		t.Fatalf("visit after the replay: %v %v", v, found)
	}
	if v, found := visit(t, c, other); !found || v.Notes != "other" {
		t.Fatalf("other visit after the replay: %v %v", v, found)
	}
	if got := e.serverLastSeq(rep.DeviceID); got != 3 {
		t.Fatalf("last seq %d after the replay, want 3", got)
	}
	if cs := e.serverConflicts(""); len(cs) != 0 {
		t.Fatalf("the replay was applied again: conflicts %v", cs)
	}
	if st := mustStatus(t, c); st.OutboxDepth != 0 || st.Conflicts != 0 || st.Rejections != 0 {
		t.Fatalf("status %+v", st)
	}
}

func TestSyncRetriesThroughNetworkFaults(t *testing.T) {
	t.Parallel()
	e := start(t)
	ft := newFaultTransport(faultDropRequest, faultDropResponse, faultCutBody, faultDuplicate, faultReplayOld, faultCutBody, faultDropResponse)
	c := e.device(e.token("rep"), WithHTTPClient(ft.client()), WithBatchSize(2), WithPullLimit(2))
	var ids []string
	for range 7 {
		id := c.NewID()
		ids = append(ids, id)
		mustPut(t, c, id, &fieldsyncv1.Visit{Notes: id})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	recs := records(t, c, visitType)
	if len(recs) != len(ids) || e.serverLastSeq(e.user("rep", 0).DeviceID) != 7 {
		t.Fatalf("after the faults: %d records, server last seq %d", len(recs), e.serverLastSeq(e.user("rep", 0).DeviceID))
	}
	for _, r := range recs {
		if r.Pending || r.Version == 0 || r.Value.(*fieldsyncv1.Visit).GetNotes() != r.ID {
			t.Fatalf("record %+v", r)
		}
	}
}

func TestSequenceGapRenumbersFromExpectedSeq(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	c := e.device(e.token("rep"))
	id := c.NewID()
	mustPut(t, c, id, &fieldsyncv1.Visit{Notes: "x"})
	mustPut(t, c, id, &fieldsyncv1.Visit{Kind: fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE}, "kind")
	// As if the server had lost seqs 1–4 (restored from a backup): the
	// outbox starts at 5 and the server expects 1.
	if _, err := c.db.write.ExecContext(ctx, `UPDATE outbox SET seq = seq + 4`); err != nil {
		t.Fatal(err)
	}
	mustSync(t, c)
	if v, _ := visit(t, c, id); v.Notes != "x" || v.Kind != fieldsyncv1.VisitKind_VISIT_KIND_ROUTINE || e.serverLastSeq(e.user("rep", 0).DeviceID) != 2 {
		t.Fatalf("after the gap: %v, server seq %d", v, e.serverLastSeq(e.user("rep", 0).DeviceID))
	}
	mustPut(t, c, id, &fieldsyncv1.Visit{Notes: "y"}, "notes")
	if entries, _ := pendingHead(ctx, c.db.read, 10); len(entries) != 1 || entries[0].Seq != 3 {
		t.Fatalf("next write after renumbering: %+v", entries)
	}
}

func TestReinstalledDeviceDoesNotLoseWritesToOldSeqs(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := context.Background()
	token := e.token("rep")
	old := e.device(token)
	for range 3 {
		mustPut(t, old, old.NewID(), &fieldsyncv1.Visit{Notes: "from the old install"})
	}
	mustSync(t, old)
	// The app is reinstalled: a new store, the same device token, seqs from 1 again.
	fresh := e.device(token)
	id := fresh.NewID()
	mustPut(t, fresh, id, &fieldsyncv1.Visit{Notes: "after the reinstall"})
	mustSync(t, fresh)
	if v, found := visit(t, fresh, id); !found || v.Notes != "after the reinstall" || v.OwnerUserId == "" {
		t.Fatalf("the write after the reinstall: %v %v", v, found)
	}
	if recs := records(t, fresh, visitType); len(recs) != 4 {
		t.Fatalf("the server holds %d visits, want 4", len(recs))
	}
	if got := e.serverLastSeq(e.user("rep", 0).DeviceID); got != 4 {
		t.Fatalf("server last seq %d, want 4", got)
	}
	mustPut(t, fresh, id, &fieldsyncv1.Visit{Notes: "next"}, "notes")
	if entries, _ := pendingHead(ctx, fresh.db.read, 10); len(entries) != 1 || entries[0].Seq != 5 {
		t.Fatalf("the next write: %+v", entries)
	}
}

// countingTransport fails every call as if the server were unreachable and
// calls onAttempt with the number of attempts so far.
type countingTransport struct {
	mu        sync.Mutex
	attempts  int
	onAttempt func(n int)
}

func (ct *countingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	ct.mu.Lock()
	ct.attempts++
	n := ct.attempts
	ct.mu.Unlock()
	ct.onAttempt(n)
	return nil, errInjected
}

func TestSyncRetriesOfflineUntilContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	ct := &countingTransport{onAttempt: func(n int) {
		if n == 5 {
			cancel()
		}
	}}
	c := openDevice(t, filepath.Join(t.TempDir(), "d.db"), WithServer("http://fieldsync.invalid"), WithToken("t"),
		WithHTTPClient(&http.Client{Transport: ct}), WithBackoff(time.Millisecond, 2*time.Millisecond))
	mustPut(t, c, c.NewID(), &fieldsyncv1.Visit{Notes: "offline"})
	err := c.Sync(ctx) // returns only once ctx ends: the transport ends it on the 5th attempt
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("sync while offline returned %v; want the context's error", err)
	}
	if st := mustStatus(t, c); st.OutboxDepth != 1 || !st.LastSync.IsZero() {
		t.Fatalf("status after an offline sync: %+v", st)
	}
}
