//! Status: what a pass over a cluster reports from what was done — the phase, conditions and
//! observed facts, what a cloud call's answer means, the events of what was done — written once
//! at the end of the pass (only when changed), with an event when Ready says something new.

use cache_operator_api::cluster::{ClusterEndpoints, Phase, RedisCluster, RedisClusterStatus};
use cache_operator_api::common::HostPort;
use cache_operator_api::condition::{self, Summary, event, reason};
use cache_operator_api::lifecycle::{BackupRecord, BackupsStatus, MaintenanceStatus};
use cache_operator_api::model::DesiredCluster;
use cache_operator_cloud::provider::{
    Change, Endpoint, FinalBackup, ObservedCluster, ObservedMaintenance, Progress,
};
use cache_operator_cloud::{CloudError, ErrorClass};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::backups;
use super::cross_region;
use super::execute::{Applied, Left};
use super::observe::Seen;
use super::plan::{Act, Course, Ending, Leave, Outcome, Then, describe};
use crate::controller::Ctx;
use crate::controller::ending::{Next, OnFailure, cloud_failure};
use crate::controller::error::{Error, Step};
use crate::controller::skeleton::Cleanup;

use crate::controller::status::{Draft, Drafted};

/// A cluster's pass and the status it drafts from the one it found.
pub type Pass<'a> = Draft<'a, RedisCluster>;

/// A cluster's status names its cloud instance from the start, and says its phase.
impl Drafted for RedisCluster {
    type Phase = Phase;

    fn begin(&self, st: &mut RedisClusterStatus) {
        st.instance_id = Some(self.instance_id().to_owned());
    }

    fn record_phase(st: &mut RedisClusterStatus, phase: Phase, summary: &Summary) {
        st.phase = Some(phase);
        st.message = Some(summary.message().to_owned()).filter(|m| !m.is_empty());
    }
}

/// Write the status of a pass over `obj` whose course was `course` and whose calls answered
/// `applied`, and end it.
pub async fn conclude(
    obj: &RedisCluster,
    ctx: &Ctx,
    course: Course,
    applied: Applied,
) -> Result<Action, Error> {
    let pass = &mut Pass::new(obj, ctx);
    let ending = match course {
        Course::End(ending) => ending,
        Course::Unseen(e) => failure(&pass.old, &e, Step::Observe),
        Course::Go(go) => went(pass, *go, applied).await,
    };
    pass.end(ending).await
}

