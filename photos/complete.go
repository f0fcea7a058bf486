package photos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/fieldsync/fieldsync/internal/imagecheck"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/media"
	"github.com/fieldsync/fieldsync/syncengine"
)

// CompleteUpload finishes one of the calling device's uploads: it checks
// that every byte arrived, that they hash to the declared SHA-256 and that
// they are a JPEG, PNG, HEIC/HEIF or WebP image (whatever type was
// declared), reads the EXIF capture time and position, stores the object
// under its hash (once, however many devices send it), and makes the photo
// available to the tenant: the tenant's records that refer to it get a
// photo-state event in the same transaction and are re-delivered to
// devices (see Records). The staged bytes are then removed. Completing a
// complete upload returns it again.
//
// Errors: CodeFailedPrecondition (detail *fieldsyncv1.UploadOffset) when
// bytes are missing, or for a cancelled or expired upload; CodeInvalid when
// the bytes are not a well-formed image of a supported type; CodeDataLoss
// when they do not hash to the declared SHA-256; CodeUnavailable when the
// object store cannot be reached (the staged bytes are kept: retry
// later); CodeNotFound for an unknown id or another device's upload;
// CodePermissionDenied for a caller that is not a device. Every one of
// these leaves the upload as it was.
func (s *Service) CompleteUpload(ctx context.Context, p *syncengine.Principal, id string) (*Upload, *Photo, error) {
	unlock := s.locks.lock(id)
	defer unlock()
	u, err := s.load(ctx, p, id)
	if err != nil {
		return nil, nil, err
	}
	switch u.State {
	case StateComplete:
		return s.completed(ctx, u)
	case StateInProgress:
	default:
		return nil, nil, notInProgress(u)
	}
	if err := s.completeOffset(ctx, u); err != nil {
		return nil, nil, err
	}
	if u.Offset != u.Size {
		return nil, nil, syncengine.Errorf(syncengine.CodeFailedPrecondition, "upload %s has %d of %d bytes: send the rest from offset %d",
			id, u.Offset, u.Size, u.Offset).WithDetail(&fieldsyncv1.UploadOffset{Offset: u.Offset})
	}
	release := func() {}
	if s.cfg.SharedStaging {
		release, err = s.claimCompletion(ctx, u)
		if errors.Is(err, errCompleted) {
			if u, err = s.load(ctx, p, id); err != nil {
				return nil, nil, err
			}
			return s.completed(ctx, u)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	ph, err := s.store(ctx, u)
	if err != nil {
		release()
		return nil, nil, err
	}
	// The object is stored: finish even if the caller has gone away.
	if err := s.finishComplete(context.WithoutCancel(ctx), u, ph); err != nil {
		release()
		return nil, nil, err
	}
	return u, ph, nil
}

// completeOffset sets u.Offset to where the upload stands: the size when
// every byte was acknowledged (no fsync: the object store keeps the bytes
// once verified), else the durable offset the device resumes from.
func (s *Service) completeOffset(ctx context.Context, u *Upload) error {
	if s.lazy() {
		a, err := s.expected(u)
		if err != nil {
			return fmt.Errorf("complete upload %s: %w", u.ID, err)
		}
		if a != nil && a.end == u.Size {
			return nil
		}
	}
	return s.durableOffset(ctx, u)
}

// finishComplete commits a stored photo, removes the staged bytes and
// re-delivers the records that refer to the photo.
func (s *Service) finishComplete(ctx context.Context, u *Upload, ph *Photo) error {
	noticed, err := s.commit(ctx, u, ph)
	if err != nil {
		return err
	}
	s.forget(u.ID)
	if err := s.staging.remove(u.ID); err != nil {
		s.cfg.Logger.WarnContext(ctx, "remove staged bytes (the sweeper retries)", "upload", u.ID, "err", err)
	}
	if noticed {
		s.notify(ctx, Notice{TenantID: u.TenantID, SHA256: u.SHA256})
	}
	return nil
}

// completed answers a repeated completion with the stored photo: the
// facts read from its bytes and this upload's own receipt (not another
// upload's, which would tell who else sent the photo and when).
func (s *Service) completed(ctx context.Context, u *Upload) (*Upload, *Photo, error) {
	ph, held, err := s.cfg.Store.Photo(ctx, u.TenantID, u.SHA256)
	if err != nil {
		return nil, nil, fmt.Errorf("complete upload %s: %w", u.ID, err)
	}
	if ph == nil || !held {
		return nil, nil, fmt.Errorf("complete upload %s: photo %s is not stored", u.ID, u.SHA256)
	}
	ph.UploadID, ph.DeviceID, ph.UserID, ph.DeviceHLC, ph.ReceivedAt = u.ID, u.DeviceID, u.UserID, u.DeviceHLC, u.UpdatedAt
	return u, ph, nil
}

// store checks the staged bytes and puts them into the object store
// unless it holds them already: by letting the upload's stream finish
// (see stream), else from the staged file (see putObject).
func (s *Service) store(ctx context.Context, u *Upload) (*Photo, error) {
	st := s.takeStream(u.ID)
	ph, pr, stored, err := s.verify(ctx, u)
	switch {
	case err != nil || stored:
		if st != nil {
			st.stop()
		}
		return ph, err
	case st != nil && st.ct != ph.ContentType:
		st.stop() // begun with a type the whole head does not show
	case st != nil && st.finish(ctx) == nil:
		if s.cfg.SharedStaging {
			s.dropShared(ctx, u) // parts another server sent meanwhile
		}
		return ph, nil // sent while it arrived
	}
	if err := s.putObject(ctx, u, pr, ph.ContentType); err != nil {
		return nil, putError(u, err)
	}
	return ph, nil
}

// verify checks the staged bytes of an upload and whether the object
// store holds them already. The bytes are hashed whether or not it does
// (as they arrived: normally only the hash's saved state is read here),
// so that sending a known hash proves nothing without its bytes and the
// answer to wrong bytes does not tell whether anyone stored the photo;
// wrong bytes abort the upload's multipart upload, so none of them is
// ever visible. It returns the photo as the tenant will hold it.
func (s *Service) verify(ctx context.Context, u *Upload) (ph *Photo, pr *progress, stored bool, err error) {
	f, err := s.staging.open(u.ID)
	if err != nil {
		return nil, nil, false, fmt.Errorf("complete upload %s: %w", u.ID, err)
	}
	defer f.Close()
	if ph, err = inspect(f, u); err != nil {
		return nil, nil, false, err
	}
	sum, pr, err := s.stagedSHA256(u)
	if err != nil {
		return nil, nil, false, err
	}
	if sum != u.SHA256 {
		s.dropParts(ctx, u, pr)
		return nil, nil, false, hashMismatch(u, sum)
	}
	known, _, err := s.cfg.Store.Photo(ctx, u.TenantID, u.SHA256)
	switch {
	case err != nil:
		return nil, nil, false, fmt.Errorf("complete upload %s: %w", u.ID, err)
	case known != nil:
		s.dropParts(ctx, u, pr)
	}
	return ph, pr, known != nil, nil
}

// putError turns an object store failure into the domain's answer.
func putError(u *Upload, err error) error {
	switch {
	case errors.Is(err, media.ErrDigestMismatch), errors.Is(err, media.ErrSizeMismatch):
		return hashMismatch(u, "")
	case errors.Is(err, media.ErrUnavailable):
		return &syncengine.Error{Code: syncengine.CodeUnavailable, Err: err,
			Message: fmt.Sprintf("photo storage is unreachable: upload %s keeps its bytes, complete it again later", u.ID)}
	}
	return fmt.Errorf("complete upload %s: store object: %w", u.ID, err)
}

// hashMismatch is the answer for staged bytes that are not the declared
// photo; got is their hash when known.
func hashMismatch(u *Upload, got string) error {
	what := "do not hash to"
	if got != "" {
		what = "hash to " + got + ", not"
	}
	return syncengine.Errorf(syncengine.CodeDataLoss,
		"the %d bytes received %s the declared %s: cancel the upload and send the photo again", u.Size, what, u.SHA256)
}

// inspect checks that the staged bytes of a fully staged upload are an
// image of a supported type and reads its EXIF. It returns the photo's facts.
func inspect(f *os.File, u *Upload) (*Photo, error) {
	head := make([]byte, imagecheck.HeadSize)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("complete upload %s: %w", u.ID, err)
	}
	ct, ok := imagecheck.Detect(head[:n])
	if !ok {
		return nil, syncengine.Errorf(syncengine.CodeInvalid, "the bytes are not a JPEG, PNG, HEIC or WebP image (declared %q)", u.ContentType)
	}
	md, err := imagecheck.ReadMetadata(f, u.Size, ct)
	switch {
	case errors.Is(err, imagecheck.ErrMalformed):
		return nil, syncengine.Errorf(syncengine.CodeInvalid, "the bytes are not a well-formed %s image: %v", ct, err)
	case err != nil:
		return nil, fmt.Errorf("complete upload %s: read metadata: %w", u.ID, err)
	}
	return &Photo{
		SHA256: u.SHA256, Size: u.Size, ContentType: ct,
		CaptureTime: md.CaptureTime, HasLocation: md.HasLocation, Latitude: md.Latitude, Longitude: md.Longitude,
		TenantID: u.TenantID, UploadID: u.ID, DeviceID: u.DeviceID, UserID: u.UserID, DeviceHLC: u.DeviceHLC,
	}, nil
}

// commit records the photo for the tenant and the upload as complete. When
// the tenant did not hold the photo before, it writes a photo-state event
// per referencing record and, if there are any, a notice to re-deliver
// them; it reports whether it did.
func (s *Service) commit(ctx context.Context, u *Upload, ph *Photo) (noticed bool, err error) {
	now := s.cfg.Now()
	orphan := "" // a shared multipart upload the stored photo did not need
	defer func() {
		if mp, ok := s.cfg.Objects.(media.Multipart); ok && err == nil && orphan != "" {
			s.abortMultipart(ctx, mp, u, orphan)
		}
	}()
	ph.ReceivedAt = now
	err = s.cfg.Store.UpdatePhotos(ctx, func(tx Tx) error {
		cur, err := tx.Upload(u.ID)
		switch {
		case err != nil:
			return err
		case cur == nil || cur.State != StateInProgress:
			return syncengine.Errorf(syncengine.CodeFailedPrecondition, "upload %s ended while it was being completed", u.ID)
		}
		before, err := tx.PhotoRecords(u.TenantID, u.SHA256)
		if err != nil {
			return err
		}
		added, err := tx.AddPhoto(ph)
		if err != nil {
			return err
		}
		cur.State, cur.Offset, cur.UpdatedAt = StateComplete, u.Size, now
		if err := tx.PutUpload(cur); err != nil {
			return err
		}
		if s.cfg.SharedStaging {
			if orphan, err = forgetShared(tx, u.ID); err != nil {
				return err
			}
		}
		*u = *cur
		if !added {
			return nil
		}
		noticed, err = s.announce(tx, u, before, now)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("complete upload %s: %w", u.ID, err)
	}
	return noticed, nil
}
