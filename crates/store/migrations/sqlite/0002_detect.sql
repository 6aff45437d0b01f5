-- Fleetward schema, version 2: Rules Detect.
--
-- Same rules as version 1: SQL that SQLite and PostgreSQL share, times in epoch milliseconds,
-- structured values as JSON text read and written by the application.

CREATE TABLE custom_metrics (
    name         TEXT    NOT NULL PRIMARY KEY,
    display_name TEXT,
    -- string-list, ip-address-list, number-list, number
    metric_type  TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    modified_at  BIGINT  NOT NULL
);

CREATE TABLE dimensions (
    name          TEXT    NOT NULL PRIMARY KEY,
    -- TOPIC_FILTER
    type          TEXT    NOT NULL,
    -- JSON array of strings
    string_values TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    modified_at   BIGINT  NOT NULL
);

CREATE TABLE security_profiles (
    name               TEXT    NOT NULL PRIMARY KEY,
    description        TEXT,
    -- JSON: the AWS Behavior list, alertTargets map and additionalMetricsToRetainV2 list.
    behaviors          TEXT    NOT NULL,
    alert_targets      TEXT    NOT NULL,
    additional_metrics TEXT    NOT NULL,
    version            INTEGER NOT NULL,
    created_at         BIGINT  NOT NULL,
    modified_at        BIGINT  NOT NULL
);

CREATE TABLE security_profile_targets (
    profile     TEXT    NOT NULL REFERENCES security_profiles (name) ON DELETE CASCADE,
    -- A thing group ARN, or the all-things ARN.
    target_arn  TEXT    NOT NULL,
    PRIMARY KEY (profile, target_arn)
);
CREATE INDEX security_profile_targets_target ON security_profile_targets (target_arn, profile);

-- The detection engine's per-(thing, profile, behavior) state, so alarms survive restarts.
CREATE TABLE behavior_states (
    thing       TEXT    NOT NULL,
    profile     TEXT    NOT NULL,
    behavior    TEXT    NOT NULL,
    -- BehaviorState JSON
    state       TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (thing, profile, behavior)
);
CREATE INDEX behavior_states_profile ON behavior_states (profile, thing, behavior);

-- violations (version 1) already has every column Rules Detect needs. Events gain the behavior
-- definition as evaluated and the violation's verification description.
ALTER TABLE violation_events ADD COLUMN behavior_definition TEXT;
ALTER TABLE violation_events ADD COLUMN verification_description TEXT;
CREATE INDEX violation_events_violation ON violation_events (violation_id);
CREATE INDEX violations_ended ON violations (status, ended_at);
