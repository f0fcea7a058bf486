-- Tenants (organisations), their regions and stores, users, devices and keys.
CREATE TABLE tenants (
  id         TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE regions (
  id         TEXT PRIMARY KEY,
  tenant_id  TEXT NOT NULL REFERENCES tenants(id),
  name       TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX regions_tenant ON regions(tenant_id);

CREATE TABLE stores (
  id         TEXT PRIMARY KEY,
  tenant_id  TEXT NOT NULL REFERENCES tenants(id),
  region_id  TEXT NOT NULL REFERENCES regions(id),
  name       TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX stores_tenant ON stores(tenant_id);

CREATE TABLE users (
  id           TEXT PRIMARY KEY,
  tenant_id    TEXT NOT NULL REFERENCES tenants(id),
  display_name TEXT NOT NULL,
  role         INTEGER NOT NULL,
  region_id    TEXT NOT NULL DEFAULT '',
  store_id     TEXT NOT NULL DEFAULT '',
  created_at   INTEGER NOT NULL
);
CREATE INDEX users_tenant ON users(tenant_id);

-- One-time enrollment codes, stored hashed.
CREATE TABLE enrollment_codes (
  code_hash  BLOB PRIMARY KEY,
  tenant_id  TEXT NOT NULL REFERENCES tenants(id),
  user_id    TEXT NOT NULL REFERENCES users(id),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER
);

CREATE TABLE devices (
  id           TEXT PRIMARY KEY,
  tenant_id    TEXT NOT NULL REFERENCES tenants(id),
  user_id      TEXT NOT NULL REFERENCES users(id),
  name         TEXT NOT NULL,
  platform     TEXT NOT NULL DEFAULT '',
  token_hash   BLOB NOT NULL UNIQUE,
  enrolled_at  INTEGER NOT NULL,
  revoked_at   INTEGER,
  last_seen_at INTEGER
);
CREATE INDEX devices_user ON devices(user_id);

CREATE TABLE api_keys (
  id          TEXT PRIMARY KEY,
  tenant_id   TEXT NOT NULL REFERENCES tenants(id),
  name        TEXT NOT NULL,
  permissions TEXT NOT NULL, -- space-separated, e.g. "stock:write records:read"
  token_hash  BLOB NOT NULL UNIQUE,
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

-- Small key/value facts about the installation (e.g. that the demo was seeded).
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
