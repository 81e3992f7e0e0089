//! Observe: everything a binding's pass reads, gathered into one [`Observed`] — the cluster and
//! the group it names (from the shared caches, no API reads), the credential the group or the
//! cluster issued, and the binding's own Secret as the operator's cache holds it. Reads only;
//! what they mean is the plan's.

use std::sync::Arc;

use cache_operator_api::binding::{AccessBinding, TargetKind};
use cache_operator_api::{Provider, RedisCluster, ServerlessCache, UserGroup};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::core::DeserializeGuard;
use kube::{Api, ResourceExt};

use super::secret::{CREDENTIAL_ANNOTATION, Token, key};
use crate::controller::cluster::token;
use crate::controller::error::{At, Error, Step};
use crate::controller::refs::{cluster_of, granted_clusters_digest, group_of};
use crate::controller::shared::parsed;
use crate::controller::user_group::passwords;
use crate::controller::{Ctx, Issued};

/// A referenced object as the caches hold it.
#[derive(Clone, Debug)]
pub enum Found<K> {
    Missing,
    /// It does not match this operator's schema.
    Unreadable,
    Here(K),
}

impl<K: Clone> Found<K> {
    fn of(cached: Option<Arc<DeserializeGuard<K>>>) -> Self {
        match cached {
            None => Found::Missing,
            Some(guard) => parsed(&guard)
                .cloned()
                .map_or(Found::Unreadable, Found::Here),
        }
    }
}

/// What an existing Secret of this binding holds, for reusing a still-good token.
#[derive(Clone, Debug, PartialEq)]
pub struct Existing {
    pub secret: Arc<Secret>,
    /// Written for this binding (its controller owner reference names it).
    pub ours: bool,
    pub token: Token,
    /// Which credential it is (see [`CREDENTIAL_ANNOTATION`]).
    pub credential: Option<String>,
}

/// Everything a pass over a binding reads.
#[derive(Clone, Debug)]
pub struct Observed {
    /// The binding's namespace.
    pub namespace: String,
    /// The only namespace the caches hold (`--namespace`), if any.
    pub watched: Option<String>,
    /// What the binding points at: a RedisCluster or a ServerlessCache.
    pub kind: TargetKind,
    /// The target's namespace and name, and the target (as the one of the two kinds it is).
    pub cluster_at: (String, String),
    pub cluster: Found<RedisCluster>,
    pub serverless: Found<ServerlessCache>,
    /// The target's `spec.access` admits bindings of the binding's namespace.
    pub admitted: bool,
    /// The group's namespace and name when the binding names one, and the group.
    pub group_at: Option<(String, String)>,
    pub group: Found<UserGroup>,
    /// The digest of the gcp clusters that list the group now (for a gcp binding of a service
    /// account, which must wait until the group granted it on them).
    pub listing: Option<String>,
    /// The current password of the binding's user, from its group's Secret (aws).
    pub password: Option<Issued>,
    /// The cluster's AUTH token, from its Secret (aws `authMode: token`).
    pub auth_token: Option<Issued>,
    /// The binding's Secret in the operator's cache; `None` when the cache has none (a Secret
    /// of that name written by someone else is not in it).
    pub secret: Option<Existing>,
}

/// Read what a pass over `b` needs (from the caches, and the binding's own Secret afresh when
/// the cache has not seen one this binding wrote).
pub async fn observe(b: &AccessBinding, ctx: &Ctx) -> Result<Observed, Error> {
    let stores = &ctx.stores;
    let user = b.spec.user.as_deref();
    let namespace = b.namespace().unwrap_or_default();
    let cluster_at = cluster_of(b);
    let (kind, _) = b.spec.target();
    let (cluster, serverless) = match kind {
        TargetKind::RedisCluster => (
            Found::of(stores.cluster(&cluster_at.0, &cluster_at.1)),
            Found::Missing,
        ),
        TargetKind::ServerlessCache => (
            Found::Missing,
            Found::of(stores.serverless_cache(&cluster_at.0, &cluster_at.1)),
        ),
    };
    let group_at = group_of(b);
    let group = match &group_at {
        Some((ns, name)) => Found::of(stores.group(ns, name)),
        None => Found::Missing,
    };
    let (provider, admitted) = match (&cluster, &serverless) {
        (Found::Here(c), _) => (
            Some(c.spec.provider),
            c.spec.access.as_ref().is_some_and(|a| a.admits(&namespace)),
        ),
        (_, Found::Here(s)) => (
            Some(Provider::Aws),
            s.spec.access.as_ref().is_some_and(|a| a.admits(&namespace)),
        ),
        _ => (None, false),
    };
    let listing = match (&group_at, provider, user) {
        (Some((ns, name)), Some(Provider::Gcp), Some(_)) => {
            Some(granted_clusters_digest(&stores.clusters_listing(ns, name)))
        }
        _ => None,
    };
    let password = match (&group_at, provider, user) {
        (Some((ns, name)), Some(Provider::Aws), Some(user)) => {
            passwords::issued(stores, ns, name, &user.to_ascii_lowercase())
        }
        _ => None,
    };
    let auth_token = match (kind, provider) {
        (TargetKind::RedisCluster, Some(Provider::Aws)) => {
            token::issued(stores, &cluster_at.0, &cluster_at.1)
        }
        _ => None,
    };
    let uid = b.uid().unwrap_or_default();
    let name = b.secret_name();
    // A Secret this binding wrote (its status says so) that the cache has not seen yet is
    // read afresh, so that it is refreshed, not written anew; a binding that wrote none has
    // nothing to read (a Secret of someone else under that name is looked for before a
    // first write).
    let wrote = b.status.as_ref().and_then(|s| s.secret_name.as_deref()) == Some(name);
    let secret = match stores.secret(&namespace, name) {
        Some(cached) => Some(existing(cached, &uid)),
        None if wrote => Api::<Secret>::namespaced(ctx.client.clone(), &namespace)
            .get_opt(name)
            .await
            .at(Step::Observe)?
            .map(|s| existing(Arc::new(s), &uid)),
        None => None,
    };
    Ok(Observed {
        namespace,
        watched: stores.namespace.clone(),
        kind,
        cluster_at,
        cluster,
        serverless,
        admitted,
        group_at,
        group,
        listing,
        password,
        auth_token,
        secret,
    })
}

/// What a Secret of the binding `uid` holds.
fn existing(secret: Arc<Secret>, uid: &str) -> Existing {
    let data = secret.data.clone().unwrap_or_default();
    let text = |k: &str| {
        data.get(k)
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
    };
    let time = |k: &str| text(k).and_then(|v| v.parse::<Timestamp>().ok());
    Existing {
        ours: secret
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.uid == uid && o.kind == "AccessBinding"),
        token: Token {
            password: text(key::PASSWORD).unwrap_or_default(),
            expires_at: time(key::EXPIRES_AT),
            refresh_at: time(key::REFRESH_AT),
        },
        credential: secret
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(CREDENTIAL_ANNOTATION).cloned()),
        secret,
    }
}
