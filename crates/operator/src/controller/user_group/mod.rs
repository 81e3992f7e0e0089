//! The UserGroup controller: dereference (the clusters that list the group, its bindings'
//! rotation intervals) → validate (`api`) → per cloud, observe, plan and apply:
//!
//! - aws ([`aws`], [`users`]): the group's users (created when absent, never duplicated;
//!   passwords generated, kept in a Secret the group owns and rotated with an overlap, see
//!   [`passwords`]), the ElastiCache user group with its `default` user, membership by
//!   difference, and deletion in dependency order.
//! - gcp ([`gcp`]): one conditional IAM binding per cluster that lists the group.
//!
//! → status ([`status`]).

pub mod aws;
#[cfg(test)]
mod controller_tests;
pub mod dereference;
pub mod gcp;
pub mod passwords;
pub mod plan;
pub mod records;
pub mod status;
pub mod users;

use std::collections::BTreeSet;
use std::sync::Arc;

use cache_operator_api::Provider;
use cache_operator_api::condition::{Summary, reason};
use cache_operator_api::model::DesiredUserGroup;
use cache_operator_api::user_group::UserGroup;
use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use tokio_util::sync::CancellationToken;

use self::dereference::referencing_clusters;
use self::status::Pass;
use super::Ctx;
use super::ending::refused_at;
use super::error::Error;
use super::refs::group_of;
use super::shared::{BindingGuard, ClusterGuard, GroupFeeds, GroupGuard, parsed};
use super::skeleton::{self, Cleanup, Reconcile};

/// Run the controller until `stop`: groups, their password Secrets, and what decides their
/// work (the clusters that list them, the bindings that use their users).
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
        .watches_shared_stream(feeds.bindings, |b: Arc<BindingGuard>| {
            let (ns, name) = parsed(&b).and_then(group_of)?;
            Some(ObjectRef::<GroupGuard>::new(&name).within(&ns))
        });
    skeleton::drive(controller, ctx, stop).await;
}

impl Reconcile for UserGroup {
    async fn apply(obj: Arc<Self>, ctx: Arc<Ctx>) -> Result<Action, Error> {
        let mut pass = Pass::new(&obj, &ctx);
        let clusters = referencing_clusters(&obj, &ctx.stores);
        let desired = match obj.desired() {
            Ok(d) => d,
            Err(errors) => {
                let summary = Summary::stalled(reason::INVALID_SPEC, errors.to_string());
                return pass.finish(summary, Action::await_change()).await;
            }
        };
        // The cloud refused a write for this generation: wait for the spec to change.
        if refused_at(&pass.st.conditions, obj.metadata.generation) {
            return Ok(Action::await_change());
        }
        match desired {
            DesiredUserGroup::Gcp(g) => gcp::apply(&mut pass, &g, &clusters).await,
            DesiredUserGroup::Aws(g) => {
                gcp::record_clusters(
                    &mut pass.st,
                    gcp::cluster_names(&gcp::on(&clusters, Provider::Aws)),
                );
                match aws::apply(&mut pass, &g).await {
                    Ok(action) => Ok(action),
                    Err(h) => pass.halt(h).await,
                }
            }
        }
    }

    async fn cleanup(obj: Arc<Self>, ctx: Arc<Ctx>) -> Result<Cleanup, Error> {
        let mut pass = Pass::new(&obj, &ctx);
        let clusters = referencing_clusters(&obj, &ctx.stores);
        match obj.spec.provider {
            Provider::Gcp => {
                let mut projects: BTreeSet<String> =
                    pass.st.grants.iter().map(|g| g.project.clone()).collect();
                if let Ok(DesiredUserGroup::Gcp(g)) = obj.desired() {
                    projects.extend(plan::wanted_grants(&g, &clusters).into_keys());
                }
                gcp::cleanup(&mut pass, projects).await
            }
            Provider::Aws => match aws::cleanup(&mut pass, &clusters).await {
                Ok(done) => Ok(done),
                Err(h) => pass.halt(h).await.map(Cleanup::Pending),
            },
        }
    }
}
