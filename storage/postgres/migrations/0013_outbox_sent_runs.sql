-- Sent marks without rewriting the outbox rows (sqlite 0021). Before,
-- marking an event sent updated its row: a new version of the whole row,
-- payload included, and new entries in every index of the table. Now an
-- outbox row is written once and never updated:
-- - outbox_unsent holds the seq of each event not yet acknowledged by
--   JetStream (inserted with the event, deleted when it is marked sent);
-- - outbox_sent holds the sent marks as runs: consecutive outbox seqs
--   stored in one stream at consecutive stream sequences, marked in one
--   transaction. Event seq s of a run was stored at
--   last_stream_seq - (last_seq - s).
-- Every event of the outbox is in exactly one of them (docs/events.md,
-- "The outbox").
DROP INDEX outbox_unsent;
DROP INDEX outbox_sent;
DROP INDEX outbox_stream_seq;

CREATE TABLE outbox_unsent (seq BIGINT PRIMARY KEY);
INSERT INTO outbox_unsent (seq) SELECT seq FROM outbox WHERE sent_at IS NULL;

CREATE TABLE outbox_sent (
  first_seq       BIGINT PRIMARY KEY, -- the run's first outbox seq
  last_seq        BIGINT NOT NULL,
  stream          TEXT,               -- NULL for events sent before 0007
  last_stream_seq BIGINT,             -- where last_seq was stored in stream
  sent_at         BIGINT NOT NULL     -- unix ms
);
-- Each event sent before this migration is a run of its own.
INSERT INTO outbox_sent (first_seq, last_seq, stream, last_stream_seq, sent_at)
  SELECT seq, seq, stream, stream_seq, sent_at FROM outbox WHERE sent_at IS NOT NULL;
CREATE INDEX outbox_sent_stream ON outbox_sent(stream, last_stream_seq);
CREATE INDEX outbox_sent_at ON outbox_sent(sent_at);

ALTER TABLE outbox DROP COLUMN sent_at, DROP COLUMN stream, DROP COLUMN stream_seq;
