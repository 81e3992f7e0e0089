//! Plan: what a pass over a serverless cache does, from what was observed and the status of
//! earlier passes. Pure; every decision is a row of `plan_tests.rs`.
//!
//! Level-triggered: a live pass compares the spec with the cache the cloud reports and sends
//! the first differing field (`changes` in the cloud crate gives them in a stable order) —
//! one `ModifyServerlessCache` per pass, and only while the cache is `available`, so an edit
//! of three fields is three modifies, and a restart between two of them resumes with the rest.

use cache_operator_api::cluster::Phase;
use cache_operator_api::condition::{self, Summary, reason};
use cache_operator_api::model::BackupPlan;
use cache_operator_api::serverless::ServerlessCacheStatus;
use cache_operator_cloud::CloudError;
use cache_operator_cloud::aws::serverless::{ObservedServerless, ServerlessChange, changes};

use super::observe::{Leaving, Observed, Spec};
use crate::controller::ending::{self, Next};

/// Where a pass leaves the cache.
pub type Outcome = ending::Outcome<Phase>;

/// What a live pass does.
#[derive(Clone, Debug, PartialEq)]
pub enum Act {
    /// Nothing written: the cloud refused this generation; wait for a spec change.
    Hold,
    Report(Outcome),
    /// The cloud could not be read.
    Unseen(CloudError),
    /// Create the cache; `vanished` names the one that was Ready and disappeared.
    Create {
        vanished: Option<String>,
    },
    /// One field, the first that differs; `pending` are the ones after it.
    Modify {
        change: ServerlessChange,
        pending: Vec<ServerlessChange>,
    },
    /// Delete the cache that failed to create (the spec changed since), to create it again.
    Recreate,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Take the observed cache into the status (it is ours).
    pub record: Option<ObservedServerless>,
    pub act: Act,
}

