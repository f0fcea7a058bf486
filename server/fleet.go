package server

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/durationpb"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// FleetStore keeps the devices' status reports (DeviceStatus) and sums
// them up for the fleet metrics.
type FleetStore interface {
	// ReportDeviceStatus keeps a device's latest report; the store decides
	// how often it is written.
	ReportDeviceStatus(ctx context.Context, tenantID, deviceID string, s syncengine.DeviceStatus) error
	// FleetStats sums up every unrevoked device's latest report.
	FleetStats(ctx context.Context) (syncengine.FleetStats, error)
}

// reportStatus keeps the status a device sent with a Push or Pull that
// succeeded; synced says the Pull left the device nothing more to pull
// (the store dates the device's last sync then). A report is display
// data: a failure to keep it is logged, never returned to the device.
func (h *syncHandler) reportStatus(ctx context.Context, p *syncengine.Principal, w *fieldsyncv1.DeviceStatus, synced bool) {
	if w == nil || h.cfg.Fleet == nil || !p.IsDevice() {
		return
	}
	s := statusFromWire(w)
	s.Synced = synced
	if err := h.cfg.Fleet.ReportDeviceStatus(ctx, p.TenantID, p.DeviceID, s); err != nil {
		h.cfg.Logger.WarnContext(ctx, "device status not kept", "device", p.DeviceID, "err", err)
	}
}

func statusFromWire(w *fieldsyncv1.DeviceStatus) syncengine.DeviceStatus {
	s := syncengine.DeviceStatus{
		OutboxDepth: int(w.GetOutboxDepth()), PhotosWaiting: int(w.GetPhotosWaiting()),
		AppVersion: w.GetAppVersion(), SDKVersion: w.GetSdkVersion(),
	}
	if w.GetOldestUnsyncedAge() != nil {
		s.OldestUnsyncedAge = w.GetOldestUnsyncedAge().AsDuration()
	}
	if w.GetLastSyncTime() != nil {
		s.LastSync = w.GetLastSyncTime().AsTime()
	}
	return s
}

// statusToWire sets a device's status fields; a device that never
// reported has none.
func statusToWire(s *syncengine.DeviceStatus, d *fieldsyncv1.Device) {
	if s == nil {
		return
	}
	d.Status = &fieldsyncv1.DeviceStatus{
		OutboxDepth: uint32(s.OutboxDepth), PhotosWaiting: uint32(s.PhotosWaiting),
		AppVersion: s.AppVersion, SdkVersion: s.SDKVersion, LastSyncTime: timestamp(s.LastSync),
	}
	if !s.OldestUnsynced.IsZero() {
		d.Status.OldestUnsyncedAge = durationpb.New(s.OldestUnsyncedAge)
	}
	d.StatusTime, d.OldestUnsyncedTime = timestamp(s.ReportedAt), timestamp(s.OldestUnsynced)
}

// visibleDevices keeps the devices whose user p's filter covers (see
// syncengine.Filter.CoversPlace): store managers see their store's
// people's, regional directors their region's (a store's people belong to
// its region).
func (h *adminHandler) visibleDevices(ctx context.Context, p *syncengine.Principal, devices []*syncengine.Device) ([]*syncengine.Device, error) {
	users, err := h.cfg.Identity.ListUsers(ctx, p.TenantID)
	if err != nil {
		return nil, err
	}
	_, _, stores, err := h.cfg.Identity.GetOrganization(ctx, p.TenantID)
	if err != nil {
		return nil, err
	}
	storeRegion := make(map[string]string, len(stores))
	for _, s := range stores {
		storeRegion[s.ID] = s.RegionID
	}
	places := make(map[string]syncengine.Scope, len(users))
	for _, u := range users {
		places[u.ID] = syncengine.Scope{Owner: u.ID, Store: u.StoreID, Region: cmp.Or(u.RegionID, storeRegion[u.StoreID])}
	}
	f := syncengine.FilterFor(p)
	var out []*syncengine.Device
	for _, d := range devices {
		if place, ok := places[d.UserID]; ok && f.CoversPlace(place) {
			out = append(out, d)
		}
	}
	return out, nil
}

// fleetCollector exports the fleet gauges, computed from the store on
// each scrape.
type fleetCollector struct {
	store   FleetStore
	logger  *slog.Logger
	devices *prometheus.Desc
	oldest  *prometheus.Desc
	photos  *prometheus.Desc
}

func newFleetCollector(store FleetStore, cfg *Config) *fleetCollector {
	return &fleetCollector{
		store: store, logger: cfg.Logger,
		devices: prometheus.NewDesc("fieldsync_fleet_devices",
			"Unrevoked devices by how long since their last status report (a successful Push or Pull): lt_1h, lt_1d, lt_7d, older, never.",
			[]string{"staleness"}, nil),
		oldest: prometheus.NewDesc("fieldsync_fleet_oldest_unsynced_write_age_seconds",
			"Age of the oldest write any unrevoked device reported unsynced (0 when none).", nil, nil),
		photos: prometheus.NewDesc("fieldsync_fleet_photos_waiting",
			"Photos the unrevoked devices reported waiting for upload.", nil, nil),
	}
}

// fleetScrapeTimeout bounds the store query of one scrape.
const fleetScrapeTimeout = 5 * time.Second

func (c *fleetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.devices
	ch <- c.oldest
	ch <- c.photos
}

func (c *fleetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), fleetScrapeTimeout)
	defer cancel()
	st, err := c.store.FleetStats(ctx)
	if err != nil {
		c.logger.Warn("fleet metrics", "err", err)
		ch <- prometheus.NewInvalidMetric(c.devices, err)
		return
	}
	for _, b := range []string{syncengine.StaleUnder1h, syncengine.StaleUnder1d, syncengine.StaleUnder7d, syncengine.StaleOlder, syncengine.StaleNever} {
		ch <- prometheus.MustNewConstMetric(c.devices, prometheus.GaugeValue, float64(st.Devices[b]), b)
	}
	age := 0.0
	if !st.OldestUnsynced.IsZero() {
		age = max(st.At.Sub(st.OldestUnsynced).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(c.photos, prometheus.GaugeValue, float64(st.PhotosWaiting))
}
