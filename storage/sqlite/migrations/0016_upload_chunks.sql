-- The chunks of unfinished uploads, kept beside each server's staging
-- folder when several servers share the database (photos.Config
-- SharedStaging): a chunk or completion reaching another server finds the
-- bytes here. Deleted when the upload is completed, cancelled or expired.
CREATE TABLE upload_chunks (
  upload_id    TEXT    NOT NULL,
  chunk_offset INTEGER NOT NULL,
  data         BLOB    NOT NULL,
  PRIMARY KEY (upload_id, chunk_offset)
) WITHOUT ROWID;
