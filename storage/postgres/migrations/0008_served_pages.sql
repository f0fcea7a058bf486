-- The served-pages log (sqlite 0014): the last pages each device was
-- served, by the version their cursor ends at, so that an Ack reaching any
-- node can date its receipt no earlier than the page was served
-- (syncengine.Engine.Ack). Entries expire (syncengine.ServedPageTTL) and
-- each device keeps its newest few; served_time is in Unix milliseconds.
CREATE TABLE served_pages (
  tenant_id   TEXT    NOT NULL,
  device_id   TEXT    NOT NULL,
  version     BIGINT  NOT NULL,
  served_time BIGINT  NOT NULL,
  PRIMARY KEY (tenant_id, device_id, version)
);

CREATE INDEX served_pages_by_time ON served_pages (served_time);
