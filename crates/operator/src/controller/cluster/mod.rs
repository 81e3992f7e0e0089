//! The RedisCluster controller. A pass ([`pass`]) goes one way through its files:
//!
//! - [`observe`]: the spec checked against the UserGroups it names ([`dereference`],
//!   [`validate`]), the AUTH token record ([`token`]) and what the cloud reports;
//! - [`plan`]: pure — the one cloud write (create, a change, an AUTH token step, an on-demand
//!   backup) or the report, from the table of cloud states; deletion ([`cleanup`], the final
//!   backup of [`backups`]) the same way;
//! - [`execute`]: the token record, then the write;
//! - [`status`]: what each answer means, the status and the events.
//!
//! Level-triggered: every pass starts from the object and what the cloud reports, never from
//! memory of earlier passes; the only state carried between passes is in the object's status
//! (the operation being followed, which cloud resource is ours) and the token Secret.

pub mod backups;
pub mod cleanup;
#[cfg(test)]
mod controller_tests;
pub mod cross_region;
pub mod dereference;
pub mod execute;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod observe;
pub mod plan;
pub mod status;
pub mod token;
pub mod validate;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cache_operator_api::Provider;
use cache_operator_api::cluster::RedisCluster;
use jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tokio_util::sync::CancellationToken;

use super::Ctx;
use super::error::Error;
use super::shared::{ClusterFeeds, ClusterGuard, GroupGuard, parsed};
use super::skeleton::{self, Cleanup, Reconcile};

/// A UserGroup's namespace and name.
type GroupKey = (String, String);

/// What a cluster reads of a UserGroup (`dereference::user_group_ids`): that it exists (not
/// being deleted) and, for aws, its ElastiCache ID. Per group, as last seen by the watch mapper.
#[derive(Default)]
struct GroupsSeen(Mutex<HashMap<GroupKey, (bool, Option<String>)>>);

impl GroupsSeen {
    /// Whether this change of `group` is one its clusters read (the first sight of it is).
    fn changed(&self, group: &GroupGuard) -> bool {
        let key = (group.namespace().unwrap_or_default(), group.name_any());
        let id = parsed(group)
            .and_then(|g| g.status.as_ref())
            .and_then(|s| s.user_group_id.clone());
        let now = (group.meta().deletion_timestamp.is_some(), id);
        let before = self
            .0
            .lock()
            .expect("groups seen lock")
            .insert(key, now.clone());
        before != Some(now)
    }
}

/// What the members of a cross-region set read of each other (`cross_region::read`): the
/// spec's `crossRegion`, the cloud resource, state and role, and whether it is being deleted.
/// Per cluster, as last seen by the watch mapper.
#[derive(Default)]
struct SetsSeen(Mutex<HashMap<GroupKey, String>>);

impl SetsSeen {
    /// The other members of `cluster`'s set to wake, when what they read of it changed.
    fn wake(&self, cluster: &ClusterGuard, stores: &super::Stores) -> Vec<ObjectRef<ClusterGuard>> {
        let Some(c) = parsed(cluster) else {
            return Vec::new();
        };
        let Some(cr) = &c.spec.cross_region else {
            return Vec::new();
        };
        let ns = c.namespace().unwrap_or_default();
        let me = c.name_any();
        let st = c.status.clone().unwrap_or_default();
        let now = serde_json::to_string(&(
            cr,
            &st.cloud_resource,
            &st.cloud_state,
            &st.phase,
            &st.cross_region,
            c.metadata.deletion_timestamp.is_some(),
        ))
        .unwrap_or_default();
        let before = self
            .0
            .lock()
            .expect("sets seen lock")
            .insert((ns.clone(), me.clone()), now.clone());
        if before.as_deref() == Some(now.as_str()) {
            return Vec::new();
        }
        let anchor = cr.secondary_of.clone().unwrap_or_else(|| me.clone());
        stores
            .clusters
            .state()
            .iter()
            .filter(|o| {
                parsed(o).is_some_and(|o| {
                    let name = o.name_any();
                    o.namespace().as_deref() == Some(ns.as_str())
                        && name != me
                        && (name == anchor
                            || o.spec
                                .cross_region
                                .as_ref()
                                .and_then(|x| x.secondary_of.as_deref())
                                == Some(anchor.as_str()))
                })
            })
            .map(|o| ObjectRef::from_obj(&**o))
            .collect()
    }
}

