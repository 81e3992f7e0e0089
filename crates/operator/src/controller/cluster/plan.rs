//! Plan: what to do about a cluster, from the desired cluster, what was observed and the
//! status of earlier passes. Pure: no client, no clock; every decision is in the tables below.

use cache_operator_api::cluster::{Phase, RedisClusterStatus};
use cache_operator_api::condition::{Summary, reason};
use cache_operator_api::model::DesiredCluster;
use cache_operator_cloud::error::classify_google;
use cache_operator_cloud::provider::{
    Change, Claim, ClusterState, ObservedCluster, OperationState, Progress,
};
use cache_operator_cloud::{CloudError, ErrorClass};

use super::observe::Seen;
use crate::controller::ending::{self, Next, OnFailure, cloud_failure};
use crate::controller::error::Step;

/// Where a pass leaves the cluster: its phase, conditions and next look.
pub type Outcome = ending::Outcome<Phase>;
/// How a cluster's pass ends.
pub type Ending = ending::Ending<Phase>;

/// The plan for a live object.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Record the owner on a cluster the operator did not create (`spec.adopt`); the reason
    /// it was foreign.
    pub adopt: Option<String>,
    /// Take the observed facts into the status.
    pub record: bool,
    /// The followed operation is over.
    pub clear_operation: bool,
    /// Write on a new attempt (`Owner::next_attempt`): the previous one ended without the
    /// wanted result (its operation failed, the cluster it made is gone, or an update finished
    /// with the drift still there), and gcp would answer its request IDs with the old
    /// operations. Derived from what was observed, so a pass whose status write was lost
    /// decides the same again.
    pub next_attempt: bool,
    pub then: Then,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Then {
    /// Create the cluster; `vanished` names the resource that was Ready and disappeared.
    Create { vanished: Option<String> },
    /// Apply the first change the spec asks for.
    Change {
        change: Change,
        pending: Vec<Change>,
    },
    /// Nothing to write: report.
    Report(Outcome),
    /// The followed operation failed: handle it as a failed call.
    Fail(CloudError),
}

/// The cloud resource is ours if this object created, claimed or adopted it.
pub fn is_ours(old: &RedisClusterStatus, observed: &ObservedCluster) -> bool {
    old.cloud_resource.as_deref() == Some(observed.resource.as_str())
        && (old.cloud_uid.is_none() || observed.uid.is_none() || old.cloud_uid == observed.uid)
}

