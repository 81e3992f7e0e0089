//! The controllers, one folder per kind, each pass the same way through its files:
//!
//! observe (one value of everything read) → plan (pure) → execute (the only cloud and API
//! writes; what was applied) → status (from what was applied).
//!
//! What they share lives here: the [`skeleton`] (finalizer, error policy, unreadable objects),
//! [`ending`] (how every pass ends, one meaning of a failed cloud call), [`error`] (the step in
//! every error), [`status`] (the status writer and events), [`rotation`] (the credential
//! rotation machine) and [`shared`] (one watch per kind, feeding every controller). See
//! `crates/operator/README.md` for a map.

pub mod binding;
pub mod cluster;
pub mod ending;
pub mod error;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod refs;
pub mod rotation;
pub mod serverless;
pub mod shared;
pub mod skeleton;
#[cfg(test)]
mod skeleton_tests;
pub mod status;
pub mod user_group;

use std::fmt::Debug;
use std::ops::Deref;
use std::sync::Arc;

use kube::{Api, Resource};
use serde::de::DeserializeOwned;

pub use error::{Error, Step};
pub use shared::Stores;

use crate::context::Context;

/// Keeps objects until the operator has cleaned up after them in the cloud.
pub const FINALIZER: &str = "cache-operator.io/cleanup";
/// The field manager of every write the operator makes.
pub const MANAGER: &str = "cache-operator";
/// Label on every object the operator writes.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "cache-operator");

/// What a reconcile of any kind gets: the clients and settings, and the shared caches of the
/// objects it may refer to.
pub struct Ctx {
    pub base: Arc<Context>,
    pub stores: Stores,
}

impl Deref for Ctx {
    type Target = Context;
    fn deref(&self) -> &Context {
        &self.base
    }
}

/// `K` in one namespace, or in all when the operator watches every namespace.
pub fn api_in<K>(client: &kube::Client, namespace: &Option<String>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// What another kind may know of a credential the operator keeps (a user's password, a
/// cluster's AUTH token): the one clients are given, and when the next rotation replaces it.
/// `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    pub secret: String,
    pub rotate_at: Option<jiff::Timestamp>,
}

impl Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("rotate_at", &self.rotate_at)
            .finish_non_exhaustive()
    }
}

/// A Secret of credentials the operator keeps for `owner` (a UserGroup's passwords, a
/// RedisCluster's AUTH token): labelled as ours and as `label`'s, owned by `owner` so it goes
/// with it.
pub fn owned_secret<K>(
    owner: &K,
    name: String,
    label: &str,
    data: impl IntoIterator<Item = (String, String)>,
) -> k8s_openapi::api::core::v1::Secret
where
    K: Resource<DynamicType = ()>,
{
    use k8s_openapi::ByteString;
    use kube::ResourceExt as _;
    use kube::api::ObjectMeta;
    let owner_ref = owner
        .controller_owner_ref(&())
        .expect("a stored object has a name and uid");
    k8s_openapi::api::core::v1::Secret {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: owner.namespace(),
            labels: Some(std::collections::BTreeMap::from([
                (MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()),
                (label.to_owned(), owner.name_any()),
            ])),
            owner_references: Some(vec![owner_ref]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(
            data.into_iter()
                .map(|(k, v)| (k, ByteString(v.into_bytes())))
                .collect(),
        ),
        ..Default::default()
    }
}
