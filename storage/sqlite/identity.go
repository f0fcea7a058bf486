package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/internal/ids"
	fieldsyncv1 "github.com/fieldsync/fieldsync/proto/fieldsync/v1"
	"github.com/fieldsync/fieldsync/storage/internal/throttle"
	"github.com/fieldsync/fieldsync/syncengine"
)

// CreateTenant creates an organisation.
func (db *DB) CreateTenant(ctx context.Context, name string) (*syncengine.Tenant, error) {
	t := &syncengine.Tenant{ID: ids.New(), Name: name}
	err := db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
		t.CreatedAt = now
		_, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)`, t.ID, name, ms(now))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create tenant: %w", err)
	}
	return t, nil
}

// CreateTenantWithAdmin creates an organisation, its first admin user and a
// one-time enrollment code for that admin's first device in one transaction:
// afterwards all three exist or none does. A tenant of the same name (case
// and surrounding spaces ignored) is CodeAlreadyExists.
func (db *DB) CreateTenantWithAdmin(ctx context.Context, name, adminName string, ttl time.Duration) (*syncengine.TenantBootstrap, error) {
	b := &syncengine.TenantBootstrap{EnrollmentCode: ids.Token("fse")}
	b.Tenant = syncengine.Tenant{ID: ids.New(), Name: name}
	b.Admin = syncengine.User{ID: ids.New(), TenantID: b.Tenant.ID, DisplayName: adminName, Role: fieldsyncv1.Role_ROLE_ADMIN}
	err := db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
		var n int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tenants WHERE lower(trim(name)) = lower(trim(?))`, name).Scan(&n)
		if err != nil {
			return err
		}
		if n > 0 {
			return syncengine.Errorf(syncengine.CodeAlreadyExists, "name: a tenant named %q already exists", name)
		}
		b.Tenant.CreatedAt, b.Admin.CreatedAt, b.CodeExpires = now, now, now.Add(ttl)
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)`, b.Tenant.ID, name, ms(now)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, tenant_id, display_name, role, region_id, store_id, created_at) VALUES (?, ?, ?, ?, '', '', ?)`,
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

// ListTenants returns every tenant, oldest first.
func (db *DB) ListTenants(ctx context.Context) ([]syncengine.Tenant, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, name, created_at FROM tenants ORDER BY created_at, id`)
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
func (db *DB) CreateRegion(ctx context.Context, tenantID, name string) (*syncengine.Region, error) {
	r := &syncengine.Region{ID: ids.New(), TenantID: tenantID, Name: name}
	err := db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO regions (id, tenant_id, name, created_at) VALUES (?, ?, ?, ?)`,
			r.ID, tenantID, name, ms(now))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create region: %w", err)
	}
	return r, nil
}

// CreateStore creates a store in a region of the tenant. It returns
// CodeNotFound when the region is not the tenant's.
func (db *DB) CreateStore(ctx context.Context, tenantID, regionID, name string) (*syncengine.Shop, error) {
	s := &syncengine.Shop{ID: ids.New(), TenantID: tenantID, RegionID: regionID, Name: name}
	err := db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
		if err := checkInTenant(ctx, tx, "regions", tenantID, regionID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO stores (id, tenant_id, region_id, name, created_at) VALUES (?, ?, ?, ?, ?)`,
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
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM `+table+` WHERE id = ? AND tenant_id = ?`, id, tenantID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return syncengine.Errorf(syncengine.CodeNotFound, "%s %q not found", strings.TrimSuffix(table, "s"), id)
	}
	return err
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// GetOrganization returns a tenant with its regions and stores.
func (db *DB) GetOrganization(ctx context.Context, tenantID string) (*syncengine.Tenant, []syncengine.Region, []syncengine.Shop, error) {
	t := &syncengine.Tenant{ID: tenantID}
	var created int64
	err := db.read.QueryRowContext(ctx, `SELECT name, created_at FROM tenants WHERE id = ?`, tenantID).Scan(&t.Name, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, nil, syncengine.Errorf(syncengine.CodeNotFound, "tenant %q not found", tenantID)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("get tenant: %w", err)
	}
	t.CreatedAt = fromMS(created)
	var regions []syncengine.Region
	rows, err := db.read.QueryContext(ctx, `SELECT id, name FROM regions WHERE tenant_id = ? ORDER BY id`, tenantID)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list regions: %w", err)
	}
	for rows.Next() {
		r := syncengine.Region{TenantID: tenantID}
		if err := rows.Scan(&r.ID, &r.Name); err != nil {
			rows.Close()
			return nil, nil, nil, err
		}
		regions = append(regions, r)
	}
	rows.Close()
	var stores []syncengine.Shop
	rows, err = db.read.QueryContext(ctx, `SELECT id, region_id, name FROM stores WHERE tenant_id = ? ORDER BY id`, tenantID)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list stores: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		s := syncengine.Shop{TenantID: tenantID}
		if err := rows.Scan(&s.ID, &s.RegionID, &s.Name); err != nil {
			return nil, nil, nil, err
		}
		stores = append(stores, s)
	}
	return t, regions, stores, rows.Err()
}

