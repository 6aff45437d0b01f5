//! The embedded broker's live sessions, indexed by certificate and thing, and the guard that
//! keeps them honest: a session lives only while its certificate is registered, ACTIVE and
//! attached to the session's thing, and its policies still let its client id connect.
//!
//! Identity edits made through the service layer (the API, and the console later) reach the
//! guard at once as [`IdentityChange`]s, which name the certificate or thing whose sessions to
//! re-check. Edits the offline CLI makes to the data directory come from another process, so
//! the guard also re-checks every session every [`SWEEP`]: that is the bound on how long such
//! an edit takes to close a session.
//!
//! A session that fails its re-check is removed from the registry first, so the publish and
//! subscribe checks refuse it from that moment, and then closed; each close is counted by
//! reason for `/metrics`. A re-check the store cannot answer keeps the session (connecting
//! still fails closed) and is tried again on the next sweep.

use std::collections::HashSet;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use fleetward_service::IdentityChange;
use tokio::sync::{Notify, Semaphore};

use super::authz::{AuthFailure, Authorizer, Principal};
use crate::supervisor::Shutdown;

/// How often every live session is re-checked against the registry, for edits that arrive
/// without a poke (the offline CLI's, made from another process).
pub const SWEEP: Duration = Duration::from_secs(5);

/// Pending identity changes kept individually; beyond this many, they collapse into one
/// re-check of every session, so a burst of edits cannot grow memory.
const MAX_PENDING: usize = 10_000;

/// A session's key: its client id and creation time. A client id can be taken over by a new
/// connection before the old one's disconnect is processed, so the id alone is not unique.
pub type Key = (String, i64);

/// How many sessions the broker holds, and how many of them one source address may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sessions in all.
    pub max_sessions: usize,
    /// Sessions from one IP address (0: no limit). Devices behind one NAT share an address,
    /// so a site with more devices than this raises it.
    pub max_per_address: u32,
}

/// Authorization failures one connection reports as separate events per second. Beyond it,
/// failures are only counted, and the next event carries the count: a device flooding
/// denied topics cannot fill the event channel every device's cloud-side metrics share, and
/// no failure goes uncounted.
pub const FAILURE_EVENTS_PER_SECOND: u32 = 20;

/// One connection's authorization-failure events, rate-limited; see
/// [`FAILURE_EVENTS_PER_SECOND`].
#[derive(Debug, Default)]
pub struct FailureBudget {
    second: i64,
    sent: u32,
    suppressed: u64,
}

impl FailureBudget {
    /// Records one failure at `now_ms`. `Some(n)` when it is to be sent as an event now,
    /// carrying `n` failures suppressed before it; `None` when it is only counted.
    pub fn record(&mut self, now_ms: i64) -> Option<u64> {
        let second = now_ms.div_euclid(1000);
        if second != self.second {
            self.second = second;
            self.sent = 0;
        }
        if self.sent < FAILURE_EVENTS_PER_SECOND {
            self.sent += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed = self.suppressed.saturating_add(1);
            None
        }
    }

    /// Failures counted but not yet sent (when the connection ends).
    pub fn take_suppressed(&mut self) -> u64 {
        std::mem::take(&mut self.suppressed)
    }
}

/// A live session: who it is, its in-flight bound, and the broker's handle to close it.
pub struct Conn<H> {
    /// Who is connected.
    pub principal: Principal,
    /// Reports of this connection in the pipeline at once.
    pub inflight: Arc<Semaphore>,
    /// What the broker closes the session with.
    pub handle: H,
    /// The address it connected from, for the per-address limit.
    pub ip: Option<IpAddr>,
    /// Its authorization-failure events.
    pub failures: Mutex<FailureBudget>,
}

/// Keys of live sessions grouped by a name (a certificate id, a client id).
#[derive(Default)]
struct Index(DashMap<String, HashSet<Key>>);

impl Index {
    fn add(&self, name: &str, key: &Key) {
        self.0
            .entry(name.to_owned())
            .or_default()
            .insert(key.clone());
    }

    fn remove(&self, name: &str, key: &Key) {
        self.0.remove_if_mut(name, |_, keys| {
            keys.remove(key);
            keys.is_empty()
        });
    }

