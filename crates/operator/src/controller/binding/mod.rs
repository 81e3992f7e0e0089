//! The AccessBinding controller. A pass ([`pass`]) goes one way through its files:
//!
//! - [`observe`]: the cluster, group and user the binding names (from the shared caches), the
//!   credential they issued, and the binding's own Secret;
//! - [`plan`]: pure — the references checked against each other, then the credential (none, a
//!   password, an AUTH token, a token to keep or to mint) or why no Secret is written;
//! - [`execute`]: mint the token, write the Secret (or delete it when access is withdrawn);
//! - [`status`]: the conditions, the token's times and events from what was done, and the next
//!   look before the token is due.
//!
//! The Secret is the record: a token in it is reused until its `refresh-at`, so restarts and
//! resyncs mint nothing new. A failed refresh keeps the Secret as it is while its token is
//! still valid and retries with backoff.

#[cfg(test)]
mod controller_tests;
pub mod execute;
pub mod observe;
pub mod plan;
pub mod secret;
pub mod status;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_operator_api::binding::{AccessBinding, TargetKind};
use cache_operator_api::user_group::UserGroup;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio_util::sync::CancellationToken;

use super::Ctx;
use super::cluster::token;
use super::error::Error;
use super::refs::{cluster_key, group_key, target_key};
use super::shared::{
    BindingFeeds, BindingGuard, ClusterGuard, GroupGuard, ServerlessGuard, parsed,
};
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

/// Run the controller until `stop`: bindings, and what they depend on (clusters, serverless
/// caches, groups, their own Secrets and the groups' password Secrets).
pub async fn run(ctx: Arc<Ctx>, feeds: BindingFeeds, concurrency: u16, stop: CancellationToken) {
    let store = ctx.stores.bindings.clone();
    let (s1, s2, s3, s4) = (store.clone(), store.clone(), store.clone(), store.clone());
    let seen: Mutex<GroupsSeen> = Default::default();
    let controller = skeleton::controller::<AccessBinding>(feeds.bindings, store, concurrency)
        .watches_shared_stream(feeds.clusters, move |c: Arc<ClusterGuard>| {
            let key = (c.namespace().unwrap_or_default(), c.name_any());
            refs(&s1, |b| {
                target_key(b) == (TargetKind::RedisCluster, key.0.as_str(), key.1.as_str())
            })
        })
        .watches_shared_stream(feeds.serverless, move |c: Arc<ServerlessGuard>| {
            let key = (c.namespace().unwrap_or_default(), c.name_any());
            refs(&s4, |b| {
                target_key(b) == (TargetKind::ServerlessCache, key.0.as_str(), key.1.as_str())
            })
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
                return refs(&s3, |b| {
                    target_key(b) == (TargetKind::RedisCluster, key.0.as_str(), key.1.as_str())
                });
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
        pass(&obj, &ctx).await
    }

    /// The Secret, all a binding makes, is owned by it: the garbage collector deletes it with
    /// the binding. No finalizer, so no write for one.
    const FINALIZED: bool = false;

    /// Only for a binding carrying the finalizer of an earlier version.
    async fn cleanup(obj: Arc<Self>, ctx: Arc<Ctx>) -> Result<Cleanup, Error> {
        execute::delete_secret(&ctx, &obj).await?;
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

/// One pass over a binding: observe → plan → execute → status.
pub async fn pass(obj: &AccessBinding, ctx: &Ctx) -> Result<Action, Error> {
    let seen = observe::observe(obj, ctx).await?;
    let plan = plan::plan(obj.desired(), &seen, Timestamp::now());
    let applied = execute::execute(ctx, obj, &plan).await?;
    status::conclude(obj, ctx, plan, applied).await
}