// CreateUser creates a user. Region and store must be the tenant's, and the
// store (when given) must lie in the region (filled in from the store when empty).
func (db *DB) CreateUser(ctx context.Context, u *syncengine.User) error {
	u.ID = ids.New()
	err := db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
		if u.StoreID != "" {
			var region string
			err := tx.QueryRowContext(ctx, `SELECT region_id FROM stores WHERE id = ? AND tenant_id = ?`, u.StoreID, u.TenantID).Scan(&region)
			if errors.Is(err, sql.ErrNoRows) {
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
		_, err := tx.ExecContext(ctx, `INSERT INTO users (id, tenant_id, display_name, role, region_id, store_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.TenantID, u.DisplayName, int32(u.Role), u.RegionID, u.StoreID, ms(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

const userColumns = `id, tenant_id, display_name, role, region_id, store_id, created_at`

func scanUser(row interface{ Scan(...any) error }) (*syncengine.User, error) {
	var u syncengine.User
	var role int32
	var created int64
	if err := row.Scan(&u.ID, &u.TenantID, &u.DisplayName, &role, &u.RegionID, &u.StoreID, &created); err != nil {
		return nil, err
	}
	u.Role = fieldsyncv1.Role(role)
	u.CreatedAt = fromMS(created)
	return &u, nil
}

// GetUser returns a user of the tenant, or CodeNotFound.
func (db *DB) GetUser(ctx context.Context, tenantID, userID string) (*syncengine.User, error) {
	u, err := scanUser(db.read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ? AND tenant_id = ?`, userID, tenantID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, syncengine.Errorf(syncengine.CodeNotFound, "user %q not found", userID)
	}
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// ListUsers returns the tenant's users.
func (db *DB) ListUsers(ctx context.Context, tenantID string) ([]*syncengine.User, error) {
	users, err := queryAll(ctx, db.read, scanUser, `SELECT `+userColumns+` FROM users WHERE tenant_id = ? ORDER BY id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// IssueEnrollmentCode makes a one-time code for a user of the tenant. Only
// its hash is stored, with who issued it (issuedBy, a user id; "" when
// unknown), which the device it enrolls keeps (enrolled_by) so that its
// user can be told (insights/device_enrolled.go).
func (db *DB) IssueEnrollmentCode(ctx context.Context, tenantID, userID, issuedBy string, ttl time.Duration) (string, time.Time, error) {
	code := ids.Token("fse")
	var expires time.Time
	err := db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
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
func insertEnrollmentCode(ctx context.Context, tx *sql.Tx, code, tenantID, userID, issuedBy string, now, expires time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO enrollment_codes (code_hash, tenant_id, user_id, issued_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		ids.Hash(code), tenantID, userID, issuedBy, ms(now), ms(expires))
	return err
}

// Enroll exchanges an unused, unexpired enrollment code for a new device and
// its token, in one transaction. A used, expired or unknown code is
// CodeUnauthenticated (all three look the same to the caller).
func (db *DB) Enroll(ctx context.Context, code, name, platform string) (*syncengine.Device, string, error) {
	token := ids.Token("fsd")
	d := &syncengine.Device{ID: ids.New(), Name: name, Platform: platform}
	err := db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
		var issuedBy string // the code's issuer, kept on the device
		res, err := tx.ExecContext(ctx, `UPDATE enrollment_codes SET used_at = ? WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?`,
			ms(now), ids.Hash(code), ms(now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return syncengine.Errorf(syncengine.CodeUnauthenticated, "enrollment code is unknown, used or expired")
		}
		if err := tx.QueryRowContext(ctx, `SELECT tenant_id, user_id, issued_by FROM enrollment_codes WHERE code_hash = ?`, ids.Hash(code)).
			Scan(&d.TenantID, &d.UserID, &issuedBy); err != nil {
			return err
		}
		d.EnrolledAt = now
		_, err = tx.ExecContext(ctx, `INSERT INTO devices (id, tenant_id, user_id, name, platform, token_hash, enrolled_at, enrolled_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
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
func (db *DB) Authenticate(ctx context.Context, token string) (*syncengine.Principal, error) {
	h := ids.Hash(token)
	switch {
	case strings.HasPrefix(token, "fsd_"):
		// Every call authenticates: the statement is prepared once per pool
		// (preparing it each time was half the cost).
		st, err := db.readStmt(ctx, `SELECT d.id, u.id, u.tenant_id, u.display_name, u.role, u.region_id, u.store_id, u.created_at
			 FROM devices d JOIN users u ON u.id = d.user_id
			 WHERE d.token_hash = ? AND d.revoked_at IS NULL`)
		if err != nil {
			return nil, fmt.Errorf("authenticate: %w", err)
		}
		var deviceID string
		u, err := scanUserWith(st.QueryRowContext(ctx, h), &deviceID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, syncengine.Errorf(syncengine.CodeUnauthenticated, "device token is unknown or revoked")
		}
		if err != nil {
			return nil, fmt.Errorf("authenticate: %w", err)
		}
		db.touchDevice(ctx, deviceID)
		return u.Principal(deviceID), nil
	case strings.HasPrefix(token, "fsk_"):
		p := &syncengine.Principal{}
		var perms string
		st, err := db.readStmt(ctx, `SELECT id, tenant_id, permissions FROM api_keys WHERE token_hash = ? AND revoked_at IS NULL`)
		if err != nil {
			return nil, fmt.Errorf("authenticate: %w", err)
		}
		err = st.QueryRowContext(ctx, h).Scan(&p.APIKeyID, &p.TenantID, &perms)
		if errors.Is(err, sql.ErrNoRows) {
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

// touchDevice writes a device's last-seen time when due. It is best effort:
// a failed write must not fail the call that authenticated, and the next
// call tries again.
func (db *DB) touchDevice(ctx context.Context, deviceID string) {
	now := db.Now()
	if !db.seen.Due(deviceID, struct{}{}, now, LastSeenInterval, nil) {
		return
	}
	err := db.WriteTx(ctx, func(tx *sql.Tx, _ time.Time) error {
		_, err := db.txExec(ctx, tx, `UPDATE devices SET last_seen_at = ? WHERE id = ?`, ms(now), deviceID)
		return err
	})
	if err != nil {
		db.seen.Forget(deviceID)
	}
}

func scanUserWith(row *sql.Row, deviceID *string) (*syncengine.User, error) {
	var u syncengine.User
	var role int32
	var created int64
	if err := row.Scan(deviceID, &u.ID, &u.TenantID, &u.DisplayName, &role, &u.RegionID, &u.StoreID, &created); err != nil {
		return nil, err
	}
	u.Role = fieldsyncv1.Role(role)
	u.CreatedAt = fromMS(created)
	return &u, nil
}

const deviceColumns = `id, tenant_id, user_id, name, platform, enrolled_at, revoked_at, last_seen_at`

func scanDevice(row interface{ Scan(...any) error }) (*syncengine.Device, error) {
	var d syncengine.Device
	var enrolled int64
	var revoked, seen sql.NullInt64
	if err := row.Scan(&d.ID, &d.TenantID, &d.UserID, &d.Name, &d.Platform, &enrolled, &revoked, &seen); err != nil {
		return nil, err
	}
	d.EnrolledAt, d.RevokedAt, d.LastSeenAt = fromMS(enrolled), nullMS(revoked), nullMS(seen)
	return &d, nil
}

// ListDevices returns the tenant's devices, or one user's when userID is
// set, each with its user's display name and its latest status report.
func (db *DB) ListDevices(ctx context.Context, tenantID, userID string) ([]*syncengine.Device, error) {
	out, err := queryAll(ctx, db.read, scanDeviceWithStatus, `SELECT d.id, d.tenant_id, d.user_id, d.name, d.platform, d.enrolled_at, d.revoked_at, d.last_seen_at, `+
		statusColumns+`, COALESCE(u.display_name, '') FROM devices d LEFT JOIN device_status s ON s.device_id = d.id
		LEFT JOIN users u ON u.id = d.user_id AND u.tenant_id = d.tenant_id
		WHERE d.tenant_id = ? AND (? = '' OR d.user_id = ?) ORDER BY d.id`, tenantID, userID, userID)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return out, nil
}

// RevokeDevice revokes a device of the tenant; revoking twice keeps the first time.
func (db *DB) RevokeDevice(ctx context.Context, tenantID, deviceID string) (*syncengine.Device, error) {
	var d *syncengine.Device
	err := db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND tenant_id = ?`,
			ms(now), deviceID, tenantID); err != nil {
			return err
		}
		var err error
		d, err = scanDevice(tx.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM devices WHERE id = ? AND tenant_id = ?`, deviceID, tenantID))
		if errors.Is(err, sql.ErrNoRows) {
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
func (db *DB) CreateAPIKey(ctx context.Context, tenantID, name string, permissions []string) (*syncengine.APIKey, string, error) {
	secret := ids.Token("fsk")
	k := &syncengine.APIKey{ID: ids.New(), TenantID: tenantID, Name: name, Permissions: permissions}
	err := db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
		k.CreatedAt = now
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, tenant_id, name, permissions, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			k.ID, tenantID, name, strings.Join(permissions, " "), ids.Hash(secret), ms(now))
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("create api key: %w", err)
	}
	return k, secret, nil
}

const apiKeyColumns = `id, tenant_id, name, permissions, created_at, revoked_at`

func scanAPIKey(row interface{ Scan(...any) error }) (*syncengine.APIKey, error) {
	var k syncengine.APIKey
	var perms string
	var created int64
	var revoked sql.NullInt64
	if err := row.Scan(&k.ID, &k.TenantID, &k.Name, &perms, &created, &revoked); err != nil {
		return nil, err
	}
	k.Permissions, k.CreatedAt, k.RevokedAt = strings.Fields(perms), fromMS(created), nullMS(revoked)
	return &k, nil
}

// ListAPIKeys returns the tenant's keys (never their secrets).
func (db *DB) ListAPIKeys(ctx context.Context, tenantID string) ([]*syncengine.APIKey, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = ? ORDER BY id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	defer rows.Close()
	var out []*syncengine.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeAPIKey revokes a key of the tenant.
func (db *DB) RevokeAPIKey(ctx context.Context, tenantID, keyID string) (*syncengine.APIKey, error) {
	var k *syncengine.APIKey
	err := db.WriteTx(ctx, func(tx *sql.Tx, now time.Time) error {
		if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND tenant_id = ?`,
			ms(now), keyID, tenantID); err != nil {
			return err
		}
		var err error
		k, err = scanAPIKey(tx.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ? AND tenant_id = ?`, keyID, tenantID))
		if errors.Is(err, sql.ErrNoRows) {
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
func (db *DB) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := db.read.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// InitMeta stores an installation fact unless one is stored under key
// already, and returns the fact stored: value, or the earlier one. Nodes
// starting together agree on the first one written.
func (db *DB) InitMeta(ctx context.Context, key, value string) (string, error) {
	var stored string
	err := db.WriteTx(ctx, func(tx *sql.Tx, _ time.Time) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING`, key, value); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&stored)
	})
	return stored, err
}

// SetMeta stores an installation fact.
func (db *DB) SetMeta(ctx context.Context, key, value string) error {
	return db.WriteTx(ctx, func(tx *sql.Tx, _ time.Time) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
		return err
	})
}
