// Package demo creates, once and idempotently, a demo organisation shaped
// like DOMAIN.md: a region with a medical-device team and a car-service
// store, a marketing user, an admin and an integrator key. Every credential
// goes to a JSON file so a newcomer can call the API at once.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/syncengine"
)

// Store is the identity storage the demo needs (storage/sqlite implements it).
type Store interface {
	CreateTenant(ctx context.Context, name string) (*syncengine.Tenant, error)
	CreateRegion(ctx context.Context, tenantID, name string) (*syncengine.Region, error)
	CreateStore(ctx context.Context, tenantID, regionID, name string) (*syncengine.Shop, error)
	CreateUser(ctx context.Context, u *syncengine.User) error
	ListUsers(ctx context.Context, tenantID string) ([]*syncengine.User, error)
	IssueEnrollmentCode(ctx context.Context, tenantID, userID, issuedBy string, ttl time.Duration) (string, time.Time, error)
	Enroll(ctx context.Context, code, name, platform string) (*syncengine.Device, string, error)
	CreateAPIKey(ctx context.Context, tenantID, name string, permissions []string) (*syncengine.APIKey, string, error)
	Meta(ctx context.Context, key string) (string, error)
	SetMeta(ctx context.Context, key, value string) error
}

// Credentials is what the demo writes to demo-credentials.json.
type Credentials struct {
	TenantID      string      `json:"tenant_id"`
	TenantName    string      `json:"tenant_name"`
	RegionID      string      `json:"region_id"`
	StoreID       string      `json:"store_id"`
	AdminToken    string      `json:"admin_token"`
	IntegratorKey string      `json:"integrator_key"`
	Users         []UserCreds `json:"users"`
}

// UserCreds is one demo user and its device token.
type UserCreds struct {
	Name        string `json:"name"`
	Role        string `json:"role"`
	UserID      string `json:"user_id"`
	RegionID    string `json:"region_id,omitempty"`
	StoreID     string `json:"store_id,omitempty"`
	DeviceID    string `json:"device_id"`
	DeviceToken string `json:"device_token"`
}

// User returns the first demo user with the role ("rep", "store_manager", …).
func (c *Credentials) User(role string) (UserCreds, bool) {
	for _, u := range c.Users {
		if u.Role == role {
			return u, true
		}
	}
	return UserCreds{}, false
}

const metaTenant = "demo_tenant_id"

// people of the demo organisation.
var people = []struct {
	name  string
	role  fieldsyncv1.Role
	place string // "region" or "store"
}{
	{"Admin", fieldsyncv1.Role_ROLE_ADMIN, ""},
	{"Li Wei (rep)", fieldsyncv1.Role_ROLE_REP, "region"},
	{"Zhang Min (rep)", fieldsyncv1.Role_ROLE_REP, "region"},
	{"Wang Fang (regional director)", fieldsyncv1.Role_ROLE_REGIONAL_DIRECTOR, "region"},
	{"Zhao Lei (tech advisor)", fieldsyncv1.Role_ROLE_TECH_ADVISOR, "region"},
	{"Chen Jie (store staff)", fieldsyncv1.Role_ROLE_STORE_STAFF, "store"},
	{"Liu Yang (store manager)", fieldsyncv1.Role_ROLE_STORE_MANAGER, "store"},
	{"Sun Li (marketing)", fieldsyncv1.Role_ROLE_MARKETING, ""},
}

// IntegratorPermissions are the demo integrator key's permissions.
var IntegratorPermissions = []string{"stock:write", "customers:write", "ratings:write", "history:import", "shipments:write", "records:read", "insights:read"}

