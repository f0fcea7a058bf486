package photos

import (
	"context"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/internal/ids"
	"github.com/fieldsync/fieldsync/storage/media"
	"github.com/fieldsync/fieldsync/syncengine"
)

// CreateUpload starts the caller's upload of a photo, or finds it:
//   - when the calling user already holds the photo (completed an upload
//     of it from any of its devices), the upload is complete at once (no
//     byte is sent twice), and an upload of it the device still had in
//     progress is cancelled;
//   - when the calling device has an unexpired upload of the hash in
//     progress, that upload is returned (same id, its durable offset);
//   - otherwise a new upload starts at offset 0.
//
// A photo stored for another user or tenant is stored once, but the
// caller still sends the bytes once, proving it holds them; the answer
// does not depend on whether anyone else stored the photo. Errors:
// CodeInvalid for a malformed hash, a size that is not positive or that
// differs from the caller's own stored photo's; CodeResourceExhausted for
// a size above the maximum; CodeFailedPrecondition when the device's
// upload of the hash in progress declared another size (cancel it first);
// CodePermissionDenied for a caller that is not a device.
func (s *Service) CreateUpload(ctx context.Context, p *syncengine.Principal, req CreateRequest) (*Upload, error) {
	if err := requireDevice(p); err != nil {
		return nil, err
	}
	if err := s.checkCreate(req); err != nil {
		return nil, err
	}
	held, err := s.holds(ctx, p, req)
	if err != nil {
		return nil, err
	}
	u, evicted, err := s.insertUpload(ctx, p, req, held)
	if err != nil {
		return nil, err
	}
	s.dropEvicted(ctx, evicted)
	if u.State == StateInProgress {
		unlock := s.locks.lock(u.ID)
		defer unlock()
		if err = s.durableOffset(ctx, u); err == nil && u.Offset == 0 {
			s.startStreamEarly(ctx, u)
		}
	}
	return u, err
}

// durableOffset makes an upload's acknowledged chunks durable and its
// staged bytes agree with its recorded offset, which u then holds: the
// offset a device may resume from. The caller holds the upload's lock.
func (s *Service) durableOffset(ctx context.Context, u *Upload) error {
	if err := s.flush(ctx, u.ID, u); err != nil {
		return err
	}
	return s.reconcile(ctx, u)
}

// holds reports whether the caller's user holds the declared photo,
// refusing a size that differs from it.
func (s *Service) holds(ctx context.Context, p *syncengine.Principal, req CreateRequest) (bool, error) {
	held, err := s.cfg.Store.Holds(ctx, p.TenantID, req.SHA256, p.UserID)
	switch {
	case err != nil:
		return false, fmt.Errorf("create upload: %w", err)
	case !held:
		return false, nil
	}
	ph, _, err := s.cfg.Store.Photo(ctx, p.TenantID, req.SHA256)
	switch {
	case err != nil || ph == nil:
		return false, fmt.Errorf("create upload: photo %s held but not stored: %w", req.SHA256, err)
	case ph.Size != req.Size:
		return false, syncengine.Errorf(syncengine.CodeInvalid, "size_bytes: your photo %s has %d bytes, not %d", req.SHA256, ph.Size, req.Size)
	}
	return true, nil
}

// checkCreate validates a request's declarations.
func (s *Service) checkCreate(req CreateRequest) error {
	switch {
	case !media.ValidKey(req.SHA256):
		return syncengine.Errorf(syncengine.CodeInvalid, "sha256: want 64 lower-case hex digits")
	case req.Size <= 0:
		return syncengine.Errorf(syncengine.CodeInvalid, "size_bytes: must be positive")
	case req.Size > s.cfg.MaxBytes:
		return syncengine.Errorf(syncengine.CodeResourceExhausted, "photo of %d bytes is larger than the %d bytes accepted", req.Size, s.cfg.MaxBytes)
	}
	return nil
}

