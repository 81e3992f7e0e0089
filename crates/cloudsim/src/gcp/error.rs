//! Errors in the google.rpc JSON shape: `{"error": {"code": <http>, "message": ..., "status": ..., "details": [...]}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// google.rpc.Code values the simulator answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidArgument,
    NotFound,
    AlreadyExists,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    Unimplemented,
    Internal,
    Unavailable,
    Unauthenticated,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    pub fn http(self) -> StatusCode {
        match self {
            Code::InvalidArgument | Code::FailedPrecondition => StatusCode::BAD_REQUEST,
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
            Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// A google.rpc.Status on its way to the client.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: Code,
    pub message: String,
    pub details: Vec<Value>,
}

impl RpcError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    /// INVALID_ARGUMENT with a google.rpc.BadRequest naming the offending field.
    pub fn bad_field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            code: Code::InvalidArgument,
            details: vec![json!({
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field, "description": message}],
            })],
            message,
        }
    }

    /// What Google's HTTP transcoding answers for a query parameter that is no field of the
    /// request message.
    pub fn unbound_query_parameter(name: &str) -> Self {
        let message = format!(
            "Invalid JSON payload received. Unknown name \"{name}\": Cannot bind query parameter. \
             Field '{name}' could not be found in request message."
        );
        Self {
            code: Code::InvalidArgument,
            details: vec![json!({
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"description": message}],
            })],
            message,
        }
    }

    /// The real services' wording for a missing resource.
    pub fn not_found(name: &str) -> Self {
        Self::new(Code::NotFound, format!("Resource '{name}' was not found"))
    }

    pub fn failed_precondition(message: impl Into<String>) -> Self {
        Self::new(Code::FailedPrecondition, message)
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            Code::Unauthenticated,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie \
             or other valid authentication credential. See \
             https://developers.google.com/identity/sign-in/web/devconsole-project.",
        )
    }

    /// The body of an HTTP error response.
    pub fn to_json(&self) -> Value {
        let mut error = json!({
            "code": self.code.http().as_u16(),
            "message": self.message,
            "status": self.code.as_str(),
        });
        if !self.details.is_empty() {
            error["details"] = Value::Array(self.details.clone());
        }
        json!({ "error": error })
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl IntoResponse for RpcError {
    fn into_response(self) -> Response {
        let mut resp = (self.code.http(), axum::Json(self.to_json())).into_response();
        resp.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json; charset=UTF-8"),
        );
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_json_matches_google_rpc_shape() {
        let e = RpcError::not_found("projects/p/locations/l/clusters/c");
        assert_eq!(
            e.to_json(),
            json!({"error": {"code": 404, "message": "Resource 'projects/p/locations/l/clusters/c' was not found",
                             "status": "NOT_FOUND"}})
        );
        let e = RpcError::bad_field("cluster_id", "bad id");
        let v = e.to_json();
        assert_eq!(v["error"]["code"], 400);
        assert_eq!(v["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(
            v["error"]["details"][0]["fieldViolations"][0]["field"],
            "cluster_id"
        );
        assert_eq!(
            Code::ResourceExhausted.http(),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(Code::Aborted.http(), StatusCode::CONFLICT);
    }
}
