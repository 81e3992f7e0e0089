//! Backups: the final one before a delete (`spec.finalBackup`) and on-demand ones
//! (`spec.onDemandBackup`). Pure decisions from what the status recorded, what the cloud lists
//! and the operation followed; the calls are made by `apply`.

use cache_operator_api::cluster::RedisClusterStatus;
use cache_operator_api::lifecycle::BackupRecord;
use cache_operator_api::model::{BackupPlan, DesiredCluster};
use cache_operator_cloud::CloudError;
use cache_operator_cloud::provider::{ObservedBackup, OperationState};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The name of the final backup of the object `uid`'s cluster, when one is to be taken.
pub fn final_backup_name(desired: &DesiredCluster, uid: &str) -> Option<String> {
    desired
        .backups()
        .final_backup
        .then(|| BackupPlan::final_backup_name(desired.id(), uid))
}

/// The final backup the status records under `name`, if any.
pub fn recorded_final<'a>(old: &'a RedisClusterStatus, name: &str) -> Option<&'a BackupRecord> {
    old.backups
        .as_ref()
        .and_then(|b| b.final_backup.as_ref())
        .filter(|r| r.name == name)
}

/// A backup as the cloud lists it, for the status.
pub fn record_of(name: &str, b: &ObservedBackup, now: Timestamp) -> BackupRecord {
    BackupRecord {
        name: name.to_owned(),
        resource: Some(b.resource.clone()).filter(|r| !r.is_empty()),
        state: Some(b.state.clone()).filter(|s| !s.is_empty()),
        time: b.ready.then(|| {
            Time(
                b.created
                    .as_deref()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(now),
            )
        }),
    }
}

/// A backup just asked for.
pub fn requested(name: &str) -> BackupRecord {
    BackupRecord {
        name: name.to_owned(),
        ..BackupRecord::default()
    }
}

/// What to do about the final backup of a cluster that is ours and about to be deleted.
#[derive(Clone, Debug, PartialEq)]
pub enum Final {
    /// Ask for it (gcp: a backup to wait for; aws: the delete takes it).
    Take,
    /// It is being taken: wait.
    Wait(String),
    /// It is ready (this is what the status records): delete the cluster.
    Delete(BackupRecord),
    /// The operation taking it failed; the next pass asks again.
    Failed(CloudError),
}

/// The next step towards deleting with a final backup `name`. `operation` is the state of the
/// operation the status follows (gcp), `listed` the backup of that name as the cloud lists it
/// (looked up once it was asked for and no operation runs).
pub fn final_step(
    old: &RedisClusterStatus,
    name: &str,
    operation: Option<&OperationState>,
    listed: Option<&ObservedBackup>,
    now: Timestamp,
) -> Final {
    if recorded_final(old, name).is_none() {
        return Final::Take;
    }
    match (listed, operation) {
        (Some(b), _) if b.ready => Final::Delete(record_of(name, b, now)),
        (Some(b), _) => Final::Wait(format!(
            "the cloud is taking the final backup {name} ({})",
            b.state
        )),
        (None, Some(OperationState::Running)) => {
            Final::Wait(format!("the cloud is taking the final backup {name}"))
        }
        (None, Some(OperationState::Failed { code, message })) => Final::Failed(CloudError::new(
            cache_operator_cloud::error::classify_google(code, 400),
            code.clone(),
            format!("the final backup {name} failed: {message}"),
            "backup",
        )),
        // Asked for, but neither listed nor being taken: ask again.
        (None, _) => Final::Take,
    }
}

/// What to do about `spec.onDemandBackup` on a pass over a live cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnDemand {
    Nothing,
    /// Ask for the backup `name` (only once the cluster is settled).
    Take(String),
    /// Look up the backup being taken (its state goes into the status).
    Track(String),
}

