package insights

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/sqlite"
)

// Alerts are per recipient: the dedup key of each is the finding's key
// (e.g. "A1:<customer>:<diagnosis A>:<diagnosis B>") plus ":<recipient>",
// so every recipient gets the finding once however often it is re-found.

// raise queues tmpl once for each recipient.
func (w *work) raise(key string, tmpl *fieldsyncv1.Alert, recipients []string) error {
	for _, r := range recipients {
		a := proto.Clone(tmpl).(*fieldsyncv1.Alert)
		a.RecipientUserId, a.DedupKey, a.RaisedTime = r, key+":"+r, timestamppb.New(w.now)
		if _, err := w.tx.EnqueueEffect(&sqlite.InsightEffect{TenantID: w.tenantID, DedupKey: a.DedupKey, Alert: a}); err != nil {
			return err
		}
	}
	return nil
}

// repeatPhotoField is the server-only field A6 sets.
const repeatPhotoField = "repeat_photo_flagged"

// flag queues setting repeat_photo_flagged on a record, once per record.
func (w *work) flag(recordType, recordID string) error {
	_, err := w.tx.EnqueueEffect(&sqlite.InsightEffect{TenantID: w.tenantID,
		DedupKey: "flag:" + recordID + ":" + repeatPhotoField, RecordType: recordType, RecordID: recordID, Field: repeatPhotoField})
	return err
}

// recipients collects user ids, each once, in order.
type recipients map[string]bool

// addRole adds the users with role in a region and/or a store (whichever
// are set) and returns how many it found; with neither set it adds nobody.
func (w *work) addRole(r recipients, role fieldsyncv1.Role, regionID, storeID string) (int, error) {
	if regionID == "" && storeID == "" {
		return 0, nil
	}
	users, err := w.tx.UsersByRole(w.tenantID, role, regionID, storeID)
	for _, u := range users {
		r[u.ID] = true
	}
	return len(users), err
}

func (r recipients) list() []string { return slices.Sorted(maps.Keys(r)) }

// conflicts evaluates A1 for a newly submitted diagnosis against the
// customer's other submitted diagnoses.
func (h *handler) conflicts(a *sqlite.InsightAction) error {
	if a.CustomerID == "" {
		return nil
	}
	others, err := h.tx.SubmittedActions(h.tenantID, a.CustomerID, diagnosisType)
	if err != nil {
		return err
	}
	for _, o := range others {
		if ConflictingDiagnoses(diagnosisFact(a), diagnosisFact(o), h.cfg.Rules.ConflictWindow.D()) {
			if err := h.raiseConflict(a, o); err != nil {
				return err
			}
		}
	}
	return nil
}

func diagnosisFact(a *sqlite.InsightAction) DiagnosisFact {
	return DiagnosisFact{RecordID: a.RecordID, CustomerID: a.CustomerID, Conclusion: a.Conclusion, Time: msTime(a.ActionMS)}
}

// raiseConflict alerts the stores' managers and the regions' tech advisors
// to two conflicting diagnoses, with both records' photos side by side.
func (w *work) raiseConflict(a, b *sqlite.InsightAction) error {
	if b.RecordID < a.RecordID {
		a, b = b, a
	}
	r := recipients{}
	for _, d := range []*sqlite.InsightAction{a, b} {
		if _, err := w.addRole(r, fieldsyncv1.Role_ROLE_STORE_MANAGER, "", d.StoreID); err != nil {
			return err
		}
		if _, err := w.addRole(r, fieldsyncv1.Role_ROLE_TECH_ADVISOR, d.RegionID, ""); err != nil {
			return err
		}
	}
	tmpl := &fieldsyncv1.Alert{
		Kind:  fieldsyncv1.AlertKind_ALERT_KIND_CONFLICTING_DIAGNOSES,
		Title: "Conflicting diagnoses for customer " + a.CustomerID,
		Body: fmt.Sprintf("Two diagnoses of customer %s within %s disagree:\n%s: %q\n%s: %q",
			a.CustomerID, w.cfg.Rules.ConflictWindow.D(), a.RecordID, a.Conclusion, b.RecordID, b.Conclusion),
		RelatedRecordIds: []string{a.RecordID, b.RecordID},
		Photos:           append(diagnosisPhotos(a), diagnosisPhotos(b)...),
	}
	return w.raise("A1:"+a.CustomerID+":"+a.RecordID+":"+b.RecordID, tmpl, r.list())
}

// diagnosisPhotos returns the photos of a stored diagnosis (none when its
// stored value does not decode).
func diagnosisPhotos(a *sqlite.InsightAction) []*fieldsyncv1.PhotoRef {
	var d fieldsyncv1.Diagnosis
	if proto.Unmarshal(a.Value, &d) != nil {
		return nil
	}
	return d.Photos
}

// stock evaluates A2: a stock level falling below its safety stock starts
// an episode (one alert) that lasts until it is back at or above it.
func (h *handler) stock(s *fieldsyncv1.StockLevel) error {
	version, episode, err := h.tx.StockState(h.tenantID, h.ev.RecordId)
	if err != nil || (version > 0 && h.ev.Version <= version) {
		return err // a version not newer than the one seen changes nothing
	}
	switch {
	case !BelowSafetyStock(s.OnHand, s.SafetyStock):
		episode = ""
	case episode == "":
		episode = h.ev.EventId
		if err := h.raiseReplenishment(s, episode); err != nil {
			return err
		}
	}
	return h.tx.PutStockState(h.tenantID, h.ev.RecordId, h.ev.Version, episode)
}

