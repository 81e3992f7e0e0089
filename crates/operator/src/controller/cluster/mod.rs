//! The RedisCluster controller: dereference → validate → observe → plan → apply → status.
//!
//! Level-triggered: every pass starts from the object and what the cloud reports, never from
//! memory of earlier passes; the only state carried between passes is in the object's status
//! (the operation being followed, which cloud resource is ours).

pub mod apply;
pub mod backups;
pub mod cleanup;
#[cfg(test)]
mod controller_tests;
pub mod dereference;
#[cfg(test)]
mod fixtures;
pub mod observe;
pub mod plan;
pub mod status;
pub mod token;
pub mod validate;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cache_operator_api::Provider;
use cache_operator_api::cluster::{AuthMode, Phase, RedisCluster};
use cache_operator_api::condition::{Summary, event, reason};
use cache_operator_api::model::DesiredCluster;
use cache_operator_cloud::provider::{Change, Claim, Owner};
use jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use tokio_util::sync::CancellationToken;

use self::cleanup::CleanupPlan;
use self::observe::{Looks, Seen};
use self::plan::{Ending, Outcome, Plan, Then};
use self::status::Pass;
use self::validate::Validated;
use super::Ctx;
use super::ending::Next;
use super::ending::refused_at;
use super::error::{Error, Step};
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
                let outcome = Outcome::new(
                    Phase::Failed,
                    Summary::stalled(reason::INVALID_SPEC, errors.to_string()),
                    Next::AwaitChange,
                );
                return pass.end(Ending::Report(outcome)).await;
            }
            // The cloud refused a write for this generation: wait for the spec to change
            // rather than sending the same request again.
            _ if refused_at(&pass.old.conditions, generation) => {
                return Ok(Action::await_change());
            }
            Validated::Waiting(message) => {
                let outcome =
                    Outcome::waiting(Phase::Pending, reason::REFERENCE_NOT_READY, message);
                return pass.end(Ending::Report(outcome)).await;
            }
            Validated::Desired(d) => *d,
        };
        let owner = owner(&obj);
        let token = match &desired {
            DesiredCluster::Aws(a) if a.auth == AuthMode::Token => {
                Some(token::load(&ctx, &obj).await?)
            }
            _ => None,
        };
        let looks = Looks {
            fresh: token
                .as_ref()
                .is_some_and(|r| r.as_ref().is_some_and(|r| r.requested_at.is_some())),
            backup: match backups::on_demand(desired.backups(), &pass.old, false) {
                backups::OnDemand::Track(name) => Some(name),
                _ => None,
            },
        };
        let seen = observe::for_apply(
            &ctx,
            &desired,
            &pass.old,
            generation,
            &owner,
            obj.spec.adopt,
            &looks,
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
                let ending = plan::failure(&pass.old, &e, Step::Observe);
                return pass.end(ending).await;
            }
        };
        let mut plan = match &seen {
            Some(seen) => plan::plan(&pass.old, obj.spec.adopt, Some(seen)),
            None => plan::absent(&pass.old, operation.as_ref()),
        };
        let owner = match seen.as_ref().and_then(|s| s.attempt) {
            Some(attempt) => Owner { attempt, ..owner },
            None => owner,
        };
        let desired = match (token, desired) {
            (Some(record), DesiredCluster::Aws(a)) => {
                let interval = a.auth_token_rotation_interval;
                let record = tokens(
                    &ctx,
                    &obj,
                    record,
                    seen.as_ref(),
                    &mut plan,
                    interval,
                    &mut pass,
                )
                .await?;
                pass.st.auth_token = Some(token::status(
                    &obj.name_any(),
                    record.as_ref(),
                    seen.as_ref().map(|s| &s.cluster),
                ));
                // The token to send: the one being rotated in, else the current one.
                match record.and_then(|r| match &plan.then {
                    Then::Change {
                        change: Change::AuthToken(cache_operator_cloud::provider::TokenStrategy::Rotate),
                        ..
                    } => r.pending,
                    _ => r.current,
                }) {
                    Some(t) => DesiredCluster::Aws(a.with_auth_token(t)),
                    None => DesiredCluster::Aws(a),
                }
            }
            (_, desired) => desired,
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
        pass.end(ending).await
    }

    /// Deletion: `Retain` lets go; `Delete` removes the cloud resource (if it is ours) and
    /// waits until it is gone; deletion protection holds everything.
    async fn cleanup(obj: Arc<Self>, ctx: Arc<Ctx>) -> Result<Cleanup, Error> {
        let mut pass = Pass::new(&obj, &ctx);
        let desired = obj.desired();
        let policy = cleanup::deletion_policy(&obj);
        let invalid = desired.as_ref().map_err(ToString::to_string);
        if let Some(step) = cleanup::before_cleanup(policy, &pass.old, invalid) {
            return conclude_cleanup(step, &mut pass, &obj, &ctx).await;
        }
        let desired = desired.expect("before_cleanup stops an invalid spec");
        let owner = owner(&obj);
        let seen = match observe::for_cleanup(&ctx, &desired, &pass.old, &owner).await {
            Ok(seen) => seen,
            Err(e) => {
                let ending = plan::failure(&pass.old, &e, Step::Observe);
                return pending(pass.end(ending).await);
            }
        };
        if let Some((o, Claim::Ours)) = &seen {
            status::record(&mut pass.st, o);
        }
        let step = cleanup::cleanup(
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
        if let (false, Some(name)) = (lifting, backups::final_backup_name(&desired, &owner.uid)) {
            let looked = if backups::recorded_final(&pass.old, &name).is_some() {
                observe::final_backup(&ctx, &desired, &pass.old, &name).await
            } else {
                Ok((None, None))
            };
            let (operation, listed) = match looked {
                Ok(found) => found,
                Err(e) => {
                    let ending = plan::failure(&pass.old, &e, Step::Observe);
                    return pending(pass.end(ending).await);
                }
            };
            let step = backups::final_step(
                &pass.old,
                &name,
                operation.as_ref(),
                listed.as_ref(),
                Timestamp::now(),
            );
            match step {
                backups::Final::Take => {
                    let st = &mut pass.st;
                    return match apply::final_backup(
                        &ctx, &obj, &desired, &owner, &name, &resource, st,
                    )
                    .await
                    {
                        Ok(ending) => pending(pass.end(ending).await),
                        Err(note) => released(&ctx, &obj, note).await,
                    };
                }
                backups::Final::Wait(msg) => {
                    let outcome = Outcome::waiting(Phase::Deleting, reason::DELETING, msg);
                    return pending(pass.end(Ending::Report(outcome)).await);
                }
                backups::Final::Failed(e) => {
                    // Asked for again on the next pass.
                    pass.st.operation = None;
                    if let Some(b) = pass.st.backups.as_mut() {
                        b.final_backup = None;
                    }
                    let ending = plan::failure(&pass.old, &e, Step::Apply);
                    return pending(pass.end(ending).await);
                }
                backups::Final::Delete(taken) => {
                    apply::backed_up(&ctx, &obj, taken, &resource, &mut pass.st).await;
                }
            }
        }
        match apply::delete(&ctx, &desired, &owner, lifting, &resource, &mut pass.st).await {
            Ok(ending) => pending(pass.end(ending).await),
            Err(note) => released(&ctx, &obj, note).await,
        }
    }

    fn unreadable_status() -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::from_iter([("phase".to_owned(), "Failed".into())])
    }
}

