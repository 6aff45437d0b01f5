//! Per-key rate limits that follow AWS's TPS quotas (service-side.md §6): each access key may
//! call each operation so many times per second, with a burst of the same size, as a token
//! bucket (GCRA, `governor`). Over the limit is `ThrottlingException`, which the SDKs retry
//! with backoff, so scripts written against AWS's quotas behave the same here.

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::ApiError;
use super::ops::{Op, TpsClass};

/// Calls per second per access key and operation, by class; 0 means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Most operations (AWS: 10).
    pub default_tps: u32,
    /// `Describe*` of custom metrics and security profiles (AWS: 25).
    pub describe_tps: u32,
    /// `ListMetricValues` (AWS: 15).
    pub metric_values_tps: u32,
}

impl Default for RateLimitConfig {
    /// AWS's quotas.
    fn default() -> Self {
        RateLimitConfig {
            default_tps: 10,
            describe_tps: 25,
            metric_values_tps: 15,
        }
    }
}

impl RateLimitConfig {
    /// No limits at all (benchmarks, trusted automation).
    pub const UNLIMITED: RateLimitConfig = RateLimitConfig {
        default_tps: 0,
        describe_tps: 0,
        metric_values_tps: 0,
    };

    fn tps(&self, class: TpsClass) -> u32 {
        match class {
            TpsClass::Default => self.default_tps,
            TpsClass::Describe => self.describe_tps,
            TpsClass::MetricValues => self.metric_values_tps,
        }
    }
}

type Limiter = DefaultKeyedRateLimiter<(String, &'static str)>;

/// The limiters, one per class, keyed by (access key, operation).
pub struct RateLimits {
    default: Option<Limiter>,
    describe: Option<Limiter>,
    metric_values: Option<Limiter>,
}

impl RateLimits {
    /// Limits with `config`'s rates.
    pub fn new(config: RateLimitConfig) -> Self {
        let make = |class| {
            NonZeroU32::new(config.tps(class)).map(|n| RateLimiter::keyed(Quota::per_second(n)))
        };
        RateLimits {
            default: make(TpsClass::Default),
            describe: make(TpsClass::Describe),
            metric_values: make(TpsClass::MetricValues),
        }
    }

    /// Takes one call of `op` by `key` from its budget, or `ThrottlingException`.
    pub fn check(&self, key: &str, op: &Op) -> Result<(), ApiError> {
        let limiter = match op.tps {
            TpsClass::Default => &self.default,
            TpsClass::Describe => &self.describe,
            TpsClass::MetricValues => &self.metric_values,
        };
        match limiter {
            Some(l) if l.check_key(&(key.to_owned(), op.name)).is_err() => {
                Err(ApiError::throttled())
            }
            _ => Ok(()),
        }
    }
}
