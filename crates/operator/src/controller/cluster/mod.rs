//! The RedisCluster controller: dereference → validate → observe → plan → apply → status.
//!
//! Level-triggered: every pass starts from the object and what the cloud reports, never from
//! memory of earlier passes; the only state carried between passes is in the object's status
//! (the operation being followed, which cloud resource is ours).

pub mod apply;
#[cfg(test)]
mod controller_tests;
pub mod dereference;
#[cfg(test)]
mod fixtures;
pub mod observe;
pub mod plan;
pub mod status;
pub mod validate;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cache_operator_api::Provider;
use cache_operator_api::cluster::{Phase, RedisCluster};
use cache_operator_api::condition::{Summary, event, reason};
use cache_operator_cloud::provider::{Claim, Owner};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tokio_util::sync::CancellationToken;

use self::plan::{CleanupPlan, Next, Outcome};
use self::status::Pass;
use self::validate::Validated;
use super::Ctx;
use super::error::{Error, Step, refused_at};
use super::shared::{ClusterFeeds, ClusterGuard, GroupGuard, parsed};
use super::skeleton::{self, Cleanup, Reconcile};
use super::status::publish;

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

/// Run the controller until `stop`. A UserGroup's ID is needed by the aws clusters that list it.
pub async fn run(ctx: Arc<Ctx>, feeds: ClusterFeeds, concurrency: u16, stop: CancellationToken) {
    let store = ctx.stores.clusters.clone();
    let stores = ctx.stores.clone();
    // A group's status changes with every cluster it grants (gcp) or serves; only a change of
    // what clusters read re-runs them, or N clusters listing one group cost N² reconciles.
    let seen = GroupsSeen::default();
    let controller = skeleton::controller::<RedisCluster>(feeds.clusters, store, concurrency)
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

/// The object as the owner of its cloud writes, on the attempt its status records.
fn owner(obj: &RedisCluster) -> Owner {
    let attempt = obj.status.as_ref().and_then(|s| s.attempt).unwrap_or(0);
    Owner {
        uid: obj.uid().unwrap_or_default(),
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        generation: obj.metadata.generation.unwrap_or(0),
        attempt: u32::try_from(attempt).unwrap_or(0),
    }
}

impl Reconcile for RedisCluster {
    async fn apply(obj: Arc<Self>, ctx: Arc<Ctx>) -> Result<Action, Error> {
        let mut pass = Pass::new(&obj, &ctx);
        let generation = obj.metadata.generation;
        let user_groups = dereference::user_group_ids(&obj, &ctx.stores);
        let desired = match validate::validate(&obj, user_groups) {
            Validated::InvalidSpec(errors) => {
                return pass
                    .finish(Outcome {
                        phase: Phase::Failed,
                        summary: Summary::stalled(reason::INVALID_SPEC, errors.to_string()),
                        next: Next::Then(Action::await_change()),
                    })
                    .await;
            }
            // The cloud refused a write for this generation: wait for the spec to change
            // rather than sending the same request again.
            _ if refused_at(&pass.old.conditions, generation) => {
                return Ok(Action::await_change());
            }
            Validated::Waiting(message) => {
                return pass
                    .finish(Outcome::waiting(
                        Phase::Pending,
                        reason::REFERENCE_NOT_READY,
                        message,
                    ))
                    .await;
            }
            Validated::Desired(d) => *d,
        };
        let owner = owner(&obj);
        let seen = observe::for_apply(
            &ctx,
            &desired,
            &pass.old,
            generation,
            &owner,
            obj.spec.adopt,
        )
        .await;
        let seen = match seen {
            Ok(None) => observe::absent(&ctx, &desired, &pass.old)
                .await
                .map(|op| (None, op)),
            Ok(Some(seen)) => Ok((Some(seen), None)),
            Err(e) => Err(e),
        };
        let (seen, operation) = match seen {
            Ok(seen) => seen,
            Err(e) => {
                let ending = plan::failure(&pass.old, &e, ctx.timing.max_backoff);
                return pass.end(ending, Step::Observe).await;
            }
        };
        let plan = match &seen {
            Some(seen) => plan::plan(&pass.old, obj.spec.adopt, Some(seen)),
            None => plan::absent(&pass.old, operation.as_ref()),
        };
        let owner = match seen.as_ref().and_then(|s| s.attempt) {
            Some(attempt) => Owner { attempt, ..owner },
            None => owner,
        };
        let ending = apply::apply(
            &ctx,
            &obj,
            &desired,
            &owner,
            seen.as_ref(),
            plan,
            &mut pass.st,
        )
        .await;
        pass.end(ending, Step::Apply).await
    }

    /// Deletion: `Retain` lets go; `Delete` removes the cloud resource (if it is ours) and
    /// waits until it is gone; deletion protection holds everything.
    async fn cleanup(obj: Arc<Self>, ctx: Arc<Ctx>) -> Result<Cleanup, Error> {
        let mut pass = Pass::new(&obj, &ctx);
        let desired = obj.desired();
        let policy = plan::deletion_policy(&obj);
        let invalid = desired.as_ref().map_err(ToString::to_string);
        if let Some(step) = plan::before_cleanup(policy, &pass.old, invalid) {
            return conclude_cleanup(step, &mut pass, &obj, &ctx).await;
        }
        let desired = desired.expect("before_cleanup stops an invalid spec");
        let owner = owner(&obj);
        let seen = match observe::for_cleanup(&ctx, &desired, &pass.old, &owner).await {
            Ok(seen) => seen,
            Err(e) => {
                let ending = plan::failure(&pass.old, &e, ctx.timing.max_backoff);
                return pending(pass.end(ending, Step::Observe).await);
            }
        };
        if let Some((o, Claim::Ours)) = &seen {
            status::record(&mut pass.st, o);
        }
        let step = plan::cleanup(
            &pass.old,
            &desired,
            seen.as_ref().map(|(o, c)| (o, c)),
            obj.spec.deletion_protection,
        );
        let lifting = match step {
            CleanupPlan::LiftProtection => true,
            CleanupPlan::Delete => false,
            other => return conclude_cleanup(other, &mut pass, &obj, &ctx).await,
        };
        let resource = seen.map(|(o, _)| o.resource).unwrap_or_default();
        match apply::delete(&ctx, &desired, &owner, lifting, &resource, &mut pass.st).await {
            Ok(ending) => pending(pass.end(ending, Step::Apply).await),
            Err(note) => released(&ctx, &obj, note).await,
        }
    }

    fn unreadable_status() -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::from_iter([("phase".to_owned(), "Failed".into())])
    }
}

/// A cleanup plan that needs no cloud write.
async fn conclude_cleanup(
    step: CleanupPlan,
    pass: &mut Pass<'_>,
    obj: &RedisCluster,
    ctx: &Ctx,
) -> Result<Cleanup, Error> {
    match step {
        CleanupPlan::LetGo(note) => released(ctx, obj, note).await,
        CleanupPlan::Report(outcome) => pending(pass.finish(outcome).await),
        CleanupPlan::LiftProtection | CleanupPlan::Delete => {
            unreachable!("planned only after looking at the cloud, and handled there")
        }
    }
}

async fn released(ctx: &Ctx, obj: &RedisCluster, note: String) -> Result<Cleanup, Error> {
    publish(ctx, obj, EventType::Normal, event::RELEASED, "Delete", note).await;
    Ok(Cleanup::Done)
}

fn pending(result: Result<Action, Error>) -> Result<Cleanup, Error> {
    result.map(Cleanup::Pending)
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
