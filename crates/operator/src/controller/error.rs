//! One error type for every controller, carrying the pipeline step that failed.

use std::fmt;

use cache_operator_cloud::CloudError;
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

#[cfg(test)]
mod tests {
    use super::*;
    use cache_operator_cloud::ErrorClass;

    fn err(class: ErrorClass) -> CloudError {
        CloudError::new(class, "CODE", "message", "svc call")
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
