package photos

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/internal/imagecheck"
	"github.com/fieldsync/fieldsync/storage/media"
)

// Limits of streams (see stream).
const (
	// streamMaxBytes is the largest photo streamed: minio-go sends
	// smaller objects in one request and buffers larger ones in memory.
	streamMaxBytes = 16 << 20
	// maxStreams bounds the object store requests held open at once.
	maxStreams = 32
	// streamIdle ends a stream whose device sent nothing for that long,
	// before the object store's own idle timeout does.
	streamIdle = 15 * time.Second
)

var (
	errStreamIdle    = errors.New("photos: no chunk for a while: stream ended")
	errStreamStopped = errors.New("photos: stream no longer needed")
)

// stream sends an upload's bytes to a remote object store while they
// arrive, in one Put begun at the first chunk, so that completing the
// upload costs no second transfer. Its body reads the staged file up to
// the acknowledged offset, waiting for more, and holds the photo's last byte
// back until CompleteUpload has verified the bytes: only then can the
// object appear. Wrong bytes, a cancel, an idle device or a restart end
// the request instead, so nothing is stored, and CompleteUpload puts the
// staged bytes (which stay the buffer) another way.
type stream struct {
	f    *os.File
	size int64
	ct   string // the object's content type
	// open opens the staged file when f is nil (a stream begun before
	// the file existed); f is then used by Read and closed by the Put's
	// goroutine only.
	open   func() (*os.File, error)
	cancel context.CancelFunc
	idle   *time.Timer
	done   chan error // the Put's result, sent once

	mu      sync.Mutex
	wake    *sync.Cond
	avail   int64 // staged and acknowledged: may be sent
	sent    int64
	release bool  // verified: the last byte may go
	err     error // ends the body
}

// startStream begins streaming u when its object store is remote (takes
// parts), the photo is small enough, its first bytes (data) are an image
// and fewer than maxStreams are open. A stream begun at CreateUpload
// (startStreamEarly) with the type the first bytes show is kept and fed
// instead.
func (s *Service) startStream(ctx context.Context, u *Upload, data []byte) {
	if _, remote := s.cfg.Objects.(media.Multipart); !remote || u.Size > streamMaxBytes {
		return
	}
	ct, ok := imagecheck.Detect(data[:min(len(data), imagecheck.HeadSize)])
	if !ok {
		s.stopStream(u.ID, errStreamStopped)
		return
	}
	if st := s.stream(u.ID); st != nil {
		if st.ct == ct && st.first(int64(len(data))) {
			return
		}
		s.stopStream(u.ID, errStreamStopped)
	}
	s.openStream(ctx, u, ct, int64(len(data)))
}

// startStreamEarly begins streaming a new upload at CreateUpload, before
// its first byte, with the declared content type when it is one Detect
// can return: the object store's lookup and the request's start then
// overlap the first chunk's arrival instead of following it. The first
// chunk keeps the stream only if its bytes show that type (startStream);
// nothing can be stored before CompleteUpload releases the last byte.
// Only with local staging: with shared staging the first chunk may go to
// another node, which streams the upload itself.
func (s *Service) startStreamEarly(ctx context.Context, u *Upload) {
	if _, remote := s.cfg.Objects.(media.Multipart); !remote || !s.lazy() || u.Size > streamMaxBytes || u.Offset != 0 {
		return
	}
	switch u.ContentType {
	case imagecheck.JPEG, imagecheck.PNG, imagecheck.WebP, imagecheck.HEIC, imagecheck.HEIF:
	default:
		return
	}
	s.openStream(ctx, u, u.ContentType, 0)
}