// raiseReplenishment reminds the rep assigned to the terminal (or, while the
// terminal's customer record is unknown or unassigned, the region's
// directors), with both prices.
func (h *handler) raiseReplenishment(s *fieldsyncv1.StockLevel, episode string) error {
	r := recipients{}
	name := s.TerminalId
	c, err := h.tx.Customer(h.tenantID, s.TerminalId)
	if err != nil {
		return err
	}
	if c != nil && c.Name != "" {
		name = c.Name
	}
	if c != nil && c.AssignedRepID != "" {
		r[c.AssignedRepID] = true
	} else if _, err := h.addRole(r, fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR, s.RegionId, ""); err != nil {
		return err
	}
	tmpl := &fieldsyncv1.Alert{
		Kind:  fieldsyncv1.AlertKind_ALERT_KIND_REPLENISHMENT,
		Title: fmt.Sprintf("Replenish %s at %s", s.ProductId, name),
		Body: fmt.Sprintf("%s at %s: %d on hand, below the safety stock of %d.\nHistorical purchase price %s · agreement price %s",
			s.ProductId, name, s.OnHand, s.SafetyStock, money(s.HistoricalPurchasePriceCents, s.Currency), money(s.AgreementPriceCents, s.Currency)),
		RelatedRecordIds: []string{h.ev.RecordId, s.TerminalId},
	}
	return h.raise("A2:"+h.ev.RecordId+":"+episode, tmpl, r.list())
}

// money formats cents as "1234.56 CNY".
func money(cents int64, currency string) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return strings.TrimSpace(fmt.Sprintf("%s%d.%02d %s", sign, cents/100, cents%100, currency))
}

// repeatPhotos evaluates A6 for a surgery or diagnosis: each of its photos
// already attached to another surgery or diagnosis flags both records and
// alerts their store manager (or, without a store or manager, the region's
// directors).
func (h *handler) repeatPhotos(info recordInfo) error {
	s := eventScope(h.ev, info.scope)
	self := sqlite.InsightPhotoUse{RecordType: h.ev.RecordType, RecordID: h.ev.RecordId,
		OwnerUserID: s.RepID, StoreID: s.StoreID, RegionID: s.RegionID}
	for _, p := range info.photos {
		if p.GetSha256() == "" {
			continue
		}
		if err := h.tx.AddPhotoUse(h.tenantID, p.Sha256, self); err != nil {
			return err
		}
		uses, err := h.tx.PhotoUses(h.tenantID, p.Sha256)
		if err != nil {
			return err
		}
		if err := h.repeatPhoto(p, self, uses); err != nil {
			return err
		}
	}
	return nil
}

func (h *handler) repeatPhoto(photo *fieldsyncv1.PhotoRef, self sqlite.InsightPhotoUse, uses []sqlite.InsightPhotoUse) error {
	ids := make([]string, len(uses))
	for i, u := range uses {
		ids[i] = u.RecordID
	}
	for _, id := range RepeatPhotoPartners(self.RecordID, ids) {
		other := uses[slices.Index(ids, id)]
		for _, u := range []sqlite.InsightPhotoUse{self, other} {
			if err := h.flag(u.RecordType, u.RecordID); err != nil {
				return err
			}
		}
		if err := h.raiseRepeatPhoto(photo, self, other); err != nil {
			return err
		}
	}
	return nil
}

func (w *work) raiseRepeatPhoto(photo *fieldsyncv1.PhotoRef, a, b sqlite.InsightPhotoUse) error {
	if b.RecordID < a.RecordID {
		a, b = b, a
	}
	r := recipients{}
	for _, u := range []sqlite.InsightPhotoUse{a, b} {
		n, err := w.addRole(r, fieldsyncv1.Role_ROLE_STORE_MANAGER, "", u.StoreID)
		if err == nil && n == 0 {
			_, err = w.addRole(r, fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR, u.RegionID, "")
		}
		if err != nil {
			return err
		}
	}
	tmpl := &fieldsyncv1.Alert{
		Kind:             fieldsyncv1.AlertKind_ALERT_KIND_REPEAT_PHOTO,
		Title:            "The same photo is attached to two records",
		Body:             fmt.Sprintf("Photo %s is attached to %s %s and to %s %s.", photo.Sha256, shortType(a.RecordType), a.RecordID, shortType(b.RecordType), b.RecordID),
		RelatedRecordIds: []string{a.RecordID, b.RecordID},
		Photos:           []*fieldsyncv1.PhotoRef{photo},
	}
	return w.raise("A6:"+photo.Sha256+":"+a.RecordID+":"+b.RecordID, tmpl, r.list())
}

// shortType is "Diagnosis" for "fieldsync.v1.Diagnosis".
func shortType(recordType string) string {
	return recordType[strings.LastIndexByte(recordType, '.')+1:]
}
