//! The CEL rules of the generated CRDs, evaluated with the Kubernetes CEL library as the API
//! server would: they compile, and transition rules refuse changes to immutable fields while
//! letting the mutable ones through.

mod support;

use serde_json::{Value, json};
use support::*;

#[test]
fn every_rule_compiles() {
    for kind in ["RedisCluster", "UserGroup", "AccessBinding"] {
        let compiled = kube_cel::compile_schema(&schema_of(kind));
        let errors: Vec<String> = compiled
            .compilation_errors()
            .iter()
            .map(|e| format!("{e:?}"))
            .collect();
        assert!(errors.is_empty(), "{kind}: {errors:#?}");
    }
}

fn update_errors(old: &Value, new: &Value) -> Vec<String> {
    schema_errors(new["kind"].as_str().unwrap(), new, Some(old))
}

#[track_caller]
fn assert_refused(label: &str, old: Value, pointer: &str, value: Option<Value>, fragment: &str) {
    let new = with(old.clone(), pointer, value);
    let errs = update_errors(&old, &new);
    assert!(
        errs.iter().any(|e| e.contains(fragment)),
        "{label}: expected `{fragment}`, got {errs:?}"
    );
}

#[track_caller]
fn assert_allowed(label: &str, old: Value, pointer: &str, value: Value) {
    let new = with(old.clone(), pointer, Some(value));
    let errs = update_errors(&old, &new);
    assert!(errs.is_empty(), "{label}: {errs:?}");
}

#[test]
fn immutable_cluster_fields_refuse_changes() {
    assert_refused(
        "provider",
        gcp_cluster(),
        "/spec/provider",
        Some(json!("aws")),
        "provider is immutable",
    );
    assert_refused(
        "instanceId",
        gcp_cluster(),
        "/spec/instanceId",
        Some(json!("other")),
        "instanceId is immutable",
    );
    assert_refused(
        "instanceId removed",
        gcp_cluster(),
        "/spec/instanceId",
        None,
        "instanceId is immutable",
    );
    let unnamed = with(gcp_cluster(), "/spec/instanceId", None);
    assert_refused(
        "instanceId added",
        unnamed,
        "/spec/instanceId",
        Some(json!("orders")),
        "instanceId is immutable",
    );
    assert_refused(
        "region",
        gcp_cluster(),
        "/spec/region",
        Some(json!("europe-west1")),
        "region is immutable",
    );
    assert_refused(
        "project",
        gcp_cluster(),
        "/spec/gcp/project",
        Some(json!("shop-stage")),
        "gcp.project is immutable",
    );
    assert_refused(
        "network",
        gcp_cluster(),
        "/spec/gcp/network",
        Some(json!("projects/shop-prod/global/networks/other")),
        "gcp.network is immutable",
    );
    assert_refused(
        "TLS",
        gcp_cluster(),
        "/spec/transitEncryption",
        Some(json!(false)),
        "transitEncryption is immutable",
    );
    assert_refused(
        "auth",
        gcp_cluster(),
        "/spec/authMode",
        Some(json!("disabled")),
        "authMode is immutable",
    );
    assert_refused(
        "zone distribution added",
        gcp_cluster(),
        "/spec/gcp/zoneDistribution",
        Some(json!({"mode": "multi-zone"})),
        "gcp.zoneDistribution is immutable",
    );
    assert_refused(
        "engine",
        aws_cluster(),
        "/spec/aws/engine",
        Some(json!("redis")),
        "aws.engine is immutable",
    );
    assert_refused(
        "cluster mode",
        aws_cluster(),
        "/spec/aws/clusterMode",
        Some(json!("disabled")),
        "aws.clusterMode is immutable",
    );
    assert_refused(
        "subnet group added",
        aws_cluster(),
        "/spec/aws/cacheSubnetGroupName",
        Some(json!("private")),
        "aws.cacheSubnetGroupName is immutable",
    );
    assert_refused(
        "engine version",
        aws_cluster(),
        "/spec/aws/engineVersion",
        Some(json!("8.1")),
        "aws.engineVersion is immutable",
    );
    assert_refused(
        "security groups added",
        aws_cluster(),
        "/spec/aws/securityGroupIds",
        Some(json!(["sg-0123456789abcdef0"])),
        "aws.securityGroupIds is immutable",
    );
    assert_refused(
        "engine version",
        aws_cluster(),
        "/spec/aws/engineVersion",
        Some(json!("8.1")),
        "aws.engineVersion is immutable",
    );
    assert_refused(
        "security groups added",
        aws_cluster(),
        "/spec/aws/securityGroupIds",
        Some(json!(["sg-0123456789abcdef0"])),
        "aws.securityGroupIds is immutable",
    );
    // The rule said immutable but only refused adding or removing it; the operator never
    // applies a new value, so a changed value is refused too.
    let with_group = with(
        aws_cluster(),
        "/spec/aws/parameterGroupName",
        Some(json!("default.valkey8.cluster.on")),
    );
    assert_refused(
        "parameter group changed",
        with_group.clone(),
        "/spec/aws/parameterGroupName",
        Some(json!("custom-valkey8")),
        "aws.parameterGroupName is immutable",
    );
    assert_refused(
        "parameter group removed",
        with_group,
        "/spec/aws/parameterGroupName",
        None,
        "aws.parameterGroupName is immutable",
    );
    assert_refused(
        "parameter group added",
        aws_cluster(),
        "/spec/aws/parameterGroupName",
        Some(json!("custom-valkey8")),
        "aws.parameterGroupName is immutable",
    );
}

