//! Checking manifests as a GitOps pipeline holds them: untyped YAML/JSON in, every problem of
//! every object of our kinds out, each naming its field.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::validate::FieldErrors;
use crate::{API_VERSION, AccessBinding, GROUP, RedisCluster, UserGroup};

/// One of our objects, parsed.
#[derive(Clone, Debug)]
pub enum Object {
    RedisCluster(Box<RedisCluster>),
    UserGroup(Box<UserGroup>),
    AccessBinding(Box<AccessBinding>),
}

/// What [`check`] made of one manifest.
#[derive(Debug)]
pub enum Checked {
    /// One of our kinds; `errors` is empty when it is valid.
    Ours {
        kind: String,
        name: String,
        errors: FieldErrors,
    },
    /// Some other kind (a Deployment, a Secret…): not ours to judge.
    Other,
}

pub const KINDS: [&str; 3] = ["RedisCluster", "UserGroup", "AccessBinding"];

/// Check one manifest the way the API server and the controllers will: types and enums, unknown
/// fields (which the API server would silently drop), then every rule of the kind.
pub fn check(value: &Value) -> Checked {
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let group = api_version
        .split_once('/')
        .map(|(g, _)| g)
        .unwrap_or_default();
    if group != GROUP {
        return Checked::Other;
    }
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut errors = FieldErrors::default();
    if api_version != API_VERSION {
        errors.broken(
            "apiVersion",
            format!("{api_version} is not served; use {API_VERSION}"),
        );
    }
    if !KINDS.contains(&kind) {
        errors.broken(
            "kind",
            format!(
                "{kind:?} is not a kind of {GROUP} (one of {})",
                KINDS.join(", ")
            ),
        );
    }
    if name.is_empty() && value.pointer("/metadata/generateName").is_none() {
        errors.broken("metadata.name", "is required");
    }
    if errors.is_empty() {
        match parse(value, &mut errors) {
            Some(Object::RedisCluster(o)) => {
                collect(&mut errors, o.desired());
                errors.0.extend(o.status_errors());
            }
            Some(Object::UserGroup(o)) => collect(&mut errors, o.desired()),
            Some(Object::AccessBinding(o)) => collect(&mut errors, o.desired()),
            None => {}
        }
    }
    Checked::Ours {
        kind: kind.to_owned(),
        name,
        errors,
    }
}

fn collect<T>(errors: &mut FieldErrors, result: Result<T, FieldErrors>) {
    if let Err(e) = result {
        errors.0.extend(e);
    }
}

/// Deserialize one of our kinds, recording type errors and unknown fields with their paths.
pub fn parse(value: &Value, errors: &mut FieldErrors) -> Option<Object> {
    match value.get("kind").and_then(Value::as_str) {
        Some("RedisCluster") => typed(value, errors).map(|o| Object::RedisCluster(Box::new(o))),
        Some("UserGroup") => typed(value, errors).map(|o| Object::UserGroup(Box::new(o))),
        Some("AccessBinding") => typed(value, errors).map(|o| Object::AccessBinding(Box::new(o))),
        _ => None,
    }
}

fn typed<T: DeserializeOwned>(value: &Value, errors: &mut FieldErrors) -> Option<T> {
    let mut unknown = Vec::new();
    let mut track = serde_path_to_error::Track::new();
    let result = {
        let de = serde_path_to_error::Deserializer::new(value, &mut track);
        serde_ignored::deserialize(de, |path| {
            let path = path.to_string();
            // The type header is checked above; metadata and status belong to the server.
            let ours = !matches!(path.as_str(), "apiVersion" | "kind")
                && !path.starts_with("metadata")
                && !path.starts_with("status");
            if ours {
                unknown.push(path);
            }
        })
    };
    match result {
        Ok(v) => {
            for path in unknown {
                errors.broken(path, "unknown field (the API server would drop it)");
            }
            if errors.is_empty() { Some(v) } else { None }
        }
        Err(e) => {
            let path = track.path().to_string();
            let field = if path.is_empty() || path == "?" {
                "(root)".to_owned()
            } else {
                path
            };
            errors.broken(field, e.to_string());
            None
        }
    }
}
