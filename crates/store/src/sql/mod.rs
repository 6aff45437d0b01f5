//! The SQL every engine runs, written once in the dialect SQLite and PostgreSQL share.
//!
//! This directory is not a module of its own: each backend compiles it inside itself with
//! `#[path = "../sql/mod.rs"] mod sql;`, against the names the backend defines beside it:
//!
//! - `Db`, the sqlx driver (`sqlx::Sqlite`, `sqlx::Postgres`);
//! - `SqlStore`, the backend's store type, with a `writer` and a `reader` pool and a `now_ms()`;
//! - `dialect`, the few things the engines spell differently (DDL, row locks, the migration
//!   lock).
//!
//! So the queries, the row decoding, paging and the family trait impls exist once in source
//! and are type-checked once per engine with concrete types, which keeps them free of the
//! generic `DB: Database` bounds sqlx code otherwise piles up (sqlx stamps its own per-driver
//! impls for the same reason). A backend adds only what differs: opening its pools, and in
//! `dialect` its DDL for each schema version, the lock migrations run under, and the row locks.
//!
//! The rules the shared SQL keeps, so it runs unchanged on both engines:
//! - `$n` parameters; `ON CONFLICT … DO NOTHING / DO UPDATE`, `WITH RECURSIVE`, `LIMIT`,
//!   `RETURNING`: syntax both engines share. No `INSERT OR …`, no `?`, no SQL JSON functions.
//! - Every integer column is decoded as `i64` (BIGINT on PostgreSQL), every text as `String`.
//! - JSON columns are text, read and written in Rust (`codec`), never by SQL functions.
//! - A read that guards a write inside a transaction ends with `dialect::LOCK_SHARE` or
//!   `dialect::LOCK_UPDATE`: nothing on SQLite, whose single writer already serializes
//!   writes, and `FOR SHARE` / `FOR UPDATE` on PostgreSQL, where writers run concurrently.
//!
//! Beyond the trait's documented errors: listing the members, groups, principals or policies
//! of something that does not exist is `NotFound`, and deleting a missing group is a no-op, as
//! AWS's DeleteThingGroup is.

mod codec;
mod migrate;

mod alerts;
mod catalog;
mod certificates;
mod detection;
mod keys;
mod policies;
mod profiles;
mod telemetry;
mod things;
mod violations;

pub(crate) use async_trait::async_trait;
use fleetward_proto::decode::{AwsMetric, Metric, MetricValue};
use sqlx::{Database, Row, Transaction};

pub(super) use super::{Db, SqlStore, dialect};
use crate::token;
pub(crate) use crate::traits::*;
#[allow(unused_imports)]
pub(crate) use crate::{
    AlertTarget, AlertTargetKind, ApiKey, CaCertificate, CertStatus, Certificate, CloudDatapoint,
    CustomMetric, DetectionApplied, DetectionOp, Dimension, LastReport, MetricDatum, NewAlert,
    NewAlertTarget, NewApiKey, NewCustomMetric, NewDimension, NewPolicy, NewSecurityProfile,
    NewThing, NewThingGroup, NewViolation, OutboxAlert, Page, PageRequest, Policy, SecurityProfile,
    StoreError, StoreResult, StoredBehaviorState, StoredReport, Thing, ThingGroup,
    VerificationState, Violation, ViolationEvent, ViolationEventFilter, ViolationEventType,
    is_device_metric,
};
pub(super) use migrate::{Migration, run as migrate};

/// A row of this engine.
type DbRow = <Db as Database>::Row;
/// A connection of this engine, for helpers that run inside a caller's transaction.
type DbConn = <Db as Database>::Connection;

/// Reports fetched per round trip while scanning for one metric's values.
const SCAN_CHUNK: i64 = 512;
/// Rows deleted per statement while pruning, so ingest's writes interleave with a long prune
/// instead of waiting for all of it.
const PRUNE_CHUNK: i64 = 5_000;

