-- Rating links (R10). rating_secrets holds the key every node signs and
-- checks rating tokens with: one row, made by the first node that needs it,
-- so nodes sharing the database agree. rating_tokens holds one row per
-- issued link, keyed by the SHA-256 of the token (the token itself is never
-- stored); used_time is set in the transaction that writes the rating.
CREATE TABLE rating_secrets (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  secret       BLOB    NOT NULL,
  created_time INTEGER NOT NULL
);

CREATE TABLE rating_tokens (
  token_hash   BLOB    PRIMARY KEY,
  tenant_id    TEXT    NOT NULL REFERENCES tenants(id),
  quote_id     TEXT    NOT NULL,
  created_by   TEXT    NOT NULL,
  created_time INTEGER NOT NULL,
  expire_time  INTEGER NOT NULL,
  used_time    INTEGER
) WITHOUT ROWID;
