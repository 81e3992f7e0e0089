//! Status conditions as the Kubernetes API conventions and kstatus read them.
//!
//! Every kind carries `Ready` (what Argo CD, Flux and `kubectl wait` look at) plus the kstatus
//! pair `Reconciling` / `Stalled`. Types and reasons are constants so nothing spells them twice.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";
/// Cross-region replication: True while the set's primary is not yet the member the anchor
/// names; False (with the result) once it is.
pub const SWITCHING_OVER: &str = "SwitchingOver";

pub const TRUE: &str = "True";
pub const FALSE: &str = "False";
pub const UNKNOWN: &str = "Unknown";

/// Reasons, CamelCase as the conventions ask. Shared across kinds where the meaning is the same.
pub mod reason {
    /// The object is in the state its spec asks for.
    pub const AVAILABLE: &str = "Available";
    /// Work has started but the cloud has not finished.
    pub const CREATING: &str = "Creating";
    pub const UPDATING: &str = "Updating";
    pub const DELETING: &str = "Deleting";
    /// Waiting on something outside this object (another object, a cloud state).
    pub const PENDING: &str = "Pending";
    /// The spec breaks a rule (caught by the operator, not the API server).
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The cloud refused the request as invalid: no retry until the spec changes.
    pub const CLOUD_INVALID_ARGUMENT: &str = "CloudInvalidArgument";
    /// The cloud resource exists but was not created for this object.
    pub const ALREADY_EXISTS: &str = "AlreadyExists";
    /// The operator's cloud identity lacks a permission.
    pub const PERMISSION_DENIED: &str = "PermissionDenied";
    /// Throttling, 5xx or timeouts: retried with backoff.
    pub const CLOUD_UNAVAILABLE: &str = "CloudUnavailable";
    /// The cloud could not create the resource (ElastiCache Serverless `create-failed`): held
    /// until the spec changes, which deletes the failed one and creates it again.
    pub const CREATE_FAILED: &str = "CreateFailed";
    /// The cloud says the resource is in a state that forbids the call.
    pub const CLOUD_FAILED_PRECONDITION: &str = "CloudFailedPrecondition";
    /// Deletion is refused while `spec.deletionProtection` is set.
    pub const DELETION_PROTECTED: &str = "DeletionProtected";
    /// The resource vanished from the cloud behind our back.
    pub const NOT_FOUND_IN_CLOUD: &str = "NotFoundInCloud";
    /// A UserGroup's grants do not fit in the project's IAM policy (principals, conditions).
    pub const IAM_POLICY_LIMIT: &str = "IamPolicyLimit";
    /// A group lists principals a cluster's IAM authentication does not accept (Memorystore for
    /// Valkey: only users and service accounts).
    pub const UNSUPPORTED_PRINCIPAL: &str = "UnsupportedPrincipal";
    /// IAM refused members that do not exist (deleted service accounts).
    pub const MEMBER_NOT_FOUND: &str = "MemberNotFound";
    /// The cloud has accepted a change it will make later (in the maintenance window).
    /// Cross-region: the primary is the member the anchor names.
    pub const PRIMARY_IN_PLACE: &str = "PrimaryInPlace";
    /// Cross-region: a switchover to the member the anchor names is under way.
    pub const SWITCHOVER_IN_PROGRESS: &str = "SwitchoverInProgress";
    /// Cross-region: a primary waits for its secondaries to be deleted or detached.
    pub const SECONDARIES_ATTACHED: &str = "SecondariesAttached";
    pub const PENDING_IN_CLOUD: &str = "PendingInCloud";
    /// A referenced object is missing or not ready.
    pub const REFERENCE_NOT_READY: &str = "ReferenceNotReady";
    pub const REFERENCE_NOT_FOUND: &str = "ReferenceNotFound";
    /// A cross-namespace reference the target does not admit.
    pub const NAMESPACE_NOT_ALLOWED: &str = "NamespaceNotAllowed";
    /// A reference into a namespace this operator does not watch (`--namespace`).
    pub const NAMESPACE_NOT_WATCHED: &str = "NamespaceNotWatched";
    /// The identity may not connect to the cluster: its group is not listed by the cluster, or
    /// it is not a member of the group.
    pub const NOT_AUTHORIZED: &str = "NotAuthorized";
    /// Something still depends on this object.
    pub const IN_USE: &str = "InUse";
    /// Credentials could not be refreshed; the previous ones are still valid.
    pub const REFRESH_FAILED: &str = "RefreshFailed";
    pub const CREDENTIALS_ISSUED: &str = "CredentialsIssued";
    /// Anything the operator could not classify.
    pub const ERROR: &str = "Error";
}

