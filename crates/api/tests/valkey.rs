//! Memorystore for Valkey (`gcp.engine: valkey`): every rule the product adds, checked by the
//! Rust rules (`validate`, the controllers) and by the CRD schema and CEL (the API server), which
//! must agree; and the transition rules (immutable fields, upgrade only).

mod support;

use cache_operator_api::manifest::{self, Checked};
use cache_operator_testkit::cluster;
use serde_json::{Value, json};
use support::*;

fn valkey() -> Value {
    cluster::valkey("orders")
        .namespace("shop")
        .instance_id("orders-cache")
        .replicas(1)
        .auth("iam")
        .tls(true)
        .set("/spec/gcp/engineVersion", "VALKEY_8_0")
        .into_json()
}

fn rust_errors(obj: &Value) -> Vec<(String, String)> {
    match manifest::check(obj) {
        Checked::Ours { errors, .. } => errors.into_iter().map(|e| (e.field, e.message)).collect(),
        Checked::Other => panic!("not one of our kinds"),
    }
}

#[track_caller]
fn valid(label: &str, pointer: &str, value: Option<Value>) {
    let obj = with(valkey(), pointer, value);
    let rust = rust_errors(&obj);
    assert!(rust.is_empty(), "{label}: rules rejected: {rust:?}");
    let schema = schema_errors("RedisCluster", &obj, None);
    assert!(schema.is_empty(), "{label}: schema rejected: {schema:?}");
}

#[track_caller]
fn invalid(label: &str, obj: Value, field: &str, fragment: &str) {
    let rust = rust_errors(&obj);
    assert!(
        rust.iter().any(|(f, m)| f == field && m.contains(fragment)),
        "{label}: expected `{field}: …{fragment}…`, got {rust:?}"
    );
    let schema = schema_errors("RedisCluster", &obj, None);
    assert!(
        !schema.is_empty(),
        "{label}: the CRD schema accepts what the rules reject"
    );
}

#[test]
fn a_valkey_instance_is_valid_with_its_own_settings() {
    valid("base", "/spec/gcp/engineVersion", Some(json!("VALKEY_9_0")));
    valid("7.2", "/spec/gcp/engineVersion", Some(json!("VALKEY_7_2")));
    valid("5 replicas", "/spec/replicasPerShard", Some(json!(5)));
    valid(
        "standard-small",
        "/spec/nodeType",
        Some(json!("standard-small")),
    );
    valid(
        "highmem-xlarge",
        "/spec/nodeType",
        Some(json!("highmem-xlarge")),
    );
    valid(
        "engine configs",
        "/spec/gcp/engineConfigs",
        Some(json!({"maxmemory-policy": "allkeys-lru", "databases": "4"})),
    );
    valid("shared CA", "/spec/gcp/serverCaMode", Some(json!("shared")));
    valid("cluster mode", "/spec/gcp/mode", Some(json!("cluster")));
    valid(
        "single zone",
        "/spec/gcp/zoneDistribution",
        Some(json!({"mode": "single-zone", "zone": "us-central1-b"})),
    );
    let disabled = with(valkey(), "/spec/gcp/mode", Some(json!("cluster-disabled")));
    assert!(rust_errors(&disabled).is_empty());
    assert!(schema_errors("RedisCluster", &disabled, None).is_empty());
}

#[test]
fn valkey_rules_are_refused_by_both() {
    let v = valkey;
    invalid(
        "redis node type",
        with(v(), "/spec/nodeType", Some(json!("redis-standard-small"))),
        "spec.nodeType",
        "not a Memorystore for Valkey node type",
    );
    invalid(
        "a Redis Cluster-only node type",
        with(v(), "/spec/nodeType", Some(json!("highcpu-medium"))),
        "spec.nodeType",
        "",
    );
    invalid(
        "6 replicas",
        with(v(), "/spec/replicasPerShard", Some(json!(6))),
        "spec.replicasPerShard",
        "between 0 and 5",
    );
    invalid(
        "cluster-disabled with 3 shards",
        with(
            with(v(), "/spec/gcp/mode", Some(json!("cluster-disabled"))),
            "/spec/shardCount",
            Some(json!(3)),
        ),
        "spec.shardCount",
        "must be 1",
    );
    invalid(
        "unknown engine config",
        with(
            v(),
            "/spec/gcp/engineConfigs",
            Some(json!({"appendonly": "yes"})),
        ),
        "spec.gcp.engineConfigs.appendonly",
        "not a setting",
    );
    invalid(
        "redisConfigs on valkey",
        with(
            v(),
            "/spec/gcp/redisConfigs",
            Some(json!({"maxmemory-policy": "allkeys-lru"})),
        ),
        "spec.gcp.redisConfigs",
        "engineConfigs",
    );
    invalid(
        "unknown version",
        with(v(), "/spec/gcp/engineVersion", Some(json!("VALKEY_6_0"))),
        "spec.gcp.engineVersion",
        "",
    );
    invalid(
        "password auth",
        with(v(), "/spec/authMode", Some(json!("password"))),
        "spec.authMode",
        "not offered by Memorystore for Valkey",
    );
    let redis = cluster::gcp("orders")
        .instance_id("orders-cache")
        .into_json();
    invalid(
        "valkey settings on redis",
        with(redis, "/spec/gcp/engineVersion", Some(json!("VALKEY_8_0"))),
        "spec.gcp.engineVersion",
        "needs gcp.engine valkey",
    );
}

