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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
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

/// A live session: who it is, its in-flight bound, and the broker's handle to close it.
pub struct Conn<H> {
    /// Who is connected.
    pub principal: Principal,
    /// Reports of this connection in the pipeline at once.
    pub inflight: Arc<Semaphore>,
    /// What the broker closes the session with.
    pub handle: H,
}

/// Live sessions by key, with an index from certificate id to its sessions.
pub struct Sessions<H> {
    conns: DashMap<Key, Conn<H>>,
    by_cert: DashMap<String, HashSet<Key>>,
}

impl<H: Clone> Default for Sessions<H> {
    fn default() -> Self {
        Sessions {
            conns: DashMap::new(),
            by_cert: DashMap::new(),
        }
    }
}

impl<H: Clone> Sessions<H> {
    /// Records a session that passed CONNECT.
    pub fn insert(&self, key: Key, conn: Conn<H>) {
        if let Some(cert) = &conn.principal.cert_id {
            self.by_cert
                .entry(cert.clone())
                .or_default()
                .insert(key.clone());
        }
        self.conns.insert(key, conn);
    }

    /// Forgets a session (it ended, or is being closed); returns it if it was live.
    pub fn remove(&self, key: &Key) -> Option<Conn<H>> {
        let (_, conn) = self.conns.remove(key)?;
        if let Some(cert) = &conn.principal.cert_id {
            self.by_cert.remove_if_mut(cert, |_, keys| {
                keys.remove(key);
                keys.is_empty()
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

    /// The sessions opened with certificate `cert_id`.
    fn of_cert(&self, cert_id: &str) -> Vec<Key> {
        self.by_cert
            .get(cert_id)
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default()
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
        self.by_cert
            .iter()
            .flat_map(|e| e.value().iter().cloned().collect::<Vec<_>>())
            .collect()
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
            AuthFailure::Store(_) => None,
        }
    }
}

/// Sessions the guard closed, by reason.
#[derive(Debug, Default)]
pub struct SessionStats {
    closed: [AtomicU64; CloseReason::ALL.len()],
}

impl SessionStats {
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
    /// Closes a session the broker no longer lets live (given its handle and principal).
    pub close: C,
    /// How often every session is re-checked.
    pub sweep: Duration,
}

impl<H, C, F> Guard<H, C>
where
    H: Clone + Send + Sync + 'static,
    C: Fn(H, Principal) -> F + Send + Sync,
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
                        (self.close)(conn.handle, conn.principal).await;
                    }
                }
                None => tracing::warn!(client_id = %key.0, %why, "session not re-checked"),
            },
        }
    }
}
