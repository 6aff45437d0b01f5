//! `fleetward metrics get`: one metric of one thing over a time range (ListMetricValues),
//! read from the data directory through [`fleetward_service::detect::list_metric_values`], the service
//! function the API's route calls.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::offline::DataDir;
use super::offline::{Failure, json};
use super::output::{self, View};
use fleetward_service::detect::{self as admin, MetricValuesQuery, Paging};
use fleetward_store::PageRequest;

#[derive(Debug, Subcommand)]
pub(super) enum MetricsCommand {
    /// The values of one metric of one thing (ListMetricValues), oldest first.
    Get {
        /// The thing.
        #[arg(long)]
        thing: String,
        /// `aws:…` (e.g. aws:all-bytes-out) or a custom metric name.
        #[arg(long)]
        metric: String,
        /// Start: RFC 3339 (2026-05-01T12:00:00Z) or epoch seconds. Default: --since ago.
        #[arg(long)]
        from: Option<String>,
        /// End (exclusive): RFC 3339 or epoch seconds. Default: now.
        #[arg(long)]
        to: Option<String>,
        /// How far back when --from is not given: a number with s, m, h or d.
        #[arg(long, default_value = "1h")]
        since: String,
        /// A TOPIC_FILTER dimension selecting cloud-side values by topic.
        #[arg(long)]
        dimension: Option<String>,
        /// IN (default) or NOT_IN, for --dimension.
        #[arg(long)]
        operator: Option<String>,
    },
}

/// `30s`, `15m`, `2h`, `7d` in milliseconds.
fn duration_ms(s: &str) -> Option<i64> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = n.parse().ok()?;
    let ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(ms)
}

fn time_ms(flag: &str, v: &str) -> Result<i64, Failure> {
    fleetward_api::params::parse_time_ms(v).ok_or_else(|| {
        Failure(
            format!("{flag} {v}: expected RFC 3339 (2026-05-01T12:00:00Z) or epoch seconds"),
            super::EXIT_USAGE,
        )
    })
}

pub(super) async fn metrics(dir: DataDir, cmd: MetricsCommand) -> ExitCode {
    let view = View::Rows {
        list: "metricDatumList",
        columns: &[("TIME", "timestamp"), ("VALUE", "value")],
    };
    let as_json = dir.json;
    output::finish(
        run(dir, cmd).await.map_err(|Failure(m, c)| (m, c)),
        as_json,
        Some(view),
    )
}

async fn run(dir: DataDir, cmd: MetricsCommand) -> Result<serde_json::Value, Failure> {
    let MetricsCommand::Get {
        thing,
        metric,
        from,
        to,
        since,
        dimension,
        operator,
    } = cmd;
    let to_ms = match &to {
        Some(t) => time_ms("--to", t)?,
        None => fleetward_core::aws::time::system_now_ms(),
    };
    let from_ms = match &from {
        Some(f) => time_ms("--from", f)?,
        None => {
            let back = duration_ms(&since).ok_or_else(|| {
                Failure(
                    format!("--since {since}: expected a number with s, m, h or d (e.g. 1h)"),
                    super::EXIT_USAGE,
                )
            })?;
            to_ms.saturating_sub(back)
        }
    };
    let ctx = super::offline::open_ctx(&dir).await?;
    let q = MetricValuesQuery {
        thing: &thing,
        metric: &metric,
        dimension: dimension.as_deref(),
        operator: operator.as_deref(),
        from_ms,
        to_ms,
    };
    let mut values = Vec::new();
    let mut paging = Paging {
        next_token: None,
        max_results: Some(PageRequest::MAX_LIMIT),
    };
    loop {
        let page = admin::list_metric_values(&ctx, &q, &paging).await?;
        values.extend(page.metric_datum_list);
        match page.next_token {
            Some(t) => paging.next_token = Some(t),
            None => break,
        }
    }
    Ok(json!({ "metricDatumList": json(&values)? }))
}

#[cfg(test)]
mod tests {
    use super::duration_ms;

    #[test]
    fn durations() {
        assert_eq!(duration_ms("90s"), Some(90_000));
        assert_eq!(duration_ms("2h"), Some(7_200_000));
        assert_eq!(duration_ms("1d"), Some(86_400_000));
        assert_eq!(duration_ms("h"), None);
        assert_eq!(duration_ms("5"), None);
        assert_eq!(duration_ms("5w"), None);
    }
}
