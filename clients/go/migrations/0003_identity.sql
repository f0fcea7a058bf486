-- The device identity this store is bound to: the SHA-256 (hex) of the
-- device token first used with it, and the device, user and tenant the
-- server named for that token (WhoAmI, at the first Sync).
INSERT INTO meta (key, value) VALUES
  ('token_hash', ''), ('device_id', ''), ('user_id', ''), ('tenant_id', '');
