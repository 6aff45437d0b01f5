//! What an edit must poke: the side effects of the service layer's operations, behind one small
//! interface, so the API, the CLI and the console cannot forget one.
//!
//! In `fleetward serve` the implementation wakes detection's re-targeting and ingest's custom
//! metric table at once. The offline CLI edits the data directory from another process, where
//! there is nothing to poke: it uses [`NoChanges`], and the running server picks the edit up
//! from the store within its refresh periods (detection re-resolves targets every 30 s, custom
//! metric types are re-read every 5 s, live sessions are re-checked against the registry every
//! 5 s).

/// Whose live MQTT sessions an identity edit affects: the broker re-checks those sessions
/// against the registry and closes the ones no longer allowed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdentityChange {
    /// A certificate's status, or what is attached to it (things, policies), changed.
    Certificate(String),
    /// A thing was deleted.
    Thing(String),
}

/// Side effects of edits, called by the service layer after the edit committed.
pub trait Changes: Send + Sync + 'static {
    /// Which profiles cover which things may have changed (a profile created, updated,
    /// deleted, attached or detached; a dimension updated; a thing's groups changed).
    fn targeting_changed(&self);

    /// A custom metric was created, updated or deleted: ingest's type table and detection's
    /// catalog must follow.
    fn custom_metrics_changed(&self);

    /// Who may stay connected, or what a connection may do, may have changed.
    fn identity_changed(&self, change: IdentityChange);
}

/// Nothing to poke: the offline CLI, tools and tests without a running server.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoChanges;

impl Changes for NoChanges {
    fn targeting_changed(&self) {}
    fn custom_metrics_changed(&self) {}
    fn identity_changed(&self, _: IdentityChange) {}
}

/// Counts what was poked, for tests that check an operation's side effects.
#[derive(Debug, Default)]
pub struct CountChanges {
    /// `targeting_changed` calls.
    pub targeting: std::sync::atomic::AtomicUsize,
    /// `custom_metrics_changed` calls.
    pub custom_metrics: std::sync::atomic::AtomicUsize,
    /// `identity_changed` calls, in order.
    pub identity: std::sync::Mutex<Vec<IdentityChange>>,
}

impl Changes for CountChanges {
    fn targeting_changed(&self) {
        self.targeting
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn custom_metrics_changed(&self) {
        self.custom_metrics
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn identity_changed(&self, change: IdentityChange) {
        if let Ok(mut seen) = self.identity.lock() {
            seen.push(change);
        }
    }
}
