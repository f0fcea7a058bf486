package photos

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"

	"github.com/fieldsync/fieldsync/internal/imagecheck"
	"github.com/fieldsync/fieldsync/storage/media"
)

// partPause is how long the service stops handing parts to an object
// store that failed one: chunks are still taken (staged), and the parts
// are sent later or at completion.
const partPause = 30 * time.Second

// track hashes a chunk staged and recorded at offset and, when a whole
// part is staged past the last one, hands it to the object store. It only
// saves work for CompleteUpload, which redoes whatever failed here, so
// its failures are logged, not returned: the chunk is staged either way.
func (s *Service) track(ctx context.Context, u *Upload, offset int64, data []byte) {
	pr, h, err := s.hashedTo(u.ID, offset)
	if err == nil {
		h.Write(data)
		pr.Offset += int64(len(data))
		pr.Hash, err = h.(encoding.BinaryMarshaler).MarshalBinary()
	}
	switch {
	case err != nil:
	case s.lazy():
		// Kept in memory; written beside the staged bytes when they are
		// made durable (flush): after a crash only progress up to the
		// durable offset is of use.
		s.keepHashed(u.ID, pr, h)
	default:
		err = s.staging.saveProgress(u.ID, pr, false)
	}
	if err == nil {
		err = s.sendPart(ctx, u, pr)
	}
	if err != nil {
		s.cfg.Logger.WarnContext(ctx, "upload progress (completion catches up)", "upload", u.ID, "err", err)
	}
}

// hashedTo returns an upload's progress with a hash of its first offset
// staged bytes, hashing those the saved state does not cover (none,
// unless the server crashed).
func (s *Service) hashedTo(id string, offset int64) (*progress, hash.Hash, error) {
	if hs := s.hashedOf(id); hs != nil && hs.pr.Offset == offset {
		return hs.pr, hs.h, nil
	}
	s.dropHashed(id)
	pr, err := s.staging.loadProgress(id)
	if err != nil {
		return nil, nil, err
	}
	h := sha256.New()
	if pr.Offset > offset || h.(encoding.BinaryUnmarshaler).UnmarshalBinary(pr.Hash) != nil {
		h.Reset()
		pr.Offset = 0
	}
	if pr.Offset == offset {
		return pr, h, nil
	}
	f, err := s.staging.open(id)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if _, err := io.Copy(h, io.NewSectionReader(f, pr.Offset, offset-pr.Offset)); err != nil {
		return nil, nil, fmt.Errorf("hash staged bytes: %w", err)
	}
	pr.Offset = offset
	return pr, h, nil
}

// stagedSHA256 returns the hex SHA-256 of a fully staged upload and its progress.
func (s *Service) stagedSHA256(u *Upload) (string, *progress, error) {
	pr, h, err := s.hashedTo(u.ID, u.Size)
	if err != nil {
		return "", nil, fmt.Errorf("complete upload %s: %w", u.ID, err)
	}
	return hex.EncodeToString(h.Sum(nil)), pr, nil
}

// sendPart hands the object store the bytes staged past the last part
// when they fill a part and are not the photo's last: the last part goes
// at completion, once the hash is verified.
func (s *Service) sendPart(ctx context.Context, u *Upload, pr *progress) error {
	mp, ok := s.cfg.Objects.(media.Multipart)
	switch {
	case !ok || pr.Offset >= u.Size || pr.Offset-pr.PartEnd < media.MinPartSize:
		return nil
	case s.cfg.Now().UnixNano() < s.partsPausedUntil.Load() || s.stream(u.ID) != nil:
		return nil // the store failed a moment ago, or gets the bytes already
	}
	var err error
	switch {
	case s.cfg.SharedStaging && u.Size <= streamMaxBytes:
		// Streamed by the node that took the first chunk, else put whole
		// at completion: parts from the other nodes would be sent twice.
		return nil
	case s.cfg.SharedStaging:
		err = s.sendSharedPart(ctx, mp, u, pr.Offset)
	default:
		err = s.putPart(ctx, mp, u, pr)
	}
	if err != nil {
		s.partsPausedUntil.Store(s.cfg.Now().Add(partPause).UnixNano())
	}
	return err
}

// putPart starts the upload's multipart upload if needed and puts the
// staged bytes from pr.PartEnd to pr.Offset as its next part, saving the
// progress durably after each step.
func (s *Service) putPart(ctx context.Context, mp media.Multipart, u *Upload, pr *progress) error {
	f, err := s.staging.open(u.ID)
	if err != nil {
		return err
	}
	defer f.Close()
	if pr.Multipart == "" {
		ct, ok := detect(f)
		if !ok {
			return nil // not an image: CompleteUpload refuses it
		}
		if pr.Multipart, err = mp.StartMultipart(ctx, u.SHA256, ct); err != nil {
			return err
		}
		if err := s.staging.saveProgress(u.ID, pr, true); err != nil {
			return err
		}
	}
	part, err := mp.PutPart(ctx, u.SHA256, pr.Multipart, len(pr.Parts)+1, io.NewSectionReader(f, pr.PartEnd, pr.Offset-pr.PartEnd), pr.Offset-pr.PartEnd)
	if err != nil {
		return err
	}
	pr.Parts, pr.PartEnd = append(pr.Parts, part), pr.Offset
	return s.staging.saveProgress(u.ID, pr, true)
}

// detect returns the image type of a staged file from its first bytes.
func detect(f *os.File) (string, bool) {
	head := make([]byte, imagecheck.HeadSize)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return "", false
	}
	return imagecheck.Detect(head[:n])
}

