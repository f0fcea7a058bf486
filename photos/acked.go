package photos

import (
	"context"
	"fmt"
	"time"
)

// flushAfter is how long an acknowledged chunk may stay only in the page
// cache (see acked): the upload's offset is made durable that long after
// the first chunk acknowledged past it, unless something asked sooner.
const flushAfter = time.Second

// acked is an upload with chunks acknowledged but not yet durable. With
// local staging (not Config.SharedStaging) PutChunk answers once a chunk
// is written to the staged file, without fsync and without recording the
// new offset: the device keeps a photo until CompleteUpload succeeds, so a
// chunk lost in a crash costs a resend, never the photo. The offset a
// device is told to resume from is always durable: GetUpload,
// CreateUpload of an upload in progress, a chunk at the wrong offset and a
// CompleteUpload with bytes missing first fsync the staged file and then
// record its length as the offset (flush), and so does a timer flushAfter
// the first acknowledgement and a graceful shutdown (Flush). After a crash
// the recorded offset may be behind what was acknowledged; the staged file
// is cut back to it (see reconcile) and the device resends from there.
//
// A successful CompleteUpload needs no flush when the object store copies
// the bytes (a stream, parts, Put). A store given the staged file itself
// (media.FilePutter; the local folder hard-links it into place) gets it
// only once its whole length is the recorded offset: otherwise a crash
// before the upload is recorded complete would have the restart cut the
// file, and so the stored object, back to the older offset.
//
// Fields are guarded by the upload's lock (Service.locks); the map that
// holds them by Service.ackedMu.
type acked struct {
	end     int64 // acknowledged: the staged file's length
	durable int64 // the offset recorded in the store
	created bool  // the staged file was created since the last flush
	last    time.Time
	timer   *time.Timer
}

// lazy reports whether chunks are acknowledged before they are durable.
func (s *Service) lazy() bool { return !s.cfg.SharedStaging }

// ackedOf returns an upload's acknowledged, not yet durable, chunks, or nil.
func (s *Service) ackedOf(id string) *acked {
	s.ackedMu.Lock()
	defer s.ackedMu.Unlock()
	return s.acks[id]
}

// ack records that the chunk ending at end was acknowledged (u.Offset is
// the offset before it, durable when a is nil) and arms the flush timer.
func (s *Service) ack(u *Upload, a *acked, end int64, created bool) {
	if a == nil {
		a = &acked{durable: u.Offset}
		id := u.ID
		a.timer = time.AfterFunc(s.flushAfter, func() { s.flushLater(id) })
		s.ackedMu.Lock()
		if s.acks == nil {
			s.acks = map[string]*acked{}
		}
		s.acks[id] = a
		s.ackedMu.Unlock()
	}
	a.end, a.last = end, s.cfg.Now()
	a.created = a.created || created
}

// forget drops an upload's acknowledged chunks without making them durable
// (the upload ended, or they are no longer what the staged file holds).
func (s *Service) forget(id string) {
	s.ackedMu.Lock()
	a := s.acks[id]
	delete(s.acks, id)
	s.ackedMu.Unlock()
	if a != nil && a.durable < a.end {
		s.dropHashed(id) // its hash may cover the forgotten chunks
	}
	if a != nil {
		a.timer.Stop()
	}
}

// flushLater is the timer's flush: it takes the upload's lock.
func (s *Service) flushLater(id string) {
	unlock := s.locks.lock(id)
	defer unlock()
	if s.closed.Load() {
		return
	}
	if err := s.flush(context.Background(), id, nil); err != nil {
		s.cfg.Logger.Warn("make acknowledged chunks durable (the device resends them after a crash)", "upload", id, "err", err)
	}
}