// insertUpload writes the new upload (complete at once when held), or
// returns the device's unexpired upload of the hash in progress; evicted
// are the device's uploads it ended to stay within MaxDeviceUploads.
func (s *Service) insertUpload(ctx context.Context, p *syncengine.Principal, req CreateRequest, held bool) (_ *Upload, evicted []*Upload, _ error) {
	now := s.cfg.Now()
	u := &Upload{
		ID: ids.NewAt(now), TenantID: p.TenantID, DeviceID: p.DeviceID, UserID: p.UserID,
		SHA256: req.SHA256, Size: req.Size, ContentType: req.ContentType, RecordID: req.RecordID, Slot: req.Slot,
		State: StateInProgress, DeviceHLC: req.DeviceHLC, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(s.cfg.Expiry),
	}
	if held {
		u.State, u.Offset = StateComplete, u.Size
	}
	var out *Upload
	err := s.cfg.Store.UpdatePhotos(ctx, func(tx Tx) error {
		var err error
		if out, err = placeUpload(tx, u, now); err != nil || out != u || u.State != StateInProgress {
			evicted = nil
			return err
		}
		evicted, err = evictUploads(tx, u, now, s.cfg.MaxDeviceUploads)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("create upload: %w", err)
	}
	return out, evicted, nil
}

// evictUploads ends, as expired, the least recently updated of the
// device's uploads in progress beyond max, u (just placed) included and
// kept, and returns them.
func evictUploads(tx Tx, u *Upload, now time.Time, max int) ([]*Upload, error) {
	ups, err := tx.DeviceUploads(u.DeviceID)
	if err != nil || len(ups) <= max {
		return nil, err
	}
	var evicted []*Upload
	for _, e := range ups {
		if len(ups)-len(evicted) <= max {
			break
		}
		if e.ID == u.ID {
			continue
		}
		e.State, e.UpdatedAt = StateExpired, now
		if err := tx.PutUpload(e); err != nil {
			return nil, err
		}
		evicted = append(evicted, e)
	}
	return evicted, nil
}

// dropEvicted removes the staged bytes, the stream and the parts of
// uploads evictUploads ended, each under its lock (a chunk being written
// to one finishes first; the next finds it expired). What fails here is
// left to the sweeper, which removes the bytes of uploads not in progress.
func (s *Service) dropEvicted(ctx context.Context, evicted []*Upload) {
	for _, e := range evicted {
		s.cfg.Logger.InfoContext(ctx, "photo upload ended: its device started more uploads than it may have in progress",
			"upload", e.ID, "device", e.DeviceID, "max", s.cfg.MaxDeviceUploads)
		unlock := s.locks.lock(e.ID)
		s.forget(e.ID)
		if err := s.discard(ctx, e.ID, e); err != nil {
			s.cfg.Logger.WarnContext(ctx, "remove an evicted upload's staged bytes (the sweeper retries)", "upload", e.ID, "err", err)
		}
		unlock()
	}
}

// placeUpload inserts u, unless it is in progress and the device has an
// unexpired upload of the hash in progress: that one is returned instead.
// The device's upload in progress is marked expired when past its expiry,
// and cancelled when u is complete at once (the photo is stored); the
// sweeper removes its bytes.
func placeUpload(tx Tx, u *Upload, now time.Time) (*Upload, error) {
	cur, err := tx.ActiveUpload(u.DeviceID, u.SHA256)
	switch {
	case err != nil:
		return nil, err
	case cur == nil:
		return u, tx.PutUpload(u)
	}
	live := now.Before(cur.ExpiresAt)
	switch {
	case u.State == StateComplete:
		cur.State = StateCancelled
	case live && cur.Size != u.Size:
		return nil, syncengine.Errorf(syncengine.CodeFailedPrecondition,
			"upload %s of this photo declared %d bytes: cancel it to declare %d", cur.ID, cur.Size, u.Size)
	case live:
		return cur, nil
	default:
		cur.State = StateExpired
	}
	cur.UpdatedAt = now
	if err := tx.PutUpload(cur); err != nil {
		return nil, err
	}
	return u, tx.PutUpload(u)
}

// GetUpload returns one of the calling device's uploads, with its durable
// offset (acknowledged chunks are made durable first, see acked). Errors:
// CodeNotFound for an unknown id or another device's upload;
// CodePermissionDenied for a caller that is not a device.
func (s *Service) GetUpload(ctx context.Context, p *syncengine.Principal, id string) (*Upload, error) {
	unlock := s.locks.lock(id)
	defer unlock()
	u, err := s.load(ctx, p, id)
	if err != nil || u.State != StateInProgress {
		return u, err
	}
	return u, s.durableOffset(ctx, u)
}

// CancelUpload discards an unfinished upload of the calling device and its
// staged bytes. Cancelling a cancelled or expired upload does nothing.
// Errors: CodeFailedPrecondition for a complete upload; CodeNotFound for
// an unknown id or another device's upload; CodePermissionDenied for a
// caller that is not a device.
func (s *Service) CancelUpload(ctx context.Context, p *syncengine.Principal, id string) error {
	unlock := s.locks.lock(id)
	defer unlock()
	u, err := s.load(ctx, p, id)
	switch {
	case err != nil:
		return err
	case u.State == StateComplete:
		return syncengine.Errorf(syncengine.CodeFailedPrecondition, "upload %s is complete: nothing to cancel", id)
	case u.State != StateInProgress:
		return nil
	}
	s.forget(id)
	if err := s.finish(ctx, u, StateCancelled); err != nil {
		return err
	}
	return s.discard(ctx, id, u)
}

// finish moves an upload in progress to a final state, unless it left
// that state meanwhile.
func (s *Service) finish(ctx context.Context, u *Upload, st State) error {
	err := s.cfg.Store.UpdatePhotos(ctx, func(tx Tx) error {
		cur, err := tx.Upload(u.ID)
		if err != nil || cur == nil || cur.State != StateInProgress {
			return err
		}
		cur.State, cur.UpdatedAt = st, s.cfg.Now()
		return tx.PutUpload(cur)
	})
	if err != nil {
		return fmt.Errorf("%s upload %s: %w", st, u.ID, err)
	}
	u.State = st
	return nil
}

// load returns the calling device's upload. An upload in progress past
// its expiry is reported expired even before the sweeper marks it.
func (s *Service) load(ctx context.Context, p *syncengine.Principal, id string) (*Upload, error) {
	if err := requireDevice(p); err != nil {
		return nil, err
	}
	u, err := s.cfg.Store.Upload(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load upload %s: %w", id, err)
	}
	if u == nil || u.TenantID != p.TenantID || u.DeviceID != p.DeviceID {
		return nil, uploadNotFound(id)
	}
	if u.State != StateInProgress {
		return u, nil
	}
	if a := s.ackedOf(id); a != nil && u.ExpiresAt.Before(a.last.Add(s.cfg.Expiry)) {
		u.ExpiresAt = a.last.Add(s.cfg.Expiry) // a chunk came since the expiry was recorded
	}
	if !s.cfg.Now().Before(u.ExpiresAt) {
		u.State = StateExpired
	}
	return u, nil
}
