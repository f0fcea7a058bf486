package photos

import (
	"context"
	"errors"
	"fmt"
)

// ChunkStore is the Store capability Config.SharedStaging needs: the
// chunks of unfinished uploads kept in the database as well, so that a
// chunk or a completion reaching another server than the one before it
// (several servers behind one load balancer) finds the bytes.
type ChunkStore interface {
	// UploadChunks calls fn, in offset order, with each stored chunk of the
	// upload that ends after from. An error of fn stops it and is returned.
	UploadChunks(ctx context.Context, uploadID string, from int64, fn func(offset int64, data []byte) error) error
}

// ChunkTx is the Tx capability Config.SharedStaging needs.
type ChunkTx interface {
	// PutChunk stores a chunk of an upload at offset, replacing one stored
	// there. An upload's chunks are deleted when PutUpload writes it in a
	// state other than StateInProgress.
	PutChunk(uploadID string, offset int64, data []byte) error
}

// saveChunk keeps a chunk in the store too, in the transaction that records
// its offset, when staging is shared.
func (s *Service) saveChunk(tx Tx, id string, offset int64, data []byte) error {
	if !s.cfg.SharedStaging {
		return nil
	}
	ct, ok := tx.(ChunkTx)
	if !ok {
		return errors.New("photos: SharedStaging needs a store whose transactions have PutChunk")
	}
	return ct.PutChunk(id, offset, data)
}

// fetchStaged copies the bytes another server took for an upload, from n
// (the length staged here) up to the recorded offset, from the store into
// the staging folder, when staging is shared. It returns the length staged
// afterwards: n when staging is not shared or the store lacks the bytes.
func (s *Service) fetchStaged(ctx context.Context, u *Upload, n int64) (int64, error) {
	if !s.cfg.SharedStaging {
		return n, nil
	}
	errDone := errors.New("done")
	err := s.cfg.Store.(ChunkStore).UploadChunks(ctx, u.ID, n, func(off int64, data []byte) error {
		end := min(off+int64(len(data)), u.Offset)
		switch {
		case off > n:
			return errDone // a gap: the rest cannot be staged
		case end <= n:
			return nil
		}
		if _, err := s.staging.write(u.ID, n, data[n-off:end-off], true); err != nil {
			return err
		}
		if n = end; n == u.Offset {
			return errDone
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDone) {
		return n, fmt.Errorf("fetch staged bytes of upload %s: %w", u.ID, err)
	}
	return n, nil
}

// firstStoredChunk returns the offset of the first chunk of an upload the
// store keeps (the recorded offset when it keeps none): the staged bytes
// before it were written while staging was not shared, with fsync.
func (s *Service) firstStoredChunk(ctx context.Context, u *Upload) (int64, error) {
	errDone := errors.New("done")
	first := u.Offset
	err := s.cfg.Store.(ChunkStore).UploadChunks(ctx, u.ID, 0, func(off int64, _ []byte) error {
		first = min(off, u.Offset)
		return errDone
	})
	if err != nil && !errors.Is(err, errDone) {
		return 0, fmt.Errorf("chunks of upload %s: %w", u.ID, err)
	}
	return first, nil
}