async fn went(pass: &mut Pass<'_>, go: super::plan::Go, applied: Applied) -> Ending {
    let old = pass.old.clone();
    let owner = &go.owner;
    pass.st.attempt = (owner.attempt > 0).then(|| i32::try_from(owner.attempt).unwrap_or(i32::MAX));
    if let Some(t) = &go.token {
        pass.st.auth_token = Some(t.status.clone());
        if let Some(until) = t.rotated {
            let secret = &t.status.secret_name;
            let note = format!(
                "Secret {secret} now holds a new AUTH token; the previous one is accepted until {until}"
            );
            pass.note(EventType::Normal, event::AUTH_TOKEN_ROTATED, "Rotate", note)
                .await;
        }
    }
    if let Some(e) = applied.adopt_failed {
        return failure(&old, &e, Step::Apply);
    }
    if let (Some(why), Some(seen)) = (&go.plan.adopt, &go.seen) {
        pass.st.adopted = true;
        let note = format!("adopted {} ({why})", seen.cluster.resource);
        pass.note(EventType::Normal, event::ADOPTED, "Adopt", note)
            .await;
    }
    if let (true, Some(seen)) = (go.plan.record, &go.seen) {
        record(&mut pass.st, &seen.cluster);
        let generation = pass.obj.metadata.generation;
        record_set(&mut pass.st, seen, generation, Timestamp::now());
    }
    if go.plan.clear_operation {
        pass.st.operation = None;
    }
    match go.plan.then {
        Then::Create { vanished } => {
            if let Some(gone) = vanished {
                let note = format!("{gone} disappeared from the cloud; creating it again");
                pass.note(
                    EventType::Warning,
                    reason::NOT_FOUND_IN_CLOUD,
                    "Create",
                    note,
                )
                .await;
            }
            match applied.created {
                Some(Ok(created)) => {
                    pass.st.cloud_resource = Some(created.resource.clone());
                    pass.st.cloud_uid = None;
                    pass.st.operation = operation_of(created.progress);
                    pass.st.endpoints = None;
                    self::created(Ok(&created.resource), &go.desired, &old)
                }
                Some(Err(e)) => self::created(Err(&e), &go.desired, &old),
                None => Ending::Quiet(Next::Now),
            }
        }
        Then::Change { change, pending } => match applied.changed {
            Some(Ok(progress)) => {
                if let Some(op) = operation_of(progress) {
                    pass.st.operation = Some(op);
                }
                let note = format!("changing {}", change.describe());
                pass.note(EventType::Normal, reason::UPDATING, "Update", note)
                    .await;
                changed(Ok(()), &change, &pending, &old)
            }
            Some(Err(e)) => changed(Err(&e), &change, &pending, &old),
            None => Ending::Quiet(Next::Now),
        },
        Then::Report(outcome) => {
            if let Some(certs) = go.seen.as_ref().and_then(|s| s.ca_certificates.as_ref())
                && !certs.is_empty()
            {
                pass.st.ca_certificate = Some(certs.join("\n"));
            }
            if let Some(taken) = go.backup.tracked {
                if taken.time.is_some() {
                    let note = format!(
                        "backup {} is ready ({})",
                        taken.name,
                        taken.resource.as_deref().unwrap_or(&taken.name)
                    );
                    pass.note(EventType::Normal, event::BACKUP, "Backup", note)
                        .await;
                }
                backups_of(&mut pass.st).on_demand = Some(taken);
            }
            match (go.backup.take, applied.backup) {
                (Some(name), Some(Ok(_))) => {
                    backups_of(&mut pass.st).on_demand = Some(backups::requested(&name));
                    let note = format!("taking backup {name}");
                    pass.note(EventType::Normal, event::BACKUP, "Backup", note)
                        .await;
                }
                // Taken already (an answer lost): follow it.
                (Some(name), Some(Err(e))) if e.is(ErrorClass::AlreadyExists) => {
                    backups_of(&mut pass.st).on_demand = Some(backups::requested(&name));
                }
                (_, Some(Err(e))) => return failure(&old, &e, Step::Apply),
                _ => {}
            }
            Ending::Report(outcome)
        }
        Then::Fail(e) => {
            if go.seen.is_none() {
                // A failed create left no cluster: nothing of it to remember.
                pass.st.cloud_uid = None;
            }
            failure(&old, &e, Step::Apply)
        }
    }
}

fn backups_of(st: &mut RedisClusterStatus) -> &mut BackupsStatus {
    st.backups.get_or_insert_with(BackupsStatus::default)
}

