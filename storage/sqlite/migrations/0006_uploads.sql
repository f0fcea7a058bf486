-- Photo uploads, second part (package photos).

-- A device has at most one unfinished upload of a photo: creating it again
-- resumes that one. An unfinished upload past its expiry is marked expired
-- in the transaction that creates its successor.
CREATE UNIQUE INDEX uploads_active ON uploads(device_id, sha256) WHERE state = 1;

-- The photos each tenant has proven it holds by uploading the bytes. A
-- photos row says the object is stored (once, whoever sent it); only a
-- tenant with a row here may skip the upload of a known hash or get a URL
-- to it, so knowing a hash never gives another tenant's photo away. The
-- device, its HLC at CreateUpload and the server's receipt time are this
-- tenant's first complete upload.
CREATE TABLE tenant_photos (
  tenant_id   TEXT    NOT NULL,
  sha256      TEXT    NOT NULL,
  upload_id   TEXT    NOT NULL,
  device_id   TEXT    NOT NULL,
  user_id     TEXT    NOT NULL,
  device_hlc  INTEGER NOT NULL DEFAULT 0,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, sha256)
) WITHOUT ROWID;

-- Photos that became available to a tenant whose referencing records have
-- not all been re-delivered yet (written with the photo, deleted once every
-- record was bumped): a crash in between is finished by the sweeper.
CREATE TABLE photo_notices (
  tenant_id  TEXT    NOT NULL,
  sha256     TEXT    NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, sha256)
) WITHOUT ROWID;

-- Surgery supports in change order, for the sweep that sets photos_complete
-- on those written after their photos became available.
CREATE INDEX records_surgery_version ON records(version) WHERE type = 'fieldsync.v1.SurgerySupport';
