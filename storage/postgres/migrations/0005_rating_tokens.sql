-- Rating links (R10; sqlite 0013). rating_secrets holds the key every node
-- signs and checks rating tokens with: one row, made by the first node that
-- needs it. rating_tokens holds one row per issued link, keyed by the
-- SHA-256 of the token (the token itself is never stored); used_time is set
-- in the transaction that writes the rating.
CREATE TABLE rating_secrets (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  secret       BYTEA   NOT NULL,
  created_time BIGINT  NOT NULL
);

CREATE TABLE rating_tokens (
  token_hash   BYTEA   PRIMARY KEY,
  tenant_id    TEXT    NOT NULL REFERENCES tenants(id),
  quote_id     TEXT    NOT NULL,
  created_by   TEXT    NOT NULL,
  created_time BIGINT  NOT NULL,
  expire_time  BIGINT  NOT NULL,
  used_time    BIGINT
);
