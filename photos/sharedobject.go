package photos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/fieldsync/fieldsync/storage/media"
	"github.com/fieldsync/fieldsync/syncengine"
)

// ObjectTx is the Tx capability Config.SharedStaging needs so that the
// servers sharing the Store share an upload's work on the object store:
// one multipart upload per upload, each part sent once, one completion at
// a time. The service reads and writes the state only after Tx.Upload of
// the upload, which must lock the upload's row until the transaction
// ends (SELECT … FOR UPDATE; SQLite's single writer does it anyway): that
// makes each change a compare-and-set.
type ObjectTx interface {
	// UploadObject returns the upload's state as PutUploadObject last
	// wrote it, or nil.
	UploadObject(uploadID string) ([]byte, error)
	// PutUploadObject replaces the upload's state; nil deletes it.
	PutUploadObject(uploadID string, state []byte) error
}

// Claims of shared work: how long another server leaves a part or a
// completion to the server that claimed it before taking it over (its
// server may have died).
const (
	partClaim     = time.Minute
	completeClaim = 2 * time.Minute
)

// sharedPartSize is the size of every part of a shared multipart upload
// but the last: part n holds the bytes from (n-1)·sharedPartSize, so
// two servers sending one part send the same bytes and either's ETag is
// right.
const sharedPartSize = media.MinPartSize

// sharedObject is an upload's work on the object store as every server
// sees it (shared staging).
type sharedObject struct {
	// Multipart is the upload's one multipart upload, "" before the first
	// part; Parts are its recorded parts, numbered from 1 in order.
	Multipart string       `json:"multipart,omitempty"`
	Parts     []media.Part `json:"parts,omitempty"`
	// Sending is the part a server claimed to send, until SendingUntil
	// (Unix ms of Config.Now).
	Sending      int   `json:"sending,omitempty"`
	SendingUntil int64 `json:"sending_until,omitempty"`
	// CompletingUntil (Unix ms) is set while a server completes the upload.
	CompletingUntil int64 `json:"completing_until,omitempty"`
}

func (o *sharedObject) empty() bool {
	return o.Multipart == "" && len(o.Parts) == 0 && o.Sending == 0 && o.CompletingUntil == 0
}

// errNoSharedWork says there is nothing for this server to do.
var errNoSharedWork = errors.New("photos: no shared work")

// updateShared runs fn on an upload's shared state in a write transaction
// that locks the upload, and writes the state fn leaves unless fn fails.
// fn gets nil for an upload that does not exist.
func (s *Service) updateShared(ctx context.Context, id string, fn func(u *Upload, o *sharedObject) error) error {
	return s.cfg.Store.UpdatePhotos(ctx, func(tx Tx) error {
		ot, ok := tx.(ObjectTx)
		if !ok {
			return errors.New("photos: SharedStaging needs a store whose transactions have UploadObject")
		}
		u, err := tx.Upload(id)
		if err != nil {
			return err
		}
		b, err := ot.UploadObject(id)
		if err != nil {
			return err
		}
		o := &sharedObject{}
		if b != nil {
			if err := json.Unmarshal(b, o); err != nil {
				return fmt.Errorf("object state of upload %s: %w", id, err)
			}
		}
		if err := fn(u, o); err != nil {
			return err
		}
		if o.empty() || u == nil || u.State != StateInProgress {
			return ot.PutUploadObject(id, nil)
		}
		b, err = json.Marshal(o)
		if err != nil {
			return err
		}
		return ot.PutUploadObject(id, b)
	})
}

