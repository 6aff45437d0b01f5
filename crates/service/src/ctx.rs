//! What every operation runs with.

use std::sync::Arc;

use fleetward_core::aws::{ArnScope, Clock, SystemClock};
use fleetward_store::Store;

use crate::changes::{Changes, NoChanges};
use crate::error::ServiceResult;
use crate::pki::Ca;

/// The context of a service operation: the store, the account the ARNs name, the clock, what
/// edits must poke, and the CA that issues certificates (when this process has one).
#[derive(Clone)]
pub struct Ctx {
    /// The durable state.
    pub store: Arc<dyn Store>,
    /// Region and account for ARNs.
    pub scope: ArnScope,
    /// Where "now" comes from.
    pub clock: Arc<dyn Clock>,
    /// Side effects of edits.
    pub changes: Arc<dyn Changes>,
    /// Fleetward's CA, for CreateKeysAndCertificate; `None` where none is loaded.
    pub ca: Option<Arc<Ca>>,
}

impl Ctx {
    /// A context on `store` with the default scope, the system clock, no side effects and
    /// no CA: tools and tests add what they need with the builder methods.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Ctx {
            store,
            scope: ArnScope::default(),
            clock: Arc::new(SystemClock),
            changes: Arc::new(NoChanges),
            ca: None,
        }
    }

    /// The same context for another account.
    pub fn with_scope(mut self, scope: ArnScope) -> Self {
        self.scope = scope;
        self
    }

    /// The same context on another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same context poking `changes` after edits.
    pub fn with_changes(mut self, changes: Arc<dyn Changes>) -> Self {
        self.changes = changes;
        self
    }

    /// The same context issuing certificates with `ca`.
    pub fn with_ca(mut self, ca: Arc<Ca>) -> Self {
        self.ca = Some(ca);
        self
    }

    /// The store, borrowed.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Passes `result` on, poking [`Changes::targeting_changed`] when it is a success.
    pub(crate) fn targeting_changed<T>(&self, result: ServiceResult<T>) -> ServiceResult<T> {
        if result.is_ok() {
            self.changes.targeting_changed();
        }
        result
    }

    /// Passes `result` on, poking [`Changes::custom_metrics_changed`] when it is a success.
    pub(crate) fn custom_metrics_changed<T>(&self, result: ServiceResult<T>) -> ServiceResult<T> {
        if result.is_ok() {
            self.changes.custom_metrics_changed();
        }
        result
    }

    /// Now, in epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("scope", &self.scope)
            .field("clock", &self.clock)
            .field("ca", &self.ca.is_some())
            .finish_non_exhaustive()
    }
}
