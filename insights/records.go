package insights

import (
	"cmp"
	"reflect"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// handler applies one change event inside its transaction.
type handler struct {
	*work
	ev *fieldsyncv1.ChangeEvent
}

// audienceRole is who campaign material is for and who owes feedback on
// it: CampaignMaterial names no audience role, and DOMAIN.md R9 pushes it
// to reps. Store staff and managers may receive it and write feedback, but
// owe none.
const audienceRole = fieldsyncv1.Role_ROLE_REP

// inAudience reports whether u owes feedback on material for regionID (the
// material's audience region; empty means every region).
func inAudience(u *syncengine.User, regionID string) bool {
	return u != nil && u.Role == audienceRole && (regionID == "" || u.RegionID == regionID)
}

func (h *handler) commitMS() int64 { return timeMS(h.ev.CommitTime.AsTime()) }

// deviceLimitMS is the latest a device-set time of this event may be: the
// server's receipt (commit) plus the allowed clock skew, as the sync
// engine bounds HLCs. A record dated later counts as made then, so it is
// on time today rather than forever, and no rule waits for its date.
func (h *handler) deviceLimitMS() int64 { return h.commitMS() + h.skew.Milliseconds() }

// deviceTime clamps a device-set time to deviceLimitMS.
func (h *handler) deviceTime(t time.Time) time.Time {
	if limit := msTime(h.deviceLimitMS()); t.After(limit) {
		return limit
	}
	return t
}

func (h *handler) apply(rec proto.Message) error {
	switch h.ev.Op {
	case fieldsyncv1.ChangeOp_CHANGE_OP_UPSERT:
		return h.upsert(rec)
	case fieldsyncv1.ChangeOp_CHANGE_OP_DELIVERY:
		return h.delivery(rec)
	case fieldsyncv1.ChangeOp_CHANGE_OP_DELETE:
		return h.tx.RemovePhotoUses(h.tenantID, h.ev.RecordId) // A6: a deleted record uses no photo
	case fieldsyncv1.ChangeOp_CHANGE_OP_PHOTO_STATE:
		return h.photoAvailable()
	}
	return nil
}

func (h *handler) upsert(rec proto.Message) error {
	switch m := rec.(type) {
	case *fieldsyncv1.Visit:
		return h.visit(m)
	case *fieldsyncv1.SurgerySupport:
		info := surgeryInfo(m)
		if _, _, err := h.action(info, nil); err != nil {
			return err
		}
		return h.repeatPhotos(info)
	case *fieldsyncv1.Diagnosis:
		return h.diagnosis(m)
	case *fieldsyncv1.Quote:
		_, _, err := h.action(quoteInfo(m), nil)
		return err
	case *fieldsyncv1.CampaignMaterial:
		return h.material(m)
	case *fieldsyncv1.CampaignFeedback:
		return h.feedback(m)
	case *fieldsyncv1.Customer:
		return h.tx.PutCustomer(&insightstore.Customer{TenantID: h.tenantID, CustomerID: h.ev.RecordId,
			AssignedRepID: m.AssignedRepId, StoreID: m.StoreId, RegionID: m.RegionId, Name: m.Name, Version: h.ev.Version})
	case *fieldsyncv1.Commitment:
		linked := ""
		if m.State == fieldsyncv1.CommitmentState_COMMITMENT_STATE_OPEN || m.State == fieldsyncv1.CommitmentState_COMMITMENT_STATE_UNSPECIFIED {
			linked = m.VisitId // a visit's own open commitment is not progress after it
		}
		return h.progress(m.CustomerId, linked, h.commitMS())
	case *fieldsyncv1.Opportunity:
		return h.progress(m.CustomerId, "", h.commitMS())
	case *fieldsyncv1.StockLevel:
		return h.stock(m)
	case *fieldsyncv1.RebateRule:
		return h.rebateRule(m)
	}
	return nil
}

// action folds this version of a key-action or quality record into its
// stored facts and recomputes the PHI days that moved. It returns the
// stored facts and whether this event made the record submitted.
func (h *handler) action(info recordInfo, value []byte) (*insightstore.Action, bool, error) {
	old, err := h.storedAction(h.ev.RecordId)
	if err != nil {
		return nil, false, err
	}
	info.actionTime = h.deviceTime(info.actionTime)
	next := mergeAction(old, h.ev, info, value, h.deviceLimitMS())
	if reflect.DeepEqual(old, next) || (next.SubmittedMS == 0 && next.ActionMS == 0) {
		return next, false, nil
	}
	if err := h.putAction(next); err != nil {
		return nil, false, err
	}
	h.countAction(old, -1)
	h.countAction(next, 1)
	became := next.SubmittedMS != 0 && (old == nil || old.SubmittedMS != next.SubmittedMS)
	return next, became, nil
}

func (h *handler) visit(v *fieldsyncv1.Visit) error {
	info := visitInfo(v)
	if _, _, err := h.action(info, nil); err != nil {
		return err
	}
	at := timeMS(h.deviceTime(info.actionTime))
	if at == 0 {
		at = h.commitMS()
	}
	if err := h.progress(v.CustomerId, "", at); err != nil {
		return err
	}
	if !info.submitted || v.CustomerId == "" || !slices.Contains(v.ActionTags, h.cfg.Rules.StallTag) {
		return nil
	}
	s := eventScope(h.ev, info.scope)
	return h.tx.AddStall(&insightstore.Stall{TenantID: h.tenantID, VisitID: h.ev.RecordId, CustomerID: v.CustomerId,
		RepUserID: s.RepID, StoreID: s.StoreID, RegionID: s.RegionID, StartMS: at})
}

func (h *handler) diagnosis(d *fieldsyncv1.Diagnosis) error {
	info := diagnosisInfo(d)
	var value []byte
	if info.submitted {
		var err error
		if value, err = (proto.MarshalOptions{Deterministic: true}).Marshal(d); err != nil {
			return err
		}
	}
	a, became, err := h.action(info, value)
	if err != nil {
		return err
	}
	if became {
		if err := h.conflicts(a); err != nil {
			return err
		}
	}
	return h.repeatPhotos(info)
}

// progress records a change for a customer (A5).
func (h *handler) progress(customerID, linkedVisitID string, atMS int64) error {
	if customerID == "" {
		return nil
	}
	return h.tx.PutProgress(h.tenantID, customerID, h.ev.RecordId, linkedVisitID, atMS)
}

// material stores a campaign material's release time: released_time, or
// its first commit while unset.
func (h *handler) material(m *fieldsyncv1.CampaignMaterial) error {
	rel := timeMS(tsTime(m.ReleasedTime))
	if rel == 0 {
		stored, err := h.tx.MaterialReleased(h.tenantID, h.ev.RecordId)
		if err != nil || stored != 0 {
			return err
		}
		rel = h.commitMS()
	}
	changed, err := h.tx.PutMaterialRelease(h.tenantID, h.ev.RecordId, rel)
	if err != nil || !changed {
		return err
	}
	dels, err := h.tx.MaterialDeliveries(h.tenantID, h.ev.RecordId)
	if err != nil {
		return err
	}
	keys := phiKeys{}
	for _, d := range dels {
		h.addDelivery(keys, d)
	}
	h.touch(keys)
	return nil
}

// delivery records campaign material reaching a rep's device (a DELIVERY
// event of a CampaignMaterial; user_id is the rep).
func (h *handler) delivery(rec proto.Message) error {
	if h.ev.RecordType != materialType || h.ev.UserId == "" {
		return nil
	}
	if m, ok := rec.(*fieldsyncv1.CampaignMaterial); ok {
		if err := h.material(m); err != nil {
			return err
		}
	}
	u, err := h.tx.User(h.tenantID, h.ev.UserId)
	if err != nil || !inAudience(u, h.ev.RegionId) {
		return err
	}
	old, err := h.tx.Delivery(h.tenantID, h.ev.RecordId, u.ID)
	if err != nil || (old != nil && old.DeliveredMS != 0 && old.DeliveredMS <= h.commitMS()) {
		return err
	}
	next := &insightstore.Delivery{TenantID: h.tenantID, MaterialID: h.ev.RecordId, RepUserID: u.ID,
		StoreID: u.StoreID, RegionID: u.RegionID, DeliveredMS: h.commitMS()}
	if old != nil {
		next.FeedbackMS = old.FeedbackMS
	}
	return h.putDelivery(old, next)
}

// feedback records a rep's first feedback on campaign material.
func (h *handler) feedback(f *fieldsyncv1.CampaignFeedback) error {
	rep := cmp.Or(f.OwnerUserId, h.ev.OwnerUserId)
	if rep == "" || f.MaterialId == "" {
		return nil
	}
	old, err := h.tx.Delivery(h.tenantID, f.MaterialId, rep)
	if err != nil || (old != nil && old.FeedbackMS != 0 && old.FeedbackMS <= h.commitMS()) {
		return err
	}
	next := &insightstore.Delivery{TenantID: h.tenantID, MaterialID: f.MaterialId, RepUserID: rep,
		RegionID: cmp.Or(f.RegionId, h.ev.RegionId), StoreID: h.ev.StoreId}
	if old != nil {
		c := *old
		next = &c
	} else if u, err := h.tx.User(h.tenantID, rep); err != nil {
		return err
	} else if u != nil {
		if u.Role != audienceRole {
			return nil // feedback nobody owed counts nowhere
		}
		next.StoreID, next.RegionID = u.StoreID, u.RegionID
	}
	next.FeedbackMS = h.commitMS()
	return h.putDelivery(old, next)
}

func (h *handler) putDelivery(old, next *insightstore.Delivery) error {
	if err := h.tx.PutDelivery(next); err != nil {
		return err
	}
	keys := phiKeys{}
	h.addDelivery(keys, old)
	h.addDelivery(keys, next)
	h.touch(keys)
	return nil
}
