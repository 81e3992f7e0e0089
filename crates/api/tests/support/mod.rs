//! Test support: the CRD schemas as an API server applies them — the OpenAPI value checks
//! (types, enums, patterns, lengths, ranges, required) and the CEL rules — so each table case
//! can be checked against the schema as well as against the Rust rules.

#![allow(dead_code)]

use cache_operator_api::crds;
use serde_json::{Value, json};

pub fn schema_of(kind: &str) -> Value {
    let crd = crds::all()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .expect("kind has a CRD");
    serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap()
}

/// Every problem the API server would report: OpenAPI checks, then CEL (with defaults applied,
/// as the API server defaults before it validates).
pub fn schema_errors(kind: &str, obj: &Value, old: Option<&Value>) -> Vec<String> {
    let schema = schema_of(kind);
    let mut errs = Vec::new();
    openapi(&schema, obj, "", &mut errs);
    if errs.is_empty() {
        let v = kube_cel::Validator::new();
        if let Err(e) = v.validate_with_defaults(&schema, obj, old) {
            errs.extend(e.iter().map(|e| format!("{}: {}", e.field_path, e.message)));
        }
    }
    errs
}

fn openapi(schema: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    if v.is_null() {
        if schema.get("nullable") != Some(&json!(true)) {
            errs.push(format!("{path}: must not be null"));
        }
        return;
    }
    if let Some(list) = schema.get("enum").and_then(Value::as_array)
        && !list.contains(v)
    {
        errs.push(format!("{path}: Unsupported value: {v}"));
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => {
            let Some(s) = v.as_str() else {
                return errs.push(format!("{path}: must be a string"));
            };
            let n = s.chars().count() as u64;
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && n < min
            {
                errs.push(format!("{path}: should be at least {min} chars long"));
            }
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && n > max
            {
                errs.push(format!("{path}: may not be more than {max} chars long"));
            }
            if let Some(p) = schema.get("pattern").and_then(Value::as_str)
                && !regex::Regex::new(p).unwrap().is_match(s)
            {
                errs.push(format!("{path}: should match '{p}'"));
            }
        }
        Some("integer") | Some("number") => {
            let Some(n) = v.as_f64() else {
                return errs.push(format!("{path}: must be a number"));
            };
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                && n < min
            {
                errs.push(format!("{path}: should be greater than or equal to {min}"));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                && n > max
            {
                errs.push(format!("{path}: should be less than or equal to {max}"));
            }
        }
        Some("boolean") if !v.is_boolean() => errs.push(format!("{path}: must be a boolean")),
        Some("array") => {
            let Some(items) = v.as_array() else {
                return errs.push(format!("{path}: must be an array"));
            };
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && items.len() as u64 > max
            {
                errs.push(format!("{path}: must have at most {max} items"));
            }
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                errs.push(format!("{path}: must have at least {min} items"));
            }
            if let Some(item) = schema.get("items") {
                for (i, x) in items.iter().enumerate() {
                    openapi(item, x, &format!("{path}[{i}]"), errs);
                }
            }
        }
        Some("object") => {
            let Some(map) = v.as_object() else {
                return errs.push(format!("{path}: must be an object"));
            };
            if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
                && map.len() as u64 > max
            {
                errs.push(format!("{path}: must have at most {max} properties"));
            }
            for r in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let r = r.as_str().unwrap();
                if !map.contains_key(r) {
                    errs.push(format!("{path}.{r}: Required value"));
                }
            }
            let props = schema.get("properties").and_then(Value::as_object);
            for (k, x) in map {
                let child = format!(
                    "{}{k}",
                    if path.is_empty() {
                        String::new()
                    } else {
                        format!("{path}.")
                    }
                );
                if let Some(s) = props.and_then(|p| p.get(k)) {
                    openapi(s, x, &child, errs);
                } else if let Some(s) = schema.get("additionalProperties").filter(|s| s.is_object())
                {
                    openapi(s, x, &child, errs);
                } else if props.is_some()
                    && schema.get("x-kubernetes-preserve-unknown-fields").is_none()
                    && !(path.is_empty()
                        && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
                {
                    // What kubectl's default strict field validation reports.
                    errs.push(format!("{child}: unknown field"));
                }
            }
        }
        _ => {}
    }
}

pub use cache_operator_testkit::with;
use cache_operator_testkit::{binding as binding_of, cluster, group};

pub fn gcp_cluster() -> Value {
    cluster::gcp("orders")
        .namespace("shop")
        .instance_id("orders-cache")
        .node_type("redis-highmem-medium")
        .shards(3)
        .replicas(1)
        .auth("iam")
        .tls(true)
        .into_json()
}

pub fn aws_cluster() -> Value {
    cluster::aws("sessions")
        .namespace("shop")
        .instance_id("sessions-cache")
        .region("eu-west-1")
        .node_type("cache.r7g.large")
        .shards(2)
        .replicas(1)
        .auth("password")
        .tls(true)
        .user_groups(&["sessions-users"])
        .engine("valkey")
        .engine_version("8.0")
        .cluster_mode("enabled")
        .into_json()
}

pub fn aws_user_group() -> Value {
    group::aws("sessions-users", "eu-west-1")
        .namespace("shop")
        .user("sessions-app", "password")
        .user_named(
            "sessions-iam",
            "sessions-iam",
            "on ~sessions:* -@all +@read",
            "iam",
        )
        .into_json()
}

pub fn gcp_user_group() -> Value {
    group::gcp(
        "orders-readers",
        &[
            "serviceAccount:orders-app@shop-prod.iam.gserviceaccount.com",
            "user:alice@example.com",
        ],
    )
    .namespace("shop")
    .into_json()
}

pub fn binding() -> Value {
    binding_of::new("orders-app", "orders", "orders-readers")
        .namespace("shop")
        .binding_user("orders-app@shop-prod.iam.gserviceaccount.com")
        .secret_name("orders-redis")
        .set("/spec/secretTemplate/labels/app", "orders")
        .set("/spec/rotation/refreshBefore", "15m")
        .into_json()
}