    fn get(&self, name: &str) -> Vec<Key> {
        self.0
            .get(name)
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn all(&self) -> Vec<Key> {
        self.0
            .iter()
            .flat_map(|e| e.value().iter().cloned().collect::<Vec<_>>())
            .collect()
    }
}

/// Live sessions by key, indexed by certificate and client id, counted by source address.
pub struct Sessions<H> {
    conns: DashMap<Key, Conn<H>>,
    by_cert: Index,
    by_client: Index,
    by_address: DashMap<IpAddr, u32>,
    limits: Limits,
}

impl<H: Clone> Sessions<H> {
    /// An empty registry enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Sessions {
            conns: DashMap::new(),
            by_cert: Index::default(),
            by_client: Index::default(),
            by_address: DashMap::new(),
            limits,
        }
    }

    /// Records a session that passed CONNECT, unless it may not be added:
    ///
    /// - its client id is held by a live session of another device (another certificate,
    ///   attached to another thing; a device rotating to a new certificate of the same thing
    ///   may take its own session over);
    /// - the broker, or the session's source address, holds as many sessions as it may.
    pub fn try_insert(&self, key: Key, conn: Conn<H>) -> Result<(), AuthFailure> {
        let p = &conn.principal;
        for held in self.by_client.get(&key.0) {
            if let Some(other) = self.conns.get(&held) {
                let q = &other.principal;
                if q.cert_id != p.cert_id && q.thing != p.thing {
                    return Err(AuthFailure::Takeover(key.0));
                }
            }
        }
        if self.conns.len() >= self.limits.max_sessions {
            return Err(AuthFailure::Full(self.limits.max_sessions));
        }
        if let Some(ip) = conn.ip {
            let mut n = self.by_address.entry(ip).or_insert(0);
            if self.limits.max_per_address > 0 && *n >= self.limits.max_per_address {
                return Err(AuthFailure::TooManyFromAddress(
                    ip,
                    self.limits.max_per_address,
                ));
            }
            *n += 1;
        }
        if let Some(cert) = &p.cert_id {
            self.by_cert.add(cert, &key);
        }
        self.by_client.add(&key.0, &key);
        self.conns.insert(key, conn);
        Ok(())
    }

    /// Forgets a session (it ended, or is being closed); returns it if it was live.
    pub fn remove(&self, key: &Key) -> Option<Conn<H>> {
        let (_, conn) = self.conns.remove(key)?;
        if let Some(cert) = &conn.principal.cert_id {
            self.by_cert.remove(cert, key);
        }
        self.by_client.remove(&key.0, key);
        if let Some(ip) = conn.ip {
            self.by_address.remove_if_mut(&ip, |_, n| {
                *n = n.saturating_sub(1);
                *n == 0
            });
        }
        Some(conn)
    }

    /// The principal of a live session.
    pub fn principal(&self, key: &Key) -> Option<Principal> {
        self.conns.get(key).map(|c| c.principal.clone())
    }

    /// The principal and in-flight bound of a live session.
    pub fn principal_and_inflight(&self, key: &Key) -> Option<(Principal, Arc<Semaphore>)> {
        self.conns
            .get(key)
            .map(|c| (c.principal.clone(), c.inflight.clone()))
    }

    /// Records an authorization failure of a live session at `now_ms`; see
    /// [`FailureBudget::record`]. `None` also when the session is not live.
    pub fn record_failure(&self, key: &Key, now_ms: i64) -> Option<u64> {
        let c = self.conns.get(key)?;
        let mut budget = c.failures.lock().unwrap_or_else(|e| e.into_inner());
        budget.record(now_ms)
    }

    /// The sessions opened with certificate `cert_id`.
    fn of_cert(&self, cert_id: &str) -> Vec<Key> {
        self.by_cert.get(cert_id)
    }

    /// The sessions of `thing`.
    fn of_thing(&self, thing: &str) -> Vec<Key> {
        self.conns
            .iter()
            .filter(|c| c.principal.thing.as_deref() == Some(thing))
            .map(|c| c.key().clone())
            .collect()
    }

    /// Every session opened with a certificate (the others have nothing to re-check).
    fn with_certs(&self) -> Vec<Key> {
        self.by_cert.all()
    }

    /// Replaces a live session's principal (its policies changed), unless it ended meanwhile.
    fn update(&self, key: &Key, principal: Principal) {
        if let Some(mut c) = self.conns.get_mut(key) {
            c.principal = principal;
        }
    }
}

/// Identity changes waiting for the guard; see [`IdentityChange`].
#[derive(Default)]
pub struct IdentityQueue {
    pending: std::sync::Mutex<Pending>,
    wake: Notify,
}

#[derive(Default)]
struct Pending {
    changes: HashSet<IdentityChange>,
    everything: bool,
}

impl IdentityQueue {
    /// Queues `change` and wakes the guard.
    pub fn push(&self, change: IdentityChange) {
        if let Ok(mut p) = self.pending.lock() {
            if p.everything {
                // Every session is re-checked anyway.
            } else if p.changes.len() < MAX_PENDING {
                p.changes.insert(change);
            } else {
                p.changes.clear();
                p.everything = true;
            }
        }
        self.wake.notify_one();
    }

    /// Takes what is pending: the changes, and whether every session must be re-checked.
    fn take(&self) -> (Vec<IdentityChange>, bool) {
        match self.pending.lock() {
            Ok(mut p) => {
                let everything = std::mem::take(&mut p.everything);
                (p.changes.drain().collect(), everything)
            }
            Err(_) => (Vec::new(), true),
        }
    }
}