/// Say how a deletion stands: done (the object released, and why), or still under way.
pub async fn left(
    obj: &RedisCluster,
    ctx: &Ctx,
    plan: Leave,
    left: Left,
) -> Result<Cleanup, Error> {
    let pass = &mut Pass::new(obj, ctx);
    let old = pass.old.clone();
    let release = async |pass: &Pass<'_>, note: String| {
        pass.note(EventType::Normal, event::RELEASED, "Delete", note)
            .await;
        Ok(Cleanup::Done)
    };
    let (record, resource, act) = match plan {
        Leave::LetGo(note) => return release(pass, note).await,
        Leave::Unseen(e) => return pending(pass.end(failure(&old, &e, Step::Observe)).await),
        Leave::Report { record, outcome } => {
            if let Some(o) = &record {
                self::record(&mut pass.st, o);
            }
            return pending(pass.end(Ending::Report(outcome)).await);
        }
        Leave::Act {
            record,
            resource,
            act,
            ..
        } => (record, resource, act),
    };
    if let Some(o) = &record {
        self::record(&mut pass.st, o);
    }
    let ending = match (act, left) {
        (Act::FinalWait(msg), _) => Ok(Ending::Report(Outcome::waiting(
            Phase::Deleting,
            reason::DELETING,
            msg,
        ))),
        (Act::FinalFailed(e), _) => {
            // Asked for again on the next pass.
            pass.st.operation = None;
            if let Some(b) = pass.st.backups.as_mut() {
                b.final_backup = None;
            }
            Ok(failure(&old, &e, Step::Apply))
        }
        (Act::FinalBackup(name), Left::FinalBackup(result)) => {
            final_backup(pass, &name, &resource, result, &old).await
        }
        (Act::Lift, Left::Lifted(result)) => {
            deleting(result.as_ref().map(|_| ()), true, &resource, &old)
        }
        (Act::Delete { backed_up }, Left::Deleted(result)) => {
            if let Some(taken) = backed_up {
                backed_up_note(pass, taken, &resource).await;
            }
            if let Ok(progress) = &result
                && let Some(op) = operation_of(progress.clone())
            {
                pass.st.operation = Some(op);
            }
            deleting(result.as_ref().map(|_| ()), false, &resource, &old)
        }
        // Not a pairing `execute` makes.
        _ => Ok(Ending::Quiet(Next::Now)),
    };
    match ending {
        Ok(ending) => pending(pass.end(ending).await),
        Err(note) => release(pass, note).await,
    }
}

fn pending(result: Result<Action, Error>) -> Result<Cleanup, Error> {
    result.map(Cleanup::Pending)
}

/// The final backup `name` of `resource` asked for: gcp takes it before the delete (follow its
/// operation), aws with it. Recorded in the status and an event either way.
async fn final_backup(
    pass: &mut Pass<'_>,
    name: &str,
    resource: &str,
    result: Result<FinalBackup, CloudError>,
    old: &RedisClusterStatus,
) -> Result<Ending, String> {
    match result {
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
            pass.st.operation = operation_of(progress);
            backups_of(&mut pass.st).final_backup = Some(backups::requested(name));
            pass.note(EventType::Normal, event::FINAL_BACKUP, "Delete", note)
                .await;
            Ok(Ending::Report(Outcome::waiting(
                Phase::Deleting,
                reason::DELETING,
                waiting,
            )))
        }
        // The name is taken: it is this object's (the name holds its UID). Find it next.
        Err(e) if e.is(ErrorClass::AlreadyExists) => {
            backups_of(&mut pass.st).final_backup = Some(backups::requested(name));
            Ok(Ending::Quiet(Next::Now))
        }
        Err(e) => deleting(Err(&e), false, resource, old),
    }
}

/// The final backup is ready: record it (and say so), then delete.
async fn backed_up_note(pass: &mut Pass<'_>, taken: BackupRecord, resource: &str) {
    let note = format!(
        "the final backup {} of {resource} is ready ({}); deleting the cluster",
        taken.name,
        taken.resource.as_deref().unwrap_or(&taken.name)
    );
    backups_of(&mut pass.st).final_backup = Some(taken);
    pass.note(EventType::Normal, event::FINAL_BACKUP, "Delete", note)
        .await;
}

/// What a create call's result means.
pub fn created(
    result: Result<&str, &CloudError>,
    desired: &DesiredCluster,
    old: &RedisClusterStatus,
) -> Ending {
    match result {
        Ok(resource) => Ending::Report(Outcome::waiting(
            Phase::Creating,
            reason::CREATING,
            format!("creating {resource} in {}", desired.region()),
        )),
        // Someone created it between our look and our create: look again at once.
        Err(e) if e.is(ErrorClass::AlreadyExists) => Ending::Quiet(Next::Now),
        Err(e) => failure(old, e, Step::Apply),
    }
}

