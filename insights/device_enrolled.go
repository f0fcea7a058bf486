package insights

import (
	"cmp"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// A device enrolled for a user acts as that user: it reads what they read,
// their operation logs among them. So the user is told (SECURITY.md, "An
// admin can become any user"): each enrollment raises one
// ALERT_KIND_DEVICE_ENROLLED alert for the device's user, naming the
// device, when, and who issued its code, unless it is the ordinary
// onboarding: the user's first device, enrolled with a code they issued
// themselves or whose issuer is unknown (the tenant's bootstrap admin,
// demo seeding, codes issued before the issuer was kept). A first device
// enrolled with a code issued by someone else (an admin for a rep) is
// told too: that device may not be the user's own, and the alert, a
// record of theirs, reaches whichever device they enroll later.
//
// The alert is the user's own (recipient_user_id, SCOPE_KEY_OWNER), so it
// is read by whoever reads that user's alerts, the tenant's admins
// included, and by nobody of another tenant.
//
// The sweep reads the devices enrolled since its cursor (a finding, stored
// in the sweep's transaction) less enrollLookback, and raises each alert
// under the device's dedup key: alerts are effects, queued in the same
// transaction and kept once performed (a pruning of effects would have
// to keep them longer than enrollLookback), so a device seen again by a later
// sweep (the lookback, a sweep that failed) is not told twice, and an
// enrollment committed before a crash is told by the next sweep.

// enrolledCursor is the finding whose LastMS is the latest enrollment a
// sweep has seen.
const enrolledCursor = "ENROLLED"

// enrollLookback is how far before its cursor the sweep reads again: an
// enrollment committed after a sweep read a later one (PostgreSQL commits
// concurrent transactions in any order; nodes' clocks differ) is still
// seen. On a tenant's first sweep it is how far back the sweep reads:
// enrollments made before the feature existed are not told.
const enrollLookback = 24 * time.Hour

// sweepEnrollments alerts the users of the devices enrolled since the last
// sweep, and moves the cursor.
func (w *work) sweepEnrollments() error {
	cursor, err := w.tx.Finding(w.tenantID, enrolledCursor)
	if err != nil {
		return err
	}
	fresh := cursor == nil
	if fresh {
		cursor = &insightstore.Finding{Key: enrolledCursor, LastMS: timeMS(w.now)}
	}
	last := cursor.LastMS
	devices, err := w.tx.EnrolledDevices(w.tenantID, cursor.LastMS-enrollLookback.Milliseconds())
	if err != nil {
		return err
	}
	for _, d := range devices {
		cursor.LastMS = max(cursor.LastMS, d.EnrolledMS)
		if !TellEnrollment(d) {
			continue
		}
		if err := w.raise(enrolledCursor+":"+d.DeviceID, w.enrolledAlert(d), []string{d.UserID}); err != nil {
			return err
		}
	}
	if !fresh && cursor.LastMS == last {
		return nil // nothing new: no write
	}
	return w.tx.PutFinding(w.tenantID, cursor)
}

// TellEnrollment reports whether a device's user is told of its
// enrollment: unless it is their first device and its code was issued by
// themselves or by nobody known.
func TellEnrollment(d *insightstore.EnrolledDevice) bool {
	return d.Prior || (d.IssuerID != "" && d.IssuerID != d.UserID)
}

func (w *work) enrolledAlert(d *insightstore.EnrolledDevice) *fieldsyncv1.Alert {
	when := msTime(d.EnrolledMS).In(w.cfg.Phi.loc()).Format(time.RFC3339)
	platform := cmp.Or(d.Platform, "unknown platform")
	by := "an unknown issuer"
	if d.IssuerID != "" {
		by = cmp.Or(d.IssuerName, d.IssuerID)
	}
	// The apps word the alert from params; "?" is unknown in any language.
	params := alertParams("device", d.DeviceName, "platform", cmp.Or(d.Platform, "?"), "time", when,
		"by", cmp.Or(d.IssuerName, d.IssuerID, "?"))
	return &fieldsyncv1.Alert{
		Kind:  fieldsyncv1.AlertKind_ALERT_KIND_DEVICE_ENROLLED,
		Title: "A new device was enrolled as you",
		Body: fmt.Sprintf("Device %q (%s, id %s) was enrolled as you on %s with an enrollment code issued by %s. "+
			"It reads what you read. If it is not yours, tell your administrator to revoke it.",
			d.DeviceName, platform, d.DeviceID, when, by),
		Params: params,
	}
}
