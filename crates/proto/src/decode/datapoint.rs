//! Datapoints: what an accepted report becomes, named and shaped as AWS Detect names them.

use alloc::string::String;
use alloc::vec::Vec;
use core::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A metric value in AWS's `MetricValue` shape: exactly one member is set, e.g. `{"count":3}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricValue {
    /// A non-negative count.
    Count(u64),
    /// One number (custom `number`).
    Number(f64),
    /// Numbers (custom `number-list`).
    Numbers(Vec<f64>),
    /// Strings (custom `string-list`).
    Strings(Vec<String>),
    /// Ports, sorted and distinct.
    Ports(Vec<u16>),
    /// IP addresses (AWS calls the member `cidrs`).
    Cidrs(Vec<IpAddr>),
}

/// The AWS-defined metrics: device-side ones from reports, cloud-side ones from the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AwsMetric {
    /// `aws:num-listening-tcp-ports`
    NumListeningTcpPorts,
    /// `aws:listening-tcp-ports`
    ListeningTcpPorts,
    /// `aws:num-listening-udp-ports`
    NumListeningUdpPorts,
    /// `aws:listening-udp-ports`
    ListeningUdpPorts,
    /// `aws:all-bytes-in`
    AllBytesIn,
    /// `aws:all-bytes-out`
    AllBytesOut,
    /// `aws:all-packets-in`
    AllPacketsIn,
    /// `aws:all-packets-out`
    AllPacketsOut,
    /// `aws:num-established-tcp-connections`
    NumEstablishedTcpConnections,
    /// `aws:destination-ip-addresses`
    DestinationIpAddresses,
    /// `aws:num-connection-attempts` (cloud side)
    NumConnectionAttempts,
    /// `aws:num-disconnects` (cloud side)
    NumDisconnects,
    /// `aws:disconnect-duration` (cloud side)
    DisconnectDuration,
    /// `aws:num-authorization-failures` (cloud side)
    NumAuthorizationFailures,
    /// `aws:num-messages-sent` (cloud side)
    NumMessagesSent,
    /// `aws:num-messages-received` (cloud side)
    NumMessagesReceived,
    /// `aws:message-byte-size` (cloud side)
    MessageByteSize,
    /// `aws:source-ip-address` (cloud side)
    SourceIpAddress,
}

impl AwsMetric {
    /// Every AWS metric, device side first.
    pub const ALL: [AwsMetric; 18] = [
        AwsMetric::NumListeningTcpPorts,
        AwsMetric::ListeningTcpPorts,
        AwsMetric::NumListeningUdpPorts,
        AwsMetric::ListeningUdpPorts,
        AwsMetric::AllBytesIn,
        AwsMetric::AllBytesOut,
        AwsMetric::AllPacketsIn,
        AwsMetric::AllPacketsOut,
        AwsMetric::NumEstablishedTcpConnections,
        AwsMetric::DestinationIpAddresses,
        AwsMetric::NumConnectionAttempts,
        AwsMetric::NumDisconnects,
        AwsMetric::DisconnectDuration,
        AwsMetric::NumAuthorizationFailures,
        AwsMetric::NumMessagesSent,
        AwsMetric::NumMessagesReceived,
        AwsMetric::MessageByteSize,
        AwsMetric::SourceIpAddress,
    ];

    /// The AWS name, e.g. `aws:all-bytes-in`.
    pub const fn name(self) -> &'static str {
        match self {
            AwsMetric::NumListeningTcpPorts => "aws:num-listening-tcp-ports",
            AwsMetric::ListeningTcpPorts => "aws:listening-tcp-ports",
            AwsMetric::NumListeningUdpPorts => "aws:num-listening-udp-ports",
            AwsMetric::ListeningUdpPorts => "aws:listening-udp-ports",
            AwsMetric::AllBytesIn => "aws:all-bytes-in",
            AwsMetric::AllBytesOut => "aws:all-bytes-out",
            AwsMetric::AllPacketsIn => "aws:all-packets-in",
            AwsMetric::AllPacketsOut => "aws:all-packets-out",
            AwsMetric::NumEstablishedTcpConnections => "aws:num-established-tcp-connections",
            AwsMetric::DestinationIpAddresses => "aws:destination-ip-addresses",
            AwsMetric::NumConnectionAttempts => "aws:num-connection-attempts",
            AwsMetric::NumDisconnects => "aws:num-disconnects",
            AwsMetric::DisconnectDuration => "aws:disconnect-duration",
            AwsMetric::NumAuthorizationFailures => "aws:num-authorization-failures",
            AwsMetric::NumMessagesSent => "aws:num-messages-sent",
            AwsMetric::NumMessagesReceived => "aws:num-messages-received",
            AwsMetric::MessageByteSize => "aws:message-byte-size",
            AwsMetric::SourceIpAddress => "aws:source-ip-address",
        }
    }

    /// The metric with this AWS name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Whether devices report it (as opposed to the broker measuring it).
    pub const fn is_device_side(self) -> bool {
        (self as u8) <= (AwsMetric::DestinationIpAddresses as u8)
    }
}

/// Which metric a datapoint is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// An AWS-defined metric.
    Aws(AwsMetric),
    /// A custom metric, by its registered name.
    Custom(String),
}

impl Metric {
    /// The name as AWS's APIs spell it.
    pub fn name(&self) -> &str {
        match self {
            Metric::Aws(m) => m.name(),
            Metric::Custom(n) => n,
        }
    }
}

/// One measured value of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint {
    /// The metric.
    pub metric: Metric,
    /// Its value.
    pub value: MetricValue,
}
