package insights

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// recordInfo is what PHI and the rules read from one version of a
// key-action or quality record.
type recordInfo struct {
	submitted    bool
	scope        Scope
	customerID   string
	actionTime   time.Time // zero for diagnoses: their time is the creation HLC
	quality      QualityKind
	qualityCount int
	tags         []string
	conclusion   string
	photos       []*fieldsyncv1.PhotoRef
}

const submitted = fieldsyncv1.RecordStatus_RECORD_STATUS_SUBMITTED

func visitInfo(v *fieldsyncv1.Visit) recordInfo {
	info := recordInfo{
		submitted: v.Status == submitted, scope: Scope{v.OwnerUserId, v.StoreId, v.RegionId},
		customerID: v.CustomerId, actionTime: tsTime(v.VisitTime), tags: v.ActionTags,
	}
	if v.Kind == fieldsyncv1.VisitKind_VISIT_KIND_CLINICAL_DIRECTOR {
		info.quality = QualityDirectorVisit
		info.qualityCount = countTrue(notBlank(v.CoreProblemSolved), notBlank(v.FollowUpCommitments), v.NextAppointmentTime != nil)
	}
	return info
}

func surgeryInfo(s *fieldsyncv1.SurgerySupport) recordInfo {
	var photos []*fieldsyncv1.PhotoRef
	for _, p := range []*fieldsyncv1.PhotoRef{s.PreOpPhoto, s.IntraOpPhoto, s.PostOpCountPhoto} {
		if p.GetSha256() != "" {
			photos = append(photos, p)
		}
	}
	return recordInfo{
		submitted: s.Status == submitted, scope: Scope{RepID: s.OwnerUserId, RegionID: s.RegionId},
		customerID: s.HospitalId, actionTime: tsTime(s.SurgeryTime),
		quality: QualitySurgery, qualityCount: len(photos), photos: photos,
	}
}

func diagnosisInfo(d *fieldsyncv1.Diagnosis) recordInfo {
	return recordInfo{
		submitted: d.Status == submitted, scope: Scope{d.OwnerUserId, d.StoreId, d.RegionId},
		customerID: d.CustomerId, conclusion: d.Conclusion, photos: d.Photos,
	}
}

func quoteInfo(q *fieldsyncv1.Quote) recordInfo {
	names := map[string]bool{}
	for _, p := range q.TechnicalParameters {
		if notBlank(p.GetValue()) {
			names[strings.TrimSpace(p.GetName())] = true
		}
	}
	return recordInfo{
		submitted: q.Status == submitted, scope: Scope{q.OwnerUserId, q.StoreId, q.RegionId},
		customerID: q.CustomerId, quality: QualityQuote, qualityCount: len(names),
	}
}

// mergeAction folds one version of a record (ev, info) into its stored
// facts old (nil when none) and returns the new facts. The first SUBMITTED
// version (smallest commit time) fixes the facts; a diagnosis's action
// time is the smallest HLC of any version, at most limitMS (the latest a
// device time of ev may be). value is kept for diagnoses.
func mergeAction(old *insightstore.Action, ev *fieldsyncv1.ChangeEvent, info recordInfo, value []byte, limitMS int64) *insightstore.Action {
	a := &insightstore.Action{TenantID: ev.TenantId, RecordID: ev.RecordId, RecordType: ev.RecordType}
	if old != nil {
		c := *old
		a = &c
	}
	if ev.RecordType == diagnosisType {
		if t := min(hlcMS(ev.Hlc), limitMS); t > 0 && (a.ActionMS == 0 || t < a.ActionMS) {
			a.ActionMS = t
		}
	}
	commit := timeMS(ev.CommitTime.AsTime())
	if !info.submitted || (a.SubmittedMS != 0 && a.SubmittedMS <= commit) {
		return a
	}
	s := eventScope(ev, info.scope)
	a.OwnerUserID, a.StoreID, a.RegionID, a.CustomerID = s.RepID, s.StoreID, s.RegionID, info.customerID
	a.SubmittedMS, a.SubmittedVersion = commit, ev.Version
	if ev.RecordType != diagnosisType {
		a.ActionMS = timeMS(info.actionTime)
	}
	a.QualityKind, a.QualityCount = int(info.quality), info.qualityCount
	a.Tags, a.Conclusion, a.Value = slices.Clone(info.tags), info.conclusion, value
	return a
}

// actionFact converts stored facts to the PHI core's Action.
func actionFact(a *insightstore.Action) Action {
	return Action{
		RecordID: a.RecordID, RecordType: a.RecordType,
		Scope:      Scope{a.OwnerUserID, a.StoreID, a.RegionID},
		ActionTime: msTime(a.ActionMS), SubmitTime: msTime(a.SubmittedMS),
		Quality: QualityKind(a.QualityKind), QualityCount: a.QualityCount, Tags: a.Tags,
	}
}

// deliveryFact converts a stored delivery to the PHI core's Delivery.
func deliveryFact(d *insightstore.Delivery) Delivery {
	return Delivery{
		MaterialID: d.MaterialID, Scope: Scope{d.RepUserID, d.StoreID, d.RegionID},
		ReleasedTime: msTime(d.ReleasedMS), DeliveredTime: msTime(d.DeliveredMS), FeedbackTime: msTime(d.FeedbackMS),
	}
}

func factsFrom(acts []*insightstore.Action, dels []*insightstore.Delivery) Facts {
	f := Facts{Actions: make([]Action, len(acts)), Deliveries: make([]Delivery, len(dels))}
	for i, a := range acts {
		f.Actions[i] = actionFact(a)
	}
	for i, d := range dels {
		f.Deliveries[i] = deliveryFact(d)
	}
	return f
}

// eventScope is the scope the event reports, field by field falling back
// to the record's own.
func eventScope(ev *fieldsyncv1.ChangeEvent, rec Scope) Scope {
	return Scope{
		RepID:    cmp.Or(ev.OwnerUserId, rec.RepID),
		StoreID:  cmp.Or(ev.StoreId, rec.StoreID),
		RegionID: cmp.Or(ev.RegionId, rec.RegionID),
	}
}

// hlcMS is the physical part (unix ms) of an HLC timestamp.
func hlcMS(hlc uint64) int64 { return int64(hlc >> 16) }

func tsTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func notBlank(s string) bool { return strings.TrimSpace(s) != "" }

func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
