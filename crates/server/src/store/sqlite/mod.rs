//! SQLite implementation of [`Store`]: the embedded default, one file, no server to run.
//!
//! Two pools share the file. All writes go through a single connection, because SQLite
//! serializes writers anyway and one writer never waits on `SQLITE_BUSY` or deadlocks on a lock
//! upgrade; checks that guard a write (does the parent exist?) run in the writer's transaction
//! and so cannot race. Reads use a few other connections, which WAL lets proceed alongside the
//! writer on the last committed snapshot.
//!
//! `synchronous=FULL` makes every commit fsync the WAL, so a report acknowledged to a device
//! survives power loss as well as a crash. That costs one fsync per transaction, which is why
//! [`Store::insert_reports`] takes a batch.
//!
//! The SQL uses `$n` parameters and only syntax PostgreSQL shares (`ON CONFLICT DO NOTHING`,
//! `WITH RECURSIVE`, `LIMIT`), so the PostgreSQL store can reuse it; JSON columns are read and
//! written in Rust, never with SQL JSON functions.
//!
//! Beyond the trait's documented errors: listing the members, groups, principals or policies
//! of something that does not exist is `NotFound`, and deleting a missing group is a no-op, as
//! AWS's DeleteThingGroup is.

mod codec;
mod migrate;
mod token;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use fleetward_proto::decode::{AwsMetric, Metric, MetricValue};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::{
    AlertTarget, AlertTargetKind, ApiKey, CaCertificate, CertStatus, Certificate, CloudDatapoint,
    CustomMetric, DetectionApplied, DetectionOp, Dimension, LastReport, MetricDatum, NewAlert,
    NewAlertTarget, NewApiKey, NewCustomMetric, NewDimension, NewPolicy, NewSecurityProfile,
    NewThing, NewThingGroup, NewViolation, OutboxAlert, Page, PageRequest, Policy, SecurityProfile,
    Store, StoreError, StoreResult, StoredBehaviorState, StoredReport, Thing, ThingGroup,
    VerificationState, Violation, ViolationEvent, ViolationEventFilter, ViolationEventType,
    is_device_metric,
};

/// How long a connection waits for another process's lock (e.g. the CLI on the same file)
/// before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read connections: enough for the API and detection to read while ingest writes.
const READERS: u32 = 4;
/// Reports fetched per round trip while scanning for one metric's values.
const SCAN_CHUNK: i64 = 512;
/// Rows deleted per statement while pruning, so ingest's writes interleave with a long prune
/// instead of waiting for all of it.
const PRUNE_CHUNK: i64 = 5_000;

/// The SQLite store. Cheap to clone: clones share the pools.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> StoreResult<SqliteStore> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // The writer connection lives as long as the store: its prepared statements stay
        // cached, and the WAL is not checkpointed and reset each time the pool goes idle.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .map_err(db)?;
        migrate::run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options)
            .await
            .map_err(db)?;
        Ok(SqliteStore { writer, reader })
    }

    /// A private in-memory database, for tests: nothing is written to disk.
    pub async fn open_in_memory() -> StoreResult<SqliteStore> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(db)?
            .foreign_keys(true);
        // Every connection to `:memory:` is a separate database, so readers and the writer
        // must be one connection, kept open for the store's life.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(db)?;
        migrate::run(&pool).await?;
        Ok(SqliteStore {
            writer: pool.clone(),
            reader: pool,
        })
    }

    /// The schema versions applied to this database, oldest first.
    pub async fn schema_versions(&self) -> StoreResult<Vec<i64>> {
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(&self.reader)
            .await
            .map_err(db)
    }

    /// Closes the connections, waiting for them to finish, so the WAL is checkpointed into the
    /// main file; dropping the store without it is safe, only less tidy.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

// --- helpers -----------------------------------------------------------------------------