/// ` ; pending: a, b` (empty without changes).
pub fn describe(changes: &[Change]) -> String {
    if changes.is_empty() {
        String::new()
    } else {
        format!(
            "; pending: {}",
            changes
                .iter()
                .map(Change::describe)
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// The plan when the cloud has no cluster of the desired ID; `operation` is the state of the
/// operation the status follows, if any.
pub fn absent(old: &RedisClusterStatus, operation: Option<&OperationState>) -> Plan {
    let plan = |next_attempt: bool, then: Then| Plan {
        adopt: None,
        record: false,
        clear_operation: old.operation.is_some(),
        next_attempt,
        then,
    };
    match operation {
        // The create failed (and left no cluster): report it; the next create is a new attempt.
        Some(OperationState::Failed { code, message }) => {
            plan(true, Then::Fail(operation_failed(old, code, message)))
        }
        // A cluster we saw (its uid is recorded) is gone: deleted behind our back.
        _ if old.cloud_uid.is_some() => plan(
            true,
            Then::Create {
                vanished: old.cloud_resource.clone(),
            },
        ),
        Some(OperationState::Running) => Plan {
            clear_operation: false,
            ..plan(
                false,
                Then::Report(Outcome::waiting(
                    Phase::Creating,
                    reason::CREATING,
                    format!(
                        "waiting for operation {}",
                        old.operation.clone().unwrap_or_default()
                    ),
                )),
            )
        },
        // Our create finished (or is forgotten) and there is no cluster: it was made and
        // deleted before we looked; repeating the request would only replay it.
        Some(OperationState::Done | OperationState::Unknown) => {
            plan(true, Then::Create { vanished: None })
        }
        // Nothing to say it was ever made: create, on the same attempt (a create whose answer
        // was lost is answered again, not done twice).
        None => plan(false, Then::Create { vanished: None }),
    }
}

fn operation_failed(old: &RedisClusterStatus, code: &str, message: &str) -> CloudError {
    let op = old.operation.clone().unwrap_or_default();
    CloudError::new(
        classify_google(code, 400),
        code.to_owned(),
        message.to_owned(),
        format!("operation {op}"),
    )
}

pub fn plan(old: &RedisClusterStatus, adopt: bool, seen: Option<&Seen>) -> Plan {
    let Some(seen) = seen else {
        return absent(old, None);
    };
    let o = &seen.cluster;
    let adopting = match &seen.claim {
        Claim::Ours => None,
        Claim::Foreign(why) if adopt => Some(why.clone()),
        Claim::Foreign(why) => {
            let message =
                format!("{why}; set spec.adopt: true to manage it, or choose another instanceId");
            return Plan {
                adopt: None,
                record: false,
                clear_operation: false,
                next_attempt: false,
                then: Then::Report(Outcome::new(
                    Phase::Failed,
                    Summary::stalled(reason::ALREADY_EXISTS, message),
                    Next::Resync,
                )),
            };
        }
    };
    let mut plan = Plan {
        adopt: adopting,
        record: true,
        clear_operation: false,
        next_attempt: false,
        then: Then::Report(Outcome::waiting(
            Phase::Pending,
            reason::PENDING,
            String::new(),
        )),
    };
    match &seen.operation {
        None | Some(OperationState::Running) => {}
        Some(OperationState::Done | OperationState::Unknown) => plan.clear_operation = true,
        Some(OperationState::Failed { code, message }) => {
            // gcp would answer the same request ID with this failed operation again.
            plan.clear_operation = true;
            plan.next_attempt = true;
            plan.then = Then::Fail(operation_failed(old, code, message));
            return plan;
        }
    }
    let in_flight = old.operation.is_some() && !plan.clear_operation;
    let res = &o.resource;
    plan.then = match o.state {
        ClusterState::Creating => Then::Report(Outcome::waiting(
            Phase::Creating,
            reason::CREATING,
            format!("the cloud is creating {res}"),
        )),
        ClusterState::Updating => Then::Report(Outcome::waiting(
            Phase::Updating,
            reason::UPDATING,
            format!("the cloud is updating {res}{}", describe(&seen.changes)),
        )),
        ClusterState::Deleting => Then::Report(Outcome::waiting(
            Phase::Pending,
            reason::PENDING,
            format!("{res} is being deleted in the cloud; it will be recreated once gone"),
        )),
        ClusterState::Failed => Then::Report(Outcome::new(
            Phase::Failed,
            Summary::stalled(
                reason::CLOUD_FAILED_PRECONDITION,
                format!("the cloud reports {res} as {}", o.raw_state),
            ),
            Next::Resync,
        )),
        ClusterState::Unknown => Then::Report(Outcome::waiting(
            Phase::Pending,
            reason::PENDING,
            format!("the cloud reports {res} as {:?}", o.raw_state),
        )),
        ClusterState::Available => match seen.changes.split_first() {
            // The spec holds now, but the cloud will change the cluster later (someone made a
            // change that waits for the maintenance window): not done, say what will happen.
            None if !o.pending.is_empty() => {
                plan.clear_operation = true;
                Then::Report(Outcome::new(
                    Phase::Updating,
                    Summary::progressing(
                        reason::PENDING_IN_CLOUD,
                        format!("{res}: {}", o.pending.join("; ")),
                    ),
                    Next::Resync,
                ))
            }
            None => {
                plan.clear_operation = true;
                let at = o
                    .discovery
                    .first()
                    .map(|e| format!(" at {}:{}", e.host, e.port))
                    .unwrap_or_default();
                Then::Report(Outcome::new(
                    Phase::Ready,
                    Summary::ready(reason::AVAILABLE, format!("{res} is available{at}")),
                    Next::Resync,
                ))
            }
            Some(_) if in_flight => Then::Report(Outcome::waiting(
                Phase::Updating,
                reason::UPDATING,
                format!(
                    "waiting for the cloud to finish the previous change{}",
                    describe(&seen.changes)
                ),
            )),
            Some((change, pending)) => {
                // The followed operation finished and the spec still differs (a change made
                // in steps, or one that did not take or was undone): a new write.
                plan.next_attempt = old.operation.is_some();
                Then::Change {
                    change: change.clone(),
                    pending: pending.to_vec(),
                }
            }
        },
    };
    plan
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

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
