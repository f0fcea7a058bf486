package photos

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C returns the CRC32C (Castagnoli) checksum PutChunk expects.
func CRC32C(data []byte) uint32 { return crc32.Checksum(data, castagnoli) }

// PutChunk writes data at offset into one of the calling device's uploads
// and returns the new offset; chunks of one upload are applied one at a
// time. With local staging the chunk is acknowledged once it is written to
// the staged file, before it is durable: the offset is fsynced and
// recorded lazily, and a device is only ever told a durable offset to
// resume from (see acked); after a crash the upload may continue from an
// offset before chunks that were acknowledged, and the device resends
// them. With shared staging an acknowledged chunk is durable in the
// store's transaction that records its offset (one fsync per chunk; the
// staged file is then a copy written without fsync). The chunk is also
// hashed (the hash's state is saved beside the staged bytes, so
// CompleteUpload reads nothing again) and passed on to the object store:
// to the upload's stream, or as a multipart part once enough is staged
// (see stream and sendPart); failures there are not the chunk's. The
// hashing happens after PutChunk returns, while the device sends its next
// chunk: the upload stays locked until it is done, so the next call on
// the upload waits for it, and data must not be changed meanwhile.
//
// A device may send its next chunk before the answer to the last (on
// another connection): a chunk that starts past the offset the upload
// continues at waits (up to aheadWait, at most maxAhead of them per
// upload, less if the caller goes away) for the chunks before it, and is
// then applied at its offset; chunks are still applied in order and
// each is checked, its caller authorized and its offset compared, as it
// is applied. A chunk still ahead after the wait is refused as below; one
// whose caller went away returns ctx's error, with nothing written.
//
// Errors, with nothing written: CodeWrongOffset (detail
// *fieldsyncv1.UploadOffset with the server's durable offset) when offset
// is not where the upload continues, which is how a device learns that a
// chunk whose answer it lost did arrive (or, after a crash, that
// acknowledged chunks were lost); CodeDataLoss when crc32c is not the
// CRC32C of data; CodeInvalid for an empty chunk or one that ends past the
// declared size; CodeFailedPrecondition for an upload that is complete,
// cancelled or expired; CodeNotFound for an unknown id or another
// device's upload; CodePermissionDenied for a caller that is not a device.
func (s *Service) PutChunk(ctx context.Context, p *syncengine.Principal, id string, offset int64, data []byte, crc32c uint32) (int64, error) {
	return s.PutChunkThen(ctx, p, id, offset, data, crc32c, nil)
}

// PutChunkThen is PutChunk calling release (when not nil) once the
// service is done with data: at once when the chunk is refused, else once
// it is hashed and passed on (after PutChunkThen returns). A caller that
// reads chunks into pooled buffers (the server's raw chunk route) gives
// the buffer back in release, never sooner.
func (s *Service) PutChunkThen(ctx context.Context, p *syncengine.Principal, id string, offset int64, data []byte, crc32c uint32, release func()) (int64, error) {
	if release == nil {
		release = func() {}
	}
	var (
		unlock  func()
		u       *Upload
		err     error
		until   time.Time
		waiting bool // counted among the upload's chunks ahead
	)
	defer func() {
		if waiting {
			s.doneWaiting(id)
		}
	}()
	for wait := true; ; {
		unlock = s.locks.lock(id)
		u, err = s.putChunk(ctx, p, id, offset, data, crc32c, wait)
		if !errors.Is(err, errAhead) {
			break
		}
		if until.IsZero() {
			until = time.Now().Add(s.aheadWait)
		}
		moved, ok := s.awaitMove(id, !waiting)
		unlock()
		if !ok {
			wait = false
			continue
		}
		waiting = true
		if wait, err = waitMove(ctx, moved, until); err != nil {
			release()
			return 0, err
		}
	}
	if err != nil {
		unlock()
		release()
		return 0, err
	}
	s.tracking.Add(1)
	go func() {
		defer s.tracking.Done()
		defer unlock()
		defer release()
		s.track(context.WithoutCancel(ctx), u, offset, data)
	}()
	return u.Offset, nil
}

