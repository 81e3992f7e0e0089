//! The Secret an AccessBinding writes: the Service Binding spec's `servicebinding.io/redis`
//! type and keys, the same for both clouds, plus `expires-at` and `refresh-at`.

use std::collections::BTreeMap;
use std::time::Duration;

use cache_operator_api::Provider;
use cache_operator_api::common::HostPort;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

pub const SECRET_TYPE: &str = "servicebinding.io/redis";
pub use crate::controller::MANAGED_BY;
/// Which credential the Secret holds (kind, identity and cluster; never the credential itself),
/// so that a change of identity mints a new one at once.
pub const CREDENTIAL_ANNOTATION: &str = "cache-operator.io/credential";

/// The Secret's keys, each named once: a constant per key, and `ALL`.
macro_rules! keys {
    ($($name:ident = $key:literal),* $(,)?) => {
        $(pub const $name: &str = $key;)*
        /// Every key this operator may write; others found in the Secret are left alone.
        pub const ALL: &[&str] = &[$($name),*];
    };
}

pub mod key {
    keys! {
        // What and where.
        TYPE = "type", PROVIDER = "provider", HOST = "host", PORT = "port",
        // Who.
        USERNAME = "username", PASSWORD = "password", URI = "uri",
        // How.
        TLS = "tls", CA = "ca.crt", CLUSTER_MODE = "cluster-mode", ENDPOINTS = "endpoints",
        // Where replicas are read (serverless caches' reader endpoint).
        READER_HOST = "reader-host", READER_PORT = "reader-port",
        // Cross-region: whether this region's endpoints take writes (`primary`) or not.
        ROLE = "role",
        // Until when.
        EXPIRES_AT = "expires-at", REFRESH_AT = "refresh-at",
    }
}

/// Where and how to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub provider: Provider,
    /// Discovery endpoints; the first is `host`/`port`.
    pub endpoints: Vec<HostPort>,
    /// Where reads from replicas go (`reader-host`/`reader-port`), when the target has a
    /// reader endpoint of its own.
    pub reader: Option<HostPort>,
    pub tls: bool,
    pub ca_certificate: Option<String>,
    pub cluster_mode: bool,
    /// A cross-region member's role (`primary` or `secondary`); `None` outside a set.
    pub role: Option<&'static str>,
}

/// A token or password and its times, as a binding's Secret holds them. `Debug` hides the
/// password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Token {
    /// Empty when the cluster needs none.
    pub password: String,
    pub expires_at: Option<Timestamp>,
    pub refresh_at: Option<Timestamp>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("expires_at", &self.expires_at)
            .field("refresh_at", &self.refresh_at)
            .finish_non_exhaustive()
    }
}

/// Who connects and with what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    pub username: String,
    pub token: Token,
}

/// RFC 3986 userinfo: unreserved characters stay, everything else is percent-encoded.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `rediss://user:password@host:port` (`redis://` without TLS; no user part without a password).
pub fn uri(conn: &Connection, cred: &Credential) -> String {
    let scheme = if conn.tls { "rediss" } else { "redis" };
    let at = conn
        .endpoints
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    if cred.token.password.is_empty() {
        format!("{scheme}://{at}")
    } else {
        format!(
            "{scheme}://{}:{}@{at}",
            utf8_percent_encode(&cred.username, USERINFO),
            utf8_percent_encode(&cred.token.password, USERINFO)
        )
    }
}

