//! Plan for an object being deleted: what its deletion policy and the cloud allow, and what
//! deleting led to. Pure, like `plan`.

use cache_operator_api::cluster::{DeletionPolicy, Phase, RedisCluster, RedisClusterStatus};
use cache_operator_api::condition::{Summary, reason};
use cache_operator_api::model::DesiredCluster;
use cache_operator_cloud::provider::{Claim, ClusterState, ObservedCluster};
use cache_operator_cloud::{CloudError, ErrorClass};

use super::plan::{Ending, Outcome, failure};
use crate::controller::ending::Next;
use crate::controller::error::Step;

/// `spec.deletionPolicy`, else `Retain` for an adopted cluster and `Delete` for one we made.
pub fn deletion_policy(obj: &RedisCluster) -> DeletionPolicy {
    let adopted = obj.status.as_ref().is_some_and(|s| s.adopted);
    obj.spec.deletion_policy.unwrap_or(if adopted {
        DeletionPolicy::Retain
    } else {
        DeletionPolicy::Delete
    })
}

/// The plan for an object being deleted.
#[derive(Clone, Debug, PartialEq)]
pub enum CleanupPlan {
    /// Release the object, saying why.
    LetGo(String),
    Report(Outcome),
    /// Turn off the cloud's own deletion protection first.
    LiftProtection,
    Delete,
}

/// Before looking at the cloud: `Retain` lets go at once; an invalid spec cannot say what to
/// delete.
pub fn before_cleanup(
    policy: DeletionPolicy,
    old: &RedisClusterStatus,
    desired: Result<&DesiredCluster, String>,
) -> Option<CleanupPlan> {
    if policy == DeletionPolicy::Retain {
        let what = old
            .cloud_resource
            .clone()
            .unwrap_or_else(|| "the cloud resource".into());
        return Some(CleanupPlan::LetGo(format!(
            "deletionPolicy Retain: {what} is left in place"
        )));
    }
    match desired {
        Ok(_) => None,
        Err(_) if old.cloud_resource.is_none() => Some(CleanupPlan::LetGo(
            "nothing was created in the cloud".into(),
        )),
        Err(errors) => Some(CleanupPlan::Report(Outcome::new(
            Phase::Deleting,
            Summary::stalled(
                reason::INVALID_SPEC,
                format!(
                    "cannot delete {}: the spec is invalid ({errors})",
                    old.cloud_resource.clone().unwrap_or_default()
                ),
            ),
            Next::AwaitChange,
        ))),
    }
}

pub fn cleanup(
    old: &RedisClusterStatus,
    desired: &DesiredCluster,
    seen: Option<(&ObservedCluster, &Claim)>,
    deletion_protection: bool,
) -> CleanupPlan {
    let Some((o, claim)) = seen else {
        let what = old
            .cloud_resource
            .clone()
            .unwrap_or_else(|| desired.id().to_owned());
        let kept = old
            .backups
            .as_ref()
            .and_then(|b| b.final_backup.as_ref())
            .map(|b| {
                let at = b.resource.as_deref().unwrap_or(&b.name);
                format!("; its final backup {at} is kept")
            })
            .unwrap_or_default();
        return CleanupPlan::LetGo(format!("{what} is deleted{kept}"));
    };
    if let Claim::Foreign(why) = claim {
        return CleanupPlan::LetGo(format!("left {} alone: {why}", o.resource));
    }
    if deletion_protection {
        let msg = format!(
            "spec.deletionProtection is true: {} is kept; set it to false to delete it, or deletionPolicy: Retain to keep it and release this object",
            o.resource
        );
        return CleanupPlan::Report(Outcome::new(
            Phase::Deleting,
            Summary::stalled(reason::DELETION_PROTECTED, msg),
            Next::AwaitChange,
        ));
    }
    if o.state == ClusterState::Deleting {
        return CleanupPlan::Report(Outcome::waiting(
            Phase::Deleting,
            reason::DELETING,
            format!("waiting for the cloud to delete {}", o.resource),
        ));
    }
    if o.gcp.as_ref().is_some_and(|g| g.deletion_protection) {
        // The cloud's own protection is ours to lift once the spec no longer asks for it.
        return CleanupPlan::LiftProtection;
    }
    CleanupPlan::Delete
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

#[cfg(test)]
#[path = "cleanup_tests.rs"]
mod tests;