/// Run the controller until `stop`. A UserGroup's ID is needed by the aws clusters that list it.
pub async fn run(ctx: Arc<Ctx>, feeds: ClusterFeeds, concurrency: u16, stop: CancellationToken) {
    let store = ctx.stores.clusters.clone();
    let stores = ctx.stores.clone();
    // A group's status changes with every cluster it grants (gcp) or serves; only a change of
    // what clusters read re-runs them, or N clusters listing one group cost N² reconciles.
    let seen = GroupsSeen::default();
    let sets = SetsSeen::default();
    let set_stores = ctx.stores.clone();
    let controller = skeleton::controller::<RedisCluster>(feeds.clusters, store, concurrency)
        .watches_shared_stream(feeds.sets, move |c: Arc<ClusterGuard>| {
            sets.wake(&c, &set_stores)
        })
        .watches_shared_stream(feeds.groups, move |group: Arc<GroupGuard>| {
            if !seen.changed(&group) {
                return Vec::new();
            }
            stores
                .clusters_listing(&group.namespace().unwrap_or_default(), &group.name_any())
                .iter()
                .filter(|c| parsed(c).is_some_and(|c| c.spec.provider == Provider::Aws))
                .map(|c| ObjectRef::from_obj(&**c))
                .collect::<Vec<ObjectRef<ClusterGuard>>>()
        });
    skeleton::drive(controller, ctx, stop).await;
}

impl Reconcile for RedisCluster {
    async fn apply(obj: Arc<Self>, ctx: Arc<Ctx>) -> Result<Action, Error> {
        pass(&obj, &ctx).await
    }

    /// Deletion: `Retain` lets go; `Delete` removes the cloud resource (if it is ours) and
    /// waits until it is gone; deletion protection holds everything.
    async fn cleanup(obj: Arc<Self>, ctx: Arc<Ctx>) -> Result<Cleanup, Error> {
        cleanup(&obj, &ctx).await
    }

    fn unreadable_status() -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::from_iter([("phase".to_owned(), "Failed".into())])
    }
}

/// One pass over a live cluster: observe → plan → execute → status.
pub async fn pass(obj: &RedisCluster, ctx: &Ctx) -> Result<Action, Error> {
    let old = obj.status.clone().unwrap_or_default();
    let seen = observe::observe(obj, ctx).await?;
    let overlap = ctx.settings.password_overlap;
    let course = plan::course(
        &obj.name_any(),
        obj.spec.adopt,
        &old,
        seen,
        Timestamp::now(),
        overlap,
    );
    let applied = execute::execute(ctx, obj, &course).await?;
    status::conclude(obj, ctx, course, applied).await
}

/// A deletion: observe → plan → execute → status.
pub async fn cleanup(obj: &RedisCluster, ctx: &Ctx) -> Result<Cleanup, Error> {
    let old = obj.status.clone().unwrap_or_default();
    let seen = observe::leaving(obj, ctx).await;
    let plan = plan::leave(&old, &seen, obj.spec.deletion_protection, Timestamp::now());
    let left = execute::leave(ctx, &plan).await;
    status::left(obj, ctx, plan, left).await
}

#[cfg(test)]
mod mapper_tests {
    use super::*;
    use cache_operator_testkit::group;
    use kube::core::DeserializeGuard;

    #[test]
    fn clusters_wake_for_a_group_only_when_its_existence_or_id_changes() {
        let seen = GroupsSeen::default();
        let mut g: cache_operator_api::UserGroup =
            group::gcp("clients", &["user:a@example.com"]).parse();
        let guard = |g: &cache_operator_api::UserGroup| DeserializeGuard(Ok(g.clone()));
        assert!(seen.changed(&guard(&g)), "first sight");
        assert!(!seen.changed(&guard(&g)), "nothing clusters read changed");
        g.status.get_or_insert_with(Default::default).clusters = vec!["ns/c1".into()];
        assert!(
            !seen.changed(&guard(&g)),
            "a new grant is not read by clusters"
        );
        g.status.get_or_insert_with(Default::default).user_group_id = Some("ug-1".into());
        assert!(seen.changed(&guard(&g)), "the ElastiCache ID appeared");
        g.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            jiff::Timestamp::now(),
        ));
        assert!(seen.changed(&guard(&g)), "the group is being deleted");
    }
}
