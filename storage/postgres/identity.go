package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/internal/throttle"
	"github.com/fieldsync/fieldsync/syncengine"
)

// This file is the identity store, as storage/sqlite's identity.go:
// tenants, regions, stores, users, enrollment codes, devices and API keys.

// CreateTenant creates an organisation.
func (db *DB) CreateTenant(ctx context.Context, name string) (_ *syncengine.Tenant, err error) {
	defer classify(&err)
	t := &syncengine.Tenant{ID: ids.New(), Name: name}
	err = db.writeTx(ctx, func(tx pgx.Tx, now time.Time) error {
		t.CreatedAt = now
		_, err := tx.Exec(ctx, `INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)`, t.ID, name, ms(now))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create tenant: %w", err)
	}
	return t, nil
}

// CreateTenantWithAdmin creates an organisation, its first admin user and a
// one-time enrollment code for that admin's first device in one transaction.
// A tenant of the same name (case and surrounding spaces ignored) is
// CodeAlreadyExists, also when two nodes create it at once: the check and
// the insert run under a transaction-scoped advisory lock.
func (db *DB) CreateTenantWithAdmin(ctx context.Context, name, adminName string, ttl time.Duration) (_ *syncengine.TenantBootstrap, err error) {
	defer classify(&err)
	b := &syncengine.TenantBootstrap{EnrollmentCode: ids.Token("fse")}
	b.Tenant = syncengine.Tenant{ID: ids.New(), Name: name}
	b.Admin = syncengine.User{ID: ids.New(), TenantID: b.Tenant.ID, DisplayName: adminName, Role: fieldsyncv1.Role_ROLE_ADMIN}
	err = db.writeTx(ctx, func(tx pgx.Tx, now time.Time) error {
		var taken bool
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, createTenantLock); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tenants WHERE lower(trim(name)) = lower(trim($1)))`, name).Scan(&taken)
		if err != nil {
			return err
		}
		if taken {
			return syncengine.Errorf(syncengine.CodeAlreadyExists, "name: a tenant named %q already exists", name)
		}
		b.Tenant.CreatedAt, b.Admin.CreatedAt, b.CodeExpires = now, now, now.Add(ttl)
		if _, err := tx.Exec(ctx, `INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)`, b.Tenant.ID, name, ms(now)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO users (id, tenant_id, display_name, role, region_id, store_id, created_at) VALUES ($1, $2, $3, $4, '', '', $5)`,
			b.Admin.ID, b.Tenant.ID, adminName, int32(b.Admin.Role), ms(now)); err != nil {
			return err
		}
		return insertEnrollmentCode(ctx, tx, b.EnrollmentCode, b.Tenant.ID, b.Admin.ID, "", now, b.CodeExpires)
	})
	if err != nil {
		return nil, fmt.Errorf("create tenant: %w", err)
	}
	return b, nil
}

// createTenantLock is the advisory lock key CreateTenantWithAdmin holds.
const createTenantLock = 0x66737401

// ListTenants returns every tenant, oldest first.
func (db *DB) ListTenants(ctx context.Context) (_ []syncengine.Tenant, err error) {
	defer classify(&err)
	rows, err := db.pool.Query(ctx, `SELECT id, name, created_at FROM tenants ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	defer rows.Close()
	var out []syncengine.Tenant
	for rows.Next() {
		var t syncengine.Tenant
		var created int64
		if err := rows.Scan(&t.ID, &t.Name, &created); err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
		t.CreatedAt = fromMS(created)
		out = append(out, t)
	}
	return out, rows.Err()
}

// CreateRegion creates a region in a tenant.
func (db *DB) CreateRegion(ctx context.Context, tenantID, name string) (_ *syncengine.Region, err error) {
	defer classify(&err)
	r := &syncengine.Region{ID: ids.New(), TenantID: tenantID, Name: name}
	err = db.writeTx(ctx, func(tx pgx.Tx, now time.Time) error {
		_, err := tx.Exec(ctx, `INSERT INTO regions (id, tenant_id, name, created_at) VALUES ($1, $2, $3, $4)`, r.ID, tenantID, name, ms(now))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create region: %w", err)
	}
	return r, nil
}

// CreateStore creates a store in a region of the tenant. It returns
// CodeNotFound when the region is not the tenant's.
func (db *DB) CreateStore(ctx context.Context, tenantID, regionID, name string) (_ *syncengine.Shop, err error) {
	defer classify(&err)
	s := &syncengine.Shop{ID: ids.New(), TenantID: tenantID, RegionID: regionID, Name: name}
	err = db.writeTx(ctx, func(tx pgx.Tx, now time.Time) error {
		if err := checkInTenant(ctx, tx, "regions", tenantID, regionID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO stores (id, tenant_id, region_id, name, created_at) VALUES ($1, $2, $3, $4, $5)`,
			s.ID, tenantID, regionID, name, ms(now))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create store: %w", err)
	}
	return s, nil
}

