//! Configuration: a TOML file, then `FLEETWARD_AGENT_*` environment variables, then flags.
//!
//! Every error names the key and what it allows, because an agent on a remote device is
//! usually configured by someone who cannot see its source.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fleetward_proto::report::is_valid_custom_metric_name;
use fleetward_proto::topic::{DEFAULT_PREFIX, is_valid_thing_name};
use fleetward_proto::{Format, KeyStyle};
use serde::{Deserialize, Serialize};

use crate::collect::user::{MetricType, UserMetric, UserSource};
use crate::collect::{BUILTIN_NAMES, Builtins, CollectOptions, MetricGroups};
use crate::report::ReportSettings;

/// AWS IoT and Greengrass refuse intervals below this (seconds).
pub const MIN_INTERVAL_SECS: u64 = 300;
/// The longest interval accepted (a day): a longer one is almost certainly a typo.
pub const MAX_INTERVAL_SECS: u64 = 86_400;
/// Prefix of the environment variables that set keys.
pub const ENV_PREFIX: &str = "FLEETWARD_AGENT_";

/// A configuration problem, naming the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key (`mqtt.port`), environment variable or file at fault.
    pub key: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Report encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FormatName {
    /// JSON.
    Json,
    /// CBOR: smaller on the wire.
    Cbor,
}

/// Report key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeysName {
    /// `listening_tcp_ports`.
    Long,
    /// `tp`.
    Short,
}

/// MQTT protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    /// MQTT 3.1.1.
    #[serde(rename = "3.1.1")]
    V311,
    /// MQTT 5.
    #[serde(rename = "5")]
    V5,
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Also warnings (rejections, skipped lines).
    Warn,
    /// Also connections and answers.
    Info,
    /// Also every report.
    Debug,
    /// Everything.
    Trace,
}

/// The MQTT connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Broker host name (the AWS IoT data endpoint, or Fleetward's).
    pub host: String,
    /// Broker port: 8883 for MQTT over TLS.
    pub port: u16,
    /// `3.1.1` or `5`.
    pub protocol: Protocol,
    /// Use TLS. Only a local test broker should run without it.
    pub tls: bool,
    /// PEM file of the CA(s) that signed the server certificate (AmazonRootCA1.pem on AWS).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub key_file: Option<PathBuf>,
    /// ALPN protocols, e.g. `["x-amzn-mqtt-ca"]` for AWS IoT on port 443.
    pub alpn: Vec<String>,
    /// MQTT client id; defaults to the thing name, which AWS IoT policies usually require.
    pub client_id: Option<String>,
    /// Topic prefix; `$aws/things/` unless the broker reserves `$` topics.
    pub topic_prefix: String,
    /// Keep-alive in seconds.
    pub keep_alive_secs: u64,
    /// Connection (TCP + TLS + CONNACK) timeout in seconds.
    pub connect_timeout_secs: u64,
    /// First reconnect delay in seconds.
    pub backoff_initial_secs: u64,
    /// Longest reconnect delay in seconds.
    pub backoff_max_secs: u64,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            host: String::new(),
            port: 8883,
            protocol: Protocol::V311,
            tls: true,
            ca_file: None,
            cert_file: None,
            key_file: None,
            alpn: Vec::new(),
            client_id: None,
            topic_prefix: DEFAULT_PREFIX.to_owned(),
            keep_alive_secs: 60,
            connect_timeout_secs: 30,
            backoff_initial_secs: 1,
            backoff_max_secs: 300,
        }
    }
}

