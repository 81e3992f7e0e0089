//! Apply: the only step that writes to the cloud. It carries out a [`Plan`] and records in the
//! status draft what it did (the resource, the operation to follow), so the status can only
//! say what was done.

use cache_operator_api::cluster::{RedisCluster, RedisClusterStatus};
use cache_operator_api::condition::{event, reason};
use cache_operator_api::model::DesiredCluster;
use cache_operator_cloud::provider::{Change, Owner};
use kube::runtime::events::EventType;

use super::observe::Seen;
use super::plan::{self, Ending, Plan, Then};
use super::status::record;
use crate::controller::Ctx;
use crate::controller::status::publish;

pub async fn apply(
    ctx: &Ctx,
    obj: &RedisCluster,
    desired: &DesiredCluster,
    owner: &Owner,
    seen: Option<&Seen>,
    plan: Plan,
    st: &mut RedisClusterStatus,
) -> Ending {
    let provider = ctx.providers.for_desired(desired).clone();
    let old = obj.status.clone().unwrap_or_default();
    let max_backoff = ctx.timing.max_backoff;
    let owner = &if plan.next_attempt {
        owner.next_attempt()
    } else {
        owner.clone()
    };
    st.attempt = (owner.attempt > 0).then(|| i32::try_from(owner.attempt).unwrap_or(i32::MAX));
    if let (Some(why), Some(seen)) = (&plan.adopt, seen) {
        let resource = &seen.cluster.resource;
        if let Err(e) = provider.adopt(desired, owner, &seen.cluster).await {
            return plan::failure(&old, &e, max_backoff);
        }
        st.adopted = true;
        let note = format!("adopted {resource} ({why})");
        publish(ctx, obj, EventType::Normal, event::ADOPTED, "Adopt", note).await;
    }
    if let (true, Some(seen)) = (plan.record, seen) {
        record(st, &seen.cluster);
    }
    if plan.clear_operation {
        st.operation = None;
    }
    match plan.then {
        Then::Create { vanished } => {
            if let Some(gone) = vanished {
                let note = format!("{gone} disappeared from the cloud; creating it again");
                publish(
                    ctx,
                    obj,
                    EventType::Warning,
                    reason::NOT_FOUND_IN_CLOUD,
                    "Create",
                    note,
                )
                .await;
            }
            match provider.create(desired, owner).await {
                Ok(created) => {
                    st.cloud_resource = Some(created.resource.clone());
                    st.cloud_uid = None;
                    st.operation = plan::operation_of(created.progress);
                    st.endpoints = None;
                    plan::created(Ok(&created.resource), desired, &old, max_backoff)
                }
                Err(e) => plan::created(Err(&e), desired, &old, max_backoff),
            }
        }
        Then::Change { change, pending } => {
            let result = provider.apply(desired, &change, owner).await;
            if let Ok(progress) = &result {
                if let Some(op) = plan::operation_of(progress.clone()) {
                    st.operation = Some(op);
                }
                let note = format!("changing {}", change.describe());
                publish(
                    ctx,
                    obj,
                    EventType::Normal,
                    reason::UPDATING,
                    "Update",
                    note,
                )
                .await;
            }
            plan::changed(
                result.as_ref().map(|_| ()),
                &change,
                &pending,
                &old,
                max_backoff,
            )
        }
        Then::Report(outcome) => {
            if let Some(certs) = seen.and_then(|s| s.ca_certificates.as_ref())
                && !certs.is_empty()
            {
                st.ca_certificate = Some(certs.join("\n"));
            }
            Ending::Report(outcome)
        }
        Then::Fail(e) => {
            if seen.is_none() {
                // A failed create left no cluster: nothing of it to remember.
                st.cloud_uid = None;
            }
            plan::failure(&old, &e, max_backoff)
        }
    }
}

/// Lift the cloud's deletion protection (`lifting`) or delete the cluster.
pub async fn delete(
    ctx: &Ctx,
    desired: &DesiredCluster,
    owner: &Owner,
    lifting: bool,
    resource: &str,
    st: &mut RedisClusterStatus,
) -> Result<Ending, String> {
    let provider = ctx.providers.for_desired(desired).clone();
    let old = st.clone();
    let result = if lifting {
        provider
            .apply(desired, &Change::DeletionProtection(false), owner)
            .await
            .map(|_| ())
    } else {
        provider.delete(desired, owner).await.map(|progress| {
            if let Some(op) = plan::operation_of(progress) {
                st.operation = Some(op);
            }
        })
    };
    plan::deleting(
        result.as_ref().map(|_| ()),
        lifting,
        resource,
        &old,
        ctx.timing.max_backoff,
    )
}