#[test]
fn mutable_cluster_fields_change_freely() {
    assert_allowed("shards", gcp_cluster(), "/spec/shardCount", json!(6));
    assert_allowed(
        "replicas",
        gcp_cluster(),
        "/spec/replicasPerShard",
        json!(2),
    );
    assert_allowed(
        "node type",
        gcp_cluster(),
        "/spec/nodeType",
        json!("redis-highmem-xlarge"),
    );
    assert_allowed(
        "deletion protection",
        gcp_cluster(),
        "/spec/deletionProtection",
        json!(true),
    );
    assert_allowed("aws shards", aws_cluster(), "/spec/shardCount", json!(4));
    assert_allowed(
        "aws snapshot retention",
        aws_cluster(),
        "/spec/aws/snapshotRetentionLimit",
        json!(7),
    );
    let same = gcp_cluster();
    assert!(update_errors(&same, &same).is_empty());
}

#[test]
fn immutable_fields_of_groups_and_bindings() {
    assert_refused(
        "group region",
        aws_user_group(),
        "/spec/region",
        Some(json!("us-east-1")),
        "region is immutable",
    );
    assert_refused(
        "user name",
        aws_user_group(),
        "/spec/aws/users/0/userName",
        Some(json!("renamed")),
        "userName cannot be changed",
    );
    assert_allowed(
        "access string",
        aws_user_group(),
        "/spec/aws/users/0/accessString",
        json!("on ~* -@all +@read"),
    );
    assert_refused(
        "secret name",
        binding(),
        "/spec/secretName",
        Some(json!("other")),
        "secretName is immutable",
    );
    assert_allowed(
        "rotation",
        binding(),
        "/spec/rotation/refreshBefore",
        json!("20m"),
    );
    assert_allowed(
        "gcp members",
        gcp_user_group(),
        "/spec/gcp/members",
        json!(["user:carol@example.com"]),
    );
}

#[test]
fn cross_field_rules_evaluate_on_create() {
    // Rules the OpenAPI schema cannot say alone, shown to bite in CEL specifically.
    let errs = schema_errors(
        "RedisCluster",
        &with(gcp_cluster(), "/spec/authMode", Some(json!("password"))),
        None,
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("not offered by Memorystore")),
        "{errs:?}"
    );
    let errs = schema_errors(
        "RedisCluster",
        &with(
            gcp_cluster(),
            "/spec/gcp/network",
            Some(json!("projects/other-proj/global/networks/default")),
        ),
        None,
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("must belong to gcp.project")),
        "{errs:?}"
    );
    let errs = schema_errors(
        "RedisCluster",
        &with(
            aws_cluster(),
            "/spec/nodeType",
            Some(json!("redis-standard-small")),
        ),
        None,
    );
    assert!(
        errs.iter().any(|e| e.contains("nodeType must be")),
        "{errs:?}"
    );
}