// putChunk is PutChunk up to the acknowledged offset, under the upload's
// lock: it returns the upload at its new offset. A chunk ahead of the
// offset the upload continues at returns errAhead when wait is set (see
// PutChunk), with nothing written and no offset made durable.
func (s *Service) putChunk(ctx context.Context, p *syncengine.Principal, id string, offset int64, data []byte, crc32c uint32, wait bool) (*Upload, error) {
	u, err := s.load(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if u.State != StateInProgress {
		s.forget(id)
		return nil, notInProgress(u)
	}
	var a *acked
	if s.lazy() {
		if a, err = s.expected(u); err != nil {
			return nil, fmt.Errorf("put chunk: %w", err)
		}
	}
	if a == nil {
		if err := s.reconcile(ctx, u); err != nil {
			return nil, err
		}
	}
	if wait && offset > u.Offset && len(data) > 0 && offset+int64(len(data)) <= u.Size {
		return nil, errAhead
	}
	if err := checkChunk(u, offset, data, crc32c); err != nil {
		if a != nil && syncengine.ErrorCode(err) == syncengine.CodeWrongOffset {
			return nil, s.wrongOffsetDurable(ctx, u, offset)
		}
		return nil, err
	}
	created, err := s.staging.write(id, offset, data, !s.lazy())
	if err != nil {
		return nil, fmt.Errorf("put chunk: %w", err)
	}
	if s.lazy() {
		s.ack(u, a, offset+int64(len(data)), created)
		u.Offset = offset + int64(len(data))
	} else if err := s.advance(ctx, u, offset, data); err != nil {
		return nil, err
	}
	if offset == 0 {
		s.startStream(ctx, u, data) // keeps a stream begun at CreateUpload
	} else {
		s.feedStream(u, u.Offset)
	}
	s.moved(id)
	return u, nil
}

// checkChunk validates a chunk against its upload.
func checkChunk(u *Upload, offset int64, data []byte, crc32c uint32) error {
	switch {
	case offset != u.Offset:
		return wrongOffset(u.Offset, fmt.Sprintf("chunk at offset %d, but upload %s continues at %d", offset, u.ID, u.Offset))
	case len(data) == 0:
		return syncengine.Errorf(syncengine.CodeInvalid, "data: a chunk needs at least one byte")
	case offset+int64(len(data)) > u.Size:
		return syncengine.Errorf(syncengine.CodeInvalid, "chunk of %d bytes at offset %d ends past the photo's %d bytes", len(data), offset, u.Size)
	}
	if got := CRC32C(data); got != crc32c {
		return syncengine.Errorf(syncengine.CodeDataLoss, "chunk at offset %d has CRC32C %08x, the request says %08x: resend it", offset, got, crc32c)
	}
	return nil
}

// wrongOffset is the CodeWrongOffset error carrying the right offset.
func wrongOffset(offset int64, msg string) error {
	return syncengine.Errorf(syncengine.CodeWrongOffset, "%s", msg).WithDetail(&fieldsyncv1.UploadOffset{Offset: offset})
}

// advance records an upload's new offset after a chunk at offset (kept in
// the store too when staging is shared) and moves its expiry, unless the
// upload changed meanwhile (then the staged tail is cut on the next read).
func (s *Service) advance(ctx context.Context, u *Upload, offset int64, data []byte) error {
	now, end := s.cfg.Now(), offset+int64(len(data))
	err := s.cfg.Store.UpdatePhotos(ctx, func(tx Tx) error {
		cur, err := tx.Upload(u.ID)
		switch {
		case err != nil:
			return err
		case cur == nil || cur.State != StateInProgress:
			return syncengine.Errorf(syncengine.CodeFailedPrecondition, "upload %s ended while the chunk was written", u.ID)
		case cur.Offset != u.Offset:
			return wrongOffset(cur.Offset, fmt.Sprintf("upload %s moved to offset %d meanwhile", u.ID, cur.Offset))
		}
		cur.Offset, cur.UpdatedAt, cur.ExpiresAt = end, now, now.Add(s.cfg.Expiry)
		if err := tx.PutUpload(cur); err != nil {
			return err
		}
		return s.saveChunk(tx, u.ID, offset, data)
	})
	if err != nil {
		return fmt.Errorf("put chunk: %w", err)
	}
	u.Offset = end
	return nil
}

// reconcile makes an upload in progress agree with its staged bytes,
// trusting the smaller: a longer file (a crash between its fsync and the
// offset's commit) is cut to the recorded offset; a shorter one (staged
// bytes lost, or taken by another server) is completed from the store when
// staging is shared, else moves the recorded offset back, and the device
// resends from there. With shared staging the folder is written without
// fsync, so a file this process did not write is staged again from the
// store whole. The caller holds the upload's lock.
func (s *Service) reconcile(ctx context.Context, u *Upload) error {
	n, err := s.staging.size(u.ID)
	if err == nil && n > 0 && !s.staging.trusted(u.ID) {
		// Written without fsync by an earlier process: stage it again from
		// the store, which holds every chunk recorded with shared staging
		// (bytes before its first were fsynced, before staging was shared).
		var first int64
		if first, err = s.firstStoredChunk(ctx, u); err == nil && n > first {
			err = s.staging.truncate(u.ID, first)
			n = first
		}
	}
	if err == nil && n < u.Offset {
		n, err = s.fetchStaged(ctx, u, n)
	}
	switch {
	case err != nil:
		return fmt.Errorf("reconcile upload %s: %w", u.ID, err)
	case n > u.Offset:
		// A stream may have read the tail (acknowledged chunks): the
		// bytes sent again must not follow the ones it sent.
		s.stopStream(u.ID, errStreamStopped)
		if err := s.staging.truncate(u.ID, u.Offset); err != nil {
			return fmt.Errorf("reconcile upload %s: %w", u.ID, err)
		}
	case n < u.Offset:
		s.cfg.Logger.WarnContext(ctx, "staged bytes lost: upload moves back", "upload", u.ID, "offset", u.Offset, "staged", n)
		s.stopStream(u.ID, errStreamStopped)
		if err := s.rewind(ctx, u, n); err != nil {
			return err
		}
		s.forgetPast(ctx, u, n)
	}
	switch {
	case n > u.Offset:
		// Acknowledged chunks lost in a crash: their hash or parts go too.
		s.forgetPast(ctx, u, u.Offset)
	case n == u.Offset && s.lazy() && s.hashedOf(u.ID) == nil:
		// Nothing of the upload in memory (a restart): a power loss may
		// have taken every unsynced byte, leaving the staged file exactly
		// as long as the recorded offset, while a part sent from those
		// bytes was saved durably; it must not be completed with bytes
		// the device sends again.
		s.forgetPast(ctx, u, u.Offset)
	}
	return nil
}

// rewind records a smaller offset for an upload in progress.
func (s *Service) rewind(ctx context.Context, u *Upload, n int64) error {
	err := s.cfg.Store.UpdatePhotos(ctx, func(tx Tx) error {
		cur, err := tx.Upload(u.ID)
		if err != nil || cur == nil || cur.State != StateInProgress {
			return err
		}
		cur.Offset, cur.UpdatedAt = n, s.cfg.Now()
		return tx.PutUpload(cur)
	})
	if err != nil {
		return fmt.Errorf("reconcile upload %s: %w", u.ID, err)
	}
	u.Offset = n
	return nil
}

// Chunks sent ahead (see PutChunk).
const (
	// aheadWait bounds how long a chunk ahead of its upload's offset waits
	// for the chunks before it; the caller going away ends the wait sooner.
	aheadWait = 10 * time.Second
	// maxAhead is how many chunks of one upload may wait at once; more
	// are answered at once with the offset the upload continues at.
	maxAhead = 4
	// aheadPoll is how often a waiting chunk looks again without being
	// woken: with shared staging the chunks before it may reach another
	// server.
	aheadPoll = 50 * time.Millisecond
)

// errAhead: the chunk starts past the offset its upload continues at.
var errAhead = errors.New("photos: chunk ahead of the upload's offset")

// aheadWaiters are the chunks of one upload waiting for its offset to
// move (see PutChunk); guarded by Service.aheadMu.
type aheadWaiters struct {
	moved chan struct{} // closed when the upload's offset moves
	n     int
}

// awaitMove returns the channel closed when an upload's offset next
// moves; the caller holds the upload's lock, so no move is missed. With
// join it first counts the caller among the upload's waiting chunks, or
// reports false (nothing counted) when maxAhead of them wait already.
func (s *Service) awaitMove(id string, join bool) (moved chan struct{}, ok bool) {
	s.aheadMu.Lock()
	defer s.aheadMu.Unlock()
	w := s.ahead[id]
	if w == nil {
		if !join {
			return nil, false // cannot happen: a waiting chunk keeps the entry
		}
		if s.ahead == nil {
			s.ahead = map[string]*aheadWaiters{}
		}
		w = &aheadWaiters{moved: make(chan struct{})}
		s.ahead[id] = w
	}
	if join {
		if w.n >= maxAhead {
			return nil, false
		}
		w.n++
	}
	return w.moved, true
}

// doneWaiting uncounts a chunk counted by awaitMove.
func (s *Service) doneWaiting(id string) {
	s.aheadMu.Lock()
	defer s.aheadMu.Unlock()
	if w := s.ahead[id]; w != nil {
		if w.n--; w.n == 0 {
			delete(s.ahead, id)
		}
	}
}

// waitMove waits for moved, until or a poll period. It reports whether
// the chunk may wait again (false once until has passed), or ctx's error
// when the caller has gone.
func waitMove(ctx context.Context, moved chan struct{}, until time.Time) (bool, error) {
	t := time.NewTimer(min(time.Until(until), aheadPoll))
	defer t.Stop()
	select {
	case <-moved:
	case <-t.C:
	case <-ctx.Done():
		return false, fmt.Errorf("put chunk: %w", context.Cause(ctx))
	}
	return time.Now().Before(until), nil
}

// moved wakes the chunks waiting for an upload's offset to move. The
// caller holds the upload's lock.
func (s *Service) moved(id string) {
	s.aheadMu.Lock()
	defer s.aheadMu.Unlock()
	if w := s.ahead[id]; w != nil {
		close(w.moved)
		w.moved = make(chan struct{})
	}
}
