package insights

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// interventionLookback is how many of the latest completed days A3 checks
// as the last day of a fall, so a sweep that was not run for a day or two
// catches up.
const interventionLookback = 3

// Sweep runs the time-based work of every tenant as of now, one
// transaction per tenant: it counts the feedback deadlines that passed
// (PHI), evaluates A3 over completed days, A4 over completed ISO weeks,
// A5 over visits whose window ended, the devices holding old unsynced
// writes (stale_device.go) and the devices enrolled since the last sweep
// (device_enrolled.go), then performs the queued alerts
// (Flush). It may run at any interval, and again: findings have dedup keys.
func (c *Consumer) Sweep(ctx context.Context, now time.Time) error {
	tenants, err := c.DB.TenantIDs(ctx)
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	for _, tenantID := range tenants {
		err := c.DB.InsightsWrite(ctx, func(tx insightstore.Tx) error {
			cfg, err := c.config(tx, tenantID)
			if err != nil {
				return err
			}
			w := &work{tx: tx, cfg: cfg, tenantID: tenantID, now: now, skew: c.skew()}
			for _, step := range []func() error{w.sweepFeedback, w.sweepInterventions, w.sweepProspecting, w.sweepStalls, w.sweepStaleDevices, w.sweepEnrollments} {
				if err := step(); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("sweep tenant %s: %w", tenantID, err)
		}
	}
	return c.Flush(ctx)
}

// sweepFeedback recomputes the days on which feedback deadlines that
// passed since the last sweep count as misses.
func (w *work) sweepFeedback() error {
	dels, err := w.tx.SweepFeedbackDeadlines(w.tenantID, timeMS(w.now.Add(-w.cfg.Phi.FeedbackWindow.D())))
	if err != nil {
		return err
	}
	keys := phiKeys{}
	for _, d := range dels {
		w.addDelivery(keys, d)
	}
	return w.recompute(keys)
}

// sweepInterventions evaluates A3 for every region with PHI on the latest
// completed days. A fall overlapping one already acted on is not raised
// again.
func (w *work) sweepInterventions() error {
	n := w.cfg.Rules.InterventionDays
	last := addDays(dateOf(w.now, w.cfg.Phi.loc()), -1)
	first := addDays(last, -(n + interventionLookback - 1))
	days, err := w.tx.PhiDays(w.tenantID, fieldsyncv1.ScopeKind_SCOPE_KIND_REGION, "", first, last)
	if err != nil {
		return err
	}
	series := regionSeries(days)
	for _, region := range sortedKeys(series) {
		for end := addDays(last, 1-interventionLookback); end <= last; end = addDays(end, 1) {
			idx := indexWindow(series[region], end, n)
			if !Falling(idx, n, w.cfg.Rules.InterventionDrop) {
				continue
			}
			latest, err := w.tx.LatestIntervention(w.tenantID, region)
			if err != nil {
				return err
			}
			if latest != "" && daysBetween(latest, end) < n {
				continue
			}
			if err := w.intervene(region, end, idx); err != nil {
				return err
			}
		}
	}
	return nil
}

// regionSeries maps region → date → index, for days with any component.
func regionSeries(days []*fieldsyncv1.PhiDay) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for _, d := range days {
		if !d.HasKeyAction && !d.HasQuality && !d.HasCollaboration {
			continue
		}
		if out[d.ScopeId] == nil {
			out[d.ScopeId] = map[string]float64{}
		}
		out[d.ScopeId][d.Date] = d.Index
	}
	return out
}

// indexWindow returns the n+1 daily indexes up to end, oldest first, NaN
// for days without PHI.
func indexWindow(series map[string]float64, end string, n int) []float64 {
	out := make([]float64, n+1)
	for i := range out {
		v, ok := series[addDays(end, i-n)]
		if !ok {
			v = math.NaN()
		}
		out[i] = v
	}
	return out
}

// intervene raises A3 for a region whose fall ended on end: each director
// gets the region's latest abnormal records and a time-boxed grant to read
// the operation logs of the reps who made them.
func (w *work) intervene(region, end string, idx []float64) error {
	abnormal, reps, err := w.abnormal(region, end)
	if err != nil {
		return err
	}
	names, err := w.tx.Names(w.tenantID, append([]string{region}, reps...)...)
	if err != nil {
		return err
	}
	directors := recipients{}
	if _, err := w.addRole(directors, fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR, region, ""); err != nil {
		return err
	}
	key, r := "A3:"+region+":"+end, w.cfg.Rules
	reason := fmt.Sprintf("A3: PHI of region %s fell more than %.0f%% on each of the %d days to %s",
		nameOr(names, region), 100*r.InterventionDrop, r.InterventionDays, end)
	tmpl := &fieldsyncv1.Alert{
		Kind:   fieldsyncv1.AlertKind_ALERT_KIND_MANAGEMENT_INTERVENTION,
		Title:  "PHI of region " + nameOr(names, region) + " is falling",
		Params: alertParams("region", nameOr(names, region)),
	}
	for _, a := range abnormal {
		tmpl.RelatedRecordIds = append(tmpl.RelatedRecordIds, a.RecordID)
	}
	for _, director := range directors.list() {
		grants, err := w.grantLogs(key, director, reps, reason, names)
		if err != nil {
			return err
		}
		tmpl.Body = fmt.Sprintf("%s: %s.\nLatest abnormal records:%s%s", reason, formatSeries(idx), formatAbnormal(abnormal, names), grants)
		if err := w.raise(key, tmpl, []string{director}); err != nil {
			return err
		}
	}
	return w.tx.AddIntervention(w.tenantID, region, end)
}

// abnormal returns a region's latest abnormal actions (A3) in the days of a
// fall ending on end, and the reps who made them.
func (w *work) abnormal(region, end string) ([]Action, []string, error) {
	r, loc := w.cfg.Rules, w.cfg.Phi.loc()
	from, _ := dayBounds(addDays(end, -r.InterventionDays), loc)
	_, to := dayBounds(end, loc)
	acts, err := w.tx.Actions(w.tenantID, fieldsyncv1.ScopeKind_SCOPE_KIND_REGION, region, from, to)
	if err != nil {
		return nil, nil, err
	}
	abnormal := LatestAbnormal(factsFrom(acts, nil).Actions, w.cfg.Phi, r.AbnormalRecords)
	var reps []string
	for _, a := range abnormal {
		if a.Scope.RepID != "" && !slices.Contains(reps, a.Scope.RepID) {
			reps = append(reps, a.Scope.RepID)
		}
	}
	return abnormal, reps, nil
}

// grantLogs grants director read access to each rep's operation logs for
// GrantDuration (once per intervention, director and rep) and describes it.
func (w *work) grantLogs(key, director string, reps []string, reason string, names map[string]string) (string, error) {
	var b strings.Builder
	for _, rep := range reps {
		g, err := w.tx.CreateGrant(w.tenantID, director, rep, reason, key+":"+director+":"+rep,
			w.now, w.now.Add(w.cfg.Rules.GrantDuration.D()))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "\nYou may read the device operation logs of %s until %s (grant %s; every read is audited).",
			nameOr(names, rep), g.ExpireTime.AsTime().Format(time.RFC3339), g.Id)
	}
	return b.String(), nil
}