// openStream starts u's stream of content type ct with avail bytes
// acknowledged, unless it has one or maxStreams are open.
func (s *Service) openStream(ctx context.Context, u *Upload, ct string, avail int64) {
	s.streamMu.Lock()
	defer s.streamMu.Unlock()
	if s.streams[u.ID] != nil || len(s.streams) >= maxStreams {
		return
	}
	var f *os.File
	if avail > 0 {
		var err error
		if f, err = s.staging.open(u.ID); err != nil {
			return
		}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	id, key, size := u.ID, u.SHA256, u.Size
	st := &stream{f: f, open: func() (*os.File, error) { return s.staging.open(id) }, size: u.Size, ct: ct, cancel: cancel, done: make(chan error, 1), avail: avail}
	st.wake = sync.NewCond(&st.mu)
	st.idle = time.AfterFunc(streamIdle, func() { st.abort(errStreamIdle) })
	if s.streams == nil {
		s.streams = map[string]*stream{}
	}
	s.streams[u.ID] = st
	go func() {
		put := s.cfg.Objects.Put
		if vp, ok := s.cfg.Objects.(media.VerifiedPutter); ok {
			// The last byte waits for CompleteUpload's check of the hash:
			// the store need not hash the bytes again.
			put = vp.PutVerified
		}
		err := put(ctx, key, st, size, ct)
		if err != nil {
			st.abort(err)
			// A failed stream frees its place (one begun at CreateUpload
			// for an upload never sent would otherwise hold it until
			// the sweeper); whoever takes it later finds none and puts
			// the staged bytes another way.
			s.streamMu.Lock()
			if s.streams[id] == st {
				delete(s.streams, id)
			}
			s.streamMu.Unlock()
		}
		st.idle.Stop()
		if st.f != nil {
			st.f.Close()
		}
		st.done <- err
	}()
}

// feedStream tells u's stream, if any, that its first end bytes are
// staged and acknowledged; a stream that failed or missed bytes is dropped.
func (s *Service) feedStream(u *Upload, end int64) {
	st := s.stream(u.ID)
	if st != nil && !st.feed(end) {
		s.stopStream(u.ID, errStreamStopped)
	}
}

// stream returns an upload's stream, or nil.
func (s *Service) stream(id string) *stream {
	s.streamMu.Lock()
	defer s.streamMu.Unlock()
	return s.streams[id]
}

// takeStream removes an upload's stream from the service and returns it, or nil.
func (s *Service) takeStream(id string) *stream {
	s.streamMu.Lock()
	defer s.streamMu.Unlock()
	st := s.streams[id]
	delete(s.streams, id)
	return st
}

// stopStream ends an upload's stream, if any, storing nothing, and waits
// for its request to end.
func (s *Service) stopStream(id string, why error) {
	if st := s.takeStream(id); st != nil {
		st.abort(why)
		<-st.done
	}
}

// stop ends a stream taken from the service, storing nothing.
func (st *stream) stop() {
	st.abort(errStreamStopped)
	<-st.done
}

// finishStream lets a verified upload's stream send its last byte and
// returns the Put's result: nil means the object is stored.
func (st *stream) finish(ctx context.Context) error {
	st.mu.Lock()
	ok := st.err == nil && st.avail == st.size
	st.release = ok
	st.mu.Unlock()
	if !ok {
		st.abort(errStreamStopped)
		<-st.done
		return errStreamStopped
	}
	st.wake.Broadcast()
	select {
	case err := <-st.done:
		return err
	case <-ctx.Done():
		st.abort(ctx.Err())
		<-st.done
		return ctx.Err()
	}
}

// feed moves the acknowledged end forward; it reports false when the stream
// failed or end does not follow the bytes it has.
func (st *stream) feed(end int64) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err != nil || end < st.avail || end > st.size {
		return false
	}
	st.avail = end
	st.idle.Reset(streamIdle)
	st.wake.Broadcast()
	return true
}

// first gives a stream begun before any byte its first end bytes; it
// reports false when the stream failed or was already given bytes.
func (st *stream) first(end int64) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.err != nil || st.avail != 0 || end > st.size {
		return false
	}
	st.avail = end
	st.idle.Reset(streamIdle)
	st.wake.Broadcast()
	return true
}

// abort ends the body with err (the first error stays) and the request.
func (st *stream) abort(err error) {
	st.mu.Lock()
	if st.err == nil {
		st.err = err
	}
	st.mu.Unlock()
	st.wake.Broadcast()
	st.cancel()
}

// limit is how far the body may go: the acknowledged bytes, but the last
// byte only once released.
func (st *stream) limit() int64 {
	if st.release {
		return st.size
	}
	return min(st.avail, st.size-1)
}

// Read is the Put's body: staged bytes as they are acknowledged.
func (st *stream) Read(p []byte) (int, error) {
	st.mu.Lock()
	for st.err == nil && st.sent < st.size && st.sent >= st.limit() {
		st.wake.Wait()
	}
	switch {
	case st.err != nil:
		err := st.err
		st.mu.Unlock()
		return 0, err
	case st.sent == st.size:
		st.mu.Unlock()
		return 0, io.EOF
	}
	off, n := st.sent, min(int64(len(p)), st.limit()-st.sent)
	st.mu.Unlock()
	if st.f == nil {
		f, err := st.open()
		if err != nil {
			return 0, err
		}
		st.f = f
	}
	got, err := st.f.ReadAt(p[:n], off)
	st.mu.Lock()
	st.sent += int64(got)
	st.mu.Unlock()
	if err == io.EOF && int64(got) == n {
		err = nil
	}
	return got, err
}