/// ` ; pending: a, b` (empty without changes).
pub fn describe(changes: &[ServerlessChange]) -> String {
    if changes.is_empty() {
        String::new()
    } else {
        format!(
            "; pending: {}",
            changes
                .iter()
                .map(ServerlessChange::describe)
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

fn report(act: Outcome) -> Plan {
    Plan {
        record: None,
        act: Act::Report(act),
    }
}

/// Whether the status holds a `create-failed` report made for `generation`.
fn failed_at(old: &ServerlessCacheStatus, generation: Option<i64>) -> Option<bool> {
    condition::get(&old.conditions, condition::STALLED)
        .filter(|c| c.status == condition::TRUE && c.reason == reason::CREATE_FAILED)
        .map(|c| c.observed_generation == generation)
}

pub fn plan(seen: &Observed, old: &ServerlessCacheStatus, generation: Option<i64>) -> Plan {
    let desired = match &seen.spec {
        Spec::Invalid(e) => {
            return report(Outcome::new(
                Phase::Failed,
                Summary::stalled(reason::INVALID_SPEC, e.to_string()),
                Next::AwaitChange,
            ));
        }
        Spec::Wrong(why) => {
            return report(Outcome::new(
                Phase::Failed,
                Summary::stalled(reason::INVALID_SPEC, why.clone()),
                Next::Resync,
            ));
        }
        Spec::Waiting(why) => {
            return report(Outcome::new(
                Phase::Pending,
                Summary::progressing(reason::REFERENCE_NOT_READY, why.clone()),
                Next::Waiting,
            ));
        }
        Spec::Desired(d) => d,
    };
    if seen.refused {
        return Plan {
            record: None,
            act: Act::Hold,
        };
    }
    let found = match &seen.cloud {
        None => {
            return Plan {
                record: None,
                act: Act::Hold,
            };
        }
        Some(Err(e)) => {
            return Plan {
                record: None,
                act: Act::Unseen(e.clone()),
            };
        }
        Some(Ok(found)) => found,
    };
    let Some(s) = found else {
        let vanished = (old.phase == Some(Phase::Ready))
            .then(|| old.cloud_resource.clone())
            .flatten();
        return Plan {
            record: None,
            act: Act::Create { vanished },
        };
    };
    if let Err(why) = &s.ours {
        return report(Outcome::new(
            Phase::Failed,
            Summary::stalled(
                reason::ALREADY_EXISTS,
                format!("{why}; choose another spec.cacheName"),
            ),
            Next::Resync,
        ));
    }
    let c = &s.cache;
    let res = &c.arn;
    let waiting = |phase, reason: &str, message: String| Plan {
        record: Some(c.clone()),
        act: Act::Report(Outcome::waiting(phase, reason, message)),
    };
    let pending = changes(desired, c);
    match c.status.as_str() {
        "creating" => waiting(
            Phase::Creating,
            reason::CREATING,
            format!("the cloud is creating {res}"),
        ),
        "modifying" => waiting(
            Phase::Updating,
            reason::UPDATING,
            format!("the cloud is modifying {res}{}", describe(&pending)),
        ),
        "deleting" => waiting(
            Phase::Pending,
            reason::PENDING,
            format!("{res} is being deleted in the cloud; it will be created again once gone"),
        ),
        "create-failed" => match failed_at(old, generation) {
            // Reported at an earlier generation: the spec changed, try again.
            Some(false) => Plan {
                record: Some(c.clone()),
                act: Act::Recreate,
            },
            _ => Plan {
                record: Some(c.clone()),
                act: Act::Report(Outcome::new(
                    Phase::Failed,
                    Summary::stalled(
                        reason::CREATE_FAILED,
                        format!(
                            "the cloud could not create {res} (create-failed); change the spec to delete it and try again"
                        ),
                    ),
                    Next::AwaitChange,
                )),
            },
        },
        "available" => match pending.split_first() {
            None => {
                let at = c
                    .endpoint
                    .as_ref()
                    .map(|e| format!(" at {}:{}", e.host, e.port))
                    .unwrap_or_default();
                Plan {
                    record: Some(c.clone()),
                    act: Act::Report(Outcome::new(
                        Phase::Ready,
                        Summary::ready(reason::AVAILABLE, format!("{res} is available{at}")),
                        Next::Resync,
                    )),
                }
            }
            Some((first, rest)) => Plan {
                record: Some(c.clone()),
                act: Act::Modify {
                    change: first.clone(),
                    pending: rest.to_vec(),
                },
            },
        },
        other => waiting(
            Phase::Pending,
            reason::PENDING,
            format!("the cloud reports {res} as {other:?}"),
        ),
    }
}

/// What a deletion does.
#[derive(Clone, Debug, PartialEq)]
pub enum Leave {
    /// Release the object, saying why.
    LetGo(String),
    Report {
        record: Option<Box<ObservedServerless>>,
        outcome: Outcome,
    },
    Unseen(CloudError),
    Delete {
        region: String,
        name: String,
        resource: String,
        final_snapshot: Option<String>,
    },
}

/// The final snapshot of a cache deleted for the object `uid`: stable, so a retried delete
/// asks for the same one.
pub fn final_snapshot_name(cache: &str, uid: &str) -> String {
    BackupPlan::final_backup_name(cache, uid)
}

pub fn leave(
    looked: &Leaving,
    old: &ServerlessCacheStatus,
    deletion_protection: bool,
    uid: &str,
) -> Leave {
    let what = || {
        old.cloud_resource
            .clone()
            .unwrap_or_else(|| "the serverless cache".into())
    };
    let (desired, found) = match looked {
        Leaving::Retained => {
            return Leave::LetGo(format!(
                "deletionPolicy Retain: {} is left in place",
                what()
            ));
        }
        Leaving::Unparsable(errors) => {
            return match &old.cloud_resource {
                None => Leave::LetGo("nothing was created".into()),
                Some(resource) => Leave::Report {
                    record: None,
                    outcome: Outcome::new(
                        Phase::Deleting,
                        Summary::stalled(
                            reason::INVALID_SPEC,
                            format!("cannot delete {resource}: the spec is invalid ({errors})"),
                        ),
                        Next::AwaitChange,
                    ),
                },
            };
        }
        Leaving::Cloud { desired, found } => (desired, found),
    };
    let s = match &**found {
        Err(e) => return Leave::Unseen(e.clone()),
        Ok(None) => {
            let kept = old
                .final_snapshot
                .as_ref()
                .map(|n| format!("; its final snapshot {n} is kept"))
                .unwrap_or_default();
            let gone = old
                .cloud_resource
                .clone()
                .unwrap_or_else(|| desired.name.clone());
            return Leave::LetGo(format!("{gone} is deleted{kept}"));
        }
        Ok(Some(s)) => s,
    };
    let c = &s.cache;
    if let Err(why) = &s.ours {
        return Leave::LetGo(format!("left {} alone: {why}", c.arn));
    }
    let wait = |message: String| Leave::Report {
        record: Some(Box::new(c.clone())),
        outcome: Outcome::waiting(Phase::Deleting, reason::DELETING, message),
    };
    if deletion_protection {
        return Leave::Report {
            record: Some(Box::new(c.clone())),
            outcome: Outcome::new(
                Phase::Deleting,
                Summary::stalled(
                    reason::DELETION_PROTECTED,
                    format!(
                        "spec.deletionProtection is true: {} is kept; set it to false to delete it, or deletionPolicy: Retain to keep it and release this object",
                        c.arn
                    ),
                ),
                Next::AwaitChange,
            ),
        };
    }
    let delete = |final_snapshot: Option<String>| Leave::Delete {
        region: desired.region.clone(),
        name: c.name.clone(),
        resource: c.arn.clone(),
        final_snapshot,
    };
    match c.status.as_str() {
        "deleting" => wait(format!("waiting for the cloud to delete {}", c.arn)),
        // Nothing to snapshot in a cache that never came up.
        "create-failed" => delete(None),
        "available" => delete(
            desired
                .final_snapshot
                .then(|| final_snapshot_name(&c.name, uid)),
        ),
        other => wait(format!(
            "waiting for {} to be available before deleting it (it is {other})",
            c.arn
        )),
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