// sendSharedPart sends the newest part the staged bytes (offset of them)
// fill, unless it is the photo's last (sent at completion), another
// server is sending a part or completing the upload, or the part is
// recorded. It claims the part first and starts the upload's multipart
// upload if it has none; of two started at once, the one recorded stays
// and the other is aborted.
func (s *Service) sendSharedPart(ctx context.Context, mp media.Multipart, u *Upload, offset int64) error {
	var o sharedObject
	now := s.cfg.Now().UnixMilli()
	err := s.updateShared(ctx, u.ID, func(cur *Upload, sh *sharedObject) error {
		next := len(sh.Parts) + 1
		switch end := int64(next) * sharedPartSize; {
		case cur == nil || cur.State != StateInProgress || sh.CompletingUntil > now,
			end > offset || end >= u.Size,
			sh.Sending != 0 && sh.SendingUntil > now:
			return errNoSharedWork
		}
		sh.Sending, sh.SendingUntil = next, now+partClaim.Milliseconds()
		o = *sh
		return nil
	})
	if errors.Is(err, errNoSharedWork) {
		return nil
	}
	if err != nil {
		return err
	}
	f, err := s.staging.open(u.ID)
	if err != nil {
		return err
	}
	defer f.Close()
	if o.Multipart == "" {
		if o.Multipart, err = s.startShared(ctx, mp, u, f); err != nil || o.Multipart == "" {
			s.releaseSharedPart(ctx, u, o.Sending)
			return err
		}
	}
	n := o.Sending
	part, err := mp.PutPart(ctx, u.SHA256, o.Multipart, n, io.NewSectionReader(f, int64(n-1)*sharedPartSize, sharedPartSize), sharedPartSize)
	if err != nil {
		s.releaseSharedPart(ctx, u, n)
		return err
	}
	return s.updateShared(ctx, u.ID, func(_ *Upload, sh *sharedObject) error {
		if sh.Multipart == o.Multipart && len(sh.Parts) == n-1 {
			sh.Parts = append(sh.Parts, part)
		}
		if sh.Sending == n {
			sh.Sending, sh.SendingUntil = 0, 0
		}
		return nil
	})
}

// startShared starts the upload's multipart upload and records it unless
// one is recorded already (then it aborts its own and returns that one),
// or the upload ended meanwhile (then it aborts its own and returns "").
// Staged bytes that are not an image start nothing.
func (s *Service) startShared(ctx context.Context, mp media.Multipart, u *Upload, f *os.File) (string, error) {
	ct, ok := detect(f)
	if !ok {
		return "", nil
	}
	mine, err := mp.StartMultipart(ctx, u.SHA256, ct)
	if err != nil {
		return "", err
	}
	got := ""
	err = s.updateShared(ctx, u.ID, func(cur *Upload, sh *sharedObject) error {
		if cur == nil || cur.State != StateInProgress {
			return nil
		}
		if sh.Multipart == "" {
			sh.Multipart = mine
		}
		got = sh.Multipart
		return nil
	})
	if err != nil || got != mine {
		s.abortMultipart(ctx, mp, u, mine)
	}
	if err != nil {
		return "", err
	}
	return got, nil
}

// releaseSharedPart drops this server's claim of part n.
func (s *Service) releaseSharedPart(ctx context.Context, u *Upload, n int) {
	err := s.updateShared(context.WithoutCancel(ctx), u.ID, func(_ *Upload, sh *sharedObject) error {
		if sh.Sending == n {
			sh.Sending, sh.SendingUntil = 0, 0
		}
		return nil
	})
	if err != nil {
		s.cfg.Logger.WarnContext(ctx, "release part claim (it expires)", "upload", u.ID, "err", err)
	}
}

// errCompleted says another server completed the upload meanwhile.
var errCompleted = errors.New("photos: upload completed meanwhile")

