-- Photo possession (package photos): knowing a hash grants nothing.

-- The users who proved they hold a photo by sending its bytes, verified,
-- in a complete upload (also when the object was already stored). The
-- object is stored once per hash; possession is per tenant and user.
CREATE TABLE photo_holders (
  tenant_id   TEXT    NOT NULL,
  sha256      TEXT    NOT NULL,
  user_id     TEXT    NOT NULL,
  upload_id   TEXT    NOT NULL,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, sha256, user_id)
) WITHOUT ROWID;

-- Who attached each photo to each live record: the user of the device
-- whose write carried the photo ref, or "server" / "key:<id>" for the
-- server's and API keys' writes. A ref is available when one of its
-- attachers holds the photo (the server and keys: when anyone in the
-- tenant holds it). Rows go when the ref leaves the record.
CREATE TABLE photo_attachers (
  tenant_id TEXT NOT NULL,
  sha256    TEXT NOT NULL,
  record_id TEXT NOT NULL,
  user_id   TEXT NOT NULL,
  PRIMARY KEY (tenant_id, sha256, record_id, user_id)
) WITHOUT ROWID;
CREATE INDEX photo_attachers_record ON photo_attachers(tenant_id, record_id);

-- Existing data: each tenant's first uploader holds the photo (later
-- uploads of a known hash sent no bytes); each ref was attached by its
-- record's owner (the server for alerts) and by the users whose complete
-- uploads named the record.
INSERT INTO photo_holders (tenant_id, sha256, user_id, upload_id, received_at)
  SELECT tenant_id, sha256, user_id, upload_id, received_at FROM tenant_photos;
INSERT OR IGNORE INTO photo_attachers (tenant_id, sha256, record_id, user_id)
  SELECT rp.tenant_id, rp.sha256, rp.record_id,
         CASE WHEN r.type = 'fieldsync.v1.Alert' THEN 'server' ELSE r.owner_id END
  FROM record_photos rp JOIN records r ON r.tenant_id = rp.tenant_id AND r.id = rp.record_id;
INSERT OR IGNORE INTO photo_attachers (tenant_id, sha256, record_id, user_id)
  SELECT rp.tenant_id, rp.sha256, rp.record_id, u.user_id
  FROM record_photos rp JOIN uploads u ON u.tenant_id = rp.tenant_id AND u.sha256 = rp.sha256
    AND u.record_id = rp.record_id AND u.state = 2;