// --- what every backend's store does the same way -------------------------------------------

impl SqlStore {
    /// Now, by the store's clock, in epoch milliseconds: what `created_at` and `modified_at`
    /// are stamped with.
    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The store with rows stamped by `clock` instead of the system clock, so a test's manual
    /// clock reaches the rows too.
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn fleetward_core::aws::Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The schema versions applied to this database, oldest first.
    pub async fn schema_versions(&self) -> StoreResult<Vec<i64>> {
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(&self.reader)
            .await
            .map_err(db)
    }

    /// Closes the connections, waiting for them to finish. Dropping the store without it is
    /// safe, only less tidy (SQLite checkpoints its WAL into the main file on close).
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

#[async_trait]
impl LifecycleStore for SqlStore {
    async fn close(&self) {
        SqlStore::close(self).await;
    }
}

// --- helpers -----------------------------------------------------------------------------

/// Now, in epoch milliseconds: the creation and update times the store stamps rows with.
pub(super) use fleetward_core::aws::time::system_now_ms as now_ms;

/// A database failure the caller cannot act on.
pub(super) fn db(e: sqlx::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Maps a unique-constraint failure to `AlreadyExists` for `kind` `name`.
fn unique(kind: &'static str, name: &str) -> impl FnOnce(sqlx::Error) -> StoreError {
    let name = name.to_owned();
    move |e| {
        if is_unique_violation(&e) {
            StoreError::AlreadyExists { kind, name }
        } else {
            db(e)
        }
    }
}

fn not_found(kind: &'static str, name: &str) -> StoreError {
    StoreError::NotFound {
        kind,
        name: name.to_owned(),
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored {what} is unreadable: {e}"))
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("encoding JSON: {e}")))
}

/// The page size as a SQL bind: one more than the limit, to learn whether a next page exists.
fn fetch_limit(page: &PageRequest) -> i64 {
    i64::from(page.limit()) + 1
}

/// Turns `limit + 1` fetched items into a page whose token is the key of its last item.
fn paged<T>(mut items: Vec<T>, page: &PageRequest, token: impl Fn(&T) -> String) -> Page<T> {
    let limit = page.limit() as usize;
    let next_token = if items.len() > limit {
        items.truncate(limit);
        items.last().map(token)
    } else {
        None
    };
    Page { items, next_token }
}

async fn exists(
    tx: &mut Transaction<'static, Db>,
    sql: &'static str,
    key: &str,
) -> StoreResult<bool> {
    Ok(
        sqlx::query(sqlx::AssertSqlSafe(format!("{sql}{}", dialect::LOCK_SHARE)))
            .bind(key)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db)?
            .is_some(),
    )
}

const THING_EXISTS: &str = "SELECT 1 FROM things WHERE name = $1";
const GROUP_EXISTS: &str = "SELECT 1 FROM thing_groups WHERE name = $1";
const CERT_EXISTS: &str = "SELECT 1 FROM certificates WHERE id = $1";
const POLICY_EXISTS: &str = "SELECT 1 FROM policies WHERE name = $1";

/// One side of a link between two resources: what it is called in errors and how to check it
/// exists.
struct Link {
    kind: &'static str,
    exists: &'static str,
}

impl Link {
    const THING: Link = Link {
        kind: "thing",
        exists: THING_EXISTS,
    };
    const GROUP: Link = Link {
        kind: "thing group",
        exists: GROUP_EXISTS,
    };
    const CERT: Link = Link {
        kind: "certificate",
        exists: CERT_EXISTS,
    };
    const POLICY: Link = Link {
        kind: "policy",
        exists: POLICY_EXISTS,
    };
}

impl SqlStore {
    /// Links two existing resources with `insert` (idempotent), checking both exist in the same
    /// transaction so a concurrent delete cannot leave a dangling link; `NotFound` names the
    /// missing side.
    async fn link(
        &self,
        (a, a_name): (Link, &str),
        (b, b_name): (Link, &str),
        insert: &'static str,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        for (side, name) in [(&a, a_name), (&b, b_name)] {
            if !exists(&mut tx, side.exists, name).await? {
                return Err(not_found(side.kind, name));
            }
        }
        sqlx::query(insert)
            .bind(a_name)
            .bind(b_name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }
}