/// Now, in epoch milliseconds; a clock before 1970 reads as 0.
pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

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
    tx: &mut Transaction<'static, Sqlite>,
    sql: &'static str,
    key: &str,
) -> StoreResult<bool> {
    Ok(sqlx::query(sql)
        .bind(key)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?
        .is_some())
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

impl SqliteStore {
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

fn thing_from_row(row: &SqliteRow) -> StoreResult<Thing> {
    let attributes: String = row.try_get("attributes").map_err(db)?;
    Ok(Thing {
        name: row.try_get("name").map_err(db)?,
        attributes: serde_json::from_str(&attributes)
            .map_err(|e| corrupt("thing attributes", e))?,
        version: row.try_get("version").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

fn group_from_row(row: &SqliteRow) -> StoreResult<ThingGroup> {
    Ok(ThingGroup {
        name: row.try_get("name").map_err(db)?,
        parent: row.try_get("parent").map_err(db)?,
        description: row.try_get("description").map_err(db)?,
        version: row.try_get("version").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

fn status_from_row(row: &SqliteRow) -> StoreResult<CertStatus> {
    let status: String = row.try_get("status").map_err(db)?;
    CertStatus::parse(&status).ok_or_else(|| corrupt("certificate status", status))
}

fn cert_from_row(row: &SqliteRow) -> StoreResult<Certificate> {
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

fn ca_from_row(row: &SqliteRow) -> StoreResult<CaCertificate> {
    Ok(CaCertificate {
        id: row.try_get("id").map_err(db)?,
        pem: row.try_get("pem").map_err(db)?,
        status: status_from_row(row)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

fn policy_from_row(row: &SqliteRow) -> StoreResult<Policy> {
    Ok(Policy {
        name: row.try_get("name").map_err(db)?,
        document: row.try_get("document").map_err(db)?,
        version: row.try_get("version").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

fn names(rows: &[SqliteRow], column: &str) -> StoreResult<Vec<String>> {
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

impl SqliteStore {
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

fn opt_json(what: &str, row: &SqliteRow, column: &str) -> StoreResult<Option<serde_json::Value>> {
    let text: Option<String> = row.try_get(column).map_err(db)?;
    text.map(|t| from_json(what, &t)).transpose()
}

fn verification_from_row(row: &SqliteRow) -> StoreResult<Option<VerificationState>> {
    let state: Option<String> = row.try_get("verification_state").map_err(db)?;
    state
        .map(|s| VerificationState::parse(&s).ok_or_else(|| corrupt("verification state", s)))
        .transpose()
}

fn custom_metric_from_row(row: &SqliteRow) -> StoreResult<CustomMetric> {
    Ok(CustomMetric {
        name: row.try_get("name").map_err(db)?,
        display_name: row.try_get("display_name").map_err(db)?,
        metric_type: row.try_get("metric_type").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        modified_at: row.try_get("modified_at").map_err(db)?,
    })
}

fn dimension_from_row(row: &SqliteRow) -> StoreResult<Dimension> {
    let values: String = row.try_get("string_values").map_err(db)?;
    Ok(Dimension {
        name: row.try_get("name").map_err(db)?,
        dimension_type: row.try_get("type").map_err(db)?,
        string_values: from_json("dimension values", &values)?,
        created_at: row.try_get("created_at").map_err(db)?,
        modified_at: row.try_get("modified_at").map_err(db)?,
    })
}

fn profile_from_row(row: &SqliteRow) -> StoreResult<SecurityProfile> {
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

fn behavior_state_from_row(row: &SqliteRow) -> StoreResult<StoredBehaviorState> {
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

fn violation_from_row(row: &SqliteRow) -> StoreResult<Violation> {
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

fn violation_event_from_row(row: &SqliteRow) -> StoreResult<ViolationEvent> {
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
async fn upsert_violation_in(conn: &mut SqliteConnection, v: &NewViolation) -> StoreResult<bool> {
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
    conn: &mut SqliteConnection,
    violation_id: &str,
    event_type: ViolationEventType,
    at_ms: i64,
    value: Option<&serde_json::Value>,
) -> StoreResult<bool> {
    let value = value.map(json).transpose()?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{VIOLATION_COLUMNS} WHERE violation_id = $1 AND status = $2"
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

async fn insert_event_in(conn: &mut SqliteConnection, event: &ViolationEvent) -> StoreResult<()> {
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

async fn upsert_state_in(conn: &mut SqliteConnection, s: &StoredBehaviorState) -> StoreResult<()> {
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
    conn: &mut SqliteConnection,
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
async fn enqueue_alert_in(
    conn: &mut SqliteConnection,
    a: &NewAlert,
    now_ms: i64,
) -> StoreResult<u64> {
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

#[async_trait]
impl Store for SqliteStore {
    // --- things -------------------------------------------------------------------------

    async fn create_thing(&self, thing: &NewThing) -> StoreResult<Thing> {
        let created = Thing {
            name: thing.name.clone(),
            attributes: thing.attributes.clone(),
            version: 1,
            created_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO things (name, attributes, version, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&created.name)
        .bind(json(&created.attributes)?)
        .bind(created.version)
        .bind(created.created_at)
        .execute(&self.writer)
        .await
        .map_err(unique("thing", &thing.name))?;
        Ok(created)
    }

    async fn get_thing(&self, name: &str) -> StoreResult<Option<Thing>> {
        sqlx::query("SELECT name, attributes, version, created_at FROM things WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?
            .as_ref()
            .map(thing_from_row)
            .transpose()
    }

    async fn list_things(&self, page: &PageRequest) -> StoreResult<Page<Thing>> {
        let after = token::after_name(page.next_token.as_deref(), "things")?;
        let rows = sqlx::query(
            "SELECT name, attributes, version, created_at FROM things
             WHERE name > $1 ORDER BY name LIMIT $2",
        )
        .bind(after)
        .bind(fetch_limit(page))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(thing_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page, |t| token::encode("things", &[&t.name])))
    }

    async fn delete_thing(&self, name: &str) -> StoreResult<()> {
        // Memberships and principal attachments go with it by ON DELETE CASCADE.
        let n = sqlx::query("DELETE FROM things WHERE name = $1")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Err(not_found("thing", name));
        }
        Ok(())
    }

    // --- thing groups -------------------------------------------------------------------

    async fn create_group(&self, group: &NewThingGroup) -> StoreResult<ThingGroup> {
        let created = ThingGroup {
            name: group.name.clone(),
            parent: group.parent.clone(),
            description: group.description.clone(),
            version: 1,
            created_at: now_ms(),
        };
        let mut tx = self.writer.begin().await.map_err(db)?;
        if let Some(parent) = &group.parent
            && !exists(&mut tx, GROUP_EXISTS, parent).await?
        {
            return Err(not_found("thing group", parent));
        }
        sqlx::query(
            "INSERT INTO thing_groups (name, parent, description, version, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&created.name)
        .bind(&created.parent)
        .bind(&created.description)
        .bind(created.version)
        .bind(created.created_at)
        .execute(&mut *tx)
        .await
        .map_err(unique("thing group", &group.name))?;
        tx.commit().await.map_err(db)?;
        Ok(created)
    }

    async fn get_group(&self, name: &str) -> StoreResult<Option<ThingGroup>> {
        sqlx::query(
            "SELECT name, parent, description, version, created_at FROM thing_groups
             WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .as_ref()
        .map(group_from_row)
        .transpose()
    }

    async fn list_groups(
        &self,
        parent: Option<&str>,
        page: &PageRequest,
    ) -> StoreResult<Page<ThingGroup>> {
        let after = token::after_name(page.next_token.as_deref(), "groups")?;
        let rows = match parent {
            None => {
                sqlx::query(
                    "SELECT name, parent, description, version, created_at FROM thing_groups
                     WHERE name > $1 ORDER BY name LIMIT $2",
                )
                .bind(after)
                .bind(fetch_limit(page))
                .fetch_all(&self.reader)
                .await
            }
            Some(parent) => {
                if self.get_group(parent).await?.is_none() {
                    return Err(not_found("thing group", parent));
                }
                sqlx::query(
                    "SELECT name, parent, description, version, created_at FROM thing_groups
                     WHERE parent = $1 AND name > $2 ORDER BY name LIMIT $3",
                )
                .bind(parent)
                .bind(after)
                .bind(fetch_limit(page))
                .fetch_all(&self.reader)
                .await
            }
        }
        .map_err(db)?;
        let items = rows
            .iter()
            .map(group_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page, |g| token::encode("groups", &[&g.name])))
    }

    async fn delete_group(&self, name: &str) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let child = sqlx::query("SELECT name FROM thing_groups WHERE parent = $1 LIMIT 1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if let Some(child) = child {
            let child: String = child.try_get("name").map_err(db)?;
            return Err(StoreError::Conflict(format!(
                "thing group '{name}' has child group '{child}'"
            )));
        }
        // Memberships go with it by ON DELETE CASCADE.
        sqlx::query("DELETE FROM thing_groups WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn add_thing_to_group(&self, group: &str, thing: &str) -> StoreResult<()> {
        self.link((Link::GROUP, group), (Link::THING, thing), "INSERT INTO thing_group_members (group_name, thing_name) VALUES ($1, $2) ON CONFLICT DO NOTHING").await
    }

    async fn remove_thing_from_group(&self, group: &str, thing: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM thing_group_members WHERE group_name = $1 AND thing_name = $2")
            .bind(group)
            .bind(thing)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn list_things_in_group(
        &self,
        group: &str,
        recursive: bool,
        page: &PageRequest,
    ) -> StoreResult<Page<String>> {
        if self.get_group(group).await?.is_none() {
            return Err(not_found("thing group", group));
        }
        let after = token::after_name(page.next_token.as_deref(), "group-things")?;
        let sql = if recursive {
            // UNION (not UNION ALL) stops at a group already visited, so even a cycle in
            // corrupted data terminates.
            "WITH RECURSIVE subtree (name) AS (
                 SELECT name FROM thing_groups WHERE name = $1
                 UNION
                 SELECT g.name FROM thing_groups g JOIN subtree s ON g.parent = s.name
             )
             SELECT DISTINCT m.thing_name FROM thing_group_members m
             WHERE m.group_name IN (SELECT name FROM subtree) AND m.thing_name > $2
             ORDER BY m.thing_name LIMIT $3"
        } else {
            "SELECT thing_name FROM thing_group_members
             WHERE group_name = $1 AND thing_name > $2
             ORDER BY thing_name LIMIT $3"
        };
        let rows = sqlx::query(sql)
            .bind(group)
            .bind(after)
            .bind(fetch_limit(page))
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        let items = names(&rows, "thing_name")?;
        Ok(paged(items, page, |t| token::encode("group-things", &[t])))
    }

    async fn groups_of_thing(&self, thing: &str) -> StoreResult<Vec<String>> {
        if self.get_thing(thing).await?.is_none() {
            return Err(not_found("thing", thing));
        }
        let rows = sqlx::query(
            "SELECT group_name FROM thing_group_members WHERE thing_name = $1 ORDER BY group_name",
        )
        .bind(thing)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        names(&rows, "group_name")
    }

    // --- certificates and CAs -----------------------------------------------------------

    async fn insert_ca(&self, ca: &CaCertificate) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO ca_certificates (id, pem, status, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&ca.id)
        .bind(&ca.pem)
        .bind(ca.status.as_str())
        .bind(ca.created_at)
        .execute(&self.writer)
        .await
        .map_err(unique("CA certificate", &ca.id))?;
        Ok(())
    }

    async fn list_cas(&self) -> StoreResult<Vec<CaCertificate>> {
        sqlx::query(
            "SELECT id, pem, status, created_at FROM ca_certificates ORDER BY created_at, id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db)?
        .iter()
        .map(ca_from_row)
        .collect()
    }

    async fn insert_certificate(&self, cert: &Certificate) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        // Checked first to say which key collides; the constraints still guard the insert.
        if exists(&mut tx, CERT_EXISTS, &cert.id).await? {
            return Err(StoreError::AlreadyExists {
                kind: "certificate",
                name: cert.id.clone(),
            });
        }
        let pair = format!("subject '{}' serial {}", cert.subject, cert.serial);
        let taken = sqlx::query("SELECT id FROM certificates WHERE subject = $1 AND serial = $2")
            .bind(&cert.subject)
            .bind(&cert.serial)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if taken.is_some() {
            return Err(StoreError::AlreadyExists {
                kind: "certificate",
                name: pair,
            });
        }
        sqlx::query(
            "INSERT INTO certificates (id, pem, status, ca_id, subject, serial, not_after, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&cert.id)
        .bind(&cert.pem)
        .bind(cert.status.as_str())
        .bind(&cert.ca_id)
        .bind(&cert.subject)
        .bind(&cert.serial)
        .bind(cert.not_after)
        .bind(cert.created_at)
        .execute(&mut *tx)
        .await
        .map_err(unique("certificate", &cert.id))?;
        tx.commit().await.map_err(db)
    }

    async fn get_certificate(&self, id: &str) -> StoreResult<Option<Certificate>> {
        sqlx::query(
            "SELECT id, pem, status, ca_id, subject, serial, not_after, created_at
             FROM certificates WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .as_ref()
        .map(cert_from_row)
        .transpose()
    }

    async fn find_certificate(
        &self,
        subject: &str,
        serial: &str,
    ) -> StoreResult<Option<Certificate>> {
        sqlx::query(
            "SELECT id, pem, status, ca_id, subject, serial, not_after, created_at
             FROM certificates WHERE subject = $1 AND serial = $2",
        )
        .bind(subject)
        .bind(serial)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .as_ref()
        .map(cert_from_row)
        .transpose()
    }

    async fn list_certificates(&self, page: &PageRequest) -> StoreResult<Page<Certificate>> {
        let rows = match &page.next_token {
            None => {
                sqlx::query(
                    "SELECT id, pem, status, ca_id, subject, serial, not_after, created_at
                     FROM certificates
                     ORDER BY created_at DESC, id DESC LIMIT $1",
                )
                .bind(fetch_limit(page))
                .fetch_all(&self.reader)
                .await
            }
            Some(t) => {
                let parts = token::decode(t, "certificates", 2)?;
                let created_at = token::int(&parts[0])?;
                sqlx::query(
                    "SELECT id, pem, status, ca_id, subject, serial, not_after, created_at
                     FROM certificates
                     WHERE created_at < $1 OR (created_at = $1 AND id < $2)
                     ORDER BY created_at DESC, id DESC LIMIT $3",
                )
                .bind(created_at)
                .bind(&parts[1])
                .bind(fetch_limit(page))
                .fetch_all(&self.reader)
                .await
            }
        }
        .map_err(db)?;
        let items = rows
            .iter()
            .map(cert_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page, |c| {
            token::encode("certificates", &[&c.created_at.to_string(), &c.id])
        }))
    }

    async fn set_certificate_status(&self, id: &str, status: CertStatus) -> StoreResult<()> {
        let n = sqlx::query("UPDATE certificates SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Err(not_found("certificate", id));
        }
        Ok(())
    }

    async fn attach_thing_principal(&self, thing: &str, cert_id: &str) -> StoreResult<()> {
        self.link((Link::THING, thing), (Link::CERT, cert_id), "INSERT INTO thing_principals (thing_name, cert_id) VALUES ($1, $2) ON CONFLICT DO NOTHING").await
    }

    async fn detach_thing_principal(&self, thing: &str, cert_id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM thing_principals WHERE thing_name = $1 AND cert_id = $2")
            .bind(thing)
            .bind(cert_id)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn thing_principals(&self, thing: &str) -> StoreResult<Vec<String>> {
        if self.get_thing(thing).await?.is_none() {
            return Err(not_found("thing", thing));
        }
        let rows = sqlx::query(
            "SELECT cert_id FROM thing_principals WHERE thing_name = $1 ORDER BY cert_id",
        )
        .bind(thing)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        names(&rows, "cert_id")
    }

    async fn principal_things(&self, cert_id: &str) -> StoreResult<Vec<String>> {
        if self.get_certificate(cert_id).await?.is_none() {
            return Err(not_found("certificate", cert_id));
        }
        let rows = sqlx::query(
            "SELECT thing_name FROM thing_principals WHERE cert_id = $1 ORDER BY thing_name",
        )
        .bind(cert_id)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        names(&rows, "thing_name")
    }

    // --- policies -----------------------------------------------------------------------

    async fn create_policy(&self, policy: &NewPolicy) -> StoreResult<Policy> {
        let created = Policy {
            name: policy.name.clone(),
            document: policy.document.clone(),
            version: "1".to_owned(),
            created_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO policies (name, document, version, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&created.name)
        .bind(&created.document)
        .bind(&created.version)
        .bind(created.created_at)
        .execute(&self.writer)
        .await
        .map_err(unique("policy", &policy.name))?;
        Ok(created)
    }

    async fn get_policy(&self, name: &str) -> StoreResult<Option<Policy>> {
        sqlx::query("SELECT name, document, version, created_at FROM policies WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?
            .as_ref()
            .map(policy_from_row)
            .transpose()
    }

    async fn list_policies(&self, page: &PageRequest) -> StoreResult<Page<Policy>> {
        let after = token::after_name(page.next_token.as_deref(), "policies")?;
        let rows = sqlx::query(
            "SELECT name, document, version, created_at FROM policies
             WHERE name > $1 ORDER BY name LIMIT $2",
        )
        .bind(after)
        .bind(fetch_limit(page))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(policy_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page, |p| {
            token::encode("policies", &[&p.name])
        }))
    }

    async fn attach_policy(&self, policy: &str, cert_id: &str) -> StoreResult<()> {
        self.link((Link::POLICY, policy), (Link::CERT, cert_id), "INSERT INTO policy_attachments (policy_name, cert_id) VALUES ($1, $2) ON CONFLICT DO NOTHING").await
    }

    async fn principal_policies(&self, cert_id: &str) -> StoreResult<Vec<Policy>> {
        if self.get_certificate(cert_id).await?.is_none() {
            return Err(not_found("certificate", cert_id));
        }
        sqlx::query(
            "SELECT p.name, p.document, p.version, p.created_at
             FROM policies p JOIN policy_attachments a ON a.policy_name = p.name
             WHERE a.cert_id = $1 ORDER BY p.name",
        )
        .bind(cert_id)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?
        .iter()
        .map(policy_from_row)
        .collect()
    }

    // --- reports and datapoints ---------------------------------------------------------

    async fn insert_reports(&self, reports: &[StoredReport]) -> StoreResult<usize> {
        if reports.is_empty() {
            return Ok(0);
        }
        let rows = reports
            .iter()
            .map(|r| {
                Ok(ReportRow {
                    thing: &r.thing,
                    report_id: report_id_to_sql(r.report_id),
                    received_at: r.received_at,
                    format: r.format.as_str(),
                    size: i64::try_from(r.size).map_err(|_| {
                        StoreError::Backend(format!("report size {} out of range", r.size))
                    })?,
                    datapoints: json(&codec::DatapointsJson(&r.datapoints))?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let mut tx = self.writer.begin().await.map_err(db)?;
        let mut inserted = 0u64;
        for chunk in rows.chunks(REPORTS_PER_STATEMENT) {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(insert_reports_sql(chunk.len())));
            for r in chunk {
                q = q
                    .bind(r.thing)
                    .bind(r.report_id)
                    .bind(r.received_at)
                    .bind(r.format)
                    .bind(r.size)
                    .bind(&r.datapoints);
            }
            inserted += q.execute(&mut *tx).await.map_err(db)?.rows_affected();
        }
        tx.commit().await.map_err(db)?;
        usize::try_from(inserted).map_err(|e| StoreError::Backend(e.to_string()))
    }

    async fn last_reports(&self) -> StoreResult<Vec<LastReport>> {
        // The inner query reads only the (thing, received_at) index. Ties on received_at
        // return several rows per thing; the highest row id (the last stored) wins.
        let rows = sqlx::query(
            "SELECT r.thing, r.report_id, r.received_at
             FROM reports r
             JOIN (SELECT thing, MAX(received_at) AS newest FROM reports GROUP BY thing) n
               ON r.thing = n.thing AND r.received_at = n.newest
             ORDER BY r.thing, r.id DESC",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let mut out: Vec<LastReport> = Vec::new();
        for row in &rows {
            let thing: String = row.try_get("thing").map_err(db)?;
            if out.last().is_some_and(|l| l.thing == thing) {
                continue;
            }
            out.push(LastReport {
                thing,
                report_id: report_id_from_sql(row.try_get("report_id").map_err(db)?),
                received_at: row.try_get("received_at").map_err(db)?,
            });
        }
        Ok(out)
    }

    async fn count_reports(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports")
            .fetch_one(&self.reader)
            .await
            .map_err(db)?;
        u64::try_from(n).map_err(|e| StoreError::Backend(e.to_string()))
    }

    async fn insert_cloud_datapoints(&self, points: &[CloudDatapoint]) -> StoreResult<()> {
        if points.is_empty() {
            return Ok(());
        }
        let values = points
            .iter()
            .map(|p| json(&p.value))
            .collect::<StoreResult<Vec<_>>>()?;
        let mut tx = self.writer.begin().await.map_err(db)?;
        for (p, value) in points.iter().zip(&values) {
            sqlx::query(
                "INSERT INTO cloud_datapoints (thing, metric, ts, value, topic)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&p.thing)
            .bind(AwsMetric::name(p.metric))
            .bind(p.timestamp)
            .bind(value)
            .bind(&p.topic)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn metric_values(
        &self,
        thing: &str,
        metric: &Metric,
        from_ms: i64,
        to_ms: i64,
        page: &PageRequest,
    ) -> StoreResult<Page<MetricDatum>> {
        if is_device_metric(metric) {
            self.device_values(thing, metric, from_ms, to_ms, page)
                .await
        } else {
            self.cloud_values(thing, metric, from_ms, to_ms, page).await
        }
    }

    async fn prune(&self, before_ms: i64) -> StoreResult<u64> {
        let reports = self
            .prune_table(
                "DELETE FROM reports WHERE id IN
                 (SELECT id FROM reports WHERE received_at < $1 LIMIT $2)",
                before_ms,
            )
            .await?;
        let cloud = self
            .prune_table(
                "DELETE FROM cloud_datapoints WHERE id IN
                 (SELECT id FROM cloud_datapoints WHERE ts < $1 LIMIT $2)",
                before_ms,
            )
            .await?;
        Ok(reports + cloud)
    }

    // --- custom metrics -----------------------------------------------------------------

    async fn create_custom_metric(&self, metric: &NewCustomMetric) -> StoreResult<CustomMetric> {
        let now = now_ms();
        let created = CustomMetric {
            name: metric.name.clone(),
            display_name: metric.display_name.clone(),
            metric_type: metric.metric_type.clone(),
            created_at: now,
            modified_at: now,
        };
        sqlx::query(
            "INSERT INTO custom_metrics (name, display_name, metric_type, created_at, modified_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&created.name)
        .bind(&created.display_name)
        .bind(&created.metric_type)
        .bind(created.created_at)
        .bind(created.modified_at)
        .execute(&self.writer)
        .await
        .map_err(unique("custom metric", &metric.name))?;
        Ok(created)
    }

    async fn get_custom_metric(&self, name: &str) -> StoreResult<Option<CustomMetric>> {
        sqlx::query(
            "SELECT name, display_name, metric_type, created_at, modified_at
             FROM custom_metrics WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .as_ref()
        .map(custom_metric_from_row)
        .transpose()
    }

    async fn list_custom_metrics(&self, page: &PageRequest) -> StoreResult<Page<CustomMetric>> {
        let after = token::after_name(page.next_token.as_deref(), "custom-metrics")?;
        let rows = sqlx::query(
            "SELECT name, display_name, metric_type, created_at, modified_at
             FROM custom_metrics WHERE name > $1 ORDER BY name LIMIT $2",
        )
        .bind(after)
        .bind(fetch_limit(page))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(custom_metric_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page, |m| {
            token::encode("custom-metrics", &[&m.name])
        }))
    }

    async fn update_custom_metric(
        &self,
        name: &str,
        display_name: Option<&str>,
    ) -> StoreResult<CustomMetric> {
        let row = sqlx::query(
            "UPDATE custom_metrics SET display_name = $1, modified_at = $2 WHERE name = $3
             RETURNING name, display_name, metric_type, created_at, modified_at",
        )
        .bind(display_name)
        .bind(now_ms())
        .bind(name)
        .fetch_optional(&self.writer)
        .await
        .map_err(db)?;
        match row {
            Some(row) => custom_metric_from_row(&row),
            None => Err(not_found("custom metric", name)),
        }
    }

    async fn delete_custom_metric(&self, name: &str) -> StoreResult<()> {
        let n = sqlx::query("DELETE FROM custom_metrics WHERE name = $1")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Err(not_found("custom metric", name));
        }
        Ok(())
    }

    // --- dimensions ---------------------------------------------------------------------

    async fn create_dimension(&self, dimension: &NewDimension) -> StoreResult<Dimension> {
        let now = now_ms();
        let created = Dimension {
            name: dimension.name.clone(),
            dimension_type: dimension.dimension_type.clone(),
            string_values: dimension.string_values.clone(),
            created_at: now,
            modified_at: now,
        };
        sqlx::query(
            "INSERT INTO dimensions (name, type, string_values, created_at, modified_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&created.name)
        .bind(&created.dimension_type)
        .bind(json(&created.string_values)?)
        .bind(created.created_at)
        .bind(created.modified_at)
        .execute(&self.writer)
        .await
        .map_err(unique("dimension", &dimension.name))?;
        Ok(created)
    }

    async fn get_dimension(&self, name: &str) -> StoreResult<Option<Dimension>> {
        sqlx::query(
            "SELECT name, type, string_values, created_at, modified_at
             FROM dimensions WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .as_ref()
        .map(dimension_from_row)
        .transpose()
    }

    async fn list_dimensions(&self, page: &PageRequest) -> StoreResult<Page<Dimension>> {
        let after = token::after_name(page.next_token.as_deref(), "dimensions")?;
        let rows = sqlx::query(
            "SELECT name, type, string_values, created_at, modified_at
             FROM dimensions WHERE name > $1 ORDER BY name LIMIT $2",
        )
        .bind(after)
        .bind(fetch_limit(page))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(dimension_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page, |d| {
            token::encode("dimensions", &[&d.name])
        }))
    }

    async fn update_dimension(
        &self,
        name: &str,
        string_values: &[String],
    ) -> StoreResult<Dimension> {
        let row = sqlx::query(
            "UPDATE dimensions SET string_values = $1, modified_at = $2 WHERE name = $3
             RETURNING name, type, string_values, created_at, modified_at",
        )
        .bind(json(string_values)?)
        .bind(now_ms())
        .bind(name)
        .fetch_optional(&self.writer)
        .await
        .map_err(db)?;
        match row {
            Some(row) => dimension_from_row(&row),
            None => Err(not_found("dimension", name)),
        }
    }

    async fn delete_dimension(&self, name: &str) -> StoreResult<()> {
        let n = sqlx::query("DELETE FROM dimensions WHERE name = $1")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Err(not_found("dimension", name));
        }
        Ok(())
    }

    // --- security profiles --------------------------------------------------------------

    async fn create_security_profile(
        &self,
        profile: &NewSecurityProfile,
    ) -> StoreResult<SecurityProfile> {
        let now = now_ms();
        let created = SecurityProfile {
            name: profile.name.clone(),
            description: profile.description.clone(),
            behaviors: profile.behaviors.clone(),
            alert_targets: profile.alert_targets.clone(),
            additional_metrics: profile.additional_metrics.clone(),
            version: 1,
            created_at: now,
            modified_at: now,
        };
        sqlx::query(
            "INSERT INTO security_profiles (name, description, behaviors, alert_targets,
                 additional_metrics, version, created_at, modified_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&created.name)
        .bind(&created.description)
        .bind(json(&created.behaviors)?)
        .bind(json(&created.alert_targets)?)
        .bind(json(&created.additional_metrics)?)
        .bind(created.version)
        .bind(created.created_at)
        .bind(created.modified_at)
        .execute(&self.writer)
        .await
        .map_err(unique("security profile", &profile.name))?;
        Ok(created)
    }

    async fn get_security_profile(&self, name: &str) -> StoreResult<Option<SecurityProfile>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{PROFILE_COLUMNS} WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .as_ref()
        .map(profile_from_row)
        .transpose()
    }

    async fn list_security_profiles(
        &self,
        page: &PageRequest,
    ) -> StoreResult<Page<SecurityProfile>> {
        let after = token::after_name(page.next_token.as_deref(), "security-profiles")?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{PROFILE_COLUMNS} WHERE name > $1 ORDER BY name LIMIT $2"
        )))
        .bind(after)
        .bind(fetch_limit(page))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(profile_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page, |p| {
            token::encode("security-profiles", &[&p.name])
        }))
    }

    async fn update_security_profile(
        &self,
        profile: &NewSecurityProfile,
        expected_version: Option<i64>,
    ) -> StoreResult<SecurityProfile> {
        let behaviors = json(&profile.behaviors)?;
        let alert_targets = json(&profile.alert_targets)?;
        let additional = json(&profile.additional_metrics)?;
        let mut tx = self.writer.begin().await.map_err(db)?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT version FROM security_profiles WHERE name = $1")
                .bind(&profile.name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        let Some(current) = current else {
            return Err(not_found("security profile", &profile.name));
        };
        check_version(&profile.name, current, expected_version)?;
        let row = sqlx::query(
            "UPDATE security_profiles SET description = $1, behaviors = $2, alert_targets = $3,
                 additional_metrics = $4, version = $5, modified_at = $6
             WHERE name = $7
             RETURNING name, description, behaviors, alert_targets, additional_metrics, version,
                 created_at, modified_at",
        )
        .bind(&profile.description)
        .bind(&behaviors)
        .bind(&alert_targets)
        .bind(&additional)
        .bind(current + 1)
        .bind(now_ms())
        .bind(&profile.name)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let updated = profile_from_row(&row)?;
        tx.commit().await.map_err(db)?;
        Ok(updated)
    }

    async fn delete_security_profile(
        &self,
        name: &str,
        expected_version: Option<i64>,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT version FROM security_profiles WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        let Some(current) = current else {
            return Err(not_found("security profile", name));
        };
        check_version(name, current, expected_version)?;
        sqlx::query("DELETE FROM behavior_states WHERE profile = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM security_profiles WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn attach_security_profile(&self, profile: &str, target_arn: &str) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        if !exists(
            &mut tx,
            "SELECT 1 FROM security_profiles WHERE name = $1",
            profile,
        )
        .await?
        {
            return Err(not_found("security profile", profile));
        }
        sqlx::query(
            "INSERT INTO security_profile_targets (profile, target_arn) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
        )
        .bind(profile)
        .bind(target_arn)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn detach_security_profile(&self, profile: &str, target_arn: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM security_profile_targets WHERE profile = $1 AND target_arn = $2")
            .bind(profile)
            .bind(target_arn)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn security_profile_targets(&self, profile: &str) -> StoreResult<Vec<String>> {
        if self.get_security_profile(profile).await?.is_none() {
            return Err(not_found("security profile", profile));
        }
        let rows = sqlx::query(
            "SELECT target_arn FROM security_profile_targets WHERE profile = $1
             ORDER BY target_arn",
        )
        .bind(profile)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        names(&rows, "target_arn")
    }

    async fn target_security_profiles(&self, target_arn: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT profile FROM security_profile_targets WHERE target_arn = $1 ORDER BY profile",
        )
        .bind(target_arn)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        names(&rows, "profile")
    }

    // --- behavior states ----------------------------------------------------------------

    async fn upsert_behavior_states(&self, states: &[StoredBehaviorState]) -> StoreResult<()> {
        if states.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await.map_err(db)?;
        for state in states {
            upsert_state_in(&mut tx, state).await?;
        }
        tx.commit().await.map_err(db)
    }

    async fn behavior_states(&self, profile: &str) -> StoreResult<Vec<StoredBehaviorState>> {
        sqlx::query(
            "SELECT thing, profile, behavior, state, updated_at FROM behavior_states
             WHERE profile = $1 ORDER BY thing, behavior",
        )
        .bind(profile)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?
        .iter()
        .map(behavior_state_from_row)
        .collect()
    }

    async fn delete_thing_behavior_states(&self, thing: &str) -> StoreResult<u64> {
        Ok(sqlx::query("DELETE FROM behavior_states WHERE thing = $1")
            .bind(thing)
            .execute(&self.writer)
            .await
            .map_err(db)?
            .rows_affected())
    }

    async fn delete_profile_behavior_states(&self, profile: &str) -> StoreResult<u64> {
        Ok(
            sqlx::query("DELETE FROM behavior_states WHERE profile = $1")
                .bind(profile)
                .execute(&self.writer)
                .await
                .map_err(db)?
                .rows_affected(),
        )
    }

    async fn apply_detection(
        &self,
        ops: &[DetectionOp],
        now_ms: i64,
    ) -> StoreResult<DetectionApplied> {
        let mut applied = DetectionApplied::default();
        if ops.is_empty() {
            return Ok(applied);
        }
        let mut tx = self.writer.begin().await.map_err(db)?;
        for op in ops {
            match op {
                DetectionOp::UpsertViolation(v) => {
                    if !upsert_violation_in(&mut tx, v).await? {
                        applied.skipped.push(format!(
                            "violation '{}' has ended; not refreshed",
                            v.violation_id
                        ));
                    }
                }
                DetectionOp::InsertEvent(e) => insert_event_in(&mut tx, e).await?,
                DetectionOp::CloseViolation {
                    violation_id,
                    event_type,
                    at_ms,
                    value,
                } => {
                    if *event_type == ViolationEventType::InAlarm
                        || !close_violation_in(
                            &mut tx,
                            violation_id,
                            *event_type,
                            *at_ms,
                            value.as_ref(),
                        )
                        .await?
                    {
                        applied.skipped.push(format!(
                            "violation '{violation_id}' is not active; not closed by {}",
                            event_type.as_str()
                        ));
                    }
                }
                DetectionOp::UpsertState(state) => upsert_state_in(&mut tx, state).await?,
                DetectionOp::DeleteState(thing, profile, behavior) => {
                    delete_state_in(&mut tx, thing, profile, behavior).await?;
                }
                DetectionOp::EnqueueAlert(a) => {
                    applied.alerts_enqueued += enqueue_alert_in(&mut tx, a, now_ms).await?;
                }
            }
        }
        tx.commit().await.map_err(db)?;
        Ok(applied)
    }

    // --- violations ---------------------------------------------------------------------

    async fn upsert_violation(&self, v: &NewViolation) -> StoreResult<()> {
        let mut conn = self.writer.acquire().await.map_err(db)?;
        if !upsert_violation_in(&mut conn, v).await? {
            return Err(StoreError::Conflict(format!(
                "violation '{}' has ended",
                v.violation_id
            )));
        }
        Ok(())
    }

    async fn get_violation(&self, violation_id: &str) -> StoreResult<Option<Violation>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{VIOLATION_COLUMNS} WHERE violation_id = $1"
        )))
        .bind(violation_id)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .as_ref()
        .map(violation_from_row)
        .transpose()
    }

    async fn close_violation(
        &self,
        violation_id: &str,
        event_type: ViolationEventType,
        at_ms: i64,
        value: Option<&serde_json::Value>,
    ) -> StoreResult<()> {
        if event_type == ViolationEventType::InAlarm {
            return Err(StoreError::Conflict(format!(
                "violation '{violation_id}' cannot be closed by an in-alarm event"
            )));
        }
        let mut tx = self.writer.begin().await.map_err(db)?;
        if !close_violation_in(&mut tx, violation_id, event_type, at_ms, value).await? {
            return Err(not_found("active violation", violation_id));
        }
        tx.commit().await.map_err(db)
    }

    async fn list_active_violations(
        &self,
        thing: Option<&str>,
        profile: Option<&str>,
        page: &PageRequest,
    ) -> StoreResult<Page<Violation>> {
        let after = token::after_name(page.next_token.as_deref(), "active-violations")?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{VIOLATION_COLUMNS}
             WHERE status = $1 AND violation_id > $2
               AND ($3 IS NULL OR thing = $3) AND ($4 IS NULL OR security_profile = $4)
             ORDER BY violation_id LIMIT $5"
        )))
        .bind(ACTIVE)
        .bind(after)
        .bind(thing)
        .bind(profile)
        .bind(fetch_limit(page))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(violation_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page, |v| {
            token::encode("active-violations", &[&v.violation_id])
        }))
    }

    async fn insert_violation_event(&self, event: &ViolationEvent) -> StoreResult<()> {
        let mut conn = self.writer.acquire().await.map_err(db)?;
        insert_event_in(&mut conn, event).await
    }

    async fn list_violation_events(
        &self,
        filter: &ViolationEventFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<ViolationEvent>> {
        let (at, id) = match &page.next_token {
            None => (i64::MIN, i64::MIN),
            Some(t) => {
                let parts = token::decode(t, "violation-events", 2)?;
                (token::int(&parts[0])?, token::int(&parts[1])?)
            }
        };
        let rows = sqlx::query(
            "SELECT id, violation_id, thing, security_profile, behavior, event_type, event_time,
                 value, verification_state, verification_description, behavior_definition
             FROM violation_events
             WHERE event_time >= $1 AND event_time < $2
               AND ($3 IS NULL OR thing = $3) AND ($4 IS NULL OR security_profile = $4)
               AND (event_time > $5 OR (event_time = $5 AND id > $6))
             ORDER BY event_time, id
             LIMIT $7",
        )
        .bind(filter.from_ms)
        .bind(filter.to_ms)
        .bind(&filter.thing)
        .bind(&filter.profile)
        .bind(at)
        .bind(id)
        .bind(fetch_limit(page))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(|row| {
                Ok((
                    violation_event_from_row(row)?,
                    row.try_get::<i64, _>("id").map_err(db)?,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let page = paged(items, page, |(e, id)| {
            token::encode(
                "violation-events",
                &[&e.event_time.to_string(), &id.to_string()],
            )
        });
        Ok(Page {
            items: page.items.into_iter().map(|(e, _)| e).collect(),
            next_token: page.next_token,
        })
    }

    async fn set_violation_verification_state(
        &self,
        violation_id: &str,
        state: VerificationState,
        description: Option<&str>,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let n = sqlx::query(
            "UPDATE violations SET verification_state = $1, verification_description = $2
             WHERE violation_id = $3",
        )
        .bind(state.as_str())
        .bind(description)
        .bind(violation_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            return Err(not_found("violation", violation_id));
        }
        sqlx::query(
            "UPDATE violation_events SET verification_state = $1, verification_description = $2
             WHERE violation_id = $3",
        )
        .bind(state.as_str())
        .bind(description)
        .bind(violation_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn prune_violations(&self, before_ms: i64) -> StoreResult<u64> {
        let events = self
            .prune_table(
                "DELETE FROM violation_events WHERE id IN
                 (SELECT id FROM violation_events WHERE event_time < $1 LIMIT $2)",
                before_ms,
            )
            .await?;
        let ended = self
            .prune_table(
                "DELETE FROM violations WHERE violation_id IN
                 (SELECT violation_id FROM violations
                  WHERE status = 'ENDED' AND ended_at < $1 LIMIT $2)",
                before_ms,
            )
            .await?;
        Ok(events + ended)
    }

    async fn prune_alerts(&self, before_ms: i64) -> StoreResult<u64> {
        self.prune_table(
            "DELETE FROM alert_outbox WHERE id IN
             (SELECT id FROM alert_outbox
              WHERE delivered_at IS NOT NULL AND delivered_at < $1 LIMIT $2)",
            before_ms,
        )
        .await
    }

    // --- alert targets and the alert outbox --------------------------------------------

    async fn create_alert_target(&self, target: &NewAlertTarget) -> StoreResult<AlertTarget> {
        let created = AlertTarget {
            name: target.name.clone(),
            kind: target.kind,
            url: target.url.clone(),
            secret: target.secret.clone(),
            topic: target.topic.clone(),
            created_at: now_ms(),
        };
        sqlx::query(
            "INSERT INTO alert_targets (name, kind, url, secret, topic, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&created.name)
        .bind(created.kind.as_str())
        .bind(&created.url)
        .bind(&created.secret)
        .bind(&created.topic)
        .bind(created.created_at)
        .execute(&self.writer)
        .await
        .map_err(unique("alert target", &target.name))?;
        Ok(created)
    }

    async fn get_alert_target(&self, name: &str) -> StoreResult<Option<AlertTarget>> {
        sqlx::query(
            "SELECT name, kind, url, secret, topic, created_at FROM alert_targets WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .as_ref()
        .map(alert_target_from_row)
        .transpose()
    }

    async fn list_alert_targets(&self, page: &PageRequest) -> StoreResult<Page<AlertTarget>> {
        let after = token::after_name(page.next_token.as_deref(), "alert-targets")?;
        let rows = sqlx::query(
            "SELECT name, kind, url, secret, topic, created_at
             FROM alert_targets WHERE name > $1 ORDER BY name LIMIT $2",
        )
        .bind(after)
        .bind(fetch_limit(page))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(alert_target_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page, |t| {
            token::encode("alert-targets", &[&t.name])
        }))
    }

    async fn delete_alert_target(&self, name: &str) -> StoreResult<()> {
        let n = sqlx::query("DELETE FROM alert_targets WHERE name = $1")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Err(not_found("alert target", name));
        }
        Ok(())
    }

    async fn enqueue_alerts(&self, alerts: &[NewAlert], now_ms: i64) -> StoreResult<u64> {
        if alerts.is_empty() {
            return Ok(0);
        }
        let mut tx = self.writer.begin().await.map_err(db)?;
        let mut added = 0;
        for a in alerts {
            added += enqueue_alert_in(&mut tx, a, now_ms).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(added)
    }

    async fn due_alerts(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<OutboxAlert>> {
        let rows = sqlx::query(
            "SELECT id, target, idempotency_key, body, attempts, next_attempt_at, created_at
             FROM alert_outbox
             WHERE delivered_at IS NULL AND next_attempt_at <= $1
             ORDER BY next_attempt_at, id LIMIT $2",
        )
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(OutboxAlert {
                    id: r.try_get("id").map_err(db)?,
                    target: r.try_get("target").map_err(db)?,
                    idempotency_key: r.try_get("idempotency_key").map_err(db)?,
                    body: r.try_get("body").map_err(db)?,
                    attempts: r.try_get("attempts").map_err(db)?,
                    next_attempt_at: r.try_get("next_attempt_at").map_err(db)?,
                    created_at: r.try_get("created_at").map_err(db)?,
                })
            })
            .collect()
    }

    async fn mark_alert_delivered(&self, id: i64, at_ms: i64) -> StoreResult<()> {
        self.mark_alerts_delivered(&[id], at_ms).await
    }

    async fn mark_alerts_delivered(&self, ids: &[i64], at_ms: i64) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await.map_err(db)?;
        for id in ids {
            sqlx::query("UPDATE alert_outbox SET delivered_at = $1 WHERE id = $2")
                .bind(at_ms)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn mark_alert_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE alert_outbox
             SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2
             WHERE id = $3",
        )
        .bind(error)
        .bind(next_attempt_at)
        .bind(id)
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn create_api_key(&self, key: &NewApiKey) -> StoreResult<ApiKey> {
        let created = ApiKey {
            access_key_id: key.access_key_id.clone(),
            secret: key.secret.clone(),
            name: key.name.clone(),
            created_at: now_ms(),
            last_used_at: None,
            disabled: false,
        };
        sqlx::query(
            "INSERT INTO api_keys (access_key_id, secret, name, created_at, disabled)
             VALUES ($1, $2, $3, $4, 0)",
        )
        .bind(&created.access_key_id)
        .bind(&created.secret)
        .bind(&created.name)
        .bind(created.created_at)
        .execute(&self.writer)
        .await
        .map_err(unique("access key", &key.access_key_id))?;
        Ok(created)
    }

    async fn get_api_key(&self, access_key_id: &str) -> StoreResult<Option<ApiKey>> {
        sqlx::query(
            "SELECT access_key_id, secret, name, created_at, last_used_at, disabled
             FROM api_keys WHERE access_key_id = $1",
        )
        .bind(access_key_id)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .as_ref()
        .map(api_key_from_row)
        .transpose()
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        sqlx::query(
            "SELECT access_key_id, secret, name, created_at, last_used_at, disabled
             FROM api_keys ORDER BY created_at, access_key_id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db)?
        .iter()
        .map(api_key_from_row)
        .collect()
    }

    async fn delete_api_key(&self, access_key_id: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM api_keys WHERE access_key_id = $1")
            .bind(access_key_id)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(not_found("access key", access_key_id));
        }
        Ok(())
    }

    async fn touch_api_key(&self, access_key_id: &str, at_ms: i64) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE access_key_id = $2")
            .bind(at_ms)
            .bind(access_key_id)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }
}

fn api_key_from_row(row: &SqliteRow) -> StoreResult<ApiKey> {
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

fn alert_target_from_row(row: &SqliteRow) -> StoreResult<AlertTarget> {
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
