//! ElastiCache faults: the `<Code>` string, HTTP status and message the real API uses.

/// An error answered in the Query protocol's `<ErrorResponse>` shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
    /// `Sender` (client) or `Receiver` (service) fault.
    pub receiver: bool,
}

impl AwsError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self {
            code,
            status,
            message: message.into(),
            receiver: false,
        }
    }

    pub fn invalid_value(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterValue", 400, message)
    }

    pub fn invalid_combination(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterCombination", 400, message)
    }

    pub fn missing(param: &str) -> Self {
        Self::new(
            "MissingParameter",
            400,
            format!("The request must contain the parameter {param}"),
        )
    }

    pub fn rg_not_found(id: &str) -> Self {
        Self::new(
            "ReplicationGroupNotFoundFault",
            404,
            format!("ReplicationGroup {id} not found."),
        )
    }

    pub fn rg_state(id: &str, status: &str) -> Self {
        Self::new(
            "InvalidReplicationGroupState",
            400,
            format!(
                "Replication group {id} must be in available state to perform this operation; it is {status}."
            ),
        )
    }

    pub fn user_not_found(id: &str) -> Self {
        Self::new("UserNotFound", 404, format!("User {id} not found."))
    }

    pub fn user_group_not_found(id: &str) -> Self {
        Self::new(
            "UserGroupNotFound",
            404,
            format!("User group {id} not found."),
        )
    }

    pub fn parameter_group_not_found(name: &str) -> Self {
        Self::new(
            "CacheParameterGroupNotFound",
            404,
            format!("CacheParameterGroup {name} not found."),
        )
    }

    pub fn subnet_group_not_found(name: &str) -> Self {
        // The model gives this fault HTTP 400 (unlike the other NotFound faults).
        Self::new(
            "CacheSubnetGroupNotFoundFault",
            400,
            format!("Cache subnet group {name} not found."),
        )
    }

    pub fn throttling() -> Self {
        Self::new("Throttling", 400, "Rate exceeded")
    }

    pub fn unavailable() -> Self {
        Self {
            code: "ServiceUnavailable",
            status: 503,
            message: "Service is unavailable".into(),
            receiver: true,
        }
    }

    pub fn kind(&self) -> &'static str {
        if self.receiver { "Receiver" } else { "Sender" }
    }
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}
