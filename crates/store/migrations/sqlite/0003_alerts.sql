-- Fleetward schema, version 3: alert targets and the alert outbox.
--
-- Same rules as versions 1 and 2: SQL that SQLite and PostgreSQL share, times in epoch
-- milliseconds.

-- Named alert targets. A profile's alertTargets.SNS.alertTargetArn names one by its last
-- segment.
CREATE TABLE alert_targets (
    name        TEXT    NOT NULL PRIMARY KEY,
    -- webhook, mqtt or log
    kind        TEXT    NOT NULL,
    -- webhook: where to POST, and the HMAC key
    url         TEXT,
    secret      TEXT,
    -- mqtt: the topic to publish on
    topic       TEXT,
    created_at  BIGINT  NOT NULL
);

-- Alerts waiting for (or done with) delivery: at-least-once, retried with backoff, kept across
-- restarts. The idempotency key makes enqueueing the same alert twice a no-op and is sent to
-- the receiver so it can drop duplicates.
CREATE TABLE alert_outbox (
    id              INTEGER NOT NULL PRIMARY KEY,
    target          TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL UNIQUE,
    body            TEXT    NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at BIGINT  NOT NULL,
    created_at      BIGINT  NOT NULL,
    delivered_at    BIGINT,
    last_error      TEXT
);
CREATE INDEX alert_outbox_due ON alert_outbox (delivered_at, next_attempt_at);
