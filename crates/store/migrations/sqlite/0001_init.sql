-- Fleetward schema, version 1.
--
-- Kept to SQL that SQLite and PostgreSQL share, so the PostgreSQL migrations differ only where
-- the engines must (the auto-increment key). Times are epoch milliseconds (BIGINT); structured
-- values are JSON text, read and written by the application, never by SQL functions.

CREATE TABLE things (
    name        TEXT    NOT NULL PRIMARY KEY,
    attributes  TEXT    NOT NULL,
    version     BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE thing_groups (
    name        TEXT    NOT NULL PRIMARY KEY,
    -- No cascade: deleting a group that still has children is refused.
    parent      TEXT    REFERENCES thing_groups (name),
    description TEXT,
    version     BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX thing_groups_parent ON thing_groups (parent, name);

CREATE TABLE thing_group_members (
    group_name  TEXT    NOT NULL REFERENCES thing_groups (name) ON DELETE CASCADE,
    thing_name  TEXT    NOT NULL REFERENCES things (name) ON DELETE CASCADE,
    PRIMARY KEY (group_name, thing_name)
);
CREATE INDEX thing_group_members_thing ON thing_group_members (thing_name, group_name);

CREATE TABLE ca_certificates (
    id          TEXT    NOT NULL PRIMARY KEY,
    pem         TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE certificates (
    id          TEXT    NOT NULL PRIMARY KEY,
    pem         TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    ca_id       TEXT,
    subject     TEXT    NOT NULL,
    serial      TEXT    NOT NULL,
    not_after   BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    -- The TLS layer finds a connecting device's certificate by this pair.
    UNIQUE (subject, serial)
);
CREATE INDEX certificates_created ON certificates (created_at, id);

CREATE TABLE thing_principals (
    thing_name  TEXT    NOT NULL REFERENCES things (name) ON DELETE CASCADE,
    cert_id     TEXT    NOT NULL REFERENCES certificates (id) ON DELETE CASCADE,
    PRIMARY KEY (thing_name, cert_id)
);
CREATE INDEX thing_principals_cert ON thing_principals (cert_id, thing_name);

CREATE TABLE policies (
    name        TEXT    NOT NULL PRIMARY KEY,
    document    TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE policy_attachments (
    policy_name TEXT    NOT NULL REFERENCES policies (name) ON DELETE CASCADE,
    cert_id     TEXT    NOT NULL REFERENCES certificates (id) ON DELETE CASCADE,
    PRIMARY KEY (cert_id, policy_name)
);

-- One row per accepted report. No foreign key to things: a report outlives its thing until
-- retention removes it, and ingest must never fail on a registry race.
CREATE TABLE reports (
    -- INTEGER PRIMARY KEY is SQLite's auto-increment row id; PostgreSQL uses BIGSERIAL.
    id          INTEGER PRIMARY KEY,
    thing       TEXT    NOT NULL,
    -- The u64 report id, stored bit-for-bit as a signed 64-bit integer.
    report_id   BIGINT  NOT NULL,
    received_at BIGINT  NOT NULL,
    format      TEXT    NOT NULL,
    size        BIGINT  NOT NULL,
    -- {"metric name": MetricValue, ...}
    datapoints  TEXT    NOT NULL,
    UNIQUE (thing, report_id)
);
CREATE INDEX reports_thing_received ON reports (thing, received_at);
-- Retention deletes by age across all things.
CREATE INDEX reports_received ON reports (received_at);

CREATE TABLE cloud_datapoints (
    id          INTEGER PRIMARY KEY,
    thing       TEXT    NOT NULL,
    metric      TEXT    NOT NULL,
    ts          BIGINT  NOT NULL,
    -- MetricValue JSON
    value       TEXT    NOT NULL,
    topic       TEXT
);
CREATE INDEX cloud_datapoints_thing_metric_ts ON cloud_datapoints (thing, metric, ts);
CREATE INDEX cloud_datapoints_ts ON cloud_datapoints (ts);

-- Rules Detect (not used yet): one row per active or recently ended violation.
CREATE TABLE violations (
    violation_id     TEXT    NOT NULL PRIMARY KEY,
    thing            TEXT    NOT NULL,
    security_profile TEXT    NOT NULL,
    behavior         TEXT    NOT NULL,
    metric           TEXT,
    -- ACTIVE, ENDED, ...
    status           TEXT    NOT NULL,
    verification_state TEXT,
    verification_description TEXT,
    started_at       BIGINT  NOT NULL,
    last_updated_at  BIGINT  NOT NULL,
    ended_at         BIGINT,
    -- MetricValue JSON of the value that last breached the behavior.
    last_value       TEXT,
    -- The behavior definition as evaluated, JSON, so history survives profile edits.
    behavior_definition TEXT
);
CREATE INDEX violations_thing ON violations (thing, status);
CREATE INDEX violations_profile ON violations (security_profile, status);

-- Rules Detect (not used yet): ListViolationEvents.
CREATE TABLE violation_events (
    id               INTEGER PRIMARY KEY,
    violation_id     TEXT    NOT NULL,
    thing            TEXT    NOT NULL,
    security_profile TEXT    NOT NULL,
    behavior         TEXT    NOT NULL,
    -- in-alarm, alarm-cleared, alarm-invalidated, verification-state-changed
    event_type       TEXT    NOT NULL,
    event_time       BIGINT  NOT NULL,
    value            TEXT,
    verification_state TEXT
);
CREATE INDEX violation_events_time ON violation_events (event_time);
CREATE INDEX violation_events_thing ON violation_events (thing, event_time);
CREATE INDEX violation_events_profile ON violation_events (security_profile, event_time);
