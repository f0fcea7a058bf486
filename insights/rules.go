package insights

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"
)

// The rules of DOMAIN.md A1–A6 as pure functions. rules_event.go and
// sweep.go feed them from the stored facts and turn findings into alerts.

// DiagnosisFact is a submitted diagnosis as A1 sees it.
type DiagnosisFact struct {
	RecordID, CustomerID, Conclusion string
	// Time is the diagnosis's own time: its creation HLC.
	Time time.Time
}

// ConflictingDiagnoses (A1) reports whether two different diagnoses of the
// same customer, made at most window apart, reach different conclusions.
// Conclusions compare ignoring case and runs of white space; an empty
// conclusion conflicts with nothing.
func ConflictingDiagnoses(a, b DiagnosisFact, window time.Duration) bool {
	ca, cb := normalizeConclusion(a.Conclusion), normalizeConclusion(b.Conclusion)
	gap := a.Time.Sub(b.Time)
	if gap < 0 {
		gap = -gap
	}
	return a.RecordID != b.RecordID && a.CustomerID != "" && a.CustomerID == b.CustomerID &&
		ca != "" && cb != "" && ca != cb && gap <= window
}

func normalizeConclusion(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// BelowSafetyStock (A2) reports whether on-hand stock is strictly below the
// safety stock; at the safety stock nothing is due yet.
func BelowSafetyStock(onHand, safetyStock int64) bool { return onHand < safetyStock }

// fallTolerance absorbs floating-point noise, so a fall of exactly the
// threshold never counts as more.
const fallTolerance = 1e-9

// Falling (A3) reports whether each of the last n day-over-day changes of
// index (consecutive days, oldest first; NaN for a day without PHI) is a
// fall of more than drop, a fraction of the previous day's value.
func Falling(index []float64, n int, drop float64) bool {
	if n < 1 || len(index) < n+1 {
		return false
	}
	tail := index[len(index)-n-1:]
	for i := 1; i < len(tail); i++ {
		prev, cur := tail[i-1], tail[i]
		if !(prev > 0 && prev-cur > drop*prev+fallTolerance) { // false for NaN too
			return false
		}
	}
	return true
}

// Abnormal (A3) reports whether a submitted action was late (key action
// completion) or below its quality bar (action quality).
func Abnormal(a Action, cfg PhiConfig) bool {
	if a.SubmitTime.IsZero() {
		return false
	}
	late := isKeyActionType(a.RecordType) && !a.ActionTime.IsZero() && a.SubmitTime.Sub(a.ActionTime) > cfg.KeyActionWindow.D()
	poor := a.Quality != QualityNone && !meetsQualityBar(a.Quality, a.QualityCount, cfg.QuoteMinParameters)
	return late || poor
}

// LatestAbnormal (A3) returns up to n abnormal actions, latest submitted first.
func LatestAbnormal(acts []Action, cfg PhiConfig, n int) []Action {
	var out []Action
	for _, a := range acts {
		if Abnormal(a, cfg) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(x, y Action) int {
		return cmp.Or(y.SubmitTime.Compare(x.SubmitTime), cmp.Compare(x.RecordID, y.RecordID))
	})
	return out[:min(n, len(out))]
}

// TagShare (A4) returns the share of tags equal to tag; NaN without tags.
func TagShare(tags []string, tag string) float64 {
	if len(tags) == 0 {
		return math.NaN()
	}
	n := 0
	for _, t := range tags {
		if t == tag {
			n++
		}
	}
	return float64(n) / float64(len(tags))
}

// ProspectingTrap (A4) reports whether every one of the last n weekly
// shares (oldest first; NaN for a week without tags) is above threshold.
func ProspectingTrap(shares []float64, n int, threshold float64) bool {
	if n < 1 || len(shares) < n {
		return false
	}
	for _, s := range shares[len(shares)-n:] {
		if !(s > threshold+fallTolerance) { // false for NaN too
			return false
		}
	}
	return true
}

// Stalled (A5) reports whether a decision-maker confirmation made at
// confirmed has had no progress (any progress time after it, up to now) by
// now, now being at least window after it. Progress after now (history
// replayed as of a past day) does not count.
func Stalled(confirmed time.Time, progress []time.Time, now time.Time, window time.Duration) bool {
	if now.Sub(confirmed) < window {
		return false
	}
	for _, p := range progress {
		if p.After(confirmed) && !p.After(now) {
			return false
		}
	}
	return true
}

// RepeatPhotoPartners (A6) returns the records other than recordID that a
// photo is attached to (attachedTo lists every attachment), each once.
func RepeatPhotoPartners(recordID string, attachedTo []string) []string {
	var out []string
	for _, id := range attachedTo {
		if id != recordID && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
