//! The enforcement point: who a connection is, and whether it may publish or subscribe.
//!
//! A device is identified by its client certificate, never by its client id: the TLS layer
//! reports the certificate's subject and serial, the registry maps that pair to the one
//! registered certificate (the store keeps the pair unique), and the certificate's attached
//! thing becomes the connection's thing. Decisions then come from the pure policy evaluator
//! over the default least-privilege policy plus any policies attached to the certificate.

use std::sync::Arc;

use fleetward_core::identity::{self, Action, Arns, PolicyDocument, Request, Vars};
use fleetward_store::{CertStatus, Store};

/// Who is connected, as far as authorization is concerned.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The MQTT client id the connection sent.
    pub client_id: String,
    /// The thing the certificate is attached to (on the dev listener: the client id).
    pub thing: Option<String>,
    /// The certificate id (SHA-256 of its DER), when connected with one.
    pub cert_id: Option<String>,
    policies: Arc<Vec<PolicyDocument>>,
}

#[cfg(test)]
impl Principal {
    /// A principal with no policies, for tests of what keys sessions by identity.
    pub(crate) fn bare(client_id: &str, thing: Option<&str>, cert_id: Option<&str>) -> Self {
        Principal {
            client_id: client_id.to_owned(),
            thing: thing.map(str::to_owned),
            cert_id: cert_id.map(str::to_owned),
            policies: Arc::default(),
        }
    }
}

/// A store failure, as a refusal that names no thing.
fn store_err(e: fleetward_store::StoreError) -> (AuthFailure, Option<String>) {
    (AuthFailure::Store(e.to_string()), None)
}

/// Why a connection was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// The TLS listener let through a connection without a client certificate.
    #[error("no client certificate")]
    NoCertificate,
    /// The certificate chains to a trusted CA but was never registered.
    #[error("certificate not registered")]
    UnknownCertificate,
    /// The certificate is registered but not ACTIVE.
    #[error("certificate is {}", .0.as_str())]
    NotActive(CertStatus),
    /// The certificate is attached to no thing, or to several and the client id names none.
    #[error("certificate is not attached to a thing the client id can select")]
    NoThing,
    /// Policies do not allow `iot:Connect` for this client id.
    #[error("iot:Connect denied for client id '{0}'")]
    ConnectDenied(String),
    /// The CONNECT's last will names a topic the policies do not let it publish on.
    #[error("iot:Publish denied for the last will's topic '{0}'")]
    WillDenied(String),
    /// Another device's session holds the client id: a different certificate, attached to a
    /// different thing. Taking it over would knock that device offline and, with a persistent
    /// session, inherit its queue.
    #[error("client id '{0}' is held by another device's session")]
    Takeover(String),
    /// The source address already has as many sessions as one address may hold.
    #[error("{0} already holds the most sessions one address may ({1})")]
    TooManyFromAddress(std::net::IpAddr, u32),
    /// The broker holds as many sessions as it may.
    #[error("the broker holds the most sessions it may ({0})")]
    Full(usize),
    /// The registry could not be read.
    #[error("registry unavailable: {0}")]
    Store(String),
}

impl AuthFailure {
    /// Every refusal's `reason` label on `/metrics`, in [`AuthFailure::index`] order.
    pub const LABELS: [&'static str; 10] = [
        "no_certificate",
        "unknown_certificate",
        "certificate_not_active",
        "no_thing",
        "connect_denied",
        "will_denied",
        "takeover",
        "address_limit",
        "broker_full",
        "registry_unavailable",
    ];

    /// This refusal's position in [`AuthFailure::LABELS`].
    pub fn index(&self) -> usize {
        match self {
            AuthFailure::NoCertificate => 0,
            AuthFailure::UnknownCertificate => 1,
            AuthFailure::NotActive(_) => 2,
            AuthFailure::NoThing => 3,
            AuthFailure::ConnectDenied(_) => 4,
            AuthFailure::WillDenied(_) => 5,
            AuthFailure::Takeover(_) => 6,
            AuthFailure::TooManyFromAddress(..) => 7,
            AuthFailure::Full(_) => 8,
            AuthFailure::Store(_) => 9,
        }
    }
}

/// Decides connects, publishes and subscribes.
pub struct Authorizer {
    store: Arc<dyn Store>,
    arns: Arns,
    default_policy: Arc<Vec<PolicyDocument>>,
    /// The Defender topic prefix, to recognize another thing's Defender topics.
    prefix: String,
}

impl Authorizer {
    /// An authorizer over `store`'s registry. `prefix` is the Defender topic prefix the default
    /// policy grants (`$aws/things/` unless configured otherwise).
    pub fn new(
        store: Arc<dyn Store>,
        arns: Arns,
        prefix: &str,
    ) -> Result<Self, identity::PolicyError> {
        let default = PolicyDocument::parse(&identity::default_device_policy(prefix))?;
        Ok(Authorizer {
            store,
            arns,
            default_policy: Arc::new(vec![default]),
            prefix: prefix.to_owned(),
        })
    }