// putObject stores a verified upload's staged bytes under its hash,
// written once: by completing its multipart upload with the tail as the
// last part, else straight from the staged file, else through Put.
func (s *Service) putObject(ctx context.Context, u *Upload, pr *progress, contentType string) error {
	f, err := s.staging.open(u.ID)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := s.putShared(ctx, u, f); !errors.Is(err, errNoSharedWork) {
		return err
	}
	if pr.Multipart != "" {
		err := s.completeParts(ctx, u, pr, f)
		if err == nil || errors.Is(err, media.ErrUnavailable) {
			return err
		}
		s.cfg.Logger.WarnContext(ctx, "multipart upload failed: putting the photo whole", "upload", u.ID, "err", err)
		s.dropParts(ctx, u, pr)
	}
	if fp, ok := s.cfg.Objects.(media.FilePutter); ok {
		// The store may hard-link the staged file into place (a local
		// folder): from then on the file must never be cut back, so its
		// whole length is made the recorded offset first (acknowledged
		// chunks made durable), which a restart reconciles it to.
		recorded := *u
		if err := s.flush(ctx, u.ID, &recorded); err != nil {
			return err
		}
		if recorded.Offset != u.Size {
			return fmt.Errorf("upload %s moved to offset %d before its object was placed", u.ID, recorded.Offset)
		}
		path, err := s.staging.path(u.ID)
		if err != nil {
			return err
		}
		return fp.PutFile(ctx, u.SHA256, path, u.Size, contentType)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return s.cfg.Objects.Put(ctx, u.SHA256, f, u.Size, contentType)
}

// completeParts puts the bytes after the last part as the final part and
// completes the multipart upload.
func (s *Service) completeParts(ctx context.Context, u *Upload, pr *progress, f *os.File) error {
	mp, ok := s.cfg.Objects.(media.Multipart)
	if !ok {
		return errors.New("the object store takes no parts")
	}
	parts := pr.Parts
	if tail := u.Size - pr.PartEnd; tail > 0 {
		part, err := mp.PutPart(ctx, u.SHA256, pr.Multipart, len(parts)+1, io.NewSectionReader(f, pr.PartEnd, tail), tail)
		if err != nil {
			return err
		}
		parts = append(parts[:len(parts):len(parts)], part)
	}
	return mp.CompleteMultipart(ctx, u.SHA256, pr.Multipart, parts)
}

// dropParts aborts an upload's multipart upload, if it has one, and
// forgets it, so the bytes are put again from the staged file. Failures
// are logged: the bucket's lifecycle rules remove parts left behind.
func (s *Service) dropParts(ctx context.Context, u *Upload, pr *progress) {
	if s.cfg.SharedStaging {
		s.dropShared(ctx, u)
	}
	if pr.Multipart == "" {
		return
	}
	id := pr.Multipart
	pr.Multipart, pr.Parts, pr.PartEnd = "", nil, 0
	if err := s.staging.saveProgress(u.ID, pr, true); err != nil {
		s.cfg.Logger.WarnContext(ctx, "forget multipart upload", "upload", u.ID, "err", err)
	}
	if mp, ok := s.cfg.Objects.(media.Multipart); ok {
		if err := mp.AbortMultipart(ctx, u.SHA256, id); err != nil {
			s.cfg.Logger.WarnContext(ctx, "abort multipart upload (left to the bucket's lifecycle rules)", "upload", u.ID, "err", err)
		}
	}
}

// forgetPast drops the progress beyond an upload's first n staged bytes,
// which are all that is left of them: a hash or parts covering more.
func (s *Service) forgetPast(ctx context.Context, u *Upload, n int64) {
	s.dropHashed(u.ID)
	pr, err := s.staging.loadProgress(u.ID)
	if err != nil {
		s.cfg.Logger.WarnContext(ctx, "upload progress", "upload", u.ID, "err", err)
		return
	}
	if pr.PartEnd > n {
		s.dropParts(ctx, u, pr)
	}
	if pr.Offset > n {
		pr.Offset, pr.Hash = 0, nil
		if err := s.staging.saveProgress(u.ID, pr, true); err != nil {
			s.cfg.Logger.WarnContext(ctx, "upload progress", "upload", u.ID, "err", err)
		}
	}
}

// discard removes an upload's staged bytes and progress, aborting its
// multipart upload; u may be nil for an unknown upload.
func (s *Service) discard(ctx context.Context, id string, u *Upload) error {
	s.stopStream(id, errStreamStopped)
	s.dropHashed(id)
	if u != nil {
		pr, err := s.staging.loadProgress(id)
		if err != nil {
			pr = &progress{}
		}
		s.dropParts(ctx, u, pr)
	}
	return s.staging.remove(id)
}

// hashed is an upload's progress kept in memory with its running hash
// (lazy acknowledgement, see track); guarded by the upload's lock.
type hashed struct {
	pr *progress
	h  hash.Hash
}

func (s *Service) hashedOf(id string) *hashed {
	s.ackedMu.Lock()
	defer s.ackedMu.Unlock()
	return s.hashes[id]
}

func (s *Service) keepHashed(id string, pr *progress, h hash.Hash) {
	s.ackedMu.Lock()
	defer s.ackedMu.Unlock()
	if s.hashes == nil {
		s.hashes = map[string]*hashed{}
	}
	s.hashes[id] = &hashed{pr: pr, h: h}
}

func (s *Service) dropHashed(id string) {
	s.ackedMu.Lock()
	defer s.ackedMu.Unlock()
	delete(s.hashes, id)
}

// saveHashed writes an upload's progress kept in memory beside its staged
// bytes (not fsynced), once they are durable.
func (s *Service) saveHashed(id string) error {
	if hs := s.hashedOf(id); hs != nil {
		return s.staging.saveProgress(id, hs.pr, false)
	}
	return nil
}