/// `settled`: the cluster is available with nothing to change.
pub fn on_demand(plan: &BackupPlan, old: &RedisClusterStatus, settled: bool) -> OnDemand {
    let Some(name) = &plan.on_demand else {
        return OnDemand::Nothing;
    };
    let recorded = old.backups.as_ref().and_then(|b| b.on_demand.as_ref());
    match recorded {
        Some(r) if r.name == *name && r.time.is_none() => OnDemand::Track(name.clone()),
        Some(r) if r.name == *name => OnDemand::Nothing,
        _ if settled => OnDemand::Take(name.clone()),
        _ => OnDemand::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use cache_operator_api::lifecycle::BackupsStatus;
    use cache_operator_testkit::at;

    use super::*;

    fn listed(state: &str, ready: bool) -> ObservedBackup {
        ObservedBackup {
            name: "orders-final-uid1".into(),
            resource: "projects/p/locations/l/backupCollections/c/backups/orders-final-uid1".into(),
            state: state.into(),
            ready,
            automated: false,
            created: Some(at(10).to_string()),
        }
    }

    fn with_final(name: &str) -> RedisClusterStatus {
        RedisClusterStatus {
            backups: Some(BackupsStatus {
                final_backup: Some(requested(name)),
                on_demand: None,
            }),
            ..RedisClusterStatus::default()
        }
    }

    #[test]
    fn the_final_backup_is_asked_for_waited_on_then_the_delete_follows() {
        let name = "orders-final-uid1";
        let none = RedisClusterStatus::default();
        // Not asked for yet (or asked under another name): ask.
        assert_eq!(final_step(&none, name, None, None, at(0)), Final::Take);
        assert_eq!(
            final_step(&with_final("other"), name, None, None, at(0)),
            Final::Take
        );
        let asked = with_final(name);
        // gcp: the operation runs, then the backup is listed as being created, then ready.
        let running = OperationState::Running;
        assert!(matches!(
            final_step(&asked, name, Some(&running), None, at(1)),
            Final::Wait(_)
        ));
        let Final::Wait(msg) =
            final_step(&asked, name, None, Some(&listed("CREATING", false)), at(2))
        else {
            panic!()
        };
        assert_eq!(
            msg,
            "the cloud is taking the final backup orders-final-uid1 (CREATING)"
        );
        let Final::Delete(r) = final_step(
            &asked,
            name,
            Some(&OperationState::Done),
            Some(&listed("ACTIVE", true)),
            at(20),
        ) else {
            panic!()
        };
        assert_eq!(r.state.as_deref(), Some("ACTIVE"));
        assert_eq!(r.time, Some(Time(at(10))), "when the cloud made it");
        assert!(r.resource.unwrap().ends_with("/backups/orders-final-uid1"));
        // The operation failed: say so (the next pass asks again).
        let failed = OperationState::Failed {
            code: "INTERNAL".into(),
            message: "Internal error encountered.".into(),
        };
        let Final::Failed(e) = final_step(&asked, name, Some(&failed), None, at(3)) else {
            panic!()
        };
        assert!(
            e.message.contains("final backup orders-final-uid1 failed"),
            "{e}"
        );
        // Asked for, the operation over (or forgotten), and nothing listed: ask again.
        assert_eq!(
            final_step(&asked, name, Some(&OperationState::Done), None, at(4)),
            Final::Take
        );
        assert_eq!(final_step(&asked, name, None, None, at(4)), Final::Take);
    }

    #[test]
    fn final_backups_follow_the_spec_and_are_named_after_cluster_and_object() {
        let on = cache_operator_testkit::cluster::aws("sessions")
            .auth("disabled")
            .parse::<cache_operator_api::RedisCluster>()
            .desired()
            .unwrap();
        assert_eq!(
            final_backup_name(&on, "0b6c2a4e-1111").as_deref(),
            Some("sessions-final-0b6c2a4e")
        );
        let off = cache_operator_testkit::cluster::aws("sessions")
            .auth("disabled")
            .spec("finalBackup", false)
            .parse::<cache_operator_api::RedisCluster>()
            .desired()
            .unwrap();
        assert_eq!(final_backup_name(&off, "0b6c2a4e-1111"), None);
    }

    #[test]
    fn an_on_demand_backup_is_taken_once_per_name_and_followed_until_ready() {
        let plan = |name: Option<&str>| BackupPlan {
            final_backup: true,
            on_demand: name.map(str::to_owned),
        };
        let none = RedisClusterStatus::default();
        assert_eq!(on_demand(&plan(None), &none, true), OnDemand::Nothing);
        assert_eq!(
            on_demand(&plan(Some("before-8-1")), &none, true),
            OnDemand::Take("before-8-1".into())
        );
        // Not while the cluster is busy or has changes to make.
        assert_eq!(
            on_demand(&plan(Some("before-8-1")), &none, false),
            OnDemand::Nothing
        );
        let mut asked = RedisClusterStatus {
            backups: Some(BackupsStatus {
                on_demand: Some(requested("before-8-1")),
                final_backup: None,
            }),
            ..RedisClusterStatus::default()
        };
        assert_eq!(
            on_demand(&plan(Some("before-8-1")), &asked, false),
            OnDemand::Track("before-8-1".into())
        );
        asked.backups.as_mut().unwrap().on_demand =
            Some(record_of("before-8-1", &listed("available", true), at(0)));
        assert_eq!(
            on_demand(&plan(Some("before-8-1")), &asked, true),
            OnDemand::Nothing,
            "taken: never again under that name"
        );
        assert_eq!(
            on_demand(&plan(Some("before-9-0")), &asked, true),
            OnDemand::Take("before-9-0".into()),
            "a new name is a new backup"
        );
    }
}