    /// Authenticates a TLS connection by its certificate. On failure, also returns the thing
    /// the certificate belongs to when known, so the refused attempt is still counted for it.
    pub async fn authenticate(
        &self,
        client_id: &str,
        cert: Option<(&str, &str)>,
    ) -> Result<Principal, (AuthFailure, Option<String>)> {
        let Some((subject, serial)) = cert else {
            return Err((AuthFailure::NoCertificate, None));
        };
        let Some(cert) = self
            .store
            .find_certificate(subject, serial)
            .await
            .map_err(store_err)?
        else {
            return Err((AuthFailure::UnknownCertificate, None));
        };
        self.authorize(cert, client_id).await
    }

    /// Checks a live session again, as at CONNECT, against the registry as it is now: the
    /// certificate must still be registered and ACTIVE, still attached to the session's thing,
    /// and its policies must still allow the client id to connect. On success, returns the
    /// principal with its policies as they are now. Dev-listener principals (no certificate)
    /// pass unchanged.
    pub async fn recheck(&self, principal: &Principal) -> Result<Principal, AuthFailure> {
        let Some(cert_id) = &principal.cert_id else {
            return Ok(principal.clone());
        };
        let Some(cert) = self
            .store
            .get_certificate(cert_id)
            .await
            .map_err(|e| AuthFailure::Store(e.to_string()))?
        else {
            return Err(AuthFailure::UnknownCertificate);
        };
        let now = self
            .authorize(cert, &principal.client_id)
            .await
            .map_err(|(why, _)| why)?;
        // The client id may select another of several attached things only at CONNECT.
        if now.thing != principal.thing {
            return Err(AuthFailure::NoThing);
        }
        Ok(now)
    }

    /// The principal `cert` makes of a connection with `client_id`, or why it may not connect.
    async fn authorize(
        &self,
        cert: fleetward_store::Certificate,
        client_id: &str,
    ) -> Result<Principal, (AuthFailure, Option<String>)> {
        let things = self
            .store
            .principal_things(&cert.id)
            .await
            .map_err(store_err)?;
        // The client id selects among several attached things; one attached thing is the
        // connection's thing whatever the client id says.
        let thing = if things.iter().any(|t| t == client_id) {
            Some(client_id.to_owned())
        } else if things.len() == 1 {
            things.into_iter().next()
        } else {
            None
        };
        if cert.status != CertStatus::Active {
            return Err((AuthFailure::NotActive(cert.status), thing));
        }
        let Some(thing) = thing else {
            return Err((AuthFailure::NoThing, None));
        };
        let mut policies: Vec<PolicyDocument> = self.default_policy.as_ref().clone();
        for p in self
            .store
            .principal_policies(&cert.id)
            .await
            .map_err(store_err)?
        {
            match PolicyDocument::parse(&p.document) {
                Ok(doc) => policies.push(doc),
                // A stored policy that no longer parses grants nothing (fail closed).
                Err(e) => {
                    tracing::warn!(policy = %p.name, error = %e, "ignoring unparsable policy")
                }
            }
        }
        let principal = Principal {
            client_id: client_id.to_owned(),
            thing: Some(thing.clone()),
            cert_id: Some(cert.id),
            policies: Arc::new(policies),
        };
        if !self.allows(&principal, Action::Connect, client_id) {
            return Err((
                AuthFailure::ConnectDenied(client_id.to_owned()),
                Some(thing),
            ));
        }
        Ok(principal)
    }

    /// The principal of a dev-listener connection: no certificate, client id = thing name,
    /// the default policy only.
    pub fn dev_principal(&self, client_id: &str) -> Principal {
        let thing =
            fleetward_proto::topic::is_valid_thing_name(client_id).then(|| client_id.to_owned());
        Principal {
            client_id: client_id.to_owned(),
            thing,
            cert_id: None,
            policies: self.default_policy.clone(),
        }
    }

    /// Whether `principal` may do `action` on `target` (a client id, topic or topic filter).
    ///
    /// Whatever the policies say, a connection never publishes on another thing's Defender
    /// topics: its reports would be filed under that thing (clearing its alarms) and its
    /// "answers" would forge the server's. Identity comes from the certificate, not the topic.
    pub fn allows(&self, principal: &Principal, action: Action, target: &str) -> bool {
        if action == Action::Publish
            && let Some(m) = fleetward_proto::topic::parse(target, &self.prefix)
            && principal.thing.as_deref() != Some(m.thing)
        {
            return false;
        }
        let resource = match action {
            Action::Connect => self.arns.client(target),
            Action::Publish | Action::Receive => self.arns.topic(target),
            Action::Subscribe => self.arns.topic_filter(target),
        };
        let vars = Vars {
            client_id: &principal.client_id,
            thing_name: principal.thing.as_deref(),
        };
        identity::evaluate(
            &principal.policies,
            &Request {
                action,
                resource: &resource,
            },
            &vars,
        )
        .is_allowed()
    }
}