func formatAbnormal(abnormal []Action, names map[string]string) string {
	var b strings.Builder
	for _, a := range abnormal {
		fmt.Fprintf(&b, "\n- %s %s by %s, submitted %s", shortType(a.RecordType), a.RecordID,
			nameOr(names, a.Scope.RepID), a.SubmitTime.Format(time.RFC3339))
	}
	return b.String()
}

// nameOr returns the name of id, or id when it has none.
func nameOr(names map[string]string, id string) string {
	if n := names[id]; n != "" {
		return n
	}
	return id
}

func formatSeries(idx []float64) string {
	parts := make([]string, len(idx))
	for i, v := range idx {
		parts[i] = fmt.Sprintf("%.1f", v)
	}
	return strings.Join(parts, " → ")
}

// sweepProspecting evaluates A4 over the latest completed ISO weeks.
func (w *work) sweepProspecting() error {
	r, loc := w.cfg.Rules, w.cfg.Phi.loc()
	lastMonday := addDays(weekStart(w.now, loc), -7)
	firstMonday := addDays(lastMonday, -7*(r.ProspectingWeeks-1))
	acts, err := w.tx.Actions(w.tenantID, fieldsyncv1.ScopeKind_SCOPE_KIND_UNSPECIFIED, "",
		dayStart(firstMonday, loc).UnixMilli(), dayStart(addDays(lastMonday, 7), loc).UnixMilli())
	if err != nil {
		return err
	}
	shares, regions := WeeklyTagShares(factsFrom(acts, nil).Actions, firstMonday, r.ProspectingWeeks, r.ProspectingTag, loc)
	for _, rep := range sortedKeys(shares) {
		if !ProspectingTrap(shares[rep], r.ProspectingWeeks, r.ProspectingShare) {
			continue
		}
		if err := w.raiseProspecting(rep, regions[rep], isoWeek(lastMonday), shares[rep]); err != nil {
			return err
		}
	}
	return nil
}

