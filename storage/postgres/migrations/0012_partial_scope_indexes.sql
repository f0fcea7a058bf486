-- Fewer indexes per record row (as SQLite's migration 0020): the owner and
-- store scope indexes hold only rows that have an owner or a store. A scan
-- term by owner or store always has a value (Filter.Select makes none
-- without); a visit or a rep's customer has no store, a shared record no
-- owner, so those rows skip an index no term reads them through. A scan
-- says owner_id <> '' (store_id <> '') beside the term's value so the
-- planner can prove the partial index applies (scan.go); a term with an
-- empty value reads the type's range. The region index stays whole: shared
-- records with no region are read by region ''.
DROP INDEX records_owner;
CREATE INDEX records_owner ON records(tenant_id, owner_id, type, version) INCLUDE (created_version) WHERE owner_id <> '';
DROP INDEX records_store;
CREATE INDEX records_store ON records(tenant_id, store_id, type, version) INCLUDE (created_version) WHERE store_id <> '';