#[test]
fn instance_ids_are_what_every_source_admits() {
    // The API admits 4-63 starting with a letter or digit, gcloud's docs 1-63 starting with a
    // letter: only both.
    for id in ["abcd", "orders-cache-1", &format!("a{}", "b".repeat(62))] {
        valid(id, "/spec/instanceId", Some(json!(id)));
    }
    for (id, fragment) in [
        ("abc", "at least 4"),
        ("1orders", ""),
        ("orders-", ""),
        ("Orders", ""),
    ] {
        invalid(
            id,
            with(valkey(), "/spec/instanceId", Some(json!(id))),
            "spec.instanceId",
            fragment,
        );
    }
    let short_name = with(
        with(valkey(), "/spec/instanceId", None),
        "/metadata/name",
        Some(json!("abc")),
    );
    invalid("metadata.name", short_name, "metadata.name", "at least 4");
}

fn update_errors(old: &Value, new: &Value) -> Vec<String> {
    schema_errors("RedisCluster", new, Some(old))
}

#[track_caller]
fn refused(label: &str, old: Value, pointer: &str, value: Option<Value>, fragment: &str) {
    let new = with(old.clone(), pointer, value);
    let errs = update_errors(&old, &new);
    assert!(
        errs.iter().any(|e| e.contains(fragment)),
        "{label}: expected `{fragment}`, got {errs:?}"
    );
}

#[track_caller]
fn allowed(label: &str, old: Value, pointer: &str, value: Value) {
    let new = with(old.clone(), pointer, Some(value));
    let errs = update_errors(&old, &new);
    assert!(errs.is_empty(), "{label}: {errs:?}");
}

#[test]
fn versions_go_up_to_any_newer_one_and_never_down() {
    allowed(
        "8.0 to 9.0",
        valkey(),
        "/spec/gcp/engineVersion",
        json!("VALKEY_9_0"),
    );
    let old = with(
        valkey(),
        "/spec/gcp/engineVersion",
        Some(json!("VALKEY_7_2")),
    );
    allowed(
        "7.2 to 9.0",
        old,
        "/spec/gcp/engineVersion",
        json!("VALKEY_9_0"),
    );
    refused(
        "9.0 to 8.0",
        with(
            valkey(),
            "/spec/gcp/engineVersion",
            Some(json!("VALKEY_9_0")),
        ),
        "/spec/gcp/engineVersion",
        Some(json!("VALKEY_8_0")),
        "cannot go down",
    );
    refused(
        "removed",
        valkey(),
        "/spec/gcp/engineVersion",
        None,
        "cannot be removed",
    );
}

#[test]
fn validate_refuses_a_version_older_than_the_instance_runs() {
    let edited = with(
        valkey(),
        "/status",
        Some(json!({"engineVersion": "VALKEY_9_0"})),
    );
    let errs = rust_errors(&edited);
    assert!(
        errs.iter()
            .any(|(f, m)| f == "spec.gcp.engineVersion" && m.contains("cannot go down")),
        "{errs:?}"
    );
    let same = with(
        valkey(),
        "/status",
        Some(json!({"engineVersion": "VALKEY_8_0"})),
    );
    assert!(rust_errors(&same).is_empty());
}

#[test]
fn product_choice_mode_and_ca_are_immutable() {
    refused(
        "engine",
        valkey(),
        "/spec/gcp/engine",
        Some(json!("redis")),
        "gcp.engine is immutable",
    );
    let redis = cluster::gcp("orders")
        .instance_id("orders-cache")
        .into_json();
    refused(
        "engine added",
        redis,
        "/spec/gcp/engine",
        Some(json!("valkey")),
        "gcp.engine is immutable",
    );
    refused(
        "mode",
        valkey(),
        "/spec/gcp/mode",
        Some(json!("cluster-disabled")),
        "gcp.mode is immutable",
    );
    refused(
        "server CA",
        valkey(),
        "/spec/gcp/serverCaMode",
        Some(json!("shared")),
        "gcp.serverCaMode is immutable",
    );
    allowed("replicas", valkey(), "/spec/replicasPerShard", json!(5));
    allowed("shards", valkey(), "/spec/shardCount", json!(4));
    allowed(
        "node type",
        valkey(),
        "/spec/nodeType",
        json!("highmem-medium"),
    );
    allowed(
        "engine configs",
        valkey(),
        "/spec/gcp/engineConfigs",
        json!({"maxmemory-policy": "allkeys-lru"}),
    );
}
