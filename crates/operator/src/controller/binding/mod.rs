//! The AccessBinding controller: dereference the cluster, group and user (from the shared
//! caches) → validate (`api`, then against each other) → plan the credential (reuse, mint or
//! read) → apply (write the binding's Secret) → status, and come back before the credential
//! expires.
//!
//! The Secret is the record: a token in it is reused until its `refresh-at`, so restarts and
//! resyncs mint nothing new. A failed refresh keeps the Secret as it is while its token is
//! still valid and retries with backoff.

pub mod apply;
#[cfg(test)]
mod controller_tests;
pub mod dereference;
pub mod plan;
pub mod secret;
pub mod status;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_operator_api::binding::AccessBinding;
use cache_operator_api::condition::{Summary, reason};
use cache_operator_api::user_group::UserGroup;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio_util::sync::CancellationToken;

use self::status::Pass;
use super::Ctx;
use super::cluster::token;
use super::error::Error;
use super::refs::{cluster_key, group_key};
use super::shared::{BindingFeeds, BindingGuard, ClusterGuard, GroupGuard, parsed};
use super::skeleton::{self, Cleanup, Reconcile};
use super::user_group::passwords;

fn refs(
    store: &Store<BindingGuard>,
    matches: impl Fn(&AccessBinding) -> bool,
) -> Vec<ObjectRef<BindingGuard>> {
    store
        .state()
        .iter()
        .filter(|b| parsed(b).is_some_and(&matches))
        .map(|b| ObjectRef::from_obj(&**b))
        .collect()
}

/// Per group: the signature of what bindings read, and the clusters it has granted.
type GroupsSeen = HashMap<(String, String), (u64, BTreeSet<String>)>;

/// A hash of the parts of a UserGroup that bindings depend on, apart from its grants.
fn group_signature(g: &UserGroup) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    g.metadata.generation.hash(&mut h);
    g.metadata.deletion_timestamp.is_some().hash(&mut h);
    if let Some(s) = &g.status {
        s.observed_generation.hash(&mut h);
        s.user_group_id.hash(&mut h);
        s.users.hash(&mut h);
        for c in &s.conditions {
            (&c.type_, &c.status, &c.reason).hash(&mut h);
        }
    }
    h.finish()
}

/// Run the controller until `stop`: bindings, and what they depend on (clusters, groups, their
/// own Secrets and the groups' password Secrets).
pub async fn run(ctx: Arc<Ctx>, feeds: BindingFeeds, concurrency: u16, stop: CancellationToken) {
    let store = ctx.stores.bindings.clone();
    let (s1, s2, s3) = (store.clone(), store.clone(), store.clone());
    let seen: Mutex<GroupsSeen> = Default::default();
    let controller = skeleton::controller::<AccessBinding>(feeds.bindings, store, concurrency)
        .watches_shared_stream(feeds.clusters, move |c: Arc<ClusterGuard>| {
            let key = (c.namespace().unwrap_or_default(), c.name_any());
            refs(&s1, |b| cluster_key(b) == (key.0.as_str(), key.1.as_str()))
        })
        // A group's status grows a grant per cluster that lists it; re-running every binding of
        // the group on each new grant would make N clusters cost N² reconciles. So a change of
        // what all bindings read re-runs them all, and otherwise only the bindings of clusters
        // whose grant came or went run again.
        .watches_shared_stream(feeds.groups, move |g: Arc<GroupGuard>| {
            let key = (g.namespace().unwrap_or_default(), g.name_any());
            let Some(g) = parsed(&g) else {
                return refs(&s2, |b| {
                    group_key(b) == Some((key.0.as_str(), key.1.as_str()))
                });
            };
            let signature = group_signature(g);
            let granted: BTreeSet<String> = g
                .status
                .as_ref()
                .map(|s| s.clusters.iter().cloned().collect())
                .unwrap_or_default();
            let previous = seen
                .lock()
                .expect("group signatures lock")
                .insert(key.clone(), (signature, granted.clone()));
            match previous {
                Some((old_signature, old_granted)) if old_signature == signature => {
                    let changed: BTreeSet<String> = granted
                        .symmetric_difference(&old_granted)
                        .cloned()
                        .collect();
                    if changed.is_empty() {
                        return Vec::new();
                    }
                    refs(&s2, |b| {
                        let (ns, name) = cluster_key(b);
                        group_key(b) == Some((key.0.as_str(), key.1.as_str()))
                            && changed.contains(&format!("{ns}/{name}"))
                    })
                }
                _ => refs(&s2, |b| {
                    group_key(b) == Some((key.0.as_str(), key.1.as_str()))
                }),
            }
        })
        .watches_shared_stream(feeds.secrets, move |s: Arc<Secret>| {
            let ns = s.namespace().unwrap_or_default();
            if let Some(cluster) = s.labels().get(token::LABEL) {
                let key = (ns, cluster.clone());
                return refs(&s3, |b| cluster_key(b) == (key.0.as_str(), key.1.as_str()));
            }
            if let Some(group) = s.labels().get(passwords::LABEL) {
                let key = (ns, group.clone());
                return refs(&s3, |b| {
                    group_key(b) == Some((key.0.as_str(), key.1.as_str()))
                });
            }
            s.owner_references()
                .iter()
                .filter(|o| o.kind == "AccessBinding" && o.controller == Some(true))
                .map(|o| ObjectRef::new(&o.name).within(&ns))
                .collect()
        });
    skeleton::drive(controller, ctx, stop).await;
}

impl Reconcile for AccessBinding {
    async fn apply(obj: Arc<Self>, ctx: Arc<Ctx>) -> Result<Action, Error> {
        let mut pass = Pass::new(&obj, &ctx);
        let desired = match obj.desired() {
            Ok(d) => d,
            Err(errors) => {
                let summary = Summary::stalled(reason::INVALID_SPEC, errors.to_string());
                return pass.summary(summary, Action::await_change()).await;
            }
        };
        match dereference::resolve(&obj, &desired, &ctx.stores) {
            Ok(resolved) => apply::issue(&mut pass, &desired, resolved).await,
            Err(halt) => pass.halt(halt).await,
        }
    }

    async fn cleanup(obj: Arc<Self>, ctx: Arc<Ctx>) -> Result<Cleanup, Error> {
        apply::delete_secret(&ctx, &obj).await?;
        ctx.metrics
            .set_token_expiry(&obj.namespace().unwrap_or_default(), &obj.name_any(), None);
        Ok(Cleanup::Done)
    }

    /// Backoff, but never so long that a still-valid token would expire before the next try.
    fn retry_within(&self) -> Option<Duration> {
        let Time(expires) = self.status.as_ref()?.token_expires_at.clone()?;
        let left = Duration::try_from(expires.duration_since(Timestamp::now())).unwrap_or_default();
        (!left.is_zero()).then(|| (left / 3).max(Duration::from_secs(1)))
    }
}
