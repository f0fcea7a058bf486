-- The object-store work of an unfinished upload that every node sees
-- (sqlite 0017; photos.Config SharedStaging): its one multipart upload,
-- the parts recorded, a part being sent and a claim to complete it, as the
-- photo service encodes them. Changed only with the upload's row locked
-- (FOR UPDATE); deleted when the upload ends.
CREATE TABLE upload_objects (
  upload_id TEXT  NOT NULL PRIMARY KEY,
  state     BYTEA NOT NULL
);