/// The u64 report id as SQL's signed BIGINT, bit for bit, so ids above `i64::MAX` stay
/// distinct and read back unchanged.
fn report_id_to_sql(id: u64) -> i64 {
    i64::from_ne_bytes(id.to_ne_bytes())
}

fn report_id_from_sql(id: i64) -> u64 {
    u64::from_ne_bytes(id.to_ne_bytes())
}

fn thing_from_row(row: &DbRow) -> StoreResult<Thing> {
    let attributes: String = row.try_get("attributes").map_err(db)?;
    Ok(Thing {
        name: row.try_get("name").map_err(db)?,
        attributes: serde_json::from_str(&attributes)
            .map_err(|e| corrupt("thing attributes", e))?,
        version: row.try_get("version").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

fn group_from_row(row: &DbRow) -> StoreResult<ThingGroup> {
    Ok(ThingGroup {
        name: row.try_get("name").map_err(db)?,
        parent: row.try_get("parent").map_err(db)?,
        description: row.try_get("description").map_err(db)?,
        version: row.try_get("version").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

fn status_from_row(row: &DbRow) -> StoreResult<CertStatus> {
    let status: String = row.try_get("status").map_err(db)?;
    CertStatus::parse(&status).ok_or_else(|| corrupt("certificate status", status))
}

fn cert_from_row(row: &DbRow) -> StoreResult<Certificate> {
    Ok(Certificate {
        id: row.try_get("id").map_err(db)?,
        pem: row.try_get("pem").map_err(db)?,
        status: status_from_row(row)?,
        ca_id: row.try_get("ca_id").map_err(db)?,
        subject: row.try_get("subject").map_err(db)?,
        serial: row.try_get("serial").map_err(db)?,
        not_after: row.try_get("not_after").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

fn ca_from_row(row: &DbRow) -> StoreResult<CaCertificate> {
    Ok(CaCertificate {
        id: row.try_get("id").map_err(db)?,
        pem: row.try_get("pem").map_err(db)?,
        status: status_from_row(row)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

fn policy_from_row(row: &DbRow) -> StoreResult<Policy> {
    Ok(Policy {
        name: row.try_get("name").map_err(db)?,
        document: row.try_get("document").map_err(db)?,
        version: row.try_get("version").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

fn names(rows: &[DbRow], column: &str) -> StoreResult<Vec<String>> {
    rows.iter().map(|r| r.try_get(column).map_err(db)).collect()
}

/// A report ready to bind: encoded before the transaction opens, so the write lock is held
/// only for the inserts.
struct ReportRow<'a> {
    thing: &'a str,
    report_id: i64,
    received_at: i64,
    format: &'static str,
    size: i64,
    datapoints: String,
}

/// Reports per INSERT statement. Each statement is a round trip to the connection's worker
/// thread, which costs more than SQLite's work for a row; 64 rows bind 384 parameters, far
/// below SQLite's and PostgreSQL's limits.
const REPORTS_PER_STATEMENT: usize = 64;

/// `INSERT … VALUES (…), (…) … ON CONFLICT DO NOTHING` for `rows` reports. Built from constants
/// only; the statement cache keeps one prepared statement per distinct row count.
fn insert_reports_sql(rows: usize) -> String {
    let mut sql = String::with_capacity(120 + rows * 32);
    sql.push_str(
        "INSERT INTO reports (thing, report_id, received_at, format, size, datapoints) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        let p = row * 6;
        sql.push_str(&format!(
            "(${}, ${}, ${}, ${}, ${}, ${})",
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5,
            p + 6
        ));
    }
    // Within the batch too, the first copy of a (thing, report_id) wins.
    sql.push_str(" ON CONFLICT (thing, report_id) DO NOTHING");
    sql
}

impl SqlStore {
    async fn device_values(
        &self,
        thing: &str,
        metric: &Metric,
        from_ms: i64,
        to_ms: i64,
        page: &PageRequest,
    ) -> StoreResult<Page<MetricDatum>> {
        let (mut at, mut id) = match &page.next_token {
            None => (i64::MIN, i64::MIN),
            Some(t) => {
                let parts = token::decode(t, "device-values", 2)?;
                (token::int(&parts[0])?, token::int(&parts[1])?)
            }
        };
        let want = page.limit() as usize + 1;
        let name = metric.name();
        // (value, received_at, row id) — the key continues the scan on the next page.
        let mut found: Vec<(MetricDatum, i64)> = Vec::new();
        'scan: loop {
            let rows = sqlx::query(
                "SELECT id, received_at, datapoints FROM reports
                 WHERE thing = $1 AND received_at >= $2 AND received_at < $3
                   AND (received_at > $4 OR (received_at = $4 AND id > $5))
                 ORDER BY received_at, id
                 LIMIT $6",
            )
            .bind(thing)
            .bind(from_ms)
            .bind(to_ms)
            .bind(at)
            .bind(id)
            .bind(SCAN_CHUNK)
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
            let exhausted = (rows.len() as i64) < SCAN_CHUNK;
            for row in &rows {
                at = row.try_get("received_at").map_err(db)?;
                id = row.try_get("id").map_err(db)?;
                let dps: &str = row.try_get("datapoints").map_err(db)?;
                let value = codec::extract(dps, name).map_err(|e| corrupt("report", e))?;
                if let Some(value) = value {
                    found.push((
                        MetricDatum {
                            timestamp: at,
                            value,
                            topic: None,
                        },
                        id,
                    ));
                    if found.len() == want {
                        break 'scan;
                    }
                }
            }
            if exhausted {
                break;
            }
        }
        let page = paged(found, page, |(d, id)| {
            token::encode(
                "device-values",
                &[&d.timestamp.to_string(), &id.to_string()],
            )
        });
        Ok(Page {
            items: page.items.into_iter().map(|(d, _)| d).collect(),
            next_token: page.next_token,
        })
    }

    async fn cloud_values(
        &self,
        thing: &str,
        metric: &Metric,
        from_ms: i64,
        to_ms: i64,
        page: &PageRequest,
    ) -> StoreResult<Page<MetricDatum>> {
        let (at, id) = match &page.next_token {
            None => (i64::MIN, i64::MIN),
            Some(t) => {
                let parts = token::decode(t, "cloud-values", 2)?;
                (token::int(&parts[0])?, token::int(&parts[1])?)
            }
        };
        let rows = sqlx::query(
            "SELECT id, ts, value, topic FROM cloud_datapoints
             WHERE thing = $1 AND metric = $2 AND ts >= $3 AND ts < $4
               AND (ts > $5 OR (ts = $5 AND id > $6))
             ORDER BY ts, id
             LIMIT $7",
        )
        .bind(thing)
        .bind(metric.name())
        .bind(from_ms)
        .bind(to_ms)
        .bind(at)
        .bind(id)
        .bind(fetch_limit(page))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(|row| {
                let value: &str = row.try_get("value").map_err(db)?;
                let datum = MetricDatum {
                    timestamp: row.try_get("ts").map_err(db)?,
                    value: serde_json::from_str::<MetricValue>(value)
                        .map_err(|e| corrupt("cloud datapoint", e))?,
                    topic: row.try_get("topic").map_err(db)?,
                };
                Ok((datum, row.try_get::<i64, _>("id").map_err(db)?))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let page = paged(items, page, |(d, id)| {
            token::encode("cloud-values", &[&d.timestamp.to_string(), &id.to_string()])
        });
        Ok(Page {
            items: page.items.into_iter().map(|(d, _)| d).collect(),
            next_token: page.next_token,
        })
    }

    /// Deletes rows matching `sql` (which must take the cutoff and a chunk size) a chunk at a
    /// time; each chunk is its own transaction.
    async fn prune_table(&self, sql: &'static str, before_ms: i64) -> StoreResult<u64> {
        let mut total = 0;
        loop {
            let n = sqlx::query(sql)
                .bind(before_ms)
                .bind(PRUNE_CHUNK)
                .execute(&self.writer)
                .await
                .map_err(db)?
                .rows_affected();
            total += n;
            if n < PRUNE_CHUNK as u64 {
                return Ok(total);
            }
        }
    }
}

// --- Rules Detect rows ---------------------------------------------------------------------

const ACTIVE: &str = "ACTIVE";
const ENDED: &str = "ENDED";

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

fn opt_json(what: &str, row: &DbRow, column: &str) -> StoreResult<Option<serde_json::Value>> {
    let text: Option<String> = row.try_get(column).map_err(db)?;
    text.map(|t| from_json(what, &t)).transpose()
}

fn verification_from_row(row: &DbRow) -> StoreResult<Option<VerificationState>> {
    let state: Option<String> = row.try_get("verification_state").map_err(db)?;
    state
        .map(|s| VerificationState::parse(&s).ok_or_else(|| corrupt("verification state", s)))
        .transpose()
}

fn custom_metric_from_row(row: &DbRow) -> StoreResult<CustomMetric> {
    Ok(CustomMetric {
        name: row.try_get("name").map_err(db)?,
        display_name: row.try_get("display_name").map_err(db)?,
        metric_type: row.try_get("metric_type").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        modified_at: row.try_get("modified_at").map_err(db)?,
    })
}

fn dimension_from_row(row: &DbRow) -> StoreResult<Dimension> {
    let values: String = row.try_get("string_values").map_err(db)?;
    Ok(Dimension {
        name: row.try_get("name").map_err(db)?,
        dimension_type: row.try_get("type").map_err(db)?,
        string_values: from_json("dimension values", &values)?,
        created_at: row.try_get("created_at").map_err(db)?,
        modified_at: row.try_get("modified_at").map_err(db)?,
    })
}

fn profile_from_row(row: &DbRow) -> StoreResult<SecurityProfile> {
    let behaviors: String = row.try_get("behaviors").map_err(db)?;
    let alert_targets: String = row.try_get("alert_targets").map_err(db)?;
    let additional: String = row.try_get("additional_metrics").map_err(db)?;
    Ok(SecurityProfile {
        name: row.try_get("name").map_err(db)?,
        description: row.try_get("description").map_err(db)?,
        behaviors: from_json("security profile behaviors", &behaviors)?,
        alert_targets: from_json("security profile alert targets", &alert_targets)?,
        additional_metrics: from_json("security profile additional metrics", &additional)?,
        version: row.try_get("version").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        modified_at: row.try_get("modified_at").map_err(db)?,
    })
}

const PROFILE_COLUMNS: &str = "SELECT name, description, behaviors, alert_targets, additional_metrics, version, created_at, modified_at FROM security_profiles";

fn behavior_state_from_row(row: &DbRow) -> StoreResult<StoredBehaviorState> {
    let state: String = row.try_get("state").map_err(db)?;
    Ok(StoredBehaviorState {
        thing: row.try_get("thing").map_err(db)?,
        profile: row.try_get("profile").map_err(db)?,
        behavior: row.try_get("behavior").map_err(db)?,
        state: from_json("behavior state", &state)?,
        updated_at: row.try_get("updated_at").map_err(db)?,
    })
}

const VIOLATION_COLUMNS: &str = "SELECT violation_id, thing, security_profile, behavior, metric, status, verification_state, verification_description, started_at, last_updated_at, ended_at, last_value, behavior_definition FROM violations";

fn violation_from_row(row: &DbRow) -> StoreResult<Violation> {
    Ok(Violation {
        violation_id: row.try_get("violation_id").map_err(db)?,
        thing: row.try_get("thing").map_err(db)?,
        profile: row.try_get("security_profile").map_err(db)?,
        behavior: row.try_get("behavior").map_err(db)?,
        metric: row.try_get("metric").map_err(db)?,
        behavior_definition: opt_json("violation behavior", row, "behavior_definition")?
            .unwrap_or(serde_json::Value::Null),
        last_value: opt_json("violation value", row, "last_value")?,
        started_at: row.try_get("started_at").map_err(db)?,
        last_at: row.try_get("last_updated_at").map_err(db)?,
        ended_at: row.try_get("ended_at").map_err(db)?,
        verification_state: verification_from_row(row)?,
        verification_description: row.try_get("verification_description").map_err(db)?,
    })
}

fn violation_event_from_row(row: &DbRow) -> StoreResult<ViolationEvent> {
    let event_type: String = row.try_get("event_type").map_err(db)?;
    Ok(ViolationEvent {
        violation_id: row.try_get("violation_id").map_err(db)?,
        thing: row.try_get("thing").map_err(db)?,
        profile: row.try_get("security_profile").map_err(db)?,
        behavior: row.try_get("behavior").map_err(db)?,
        behavior_definition: opt_json("violation event behavior", row, "behavior_definition")?,
        event_type: ViolationEventType::parse(&event_type)
            .ok_or_else(|| corrupt("violation event type", event_type))?,
        event_time: row.try_get("event_time").map_err(db)?,
        value: opt_json("violation event value", row, "value")?,
        verification_state: verification_from_row(row)?,
        verification_description: row.try_get("verification_description").map_err(db)?,
    })
}

const INSERT_VIOLATION_EVENT: &str = "INSERT INTO violation_events (violation_id, thing, security_profile, behavior, event_type, event_time, value, verification_state, verification_description, behavior_definition) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

// --- detection writes, shared by the single-operation methods and `apply_detection` -------

/// Opens or refreshes an active violation; `false` when it exists but has ended.
async fn upsert_violation_in(conn: &mut DbConn, v: &NewViolation) -> StoreResult<bool> {
    let definition = json(&v.behavior_definition)?;
    let last_value = v.last_value.as_ref().map(json).transpose()?;
    let n = sqlx::query(
        "INSERT INTO violations (violation_id, thing, security_profile, behavior, metric,
             status, started_at, last_updated_at, last_value, behavior_definition)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (violation_id) DO UPDATE SET
             metric = excluded.metric,
             last_updated_at = excluded.last_updated_at,
             last_value = excluded.last_value,
             behavior_definition = excluded.behavior_definition
         WHERE violations.status = $6",
    )
    .bind(&v.violation_id)
    .bind(&v.thing)
    .bind(&v.profile)
    .bind(&v.behavior)
    .bind(&v.metric)
    .bind(ACTIVE)
    .bind(v.started_at)
    .bind(v.last_at)
    .bind(last_value)
    .bind(definition)
    .execute(&mut *conn)
    .await
    .map_err(db)?
    .rows_affected();
    Ok(n > 0)
}

/// Ends an active violation and records the event; `false` when it is not active.
async fn close_violation_in(
    conn: &mut DbConn,
    violation_id: &str,
    event_type: ViolationEventType,
    at_ms: i64,
    value: Option<&serde_json::Value>,
) -> StoreResult<bool> {
    let value = value.map(json).transpose()?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{VIOLATION_COLUMNS} WHERE violation_id = $1 AND status = $2{}",
        dialect::LOCK_UPDATE
    )))
    .bind(violation_id)
    .bind(ACTIVE)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    let Some(row) = row else {
        return Ok(false);
    };
    let v = violation_from_row(&row)?;
    sqlx::query(
        "UPDATE violations SET status = $1, ended_at = $2, last_updated_at = $2
         WHERE violation_id = $3",
    )
    .bind(ENDED)
    .bind(at_ms)
    .bind(violation_id)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    sqlx::query(INSERT_VIOLATION_EVENT)
        .bind(&v.violation_id)
        .bind(&v.thing)
        .bind(&v.profile)
        .bind(&v.behavior)
        .bind(event_type.as_str())
        .bind(at_ms)
        .bind(value)
        .bind(v.verification_state.map(VerificationState::as_str))
        .bind(&v.verification_description)
        .bind(json(&v.behavior_definition)?)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(true)
}

async fn insert_event_in(conn: &mut DbConn, event: &ViolationEvent) -> StoreResult<()> {
    let value = event.value.as_ref().map(json).transpose()?;
    let definition = event.behavior_definition.as_ref().map(json).transpose()?;
    sqlx::query(INSERT_VIOLATION_EVENT)
        .bind(&event.violation_id)
        .bind(&event.thing)
        .bind(&event.profile)
        .bind(&event.behavior)
        .bind(event.event_type.as_str())
        .bind(event.event_time)
        .bind(value)
        .bind(event.verification_state.map(VerificationState::as_str))
        .bind(&event.verification_description)
        .bind(definition)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(())
}

async fn upsert_state_in(conn: &mut DbConn, s: &StoredBehaviorState) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO behavior_states (thing, profile, behavior, state, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (thing, profile, behavior)
         DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
    )
    .bind(&s.thing)
    .bind(&s.profile)
    .bind(&s.behavior)
    .bind(json(&s.state)?)
    .bind(s.updated_at)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

async fn delete_state_in(
    conn: &mut DbConn,
    thing: &str,
    profile: &str,
    behavior: &str,
) -> StoreResult<u64> {
    Ok(sqlx::query(
        "DELETE FROM behavior_states WHERE thing = $1 AND profile = $2 AND behavior = $3",
    )
    .bind(thing)
    .bind(profile)
    .bind(behavior)
    .execute(&mut *conn)
    .await
    .map_err(db)?
    .rows_affected())
}

/// Enqueues one alert; 0 when its idempotency key is already in the outbox.
async fn enqueue_alert_in(conn: &mut DbConn, a: &NewAlert, now_ms: i64) -> StoreResult<u64> {
    Ok(sqlx::query(
        "INSERT INTO alert_outbox
             (target, idempotency_key, body, attempts, next_attempt_at, created_at)
         VALUES ($1, $2, $3, 0, $4, $4)
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(&a.target)
    .bind(&a.idempotency_key)
    .bind(&a.body)
    .bind(now_ms)
    .execute(&mut *conn)
    .await
    .map_err(db)?
    .rows_affected())
}

/// `Conflict` unless `current` is the `expected` version (when one is expected).
fn check_version(name: &str, current: i64, expected: Option<i64>) -> StoreResult<()> {
    match expected {
        Some(want) if want != current => Err(StoreError::Conflict(format!(
            "security profile '{name}' is at version {current}, not the expected version {want}"
        ))),
        _ => Ok(()),
    }
}

fn api_key_from_row(row: &DbRow) -> StoreResult<ApiKey> {
    let disabled: i64 = row.try_get("disabled").map_err(db)?;
    Ok(ApiKey {
        access_key_id: row.try_get("access_key_id").map_err(db)?,
        secret: row.try_get("secret").map_err(db)?,
        name: row.try_get("name").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        last_used_at: row.try_get("last_used_at").map_err(db)?,
        disabled: disabled != 0,
    })
}

fn alert_target_from_row(row: &DbRow) -> StoreResult<AlertTarget> {
    let kind: String = row.try_get("kind").map_err(db)?;
    Ok(AlertTarget {
        name: row.try_get("name").map_err(db)?,
        kind: AlertTargetKind::parse(&kind).ok_or_else(|| corrupt("alert target kind", &kind))?,
        url: row.try_get("url").map_err(db)?,
        secret: row.try_get("secret").map_err(db)?,
        topic: row.try_get("topic").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}