fn rfc3339(t: Timestamp) -> String {
    // Whole seconds: what clients parse most easily, and never later than the real expiry.
    Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

/// The Secret's data.
pub fn data(conn: &Connection, cred: &Credential) -> BTreeMap<String, String> {
    let mut d = BTreeMap::new();
    let first = conn.endpoints.first().cloned().unwrap_or_default();
    d.insert(key::TYPE.into(), "redis".into());
    d.insert(key::PROVIDER.into(), conn.provider.to_string());
    d.insert(key::HOST.into(), first.host.clone());
    d.insert(key::PORT.into(), first.port.to_string());
    // No user name is no `username` (the Service Binding spec's key is optional): clients
    // then send `AUTH <password>` alone.
    if !cred.username.is_empty() {
        d.insert(key::USERNAME.into(), cred.username.clone());
    }
    d.insert(key::PASSWORD.into(), cred.token.password.clone());
    d.insert(key::URI.into(), uri(conn, cred));
    d.insert(key::TLS.into(), conn.tls.to_string());
    if let Some(ca) = &conn.ca_certificate {
        d.insert(key::CA.into(), ca.clone());
    }
    d.insert(key::CLUSTER_MODE.into(), conn.cluster_mode.to_string());
    d.insert(
        key::ENDPOINTS.into(),
        conn.endpoints
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
    );
    if let Some(r) = &conn.reader {
        d.insert(key::READER_HOST.into(), r.host.clone());
        d.insert(key::READER_PORT.into(), r.port.to_string());
    }
    if let Some(role) = conn.role {
        d.insert(key::ROLE.into(), role.into());
    }
    if let Some(t) = cred.token.expires_at {
        d.insert(key::EXPIRES_AT.into(), rfc3339(t));
    }
    if let Some(t) = cred.token.refresh_at {
        d.insert(key::REFRESH_AT.into(), rfc3339(t));
    }
    d
}

/// The shortest lead a refresh keeps before expiry even when a token arrives with little
/// lifetime left.
const MIN_LEAD: Duration = Duration::from_secs(1);

/// When to replace a token minted at `issued` that expires at `expires`: `refresh_before`
/// ahead of expiry (at most half the lifetime), by default when a third of it remains. A
/// token that came with less lifetime than planned is replaced halfway through what is left.
pub fn refresh_at(
    issued: Timestamp,
    expires: Timestamp,
    refresh_before: Option<Duration>,
) -> Timestamp {
    let lifetime = expires
        .duration_since(issued)
        .max(SignedDuration::ZERO)
        .unsigned_abs();
    let before = refresh_before
        .map(|d| d.min(lifetime / 2))
        .unwrap_or(lifetime / 3);
    let at = expires - SignedDuration::try_from(before).unwrap_or(SignedDuration::ZERO);
    if at > issued {
        at
    } else {
        let half = lifetime / 2;
        issued + SignedDuration::try_from(half.max(MIN_LEAD)).unwrap_or(SignedDuration::ZERO)
    }
}

/// What the operator wants the Secret to be.
#[derive(Clone, Debug)]
pub struct Wanted {
    pub name: String,
    pub namespace: String,
    pub owner: OwnerReference,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub data: BTreeMap<String, String>,
}

impl Wanted {
    /// The object to apply (server-side, so keys the operator wrote before and no longer
    /// wants are removed while keys of other writers stay).
    pub fn secret(&self) -> Secret {
        let mut labels = self.labels.clone();
        labels.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
        Secret {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(labels),
                annotations: (!self.annotations.is_empty()).then(|| self.annotations.clone()),
                owner_references: Some(vec![self.owner.clone()]),
                ..ObjectMeta::default()
            },
            type_: Some(SECRET_TYPE.into()),
            data: Some(
                self.data
                    .iter()
                    .map(|(k, v)| (k.clone(), ByteString(v.clone().into_bytes())))
                    .collect(),
            ),
            ..Secret::default()
        }
    }

    /// Whether `existing` already says everything this Secret should say.
    pub fn is_met_by(&self, existing: &Secret) -> bool {
        let data = existing.data.clone().unwrap_or_default();
        let ours_equal = key::ALL.iter().all(|k| {
            data.get(*k).map(|v| v.0.as_slice()) == self.data.get(*k).map(|v| v.as_bytes())
        });
        let labels = existing.metadata.labels.clone().unwrap_or_default();
        let annotations = existing.metadata.annotations.clone().unwrap_or_default();
        let owned = existing
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.uid == self.owner.uid && o.controller == Some(true));
        ours_equal
            && existing.type_.as_deref() == Some(SECRET_TYPE)
            && labels.get(MANAGED_BY.0).map(String::as_str) == Some(MANAGED_BY.1)
            && self.labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self
                .annotations
                .iter()
                .all(|(k, v)| annotations.get(k) == Some(v))
            && owned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use cache_operator_testkit::at;

    fn conn(tls: bool) -> Connection {
        Connection {
            provider: Provider::Gcp,
            endpoints: vec![
                HostPort {
                    host: "10.0.0.5".into(),
                    port: 6379,
                },
                HostPort {
                    host: "10.0.0.6".into(),
                    port: 6380,
                },
            ],
            reader: None,
            tls,
            ca_certificate: Some(
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
            ),
            cluster_mode: true,
            role: None,
        }
    }

    fn token() -> Credential {
        Credential {
            username: "default".into(),
            token: Token {
                password: "ya29.a0/b+c=d@e".into(),
                expires_at: Some(at(3600)),
                refresh_at: Some(at(2400)),
            },
        }
    }

    #[test]
    fn every_key_of_the_binding_is_written() {
        let mut c = conn(true);
        c.reader = Some(HostPort {
            host: "10.0.0.7".into(),
            port: 6380,
        });
        c.role = Some("secondary");
        let d = data(&c, &token());
        assert_eq!(
            (d["reader-host"].as_str(), d["reader-port"].as_str()),
            ("10.0.0.7", "6380")
        );
        assert!(
            !data(&conn(true), &token()).contains_key("reader-host"),
            "only with a reader endpoint"
        );
        let keys: Vec<&str> = d.keys().map(String::as_str).collect();
        let mut all = key::ALL.to_vec();
        all.sort();
        assert_eq!(keys, all);
        assert_eq!(d["type"], "redis");
        assert_eq!(d["provider"], "gcp");
        assert_eq!(
            (d["host"].as_str(), d["port"].as_str()),
            ("10.0.0.5", "6379")
        );
        assert_eq!(d["endpoints"], "10.0.0.5:6379,10.0.0.6:6380");
        assert_eq!(d["tls"], "true");
        assert_eq!(d["cluster-mode"], "true");
        assert_eq!(d["expires-at"], "2023-11-14T23:13:20Z");
        assert_eq!(d["refresh-at"], "2023-11-14T22:53:20Z");
        assert_eq!(
            d["uri"], "rediss://default:ya29.a0%2Fb%2Bc%3Dd%40e@10.0.0.5:6379",
            "the password is percent-encoded in the URI"
        );
    }

    #[test]
    fn a_cross_region_member_says_whether_it_takes_writes() {
        let cred = token();
        assert!(
            !data(&conn(true), &cred).contains_key("role"),
            "outside a set"
        );
        for role in ["primary", "secondary"] {
            let c = Connection {
                role: Some(role),
                ..conn(true)
            };
            assert_eq!(data(&c, &cred)["role"], role);
        }
    }

    #[test]
    fn without_a_credential_there_is_no_user_part_and_no_expiry() {
        let cred = Credential {
            username: "default".into(),
            token: Token::default(),
        };
        let mut c = conn(false);
        c.ca_certificate = None;
        let d = data(&c, &cred);
        assert_eq!(d["uri"], "redis://10.0.0.5:6379");
        assert_eq!(d["password"], "");
        assert!(!d.contains_key("expires-at") && !d.contains_key("ca.crt"));
    }

    #[test]
    fn refresh_is_scheduled_from_the_real_lifetime() {
        // Default: a third of the lifetime before expiry.
        assert_eq!(refresh_at(at(0), at(3600), None), at(2400));
        assert_eq!(refresh_at(at(0), at(900), None), at(600));
        // refreshBefore, capped at half the lifetime.
        assert_eq!(
            refresh_at(at(0), at(3600), Some(Duration::from_secs(1200))),
            at(2400)
        );
        assert_eq!(
            refresh_at(at(0), at(30), Some(Duration::from_secs(600))),
            at(15)
        );
        // A token that arrived nearly expired still gets a refresh before it dies.
        assert_eq!(refresh_at(at(0), at(0), None), at(1));
    }

    fn owner() -> OwnerReference {
        OwnerReference {
            api_version: "cache-operator.io/v1alpha1".into(),
            kind: "AccessBinding".into(),
            name: "app".into(),
            uid: "uid-1".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    #[test]
    fn an_unchanged_secret_needs_no_write_and_a_changed_one_does() {
        let wanted = Wanted {
            name: "app-redis".into(),
            namespace: "shop".into(),
            owner: owner(),
            labels: BTreeMap::from([("app".into(), "orders".into())]),
            annotations: BTreeMap::from([(CREDENTIAL_ANNOTATION.into(), "gcp-token x".into())]),
            data: data(&conn(true), &token()),
        };
        let mut existing = wanted.secret();
        assert!(wanted.is_met_by(&existing));
        // Someone else's key is not ours to fight over.
        existing
            .data
            .as_mut()
            .unwrap()
            .insert("extra".into(), ByteString(b"x".to_vec()));
        assert!(wanted.is_met_by(&existing));
        // A key of ours that should no longer be there is.
        let mut stale = wanted.secret();
        let mut fewer = wanted.clone();
        fewer.data.remove(key::CA);
        assert!(!fewer.is_met_by(&stale));
        stale.data.as_mut().unwrap().remove(key::CA);
        assert!(fewer.is_met_by(&stale));
        assert!(!format!("{:?}", token()).contains("ya29"));
    }
}
