-- photos is the device's photo queue, one row per photo (by content); the
-- local copy is <photo folder>/<sha256>.
--   state 0: queued (no upload on the server yet);
--   state 1: uploading (offset_bytes acknowledged by the server's upload_id);
--   state 2: done (CompleteUpload succeeded: the server holds the photo);
--   state 3: failed (refused for good; error says why).
-- record_type, record_id and slot say where the photo was first attached
-- and hlc is the device's HLC then (sent with CreateUpload). recreated
-- counts uploads cancelled after a refused completion (one is allowed).
-- failures counts transient server refusals in a row, retry_at (Unix ms)
-- is when the photo may be tried again after one.
CREATE TABLE photos (
  sha256       TEXT    NOT NULL PRIMARY KEY,
  size         INTEGER NOT NULL,
  content_type TEXT    NOT NULL,
  record_type  TEXT    NOT NULL,
  record_id    TEXT    NOT NULL,
  slot         TEXT    NOT NULL,
  hlc          INTEGER NOT NULL,
  state        INTEGER NOT NULL DEFAULT 0,
  upload_id    TEXT    NOT NULL DEFAULT '',
  offset_bytes INTEGER NOT NULL DEFAULT 0,
  recreated    INTEGER NOT NULL DEFAULT 0,
  failures     INTEGER NOT NULL DEFAULT 0,
  retry_at     INTEGER NOT NULL DEFAULT 0,
  error        TEXT    NOT NULL DEFAULT '',
  created_at   INTEGER NOT NULL,
  done_at      INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX photos_state ON photos (state, created_at);

-- record_photos are the states of the photos each record refers to, as the
-- server last reported them in a pull (available: stored and verified).
CREATE TABLE record_photos (
  record_id TEXT    NOT NULL,
  sha256    TEXT    NOT NULL,
  available INTEGER NOT NULL,
  PRIMARY KEY (record_id, sha256)
) WITHOUT ROWID;
