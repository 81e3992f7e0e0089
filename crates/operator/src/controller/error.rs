//! One error type for every controller, carrying the pipeline step that failed, and one
//! classification of cloud errors that every controller acts on the same way.

use std::fmt;
use std::time::Duration;

use cache_operator_api::condition::{Summary, reason};
use cache_operator_cloud::{CloudError, ErrorClass};
use kube::runtime::controller::Action;

/// The steps of a pass, in order; every error says which one failed (logs and the `step`
/// label of `cache_operator_reconcile_errors_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// Adding or removing the finalizer.
    Finalizer,
    /// Reading the objects this one refers to.
    Dereference,
    /// Reading what exists: the cloud resource, our own Secrets.
    Observe,
    /// Cloud and API writes.
    Apply,
    /// Writing the status.
    Status,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Finalizer => "finalizer",
            Step::Dereference => "dereference",
            Step::Observe => "observe",
            Step::Apply => "apply",
            Step::Status => "status",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{step}: Kubernetes API: {source}")]
    Kube {
        step: Step,
        #[source]
        source: kube::Error,
    },
    #[error("{step}: {source}")]
    Cloud {
        step: Step,
        #[source]
        source: CloudError,
    },
    /// Not a failure: cleanup is under way and the finalizer must stay. Only the skeleton sees
    /// it (kube's finalizer helper removes the finalizer after any successful cleanup).
    #[error("cleanup is not finished")]
    CleanupPending(Action),
    #[error("finalizer: {0}")]
    Finalizer(String),
}

impl Error {
    pub fn step(&self) -> Step {
        match self {
            Error::Kube { step, .. } | Error::Cloud { step, .. } => *step,
            Error::CleanupPending(_) | Error::Finalizer(_) => Step::Finalizer,
        }
    }

    /// A short label for metrics.
    pub fn reason(&self) -> String {
        match self {
            Error::Kube {
                source: kube::Error::Api(s),
                ..
            } => format!("kube_{}", s.code),
            Error::Kube { .. } => "kube".into(),
            Error::Cloud { source, .. } => source.code.clone(),
            Error::CleanupPending(_) => "pending".into(),
            Error::Finalizer(_) => "finalizer".into(),
        }
    }
}

/// `result.at(Step::Apply)?`: a kube or cloud error, labelled with its step.
pub trait At<T> {
    fn at(self, step: Step) -> Result<T, Error>;
}

impl<T> At<T> for Result<T, kube::Error> {
    fn at(self, step: Step) -> Result<T, Error> {
        self.map_err(|source| Error::Kube { step, source })
    }
}

impl<T> At<T> for Result<T, CloudError> {
    fn at(self, step: Step) -> Result<T, Error> {
        self.map_err(|source| Error::Cloud { step, source })
    }
}

/// Why a pass stops short of its goal; each kind says how it shows in the conditions.
#[derive(Debug)]
pub enum Halt {
    /// The cloud is working on the resource: look again soon.
    Busy(String),
    /// Waiting on another object.
    Waiting(&'static str, String),
    /// Needs a human: a spec that the world contradicts.
    Stalled(&'static str, String),
    /// The access this object gave is withdrawn (a binding's Secret goes).
    Revoked(&'static str, String),
    Failed(Error),
}

impl From<Error> for Halt {
    fn from(e: Error) -> Self {
        Halt::Failed(e)
    }
}

impl Halt {
    /// A failed cloud call at `step`: a busy resource is waited for, the rest is the kind's to
    /// classify.
    pub fn cloud(e: CloudError, step: Step) -> Halt {
        if CloudFailure::of(&e) == CloudFailure::Busy {
            Halt::Busy(format!("the cloud is busy: {}", e.message))
        } else {
            Halt::Failed(Error::Cloud { step, source: e })
        }
    }
}

/// `result.halt(Step::Apply)?` in code that stops with a [`Halt`].
pub trait HaltAt<T> {
    fn halt(self, step: Step) -> Result<T, Halt>;
}

impl<T> HaltAt<T> for Result<T, CloudError> {
    fn halt(self, step: Step) -> Result<T, Halt> {
        self.map_err(|e| Halt::cloud(e, step))
    }
}

impl<T> HaltAt<T> for Result<T, kube::Error> {
    fn halt(self, step: Step) -> Result<T, Halt> {
        self.at(step).map_err(Halt::Failed)
    }
}

/// What a failed cloud call means for the object, the same for every controller.
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

    /// The conditions and the next look for the classes that end a pass without an error;
    /// `None` for [`CloudFailure::Busy`] (each kind says how it waits) and
    /// [`CloudFailure::Transient`] (see [`retrying`]).
    pub fn stalled(self, e: &CloudError, max_backoff: Duration) -> Option<(Summary, Action)> {
        match self {
            CloudFailure::Refused => Some((
                Summary::stalled(reason::CLOUD_INVALID_ARGUMENT, e.to_string()),
                Action::await_change(),
            )),
            CloudFailure::Denied => Some((
                Summary::stalled(
                    reason::PERMISSION_DENIED,
                    format!("the operator's cloud identity is not allowed to do this: {e}"),
                ),
                Action::requeue(max_backoff),
            )),
            CloudFailure::Busy | CloudFailure::Transient => None,
        }
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
pub fn refused_at(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    generation: Option<i64>,
) -> bool {
    use cache_operator_api::condition;
    condition::get(conditions, condition::STALLED).is_some_and(|c| {
        c.status == condition::TRUE
            && c.reason == reason::CLOUD_INVALID_ARGUMENT
            && c.observed_generation == generation
    })
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
    fn refusals_wait_for_the_spec_and_denials_look_again_later() {
        let max = Duration::from_secs(300);
        let e = err(ErrorClass::InvalidArgument);
        let (s, then) = CloudFailure::Refused.stalled(&e, max).unwrap();
        assert_eq!(s.reason(), reason::CLOUD_INVALID_ARGUMENT);
        assert_eq!(then, Action::await_change());
        let (s, then) = CloudFailure::Denied.stalled(&e, max).unwrap();
        assert_eq!(s.reason(), reason::PERMISSION_DENIED);
        assert_eq!(then, Action::requeue(max));
        assert!(CloudFailure::Busy.stalled(&e, max).is_none());
        assert!(CloudFailure::Transient.stalled(&e, max).is_none());

        let mut conds = Vec::new();
        s.apply(&mut conds, Some(2), jiff::Timestamp::now());
        assert!(!refused_at(&conds, Some(2)), "a denial is not a refusal");
        let (s, _) = CloudFailure::Refused.stalled(&e, max).unwrap();
        s.apply(&mut conds, Some(2), jiff::Timestamp::now());
        assert!(refused_at(&conds, Some(2)));
        assert!(!refused_at(&conds, Some(3)), "a new generation tries again");
    }

    #[test]
    fn errors_name_their_step() {
        let e = Err::<(), _>(err(ErrorClass::Unavailable))
            .at(Step::Observe)
            .unwrap_err();
        assert_eq!(e.step(), Step::Observe);
        assert_eq!(e.reason(), "CODE");
        assert!(e.to_string().starts_with("observe: svc call failed"), "{e}");
    }
}