// claimCompletion makes this server the one completing an upload in
// progress, for completeClaim. It answers CodeUnavailable while another
// server completes it (the device asks again and gets the result), and
// errCompleted when another server completed it meanwhile.
// release drops the claim (after a failure: a success ends the upload).
func (s *Service) claimCompletion(ctx context.Context, u *Upload) (release func(), err error) {
	now := s.cfg.Now().UnixMilli()
	err = s.updateShared(ctx, u.ID, func(cur *Upload, sh *sharedObject) error {
		switch {
		case cur != nil && cur.State == StateComplete:
			return errCompleted
		case cur == nil || cur.State != StateInProgress:
			return syncengine.Errorf(syncengine.CodeFailedPrecondition, "upload %s ended while it was being completed", u.ID)
		case sh.CompletingUntil > now:
			return syncengine.Errorf(syncengine.CodeUnavailable, "upload %s is being completed by another server: complete it again in a moment", u.ID)
		}
		sh.CompletingUntil = now + completeClaim.Milliseconds()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return func() {
		err := s.updateShared(context.WithoutCancel(ctx), u.ID, func(_ *Upload, sh *sharedObject) error {
			sh.CompletingUntil = 0
			return nil
		})
		if err != nil {
			s.cfg.Logger.WarnContext(ctx, "release completion claim (it expires)", "upload", u.ID, "err", err)
		}
	}, nil
}

// sharedParts returns an upload's recorded multipart upload and parts.
func (s *Service) sharedParts(ctx context.Context, u *Upload) (string, []media.Part, error) {
	var o sharedObject
	err := s.updateShared(ctx, u.ID, func(_ *Upload, sh *sharedObject) error {
		o = *sh
		return nil
	})
	return o.Multipart, o.Parts, err
}

// completeSharedParts sends the parts of a verified upload its multipart
// upload lacks — the last, and any a server claimed but did not record —
// and completes it. id is the recorded multipart upload.
func (s *Service) completeSharedParts(ctx context.Context, mp media.Multipart, u *Upload, id string, parts []media.Part, f *os.File) error {
	parts = parts[:len(parts):len(parts)]
	for n := len(parts) + 1; int64(n-1)*sharedPartSize < u.Size; n++ {
		off := int64(n-1) * sharedPartSize
		size := min(sharedPartSize, u.Size-off)
		part, err := mp.PutPart(ctx, u.SHA256, id, n, io.NewSectionReader(f, off, size), size)
		if err != nil {
			return err
		}
		parts = append(parts, part)
	}
	return mp.CompleteMultipart(ctx, u.SHA256, id, parts)
}

// dropShared aborts an upload's shared multipart upload, if it has one,
// and forgets it and its parts.
func (s *Service) dropShared(ctx context.Context, u *Upload) {
	id := ""
	err := s.updateShared(ctx, u.ID, func(_ *Upload, sh *sharedObject) error {
		id = sh.Multipart
		sh.Multipart, sh.Parts, sh.Sending, sh.SendingUntil = "", nil, 0, 0
		return nil
	})
	if err != nil {
		s.cfg.Logger.WarnContext(ctx, "forget shared multipart upload", "upload", u.ID, "err", err)
	}
	if mp, ok := s.cfg.Objects.(media.Multipart); ok && id != "" {
		s.abortMultipart(ctx, mp, u, id)
	}
}

// abortMultipart aborts multipart upload id, logging a failure (the
// bucket's lifecycle rules remove what is left).
func (s *Service) abortMultipart(ctx context.Context, mp media.Multipart, u *Upload, id string) {
	if err := mp.AbortMultipart(context.WithoutCancel(ctx), u.SHA256, id); err != nil {
		s.cfg.Logger.WarnContext(ctx, "abort multipart upload (left to the bucket's lifecycle rules)", "upload", u.ID, "err", err)
	}
}

// putShared stores a verified upload through its shared multipart upload:
// it returns errNoSharedWork when staging is not shared, the object store
// takes no parts or the upload has no multipart upload (the caller puts
// the photo whole), and also when completing the parts failed for another
// reason than an unreachable store (then the parts are dropped first).
func (s *Service) putShared(ctx context.Context, u *Upload, f *os.File) error {
	mp, ok := s.cfg.Objects.(media.Multipart)
	if !s.cfg.SharedStaging || !ok {
		return errNoSharedWork
	}
	id, parts, err := s.sharedParts(ctx, u)
	switch {
	case err != nil:
		return err
	case id == "":
		return errNoSharedWork
	}
	err = s.completeSharedParts(ctx, mp, u, id, parts, f)
	if err == nil || errors.Is(err, media.ErrUnavailable) {
		return err
	}
	s.cfg.Logger.WarnContext(ctx, "multipart upload failed: putting the photo whole", "upload", u.ID, "err", err)
	s.dropShared(ctx, u)
	return errNoSharedWork
}

// forgetShared deletes an upload's shared state in tx, which locked the
// upload, and returns its multipart upload: the caller aborts it once tx
// is committed (aborting one that was completed is no error), so that one
// a server started while the photo was stored another way is not left in
// the bucket.
func forgetShared(tx Tx, id string) (multipart string, err error) {
	ot, ok := tx.(ObjectTx)
	if !ok {
		return "", errors.New("photos: SharedStaging needs a store whose transactions have UploadObject")
	}
	b, err := ot.UploadObject(id)
	if err != nil || b == nil {
		return "", err
	}
	var o sharedObject
	if err := json.Unmarshal(b, &o); err != nil {
		return "", fmt.Errorf("object state of upload %s: %w", id, err)
	}
	return o.Multipart, ot.PutUploadObject(id, nil)
}
