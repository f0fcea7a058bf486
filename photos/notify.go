package photos

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/events"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// announce writes, in the transaction that made the photo available to
// the uploading user, one photo-state event per referencing record whose
// ref became available (was not in before) and the notice that gets
// those records re-delivered. With no such record there is nothing to
// announce (records that refer to the photo later show it available when
// pulled): it reports whether it wrote a notice.
func (s *Service) announce(tx Tx, u *Upload, before []RecordRef, now time.Time) (bool, error) {
	refs, err := tx.PhotoRecords(u.TenantID, u.SHA256)
	if err != nil {
		return false, err
	}
	was := make(map[string]bool, len(before))
	for _, ref := range before {
		was[ref.ID] = ref.Available
	}
	announced := false
	for _, ref := range refs {
		if !ref.Available || was[ref.ID] {
			continue
		}
		ev, err := s.photoEvent(u, ref, now)
		if err != nil {
			return false, err
		}
		if err := tx.AppendEvent(ev); err != nil {
			return false, err
		}
		announced = true
	}
	if !announced {
		return false, nil
	}
	return true, tx.AddPhotoNotice(Notice{TenantID: u.TenantID, SHA256: u.SHA256})
}

// photoEvent is the CHANGE_OP_PHOTO_STATE event of one referencing record,
// on the record type's change subject.
func (s *Service) photoEvent(u *Upload, ref RecordRef, now time.Time) (syncengine.Event, error) {
	ev := events.NewChangeEvent(fieldsyncv1.ChangeOp_CHANGE_OP_PHOTO_STATE, events.Change{
		TenantID: u.TenantID, RecordType: ref.Type, RecordID: ref.ID, Version: ref.Version,
		DeviceID: u.DeviceID, UserID: u.UserID, At: now,
		OwnerUserID: ref.Scope.Owner, StoreID: ref.Scope.Store, RegionID: ref.Scope.Region,
	})
	ev.PhotoSha256, ev.PhotoAvailable = u.SHA256, true
	out, err := events.ChangeOutboxEvent(ev)
	if err != nil {
		return syncengine.Event{}, fmt.Errorf("photo event: %w", err)
	}
	return out, nil
}

// notify re-delivers the records of a notice and deletes it. A failure is
// logged and left to the sweeper, which retries pending notices: the
// photo itself is stored and available whatever happens here.
func (s *Service) notify(ctx context.Context, n Notice) {
	if err := s.processNotice(ctx, n); err != nil {
		s.cfg.Logger.WarnContext(ctx, "re-deliver records of a photo (the sweeper retries)", "tenant", n.TenantID, "sha256", n.SHA256, "err", err)
	}
}

// processNotice bumps every record on which the notice's photo is
// available, then deletes the notice. Bumping twice is harmless, so a
// crash in between only repeats work.
func (s *Service) processNotice(ctx context.Context, n Notice) error {
	unlock, err := s.lockBumps(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	refs, err := s.cfg.Store.PhotoRecords(ctx, n.TenantID, n.SHA256)
	if err != nil {
		return fmt.Errorf("photo records: %w", err)
	}
	for _, ref := range refs {
		if !ref.Available {
			continue // nothing changed for this record
		}
		err := s.bump(ctx, n.TenantID, ref)
		switch code := syncengine.ErrorCode(err); {
		case err == nil:
		case code != syncengine.CodeInternal && code != syncengine.CodeUnavailable:
			// The engine refuses this record for good: retrying cannot help.
			s.cfg.Logger.WarnContext(ctx, "record not re-delivered", "tenant", n.TenantID, "record", ref.ID, "err", err)
		default:
			return fmt.Errorf("bump %s %s: %w", ref.Type, ref.ID, err)
		}
	}
	return s.cfg.Store.DonePhotoNotice(ctx, n)
}

// lockBumps takes the lock that serialises record bumps.
func (s *Service) lockBumps(ctx context.Context) (unlock func(), err error) {
	select {
	case s.bumpMu <- struct{}{}:
		return func() { <-s.bumpMu }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// bump gives a record a new version so that devices pull it again, now
// showing the photo available. A surgery support gets its server-computed
// photos_complete written (true once its three staged photos are all
// available to the tenant); other records are touched when Records can.
func (s *Service) bump(ctx context.Context, tenantID string, ref RecordRef) error {
	if s.cfg.Records == nil {
		return nil
	}
	if ref.Type == surgeryType {
		return s.bumpSurgery(ctx, tenantID, ref.ID)
	}
	if t, ok := s.cfg.Records.(RecordToucher); ok {
		return t.TouchRecord(ctx, tenantID, ref.Type, ref.ID)
	}
	return nil
}

// processNotices works through the pending notices (the sweeper's part).
func (s *Service) processNotices(ctx context.Context) error {
	ns, err := s.cfg.Store.PhotoNotices(ctx, 100)
	if err != nil {
		return fmt.Errorf("photo notices: %w", err)
	}
	var errs []error
	for _, n := range ns {
		if err := s.processNotice(ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("photo notice %s/%s: %w", n.TenantID, n.SHA256, err))
		}
	}
	return errors.Join(errs...)
}
