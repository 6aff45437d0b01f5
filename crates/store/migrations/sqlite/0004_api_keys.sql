-- Fleetward schema, version 4: access keys for the AWS-compatible HTTP API.
--
-- Same rules as the earlier versions: SQL that SQLite and PostgreSQL share, times in epoch
-- milliseconds.

-- SigV4 access keys. The secret is kept as issued: SigV4 verification recomputes the
-- signature with it, so it cannot be stored as a one-way hash.
CREATE TABLE api_keys (
    access_key_id TEXT    NOT NULL PRIMARY KEY,
    secret        TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT,
    -- 0 or 1
    disabled      INTEGER NOT NULL DEFAULT 0
);
