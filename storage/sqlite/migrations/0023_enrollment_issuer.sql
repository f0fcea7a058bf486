-- Who issued each enrollment code, carried to the device it enrolled, so
-- the user a device was enrolled for can be told who made it possible
-- (insights/device_enrolled.go; postgres 0014). '' when unknown: codes
-- issued before this migration, and those made outside an authenticated
-- call (bootstrap, demo seeding).
ALTER TABLE enrollment_codes ADD COLUMN issued_by TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN enrolled_by TEXT NOT NULL DEFAULT '';
-- The enrollment sweep reads a tenant's latest enrollments.
CREATE INDEX devices_tenant_enrolled ON devices(tenant_id, enrolled_at);
