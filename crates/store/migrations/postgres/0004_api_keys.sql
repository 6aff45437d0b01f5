-- Fleetward schema, version 4: access keys for the AWS-compatible HTTP API.
--
-- PostgreSQL's DDL for the same schema version as ../sqlite/0004_api_keys.sql. It differs only
-- where the engines must: BIGINT for every integer (the shared SQL decodes them as i64), an
-- identity column for the auto-increment key, and COLLATE "C" on text, so names sort and page
-- bytewise as they do on SQLite whatever the database's locale.

-- SigV4 access keys. The secret is kept as issued: SigV4 verification recomputes the
-- signature with it, so it cannot be stored as a one-way hash.
CREATE TABLE api_keys (
    access_key_id TEXT COLLATE "C"    NOT NULL PRIMARY KEY,
    secret        TEXT COLLATE "C"    NOT NULL,
    name          TEXT COLLATE "C"    NOT NULL,
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT,
    -- 0 or 1, as on SQLite
    disabled      BIGINT  NOT NULL DEFAULT 0
);