/// `authMode: token`: the record of the token, brought one step on (see [`token`]). A cluster
/// to create gets its first token recorded before the create; an existing one, once nothing
/// else is to be done, the next rotation step: record changes are written at once, a token
/// change to send becomes the plan's change. Returns the record as it now is.
async fn tokens(
    ctx: &Ctx,
    obj: &RedisCluster,
    record: Option<token::TokenRecord>,
    seen: Option<&Seen>,
    plan: &mut Plan,
    interval: std::time::Duration,
    pass: &mut Pass<'_>,
) -> Result<Option<token::TokenRecord>, Error> {
    let now = Timestamp::now();
    let Some(seen) = seen else {
        if !matches!(plan.then, Then::Create { .. }) {
            return Ok(record);
        }
        let fresh = token::TokenRecord::for_create(record.as_ref(), now);
        if record.as_ref() != Some(&fresh) {
            token::save(ctx, obj, &fresh, interval).await?;
        }
        return Ok(Some(fresh));
    };
    let Then::Report(outcome) = &mut plan.then else {
        return Ok(record);
    };
    if outcome.phase != Phase::Ready || seen.claim != Claim::Ours {
        return Ok(record);
    }
    let cloud = token::TokenCloud::of(&seen.cluster, !seen.changes.is_empty());
    let overlap = ctx.settings.password_overlap;
    let secret = cache_operator_api::lifecycle::auth_token_secret_name(&obj.name_any());
    let mut record = record;
    // A record-only step is followed by the next one at once (at most a few per pass).
    for _ in 0..3 {
        match token::step(record.as_ref(), cloud, now, interval, overlap) {
            token::Step::Wait => outcome.next = Next::Soon,
            token::Step::Idle { next } => outcome.next = Next::ResyncBy(next),
            token::Step::Save {
                record: next,
                send,
                rotated,
            } => {
                token::save(ctx, obj, &next, interval).await?;
                if rotated {
                    let until = next
                        .rotated_at
                        .checked_add(
                            jiff::SignedDuration::try_from(token::overlap(overlap, interval))
                                .unwrap_or_default(),
                        )
                        .unwrap_or(next.rotated_at);
                    let note = format!(
                        "Secret {secret} now holds a new AUTH token; the previous one is accepted until {until}"
                    );
                    pass.note(EventType::Normal, event::AUTH_TOKEN_ROTATED, "Rotate", note)
                        .await;
                }
                record = Some(next);
                if let Some(strategy) = send {
                    plan.then = Then::Change {
                        change: Change::AuthToken(strategy),
                        pending: Vec::new(),
                    };
                    return Ok(record);
                }
                continue;
            }
        }
        break;
    }
    Ok(record)
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
        CleanupPlan::Report(outcome) => pending(pass.end(Ending::Report(outcome)).await),
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
