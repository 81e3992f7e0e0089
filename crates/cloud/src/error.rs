//! Cloud errors, classified the same way for both clouds so the controllers decide once:
//! retry with backoff, wait for a spec change, or tell a human.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request is wrong (bad ID, node type, parameter combination): retrying the same
    /// request cannot help.
    InvalidArgument,
    NotFound,
    AlreadyExists,
    /// The resource is in a state that forbids the call (busy, deletion protected).
    FailedPrecondition,
    /// Optimistic-concurrency conflict (IAM policy etag): re-read and retry at once.
    Conflict,
    /// The operator's identity may not do this.
    PermissionDenied,
    /// No or bad credentials.
    Unauthenticated,
    /// Quota or rate limits: back off.
    Throttled,
    /// 5xx, timeouts, connection failures: back off.
    Unavailable,
    /// A quota that waiting will not lift (cluster or node limits).
    QuotaExceeded,
    Other,
}

impl ErrorClass {
    /// Worth retrying without a change of spec.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorClass::Throttled
                | ErrorClass::Unavailable
                | ErrorClass::Conflict
                | ErrorClass::Other
        )
    }
}

/// A failed cloud call. `message` is the cloud's own text (which never contains credentials:
/// tokens travel in headers, never in URLs or bodies of these APIs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudError {
    pub class: ErrorClass,
    /// The cloud's code: google.rpc status (`INVALID_ARGUMENT`) or AWS error code
    /// (`InvalidParameterValue`), or `transport` when no answer came.
    pub code: String,
    pub message: String,
    /// Which call failed, e.g. `memorystore clusters.create` or `elasticache CreateReplicationGroup`.
    pub call: String,
}

impl CloudError {
    pub fn new(
        class: ErrorClass,
        code: impl Into<String>,
        message: impl Into<String>,
        call: impl Into<String>,
    ) -> Self {
        CloudError {
            class,
            code: code.into(),
            message: message.into(),
            call: call.into(),
        }
    }

    pub fn is(&self, class: ErrorClass) -> bool {
        self.class == class
    }
}

impl fmt::Display for CloudError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}: {}", self.call, self.code, self.message)
    }
}

impl std::error::Error for CloudError {}

pub type Result<T, E = CloudError> = std::result::Result<T, E>;

/// google.rpc status names to classes.
pub fn classify_google(status: &str, http: u16) -> ErrorClass {
    match status {
        "INVALID_ARGUMENT" | "OUT_OF_RANGE" => ErrorClass::InvalidArgument,
        "NOT_FOUND" => ErrorClass::NotFound,
        "ALREADY_EXISTS" => ErrorClass::AlreadyExists,
        "FAILED_PRECONDITION" => ErrorClass::FailedPrecondition,
        "ABORTED" => ErrorClass::Conflict,
        "PERMISSION_DENIED" => ErrorClass::PermissionDenied,
        "UNAUTHENTICATED" => ErrorClass::Unauthenticated,
        "RESOURCE_EXHAUSTED" => ErrorClass::Throttled,
        "UNAVAILABLE" | "INTERNAL" | "UNKNOWN" | "DEADLINE_EXCEEDED" | "DATA_LOSS"
        | "CANCELLED" => ErrorClass::Unavailable,
        _ => match http {
            400 => ErrorClass::InvalidArgument,
            401 => ErrorClass::Unauthenticated,
            403 => ErrorClass::PermissionDenied,
            404 => ErrorClass::NotFound,
            409 => ErrorClass::Conflict,
            429 => ErrorClass::Throttled,
            500..=599 => ErrorClass::Unavailable,
            _ => ErrorClass::Other,
        },
    }
}

/// AWS query-protocol error codes to classes.
pub fn classify_aws(code: &str, http: Option<u16>) -> ErrorClass {
    match code {
        "InvalidParameterValue"
        | "InvalidParameterCombination"
        | "MissingParameter"
        | "InvalidARN"
        | "CacheSubnetGroupNotFoundFault"
        | "CacheParameterGroupNotFound"
        | "CacheSecurityGroupNotFound"
        | "InvalidVPCNetworkStateFault"
        | "InvalidKMSKeyFault"
        | "DuplicateUserName"
        | "DefaultUserRequired"
        | "TagQuotaPerResourceExceeded"
        | "SnapshotFeatureNotSupportedFault"
        | "InvalidAction" => ErrorClass::InvalidArgument,
        "ServerlessCacheNotFoundFault" | "UserGroupNotFoundFault" => ErrorClass::NotFound,
        "ServerlessCacheAlreadyExistsFault" | "ServerlessCacheSnapshotAlreadyExistsFault" => {
            ErrorClass::AlreadyExists
        }
        "InvalidServerlessCacheStateFault" | "InvalidUserGroupStateFault" => {
            ErrorClass::FailedPrecondition
        }
        "ServerlessCacheQuotaForCustomerExceededFault" => ErrorClass::QuotaExceeded,
        "InvalidCredentialsException" => ErrorClass::Unauthenticated,
        "ReplicationGroupNotFoundFault"
        | "UserNotFound"
        | "UserGroupNotFound"
        | "CacheClusterNotFound"
        | "SnapshotNotFoundFault"
        | "TagNotFound" => ErrorClass::NotFound,
        "ReplicationGroupAlreadyExists"
        | "UserAlreadyExists"
        | "UserGroupAlreadyExists"
        | "SnapshotAlreadyExistsFault" => ErrorClass::AlreadyExists,
        "InvalidReplicationGroupState"
        | "InvalidCacheClusterState"
        | "InvalidUserState"
        | "InvalidUserGroupState"
        | "NoOperationFault"
        | "InvalidSnapshotState"
        | "DefaultUserAssociatedToUserGroup" => ErrorClass::FailedPrecondition,
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "ServiceLinkedRoleNotFoundFault" => ErrorClass::PermissionDenied,
        "MissingAuthenticationToken"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "ExpiredToken"
        | "RequestExpired"
        | "UnrecognizedClientException" => ErrorClass::Unauthenticated,
        "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "APICallRateForCustomerExceeded"
        | "TooManyRequestsException" => ErrorClass::Throttled,
        "InsufficientCacheClusterCapacity"
        | "ClusterQuotaForCustomerExceeded"
        | "NodeQuotaForClusterExceeded"
        | "NodeQuotaForCustomerExceeded"
        | "NodeGroupsPerReplicationGroupQuotaExceeded"
        | "UserQuotaExceeded"
        | "UserGroupQuotaExceeded"
        | "SnapshotQuotaExceededFault" => ErrorClass::QuotaExceeded,
        "InternalFailure" | "ServiceUnavailable" | "InternalError" => ErrorClass::Unavailable,
        _ => match http {
            Some(500..=599) => ErrorClass::Unavailable,
            Some(429) => ErrorClass::Throttled,
            Some(401) => ErrorClass::Unauthenticated,
            Some(403) => ErrorClass::PermissionDenied,
            Some(404) => ErrorClass::NotFound,
            _ => ErrorClass::Other,
        },
    }
}

/// Where a call's outcome goes (the operator turns these into Prometheus counters).
pub trait CallObserver: Send + Sync {
    /// `api` is `memorystore`, `iamcredentials`, `cloudresourcemanager` or `elasticache`;
    /// `outcome` is `ok` or the error code.
    fn observe(&self, api: &str, operation: &str, outcome: &str, seconds: f64);
}

/// Observes nothing.
pub struct NoObserver;

impl CallObserver for NoObserver {
    fn observe(&self, _: &str, _: &str, _: &str, _: f64) {}
}
