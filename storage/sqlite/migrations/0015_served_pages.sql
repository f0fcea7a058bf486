-- The served-pages log: the last pages each device was served, by the
-- version their cursor ends at, so that an Ack reaching any node can date
-- its receipt no earlier than the page was served (syncengine.Engine.Ack).
-- Entries expire (syncengine.ServedPageTTL) and each device keeps its
-- newest few; served_time is in Unix milliseconds.
CREATE TABLE served_pages (
  tenant_id   TEXT    NOT NULL,
  device_id   TEXT    NOT NULL,
  version     INTEGER NOT NULL,
  served_time INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, device_id, version)
) WITHOUT ROWID;

CREATE INDEX served_pages_by_time ON served_pages (served_time);