/// Reasons of events that are not a condition's reason: one-off things the operator did. The
/// condition reasons above double as event reasons when a condition changes.
pub mod event {
    /// A cloud resource the operator did not create is now managed (`spec.adopt`).
    pub const ADOPTED: &str = "Adopted";
    /// The object let go of its cloud resource (deleted, retained or not ours).
    pub const RELEASED: &str = "Released";
    /// The cloud resources created for the object are deleted.
    pub const DELETED: &str = "Deleted";
    pub const USER_CREATED: &str = "UserCreated";
    pub const USER_DELETED: &str = "UserDeleted";
    pub const PASSWORD_ROTATED: &str = "PasswordRotated";
    pub const GRANTS_UPDATED: &str = "GrantsUpdated";
    pub const GRANTS_REMOVED: &str = "GrantsRemoved";
    /// A backup before the cloud resource is deleted (`spec.finalBackup`): asked for, ready.
    pub const FINAL_BACKUP: &str = "FinalBackup";
    /// An on-demand backup (`spec.onDemandBackup`): asked for, ready.
    pub const BACKUP: &str = "Backup";
    /// The AUTH token of an `authMode: token` cluster: a new one given to clients, the old one
    /// retired.
    pub const AUTH_TOKEN_ROTATED: &str = "AuthTokenRotated";
}

/// A condition as this operator sets it: `lastTransitionTime` is filled in by [`set`].
pub fn new(
    type_: &str,
    status: &str,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: Time(Timestamp::UNIX_EPOCH),
    }
}

/// Insert or replace the condition of the same type, keeping `lastTransitionTime` unless the
/// status flipped, so that status writes without a real change compare equal and are skipped.
pub fn set(conditions: &mut Vec<Condition>, mut condition: Condition, now: Timestamp) {
    match conditions.iter_mut().find(|c| c.type_ == condition.type_) {
        Some(existing) => {
            condition.last_transition_time = if existing.status == condition.status {
                existing.last_transition_time.clone()
            } else {
                Time(now)
            };
            *existing = condition;
        }
        None => {
            condition.last_transition_time = Time(now);
            conditions.push(condition);
        }
    }
}

pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some_and(|c| c.status == TRUE)
}

/// The three kstatus conditions at once, from one summary of where the object stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Summary {
    /// Done: Ready=True, Reconciling=False, Stalled=False.
    Ready { reason: String, message: String },
    /// Progressing: Ready=False, Reconciling=True, Stalled=False.
    Progressing { reason: String, message: String },
    /// Needs a human (or a spec change): Ready=False, Reconciling=False, Stalled=True.
    Stalled { reason: String, message: String },
    /// A transient failure that is being retried: Ready=False, Reconciling=True, Stalled=False,
    /// but said as an error.
    Retrying { reason: String, message: String },
    /// Still usable while a failure is retried (a binding's token is valid, its refresh failed):
    /// Ready=True for `reason`/`message`, Reconciling=True and said as an error for
    /// `retry_reason`/`error`, Stalled=False.
    ReadyRetrying {
        reason: String,
        message: String,
        retry_reason: String,
        error: String,
    },
}

impl Summary {
    pub fn ready(reason: &str, message: impl Into<String>) -> Self {
        Summary::Ready {
            reason: reason.into(),
            message: message.into(),
        }
    }
    pub fn progressing(reason: &str, message: impl Into<String>) -> Self {
        Summary::Progressing {
            reason: reason.into(),
            message: message.into(),
        }
    }
    pub fn stalled(reason: &str, message: impl Into<String>) -> Self {
        Summary::Stalled {
            reason: reason.into(),
            message: message.into(),
        }
    }
    pub fn retrying(reason: &str, message: impl Into<String>) -> Self {
        Summary::Retrying {
            reason: reason.into(),
            message: message.into(),
        }
    }

    pub fn ready_retrying(
        reason: &str,
        message: impl Into<String>,
        retry_reason: &str,
        error: impl Into<String>,
    ) -> Self {
        Summary::ReadyRetrying {
            reason: reason.into(),
            message: message.into(),
            retry_reason: retry_reason.into(),
            error: error.into(),
        }
    }

    /// Ready's reason.
    pub fn reason(&self) -> &str {
        match self {
            Summary::Ready { reason, .. }
            | Summary::Progressing { reason, .. }
            | Summary::Stalled { reason, .. }
            | Summary::Retrying { reason, .. }
            | Summary::ReadyRetrying { reason, .. } => reason,
        }
    }

    /// Ready's message.
    pub fn message(&self) -> &str {
        match self {
            Summary::Ready { message, .. }
            | Summary::Progressing { message, .. }
            | Summary::Stalled { message, .. }
            | Summary::Retrying { message, .. }
            | Summary::ReadyRetrying { message, .. } => message,
        }
    }

    pub fn is_ready(&self) -> bool {
        matches!(self, Summary::Ready { .. } | Summary::ReadyRetrying { .. })
    }

    /// Whether it is said as an error (a warning event).
    pub fn is_warning(&self) -> bool {
        matches!(
            self,
            Summary::Stalled { .. } | Summary::Retrying { .. } | Summary::ReadyRetrying { .. }
        )
    }

