//! Apply: the only step that writes to the cloud. It carries out a [`Plan`] and records in the
//! status draft what it did (the resource, the operation to follow), so the status can only
//! say what was done.

use cache_operator_api::cluster::{Phase, RedisCluster, RedisClusterStatus};
use cache_operator_api::condition::{event, reason};
use cache_operator_api::lifecycle::{BackupRecord, BackupsStatus};
use cache_operator_api::model::DesiredCluster;
use cache_operator_cloud::ErrorClass;
use cache_operator_cloud::provider::{Change, FinalBackup, Owner};
use jiff::Timestamp;
use kube::runtime::events::EventType;

use super::backups::{self, OnDemand};
use super::cleanup;
use super::observe::Seen;
use super::plan::{self, Ending, Outcome, Plan, Then};
use super::status::record;
use crate::controller::Ctx;
use crate::controller::ending::Next;
use crate::controller::error::Step;
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
    let provider = ctx.clouds.cluster(desired);
    let old = obj.status.clone().unwrap_or_default();
    let owner = &if plan.next_attempt {
        owner.next_attempt()
    } else {
        owner.clone()
    };
    st.attempt = (owner.attempt > 0).then(|| i32::try_from(owner.attempt).unwrap_or(i32::MAX));
    if let (Some(why), Some(seen)) = (&plan.adopt, seen) {
        let resource = &seen.cluster.resource;
        if let Err(e) = provider.adopt(owner, &seen.cluster).await {
            return plan::failure(&old, &e, Step::Apply);
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
            match provider.create(owner).await {
                Ok(created) => {
                    st.cloud_resource = Some(created.resource.clone());
                    st.cloud_uid = None;
                    st.operation = plan::operation_of(created.progress);
                    st.endpoints = None;
                    plan::created(Ok(&created.resource), desired, &old)
                }
                Err(e) => plan::created(Err(&e), desired, &old),
            }
        }
        Then::Change { change, pending } => {
            let result = provider.apply(&change, owner).await;
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
            plan::changed(result.as_ref().map(|_| ()), &change, &pending, &old)
        }
        Then::Report(mut outcome) => {
            if let Some(certs) = seen.and_then(|s| s.ca_certificates.as_ref())
                && !certs.is_empty()
            {
                st.ca_certificate = Some(certs.join("\n"));
            }
            if let Some(b) = seen.and_then(|s| s.backup.as_ref()) {
                let taken = backups::record_of(&b.name, b, Timestamp::now());
                if taken.time.is_some() {
                    let note = format!(
                        "backup {} is ready ({})",
                        b.name,
                        taken.resource.as_deref().unwrap_or(&b.name)
                    );
                    publish(ctx, obj, EventType::Normal, event::BACKUP, "Backup", note).await;
                }
                backups_of(st).on_demand = Some(taken);
            }
            let settled = outcome.phase == Phase::Ready;
            match backups::on_demand(desired.backups(), st, settled) {
                OnDemand::Take(name) => match provider.backup(&name).await {
                    Ok(_) => {
                        backups_of(st).on_demand = Some(backups::requested(&name));
                        let note = format!("taking backup {name}");
                        publish(ctx, obj, EventType::Normal, event::BACKUP, "Backup", note).await;
                        outcome.next = Next::Soon;
                    }
                    // Taken already (an answer lost): follow it.
                    Err(e) if e.is(ErrorClass::AlreadyExists) => {
                        backups_of(st).on_demand = Some(backups::requested(&name));
                        outcome.next = Next::Soon;
                    }
                    Err(e) => return plan::failure(&old, &e, Step::Apply),
                },
                OnDemand::Track(_) => outcome.next = Next::Soon,
                OnDemand::Nothing => {}
            }
            Ending::Report(outcome)
        }
        Then::Fail(e) => {
            if seen.is_none() {
                // A failed create left no cluster: nothing of it to remember.
                st.cloud_uid = None;
            }
            plan::failure(&old, &e, Step::Apply)
        }
    }
}

fn backups_of(st: &mut RedisClusterStatus) -> &mut BackupsStatus {
    st.backups.get_or_insert_with(BackupsStatus::default)
}

/// Ask for the final backup `name` of `resource`: gcp takes it before the delete (follow its
/// operation), aws with it. Recorded in the status and an event either way.
pub async fn final_backup(
    ctx: &Ctx,
    obj: &RedisCluster,
    desired: &DesiredCluster,
    owner: &Owner,
    name: &str,
    resource: &str,
    st: &mut RedisClusterStatus,
) -> Result<Ending, String> {
    let provider = ctx.clouds.cluster(desired);
    let old = st.clone();
    let wait = |msg: String| {
        Ok(Ending::Report(Outcome::waiting(
            Phase::Deleting,
            reason::DELETING,
            msg,
        )))
    };
    match provider.final_backup(owner, name).await {
        Ok(taken) => {
            // gcp backs up first and deletes on a later pass; aws backs up as part of the delete.
            let (progress, note, waiting) = match taken {
                FinalBackup::Before(p) => {
                    let msg =
                        format!("taking the final backup {name} of {resource} before deleting it");
                    (p, msg.clone(), msg)
                }
                FinalBackup::WithDelete(p) => (
                    p,
                    format!("deleting {resource} with a final backup {name}"),
                    format!("deleting {resource} (final backup {name})"),
                ),
            };
            st.operation = plan::operation_of(progress);
            backups_of(st).final_backup = Some(backups::requested(name));
            final_backup_event(ctx, obj, note).await;
            wait(waiting)
        }
        // The name is taken: it is this object's (the name holds its UID). Find it next.
        Err(e) if e.is(ErrorClass::AlreadyExists) => {
            backups_of(st).final_backup = Some(backups::requested(name));
            Ok(Ending::Quiet(Next::Now))
        }
        Err(e) => cleanup::deleting(Err(&e), false, resource, &old),
    }
}

/// The Event that keeps a final backup's name after the object is gone.
async fn final_backup_event(ctx: &Ctx, obj: &RedisCluster, note: String) {
    let (kind, reason) = (EventType::Normal, event::FINAL_BACKUP);
    publish(ctx, obj, kind, reason, "Delete", note).await;
}

/// The final backup is ready: record it (and say so), then delete.
pub async fn backed_up(
    ctx: &Ctx,
    obj: &RedisCluster,
    taken: BackupRecord,
    resource: &str,
    st: &mut RedisClusterStatus,
) {
    let note = format!(
        "the final backup {} of {resource} is ready ({}); deleting the cluster",
        taken.name,
        taken.resource.as_deref().unwrap_or(&taken.name)
    );
    backups_of(st).final_backup = Some(taken);
    final_backup_event(ctx, obj, note).await;
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
    let provider = ctx.clouds.cluster(desired);
    let old = st.clone();
    let result = if lifting {
        provider
            .apply(&Change::DeletionProtection(false), owner)
            .await
            .map(|_| ())
    } else {
        provider.delete(owner).await.map(|progress| {
            if let Some(op) = plan::operation_of(progress) {
                st.operation = Some(op);
            }
        })
    };
    cleanup::deleting(result.as_ref().map(|_| ()), lifting, resource, &old)
}
