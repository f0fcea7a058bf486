-- A scan of a scope reads the scope indexes (records_owner, _store,
-- _region, _type) in version order. A (tenant_id, version) index over
-- every record offers the same order and, to a generic plan that cannot
-- tell how few rows a scope term selects, looks as cheap; it is not: it
-- reads every record of the tenant in the range and filters out the
-- others' (one empty term of a page read the whole tenant). Versions stay
-- unique per tenant by construction (the locked counter, records.go); the
-- tombstone purge keeps an index of its own.
DROP INDEX records_version;
CREATE INDEX records_tombstones ON records(tenant_id, version) WHERE deleted;
