//! User-defined custom metrics: a command's output or a file's content, typed by the config.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::CustomValue;

/// Most bytes read from a command or file: a metric value is small, a runaway command is not.
pub const MAX_OUTPUT: usize = 64 * 1024;

/// The AWS custom metric type a value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricType {
    /// One finite number.
    Number,
    /// Numbers separated by whitespace or commas.
    NumberList,
    /// One string per non-empty line.
    StringList,
    /// IP addresses separated by whitespace or commas.
    IpList,
}

/// Where a user metric's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserSource {
    /// Run a program (no shell) and read its standard output.
    Command {
        /// Program and arguments.
        argv: Vec<String>,
        /// How long it may run before it is killed.
        timeout: Duration,
    },
    /// Read a file.
    File(PathBuf),
}

/// A validated user metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMetric {
    /// The registered custom metric name.
    pub name: String,
    /// Its type.
    pub kind: MetricType,
    /// Its source.
    pub source: UserSource,
}

fn items(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
}

/// Types `text` as `kind`; the error says which part failed.
pub fn parse_value(text: &str, kind: MetricType) -> Result<CustomValue, String> {
    let number = |s: &str| -> Result<f64, String> {
        match s.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(n),
            _ => Err(format!("{s:?} is not a finite number")),
        }
    };
    match kind {
        MetricType::Number => {
            let mut it = items(text);
            match (it.next(), it.next()) {
                (Some(one), None) => number(one).map(CustomValue::Number),
                (None, _) => Err("empty output, expected one number".to_owned()),
                (Some(_), Some(_)) => Err("more than one value, expected one number".to_owned()),
            }
        }
        MetricType::NumberList => items(text)
            .map(number)
            .collect::<Result<_, _>>()
            .map(CustomValue::NumberList),
        MetricType::StringList => Ok(CustomValue::StringList(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
        )),
        MetricType::IpList => items(text)
            .map(|s| {
                s.parse::<IpAddr>()
                    .map_err(|_| format!("{s:?} is not an IP address"))
            })
            .collect::<Result<_, _>>()
            .map(CustomValue::IpList),
    }
}

/// Reads and types one user metric; the error is a sentence for the log.
pub async fn read(metric: &UserMetric) -> Result<CustomValue, String> {
    let text = match &metric.source {
        UserSource::File(path) => read_file(path).await?,
        UserSource::Command { argv, timeout } => run(argv, *timeout).await?,
    };
    parse_value(&text, metric.kind)
}

async fn read_file(path: &std::path::Path) -> Result<String, String> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut buf = Vec::new();
    file.take(MAX_OUTPUT as u64)
        .read_to_end(&mut buf)
        .await
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

async fn run(argv: &[String], timeout: Duration) -> Result<String, String> {
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let work = async {
        let mut buf = Vec::new();
        (&mut stdout)
            .take(MAX_OUTPUT as u64)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| format!("reading the output of {program}: {e}"))?;
        let status = child
            .wait()
            .await
            .map_err(|e| format!("waiting for {program}: {e}"))?;
        if !status.success() {
            return Err(format!("{program} failed: {status}"));
        }
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        // Dropping the future drops `child`, and kill_on_drop kills it.
        Err(_) => Err(format!(
            "{program} did not finish within {} s and was killed",
            timeout.as_secs_f64()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_values() {
        assert_eq!(
            parse_value(" 42.5\n", MetricType::Number),
            Ok(CustomValue::Number(42.5))
        );
        assert!(parse_value("", MetricType::Number).is_err());
        assert!(parse_value("1 2", MetricType::Number).is_err());
        assert!(parse_value("inf", MetricType::Number).is_err());
        assert!(parse_value("NaN", MetricType::Number).is_err());
        assert_eq!(
            parse_value("1, 2\n3", MetricType::NumberList),
            Ok(CustomValue::NumberList(vec![1.0, 2.0, 3.0]))
        );
        assert!(parse_value("1 two", MetricType::NumberList).is_err());
        assert_eq!(
            parse_value("a b\n\n c \n", MetricType::StringList),
            Ok(CustomValue::StringList(vec!["a b".into(), "c".into()]))
        );
        assert_eq!(
            parse_value("10.0.0.1,::1", MetricType::IpList),
            Ok(CustomValue::IpList(vec![
                "10.0.0.1".parse().unwrap(),
                "::1".parse().unwrap()
            ]))
        );
        assert!(parse_value("10.0.0.0/8", MetricType::IpList).is_err());
    }

    fn cmd(argv: &[&str], secs: u64, kind: MetricType) -> UserMetric {
        UserMetric {
            name: "m".into(),
            kind,
            source: UserSource::Command {
                argv: argv.iter().map(|s| s.to_string()).collect(),
                timeout: Duration::from_secs(secs),
            },
        }
    }

    #[tokio::test]
    async fn commands_files_and_timeouts() {
        let ok = cmd(&["/bin/echo", "7"], 5, MetricType::Number);
        assert_eq!(read(&ok).await, Ok(CustomValue::Number(7.0)));

        let slow = cmd(&["/bin/sleep", "5"], 1, MetricType::Number);
        let started = std::time::Instant::now();
        let err = read(&slow).await.unwrap_err();
        assert!(err.contains("did not finish"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(4));

        let failing = cmd(&["/bin/false"], 5, MetricType::Number);
        assert!(read(&failing).await.unwrap_err().contains("failed"));

        let missing = cmd(&["/nonexistent/prog"], 5, MetricType::Number);
        assert!(read(&missing).await.unwrap_err().contains("cannot run"));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        std::fs::write(&path, "eth0\nwlan0\n").unwrap();
        let file = UserMetric {
            name: "f".into(),
            kind: MetricType::StringList,
            source: UserSource::File(path),
        };
        assert_eq!(
            read(&file).await,
            Ok(CustomValue::StringList(vec!["eth0".into(), "wlan0".into()]))
        );
    }
}