// Seed creates the demo organisation unless it exists, and returns its
// credentials, written to path. When the organisation exists and the file
// is there, the file is returned as is; when the file was lost, devices are
// enrolled anew (old tokens keep working) and the file is rewritten.
func Seed(ctx context.Context, db Store, path string) (*Credentials, error) {
	tenantID, err := db.Meta(ctx, metaTenant)
	if err != nil {
		return nil, err
	}
	if tenantID != "" {
		if c, err := Load(path); err == nil && c.TenantID == tenantID {
			return c, nil
		}
		return reissue(ctx, db, tenantID, path)
	}
	c, err := create(ctx, db)
	if err != nil {
		return nil, err
	}
	if err := write(path, c); err != nil {
		return nil, err
	}
	if err := db.SetMeta(ctx, metaTenant, c.TenantID); err != nil {
		return nil, err
	}
	return c, nil
}

func create(ctx context.Context, db Store) (*Credentials, error) {
	t, err := db.CreateTenant(ctx, "Demo Health & Auto Co.")
	if err != nil {
		return nil, err
	}
	region, err := db.CreateRegion(ctx, t.ID, "East China")
	if err != nil {
		return nil, err
	}
	store, err := db.CreateStore(ctx, t.ID, region.ID, "Shanghai Pudong Service Store")
	if err != nil {
		return nil, err
	}
	c := &Credentials{TenantID: t.ID, TenantName: t.Name, RegionID: region.ID, StoreID: store.ID}
	for _, p := range people {
		u := &syncengine.User{TenantID: t.ID, DisplayName: p.name, Role: p.role}
		switch p.place {
		case "region":
			u.RegionID = region.ID
		case "store":
			u.StoreID = store.ID
		}
		if err := db.CreateUser(ctx, u); err != nil {
			return nil, err
		}
		uc, err := enroll(ctx, db, u)
		if err != nil {
			return nil, err
		}
		c.Users = append(c.Users, uc)
	}
	_, key, err := db.CreateAPIKey(ctx, t.ID, "Demo distributor ERP", IntegratorPermissions)
	if err != nil {
		return nil, err
	}
	c.IntegratorKey = key
	c.AdminToken = c.Users[0].DeviceToken
	return c, nil
}

// RoleName is the short role name used in the credentials file ("store_manager").
func RoleName(r fieldsyncv1.Role) string {
	return strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_"))
}

func enroll(ctx context.Context, db Store, u *syncengine.User) (UserCreds, error) {
	code, _, err := db.IssueEnrollmentCode(ctx, u.TenantID, u.ID, "", time.Hour)
	if err != nil {
		return UserCreds{}, err
	}
	d, token, err := db.Enroll(ctx, code, "demo device of "+u.DisplayName, "demo")
	if err != nil {
		return UserCreds{}, err
	}
	return UserCreds{
		Name: u.DisplayName, Role: RoleName(u.Role), UserID: u.ID,
		RegionID: u.RegionID, StoreID: u.StoreID, DeviceID: d.ID, DeviceToken: token,
	}, nil
}

// reissue enrolls a new device per demo user and rewrites the file.
func reissue(ctx context.Context, db Store, tenantID, path string) (*Credentials, error) {
	users, err := db.ListUsers(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	c := &Credentials{TenantID: tenantID}
	for _, u := range users {
		uc, err := enroll(ctx, db, u)
		if err != nil {
			return nil, err
		}
		c.Users = append(c.Users, uc)
		if u.Role == fieldsyncv1.Role_ROLE_ADMIN && c.AdminToken == "" {
			c.AdminToken = uc.DeviceToken
		}
		if c.RegionID == "" {
			c.RegionID = u.RegionID
		}
		if c.StoreID == "" {
			c.StoreID = u.StoreID
		}
	}
	_, key, err := db.CreateAPIKey(ctx, tenantID, "Demo distributor ERP", IntegratorPermissions)
	if err != nil {
		return nil, err
	}
	c.IntegratorKey = key
	return c, write(path, c)
}

// Load reads a credentials file.
func Load(path string) (*Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// write stores the credentials readable by the owner only, atomically.
func write(path string, c *Credentials) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}
