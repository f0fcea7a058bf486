package photos

import (
	"context"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/records"
)

// surgeryType is the record type whose completeness depends on its photos
// (see records.RequiredPhotos).
const surgeryType = records.PhotosCompleteType

// surgeryMarkKey is the Meta key of the version through which surgery
// supports have been checked for completeness.
const surgeryMarkKey = "photos_surgery_mark"

// completeSurgeries sets photos_complete on the surgery supports whose
// photos were all available before the record itself arrived (so no
// photo's completion saw it). It checks each surgery written since the
// last sweep whose photos the tenant all holds.
func (s *Service) completeSurgeries(ctx context.Context) error {
	if s.cfg.Records == nil {
		return nil
	}
	v, err := s.cfg.Store.Meta(ctx, surgeryMarkKey)
	if err != nil {
		return fmt.Errorf("complete surgeries: %w", err)
	}
	mark, _ := strconv.ParseUint(v, 10, 64) // unset or damaged: check from the start
	for {
		refs, covered, err := s.cfg.Store.HeldSurgeries(ctx, mark, sweepBatch)
		if err != nil {
			return fmt.Errorf("complete surgeries: %w", err)
		}
		for _, ref := range refs {
			if err := s.completeSurgery(ctx, ref); err != nil {
				return fmt.Errorf("complete surgery %s: %w", ref.ID, err)
			}
		}
		if covered != mark {
			if err := s.cfg.Store.SetMeta(ctx, surgeryMarkKey, strconv.FormatUint(covered, 10)); err != nil {
				return fmt.Errorf("complete surgeries: %w", err)
			}
		}
		if len(refs) < sweepBatch {
			return nil
		}
		mark = covered
	}
}

// completeSurgery sets photos_complete on a surgery support whose three
// staged photos are all available on it, unless it is set.
func (s *Service) completeSurgery(ctx context.Context, ref RecordRef) error {
	ss, err := s.liveSurgery(ctx, ref.TenantID, ref.ID)
	if err != nil || ss == nil || records.PhotosComplete(ss) {
		return err
	}
	complete, err := s.staged(ctx, ref.TenantID, ref.ID, ss)
	if err != nil || !complete {
		return err
	}
	unlock, err := s.lockBumps(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return s.writeComplete(ctx, ref.TenantID, ref.ID, true)
}

// bumpSurgery writes a surgery support's photos_complete as it now stands,
// which also gives it a new version.
func (s *Service) bumpSurgery(ctx context.Context, tenantID, id string) error {
	ss, err := s.liveSurgery(ctx, tenantID, id)
	if err != nil || ss == nil {
		return err
	}
	complete, err := s.staged(ctx, tenantID, id, ss)
	if err != nil {
		return err
	}
	return s.writeComplete(ctx, tenantID, id, complete)
}

// liveSurgery reads a surgery support; nil when it is missing or deleted.
func (s *Service) liveSurgery(ctx context.Context, tenantID, id string) (proto.Message, error) {
	recs, err := s.cfg.Store.GetRecords(ctx, tenantID, []string{id})
	if err != nil {
		return nil, err
	}
	rec := recs[id]
	if rec == nil || rec.State.Deleted() {
		return nil, nil
	}
	if _, ok := records.RequiredPhotos(rec.State.Value); !ok {
		return nil, fmt.Errorf("record %s holds %T, not a surgery support", id, rec.State.Value)
	}
	return rec.State.Value, nil
}

// staged reports whether the three staged photos of surgery support id
// (records.RequiredPhotos) are set and available on it.
func (s *Service) staged(ctx context.Context, tenantID, id string, ss proto.Message) (bool, error) {
	refs, _ := records.RequiredPhotos(ss)
	for _, r := range refs {
		if r.GetSha256() == "" {
			return false, nil
		}
		ok, err := s.availableOn(ctx, tenantID, r.GetSha256(), id)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// availableOn reports whether the photo is available on record id.
func (s *Service) availableOn(ctx context.Context, tenantID, sha256, id string) (bool, error) {
	refs, err := s.cfg.Store.PhotoRecords(ctx, tenantID, sha256)
	if err != nil {
		return false, err
	}
	for _, ref := range refs {
		if ref.ID == id {
			return ref.Available, nil
		}
	}
	return false, nil
}

// writeComplete writes a surgery support's photos_complete as the server,
// which gives the record a new version even when the value is unchanged.
func (s *Service) writeComplete(ctx context.Context, tenantID, id string, complete bool) error {
	value, fields := records.PhotosCompleteWrite(complete)
	_, err := s.cfg.Records.ServerWrite(ctx, tenantID, surgeryType, id, value, fields)
	return err
}