// flush makes an upload's acknowledged chunks durable: it fsyncs the
// staged file (and the folder when the file is new) and records its length
// as the offset, with a new expiry. u, when given, is the upload as loaded
// by the caller and gets the durable offset. The caller holds the upload's
// lock. When the store's offset is not the one this process recorded (the
// upload moved meanwhile), the acknowledged chunks are forgotten and the
// store's offset stands (reconcile cuts the staged file to it).
func (s *Service) flush(ctx context.Context, id string, u *Upload) error {
	a := s.ackedOf(id)
	if a == nil {
		return nil
	}
	if err := s.staging.sync(id, a.created); err != nil {
		return fmt.Errorf("flush upload %s: %w", id, err)
	}
	moved, recorded := false, int64(0)
	err := s.cfg.Store.UpdatePhotos(ctx, func(tx Tx) error {
		cur, err := tx.Upload(id)
		switch {
		case err != nil:
			return err
		case cur == nil || cur.State != StateInProgress || cur.Offset != a.durable:
			moved = true
			if cur != nil {
				recorded = cur.Offset
			}
			return nil
		}
		cur.Offset, cur.UpdatedAt, cur.ExpiresAt = a.end, a.last, a.last.Add(s.cfg.Expiry)
		if u != nil {
			u.UpdatedAt, u.ExpiresAt = cur.UpdatedAt, cur.ExpiresAt
		}
		return tx.PutUpload(cur)
	})
	if err != nil {
		return fmt.Errorf("flush upload %s: %w", id, err)
	}
	if moved {
		s.forget(id)
	} else {
		a.durable = a.end // the hash kept in memory stays good
		s.forget(id)
		if err := s.saveHashed(id); err != nil {
			s.cfg.Logger.Warn("upload progress (completion catches up)", "upload", id, "err", err)
		}
	}
	switch {
	case u == nil:
	case moved:
		u.Offset = recorded
	default:
		u.Offset = a.end
	}
	return nil
}

// Flush makes every upload's acknowledged chunks durable, as a graceful
// shutdown does (Run calls it when its context ends). Chunks acknowledged
// afterwards are flushed by their own timers.
func (s *Service) Flush(ctx context.Context) error {
	s.ackedMu.Lock()
	ids := make([]string, 0, len(s.acks))
	for id := range s.acks {
		ids = append(ids, id)
	}
	s.ackedMu.Unlock()
	var first error
	for _, id := range ids {
		unlock := s.locks.lock(id)
		err := s.flush(ctx, id, nil)
		unlock()
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Shutdown waits for the hashing of acknowledged chunks, makes every
// acknowledged chunk durable (Flush) and stops the flush timers: after it
// the service writes nothing more to its staging folder on its own. Run
// calls it when its context ends; a Service that is never Run (tests,
// tools) calls it before its folder goes away.
func (s *Service) Shutdown(ctx context.Context) error {
	s.tracking.Wait()
	err := s.Flush(ctx)
	s.closed.Store(true)
	return err
}

// expected returns the offset an upload continues at for the next chunk:
// the acknowledged end when chunks are not yet durable, else the store's.
// It checks that the staged file still holds the acknowledged bytes; if
// not (the folder was damaged), they are forgotten and the store's offset
// stands (the caller reconciles).
func (s *Service) expected(u *Upload) (*acked, error) {
	a := s.ackedOf(u.ID)
	if a == nil {
		return nil, nil
	}
	n, err := s.staging.size(u.ID)
	if err != nil {
		return nil, err
	}
	if n != a.end || u.Offset != a.durable {
		s.cfg.Logger.Warn("staged bytes changed under acknowledged chunks: back to the recorded offset", "upload", u.ID, "acknowledged", a.end, "staged", n, "recorded", u.Offset)
		s.forget(u.ID)
		return nil, nil
	}
	u.Offset = a.end
	return a, nil
}

// wrongOffsetDurable answers a chunk at the wrong offset with the durable
// offset: acknowledged chunks are flushed first.
func (s *Service) wrongOffsetDurable(ctx context.Context, u *Upload, offset int64) error {
	if err := s.flush(ctx, u.ID, u); err != nil {
		return err
	}
	return wrongOffset(u.Offset, fmt.Sprintf("chunk at offset %d, but upload %s continues at %d", offset, u.ID, u.Offset))
}