// checkInTenant returns CodeNotFound unless table has row id in tenantID.
func checkInTenant(ctx context.Context, q querier, table, tenantID, id string) error {
	var ok bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+` WHERE id = $1 AND tenant_id = $2)`, id, tenantID).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return syncengine.Errorf(syncengine.CodeNotFound, "%s %q not found", strings.TrimSuffix(table, "s"), id)
	}
	return nil
}

// GetOrganization returns a tenant with its regions and stores.
func (db *DB) GetOrganization(ctx context.Context, tenantID string) (_ *syncengine.Tenant, _ []syncengine.Region, _ []syncengine.Shop, err error) {
	defer classify(&err)
	t := &syncengine.Tenant{ID: tenantID}
	var created int64
	err = db.pool.QueryRow(ctx, `SELECT name, created_at FROM tenants WHERE id = $1`, tenantID).Scan(&t.Name, &created)
	if noRows(err) {
		return nil, nil, nil, syncengine.Errorf(syncengine.CodeNotFound, "tenant %q not found", tenantID)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("get tenant: %w", err)
	}
	t.CreatedAt = fromMS(created)
	regions, err := collect(ctx, db.pool, func(row pgx.Row) (syncengine.Region, error) {
		r := syncengine.Region{TenantID: tenantID}
		return r, row.Scan(&r.ID, &r.Name)
	}, `SELECT id, name FROM regions WHERE tenant_id = $1 ORDER BY id`, tenantID)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list regions: %w", err)
	}
	stores, err := collect(ctx, db.pool, func(row pgx.Row) (syncengine.Shop, error) {
		s := syncengine.Shop{TenantID: tenantID}
		return s, row.Scan(&s.ID, &s.RegionID, &s.Name)
	}, `SELECT id, region_id, name FROM stores WHERE tenant_id = $1 ORDER BY id`, tenantID)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list stores: %w", err)
	}
	return t, regions, stores, nil
}

