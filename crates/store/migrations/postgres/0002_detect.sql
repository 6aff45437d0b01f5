-- Fleetward schema, version 2: Rules Detect.
--
-- PostgreSQL's DDL for the same schema version as ../sqlite/0002_detect.sql. It differs only
-- where the engines must: BIGINT for every integer (the shared SQL decodes them as i64), an
-- identity column for the auto-increment key, and COLLATE "C" on text, so names sort and page
-- bytewise as they do on SQLite whatever the database's locale.

CREATE TABLE custom_metrics (
    name         TEXT COLLATE "C"    NOT NULL PRIMARY KEY,
    display_name TEXT COLLATE "C",
    -- string-list, ip-address-list, number-list, number
    metric_type  TEXT COLLATE "C"    NOT NULL,
    created_at   BIGINT  NOT NULL,
    modified_at  BIGINT  NOT NULL
);

CREATE TABLE dimensions (
    name          TEXT COLLATE "C"    NOT NULL PRIMARY KEY,
    -- TOPIC_FILTER
    type          TEXT COLLATE "C"    NOT NULL,
    -- JSON array of strings
    string_values TEXT COLLATE "C"    NOT NULL,
    created_at    BIGINT  NOT NULL,
    modified_at   BIGINT  NOT NULL
);

CREATE TABLE security_profiles (
    name               TEXT COLLATE "C"    NOT NULL PRIMARY KEY,
    description        TEXT COLLATE "C",
    -- JSON: the AWS Behavior list, alertTargets map and additionalMetricsToRetainV2 list.
    behaviors          TEXT COLLATE "C"    NOT NULL,
    alert_targets      TEXT COLLATE "C"    NOT NULL,
    additional_metrics TEXT COLLATE "C"    NOT NULL,
    version            BIGINT  NOT NULL,
    created_at         BIGINT  NOT NULL,
    modified_at        BIGINT  NOT NULL
);

CREATE TABLE security_profile_targets (
    profile     TEXT COLLATE "C"    NOT NULL REFERENCES security_profiles (name) ON DELETE CASCADE,
    -- A thing group ARN, or the all-things ARN.
    target_arn  TEXT COLLATE "C"    NOT NULL,
    PRIMARY KEY (profile, target_arn)
);
CREATE INDEX security_profile_targets_target ON security_profile_targets (target_arn, profile);

-- The detection engine's per-(thing, profile, behavior) state, so alarms survive restarts.
CREATE TABLE behavior_states (
    thing       TEXT COLLATE "C"    NOT NULL,
    profile     TEXT COLLATE "C"    NOT NULL,
    behavior    TEXT COLLATE "C"    NOT NULL,
    -- BehaviorState JSON
    state       TEXT COLLATE "C"    NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (thing, profile, behavior)
);
CREATE INDEX behavior_states_profile ON behavior_states (profile, thing, behavior);

-- violations (version 1) already has every column Rules Detect needs. Events gain the behavior
-- definition as evaluated and the violation's verification description.
ALTER TABLE violation_events ADD COLUMN behavior_definition TEXT COLLATE "C";
ALTER TABLE violation_events ADD COLUMN verification_description TEXT COLLATE "C";
CREATE INDEX violation_events_violation ON violation_events (violation_id);
CREATE INDEX violations_ended ON violations (status, ended_at);
