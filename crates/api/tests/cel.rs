//! The CEL rules of the generated CRDs, evaluated with the Kubernetes CEL library as the API
//! server would: they compile, and transition rules refuse changes to immutable fields while
//! letting the mutable ones through.

mod support;

use serde_json::{Value, json};
use support::*;

#[test]
fn every_rule_compiles() {
    for kind in [
        "RedisCluster",
        "ServerlessCache",
        "UserGroup",
        "AccessBinding",
    ] {
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
        "security groups added",
        aws_cluster(),
        "/spec/aws/securityGroupIds",
        Some(json!(["sg-0123456789abcdef0"])),
        "aws.securityGroupIds is immutable",
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

/// An aws cluster without authentication (so any engine version is allowed) on Redis OSS.
fn aws_redis(version: &str) -> Value {
    let open = with(
        with(aws_cluster(), "/spec/authMode", Some(json!("disabled"))),
        "/spec/userGroupRefs",
        None,
    );
    with(
        open,
        "/spec/aws",
        Some(json!({"engine": "redis", "engineVersion": version, "clusterMode": "enabled"})),
    )
}

#[test]
fn engines_upgrade_and_never_downgrade() {
    // Minor and major upgrades, and Redis OSS to Valkey (the path: 7.0 → 7.1 → Valkey 8.0).
    assert_allowed(
        "minor",
        aws_redis("7.0"),
        "/spec/aws/engineVersion",
        json!("7.1"),
    );
    assert_allowed(
        "major",
        aws_redis("6.2"),
        "/spec/aws/engineVersion",
        json!("7.0"),
    );
    assert_allowed(
        "patch",
        aws_redis("5.0.5"),
        "/spec/aws/engineVersion",
        json!("5.0.6"),
    );
    assert_allowed(
        "patch to minor",
        aws_redis("5.0.6"),
        "/spec/aws/engineVersion",
        json!("6.0"),
    );
    assert_allowed(
        "redis to valkey",
        aws_redis("7.1"),
        "/spec/aws",
        json!({"engine": "valkey", "engineVersion": "8.0", "clusterMode": "enabled"}),
    );
    assert_allowed(
        "valkey minor",
        aws_cluster(),
        "/spec/aws/engineVersion",
        json!("8.1"),
    );
    let unset = with(aws_redis("7.0"), "/spec/aws/engineVersion", None);
    assert_allowed(
        "version named later",
        unset.clone(),
        "/spec/aws/engineVersion",
        json!("7.1"),
    );

    assert_refused(
        "minor downgrade",
        aws_redis("7.1"),
        "/spec/aws/engineVersion",
        Some(json!("7.0")),
        "cannot go down",
    );
    assert_refused(
        "major downgrade",
        aws_cluster(),
        "/spec/aws/engineVersion",
        Some(json!("7.2")),
        "cannot go down",
    );
    assert_refused(
        "patch downgrade",
        aws_redis("5.0.6"),
        "/spec/aws/engineVersion",
        Some(json!("5.0.5")),
        "cannot go down",
    );
    assert_refused(
        "a two-digit minor is not a decimal fraction",
        aws_redis("4.0.10"),
        "/spec/aws/engineVersion",
        Some(json!("4.0.9")),
        "cannot go down",
    );
    assert_refused(
        "valkey back to redis",
        aws_cluster(),
        "/spec/aws",
        Some(json!({"engine": "redis", "engineVersion": "8.0", "clusterMode": "enabled"})),
        "never back",
    );
    assert_refused(
        "valkey without naming its version",
        unset,
        "/spec/aws/engine",
        Some(json!("valkey")),
        "needs aws.engineVersion",
    );
    assert_refused(
        "version removed",
        aws_cluster(),
        "/spec/aws/engineVersion",
        None,
        "cannot be removed once set",
    );
    assert_refused(
        "redis to a valkey version below 7.2",
        aws_redis("7.0"),
        "/spec/aws",
        Some(json!({"engine": "valkey", "engineVersion": "7.0", "clusterMode": "enabled"})),
        "start at 7.2",
    );
}

#[test]
fn the_parameter_group_follows_the_spec_freely() {
    assert_allowed(
        "named",
        aws_redis("7.0"),
        "/spec/aws/parameterGroupName",
        json!("orders-redis7"),
    );
    let named = with(
        aws_redis("7.0"),
        "/spec/aws/parameterGroupName",
        Some(json!("orders-redis7")),
    );
    assert_allowed(
        "renamed",
        named.clone(),
        "/spec/aws/parameterGroupName",
        json!("orders-valkey8"),
    );
    let errs = update_errors(
        &named,
        &with(named.clone(), "/spec/aws/parameterGroupName", None),
    );
    assert!(errs.is_empty(), "back to the family's default: {errs:?}");
}

#[test]
fn encryption_and_restore_sources_are_fixed_at_creation() {
    let gcp_key = "projects/shop-prod/locations/us-central1/keyRings/cache/cryptoKeys/orders";
    let keyed = with(gcp_cluster(), "/spec/gcp/kmsKey", Some(json!(gcp_key)));
    assert_refused(
        "gcp key added",
        gcp_cluster(),
        "/spec/gcp/kmsKey",
        Some(json!(gcp_key)),
        "gcp.kmsKey is immutable",
    );
    assert_refused(
        "gcp key changed",
        keyed.clone(),
        "/spec/gcp/kmsKey",
        Some(json!(gcp_key.replace("orders", "orders2"))),
        "gcp.kmsKey is immutable",
    );
    assert_refused(
        "gcp key removed",
        keyed,
        "/spec/gcp/kmsKey",
        None,
        "gcp.kmsKey is immutable",
    );
    assert_refused(
        "aws key added",
        aws_cluster(),
        "/spec/aws/kmsKeyId",
        Some(json!("alias/sessions")),
        "aws.kmsKeyId is immutable",
    );
    assert_refused(
        "aws encryption at rest turned off",
        aws_cluster(),
        "/spec/aws/atRestEncryption",
        Some(json!(false)),
        "aws.atRestEncryption is immutable",
    );
    let restored = with(
        aws_cluster(),
        "/spec/aws/restoreFrom",
        Some(json!({"snapshotName": "sessions-final"})),
    );
    assert_refused(
        "aws restore source added later",
        aws_cluster(),
        "/spec/aws/restoreFrom",
        Some(json!({"snapshotName": "sessions-final"})),
        "aws.restoreFrom is immutable",
    );
    assert_refused(
        "aws restore source changed",
        restored.clone(),
        "/spec/aws/restoreFrom/snapshotName",
        Some(json!("other")),
        "aws.restoreFrom is immutable",
    );
    assert_refused(
        "aws restore source removed",
        restored,
        "/spec/aws/restoreFrom",
        None,
        "aws.restoreFrom is immutable",
    );
    assert_refused(
        "gcp restore source added later",
        gcp_cluster(),
        "/spec/gcp/restoreFrom",
        Some(json!({"gcsUris": ["gs://shop-backups/a.rdb"]})),
        "gcp.restoreFrom is immutable",
    );
}

#[test]
fn day_two_settings_change_freely() {
    for (label, base, pointer, value) in [
        (
            "maintenance window added",
            gcp_cluster(),
            "/spec/maintenanceWindow",
            json!({"day": "sunday", "startTime": "03:00"}),
        ),
        (
            "maintenance window on aws",
            aws_cluster(),
            "/spec/maintenanceWindow",
            json!({"day": "sunday", "startTime": "03:00", "duration": "3h"}),
        ),
        (
            "automated backups",
            gcp_cluster(),
            "/spec/gcp/automatedBackup",
            json!({"startTime": "05:00", "retentionDays": 14}),
        ),
        (
            "snapshot window",
            aws_cluster(),
            "/spec/aws/snapshotWindow",
            json!("05:00-07:00"),
        ),
        (
            "on-demand backup",
            aws_cluster(),
            "/spec/onDemandBackup",
            json!("before-8-1"),
        ),
        (
            "final backup off",
            gcp_cluster(),
            "/spec/finalBackup",
            json!(false),
        ),
    ] {
        assert_allowed(label, base, pointer, value);
    }
}

#[test]
fn cross_region_shapes_are_refused_at_admission() {
    let create_errors = |obj: &Value| schema_errors("RedisCluster", obj, None);
    let cr = |v: Value| with(gcp_cluster(), "/spec/crossRegion", Some(v));
    for ok in [
        json!({}),
        json!({"primary": "orders-eu"}),
        json!({"secondaryOf": "orders-us"}),
        json!({"secondaryOf": "orders-us", "detached": true}),
    ] {
        let errs = create_errors(&cr(ok.clone()));
        assert!(errs.is_empty(), "{ok}: {errs:?}");
    }
    let name = gcp_cluster()["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    for (bad, fragment) in [
        (
            json!({"primary": "a", "secondaryOf": "b"}),
            "mutually exclusive",
        ),
        (
            json!({"detached": true}),
            "detached needs crossRegion.secondaryOf",
        ),
        (json!({"secondaryOf": name}), "not this one"),
    ] {
        let errs = create_errors(&cr(bad.clone()));
        assert!(
            errs.iter().any(|e| e.contains(fragment)),
            "{bad}: expected `{fragment}`, got {errs:?}"
        );
    }
    let aws = with(
        aws_cluster(),
        "/spec/crossRegion",
        Some(json!({"secondaryOf": "orders-us"})),
    );
    let errs = create_errors(&aws);
    assert!(
        errs.iter().any(|e| e.contains("not implemented yet")),
        "{errs:?}"
    );

    // Transitions: secondaryOf fixed, detached one way, no leaving by removal.
    let secondary = cr(json!({"secondaryOf": "orders-us"}));
    assert_refused(
        "secondaryOf changed",
        secondary.clone(),
        "/spec/crossRegion/secondaryOf",
        Some(json!("orders-other")),
        "secondaryOf is immutable",
    );
    assert_refused(
        "crossRegion removed from an attached secondary",
        secondary.clone(),
        "/spec/crossRegion",
        None,
        "set crossRegion.detached: true to leave the set",
    );
    assert_refused(
        "an existing cluster made a secondary",
        gcp_cluster(),
        "/spec/crossRegion",
        Some(json!({"secondaryOf": "orders-us"})),
        "an existing cluster cannot join a set",
    );
    assert_allowed(
        "detach",
        secondary.clone(),
        "/spec/crossRegion/detached",
        json!(true),
    );
    let detached = cr(json!({"secondaryOf": "orders-us", "detached": true}));
    assert_refused(
        "rejoin",
        detached.clone(),
        "/spec/crossRegion/detached",
        Some(json!(false)),
        "detached is one way",
    );
    let left = with(detached.clone(), "/spec/crossRegion", None);
    assert!(
        update_errors(&detached, &left).is_empty(),
        "a detached cluster may drop crossRegion"
    );
    let anchor = cr(json!({"primary": "orders-us"}));
    assert_allowed(
        "promote",
        anchor,
        "/spec/crossRegion/primary",
        json!("orders-eu"),
    );
}