// collect runs query and scans every row with scan.
func collect[T any](ctx context.Context, q querier, scan func(pgx.Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// CreateUser creates a user. Region and store must be the tenant's, and the
// store (when given) must lie in the region (filled in from the store when empty).
func (db *DB) CreateUser(ctx context.Context, u *syncengine.User) (err error) {
	defer classify(&err)
	u.ID = ids.New()
	err = db.writeTx(ctx, func(tx pgx.Tx, now time.Time) error {
		if u.StoreID != "" {
			var region string
			err := tx.QueryRow(ctx, `SELECT region_id FROM stores WHERE id = $1 AND tenant_id = $2`, u.StoreID, u.TenantID).Scan(&region)
			if noRows(err) {
				return syncengine.Errorf(syncengine.CodeNotFound, "store %q not found", u.StoreID)
			}
			if err != nil {
				return err
			}
			if u.RegionID == "" {
				u.RegionID = region
			} else if u.RegionID != region {
				return syncengine.Errorf(syncengine.CodeInvalid, "store %q is not in region %q", u.StoreID, u.RegionID)
			}
		}
		if u.RegionID != "" {
			if err := checkInTenant(ctx, tx, "regions", u.TenantID, u.RegionID); err != nil {
				return err
			}
		}
		u.CreatedAt = now
		_, err := tx.Exec(ctx, `INSERT INTO users (id, tenant_id, display_name, role, region_id, store_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			u.ID, u.TenantID, u.DisplayName, int32(u.Role), u.RegionID, u.StoreID, ms(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

const userColumns = `id, tenant_id, display_name, role, region_id, store_id, created_at`

func scanUser(row pgx.Row) (*syncengine.User, error) {
	var u syncengine.User
	var role int32
	var created int64
	if err := row.Scan(&u.ID, &u.TenantID, &u.DisplayName, &role, &u.RegionID, &u.StoreID, &created); err != nil {
		return nil, err
	}
	u.Role, u.CreatedAt = fieldsyncv1.Role(role), fromMS(created)
	return &u, nil
}

// GetUser returns a user of the tenant, or CodeNotFound.
func (db *DB) GetUser(ctx context.Context, tenantID, userID string) (_ *syncengine.User, err error) {
	defer classify(&err)
	u, err := scanUser(db.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 AND tenant_id = $2`, userID, tenantID))
	if noRows(err) {
		return nil, syncengine.Errorf(syncengine.CodeNotFound, "user %q not found", userID)
	}
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// ListUsers returns the tenant's users.
func (db *DB) ListUsers(ctx context.Context, tenantID string) (_ []*syncengine.User, err error) {
	defer classify(&err)
	users, err := collect(ctx, db.pool, scanUser, `SELECT `+userColumns+` FROM users WHERE tenant_id = $1 ORDER BY id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// IssueEnrollmentCode makes a one-time code for a user of the tenant. Only
// its hash is stored, with who issued it (issuedBy, a user id; "" when
// unknown), which the device it enrolls keeps (enrolled_by) so that its
// user can be told (insights/device_enrolled.go).
func (db *DB) IssueEnrollmentCode(ctx context.Context, tenantID, userID, issuedBy string, ttl time.Duration) (_ string, _ time.Time, err error) {
	defer classify(&err)
	code := ids.Token("fse")
	var expires time.Time
	err = db.writeTx(ctx, func(tx pgx.Tx, now time.Time) error {
		if err := checkInTenant(ctx, tx, "users", tenantID, userID); err != nil {
			return err
		}
		expires = now.Add(ttl)
		return insertEnrollmentCode(ctx, tx, code, tenantID, userID, issuedBy, now, expires)
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("issue enrollment code: %w", err)
	}
	return code, expires, nil
}

// insertEnrollmentCode stores the hash of a user's one-time code and who
// issued it ("" unknown).
func insertEnrollmentCode(ctx context.Context, tx pgx.Tx, code, tenantID, userID, issuedBy string, now, expires time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO enrollment_codes (code_hash, tenant_id, user_id, issued_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		ids.Hash(code), tenantID, userID, issuedBy, ms(now), ms(expires))
	return err
}

// Enroll exchanges an unused, unexpired enrollment code for a new device and
// its token, in one transaction. A used, expired or unknown code is
// CodeUnauthenticated (all three look the same to the caller). The UPDATE
// takes the code's row lock, so two nodes cannot both use one code.
func (db *DB) Enroll(ctx context.Context, code, name, platform string) (_ *syncengine.Device, _ string, err error) {
	defer classify(&err)
	token := ids.Token("fsd")
	d := &syncengine.Device{ID: ids.New(), Name: name, Platform: platform}
	err = db.writeTx(ctx, func(tx pgx.Tx, now time.Time) error {
		var issuedBy string // the code's issuer, kept on the device
		err := tx.QueryRow(ctx, `UPDATE enrollment_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $1
			RETURNING tenant_id, user_id, issued_by`, ms(now), ids.Hash(code)).Scan(&d.TenantID, &d.UserID, &issuedBy)
		if noRows(err) {
			return syncengine.Errorf(syncengine.CodeUnauthenticated, "enrollment code is unknown, used or expired")
		}
		if err != nil {
			return err
		}
		d.EnrolledAt = now
		_, err = tx.Exec(ctx, `INSERT INTO devices (id, tenant_id, user_id, name, platform, token_hash, enrolled_at, enrolled_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			d.ID, d.TenantID, d.UserID, name, platform, ids.Hash(token), ms(now), issuedBy)
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("enroll: %w", err)
	}
	return d, token, nil
}

// Authenticate resolves a bearer token to its principal. An unknown or
// revoked token is CodeUnauthenticated.
func (db *DB) Authenticate(ctx context.Context, token string) (_ *syncengine.Principal, err error) {
	defer classify(&err)
	h := ids.Hash(token)
	switch {
	case strings.HasPrefix(token, "fsd_"):
		var deviceID string
		u := &syncengine.User{}
		var role int32
		var created int64
		err := db.pool.QueryRow(ctx, `SELECT d.id, u.id, u.tenant_id, u.display_name, u.role, u.region_id, u.store_id, u.created_at
			FROM devices d JOIN users u ON u.id = d.user_id WHERE d.token_hash = $1 AND d.revoked_at IS NULL`, h).
			Scan(&deviceID, &u.ID, &u.TenantID, &u.DisplayName, &role, &u.RegionID, &u.StoreID, &created)
		if noRows(err) {
			return nil, syncengine.Errorf(syncengine.CodeUnauthenticated, "device token is unknown or revoked")
		}
		if err != nil {
			return nil, fmt.Errorf("authenticate: %w", err)
		}
		u.Role, u.CreatedAt = fieldsyncv1.Role(role), fromMS(created)
		db.touchDevice(ctx, deviceID)
		return u.Principal(deviceID), nil
	case strings.HasPrefix(token, "fsk_"):
		p := &syncengine.Principal{}
		var perms string
		err := db.pool.QueryRow(ctx, `SELECT id, tenant_id, permissions FROM api_keys WHERE token_hash = $1 AND revoked_at IS NULL`, h).
			Scan(&p.APIKeyID, &p.TenantID, &perms)
		if noRows(err) {
			return nil, syncengine.Errorf(syncengine.CodeUnauthenticated, "API key is unknown or revoked")
		}
		if err != nil {
			return nil, fmt.Errorf("authenticate: %w", err)
		}
		p.Permissions = strings.Fields(perms)
		return p, nil
	default:
		return nil, syncengine.Errorf(syncengine.CodeUnauthenticated, "malformed token: want a device token (fsd_…) or an API key (fsk_…)")
	}
}

// LastSeenInterval is how often, at most, a device's last_seen_at is
// written (throttle.LastSeenInterval).
const LastSeenInterval = throttle.LastSeenInterval

// touchDevice writes a device's last-seen time when due, best effort.
// Several nodes may each write it; the latest time wins.
func (db *DB) touchDevice(ctx context.Context, deviceID string) {
	now := db.Now()
	if !db.seen.Due(deviceID, struct{}{}, now, LastSeenInterval, nil) {
		return
	}
	if _, err := db.pool.Exec(ctx, `UPDATE devices SET last_seen_at = GREATEST(COALESCE(last_seen_at, 0), $1) WHERE id = $2`,
		ms(now), deviceID); err != nil {
		db.seen.Forget(deviceID)
	}
}

const deviceColumns = `id, tenant_id, user_id, name, platform, enrolled_at, revoked_at, last_seen_at`

func scanDevice(row pgx.Row) (*syncengine.Device, error) {
	var d syncengine.Device
	var enrolled int64
	var revoked, seen *int64
	if err := row.Scan(&d.ID, &d.TenantID, &d.UserID, &d.Name, &d.Platform, &enrolled, &revoked, &seen); err != nil {
		return nil, err
	}
	d.EnrolledAt, d.RevokedAt, d.LastSeenAt = fromMS(enrolled), nullMS(revoked), nullMS(seen)
	return &d, nil
}

// nullMS is a nullable millisecond column's time: zero for NULL.
func nullMS(v *int64) time.Time {
	if v == nil {
		return time.Time{}
	}
	return fromMS(*v)
}

// ListDevices returns the tenant's devices, or one user's when userID is
// set, each with its user's display name and its latest status report.
func (db *DB) ListDevices(ctx context.Context, tenantID, userID string) (_ []*syncengine.Device, err error) {
	defer classify(&err)
	out, err := collect(ctx, db.pool, scanDeviceWithStatus, `SELECT d.id, d.tenant_id, d.user_id, d.name, d.platform, d.enrolled_at,
		d.revoked_at, d.last_seen_at, s.reported_at, s.outbox_depth, s.oldest_unsynced_at, s.photos_waiting, s.app_version,
		s.sdk_version, s.last_sync_at, COALESCE(u.display_name, '') FROM devices d LEFT JOIN device_status s ON s.device_id = d.id
		LEFT JOIN users u ON u.id = d.user_id AND u.tenant_id = d.tenant_id
		WHERE d.tenant_id = $1 AND ($2 = '' OR d.user_id = $2) ORDER BY d.id`, tenantID, userID)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return out, nil
}

// scanDeviceWithStatus scans a device, its status report's columns and its user's display name.
func scanDeviceWithStatus(row pgx.Row) (*syncengine.Device, error) {
	var d syncengine.Device
	var enrolled int64
	var revoked, seen, reported, oldest, lastSync *int64
	var depth, photos *int32
	var app, sdk *string
	if err := row.Scan(&d.ID, &d.TenantID, &d.UserID, &d.Name, &d.Platform, &enrolled, &revoked, &seen,
		&reported, &depth, &oldest, &photos, &app, &sdk, &lastSync, &d.UserName); err != nil {
		return nil, err
	}
	d.EnrolledAt, d.RevokedAt, d.LastSeenAt = fromMS(enrolled), nullMS(revoked), nullMS(seen)
	if reported != nil {
		s := &syncengine.DeviceStatus{OutboxDepth: int(*depth), PhotosWaiting: int(*photos), AppVersion: *app, SDKVersion: *sdk,
			LastSync: nullMS(lastSync), ReportedAt: nullMS(reported), OldestUnsynced: nullMS(oldest)}
		if !s.OldestUnsynced.IsZero() {
			s.OldestUnsyncedAge = s.ReportedAt.Sub(s.OldestUnsynced)
		}
		d.Status = s
	}
	return &d, nil
}

// RevokeDevice revokes a device of the tenant; revoking twice keeps the first time.
func (db *DB) RevokeDevice(ctx context.Context, tenantID, deviceID string) (_ *syncengine.Device, err error) {
	defer classify(&err)
	var d *syncengine.Device
	err = db.writeTx(ctx, func(tx pgx.Tx, now time.Time) error {
		var err error
		d, err = scanDevice(tx.QueryRow(ctx, `UPDATE devices SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND tenant_id = $3
			RETURNING `+deviceColumns, ms(now), deviceID, tenantID))
		if noRows(err) {
			return syncengine.Errorf(syncengine.CodeNotFound, "device %q not found", deviceID)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("revoke device: %w", err)
	}
	return d, nil
}

// CreateAPIKey creates an integrator key and returns its secret, shown once.
func (db *DB) CreateAPIKey(ctx context.Context, tenantID, name string, permissions []string) (_ *syncengine.APIKey, _ string, err error) {
	defer classify(&err)
	secret := ids.Token("fsk")
	k := &syncengine.APIKey{ID: ids.New(), TenantID: tenantID, Name: name, Permissions: permissions}
	err = db.writeTx(ctx, func(tx pgx.Tx, now time.Time) error {
		k.CreatedAt = now
		_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, tenant_id, name, permissions, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
			k.ID, tenantID, name, strings.Join(permissions, " "), ids.Hash(secret), ms(now))
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("create api key: %w", err)
	}
	return k, secret, nil
}

const apiKeyColumns = `id, tenant_id, name, permissions, created_at, revoked_at`

func scanAPIKey(row pgx.Row) (*syncengine.APIKey, error) {
	var k syncengine.APIKey
	var perms string
	var created int64
	var revoked *int64
	if err := row.Scan(&k.ID, &k.TenantID, &k.Name, &perms, &created, &revoked); err != nil {
		return nil, err
	}
	k.Permissions, k.CreatedAt, k.RevokedAt = strings.Fields(perms), fromMS(created), nullMS(revoked)
	return &k, nil
}

// ListAPIKeys returns the tenant's keys (never their secrets).
func (db *DB) ListAPIKeys(ctx context.Context, tenantID string) (_ []*syncengine.APIKey, err error) {
	defer classify(&err)
	out, err := collect(ctx, db.pool, scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = $1 ORDER BY id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	return out, nil
}

// RevokeAPIKey revokes a key of the tenant.
func (db *DB) RevokeAPIKey(ctx context.Context, tenantID, keyID string) (_ *syncengine.APIKey, err error) {
	defer classify(&err)
	var k *syncengine.APIKey
	err = db.writeTx(ctx, func(tx pgx.Tx, now time.Time) error {
		var err error
		k, err = scanAPIKey(tx.QueryRow(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND tenant_id = $3
			RETURNING `+apiKeyColumns, ms(now), keyID, tenantID))
		if noRows(err) {
			return syncengine.Errorf(syncengine.CodeNotFound, "api key %q not found", keyID)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("revoke api key: %w", err)
	}
	return k, nil
}

// Meta returns a stored installation fact, or "" when unset.
func (db *DB) Meta(ctx context.Context, key string) (_ string, err error) {
	defer classify(&err)
	var v string
	err = db.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
	if noRows(err) {
		return "", nil
	}
	return v, err
}

// InitMeta stores an installation fact unless one is stored under key
// already, and returns the fact stored: value, or the earlier one. Nodes
// starting together agree on the first one written.
func (db *DB) InitMeta(ctx context.Context, key, value string) (_ string, err error) {
	defer classify(&err)
	if _, err := db.pool.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
		return "", err
	}
	return db.Meta(ctx, key)
}

// SetMeta stores an installation fact.
func (db *DB) SetMeta(ctx context.Context, key, value string) (err error) {
	defer classify(&err)
	_, err = db.pool.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, key, value)
	return err
}