/// A user-defined custom metric, as written in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomMetricConfig {
    /// The name registered with CreateCustomMetric.
    pub name: String,
    /// `number`, `number_list`, `string_list` or `ip_list`.
    #[serde(rename = "type")]
    pub kind: MetricType,
    /// A program and its arguments (no shell); its standard output is the value.
    pub command: Option<Vec<String>>,
    /// A file whose content is the value.
    pub file: Option<PathBuf>,
    /// Seconds a command may run.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_timeout() -> u64 {
    5
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The AWS IoT thing name.
    pub thing_name: String,
    /// Where `/proc` is (`/host_proc` in a container).
    pub proc_root: PathBuf,
    /// Seconds between reports.
    pub interval_secs: u64,
    /// Allow intervals below 300 s, for a local server only: AWS throttles them.
    pub allow_short_interval: bool,
    /// `json` or `cbor`.
    pub format: FormatName,
    /// `long` or `short`.
    pub keys: KeysName,
    /// Most entries in one list; `total` keeps the real count.
    pub max_list_len: u64,
    /// Count loopback traffic in `network_stats`.
    pub include_loopback: bool,
    /// Log verbosity.
    pub log_level: LogLevel,
    /// Standard metric groups.
    pub metrics: MetricGroups,
    /// Built-in custom metrics.
    pub builtins: Builtins,
    /// The MQTT connection.
    pub mqtt: MqttConfig,
    /// User-defined custom metrics.
    pub custom_metrics: Vec<CustomMetricConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            thing_name: String::new(),
            proc_root: PathBuf::from("/proc"),
            interval_secs: MIN_INTERVAL_SECS,
            allow_short_interval: false,
            format: FormatName::Json,
            keys: KeysName::Long,
            max_list_len: 100,
            include_loopback: false,
            log_level: LogLevel::Info,
            metrics: MetricGroups::default(),
            builtins: Builtins::default(),
            mqtt: MqttConfig::default(),
            custom_metrics: Vec::new(),
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Int,
    List,
    OneOf(&'static [&'static str]),
}

/// Every key that a flag or an environment variable can set.
const KEYS: &[(&str, Kind)] = &[
    ("thing_name", Kind::Str),
    ("proc_root", Kind::Str),
    ("interval_secs", Kind::Int),
    ("allow_short_interval", Kind::Bool),
    ("format", Kind::OneOf(&["json", "cbor"])),
    ("keys", Kind::OneOf(&["long", "short"])),
    ("max_list_len", Kind::Int),
    ("include_loopback", Kind::Bool),
    (
        "log_level",
        Kind::OneOf(&["error", "warn", "info", "debug", "trace"]),
    ),
    ("metrics.listening_tcp_ports", Kind::Bool),
    ("metrics.listening_udp_ports", Kind::Bool),
    ("metrics.tcp_connections", Kind::Bool),
    ("metrics.network_stats", Kind::Bool),
    ("builtins.cpu_usage", Kind::Bool),
    ("builtins.memory_used", Kind::Bool),
    ("builtins.uptime", Kind::Bool),
    ("builtins.process_count", Kind::Bool),
    ("builtins.interfaces", Kind::Bool),
    ("mqtt.host", Kind::Str),
    ("mqtt.port", Kind::Int),
    ("mqtt.protocol", Kind::OneOf(&["3.1.1", "5"])),
    ("mqtt.tls", Kind::Bool),
    ("mqtt.ca_file", Kind::Str),
    ("mqtt.cert_file", Kind::Str),
    ("mqtt.key_file", Kind::Str),
    ("mqtt.alpn", Kind::List),
    ("mqtt.client_id", Kind::Str),
    ("mqtt.topic_prefix", Kind::Str),
    ("mqtt.keep_alive_secs", Kind::Int),
    ("mqtt.connect_timeout_secs", Kind::Int),
    ("mqtt.backoff_initial_secs", Kind::Int),
    ("mqtt.backoff_max_secs", Kind::Int),
];

/// The environment variable for `key`: `mqtt.ca_file` -> `FLEETWARD_AGENT_MQTT_CA_FILE`.
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "_").to_uppercase())
}

/// Environment variables with the prefix that are not keys (the CLI reads these itself).
const ENV_NOT_KEYS: &[&str] = &["FLEETWARD_AGENT_CONFIG"];

fn typed(key: &str, kind: Kind, raw: &str) -> Result<toml::Value, ConfigError> {
    Ok(match kind {
        Kind::Str => toml::Value::String(raw.to_owned()),
        Kind::Bool => match raw {
            "true" | "1" | "yes" => toml::Value::Boolean(true),
            "false" | "0" | "no" => toml::Value::Boolean(false),
            _ => {
                return Err(ConfigError::new(
                    key,
                    format!("{raw:?} is not a boolean; allowed: true or false"),
                ));
            }
        },
        Kind::Int => match raw.parse::<i64>() {
            Ok(n) if n >= 0 => toml::Value::Integer(n),
            _ => {
                return Err(ConfigError::new(
                    key,
                    format!("{raw:?} is not a whole number >= 0"),
                ));
            }
        },
        Kind::List => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
        Kind::OneOf(allowed) => {
            if !allowed.contains(&raw) {
                return Err(ConfigError::new(
                    key,
                    format!("{raw:?} is not allowed; allowed: {}", allowed.join(", ")),
                ));
            }
            toml::Value::String(raw.to_owned())
        }
    })
}

