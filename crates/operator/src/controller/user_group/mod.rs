//! The UserGroup controller. A pass ([`pass`]) goes one way through its files, for both
//! clouds:
//!
//! - [`observe`]: the clusters that list the group and its bindings' rotation intervals (from
//!   the shared caches); aws: the password records, the users and the user group;
//! - [`plan`]: pure — aws: the users (created when absent, never duplicated; passwords
//!   generated, kept in a Secret the group owns, see [`passwords`], and rotated with an overlap
//!   by the shared rotation machine), the ElastiCache user group with its `default` user,
//!   membership by difference; gcp: one set of conditional IAM grants per project of the
//!   clusters that list the group;
//! - [`execute`]: the writes in order, each recorded before the cloud call that depends on it;
//! - [`status`]: the status, events and next look from what was done.
//!
//! A deletion ([`cleanup`]) goes the same way: the user group once no cluster uses it, then its
//! users, then the password Secret (aws); every grant (gcp).

#[cfg(test)]
mod controller_tests;
pub mod execute;
pub mod observe;
pub mod passwords;
pub mod plan;
pub mod status;

use std::sync::Arc;

use cache_operator_api::user_group::UserGroup;
use jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use tokio_util::sync::CancellationToken;

use super::Ctx;
use super::ending::refused_at;
use super::error::Error;
use super::refs::group_of;
use super::shared::{BindingGuard, ClusterGuard, GroupFeeds, GroupGuard, ServerlessGuard, parsed};
use super::skeleton::{self, Cleanup, Reconcile};

/// Run the controller until `stop`: groups, their password Secrets, and what decides their
/// work (the clusters and serverless caches that name them, the bindings that use their users).
pub async fn run(ctx: Arc<Ctx>, feeds: GroupFeeds, concurrency: u16, stop: CancellationToken) {
    let store = ctx.stores.groups.clone();
    let controller = skeleton::controller::<UserGroup>(feeds.groups, store, concurrency)
        .owns_shared_stream(feeds.secrets)
        .watches_shared_stream(feeds.clusters, |c: Arc<ClusterGuard>| {
            let Some(c) = parsed(&c) else {
                return Vec::new();
            };
            let ns = c.namespace().unwrap_or_default();
            c.spec
                .user_group_refs
                .iter()
                .map(|r| ObjectRef::<GroupGuard>::new(&r.name).within(&ns))
                .collect()
        })
        .watches_shared_stream(feeds.serverless, |c: Arc<ServerlessGuard>| {
            let c = parsed(&c)?;
            let ns = c.namespace().unwrap_or_default();
            let r = c.spec.user_group_ref.as_ref()?;
            Some(ObjectRef::<GroupGuard>::new(&r.name).within(&ns))
        })
        .watches_shared_stream(feeds.bindings, |b: Arc<BindingGuard>| {
            let (ns, name) = parsed(&b).and_then(group_of)?;
            Some(ObjectRef::<GroupGuard>::new(&name).within(&ns))
        });
    skeleton::drive(controller, ctx, stop).await;
}

impl Reconcile for UserGroup {
    async fn apply(obj: Arc<Self>, ctx: Arc<Ctx>) -> Result<Action, Error> {
        pass(&obj, &ctx).await
    }

    async fn cleanup(obj: Arc<Self>, ctx: Arc<Ctx>) -> Result<Cleanup, Error> {
        cleanup(&obj, &ctx).await
    }
}

/// One pass over a group: observe → plan → execute → status.
pub async fn pass(obj: &UserGroup, ctx: &Ctx) -> Result<Action, Error> {
    let status = obj.status.clone().unwrap_or_default();
    // The cloud refused a write for this generation: wait for the spec to change.
    if refused_at(&status.conditions, obj.metadata.generation) {
        return Ok(Action::await_change());
    }
    let desired = obj.desired();
    let seen = observe::observe(obj, &desired, ctx).await?;
    let facts = plan::Facts {
        status: &status,
        now: Timestamp::now(),
        overlap: ctx.settings.password_overlap,
    };
    let plan = plan::plan(&desired, &seen, facts);
    let applied = execute::execute(ctx, obj, &plan).await?;
    status::conclude(obj, ctx, plan, applied).await
}

/// A deletion: observe → plan → execute → status.
pub async fn cleanup(obj: &UserGroup, ctx: &Ctx) -> Result<Cleanup, Error> {
    let status = obj.status.clone().unwrap_or_default();
    let leaving = observe::leaving(obj, ctx).await;
    let plan = match &leaving {
        Ok(l) => plan::leave(&obj.desired(), obj.spec.provider, Some(l), &status),
        Err(_) => plan::leave(&obj.desired(), obj.spec.provider, None, &status),
    };
    let left = match leaving {
        Err(e) => execute::Left {
            failed: Some(e),
            ..Default::default()
        },
        Ok(_) => execute::leave(ctx, obj, &plan).await?,
    };
    status::left(obj, ctx, plan, left).await
}
