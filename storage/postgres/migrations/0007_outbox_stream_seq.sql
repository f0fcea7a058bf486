-- Where JetStream stored each sent event (sqlite 0014): the relay records
-- the stream and the stream sequence from the acknowledgement when it marks
-- the event sent. When a stream comes back from a crash shorter than
-- recorded (its unsynced tail lost), the relay makes the events recorded
-- above the stream's last sequence unsent again and republishes them
-- (docs/events.md, "Durability").
ALTER TABLE outbox ADD COLUMN stream TEXT;
ALTER TABLE outbox ADD COLUMN stream_seq BIGINT;
CREATE INDEX outbox_stream_seq ON outbox(stream, stream_seq) WHERE stream_seq IS NOT NULL;
