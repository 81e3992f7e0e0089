//! How every pass of every kind ends: an [`Ending`] — a status to report (its conditions, the
//! kind's phase, when to look again), a quiet requeue, or a failure retried with backoff — and
//! the one meaning of a failed cloud call ([`CloudFailure`]). The status writer
//! ([`Draft::end`](super::status::Draft::end)) turns an ending into the status write, the event
//! and the next look.

use std::time::Duration;

use cache_operator_api::condition::{self, Summary, reason};
use cache_operator_cloud::{CloudError, ErrorClass};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use super::error::{Error, Step};

/// When to look again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// While the cloud works on the object: soon after a transition starts, then less often,
    /// up to the poll interval (see `status::poll`).
    Poll,
    /// After the poll interval: something under way besides the object (a group's users, a
    /// backup).
    Soon,
    /// Waiting on another object, whose change triggers the pass anyway: the poll interval,
    /// but never sooner than a second.
    Waiting,
    /// Waiting on the cloud to let go of something that other objects use (an attached user
    /// group): the poll interval, but never sooner than five seconds.
    Slowly,
    /// The steady-state re-check.
    Resync,
    /// The steady-state re-check, or at this time if that is sooner (a rotation due).
    ResyncBy(jiff::Timestamp),
    /// After the longest backoff: the cause is outside the spec (a permission, a limit).
    MaxBackoff,
    /// After this long (a token's refresh time, which the plan computed).
    After(Duration),
    /// At once (a conflict with a write of someone else's just seen).
    Now,
    /// Only when the object changes.
    AwaitChange,
}

/// Where a pass leaves the object: the kind's phase (`()` for kinds without one), the
/// conditions, and the next look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome<P = ()> {
    pub phase: P,
    pub summary: Summary,
    pub next: Next,
}

impl<P> Outcome<P> {
    pub fn new(phase: P, summary: Summary, next: Next) -> Self {
        Outcome {
            phase,
            summary,
            next,
        }
    }

    /// Progressing while the cloud works: polled.
    pub fn waiting(phase: P, reason: &str, message: impl Into<String>) -> Self {
        Outcome::new(phase, Summary::progressing(reason, message), Next::Poll)
    }
}

/// How a pass ends.
#[derive(Debug)]
pub enum Ending<P = ()> {
    /// Write the status as `Outcome` says.
    Report(Outcome<P>),
    /// Write nothing; look again as `Next` says.
    Quiet(Next),
    /// A failure retried with the error policy's backoff, after writing `report` if any.
    Retry {
        report: Option<Outcome<P>>,
        error: Error,
    },
}

/// What a failed cloud call means for the object, the same for every kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloudFailure {
    /// The cloud refused the request itself (invalid, over a hard quota, a name taken by
    /// someone else): sending it again cannot help, so stall until the spec changes.
    Refused,
    /// The operator's identity lacks a permission: stalled, but permissions are granted
    /// outside the spec, so look again after the longest backoff.
    Denied,
    /// The resource is busy or not there yet: progressing, look again at the poll interval.
    Busy,
    /// Throttling, 5xx, timeouts, conflicts: retried with backoff by the error policy.
    Transient,
}

impl CloudFailure {
    pub fn of(e: &CloudError) -> CloudFailure {
        match e.class {
            ErrorClass::InvalidArgument | ErrorClass::QuotaExceeded | ErrorClass::AlreadyExists => {
                CloudFailure::Refused
            }
            ErrorClass::PermissionDenied | ErrorClass::Unauthenticated => CloudFailure::Denied,
            ErrorClass::FailedPrecondition | ErrorClass::NotFound => CloudFailure::Busy,
            ErrorClass::Conflict
            | ErrorClass::Throttled
            | ErrorClass::Unavailable
            | ErrorClass::Other => CloudFailure::Transient,
        }
    }
}

/// What a kind says of a failed cloud call where kinds differ.
pub struct OnFailure<P> {
    /// The phase of a stalled object.
    pub stalled: P,
    /// How a busy cloud is waited for.
    pub busy: Outcome<P>,
    /// The phase to report a transient failure in; `None` keeps the status as it is (a Ready
    /// cluster that could not be looked at stays Ready).
    pub retrying: Option<P>,
}

