package insights

import (
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/syncengine"
)

// dateLayout is how PHI dates are written (PhiDay.date, GetPhiRequest).
const dateLayout = "2006-01-02"

// dateOf returns the calendar day of t in loc.
func dateOf(t time.Time, loc *time.Location) string { return t.In(loc).Format(dateLayout) }

// parseDate checks a YYYY-MM-DD date, returning CodeInvalid when malformed.
func parseDate(s string) (time.Time, error) {
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return time.Time{}, syncengine.Errorf(syncengine.CodeInvalid, "date %q: want YYYY-MM-DD", s)
	}
	return t, nil
}

// addDays returns the date n days after date (before it when n < 0).
func addDays(date string, n int) string {
	t, err := time.Parse(dateLayout, date)
	if err != nil {
		return date
	}
	return t.AddDate(0, 0, n).Format(dateLayout)
}

// daysBetween returns how many days b is after a.
func daysBetween(a, b string) int {
	ta, errA := time.Parse(dateLayout, a)
	tb, errB := time.Parse(dateLayout, b)
	if errA != nil || errB != nil {
		return 0
	}
	return int(tb.Sub(ta).Round(24*time.Hour) / (24 * time.Hour))
}

// dayStart returns the first instant of date in loc.
func dayStart(date string, loc *time.Location) time.Time {
	t, err := time.Parse(dateLayout, date)
	if err != nil {
		return time.Time{}
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
}

// dayBounds returns [start, end) of date in loc as unix ms.
func dayBounds(date string, loc *time.Location) (int64, int64) {
	return dayStart(date, loc).UnixMilli(), dayStart(addDays(date, 1), loc).UnixMilli()
}

// weekStart returns the date of the Monday of t's ISO week in loc.
func weekStart(t time.Time, loc *time.Location) string {
	local := t.In(loc)
	offset := (int(local.Weekday()) + 6) % 7 // Monday 0 … Sunday 6
	return addDays(local.Format(dateLayout), -offset)
}

// isoWeek names the ISO week that starts on the Monday monday, e.g. "2026-W09".
func isoWeek(monday string) string {
	t, _ := time.Parse(dateLayout, monday)
	y, w := t.ISOWeek()
	return fmt.Sprintf("%04d-W%02d", y, w)
}

// msTime converts unix ms to a time; 0 is the zero time.
func msTime(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// timeMS converts a time to unix ms; the zero time is 0.
func timeMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
