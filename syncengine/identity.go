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
