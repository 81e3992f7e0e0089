//! Status: what a pass over a serverless cache reports from what was done — the phase,
//! conditions, endpoints and engine the cloud reports, what a call's answer means, the events.

use cache_operator_api::ServerlessCache;
use cache_operator_api::cluster::Phase;
use cache_operator_api::common::HostPort;
use cache_operator_api::condition::{Summary, event, reason};
use cache_operator_api::serverless::ServerlessCacheStatus;
use cache_operator_cloud::aws::serverless::ObservedServerless;
use cache_operator_cloud::provider::Endpoint;
use cache_operator_cloud::{CloudError, ErrorClass};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;

use super::execute::Applied;
use super::plan::{Act, Leave, Outcome, Plan, describe};
use crate::controller::Ctx;
use crate::controller::ending::{Ending, Next, OnFailure, cloud_failure};
use crate::controller::error::{Error, Step};
use crate::controller::skeleton::Cleanup;
use crate::controller::status::{Draft, Drafted};

type Pass<'a> = Draft<'a, ServerlessCache>;

impl Drafted for ServerlessCache {
    type Phase = Phase;

    fn begin(&self, st: &mut ServerlessCacheStatus) {
        st.cache_name = Some(self.cache_name().to_ascii_lowercase());
    }

    fn record_phase(st: &mut ServerlessCacheStatus, phase: Phase, summary: &Summary) {
        st.phase = Some(phase);
        st.message = Some(summary.message().to_owned()).filter(|m| !m.is_empty());
    }
}

/// A failed cloud call, by its class: refused and denied stall, busy waits, the rest is
/// retried with backoff (a Ready cache that could not be looked at stays Ready).
pub fn failure(old: &ServerlessCacheStatus, e: &CloudError, step: Step) -> Ending<Phase> {
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

fn hp(e: &Endpoint) -> HostPort {
    HostPort {
        host: e.host.clone(),
        port: i32::from(e.port),
    }
}

/// Take what the cloud reports of our cache into the status.
pub fn record(st: &mut ServerlessCacheStatus, c: &ObservedServerless) {
    st.cloud_resource = Some(c.arn.clone()).filter(|a| !a.is_empty());
    st.cloud_state = Some(c.status.clone());
    st.endpoint = c.endpoint.as_ref().map(hp);
    st.reader_endpoint = c.reader_endpoint.as_ref().map(hp);
    st.engine = Some(c.engine.clone()).filter(|e| !e.is_empty());
    st.major_engine_version = Some(c.major_engine_version.clone()).filter(|e| !e.is_empty());
    st.full_engine_version = Some(c.full_engine_version.clone()).filter(|e| !e.is_empty());
}

/// Write the status of a live pass and end it.
pub async fn conclude(
    obj: &ServerlessCache,
    ctx: &Ctx,
    plan: Plan,
    applied: Applied,
) -> Result<Action, Error> {
    let pass = &mut Pass::new(obj, ctx);
    let old = pass.old.clone();
    if let Some(c) = &plan.record {
        record(&mut pass.st, c);
    }
    let ending = match (plan.act, applied) {
        (Act::Hold, _) => Ending::Quiet(Next::AwaitChange),
        (Act::Report(outcome), _) => Ending::Report(outcome),
        (Act::Unseen(e), _) => failure(&old, &e, Step::Observe),
        (Act::Create { vanished }, Applied::Created(result)) => {
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
            match *result {
                Ok(created) => {
                    record(&mut pass.st, &created);
                    Ending::Report(Outcome::waiting(
                        Phase::Creating,
                        reason::CREATING,
                        format!("creating {} in {}", created.arn, obj.spec.region),
                    ))
                }
                // Created between our look and our create: look again at once.
                Err(e) if e.is(ErrorClass::AlreadyExists) => Ending::Quiet(Next::Now),
                Err(e) => failure(&old, &e, Step::Apply),
            }
        }
        (Act::Modify { change, pending }, Applied::Modified(result)) => match result {
            Ok(()) => {
                pass.st.cloud_state = Some("modifying".into());
                let note = format!("changing {}", change.describe());
                pass.note(EventType::Normal, reason::UPDATING, "Update", note)
                    .await;
                Ending::Report(Outcome::waiting(
                    Phase::Updating,
                    reason::UPDATING,
                    format!("changing {}{}", change.describe(), describe(&pending)),
                ))
            }
            Err(e) if e.is(ErrorClass::FailedPrecondition) => Ending::Report(Outcome::waiting(
                Phase::Updating,
                reason::UPDATING,
                format!(
                    "the cloud is busy ({}); will retry changing {}",
                    e.message,
                    change.describe()
                ),
            )),
            Err(e) => failure(&old, &e, Step::Apply),
        },
        (Act::Recreate, Applied::Deleted(result)) => match result {
            Ok(()) => {
                pass.st.cloud_resource = None;
                let note = "the spec changed: deleting the cache that failed to create, to create it again".to_owned();
                pass.note(EventType::Normal, reason::DELETING, "Recreate", note)
                    .await;
                Ending::Report(Outcome::waiting(
                    Phase::Pending,
                    reason::PENDING,
                    "deleting the cache that failed to create; it will be created again once gone",
                ))
            }
            Err(e) => failure(&old, &e, Step::Apply),
        },
        // Not a pairing `execute` makes.
        _ => Ending::Quiet(Next::Now),
    };
    pass.end(ending).await
}

/// Say how a deletion stands: done (the object released, and why), or still under way.
pub async fn left(
    obj: &ServerlessCache,
    ctx: &Ctx,
    plan: Leave,
    applied: Applied,
) -> Result<Cleanup, Error> {
    let pass = &mut Pass::new(obj, ctx);
    let old = pass.old.clone();
    let ending = match (plan, applied) {
        (Leave::LetGo(note), _) => {
            pass.note(EventType::Normal, event::RELEASED, "Delete", note)
                .await;
            return Ok(Cleanup::Done);
        }
        (Leave::Unseen(e), _) => failure(&old, &e, Step::Observe),
        (Leave::Report { record, outcome }, _) => {
            if let Some(c) = &record {
                self::record(&mut pass.st, c);
            }
            Ending::Report(outcome)
        }
        (
            Leave::Delete {
                resource,
                final_snapshot,
                ..
            },
            Applied::Deleted(result),
        ) => match result {
            Ok(()) => {
                pass.st.cloud_state = Some("deleting".into());
                let message = match &final_snapshot {
                    Some(name) => {
                        pass.st.final_snapshot = Some(name.clone());
                        let note = format!("deleting {resource} with a final snapshot {name}");
                        pass.note(EventType::Normal, event::FINAL_BACKUP, "Delete", note)
                            .await;
                        format!("deleting {resource} (final snapshot {name})")
                    }
                    None => format!("deleting {resource}"),
                };
                Ending::Report(Outcome::waiting(Phase::Deleting, reason::DELETING, message))
            }
            Err(e) if e.is(ErrorClass::NotFound) => {
                let note = format!("{resource} is deleted");
                pass.note(EventType::Normal, event::RELEASED, "Delete", note)
                    .await;
                return Ok(Cleanup::Done);
            }
            Err(e) if e.is(ErrorClass::FailedPrecondition) => Ending::Report(Outcome::waiting(
                Phase::Deleting,
                reason::DELETING,
                format!("the cloud cannot delete {resource} yet: {}", e.message),
            )),
            Err(e) => failure(&old, &e, Step::Apply),
        },
        _ => Ending::Quiet(Next::Now),
    };
    pass.end(ending).await.map(Cleanup::Pending)
}
