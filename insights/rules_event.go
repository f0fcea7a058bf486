package insights

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// Alerts are per recipient: the dedup key of each is the finding's key
// (e.g. "A1:<customer>:<diagnosis A>:<diagnosis B>") plus ":<recipient>",
// so every recipient gets the finding once however often it is re-found.

// raise queues tmpl once for each recipient.
func (w *work) raise(key string, tmpl *fieldsyncv1.Alert, recipients []string) error {
	return w.enqueueAlerts(key, tmpl, recipients, false)
}

// raiseFinding queues tmpl for each recipient, replacing what a recipient's
// alert of the same key said before: one alert per finding, updated as its
// evidence grows. tmpl.RaisedTime must be set (the finding's, so an
// unchanged finding queues nothing).
func (w *work) raiseFinding(key string, tmpl *fieldsyncv1.Alert, recipients []string) error {
	return w.enqueueAlerts(key, tmpl, recipients, true)
}

func (w *work) enqueueAlerts(key string, tmpl *fieldsyncv1.Alert, recipients []string, update bool) error {
	for _, r := range recipients {
		a := proto.Clone(tmpl).(*fieldsyncv1.Alert)
		a.RecipientUserId, a.DedupKey = r, key+":"+r
		if a.RaisedTime == nil {
			a.RaisedTime = timestamppb.New(w.now)
		}
		e := &insightstore.Effect{TenantID: w.tenantID, DedupKey: a.DedupKey, Alert: a, Update: update}
		if err := w.enqueue(e); err != nil {
			return err
		}
	}
	return nil
}

// enqueue queues an effect (EnqueueEffect) and notes in w.queued that the
// transaction stored one.
func (w *work) enqueue(e *insightstore.Effect) error {
	stored, err := w.tx.EnqueueEffect(e)
	w.queued = w.queued || stored
	return err
}

// repeatPhotoField is the server-only field A6 sets.
const repeatPhotoField = "repeat_photo_flagged"