fn set(table: &mut toml::Table, key: &str, raw: &str) -> Result<(), ConfigError> {
    let Some((_, kind)) = KEYS.iter().find(|(k, _)| *k == key) else {
        let known: Vec<&str> = KEYS.iter().map(|(k, _)| *k).collect();
        return Err(ConfigError::new(
            key,
            format!("unknown key; known keys: {}", known.join(", ")),
        ));
    };
    let value = typed(key, *kind, raw)?;
    let mut at = table;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            at.insert(part.to_owned(), value);
            break;
        }
        let entry = at
            .entry(part.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        at = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(ConfigError::new(key, "is not a table")),
        };
    }
    Ok(())
}

/// Builds the effective configuration: `file` (if any), then the environment, then `sets`
/// (from flags), then validates it.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    sets: &[(String, String)],
) -> Result<Config, ConfigError> {
    let base: Config = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::new(path.display().to_string(), format!("cannot read: {e}"))
            })?;
            toml::from_str(&text)
                .map_err(|e| ConfigError::new(path.display().to_string(), e.to_string()))?
        }
        None => Config::default(),
    };
    let mut table = toml::Table::try_from(&base)
        .map_err(|e| ConfigError::new("config", format!("cannot re-read the file: {e}")))?;
    let mut env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && !ENV_NOT_KEYS.contains(&k.as_str()))
        .collect();
    env.sort();
    for (name, value) in &env {
        let Some((key, _)) = KEYS.iter().find(|(k, _)| env_name(k) == *name) else {
            return Err(ConfigError::new(
                name,
                format!(
                    "unknown environment variable; known: {}",
                    KEYS.iter()
                        .map(|(k, _)| env_name(k))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        set(&mut table, key, value).map_err(|e| ConfigError::new(name, e.message))?;
    }
    for (key, value) in sets {
        set(&mut table, key, value)?;
    }
    let config: Config = table
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::new("config", e.message().to_owned()))?;
    config.validate()?;
    Ok(config)
}

impl Config {
    /// Checks everything that does not need the broker.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let min = if self.allow_short_interval {
            1
        } else {
            MIN_INTERVAL_SECS
        };
        if self.interval_secs < min || self.interval_secs > MAX_INTERVAL_SECS {
            let hint = if self.allow_short_interval {
                String::new()
            } else {
                " (AWS IoT throttles shorter intervals; set allow_short_interval = true only for a local server)".to_owned()
            };
            return Err(ConfigError::new(
                "interval_secs",
                format!(
                    "{} is out of range; allowed: {min} to {MAX_INTERVAL_SECS}{hint}",
                    self.interval_secs
                ),
            ));
        }
        if !(1..=10_000).contains(&self.max_list_len) {
            return Err(ConfigError::new(
                "max_list_len",
                format!("{} is out of range; allowed: 1 to 10000", self.max_list_len),
            ));
        }
        if !self.thing_name.is_empty() && !is_valid_thing_name(&self.thing_name) {
            return Err(ConfigError::new(
                "thing_name",
                format!(
                    "{:?} is not a thing name; allowed: 1 to 128 of letters, digits, ':', '_', '-'",
                    self.thing_name
                ),
            ));
        }
        self.validate_mqtt_shape()?;
        self.validate_custom()
    }

    fn validate_mqtt_shape(&self) -> Result<(), ConfigError> {
        let m = &self.mqtt;
        let range = |key: &str, v: u64, lo: u64, hi: u64| {
            if v < lo || v > hi {
                Err(ConfigError::new(
                    key,
                    format!("{v} is out of range; allowed: {lo} to {hi}"),
                ))
            } else {
                Ok(())
            }
        };
        range("mqtt.keep_alive_secs", m.keep_alive_secs, 5, 1200)?;
        range("mqtt.connect_timeout_secs", m.connect_timeout_secs, 1, 300)?;
        range("mqtt.backoff_initial_secs", m.backoff_initial_secs, 1, 3600)?;
        range(
            "mqtt.backoff_max_secs",
            m.backoff_max_secs,
            m.backoff_initial_secs,
            86_400,
        )?;
        if m.port == 0 {
            return Err(ConfigError::new(
                "mqtt.port",
                "0 is not a port; allowed: 1 to 65535",
            ));
        }
        let p = &m.topic_prefix;
        if p.contains(['+', '#', '\0']) || (!p.is_empty() && !p.ends_with('/')) {
            return Err(ConfigError::new(
                "mqtt.topic_prefix",
                format!(
                    "{p:?} is not a prefix; allowed: topic levels ending in '/', without '+' or '#' (default {DEFAULT_PREFIX:?})"
                ),
            ));
        }
        if m.alpn.iter().any(|a| a.is_empty() || a.len() > 255) {
            return Err(ConfigError::new(
                "mqtt.alpn",
                "protocol names must be 1 to 255 bytes",
            ));
        }
        if m.cert_file.is_some() != m.key_file.is_some() {
            return Err(ConfigError::new(
                if m.cert_file.is_some() {
                    "mqtt.key_file"
                } else {
                    "mqtt.cert_file"
                },
                "mutual TLS needs both mqtt.cert_file and mqtt.key_file",
            ));
        }
        if let Some(id) = &m.client_id
            && (id.is_empty() || id.len() > 128)
        {
            return Err(ConfigError::new(
                "mqtt.client_id",
                "allowed: 1 to 128 bytes (AWS IoT's limit)",
            ));
        }
        Ok(())
    }

    /// Checks what connecting needs: a thing name, a host and, with TLS, a CA file.
    pub fn validate_for_mqtt(&self) -> Result<(), ConfigError> {
        if self.thing_name.is_empty() {
            return Err(ConfigError::new(
                "thing_name",
                "required to connect; allowed: 1 to 128 of letters, digits, ':', '_', '-'",
            ));
        }
        if self.mqtt.host.is_empty() {
            return Err(ConfigError::new(
                "mqtt.host",
                "required to connect: the broker's host name (e.g. the AWS IoT data endpoint)",
            ));
        }
        if self.mqtt.tls && self.mqtt.ca_file.is_none() {
            return Err(ConfigError::new(
                "mqtt.ca_file",
                "required with mqtt.tls = true: a PEM file of the CA that signed the broker's certificate",
            ));
        }
        Ok(())
    }

    fn validate_custom(&self) -> Result<(), ConfigError> {
        let mut seen = BTreeSet::new();
        for (i, m) in self.custom_metrics.iter().enumerate() {
            let key = |field: &str| format!("custom_metrics[{i}].{field}");
            if !is_valid_custom_metric_name(&m.name) {
                return Err(ConfigError::new(
                    key("name"),
                    format!(
                        "{:?} is not a custom metric name; allowed: 1 to 128 of letters, digits, ':', '_', '-', not starting with aws:",
                        m.name
                    ),
                ));
            }
            if BUILTIN_NAMES.contains(&m.name.as_str()) || !seen.insert(m.name.as_str()) {
                return Err(ConfigError::new(
                    key("name"),
                    format!(
                        "{:?} is used twice (built-ins are {})",
                        m.name,
                        BUILTIN_NAMES.join(", ")
                    ),
                ));
            }
            match (&m.command, &m.file) {
                (Some(argv), None) => {
                    if argv.first().is_none_or(|p| p.is_empty()) {
                        return Err(ConfigError::new(
                            key("command"),
                            "must name a program: [\"/path/to/program\", \"arg\", ...]",
                        ));
                    }
                }
                (None, Some(_)) => {}
                _ => {
                    return Err(ConfigError::new(
                        key("command"),
                        "exactly one of `command` and `file` is required",
                    ));
                }
            }
            if !(1..=300).contains(&m.timeout_secs) {
                return Err(ConfigError::new(
                    key("timeout_secs"),
                    format!("{} is out of range; allowed: 1 to 300", m.timeout_secs),
                ));
            }
        }
        Ok(())
    }

    /// The user metrics, validated.
    pub fn user_metrics(&self) -> Vec<UserMetric> {
        self.custom_metrics
            .iter()
            .map(|m| UserMetric {
                name: m.name.clone(),
                kind: m.kind,
                source: match (&m.command, &m.file) {
                    (Some(argv), _) => UserSource::Command {
                        argv: argv.clone(),
                        timeout: Duration::from_secs(m.timeout_secs),
                    },
                    (None, Some(f)) => UserSource::File(f.clone()),
                    (None, None) => UserSource::Command {
                        argv: Vec::new(),
                        timeout: Duration::from_secs(m.timeout_secs),
                    },
                },
            })
            .collect()
    }

    /// What to collect.
    pub fn collect_options(&self) -> CollectOptions {
        CollectOptions {
            groups: self.metrics,
            builtins: self.builtins,
            user: self.user_metrics(),
            include_loopback: self.include_loopback,
        }
    }

    /// How to write reports.
    pub fn report_settings(&self) -> ReportSettings {
        ReportSettings {
            format: match self.format {
                FormatName::Json => Format::Json,
                FormatName::Cbor => Format::Cbor,
            },
            keys: match self.keys {
                KeysName::Long => KeyStyle::Long,
                KeysName::Short => KeyStyle::Short,
            },
            max_list_len: usize::try_from(self.max_list_len).unwrap_or(usize::MAX),
        }
    }

    /// The interval.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_secs)
    }

    /// The effective configuration as TOML, for `--print-config`.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot print the config: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env() -> Vec<(String, String)> {
        Vec::new()
    }

    fn load_str(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agent.toml");
        std::fs::write(&p, text).unwrap();
        load(Some(&p), no_env(), &[])
    }

    #[test]
    fn defaults_are_valid_and_aws_like() {
        let c = load(None, no_env(), &[]).unwrap();
        assert_eq!(c.interval_secs, 300);
        assert_eq!(c.proc_root, PathBuf::from("/proc"));
        assert_eq!(c.mqtt.topic_prefix, "$aws/things/");
        assert!(c.mqtt.tls);
        assert!(!c.include_loopback);
    }

    #[test]
    fn short_interval_is_refused_unless_allowed() {
        let e = load_str("interval_secs = 60\n").unwrap_err();
        assert_eq!(e.key, "interval_secs");
        assert!(
            e.message.contains("300") && e.message.contains("allow_short_interval"),
            "{e}"
        );
        let c = load_str("interval_secs = 1\nallow_short_interval = true\n").unwrap();
        assert_eq!(c.interval_secs, 1);
    }

    #[test]
    fn file_errors_name_the_key_and_allowed_values() {
        let e = load_str("format = \"xml\"\n").unwrap_err();
        assert!(
            e.message.contains("format") && e.message.contains("cbor"),
            "{e}"
        );
        let e = load_str("intervl_secs = 300\n").unwrap_err();
        assert!(e.message.contains("intervl_secs"), "{e}");
        let e = load_str("[mqtt]\nport = 70000\n").unwrap_err();
        assert!(e.message.contains("port"), "{e}");
    }

    #[test]
    fn precedence_is_file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("agent.toml");
        std::fs::write(
            &p,
            "thing_name = \"from-file\"\nformat = \"cbor\"\n[mqtt]\nport = 1000\n",
        )
        .unwrap();
        let env = vec![
            (
                "FLEETWARD_AGENT_THING_NAME".to_owned(),
                "from-env".to_owned(),
            ),
            ("FLEETWARD_AGENT_MQTT_PORT".to_owned(), "2000".to_owned()),
            (
                "FLEETWARD_AGENT_MQTT_ALPN".to_owned(),
                "x-amzn-mqtt-ca".to_owned(),
            ),
            ("FLEETWARD_AGENT_CONFIG".to_owned(), "ignored".to_owned()),
            ("PATH".to_owned(), "/bin".to_owned()),
        ];
        let sets = vec![("mqtt.port".to_owned(), "3000".to_owned())];
        let c = load(Some(&p), env, &sets).unwrap();
        assert_eq!(c.thing_name, "from-env");
        assert_eq!(c.format, FormatName::Cbor);
        assert_eq!(c.mqtt.port, 3000);
        assert_eq!(c.mqtt.alpn, vec!["x-amzn-mqtt-ca".to_owned()]);
    }

    #[test]
    fn env_and_flag_errors_name_the_variable() {
        let env = vec![("FLEETWARD_AGENT_KEYS".to_owned(), "tiny".to_owned())];
        let e = load(None, env, &[]).unwrap_err();
        assert_eq!(e.key, "FLEETWARD_AGENT_KEYS");
        assert!(e.message.contains("long, short"), "{e}");
        let env = vec![("FLEETWARD_AGENT_INTERVAL".to_owned(), "300".to_owned())];
        let e = load(None, env, &[]).unwrap_err();
        assert!(e.message.contains("FLEETWARD_AGENT_INTERVAL_SECS"), "{e}");
        let sets = vec![("mqtt.tls".to_owned(), "maybe".to_owned())];
        let e = load(None, no_env(), &sets).unwrap_err();
        assert_eq!(e.key, "mqtt.tls");
        assert!(e.message.contains("true or false"));
        let sets = vec![("mqtt.protocol".to_owned(), "4".to_owned())];
        assert!(
            load(None, no_env(), &sets)
                .unwrap_err()
                .message
                .contains("3.1.1, 5")
        );
    }

    #[test]
    fn custom_metrics_are_checked() {
        let ok = "[[custom_metrics]]\nname = \"disk_free\"\ntype = \"number\"\ncommand = [\"/bin/echo\", \"1\"]\n";
        let c = load_str(ok).unwrap();
        assert_eq!(c.user_metrics().len(), 1);
        for (text, key) in [
            (
                "[[custom_metrics]]\nname = \"aws:x\"\ntype = \"number\"\nfile = \"/x\"\n",
                "custom_metrics[0].name",
            ),
            (
                "[[custom_metrics]]\nname = \"uptime\"\ntype = \"number\"\nfile = \"/x\"\n",
                "custom_metrics[0].name",
            ),
            (
                "[[custom_metrics]]\nname = \"a\"\ntype = \"number\"\n",
                "custom_metrics[0].command",
            ),
            (
                "[[custom_metrics]]\nname = \"a\"\ntype = \"number\"\ncommand = []\n",
                "custom_metrics[0].command",
            ),
            (
                "[[custom_metrics]]\nname = \"a\"\ntype = \"number\"\nfile = \"/x\"\ntimeout_secs = 0\n",
                "custom_metrics[0].timeout_secs",
            ),
        ] {
            assert_eq!(load_str(text).unwrap_err().key, key, "{text}");
        }
        let e = load_str("[[custom_metrics]]\nname = \"a\"\ntype = \"float\"\nfile = \"/x\"\n")
            .unwrap_err();
        assert!(e.message.contains("number_list"), "{e}");
    }

    #[test]
    fn mqtt_requirements() {
        let c = Config::default();
        assert_eq!(c.validate_for_mqtt().unwrap_err().key, "thing_name");
        let mut c = Config {
            thing_name: "t".into(),
            ..Config::default()
        };
        assert_eq!(c.validate_for_mqtt().unwrap_err().key, "mqtt.host");
        c.mqtt.host = "example".into();
        assert_eq!(c.validate_for_mqtt().unwrap_err().key, "mqtt.ca_file");
        c.mqtt.tls = false;
        c.validate_for_mqtt().unwrap();
        c.mqtt.cert_file = Some("c.pem".into());
        assert_eq!(c.validate().unwrap_err().key, "mqtt.key_file");
        let e = load_str("thing_name = \"bad name\"\n").unwrap_err();
        assert_eq!(e.key, "thing_name");
        let sets = vec![("mqtt.topic_prefix".to_owned(), "a/+/".to_owned())];
        assert_eq!(
            load(None, no_env(), &sets).unwrap_err().key,
            "mqtt.topic_prefix"
        );
    }

    #[test]
    fn printed_config_loads_back_identically() {
        let c = load_str("thing_name = \"t\"\n[[custom_metrics]]\nname = \"a\"\ntype = \"ip_list\"\nfile = \"/x\"\n").unwrap();
        let again: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(again, c);
    }
}
