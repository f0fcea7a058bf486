-- The object-store work of an unfinished upload that every server sees
-- when several share the database (photos.Config SharedStaging): its one
-- multipart upload, the parts recorded, a part being sent and a claim to
-- complete it, as the photo service encodes them. Changed only with the
-- upload's row locked; deleted when the upload ends.
CREATE TABLE upload_objects (
  upload_id TEXT NOT NULL PRIMARY KEY,
  state     BLOB NOT NULL
) WITHOUT ROWID;
