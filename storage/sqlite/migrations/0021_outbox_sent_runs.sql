-- Sent marks without rewriting the outbox rows. Before, marking an event
-- sent updated its row (≈ 590 bytes with the payload): every event's pages
-- went to the WAL twice, and three indexes changed (outbox_unsent,
-- outbox_sent, outbox_stream_seq). Now an outbox row is written once, at
-- its append, and never updated:
-- - outbox_unsent holds the seq of each event not yet acknowledged by
--   JetStream (inserted with the event, deleted when it is marked sent);
-- - outbox_sent holds the sent marks as runs: consecutive outbox seqs
--   stored in one stream at consecutive stream sequences, marked in one
--   transaction (a relay pass is usually one run per stream). Event seq s
--   of a run was stored at last_stream_seq - (last_seq - s).
-- Every event of the outbox is in exactly one of them. Pruning deletes a
-- run and the rows it covers; Resend cuts a run and puts its tail back in
-- outbox_unsent (docs/events.md, "The outbox").
DROP INDEX outbox_unsent;
DROP INDEX outbox_sent;
DROP INDEX outbox_stream_seq;

CREATE TABLE outbox_unsent (seq INTEGER PRIMARY KEY);
INSERT INTO outbox_unsent (seq) SELECT seq FROM outbox WHERE sent_at IS NULL;

CREATE TABLE outbox_sent (
  first_seq       INTEGER PRIMARY KEY, -- the run's first outbox seq
  last_seq        INTEGER NOT NULL,
  stream          TEXT,                -- NULL for events sent before 0014
  last_stream_seq INTEGER,             -- where last_seq was stored in stream
  sent_at         INTEGER NOT NULL     -- unix ms
);
-- Each event sent before this migration is a run of its own.
INSERT INTO outbox_sent (first_seq, last_seq, stream, last_stream_seq, sent_at)
  SELECT seq, seq, stream, stream_seq, sent_at FROM outbox WHERE sent_at IS NOT NULL;
-- LastSent and Resend read a stream's runs by their last stream sequence.
CREATE INDEX outbox_sent_stream ON outbox_sent(stream, last_stream_seq);
-- Pruning finds old runs without scanning them all.
CREATE INDEX outbox_sent_at ON outbox_sent(sent_at);

ALTER TABLE outbox DROP COLUMN sent_at;
ALTER TABLE outbox DROP COLUMN stream;
ALTER TABLE outbox DROP COLUMN stream_seq;
