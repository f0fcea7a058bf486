package photos

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// sweepBatch is how many expired uploads one query returns.
const sweepBatch = 100

// Run sweeps at once and then every Config.SweepInterval until ctx is
// done; it returns nil then, once the chunks being hashed are (see
// PutChunk) and acknowledged chunks are durable (see Flush). A failed sweep is logged and retried at the next tick.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	defer func() {
		if err := s.Shutdown(context.WithoutCancel(ctx)); err != nil {
			s.cfg.Logger.WarnContext(ctx, "make acknowledged chunks durable at shutdown", "err", err)
		}
	}()
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.WarnContext(ctx, "photo upload sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep runs one pass of housekeeping: it marks uploads left unfinished
// past their expiry as expired and removes their staged bytes; removes
// staged bytes of uploads no longer in progress (what a crash left
// behind) and cuts staged files back to their recorded offset;
// re-delivers the records of photos whose notices are still pending; and
// sets photos_complete on surgery supports that arrived after their photos.
func (s *Service) Sweep(ctx context.Context) error {
	return errors.Join(s.expire(ctx), s.tidyStaging(ctx), s.processNotices(ctx), s.completeSurgeries(ctx))
}

// expire marks expired uploads and removes their staged bytes.
func (s *Service) expire(ctx context.Context) error {
	for {
		ups, err := s.cfg.Store.ExpiredUploads(ctx, s.cfg.Now(), sweepBatch)
		if err != nil {
			return fmt.Errorf("expire uploads: %w", err)
		}
		for _, u := range ups {
			if err := s.expireOne(ctx, u); err != nil {
				return err
			}
		}
		if len(ups) < sweepBatch {
			return nil
		}
	}
}

func (s *Service) expireOne(ctx context.Context, u *Upload) error {
	unlock := s.locks.lock(u.ID)
	defer unlock()
	if err := s.flush(ctx, u.ID, nil); err != nil { // chunks acknowledged meanwhile extend it
		return fmt.Errorf("expire upload %s: %w", u.ID, err)
	}
	now, extended := s.cfg.Now(), false
	err := s.cfg.Store.UpdatePhotos(ctx, func(tx Tx) error {
		cur, err := tx.Upload(u.ID)
		if err != nil || cur == nil || cur.State != StateInProgress {
			return err // finished meanwhile
		}
		if extended = now.Before(cur.ExpiresAt); extended {
			return nil
		}
		cur.State, cur.UpdatedAt = StateExpired, now
		return tx.PutUpload(cur)
	})
	if err != nil {
		return fmt.Errorf("expire upload %s: %w", u.ID, err)
	}
	if extended {
		return nil
	}
	return s.discard(ctx, u.ID, u)
}

// tidyStaging removes the staged files of uploads that are not in
// progress and reconciles the others with their recorded offsets.
func (s *Service) tidyStaging(ctx context.Context) error {
	ids, err := s.staging.list()
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		if err := s.tidy(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Service) tidy(ctx context.Context, id string) error {
	unlock := s.locks.lock(id)
	defer unlock()
	u, err := s.cfg.Store.Upload(ctx, id)
	if err != nil {
		return fmt.Errorf("tidy staging %s: %w", id, err)
	}
	if u == nil || u.State != StateInProgress {
		s.forget(id)
		return s.discard(ctx, id, u)
	}
	return s.durableOffset(ctx, u)
}