/// Why a live session was closed, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The certificate became INACTIVE or REVOKED.
    NotActive,
    /// The certificate was deleted from the registry.
    Unregistered,
    /// The certificate is no longer attached to the session's thing (or the thing is gone).
    Detached,
    /// The policies no longer allow the client id to connect.
    ConnectDenied,
}

impl CloseReason {
    /// Every reason, in declaration order (a reason's discriminant indexes its counter).
    pub const ALL: [CloseReason; 4] = [
        CloseReason::NotActive,
        CloseReason::Unregistered,
        CloseReason::Detached,
        CloseReason::ConnectDenied,
    ];

    /// The `reason` label on `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::NotActive => "certificate_not_active",
            CloseReason::Unregistered => "certificate_unregistered",
            CloseReason::Detached => "detached",
            CloseReason::ConnectDenied => "connect_denied",
        }
    }

    fn of(failure: &AuthFailure) -> Option<CloseReason> {
        match failure {
            AuthFailure::NotActive(_) => Some(CloseReason::NotActive),
            AuthFailure::UnknownCertificate | AuthFailure::NoCertificate => {
                Some(CloseReason::Unregistered)
            }
            AuthFailure::NoThing => Some(CloseReason::Detached),
            AuthFailure::ConnectDenied(_) | AuthFailure::WillDenied(_) => {
                Some(CloseReason::ConnectDenied)
            }
            // Refusals only CONNECT makes; a re-check never returns them.
            AuthFailure::Takeover(_)
            | AuthFailure::TooManyFromAddress(..)
            | AuthFailure::Full(_)
            | AuthFailure::Store(_) => None,
        }
    }
}

/// Sessions the guard closed, and connections refused at CONNECT, by reason.
#[derive(Debug, Default)]
pub struct SessionStats {
    closed: [AtomicU64; CloseReason::ALL.len()],
    refused: [AtomicU64; AuthFailure::LABELS.len()],
}

impl SessionStats {
    /// Connections refused at CONNECT so far, by [`AuthFailure::LABELS`] label.
    pub fn refused(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        AuthFailure::LABELS
            .iter()
            .zip(&self.refused)
            .map(|(label, n)| (*label, n.load(Relaxed)))
    }

    /// Counts a refused CONNECT.
    pub fn count_refusal(&self, why: &AuthFailure) {
        if let Some(n) = self.refused.get(why.index()) {
            n.fetch_add(1, Relaxed);
        }
    }

    /// Sessions closed for `reason` so far.
    pub fn closed(&self, reason: CloseReason) -> u64 {
        self.closed[reason as usize].load(Relaxed)
    }

    fn count(&self, reason: CloseReason) {
        self.closed[reason as usize].fetch_add(1, Relaxed);
    }
}

/// The guard: re-checks the sessions an identity change names at once, and every session
/// every [`SWEEP`], closing each that may no longer be connected with `close`.
pub struct Guard<H, C> {
    /// The live sessions.
    pub sessions: Arc<Sessions<H>>,
    /// Decides, as at CONNECT.
    pub authz: Arc<Authorizer>,
    /// Where changes arrive.
    pub queue: Arc<IdentityQueue>,
    /// Closes counted here.
    pub stats: Arc<SessionStats>,
    /// Closes a session the broker no longer lets live (given it, already removed).
    pub close: C,
    /// How often every session is re-checked.
    pub sweep: Duration,
}

