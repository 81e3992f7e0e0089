//! Errors as the API server reports them: `Status` objects with the real codes, reasons and
//! message formats, and field errors rendered like `k8s.io/apimachinery/pkg/util/validation/field`.

use serde_json::{Value, json};
use std::fmt;

use crate::registry::GroupResource;

/// One cause of a `Status` (`details.causes[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// `details` of a Status.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Details {
    pub name: Option<String>,
    pub group: Option<String>,
    pub kind: Option<String>,
    pub causes: Vec<Cause>,
}

/// An API error, rendered as a `v1.Status` with `status: Failure`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Box<Details>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: Box::default(),
        }
    }

    fn with_details(mut self, gr: &GroupResource, name: &str) -> Self {
        self.details.name = Some(name.to_string());
        self.details.group = (!gr.group.is_empty()).then(|| gr.group.clone());
        self.details.kind = Some(gr.resource.clone());
        self
    }

    pub fn causes(&self) -> &[Cause] {
        &self.details.causes
    }

    pub fn not_found(gr: &GroupResource, name: &str) -> Self {
        Self::new(404, "NotFound", format!("{gr} \"{name}\" not found")).with_details(gr, name)
    }

    /// A 404 for a path that does not name any resource.
    pub fn not_found_path() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub fn already_exists(gr: &GroupResource, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{gr} \"{name}\" already exists"),
        )
        .with_details(gr, name)
    }

    /// The optimistic-concurrency conflict of a stale `resourceVersion`.
    pub fn conflict_modified(gr: &GroupResource, name: &str) -> Self {
        Self::conflict(
            gr,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub fn conflict(gr: &GroupResource, name: &str, detail: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {gr} \"{name}\": {detail}"),
        )
        .with_details(gr, name)
    }

    /// A conflict raised by server-side apply; the message and causes are already formatted.
    pub fn apply_conflict(message: String, causes: Vec<Cause>) -> Self {
        let mut e = Self::new(409, "Conflict", message);
        e.details.causes = causes;
        e
    }

    /// `422 Invalid`, with the message aggregated as the real server does.
    pub fn invalid(group: &str, kind: &str, name: &str, errs: &[FieldError]) -> Self {
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        // The message lists each distinct error once (field.ErrorList.ToAggregate); the causes
        // keep every one.
        let mut listed: Vec<String> = Vec::new();
        for e in errs {
            let e = e.to_string();
            if !listed.contains(&e) {
                listed.push(e);
            }
        }
        let message = match listed.len() {
            0 => format!("{qualified} \"{name}\" is invalid"),
            1 => format!("{qualified} \"{name}\" is invalid: {}", listed[0]),
            _ => format!("{qualified} \"{name}\" is invalid: [{}]", listed.join(", ")),
        };
        let mut e = Self::new(422, "Invalid", message);
        e.details.name = Some(name.to_string());
        e.details.group = (!group.is_empty()).then(|| group.to_string());
        e.details.kind = Some(kind.to_string());
        e.details.causes = errs
            .iter()
            .map(|f| Cause {
                reason: f.kind.cause_type().to_string(),
                message: f.body(),
                field: f.field.clone(),
            })
            .collect();
        e
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn forbidden(gr: &GroupResource, name: &str, detail: &str) -> Self {
        Self::new(
            403,
            "Forbidden",
            format!("{gr} \"{name}\" is forbidden: {detail}"),
        )
        .with_details(gr, name)
    }

    /// `405`: the resource does not take this HTTP method (e.g. PUT on a collection).
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                if accepted.is_empty() {
                    content_type.to_string()
                } else {
                    accepted.join(", ")
                }
            ),
        )
    }

    pub fn not_acceptable(accepted: &[&str]) -> Self {
        Self::new(
            406,
            "NotAcceptable",
            format!(
                "only the following media types are accepted: {}",
                accepted.join(", ")
            ),
        )
    }

    /// `410 Gone` with reason `Expired`, for too-old resource versions and continue tokens.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    pub fn too_large_resource_version(requested: u64, current: u64) -> Self {
        let mut e = Self::new(
            504,
            "Timeout",
            format!("Timeout: Too large resource version: {requested}, current: {current}"),
        );
        e.details.causes.push(Cause {
            reason: "ResourceVersionTooLarge".into(),
            message: "Too large resource version".into(),
            field: String::new(),
        });
        e
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        let mut details = serde_json::Map::new();
        let d = &self.details;
        if let Some(name) = &d.name {
            details.insert("name".into(), json!(name));
        }
        if let Some(group) = &d.group {
            details.insert("group".into(), json!(group));
        }
        if let Some(kind) = &d.kind {
            details.insert("kind".into(), json!(kind));
        }
        if !d.causes.is_empty() {
            let causes: Vec<Value> = d
                .causes
                .iter()
                .map(|c| {
                    let mut o = serde_json::Map::new();
                    o.insert("reason".into(), json!(c.reason));
                    o.insert("message".into(), json!(c.message));
                    if !c.field.is_empty() {
                        o.insert("field".into(), json!(c.field));
                    }
                    Value::Object(o)
                })
                .collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }
}