/// What a change call's result means.
pub fn changed(
    result: Result<(), &CloudError>,
    change: &Change,
    pending: &[Change],
    old: &RedisClusterStatus,
) -> Ending {
    match result {
        Ok(()) => Ending::Report(Outcome::waiting(
            Phase::Updating,
            reason::UPDATING,
            format!("changing {}{}", change.describe(), describe(pending)),
        )),
        Err(e) if e.is(ErrorClass::FailedPrecondition) => Ending::Report(Outcome::waiting(
            Phase::Updating,
            reason::UPDATING,
            format!(
                "the cloud is busy ({}); will retry changing {}",
                e.message,
                change.describe()
            ),
        )),
        Err(e) => failure(old, e, Step::Apply),
    }
}

/// A failed cloud call at `step`, by its class: refused and denied stall, busy waits, the rest
/// is retried with backoff — keeping Ready as it was for a cluster that is fine and only could
/// not be looked at.
pub fn failure(old: &RedisClusterStatus, e: &CloudError, step: Step) -> Ending {
    let phase = old.phase.unwrap_or(Phase::Pending);
    cloud_failure(
        e.clone(),
        step,
        OnFailure {
            stalled: Phase::Failed,
            busy: Outcome::waiting(phase, reason::CLOUD_FAILED_PRECONDITION, e.to_string()),
            retrying: (old.phase != Some(Phase::Ready)).then_some(phase),
        },
    )
}

/// The progress a write started: the operation to follow, if any.
pub fn operation_of(progress: Progress) -> Option<String> {
    match progress {
        Progress::Operation(op) => Some(op),
        Progress::Started => None,
    }
}

/// What lifting the cloud's deletion protection or deleting led to.
pub fn deleting(
    result: Result<(), &CloudError>,
    lifting: bool,
    resource: &str,
    old: &RedisClusterStatus,
) -> Result<Ending, String> {
    let wait = |msg: String| {
        Ok(Ending::Report(Outcome::waiting(
            Phase::Deleting,
            reason::DELETING,
            msg,
        )))
    };
    match result {
        Ok(()) if lifting => wait(format!(
            "turning off the cloud's deletion protection on {resource}"
        )),
        Ok(()) => wait(format!("deleting {resource}")),
        Err(e) if !lifting && e.is(ErrorClass::NotFound) => Err(format!("{resource} is deleted")),
        Err(e) if !lifting && e.is(ErrorClass::FailedPrecondition) => wait(format!(
            "the cloud cannot delete {resource} yet: {}",
            e.message
        )),
        Err(e) => Ok(failure(old, e, Step::Apply)),
    }
}

/// Take what the cloud reports into the status.
pub fn record(st: &mut RedisClusterStatus, o: &ObservedCluster) {
    st.cloud_resource = Some(o.resource.clone());
    if o.uid.is_some() {
        st.cloud_uid = o.uid.clone();
    }
    st.cloud_state = Some(o.raw_state.clone());
    st.shard_count = Some(o.shard_count as i32);
    st.replicas_per_shard = Some(o.replicas_per_shard as i32);
    st.node_type = Some(o.node_type.clone());
    let hp = |e: &Endpoint| HostPort {
        host: e.host.clone(),
        port: i32::from(e.port),
    };
    let endpoints = ClusterEndpoints {
        discovery: o.discovery.iter().map(hp).collect(),
        primary: o.primary.as_ref().map(hp),
        reader: o.reader.as_ref().map(hp),
    };
    st.endpoints = (!endpoints.discovery.is_empty()).then_some(endpoints);
    if let Some(a) = &o.aws {
        st.engine = Some(a.engine.clone()).filter(|e| !e.is_empty());
        st.engine_version = a.engine_version.clone();
    }
    if let Some(v) = o.gcp.as_ref().and_then(|g| g.engine_version.clone()) {
        st.engine = Some("valkey".into());
        st.engine_version = Some(v);
    }
    let maintenance = match (&o.aws, &o.gcp) {
        (Some(a), _) => Some(&a.maintenance),
        (None, Some(g)) => Some(&g.maintenance),
        (None, None) => None,
    };
    st.maintenance = maintenance.and_then(maintenance_status);
}

