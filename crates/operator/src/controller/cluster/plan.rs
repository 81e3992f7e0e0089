//! Plan: what a pass over a cluster does, from its spec, what was observed and the status of
//! earlier passes. Pure: no client, no clock but `now`; every decision is in the tables of
//! `plan_tests.rs` (and of `backups.rs`, `cleanup.rs` and the rotation machine it uses).
//!
//! [`course`] plans a pass over a live object: the cloud write (create, one change, an AUTH
//! token step, an on-demand backup) or the report; [`leave`] plans a deletion.

use std::time::Duration;

use cache_operator_api::cluster::{Phase, RedisClusterStatus};
use cache_operator_api::condition::{Summary, reason};
use cache_operator_api::lifecycle::{AuthTokenStatus, BackupRecord, BackupsStatus};
use cache_operator_api::model::{AuthToken, DesiredCluster};
use cache_operator_cloud::CloudError;
use cache_operator_cloud::error::classify_google;
use cache_operator_cloud::provider::{
    Change, Claim, ClusterState, ObservedCluster, OperationState, Owner, TokenStrategy,
};
use jiff::Timestamp;

use super::backups::{self, Final, OnDemand};
use super::cleanup::{self, CleanupPlan};
use super::cross_region;
use super::observe::{Cloud, Leaving, Looked, Observed, Seen};
use super::token::{self, TokenCloud, TokenRecord};
use super::validate::Validated;
use crate::controller::ending::{self, Next};
use crate::controller::rotation::{self, Send, Slots, Timing};

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
    // A cross-region step (switchover, detach) comes before the spec's own changes.
    let changes: Vec<Change> = seen
        .set
        .as_ref()
        .and_then(|set| cross_region::step(set, o))
        .into_iter()
        .chain(seen.changes.iter().cloned())
        .collect();
    plan.then = match o.state {
        ClusterState::Creating => Then::Report(Outcome::waiting(
            Phase::Creating,
            reason::CREATING,
            format!("the cloud is creating {res}"),
        )),
        ClusterState::Updating => Then::Report(Outcome::waiting(
            Phase::Updating,
            reason::UPDATING,
            format!("the cloud is updating {res}{}", describe(&changes)),
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
        ClusterState::Available => match changes.split_first() {
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
                    describe(&changes)
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

/// What a pass over a live cluster does.
#[derive(Debug)]
pub enum Course {
    /// End without a cloud write.
    End(Ending),
    /// The cloud could not be read.
    Unseen(CloudError),
    Go(Box<Go>),
}

/// A pass that goes to the cloud.
#[derive(Clone, Debug)]
pub struct Go {
    /// The desired cluster, with the AUTH token to send.
    pub desired: DesiredCluster,
    /// The owner of the writes, on the attempt they are made on.
    pub owner: Owner,
    pub seen: Option<Seen>,
    pub plan: Plan,
    pub token: Option<TokenCourse>,
    /// `spec.onDemandBackup`, when the plan reports.
    pub backup: Backups,
}

/// The AUTH token's part of a pass (`authMode: token`).
#[derive(Clone, Debug)]
pub struct TokenCourse {
    /// The record to write before any cloud call (`None`: as the Secret holds it).
    pub save: Option<TokenRecord>,
    pub interval: Duration,
    /// Clients are given a new token; the previous one is accepted until then.
    pub rotated: Option<Timestamp>,
    pub status: AuthTokenStatus,
}

/// The on-demand backup's part of a pass.
#[derive(Clone, Debug, Default)]
pub struct Backups {
    /// The backup being taken, as the cloud lists it now.
    pub tracked: Option<BackupRecord>,
    /// Ask for this backup.
    pub take: Option<String>,
}

/// The plan of a pass over a live cluster whose status is `old`.
pub fn course(
    name: &str,
    adopt: bool,
    old: &RedisClusterStatus,
    seen: Observed,
    now: Timestamp,
    overlap: Duration,
) -> Course {
    let desired = match seen.validated {
        Validated::InvalidSpec(errors) => {
            return Course::End(Ending::Report(Outcome::new(
                Phase::Failed,
                Summary::stalled(reason::INVALID_SPEC, errors.to_string()),
                Next::AwaitChange,
            )));
        }
        // The cloud refused a write for this generation: wait for the spec to change rather
        // than sending the same request again.
        _ if seen.refused => return Course::End(Ending::Quiet(Next::AwaitChange)),
        Validated::Waiting(message) => {
            return Course::End(Ending::Report(Outcome::waiting(
                Phase::Pending,
                reason::REFERENCE_NOT_READY,
                message,
            )));
        }
        Validated::Desired(d) => *d,
    };
    let (cluster, operation) = match seen.cloud {
        None => return Course::End(Ending::Quiet(Next::Soon)),
        Some(Err(e)) => return Course::Unseen(e),
        Some(Ok(Cloud::Present(s))) => (Some(*s), None),
        Some(Ok(Cloud::Absent(op))) => (None, op),
    };
    let mut plan = match &cluster {
        Some(s) => self::plan(old, adopt, Some(s)),
        None => absent(old, operation.as_ref()),
    };
    let owner = match cluster.as_ref().and_then(|s| s.attempt) {
        Some(attempt) => Owner {
            attempt,
            ..seen.owner
        },
        None => seen.owner,
    };
    let owner = if plan.next_attempt {
        owner.next_attempt()
    } else {
        owner
    };
    let (desired, token) = match (seen.token, desired) {
        (Some(record), DesiredCluster::Aws(a)) => {
            let interval = a.auth_token_rotation_interval;
            let timing = Timing { interval, overlap };
            let (course, now_record) = token_course(
                record,
                cluster.as_ref(),
                &mut plan,
                timing,
                &seen.new_token,
                now,
            );
            let status = token::status(
                name,
                now_record.as_ref(),
                cluster.as_ref().map(|s| &s.cluster),
            );
            // The token to send: the one being rotated in, else the current one.
            let rotating = matches!(
                plan.then,
                Then::Change {
                    change: Change::AuthToken(TokenStrategy::Rotate),
                    ..
                }
            );
            let send = now_record.and_then(|r| if rotating { r.pending } else { r.current });
            let desired = match send {
                Some(t) => DesiredCluster::Aws(a.with_auth_token(t)),
                None => DesiredCluster::Aws(a),
            };
            (desired, Some(TokenCourse { status, ..course }))
        }
        (_, desired) => (desired, None),
    };
    let mut backup = Backups::default();
    if let Then::Report(outcome) = &mut plan.then {
        backup.tracked = cluster
            .as_ref()
            .and_then(|s| s.backup.as_ref())
            .map(|b| backups::record_of(&b.name, b, now));
        let mut after = old.clone();
        if let Some(t) = &backup.tracked {
            after
                .backups
                .get_or_insert_with(BackupsStatus::default)
                .on_demand = Some(t.clone());
        }
        match backups::on_demand(desired.backups(), &after, outcome.phase == Phase::Ready) {
            OnDemand::Take(name) => {
                backup.take = Some(name);
                outcome.next = Next::Soon;
            }
            OnDemand::Track(_) => outcome.next = Next::Soon,
            OnDemand::Nothing => {}
        }
    }
    Course::Go(Box::new(Go {
        desired,
        owner,
        seen: cluster,
        plan,
        token,
        backup,
    }))
}

/// `authMode: token`: the record of the token, brought one step on by the rotation machine.
/// A cluster to create gets its first token recorded before the create; an existing one, once
/// nothing else is to be done, the next rotation steps: the record is saved first, a token
/// change to send becomes the plan's change. Returns the course and the record as it will be.
fn token_course(
    record: Option<TokenRecord>,
    seen: Option<&Seen>,
    plan: &mut Plan,
    timing: Timing,
    new: &AuthToken,
    now: Timestamp,
) -> (TokenCourse, Option<TokenRecord>) {
    let course = |save: Option<TokenRecord>, rotated| TokenCourse {
        save,
        interval: timing.interval,
        rotated,
        status: AuthTokenStatus::default(),
    };
    let Some(seen) = seen else {
        if !matches!(plan.then, Then::Create { .. }) {
            return (course(None, None), record);
        }
        let fresh = TokenRecord::for_create(record.as_ref(), new, now);
        let save = (record.as_ref() != Some(&fresh)).then(|| fresh.clone());
        return (course(save, None), Some(fresh));
    };
    let Then::Report(outcome) = &mut plan.then else {
        return (course(None, None), record);
    };
    if outcome.phase != Phase::Ready || seen.claim != Claim::Ours {
        return (course(None, None), record);
    }
    let cloud = TokenCloud::of(&seen.cluster, !seen.changes.is_empty());
    let slots = record
        .as_ref()
        .map_or_else(|| Slots::unknown(now), TokenRecord::slots);
    let a = rotation::advance(&slots, |s| cloud.view(s), now, timing, new);
    let next = TokenRecord::of(&a.record);
    let rotated = a.rotated.then(|| {
        rotation::plus(
            next.rotated_at,
            rotation::overlap(timing.overlap, timing.interval),
        )
    });
    let strategy = match a.send {
        Some(Send::CurrentAndPending) => Some(TokenStrategy::Rotate),
        Some(Send::Current) => Some(TokenStrategy::Set),
        // An AUTH token has no count a pass could see disagree with the record.
        Some(Send::Recorded) | None => None,
    };
    match (strategy, a.next) {
        (Some(strategy), _) => {
            plan.then = Then::Change {
                change: Change::AuthToken(strategy),
                pending: Vec::new(),
            };
        }
        (None, None) => outcome.next = Next::Soon,
        (None, Some(at)) => outcome.next = Next::ResyncBy(at),
    }
    let save = (record.as_ref() != Some(&next)).then(|| next.clone());
    (course(save, rotated), Some(next))
}

/// What a deletion does.
#[derive(Clone, Debug)]
pub enum Leave {
    /// Release the object, saying why.
    LetGo(String),
    /// Report and wait (nothing to write); `record` is the cluster (ours) to take into the
    /// status.
    Report {
        record: Option<ObservedCluster>,
        outcome: Outcome,
    },
    /// The cloud could not be read.
    Unseen(CloudError),
    /// Write to the cloud; `record` is the cluster (ours) to take into the status first.
    Act {
        record: Option<ObservedCluster>,
        resource: String,
        desired: Box<DesiredCluster>,
        owner: Owner,
        act: Act,
    },
}

/// The cloud write of a deletion.
#[derive(Clone, Debug)]
pub enum Act {
    /// Turn off the cloud's own deletion protection first.
    Lift,
    /// Ask for the final backup `name`.
    FinalBackup(String),
    /// The operation taking the final backup failed; the next pass asks again.
    FinalFailed(CloudError),
    /// Wait for the final backup.
    FinalWait(String),
    /// Delete the cluster (its final backup ready, if one was asked for).
    Delete { backed_up: Option<BackupRecord> },
}

/// The plan of a deletion of a cluster whose status is `old`.
pub fn leave(old: &RedisClusterStatus, seen: &Leaving, protection: bool, now: Timestamp) -> Leave {
    let (desired, found, final_backup) = match &seen.looked {
        Looked::Retained => return Leave::LetGo(cleanup::retained(old)),
        Looked::Unparsable(errors) => {
            return match cleanup::unparsable(old, errors) {
                Some(outcome) => Leave::Report {
                    record: None,
                    outcome,
                },
                None => Leave::LetGo("nothing was created in the cloud".into()),
            };
        }
        Looked::Cloud(l) => (&l.desired, &l.found, &l.final_backup),
    };
    let found = match found {
        Err(e) => return Leave::Unseen(e.clone()),
        Ok(found) => found,
    };
    let record = match found {
        Some((o, Claim::Ours)) => Some(o.clone()),
        _ => None,
    };
    let resource = found
        .as_ref()
        .map(|(o, _)| o.resource.clone())
        .unwrap_or_default();
    let step = cleanup::cleanup(
        old,
        desired,
        found.as_ref().map(|(o, c)| (o, c)),
        protection,
    );
    let act = match step {
        CleanupPlan::LetGo(note) => return Leave::LetGo(note),
        // What the cloud says is recorded all the same.
        CleanupPlan::Report(outcome) => return Leave::Report { record, outcome },
        CleanupPlan::LiftProtection => Act::Lift,
        CleanupPlan::Delete => match final_backup {
            None => Act::Delete { backed_up: None },
            Some(f) => match &f.found {
                Err(e) => return Leave::Unseen(e.clone()),
                Ok((operation, listed)) => {
                    match backups::final_step(
                        old,
                        &f.name,
                        operation.as_ref(),
                        listed.as_ref(),
                        now,
                    ) {
                        Final::Take => Act::FinalBackup(f.name.clone()),
                        Final::Wait(msg) => Act::FinalWait(msg),
                        Final::Failed(e) => Act::FinalFailed(e),
                        Final::Delete(taken) => Act::Delete {
                            backed_up: Some(taken),
                        },
                    }
                }
            },
        },
    };
    Leave::Act {
        record,
        resource,
        desired: Box::new(desired.clone()),
        owner: seen.owner.clone(),
        act,
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