    /// The reason and message an event says: the failure's when one is retried while Ready.
    pub fn said(&self) -> (&str, &str) {
        match self {
            Summary::ReadyRetrying {
                retry_reason,
                error,
                ..
            } => (retry_reason, error),
            other => (other.reason(), other.message()),
        }
    }

    /// Write Ready, Reconciling and Stalled into `conditions`.
    pub fn apply(&self, conditions: &mut Vec<Condition>, generation: Option<i64>, now: Timestamp) {
        if let Summary::ReadyRetrying {
            reason,
            message,
            retry_reason,
            error,
        } = self
        {
            for (type_, status, reason, message) in [
                (READY, TRUE, reason, message.as_str()),
                (RECONCILING, TRUE, retry_reason, error.as_str()),
                (STALLED, FALSE, retry_reason, ""),
            ] {
                set(
                    conditions,
                    new(type_, status, reason, message, generation),
                    now,
                );
            }
            return;
        }
        let (ready, reconciling, stalled) = match self {
            Summary::Ready { .. } | Summary::ReadyRetrying { .. } => (TRUE, FALSE, FALSE),
            Summary::Progressing { .. } | Summary::Retrying { .. } => (FALSE, TRUE, FALSE),
            Summary::Stalled { .. } => (FALSE, FALSE, TRUE),
        };
        let (reason, message) = (self.reason(), self.message());
        for (type_, status) in [
            (READY, ready),
            (RECONCILING, reconciling),
            (STALLED, stalled),
        ] {
            // The message explains whichever condition holds; the others only carry the reason.
            let message = if status == TRUE || type_ == READY {
                message
            } else {
                ""
            };
            set(
                conditions,
                new(type_, status, reason, message, generation),
                now,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn transition_time_kept_while_status_holds_and_moved_when_it_flips() {
        let mut conds = Vec::new();
        set(
            &mut conds,
            new(READY, FALSE, reason::CREATING, "creating", Some(1)),
            at(10),
        );
        set(
            &mut conds,
            new(READY, FALSE, reason::UPDATING, "still going", Some(2)),
            at(20),
        );
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0].last_transition_time, Time(at(10)));
        assert_eq!(conds[0].reason, reason::UPDATING);
        assert_eq!(conds[0].observed_generation, Some(2));
        set(
            &mut conds,
            new(READY, TRUE, reason::AVAILABLE, "", Some(2)),
            at(30),
        );
        assert_eq!(conds[0].last_transition_time, Time(at(30)));
        assert!(is_true(&conds, READY));
    }

    #[test]
    fn summary_sets_the_kstatus_triplet() {
        let mut conds = Vec::new();
        Summary::stalled(reason::ALREADY_EXISTS, "taken").apply(&mut conds, Some(3), at(1));
        let status = |t| get(&conds, t).unwrap().status.clone();
        assert_eq!(
            (status(READY), status(RECONCILING), status(STALLED)),
            (FALSE.into(), FALSE.into(), TRUE.into())
        );
        assert_eq!(get(&conds, READY).unwrap().reason, reason::ALREADY_EXISTS);
        Summary::ready(reason::AVAILABLE, "ok").apply(&mut conds, Some(3), at(2));
        let status = |t| get(&conds, t).unwrap().status.clone();
        assert_eq!(
            (status(READY), status(RECONCILING), status(STALLED)),
            (TRUE.into(), FALSE.into(), FALSE.into())
        );
        Summary::progressing(reason::UPDATING, "scaling").apply(&mut conds, Some(4), at(3));
        let status = |t| get(&conds, t).unwrap().status.clone();
        assert_eq!(
            (status(READY), status(RECONCILING), status(STALLED)),
            (FALSE.into(), TRUE.into(), FALSE.into())
        );
        assert!(conds.iter().all(|c| c.observed_generation == Some(4)));
    }

    #[test]
    fn a_ready_object_retrying_a_failure_says_both() {
        let mut conds = Vec::new();
        let s = Summary::ready_retrying(
            reason::CREDENTIALS_ISSUED,
            "valid until then",
            reason::REFRESH_FAILED,
            "could not mint",
        );
        s.apply(&mut conds, Some(2), at(1));
        let got = |t| {
            let c = get(&conds, t).unwrap();
            (c.status.clone(), c.reason.clone(), c.message.clone())
        };
        assert_eq!(
            got(READY),
            (
                TRUE.into(),
                reason::CREDENTIALS_ISSUED.into(),
                "valid until then".into()
            )
        );
        assert_eq!(
            got(RECONCILING),
            (
                TRUE.into(),
                reason::REFRESH_FAILED.into(),
                "could not mint".into()
            )
        );
        assert_eq!(
            got(STALLED),
            (FALSE.into(), reason::REFRESH_FAILED.into(), String::new())
        );
        assert!(s.is_ready() && s.is_warning());
        assert_eq!(s.said(), (reason::REFRESH_FAILED, "could not mint"));
    }
}
