package insights

import (
	"cmp"
	"fmt"
	"strconv"
	"time"

	"github.com/fieldsync/fieldsync/insights/insightstore"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// A stale device is one whose latest status report (DeviceStatus, sent
// with each Push and Pull) held a write made more than
// rules.stale_device_age ago that the server has not received. Each such
// device is a finding ("STALE:<device>"): its episode opens when the sweep
// first sees it stale, which raises one alert, and closes when a sweep no
// longer does (the device synced, or was revoked), so a later episode
// alerts again.

const staleDevicePrefix = "STALE:"

// sweepStaleDevices opens an episode, and alerts, for each device stale
// as of now, and closes the episodes of devices no longer stale.
func (w *work) sweepStaleDevices() error {
	stale, err := w.tx.StaleDevices(w.tenantID, timeMS(w.now.Add(-w.cfg.Rules.StaleDeviceAge.D())))
	if err != nil {
		return err
	}
	open, err := w.tx.OpenFindings(w.tenantID, staleDevicePrefix)
	if err != nil {
		return err
	}
	still := map[string]bool{}
	for _, d := range stale {
		still[staleDevicePrefix+d.DeviceID] = true
		if err := w.staleDevice(d); err != nil {
			return err
		}
	}
	for _, key := range open {
		if !still[key] {
			if err := w.putFinding(&insightstore.Finding{Key: key}, evidence{}); err != nil {
				return err
			}
		}
	}
	return nil
}

// staleDevice opens a stale device's episode and alerts its recipients,
// unless the episode is open already or nobody is there to tell (then a
// later sweep tries again).
func (w *work) staleDevice(d *insightstore.StaleDevice) error {
	key := staleDevicePrefix + d.DeviceID
	f, _, err := w.finding(key)
	if err != nil || f.Episode != "" {
		return err
	}
	to, err := w.staleDeviceRecipients(d)
	if err != nil || len(to) == 0 {
		return err
	}
	f.Episode, f.OpenedMS, f.LastMS = strconv.FormatInt(timeMS(w.now), 10), timeMS(w.now), d.OldestUnsyncedMS
	if err := w.putFinding(f, evidence{RaisedMS: timeMS(w.now)}); err != nil {
		return err
	}
	return w.raise(key+":"+f.Episode, w.staleDeviceAlert(d), to)
}

// staleDeviceRecipients are the store managers of the device user's
// store or, when it has none (or the user is its only manager), the
// regional directors of the user's region; never the user.
func (w *work) staleDeviceRecipients(d *insightstore.StaleDevice) ([]string, error) {
	for _, step := range []struct {
		role          fieldsyncv1.Role
		region, store string
	}{
		{fieldsyncv1.Role_ROLE_STORE_MANAGER, "", d.StoreID},
		{fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR, d.RegionID, ""},
	} {
		r := recipients{}
		if _, err := w.addRole(r, step.role, step.region, step.store); err != nil {
			return nil, err
		}
		delete(r, d.UserID)
		if len(r) > 0 {
			return r.list(), nil
		}
	}
	return nil, nil
}

func (w *work) staleDeviceAlert(d *insightstore.StaleDevice) *fieldsyncv1.Alert {
	loc := w.cfg.Phi.loc()
	who := cmp.Or(d.UserName, d.UserID)
	return &fieldsyncv1.Alert{
		Kind:  fieldsyncv1.AlertKind_ALERT_KIND_STALE_DEVICE,
		Title: "Unsynced writes on " + who + "'s device",
		Body: fmt.Sprintf("%s's device %q (%s) has held %d unsynced writes since %s, longer than %s. "+
			"Last report %s (app %s, SDK %s). Ask them to open the app where there is signal and sync.",
			who, d.DeviceName, d.DeviceID, d.OutboxDepth, msTime(d.OldestUnsyncedMS).In(loc).Format(time.RFC3339),
			w.cfg.Rules.StaleDeviceAge.D(), msTime(d.ReportedMS).In(loc).Format(time.RFC3339),
			cmp.Or(d.AppVersion, "unknown"), cmp.Or(d.SDKVersion, "unknown")),
		Params: alertParams("user", who, "device", d.DeviceName, "outbox", strconv.FormatInt(int64(d.OutboxDepth), 10),
			"since", msTime(d.OldestUnsyncedMS).In(loc).Format(time.RFC3339)),
	}
}
