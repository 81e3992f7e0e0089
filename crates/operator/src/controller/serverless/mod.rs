//! The ServerlessCache controller. A pass ([`pass`]) goes one way through its files:
//!
//! - [`observe`]: the spec checked and its user group resolved (shared caches), the cache as
//!   the cloud reports it (one paged DescribeServerlessCaches per region serves every cache,
//!   settled or in flight; one Describe follows only our own write) and whose it is;
//! - [`plan`]: pure — create, one field to modify, re-create after a `create-failed` once the
//!   spec changed, or the report; deletion (with its final snapshot) the same way;
//! - [`execute`]: the one cloud write;
//! - [`status`]: what the answer means, the status and the events.
//!
//! Level-triggered: the only state between passes is the status (the cache's ARN, proving it
//! ours, and what was reported); each pass compares the spec with the cloud afresh.

#[cfg(test)]
mod controller_tests;
pub mod execute;
pub mod observe;
pub mod plan;
pub mod status;

use std::sync::Arc;

use cache_operator_api::ServerlessCache;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use tokio_util::sync::CancellationToken;

use super::Ctx;
use super::ending;
use super::error::Error;
use super::shared::{GroupGuard, ServerlessFeeds, ServerlessGuard, parsed};
use super::skeleton::{self, Cleanup, Reconcile};

/// Run the controller until `stop`. A UserGroup's change (its ElastiCache ID) wakes the caches
/// that name it.
pub async fn run(ctx: Arc<Ctx>, feeds: ServerlessFeeds, concurrency: u16, stop: CancellationToken) {
    let store = ctx.stores.serverless.clone();
    let caches = store.clone();
    let controller = skeleton::controller::<ServerlessCache>(feeds.caches, store, concurrency)
        .watches_shared_stream(feeds.groups, move |group: Arc<GroupGuard>| {
            let ns = group.namespace().unwrap_or_default();
            let name = group.name_any();
            caches
                .state()
                .iter()
                .filter(|c| {
                    parsed(c).is_some_and(|c| {
                        c.namespace().as_deref() == Some(ns.as_str())
                            && c.spec
                                .user_group_ref
                                .as_ref()
                                .is_some_and(|r| r.name == name)
                    })
                })
                .map(|c| ObjectRef::from_obj(&**c))
                .collect::<Vec<ObjectRef<ServerlessGuard>>>()
        });
    skeleton::drive(controller, ctx, stop).await;
}

impl Reconcile for ServerlessCache {
    async fn apply(obj: Arc<Self>, ctx: Arc<Ctx>) -> Result<Action, Error> {
        pass(&obj, &ctx).await
    }

    async fn cleanup(obj: Arc<Self>, ctx: Arc<Ctx>) -> Result<Cleanup, Error> {
        cleanup(&obj, &ctx).await
    }

    fn unreadable_status() -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::from_iter([("phase".to_owned(), "Failed".into())])
    }
}

/// One pass over a live cache: observe → plan → execute → status.
pub async fn pass(obj: &ServerlessCache, ctx: &Ctx) -> Result<Action, Error> {
    let old = obj.status.clone().unwrap_or_default();
    let refused = ending::refused_at(&old.conditions, obj.metadata.generation);
    let seen = observe::observe(obj, refused, ctx).await;
    let plan = plan::plan(&seen, &old, obj.metadata.generation);
    let applied = execute::execute(ctx, &seen, &plan).await;
    status::conclude(obj, ctx, plan, applied).await
}

/// A deletion: observe → plan → execute → status.
pub async fn cleanup(obj: &ServerlessCache, ctx: &Ctx) -> Result<Cleanup, Error> {
    let old = obj.status.clone().unwrap_or_default();
    let looked = observe::leaving(obj, ctx).await;
    let plan = plan::leave(
        &looked,
        &old,
        obj.spec.deletion_protection,
        &obj.uid().unwrap_or_default(),
    );
    let applied = execute::leave(ctx, &plan).await;
    status::left(obj, ctx, plan, applied).await
}
