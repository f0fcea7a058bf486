package syncengine

import (
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
)

// Tenant is an organisation. Tenants never see each other's data.
type Tenant struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// TenantBootstrap is a new organisation with its first admin user and the
// one-time enrollment code for that admin's first device.
type TenantBootstrap struct {
	Tenant         Tenant
	Admin          User
	EnrollmentCode string
	CodeExpires    time.Time
}

// Region groups stores and reps of a tenant.
type Region struct {
	ID, TenantID, Name string
}

// Shop is a store of the car-service chain, in a region. (Called Shop so
// that Store can name the storage interface.)
type Shop struct {
	ID, TenantID, RegionID, Name string
}

// User is a person in a tenant with one role.
type User struct {
	ID          string
	TenantID    string
	DisplayName string
	Role        fieldsyncv1.Role
	RegionID    string
	StoreID     string
	CreatedAt   time.Time
}

// Device is a user's enrolled device.
type Device struct {
	ID         string
	TenantID   string
	UserID     string
	Name       string
	Platform   string
	EnrolledAt time.Time
	RevokedAt  time.Time
	LastSeenAt time.Time
	// UserName is the display name of the device's user (ListDevices
	// fills it; other calls may leave it empty).
	UserName string
	// Status is the device's latest status report; nil when it never reported.
	Status *DeviceStatus
}

// DeviceStatus is a device's report of its own sync state. It is shown
// and alerted on, never trusted for anything else.
type DeviceStatus struct {
	OutboxDepth int
	// OldestUnsyncedAge is how old the oldest unsynced write was when
	// reported (0 when none); OldestUnsynced is that write's time by the
	// server's clock, ReportedAt less the age (zero when none).
	OldestUnsyncedAge time.Duration
	OldestUnsynced    time.Time
	PhotosWaiting     int
	AppVersion        string
	SDKVersion        string
	// LastSync is when the device last completed a sync. Read back from a
	// store: when the server last answered a pull of the device that left
	// nothing more to pull, by the store's clock (see Synced); for a device
	// that has not done so since it first reported, the time the device
	// reported, by its clock.
	LastSync time.Time
	// Synced, in a report given to a store, says the report came with a
	// pull that left the device nothing more to pull: the device has just
	// completed a sync, so the store dates LastSync at the report's time.
	// The device's own LastSync is always one sync behind (it is sent at
	// the start of a sync and set at its end), so a device that synced
	// once would otherwise show as never synced.
	Synced bool
	// ReportedAt is when the server received the report.
	ReportedAt time.Time
}

// LastSyncAt is the last sync a store keeps for a report received at now:
// now for a report with Synced, else the device's own LastSync (zero when
// none; a store then keeps the one it has).
func (s DeviceStatus) LastSyncAt(now time.Time) time.Time {
	if s.Synced {
		return now
	}
	return s.LastSync
}

// Staleness buckets of FleetStats: how long since a device last reported
// its status (its last successful Push or Pull), or never.
const (
	StaleUnder1h = "lt_1h"
	StaleUnder1d = "lt_1d"
	StaleUnder7d = "lt_7d"
	StaleOlder   = "older"
	StaleNever   = "never"
)

// FleetStats sums up the status reports of every unrevoked device, for
// the operator's metrics.
type FleetStats struct {
	// At is when the stats were taken.
	At time.Time
	// Devices counts devices by staleness bucket (every bucket present).
	Devices map[string]int
	// OldestUnsynced is the oldest unsynced write any device reported, by
	// the server's clock; zero when none.
	OldestUnsynced time.Time
	// PhotosWaiting sums the photos devices reported waiting for upload.
	PhotosWaiting int
}

// APIKey is an integrator's key with named permissions.
type APIKey struct {
	ID          string
	TenantID    string
	Name        string
	Permissions []string
	CreatedAt   time.Time
	RevokedAt   time.Time
}

// Principal returns the caller a device of u acts as.
func (u *User) Principal(deviceID string) *Principal {
	return &Principal{
		TenantID: u.TenantID,
		UserID:   u.ID,
		DeviceID: deviceID,
		Role:     u.Role,
		RegionID: u.RegionID,
		StoreID:  u.StoreID,
	}
}
