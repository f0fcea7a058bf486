package photos_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/imagecheck"
	"github.com/fieldsync/fieldsync/photos"
	"github.com/fieldsync/fieldsync/photos/photostest"
	"github.com/fieldsync/fieldsync/syncengine"
)

// chunkCall is a PutChunk running in its own goroutine.
type chunkCall struct {
	off  int64
	done chan struct{}
	got  int64
	err  error
}

// putAsync sends data[off:end] as who in a goroutine.
func (w *world) putAsync(ctx context.Context, svc *photos.Service, who, id string, data []byte, off, end int64) *chunkCall {
	c := &chunkCall{off: off, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.got, c.err = svc.PutChunk(ctx, w.p[who], id, off, data[off:end], photos.CRC32C(data[off:end]))
	}()
	return c
}

func (c *chunkCall) wait() (int64, error) { <-c.done; return c.got, c.err }

// waitAhead waits until n chunks of upload id wait for the chunks before them.
func waitAhead(t *testing.T, svc *photos.Service, id string, n int) {
	t.Helper()
	for photos.WaitingAhead(svc, id) != n {
		time.Sleep(time.Millisecond)
	}
}

// waitedOrDone waits until call has ended (true) or n chunks of upload
// id wait for the chunks before them (false).
func waitedOrDone(svc *photos.Service, id string, n int, call *chunkCall) bool {
	for {
		select {
		case <-call.done:
			return true
		default:
		}
		if photos.WaitingAhead(svc, id) == n {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// A chunk sent before the answer to the one before it (and arriving
// first) waits for it and is then applied at its offset: the photo is the
// bytes in order.
func TestChunkSentAheadWaitsForTheChunksBeforeIt(t *testing.T) {
	t.Parallel()
	for _, shared := range []bool{false, true} {
		w := newWorld(t)
		svc, first := w.svc, w.svc
		if shared { // the first chunk reaches the other node
			svc, first = twoNodes(w)
		}
		ctx := context.Background()
		data := photostest.JPEG(30_000, 11)
		u := w.create("rep", data)
		third := w.putAsync(ctx, svc, "rep", u.ID, data, 20_000, 30_000)
		waitAhead(t, svc, u.ID, 1)
		second := w.putAsync(ctx, svc, "rep", u.ID, data, 10_000, 20_000)
		waitAhead(t, svc, u.ID, 2)
		if off, err := first.PutChunk(ctx, w.p["rep"], u.ID, 0, data[:10_000], photos.CRC32C(data[:10_000])); err != nil || off != 10_000 {
			t.Fatalf("shared=%v: first chunk = %d, %v", shared, off, err)
		}
		if off, err := second.wait(); err != nil || off != 20_000 {
			t.Fatalf("shared=%v: second chunk, sent ahead = %d, %v", shared, off, err)
		}
		if off, err := third.wait(); err != nil || off != 30_000 {
			t.Fatalf("shared=%v: third chunk, sent ahead = %d, %v", shared, off, err)
		}
		if _, _, err := svc.CompleteUpload(ctx, w.p["rep"], u.ID); err != nil {
			t.Fatalf("shared=%v: CompleteUpload: %v", shared, err)
		}
		checkObject(t, w.store, data, imagecheck.JPEG)
	}
}

// A chunk ahead of a chunk that never comes waits only while its caller
// does, and ends with nothing written.
func TestChunkAheadOfAMissingChunkIsRefusedWhenItsCallerGoes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data := photostest.JPEG(30_000, 12)
	u := w.create("rep", data)
	w.send("rep", &photos.Upload{ID: u.ID}, data[:10_000], 10_000)
	ctx, cancel := context.WithCancel(context.Background())
	ahead := w.putAsync(ctx, w.svc, "rep", u.ID, data, 20_000, 30_000)
	waitAhead(t, w.svc, u.ID, 1)
	cancel()
	if _, err := ahead.wait(); !errors.Is(err, context.Canceled) {
		t.Fatalf("chunk ahead whose caller went = %v, want context.Canceled", err)
	}
	if got := w.stagedSize(u.ID); got != 10_000 {
		t.Fatalf("staged %d bytes after the refused chunk, want 10000", got)
	}
	got, err := w.svc.GetUpload(context.Background(), w.p["rep"], u.ID)
	if err != nil || got.Offset != 10_000 {
		t.Fatalf("GetUpload = %+v, %v; want offset 10000", got, err)
	}
}

// Only the upload's device may send ahead: another device's chunk, in the
// tenant or not, is not found at once, without waiting.
func TestChunkAheadFromAnotherDeviceIsNotFoundAtOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.secondDevice("rep-tablet", "rep")
	data := photostest.JPEG(30_000, 13)
	u := w.create("rep", data)
	for _, who := range []string{"rep-tablet", "staff", "other"} {
		ctx, cancel := context.WithCancel(context.Background())
		call := w.putAsync(ctx, w.svc, who, u.ID, data, 10_000, 20_000)
		select {
		case <-call.done:
		case <-time.After(time.Minute): // a wait would last until cancel
			t.Errorf("%s's chunk ahead is waiting on another device's upload", who)
			cancel()
		}
		cancel()
		_, err := call.wait()
		wantCode(t, err, syncengine.CodeNotFound)
	}
	if n := photos.WaitingAhead(w.svc, u.ID); n != 0 {
		t.Fatalf("%d chunks wait on the upload", n)
	}
}

// At most a few chunks of one upload wait at once: the next is answered
// at once with the offset the upload continues at.
func TestChunksAheadAreBounded(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	data := photostest.JPEG(100_000, 14)
	u := w.create("rep", data)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls []*chunkCall
	for i := int64(1); ; i++ {
		off := i * 10_000
		call := w.putAsync(ctx, w.svc, "rep", u.ID, data, off, off+10_000)
		if waitedOrDone(w.svc, u.ID, len(calls)+1, call) {
			_, err := call.wait()
			wantCode(t, err, syncengine.CodeWrongOffset)
			if len(calls) == 0 {
				t.Fatal("no chunk waited")
			}
			cancel()
			for _, c := range calls {
				if _, err := c.wait(); !errors.Is(err, context.Canceled) {
					t.Fatalf("waiting chunk whose caller went = %v", err)
				}
			}
			return
		}
		calls = append(calls, call)
		if len(calls) > 64 {
			t.Fatal("more than 64 chunks of one upload wait at once")
		}
	}
}

// A chunk ahead whose predecessor does not come in time is refused with
// the durable offset, the acknowledged chunks made durable first.
func TestChunkAheadRefusedAfterItsWait(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	photos.SetAheadWait(w.svc, 20*time.Millisecond)
	data := photostest.JPEG(30_000, 15)
	u := w.create("rep", data)
	w.send("rep", &photos.Upload{ID: u.ID}, data[:10_000], 10_000)
	_, err := w.svc.PutChunk(context.Background(), w.p["rep"], u.ID, 20_000, data[20_000:], photos.CRC32C(data[20_000:]))
	wantCode(t, err, syncengine.CodeWrongOffset)
	if off := offsetDetail(t, err); off != 10_000 {
		t.Fatalf("refusal = %v, want the durable offset 10000", err)
	}
	if got := w.stagedSize(u.ID); got != 10_000 {
		t.Fatalf("staged %d bytes after the refused chunk, want 10000", got)
	}
}