// flag queues setting repeat_photo_flagged on a record, once per record.
func (w *work) flag(recordType, recordID string) error {
	return w.enqueue(&insightstore.Effect{TenantID: w.tenantID,
		DedupKey: "flag:" + recordID + ":" + repeatPhotoField, RecordType: recordType, RecordID: recordID, Field: repeatPhotoField})
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
// customer's other submitted diagnoses within the window, and adds it and
// those it conflicts with to the customer's open A1 finding.
func (h *handler) conflicts(a *insightstore.Action) error {
	if a.CustomerID == "" {
		return nil
	}
	window := h.cfg.Rules.ConflictWindow.D()
	others, err := h.tx.SubmittedActions(h.tenantID, a.CustomerID, diagnosisType,
		a.ActionMS-window.Milliseconds(), a.ActionMS+window.Milliseconds())
	if err != nil {
		return err
	}
	var partners []*insightstore.Action
	for _, o := range others {
		if ConflictingDiagnoses(diagnosisFact(a), diagnosisFact(o), window) {
			partners = append(partners, o)
		}
	}
	if len(partners) == 0 {
		return nil
	}
	return h.addConflict(a, partners)
}

func diagnosisFact(a *insightstore.Action) DiagnosisFact {
	return DiagnosisFact{RecordID: a.RecordID, CustomerID: a.CustomerID, Conclusion: a.Conclusion, Time: msTime(a.ActionMS)}
}

// addConflict adds diagnosis a and its conflicting partners to the
// customer's A1 finding: the open one when a is within the window of its
// diagnoses, else a new one.
func (w *work) addConflict(a *insightstore.Action, partners []*insightstore.Action) error {
	window := w.cfg.Rules.ConflictWindow.D().Milliseconds()
	f, ev, err := w.finding("A1:" + a.CustomerID)
	if err != nil {
		return err
	}
	if f.Episode == "" || a.ActionMS < f.OpenedMS-window || a.ActionMS > f.LastMS+window {
		f.Episode, f.OpenedMS, f.LastMS, ev = a.RecordID, a.ActionMS, a.ActionMS, evidence{RaisedMS: timeMS(w.now)}
	}
	for _, d := range append([]*insightstore.Action{a}, partners...) {
		f.OpenedMS, f.LastMS = min(f.OpenedMS, d.ActionMS), max(f.LastMS, d.ActionMS)
		ev.add(d.RecordID, d.StoreID, d.RegionID)
	}
	if err := w.putFinding(f, ev); err != nil {
		return err
	}
	return w.raiseConflict(a.CustomerID, f, ev)
}

// raiseConflict alerts the managers of the finding's stores and the tech
// advisors of its regions to the customer's conflicting diagnoses. Each
// recipient's alert shows only the diagnoses it may read (see readers.go),
// the latest maxShown of them side by side with their photos, and a
// recipient that can read no two conflicting ones gets none.
func (w *work) raiseConflict(customerID string, f *insightstore.Finding, ev evidence) error {
	r := recipients{}
	for _, store := range ev.Stores {
		if _, err := w.addRole(r, fieldsyncv1.Role_ROLE_STORE_MANAGER, "", store); err != nil {
			return err
		}
	}
	for _, region := range ev.Regions {
		if _, err := w.addRole(r, fieldsyncv1.Role_ROLE_TECH_ADVISOR, region, ""); err != nil {
			return err
		}
	}
	diagnoses, err := w.actions(ev.Records)
	if err != nil {
		return err
	}
	readers, err := w.readers(r.list())
	if err != nil {
		return err
	}
	window := w.cfg.Rules.ConflictWindow.D()
	for _, rd := range readers {
		var seen []*insightstore.Action
		for _, d := range diagnoses {
			if rd.canRead(diagnosisType, actionScope(d)) {
				seen = append(seen, d)
			}
		}
		if !anyConflict(seen, window) {
			continue
		}
		shown := byActionTime(seen[max(0, len(seen)-maxShown):])
		tmpl := &fieldsyncv1.Alert{
			Kind:       fieldsyncv1.AlertKind_ALERT_KIND_CONFLICTING_DIAGNOSES,
			Title:      "Conflicting diagnoses for customer " + customerID,
			Body:       conflictBody(customerID, window, shown, len(seen)),
			RaisedTime: timestamppb.New(msTime(ev.RaisedMS)),
			Params:     alertParams("customer_id", customerID, "diagnoses", strconv.Itoa(len(seen))),
		}
		for _, d := range shown {
			tmpl.RelatedRecordIds = append(tmpl.RelatedRecordIds, d.RecordID)
			tmpl.Photos = append(tmpl.Photos, diagnosisPhotos(d)...)
		}
		if err := w.raiseFinding("A1:"+customerID+":"+f.Episode, tmpl, []string{rd.id}); err != nil {
			return err
		}
	}
	return nil
}

// actions loads the stored facts of ids, in order, leaving out those gone.
func (w *work) actions(ids []string) ([]*insightstore.Action, error) {
	var out []*insightstore.Action
	for _, id := range ids {
		d, err := w.storedAction(id)
		if err != nil {
			return nil, err
		}
		if d != nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// byActionTime sorts diagnoses oldest first (a copy).
func byActionTime(ds []*insightstore.Action) []*insightstore.Action {
	out := slices.Clone(ds)
	slices.SortStableFunc(out, func(x, y *insightstore.Action) int {
		return cmp.Or(cmp.Compare(x.ActionMS, y.ActionMS), cmp.Compare(x.RecordID, y.RecordID))
	})
	return out
}

// anyConflict reports whether two of the diagnoses conflict (A1).
func anyConflict(ds []*insightstore.Action, window time.Duration) bool {
	for i, a := range ds {
		for _, b := range ds[i+1:] {
			if ConflictingDiagnoses(diagnosisFact(a), diagnosisFact(b), window) {
				return true
			}
		}
	}
	return false
}

// actionScope is where a stored record is placed.
func actionScope(a *insightstore.Action) Scope {
	return Scope{RepID: a.OwnerUserID, StoreID: a.StoreID, RegionID: a.RegionID}
}

func conflictBody(customerID string, window time.Duration, shown []*insightstore.Action, total int) string {
	head := fmt.Sprintf("%d diagnoses", total)
	if total == 2 {
		head = "Two diagnoses"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s of customer %s within %s disagree:", head, customerID, window)
	for _, d := range shown {
		fmt.Fprintf(&b, "\n%s: %q", d.RecordID, d.Conclusion)
	}
	if more := total - len(shown); more > 0 {
		fmt.Fprintf(&b, "\n… and %d earlier", more)
	}
	return b.String()
}

// diagnosisPhotos returns the photos of a stored diagnosis (none when its
// stored value does not decode).
func diagnosisPhotos(a *insightstore.Action) []*fieldsyncv1.PhotoRef {
	var d fieldsyncv1.Diagnosis
	if proto.Unmarshal(a.Value, &d) != nil {
		return nil
	}
	return d.Photos
}

// stock evaluates A2: a stock level below its safety stock joins its
// terminal's open A2 finding (opening one when none is), back at or above
// it leaves it; the finding closes when none of the terminal's stock levels
// is below. One alert per episode, listing what is below now.
func (h *handler) stock(s *fieldsyncv1.StockLevel) error {
	version, _, err := h.tx.StockState(h.tenantID, h.ev.RecordId)
	if err != nil || (version > 0 && h.ev.Version <= version) {
		return err // a version not newer than the one seen changes nothing
	}
	below, state := BelowSafetyStock(s.OnHand, s.SafetyStock), ""
	if below {
		state = "below"
	}
	if err := h.tx.PutStockState(h.tenantID, h.ev.RecordId, h.ev.Version, state); err != nil {
		return err
	}
	terminal := cmp.Or(s.TerminalId, h.ev.RecordId)
	f, ev, err := h.finding("A2:" + terminal)
	if err != nil {
		return err
	}
	if !below {
		if f.Episode == "" || ev.Stock[h.ev.RecordId] == "" {
			return nil
		}
		delete(ev.Stock, h.ev.RecordId)
		if len(ev.Stock) == 0 {
			f.Episode, ev = "", evidence{}
			return h.putFinding(f, ev)
		}
	} else {
		line, err := h.stockLine(s)
		if err != nil {
			return err
		}
		if f.Episode == "" {
			f.Episode, ev = h.ev.EventId, evidence{RaisedMS: timeMS(h.now), Stock: map[string]string{}}
		}
		ev.Stock[h.ev.RecordId] = line
	}
	if err := h.putFinding(f, ev); err != nil {
		return err
	}
	return h.raiseReplenishment(s, terminal, f.Episode, ev)
}

// stockLine describes one stock level below safety, with both prices.
func (h *handler) stockLine(s *fieldsyncv1.StockLevel) (string, error) {
	c, err := h.tx.Customer(h.tenantID, s.TerminalId)
	if err != nil {
		return "", err
	}
	name := s.TerminalId
	if c != nil && c.Name != "" {
		name = c.Name
	}
	return fmt.Sprintf("%s at %s: %d on hand, below the safety stock of %d.\nHistorical purchase price %s · agreement price %s",
		s.ProductId, name, s.OnHand, s.SafetyStock, money(s.HistoricalPurchasePriceCents, s.Currency), money(s.AgreementPriceCents, s.Currency)), nil
}

// maxReplenishShown is how many stock levels an A2 alert lists (lines of
// its body, related records); its title and params count them all. A
// terminal of thousands of products below safety would otherwise make an
// alert past Alert's bounds, which the consumer could never raise.
const maxReplenishShown = 50

// raiseReplenishment reminds the rep assigned to the terminal (or, while the
// terminal's customer record is unknown or unassigned, the region's
// directors) of every stock level of the terminal below safety.
func (h *handler) raiseReplenishment(s *fieldsyncv1.StockLevel, terminal, episode string, ev evidence) error {
	r := recipients{}
	c, err := h.tx.Customer(h.tenantID, s.TerminalId)
	if err != nil {
		return err
	}
	name := terminal
	if c != nil && c.Name != "" {
		name = c.Name
	}
	if c != nil && c.AssignedRepID != "" {
		r[c.AssignedRepID] = true
	} else if _, err := h.addRole(r, fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR, s.RegionId, ""); err != nil {
		return err
	}
	records := sortedKeys(ev.Stock)
	shown := records[:min(len(records), maxReplenishShown)]
	lines := make([]string, len(shown), len(shown)+1)
	for i, id := range shown {
		lines[i] = ev.Stock[id]
	}
	if more := len(records) - len(shown); more > 0 {
		lines = append(lines, fmt.Sprintf("…and %d more products below their safety stock.", more))
	}
	title := fmt.Sprintf("Replenish %s at %s", s.ProductId, name)
	params := alertParams("terminal", name, "product", s.ProductId, "on_hand", strconv.FormatInt(int64(s.OnHand), 10), "safety_stock", strconv.FormatInt(int64(s.SafetyStock), 10))
	if len(records) > 1 {
		title = fmt.Sprintf("Replenish %d products at %s", len(records), name)
		params = alertParams("terminal", name, "products", strconv.Itoa(len(records)))
	}
	tmpl := &fieldsyncv1.Alert{
		Kind:             fieldsyncv1.AlertKind_ALERT_KIND_REPLENISHMENT,
		Title:            title,
		Body:             strings.Join(lines, "\n\n"),
		RelatedRecordIds: append(slices.Clip(shown), terminal),
		RaisedTime:       timestamppb.New(msTime(ev.RaisedMS)),
		Params:           params,
	}
	return h.raiseFinding("A2:"+terminal+":"+episode, tmpl, r.list())
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
// available on it and on another surgery or diagnosis (see repeatPhoto)
// flags those records and updates the photo's one alert. The record's use
// of each photo is kept even while pending: the photo-state event of its
// upload (photoAvailable) evaluates it again.
func (h *handler) repeatPhotos(info recordInfo) error {
	s := eventScope(h.ev, info.scope)
	self := insightstore.PhotoUse{RecordType: h.ev.RecordType, RecordID: h.ev.RecordId,
		OwnerUserID: s.RepID, StoreID: s.StoreID, RegionID: s.RegionID}
	for _, p := range info.photos {
		if p.GetSha256() == "" {
			continue
		}
		if err := h.tx.AddPhotoUse(h.tenantID, p.Sha256, self); err != nil {
			return err
		}
		if err := h.repeatPhoto(p.Sha256, self.RecordID); err != nil {
			return err
		}
	}
	return nil
}

// photoAvailable evaluates A6 again for the photo of a PHOTO_STATE event:
// an upload made it available on the event's record, so that record's use
// of it counts from now on.
func (h *handler) photoAvailable() error {
	if h.ev.RecordType != surgeryType && h.ev.RecordType != diagnosisType {
		return nil
	}
	return h.repeatPhoto(h.ev.PhotoSha256, h.ev.RecordId)
}

// repeatPhoto flags every record a photo is available on, and alerts,
// once recordID and another record count as its uses. A use counts only
// where the photo is available on its record (an attacher of the ref holds
// it): citing a hash one never uploaded flags nobody and shows nothing.
func (h *handler) repeatPhoto(sha256, recordID string) error {
	uses, err := h.tx.PhotoUses(h.tenantID, sha256)
	if err != nil {
		return err
	}
	if uses, err = h.availableUses(sha256, uses); err != nil {
		return err
	}
	ids := make([]string, len(uses))
	for i, u := range uses {
		ids[i] = u.RecordID
	}
	if !slices.Contains(ids, recordID) || len(RepeatPhotoPartners(recordID, ids)) == 0 {
		return nil
	}
	for _, u := range uses {
		if err := h.flag(u.RecordType, u.RecordID); err != nil {
			return err
		}
	}
	return h.raiseRepeatPhoto(sha256, uses)
}

// availableUses keeps the uses on whose records the photo is available.
func (w *work) availableUses(sha256 string, uses []insightstore.PhotoUse) ([]insightstore.PhotoUse, error) {
	if len(uses) < 2 || w.photoAvailable == nil {
		return nil, nil
	}
	ids := make([]string, len(uses))
	for i, u := range uses {
		ids[i] = u.RecordID
	}
	available, err := w.photoAvailable(sha256, ids)
	if err != nil {
		return nil, err
	}
	var out []insightstore.PhotoUse
	for _, u := range uses {
		if available[u.RecordID] {
			out = append(out, u)
		}
	}
	return out, nil
}

// raiseRepeatPhoto alerts the store managers of the uses' stores (or, for
// a use without a store or manager, its region's directors). Each
// recipient's alert names and relates only the uses it may read (see
// readers.go) and counts the others; its related records are also the
// photo's sources, so the photo shows only where it is available on a
// record the recipient may read.
func (w *work) raiseRepeatPhoto(sha256 string, uses []insightstore.PhotoUse) error {
	f, ev, err := w.finding("A6:" + sha256)
	if err != nil {
		return err
	}
	if f.Episode == "" {
		f.Episode, ev.RaisedMS = "1", timeMS(w.now)
		if err := w.putFinding(f, ev); err != nil {
			return err
		}
	}
	r := recipients{}
	for _, u := range uses {
		n, err := w.addRole(r, fieldsyncv1.Role_ROLE_STORE_MANAGER, "", u.StoreID)
		if err == nil && n == 0 {
			_, err = w.addRole(r, fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR, u.RegionID, "")
		}
		if err != nil {
			return err
		}
	}
	readers, err := w.readers(r.list())
	if err != nil {
		return err
	}
	for _, rd := range readers {
		var related, names []string
		for _, u := range uses {
			if rd.canRead(u.RecordType, Scope{RepID: u.OwnerUserID, StoreID: u.StoreID, RegionID: u.RegionID}) {
				related, names = append(related, u.RecordID), append(names, shortType(u.RecordType)+" "+u.RecordID)
			}
		}
		if len(related) == 0 {
			continue
		}
		if others := len(uses) - len(related); others > 0 {
			names = append(names, fmt.Sprintf("%d records you cannot open", others))
		}
		a := &fieldsyncv1.Alert{
			Kind:             fieldsyncv1.AlertKind_ALERT_KIND_REPEAT_PHOTO,
			Title:            fmt.Sprintf("The same photo is attached to %d records", len(uses)),
			Body:             fmt.Sprintf("Photo %s is attached to %s.", sha256, joinShown(names)),
			Photos:           []*fieldsyncv1.PhotoRef{{Sha256: sha256}},
			RelatedRecordIds: related[:min(len(related), maxShown)],
			RaisedTime:       timestamppb.New(msTime(ev.RaisedMS)),
			Params:           alertParams("sha256", sha256, "records", strconv.Itoa(len(uses))),
		}
		if err := w.raiseFinding("A6:"+sha256, a, []string{rd.id}); err != nil {
			return err
		}
	}
	return nil
}

// joinShown joins up to maxShown names, "a, b and c", counting the rest.
func joinShown(names []string) string {
	shown := names[:min(len(names), maxShown)]
	if more := len(names) - len(shown); more > 0 {
		return strings.Join(shown, ", ") + fmt.Sprintf(" and %d more", more)
	}
	if len(shown) < 2 {
		return strings.Join(shown, "")
	}
	return strings.Join(shown[:len(shown)-1], ", ") + " and " + shown[len(shown)-1]
}

// shortType is "Diagnosis" for "fieldsync.v1.Diagnosis".
func shortType(recordType string) string {
	return recordType[strings.LastIndexByte(recordType, '.')+1:]
}