/// The ending of a pass whose cloud call at `step` failed: refusals stall until the spec
/// changes, denials until the longest backoff, a busy cloud is waited for as the kind says,
/// the rest is retried with backoff.
pub fn cloud_failure<P>(e: CloudError, step: Step, on: OnFailure<P>) -> Ending<P> {
    match CloudFailure::of(&e) {
        CloudFailure::Refused => Ending::Report(Outcome::new(
            on.stalled,
            Summary::stalled(reason::CLOUD_INVALID_ARGUMENT, e.to_string()),
            Next::AwaitChange,
        )),
        CloudFailure::Denied => Ending::Report(Outcome::new(
            on.stalled,
            Summary::stalled(
                reason::PERMISSION_DENIED,
                format!("the operator's cloud identity is not allowed to do this: {e}"),
            ),
            Next::MaxBackoff,
        )),
        CloudFailure::Busy => Ending::Report(on.busy),
        CloudFailure::Transient => Ending::Retry {
            report: on
                .retrying
                .map(|phase| Outcome::new(phase, retrying(&e), Next::AwaitChange)),
            error: Error::Cloud { step, source: e },
        },
    }
}

/// The conditions of a transient failure; the pass then ends with the error, for backoff.
pub fn retrying(e: &CloudError) -> Summary {
    Summary::retrying(
        reason::CLOUD_UNAVAILABLE,
        format!("{e}; retrying with backoff"),
    )
}

/// Whether the cloud refused a write for this very generation: the pass is skipped until the
/// spec changes, rather than sending the same request again on every trigger.
pub fn refused_at(conditions: &[Condition], generation: Option<i64>) -> bool {
    condition::get(conditions, condition::STALLED).is_some_and(|c| {
        c.status == condition::TRUE
            && c.reason == reason::CLOUD_INVALID_ARGUMENT
            && c.observed_generation == generation
    })
}

/// `d`, but never less than a second.
pub fn at_least_a_second(d: Duration) -> Duration {
    d.max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(class: ErrorClass) -> CloudError {
        CloudError::new(class, "CODE", "message", "svc call")
    }

    #[test]
    fn every_cloud_error_class_has_one_meaning() {
        use CloudFailure::*;
        let table = [
            (ErrorClass::InvalidArgument, Refused),
            (ErrorClass::QuotaExceeded, Refused),
            (ErrorClass::AlreadyExists, Refused),
            (ErrorClass::PermissionDenied, Denied),
            (ErrorClass::Unauthenticated, Denied),
            (ErrorClass::FailedPrecondition, Busy),
            (ErrorClass::NotFound, Busy),
            (ErrorClass::Conflict, Transient),
            (ErrorClass::Throttled, Transient),
            (ErrorClass::Unavailable, Transient),
            (ErrorClass::Other, Transient),
        ];
        for (class, want) in table {
            assert_eq!(CloudFailure::of(&err(class)), want, "{class:?}");
        }
    }

    #[test]
    fn a_failed_call_ends_the_pass_by_its_class() {
        let on = || OnFailure {
            stalled: "failed",
            busy: Outcome::waiting("busy", reason::UPDATING, "the cloud is busy"),
            retrying: Some("retrying"),
        };
        let ending = |class| cloud_failure(err(class), Step::Apply, on());
        // class → (phase, reason, next), or retried (with a report)
        let Ending::Report(o) = ending(ErrorClass::InvalidArgument) else {
            panic!()
        };
        assert_eq!(
            (o.phase, o.summary.reason(), o.next),
            ("failed", reason::CLOUD_INVALID_ARGUMENT, Next::AwaitChange)
        );
        let Ending::Report(o) = ending(ErrorClass::PermissionDenied) else {
            panic!()
        };
        assert_eq!(
            (o.phase, o.summary.reason(), o.next),
            ("failed", reason::PERMISSION_DENIED, Next::MaxBackoff)
        );
        let Ending::Report(o) = ending(ErrorClass::FailedPrecondition) else {
            panic!()
        };
        assert_eq!((o.phase, o.next), ("busy", Next::Poll));
        let Ending::Retry { report, error } = ending(ErrorClass::Throttled) else {
            panic!()
        };
        let report = report.unwrap();
        assert_eq!(
            (report.phase, report.summary.reason()),
            ("retrying", reason::CLOUD_UNAVAILABLE)
        );
        assert_eq!(error.step(), Step::Apply);
        let quiet = OnFailure {
            retrying: None,
            ..on()
        };
        let Ending::Retry { report: None, .. } =
            cloud_failure(err(ErrorClass::Unavailable), Step::Observe, quiet)
        else {
            panic!("a status that stays as it was")
        };
    }

    #[test]
    fn a_refusal_holds_for_its_generation_only() {
        let mut conds = Vec::new();
        Summary::stalled(reason::PERMISSION_DENIED, "no").apply(
            &mut conds,
            Some(2),
            jiff::Timestamp::now(),
        );
        assert!(!refused_at(&conds, Some(2)), "a denial is not a refusal");
        Summary::stalled(reason::CLOUD_INVALID_ARGUMENT, "bad").apply(
            &mut conds,
            Some(2),
            jiff::Timestamp::now(),
        );
        assert!(refused_at(&conds, Some(2)));
        assert!(!refused_at(&conds, Some(3)), "a new generation tries again");
    }
}