impl<H, C, F> Guard<H, C>
where
    H: Clone + Send + Sync + 'static,
    C: Fn(Conn<H>) -> F + Send + Sync,
    F: Future<Output = ()> + Send,
{
    /// Runs until `shutdown`.
    pub async fn run(self, mut shutdown: Shutdown) {
        let mut sweep = tokio::time::interval(self.sweep);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        sweep.tick().await;
        while !shutdown.is_stopping() {
            let everything = tokio::select! {
                () = self.queue.wake.notified() => false,
                _ = sweep.tick() => true,
                () = shutdown.wait() => return,
            };
            let (changes, all) = self.queue.take();
            let keys: HashSet<Key> = if everything || all {
                self.sessions.with_certs().into_iter().collect()
            } else {
                changes
                    .iter()
                    .flat_map(|c| match c {
                        IdentityChange::Certificate(id) => self.sessions.of_cert(id),
                        IdentityChange::Thing(name) => self.sessions.of_thing(name),
                    })
                    .collect()
            };
            for key in keys {
                self.recheck(&key).await;
            }
        }
    }

    /// Re-checks one session: updates its principal, or closes it.
    async fn recheck(&self, key: &Key) {
        let Some(principal) = self.sessions.principal(key) else {
            return;
        };
        match self.authz.recheck(&principal).await {
            Ok(now) => self.sessions.update(key, now),
            Err(why) => match CloseReason::of(&why) {
                Some(reason) => {
                    if let Some(conn) = self.sessions.remove(key) {
                        tracing::info!(
                            client_id = %key.0,
                            thing = ?principal.thing,
                            %why,
                            "closing session"
                        );
                        self.stats.count(reason);
                        (self.close)(conn).await;
                    }
                }
                None => tracing::warn!(client_id = %key.0, %why, "session not re-checked"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(client: &str, thing: &str, cert: &str, ip: [u8; 4]) -> Conn<()> {
        Conn {
            principal: Principal::bare(client, Some(thing), Some(cert)),
            inflight: Arc::new(Semaphore::new(1)),
            handle: (),
            ip: Some(IpAddr::from(ip)),
            failures: Mutex::default(),
        }
    }

    const ROOMY: Limits = Limits {
        max_sessions: 100,
        max_per_address: 0,
    };

    #[test]
    fn a_client_id_is_taken_over_only_by_the_same_device() {
        let s = Sessions::new(ROOMY);
        let ip = [10, 0, 0, 1];
        s.try_insert(("cam".into(), 1), conn("cam", "cam", "c1", ip))
            .unwrap();
        // Same certificate (a reconnect) and same thing (a rotated certificate): allowed.
        s.try_insert(("cam".into(), 2), conn("cam", "cam", "c1", ip))
            .unwrap();
        s.try_insert(("cam".into(), 3), conn("cam", "cam", "c2", ip))
            .unwrap();
        // Another device's certificate: refused, and nothing recorded.
        let e = s
            .try_insert(("cam".into(), 4), conn("cam", "other", "c9", ip))
            .unwrap_err();
        assert_eq!(e, AuthFailure::Takeover("cam".into()));
        assert!(s.principal(&("cam".into(), 4)).is_none());
        // Once the device's sessions are gone, the id is free again.
        for t in 1..=3 {
            assert!(s.remove(&("cam".into(), t)).is_some());
        }
        s.try_insert(("cam".into(), 5), conn("cam", "other", "c9", ip))
            .unwrap();
        assert_eq!(s.of_cert("c9"), [("cam".to_owned(), 5)]);
        assert!(s.of_cert("c1").is_empty());
    }

    #[test]
    fn sessions_are_capped_in_all_and_per_address() {
        let s = Sessions::new(Limits {
            max_sessions: 3,
            max_per_address: 2,
        });
        let a = [10, 0, 0, 1];
        s.try_insert(("a1".into(), 1), conn("a1", "a1", "a1", a))
            .unwrap();
        s.try_insert(("a2".into(), 1), conn("a2", "a2", "a2", a))
            .unwrap();
        let e = s
            .try_insert(("a3".into(), 1), conn("a3", "a3", "a3", a))
            .unwrap_err();
        assert_eq!(e, AuthFailure::TooManyFromAddress(IpAddr::from(a), 2));
        s.try_insert(("b1".into(), 1), conn("b1", "b1", "b1", [10, 0, 0, 2]))
            .unwrap();
        let e = s
            .try_insert(("c1".into(), 1), conn("c1", "c1", "c1", [10, 0, 0, 3]))
            .unwrap_err();
        assert_eq!(e, AuthFailure::Full(3));
        // A slot freed on the address is open again.
        s.remove(&("a1".into(), 1)).unwrap();
        s.try_insert(("a3".into(), 1), conn("a3", "a3", "a3", a))
            .unwrap();
        // Removing what is gone changes no count.
        assert!(s.remove(&("a1".into(), 1)).is_none());
        let e = s
            .try_insert(("a4".into(), 1), conn("a4", "a4", "a4", a))
            .unwrap_err();
        assert!(matches!(e, AuthFailure::Full(_)), "{e:?}");
    }

    #[test]
    fn failure_events_are_rate_limited_but_every_failure_is_carried() {
        let mut b = FailureBudget::default();
        let mut sent = 0;
        let mut carried = 0;
        for i in 0..1000 {
            // 1000 failures within one second.
            if let Some(n) = b.record(5_000 + i64::from(i % 1000)) {
                sent += 1;
                carried += n;
            }
        }
        assert_eq!(sent, FAILURE_EVENTS_PER_SECOND);
        assert_eq!(
            carried, 0,
            "nothing was suppressed before the budget ran out"
        );
        // The next second's first event carries what the last one held back.
        assert_eq!(
            b.record(6_000),
            Some(1000 - u64::from(FAILURE_EVENTS_PER_SECOND))
        );
        assert_eq!(b.take_suppressed(), 0);
        for _ in 0..FAILURE_EVENTS_PER_SECOND + 5 {
            b.record(6_500);
        }
        assert_eq!(b.take_suppressed(), 6);
    }
}