// WeeklyTagShares (A4) returns, per rep, the share of tag among the tags of
// the visits they submitted in each of weeks ISO weeks from firstMonday
// (NaN for a week without tags), and each rep's latest region.
func WeeklyTagShares(acts []Action, firstMonday string, weeks int, tag string, loc *time.Location) (map[string][]float64, map[string]string) {
	tags, regions, latest := map[string][][]string{}, map[string]string{}, map[string]time.Time{}
	for _, a := range acts {
		week := daysBetween(firstMonday, weekStart(a.SubmitTime, loc)) / 7
		if a.RecordType != visitType || a.Scope.RepID == "" || a.SubmitTime.IsZero() || week < 0 || week >= weeks {
			continue
		}
		if tags[a.Scope.RepID] == nil {
			tags[a.Scope.RepID] = make([][]string, weeks)
		}
		tags[a.Scope.RepID][week] = append(tags[a.Scope.RepID][week], a.Tags...)
		if !a.SubmitTime.Before(latest[a.Scope.RepID]) {
			regions[a.Scope.RepID], latest[a.Scope.RepID] = a.Scope.RegionID, a.SubmitTime
		}
	}
	shares := map[string][]float64{}
	for rep, byWeek := range tags {
		for _, t := range byWeek {
			shares[rep] = append(shares[rep], TagShare(t, tag))
		}
	}
	return shares, regions
}

func (w *work) raiseProspecting(rep, region, week string, shares []float64) error {
	r := recipients{rep: true}
	if _, err := w.addRole(r, fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR, region, ""); err != nil {
		return err
	}
	names, err := w.tx.Names(w.tenantID, rep)
	if err != nil {
		return err
	}
	pct := make([]string, len(shares))
	for i, s := range shares {
		pct[i] = fmt.Sprintf("%.0f%%", 100*s)
	}
	tmpl := &fieldsyncv1.Alert{
		Kind:  fieldsyncv1.AlertKind_ALERT_KIND_PROSPECTING_TRAP,
		Title: "Stuck in first contacts",
		Body: fmt.Sprintf("%s's visit tags were mostly %q %d weeks running, to %s: %s. Time to move customers forward.",
			nameOr(names, rep), w.cfg.Rules.ProspectingTag, len(shares), week, strings.Join(pct, ", ")),
		Params: alertParams("rep", nameOr(names, rep), "tag", w.cfg.Rules.ProspectingTag, "weeks", strconv.Itoa(len(shares))),
	}
	return w.raise("A4:"+rep+":"+week, tmpl, r.list())
}

// sweepStalls evaluates A5 for the decision-maker confirmations whose
// window ended: without progress since, the rep is alerted. Either way the
// confirmation is settled.
func (w *work) sweepStalls() error {
	window := w.cfg.Rules.StallWindow.D()
	due, err := w.tx.DueStalls(w.tenantID, timeMS(w.now.Add(-window)))
	if err != nil {
		return err
	}
	for _, s := range due {
		ms, err := w.tx.ProgressTimes(w.tenantID, s.CustomerID, s.VisitID)
		if err != nil {
			return err
		}
		progress := make([]time.Time, len(ms))
		for i, v := range ms {
			progress[i] = msTime(v)
		}
		if Stalled(msTime(s.StartMS), progress, w.now, window) {
			if err := w.raiseStall(s); err != nil {
				return err
			}
		}
		if err := w.tx.ResolveStall(w.tenantID, s.VisitID); err != nil {
			return err
		}
	}
	return nil
}

func (w *work) raiseStall(s *insightstore.Stall) error {
	tmpl := &fieldsyncv1.Alert{
		Kind:  fieldsyncv1.AlertKind_ALERT_KIND_STALLED_CLOSE,
		Title: "No progress since the decision maker confirmed",
		Body: fmt.Sprintf("The decision maker of customer %s was confirmed on %s (visit %s); no visit, commitment or opportunity change since.",
			s.CustomerID, msTime(s.StartMS).In(w.cfg.Phi.loc()).Format(dateLayout), s.VisitID),
		RelatedRecordIds: []string{s.VisitID, s.CustomerID},
		Params:           alertParams("customer_id", s.CustomerID, "date", msTime(s.StartMS).In(w.cfg.Phi.loc()).Format(dateLayout), "visit_id", s.VisitID),
	}
	return w.raise("A5:"+s.VisitID, tmpl, []string{s.RepUserID})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
