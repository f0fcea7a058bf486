-- The change log indexed by scope, so a Pull or Watch reads only the rows
-- its caller may see and costs what it returns, not the tenant's whole log.
-- A caller's filter becomes terms (syncengine.Selection): records of a type
-- whose owner, store or region is a value, or every record of a type. Each
-- (term, type) is one range of one of these indexes, already in version
-- order; scan.go merges the ranges in one statement and stops at the page.
-- Exits (the scopes records left) are indexed the same way.
--
-- Delivery receipts read the same indexes for the records of campaign
-- material and alerts a device was newly delivered: created_version rides
-- along, so they read the caller's scope, not every creation of the tenant,
-- and records_created is no longer needed.
CREATE INDEX records_owner ON records(tenant_id, owner_id, type, version, created_version);
CREATE INDEX records_store ON records(tenant_id, store_id, type, version, created_version);
CREATE INDEX records_region ON records(tenant_id, region_id, type, version, created_version);
CREATE INDEX records_type ON records(tenant_id, type, version, created_version);
DROP INDEX records_created;
CREATE INDEX scope_exits_owner ON scope_exits(tenant_id, owner_id, type, version);
CREATE INDEX scope_exits_store ON scope_exits(tenant_id, store_id, type, version);
CREATE INDEX scope_exits_region ON scope_exits(tenant_id, region_id, type, version);
CREATE INDEX scope_exits_type ON scope_exits(tenant_id, type, version);
