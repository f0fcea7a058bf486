-- Fewer B-trees per record row (issue 11, push CPU). A record row went
-- into seven: the table, its primary key, records_version and the four
-- scope indexes; each is pages of the commit's WAL.
--
-- The owner and store indexes hold only rows that have an owner or a
-- store: a scan term by owner or store always has a value (Filter.Select
-- makes none without), and a visit or a customer of a rep has no store, a
-- shared record no owner, so those rows skip an index no term reads them
-- through. A scan says owner_id != '' (store_id != '') beside the term's
-- value so the planner may use the partial index (scan.go); a term with an
-- empty value reads the type's range instead. The region index stays whole:
-- shared records with no region (tenant-wide) are read by region ''.
--
-- records_version served no query but the tombstone purge: versions are
-- unique per tenant by construction (the counter in tenant_versions, read
-- and advanced inside the single write transaction, records.go), and every
-- scan reads a scope index. The purge reads tombstones by (tenant, version)
-- from an index of tombstones alone, as on PostgreSQL (its migration 0006).
DROP INDEX records_owner;
CREATE INDEX records_owner ON records(tenant_id, owner_id, type, version, created_version) WHERE owner_id != '';
DROP INDEX records_store;
CREATE INDEX records_store ON records(tenant_id, store_id, type, version, created_version) WHERE store_id != '';
DROP INDEX records_version;
CREATE INDEX records_tombstones ON records(tenant_id, version) WHERE deleted = 1;