/// The kinds of `field.Error` the API server produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    Required,
    Invalid,
    TypeInvalid,
    NotSupported,
    TooLong,
    TooMany,
    Forbidden,
    Duplicate,
    NotFound,
    Internal,
}

impl FieldErrorKind {
    fn cause_type(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::Invalid => "FieldValueInvalid",
            FieldErrorKind::TypeInvalid => "FieldValueTypeInvalid",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::TooMany => "FieldValueTooMany",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::NotFound => "FieldValueNotFound",
            FieldErrorKind::Internal => "InternalError",
        }
    }

    fn label(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::Invalid | FieldErrorKind::TypeInvalid => "Invalid value",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::TooLong => "Too long",
            FieldErrorKind::TooMany => "Too many",
            FieldErrorKind::Forbidden => "Forbidden",
            FieldErrorKind::Duplicate => "Duplicate value",
            FieldErrorKind::NotFound => "Not found",
            FieldErrorKind::Internal => "Internal error",
        }
    }
}

/// One validation error on a field, as `field.Error`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: FieldErrorKind,
    pub field: String,
    pub value: Option<Value>,
    pub detail: String,
}

impl FieldError {
    pub fn new(
        kind: FieldErrorKind,
        field: impl Into<String>,
        value: Option<Value>,
        detail: impl Into<String>,
    ) -> Self {
        FieldError {
            kind,
            field: field.into(),
            value,
            detail: detail.into(),
        }
    }
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Required, field, None, detail)
    }
    pub fn invalid(field: impl Into<String>, value: Value, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Invalid, field, Some(value), detail)
    }
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(FieldErrorKind::Forbidden, field, None, detail)
    }
    pub fn not_supported(field: impl Into<String>, value: Value, supported: &[String]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            format!(
                "supported values: {}",
                supported
                    .iter()
                    .map(|s| go_quote(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Self::new(FieldErrorKind::NotSupported, field, Some(value), detail)
    }
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        let unit = if max == 1 { "byte" } else { "bytes" };
        Self::new(
            FieldErrorKind::TooLong,
            field,
            None,
            format!("may not be more than {max} {unit}"),
        )
    }
    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Self {
        Self::new(
            FieldErrorKind::TooMany,
            field,
            Some(Value::from(actual)),
            format!("must have at most {max} items"),
        )
    }

    /// The error without its field path, as `field.Error.ErrorBody()`.
    pub fn body(&self) -> String {
        let mut s = match self.kind {
            FieldErrorKind::Required
            | FieldErrorKind::Forbidden
            | FieldErrorKind::TooLong
            | FieldErrorKind::Internal => self.kind.label().to_string(),
            _ => match &self.value {
                None => self.kind.label().to_string(),
                Some(v) => format!("{}: {}", self.kind.label(), go_value(v)),
            },
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// A string quoted like Go's `%q`.
pub fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// A bad value printed like Go's `%v` (scalars) or `%q` (strings).
pub fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::String(s) => go_quote(s),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_message_matches_the_api_server_format() {
        let errs = vec![
            FieldError::invalid(
                "spec.shardCount",
                json!(0),
                "spec.shardCount in body should be greater than or equal to 1",
            ),
            FieldError::not_supported(
                "spec.provider",
                json!("azure"),
                &["gcp".into(), "aws".into()],
            ),
        ];
        let e = ApiError::invalid("cache.example.com", "RedisCluster", "a", &errs);
        assert_eq!(
            e.message,
            "RedisCluster.cache.example.com \"a\" is invalid: [spec.shardCount: Invalid value: 0: spec.shardCount \
             in body should be greater than or equal to 1, spec.provider: Unsupported value: \"azure\": supported \
             values: \"gcp\", \"aws\"]"
        );
        let status = e.to_status();
        assert_eq!(status["code"], 422);
        assert_eq!(
            status["details"]["causes"][1]["reason"],
            "FieldValueNotSupported"
        );
        assert_eq!(status["details"]["causes"][1]["field"], "spec.provider");
    }

    #[test]
    fn required_omits_the_value() {
        let e = FieldError::required("spec.region", "");
        assert_eq!(e.to_string(), "spec.region: Required value");
    }
}
