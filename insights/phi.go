package insights

import (
	"cmp"
	"slices"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// This file is the pure core of the Process Health Index (DOMAIN.md PHI):
// facts in, one PhiDay per scope and day out. Definitions, with the
// defaults of DefaultConfig; "day" is the calendar day in PhiConfig.TimeZone:
//
//   - Key action completion = on-time / counted. Counted: each Visit,
//     SurgerySupport and Diagnosis whose first SUBMITTED version was
//     committed that day (commit time), once. On time: that commit is at
//     most KeyActionWindow (24h) after the action's own time — visit_time,
//     surgery_time, or for a diagnosis its creation (the smallest HLC of any
//     of its versions). Target 0.95.
//   - Action quality = meeting the bar / counted. Counted: each Quote,
//     clinical-director Visit and SurgerySupport first submitted that day.
//     Bar: a quote has ≥ QuoteMinParameters (7) technical parameters with a
//     non-empty value (distinct names); a clinical-director visit has all
//     three mandatory fields; a surgery has all three staged photos.
//     Target 0.90.
//   - Collaboration timeliness = on-time / counted over two kinds of
//     observation of campaign material sent to a rep, pooled:
//     delivery — counted on the day of the first DELIVERY to any of the
//     rep's devices, on time when at most DeliveryWindow (2h) after the
//     material's released_time; feedback — on time when the rep's first
//     CampaignFeedback is committed at most FeedbackWindow (24h) after that
//     delivery, counted on the feedback's day; otherwise a miss counted on
//     the day the window ends, once that moment has passed (asOf). Target 0.90.
//   - Index = 100 × Σ w·min(1, value/target) / Σ w over the components
//     present that day (has_*), 0 when none is.
//   - High-value action share (not in the index) = visits first submitted
//     that day carrying any of HighValueTags / visits first submitted that day.
//   - Event count = the number of observations behind the day's figures
//     (the four denominators summed).
//
// Every fact counts for the rep (owner), store and region the record had
// when first submitted (a delivery: the rep's), each when set. A delete
// does not take back what was measured. Facts are stored raw (times,
// counts, tags), so every setting above applies to whatever is computed
// next: Recompute re-derives stored days after a configuration change.

// Scope places a fact in the organisation.
type Scope struct {
	RepID, StoreID, RegionID string
}

// QualityKind names the quality bar a record is held to.
type QualityKind int

// The quality bars.
const (
	QualityNone          QualityKind = iota // not subject to action quality
	QualityQuote                            // ≥ QuoteMinParameters non-empty technical parameters
	QualityDirectorVisit                    // the three mandatory clinical-director fields
	QualitySurgery                          // the three staged photos
)

// Action is a key-action or quality record as PHI sees it.
type Action struct {
	RecordID   string
	RecordType string // full proto name, e.g. "fieldsync.v1.Diagnosis"
	Scope      Scope
	// ActionTime is the action's own time; zero when unknown.
	ActionTime time.Time
	// SubmitTime is the commit time of the first SUBMITTED version; zero
	// when not submitted (such a record counts nowhere).
	SubmitTime time.Time
	Quality    QualityKind
	// QualityCount is what the bar counts: non-empty parameters, mandatory
	// fields present, or staged photos present.
	QualityCount int
	Tags         []string
}

// Delivery is one campaign material reaching one rep.
type Delivery struct {
	MaterialID string
	Scope      Scope // the rep's
	// ReleasedTime is the material's release; zero when unknown (the
	// delivery then counts only for feedback).
	ReleasedTime time.Time
	// DeliveredTime is the first delivery to any of the rep's devices; zero
	// when not delivered (the delivery counts nowhere).
	DeliveredTime time.Time
	// FeedbackTime is the rep's first feedback; zero when none.
	FeedbackTime time.Time
}

// Facts are what PHI is computed from.
type Facts struct {
	Actions    []Action
	Deliveries []Delivery
}

// ComputePhi returns the PHI of every scope and day the facts touch,
// ordered by scope kind, scope id and date. asOf is the moment of the
// computation: feedback deadlines after it are not yet misses.
func ComputePhi(f Facts, cfg PhiConfig, asOf time.Time) []*fieldsyncv1.PhiDay {
	return countPhi(f, cfg, asOf).result()
}

// countPhi tallies the facts by scope and day.
func countPhi(f Facts, cfg PhiConfig, asOf time.Time) *phiAccumulator {
	acc := &phiAccumulator{cfg: cfg, loc: cfg.loc(), days: map[phiKey]*phiCounts{}}
	for i := range f.Actions {
		acc.addAction(&f.Actions[i])
	}
	for i := range f.Deliveries {
		acc.addDelivery(&f.Deliveries[i], asOf)
	}
	return acc
}

type phiKey struct {
	kind fieldsyncv1.ScopeKind
	id   string
	date string
}

type ratio struct{ num, den int64 }

func (r *ratio) add(ok bool) {
	r.den++
	if ok {
		r.num++
	}
}

// plus adds o times sign (1 adds, -1 takes back).
func (r *ratio) plus(o ratio, sign int64) {
	r.num += sign * o.num
	r.den += sign * o.den
}

func (r ratio) valid() bool { return r.num >= 0 && r.num <= r.den }

func (r ratio) value() float64 {
	if r.den == 0 {
		return 0
	}
	return float64(r.num) / float64(r.den)
}

type phiCounts struct {
	keyAction, quality, collaboration, visits ratio
}

// plus adds o's counts times sign.
func (c *phiCounts) plus(o *phiCounts, sign int64) {
	c.keyAction.plus(o.keyAction, sign)
	c.quality.plus(o.quality, sign)
	c.collaboration.plus(o.collaboration, sign)
	c.visits.plus(o.visits, sign)
}

func (c *phiCounts) valid() bool {
	return c.keyAction.valid() && c.quality.valid() && c.collaboration.valid() && c.visits.valid()
}

func (c *phiCounts) empty() bool {
	return c.keyAction.den == 0 && c.quality.den == 0 && c.collaboration.den == 0 && c.visits.den == 0
}

// actionCounts returns the date an action counts on and what it counts
// there (for each scope it has); ok is false when it counts nowhere.
func actionCounts(x *Action, cfg PhiConfig, loc *time.Location) (date string, c phiCounts, ok bool) {
	if x.SubmitTime.IsZero() {
		return "", c, false
	}
	if isKeyActionType(x.RecordType) && !x.ActionTime.IsZero() {
		c.keyAction.add(x.SubmitTime.Sub(x.ActionTime) <= cfg.KeyActionWindow.D())
	}
	if x.Quality != QualityNone {
		c.quality.add(meetsQualityBar(x.Quality, x.QualityCount, cfg.QuoteMinParameters))
	}
	if x.RecordType == visitType {
		c.visits.add(hasAnyTag(x.Tags, cfg.HighValueTags))
	}
	return dateOf(x.SubmitTime, loc), c, !c.empty()
}

type phiAccumulator struct {
	cfg  PhiConfig
	loc  *time.Location
	days map[phiKey]*phiCounts
}

// each calls fn with the counts of every scope of s on date.
func (a *phiAccumulator) each(s Scope, date string, fn func(*phiCounts)) {
	for _, k := range []phiKey{
		{fieldsyncv1.ScopeKind_SCOPE_KIND_REP, s.RepID, date},
		{fieldsyncv1.ScopeKind_SCOPE_KIND_STORE, s.StoreID, date},
		{fieldsyncv1.ScopeKind_SCOPE_KIND_REGION, s.RegionID, date},
	} {
		if k.id == "" {
			continue
		}
		c := a.days[k]
		if c == nil {
			c = &phiCounts{}
			a.days[k] = c
		}
		fn(c)
	}
}

func (a *phiAccumulator) addAction(x *Action) {
	if date, d, ok := actionCounts(x, a.cfg, a.loc); ok {
		a.each(x.Scope, date, func(c *phiCounts) { c.plus(&d, 1) })
	}
}

func (a *phiAccumulator) addDelivery(d *Delivery, asOf time.Time) {
	if d.DeliveredTime.IsZero() {
		return
	}
	if !d.ReleasedTime.IsZero() {
		onTime := d.DeliveredTime.Sub(d.ReleasedTime) <= a.cfg.DeliveryWindow.D()
		a.each(d.Scope, dateOf(d.DeliveredTime, a.loc), func(c *phiCounts) { c.collaboration.add(onTime) })
	}
	deadline := d.DeliveredTime.Add(a.cfg.FeedbackWindow.D())
	switch {
	case !d.FeedbackTime.IsZero() && !d.FeedbackTime.After(deadline):
		at := later(d.FeedbackTime, d.DeliveredTime)
		a.each(d.Scope, dateOf(at, a.loc), func(c *phiCounts) { c.collaboration.add(true) })
	case !d.FeedbackTime.IsZero() || !asOf.Before(deadline):
		a.each(d.Scope, dateOf(deadline, a.loc), func(c *phiCounts) { c.collaboration.add(false) })
	}
}

func (a *phiAccumulator) result() []*fieldsyncv1.PhiDay {
	out := make([]*fieldsyncv1.PhiDay, 0, len(a.days))
	for k, c := range a.days {
		out = append(out, a.cfg.day(k, c))
	}
	slices.SortFunc(out, func(x, y *fieldsyncv1.PhiDay) int {
		return cmp.Or(cmp.Compare(x.ScopeKind, y.ScopeKind), cmp.Compare(x.ScopeId, y.ScopeId), cmp.Compare(x.Date, y.Date))
	})
	return out
}

// day turns one scope's counts for one day into its PhiDay.
func (p PhiConfig) day(k phiKey, c *phiCounts) *fieldsyncv1.PhiDay {
	d := &fieldsyncv1.PhiDay{
		Date: k.date, ScopeKind: k.kind, ScopeId: k.id,
		KeyActionCompletion: c.keyAction.value(), HasKeyAction: c.keyAction.den > 0,
		ActionQuality: c.quality.value(), HasQuality: c.quality.den > 0,
		CollaborationTimeliness: c.collaboration.value(), HasCollaboration: c.collaboration.den > 0,
		HighValueActionShare: c.visits.value(), HasVisits: c.visits.den > 0,
		EventCount: c.keyAction.den + c.quality.den + c.collaboration.den + c.visits.den,
	}
	d.Index = p.Index(d)
	return d
}

// Index is the weighted PHI index (0–100) of a day's components: the
// weighted mean, over the components present, of min(1, value/target).
func (p PhiConfig) Index(d *fieldsyncv1.PhiDay) float64 {
	var sum, weights float64
	for _, c := range []struct {
		has           bool
		value, target float64
		weight        float64
	}{
		{d.HasKeyAction, d.KeyActionCompletion, p.Targets.KeyAction, p.Weights.KeyAction},
		{d.HasQuality, d.ActionQuality, p.Targets.Quality, p.Weights.Quality},
		{d.HasCollaboration, d.CollaborationTimeliness, p.Targets.Collaboration, p.Weights.Collaboration},
	} {
		if !c.has || c.weight == 0 {
			continue
		}
		sum += c.weight * min(1, c.value/c.target)
		weights += c.weight
	}
	if weights == 0 {
		return 0
	}
	return 100 * sum / weights
}

// meetsQualityBar reports whether a record of kind with count meets its bar.
func meetsQualityBar(kind QualityKind, count, quoteMin int) bool {
	switch kind {
	case QualityQuote:
		return count >= quoteMin
	case QualityDirectorVisit, QualitySurgery:
		return count >= 3
	}
	return false
}

func isKeyActionType(recordType string) bool {
	return recordType == visitType || recordType == surgeryType || recordType == diagnosisType
}

func hasAnyTag(tags, want []string) bool {
	for _, t := range tags {
		if slices.Contains(want, t) {
			return true
		}
	}
	return false
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