/// Take the cross-region set into the status: `status.crossRegion` and the `SwitchingOver`
/// condition (gone once the cluster is no member).
pub fn record_set(
    st: &mut RedisClusterStatus,
    seen: &Seen,
    generation: Option<i64>,
    now: Timestamp,
) {
    let rep = seen.cluster.replication.as_ref();
    st.cross_region = cross_region::status_of(seen.set.as_ref(), rep);
    match seen
        .set
        .as_ref()
        .and_then(|v| cross_region::switchover(v, rep))
    {
        Some((status, reason, message)) => condition::set(
            &mut st.conditions,
            condition::new(
                condition::SWITCHING_OVER,
                status,
                reason,
                message,
                generation,
            ),
            now,
        ),
        None => st
            .conditions
            .retain(|c| c.type_ != condition::SWITCHING_OVER),
    }
}

/// What the cloud says about maintenance, for the status; `None` when it says nothing.
pub fn maintenance_status(m: &ObservedMaintenance) -> Option<MaintenanceStatus> {
    let time = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| t.parse::<Timestamp>().ok())
            .map(Time)
    };
    let status = MaintenanceStatus {
        window: m.window.clone(),
        scheduled_start: time(&m.scheduled_start),
        scheduled_end: time(&m.scheduled_end),
        pending: m.pending.clone(),
    };
    (status != MaintenanceStatus::default()).then_some(status)
}

#[cfg(test)]
mod tests {
    use cache_operator_cloud::provider::{AwsObserved, ClusterState, GcpObserved};

    use super::*;
    use crate::controller::cluster::fixtures::observed;

    #[test]
    fn the_engine_and_the_clouds_maintenance_reach_the_status() {
        let mut o = observed(ClusterState::Available);
        o.gcp = None;
        o.aws = Some(Box::new(AwsObserved {
            engine: "valkey".into(),
            engine_version: Some("8.0.1".into()),
            maintenance: ObservedMaintenance {
                window: Some("sun:05:00-sun:06:00".into()),
                scheduled_start: Some("2026-03-01T05:00:00Z".into()),
                scheduled_end: Some("2026-03-01T06:00:00Z".into()),
                pending: vec!["EngineVersion 8.0".into()],
            },
            ..AwsObserved::default()
        }));
        let mut st = RedisClusterStatus::default();
        record(&mut st, &o);
        assert_eq!(st.engine.as_deref(), Some("valkey"));
        assert_eq!(st.engine_version.as_deref(), Some("8.0.1"));
        let m = st.maintenance.clone().unwrap();
        assert_eq!(m.window.as_deref(), Some("sun:05:00-sun:06:00"));
        assert_eq!(
            m.scheduled_start.map(|t| t.0.to_string()).as_deref(),
            Some("2026-03-01T05:00:00Z")
        );
        assert_eq!(m.pending, ["EngineVersion 8.0"]);

        // gcp: the policy's window and the published schedule; nothing said, nothing shown.
        let mut o = observed(ClusterState::Available);
        o.gcp = Some(Box::new(GcpObserved {
            maintenance: ObservedMaintenance {
                window: Some("SATURDAY 23:00 UTC".into()),
                ..ObservedMaintenance::default()
            },
            ..GcpObserved::default()
        }));
        record(&mut st, &o);
        assert_eq!(
            st.maintenance.and_then(|m| m.window).as_deref(),
            Some("SATURDAY 23:00 UTC")
        );
        o.gcp = Some(Box::default());
        let mut st = RedisClusterStatus::default();
        record(&mut st, &o);
        assert_eq!(st.maintenance, None);
        assert_eq!(st.engine, None, "gcp reports no engine");
    }
}
