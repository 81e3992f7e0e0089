//! Plan for an object being deleted: what its deletion policy and the cloud allow. Pure, like
//! `plan`.

use cache_operator_api::cluster::{Phase, RedisClusterStatus};
use cache_operator_api::condition::{Summary, reason};
use cache_operator_api::model::DesiredCluster;
use cache_operator_cloud::provider::{Claim, ClusterState, ObservedCluster, ReplicationRole};

use crate::controller::ending::Next;

/// Where a deletion leaves the cluster.
type Outcome = crate::controller::ending::Outcome<Phase>;

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

/// `Retain` lets go at once, before looking at the cloud: what it leaves in place.
pub fn retained(old: &RedisClusterStatus) -> String {
    let what = old
        .cloud_resource
        .clone()
        .unwrap_or_else(|| "the cloud resource".into());
    format!("deletionPolicy Retain: {what} is left in place")
}

/// A spec that does not parse cannot say what to delete: stalled until it is fixed, unless
/// nothing was made (`None`: let go).
pub fn unparsable(old: &RedisClusterStatus, errors: &str) -> Option<Outcome> {
    old.cloud_resource.as_ref().map(|resource| {
        Outcome::new(
            Phase::Deleting,
            Summary::stalled(
                reason::INVALID_SPEC,
                format!("cannot delete {resource}: the spec is invalid ({errors})"),
            ),
            Next::AwaitChange,
        )
    })
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
    // The service deletes a primary only once it has no secondaries: they go first.
    if let Some(r) = o
        .replication
        .as_ref()
        .filter(|r| r.role == ReplicationRole::Primary && !r.secondaries.is_empty())
    {
        let msg = format!(
            "{} is the primary of cross-region secondaries {}: waiting for them to be deleted or detached (crossRegion.detached: true) first",
            o.resource,
            r.secondaries.join(", ")
        );
        return CleanupPlan::Report(Outcome::waiting(
            Phase::Deleting,
            reason::SECONDARIES_ATTACHED,
            msg,
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

#[cfg(test)]
#[path = "cleanup_tests.rs"]
mod tests;
