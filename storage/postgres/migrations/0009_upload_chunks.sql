-- The chunks of unfinished uploads (sqlite 0015), kept beside each node's
-- staging folder (photos.Config SharedStaging): a chunk or completion
-- reaching another node finds the bytes here. Deleted when the upload is
-- completed, cancelled or expired.
CREATE TABLE upload_chunks (
  upload_id    TEXT   NOT NULL,
  chunk_offset BIGINT NOT NULL,
  data         BYTEA  NOT NULL,
  PRIMARY KEY (upload_id, chunk_offset)
);
