//! Table-driven: every rule, valid and invalid values, checked three ways — the Rust rules
//! (`manifest::check`, what `validate` and the controllers use), the OpenAPI schema and the CEL
//! rules of the generated CRD (what the API server uses). The three must agree.

mod support;

use cache_operator_api::manifest::{self, Checked};
use serde_json::{Value, json};
use support::*;

fn rust_errors(obj: &Value) -> Vec<(String, String)> {
    match manifest::check(obj) {
        Checked::Ours { errors, .. } => errors.into_iter().map(|e| (e.field, e.message)).collect(),
        Checked::Other => panic!("not one of our kinds"),
    }
}

fn kind(obj: &Value) -> String {
    obj["kind"].as_str().unwrap().to_owned()
}

#[track_caller]
fn assert_valid(label: &str, obj: &Value) {
    let rust = rust_errors(obj);
    assert!(
        rust.is_empty(),
        "{label}: rules rejected a valid object: {rust:?}"
    );
    let schema = schema_errors(&kind(obj), obj, None);
    assert!(
        schema.is_empty(),
        "{label}: CRD schema rejected a valid object: {schema:?}"
    );
}

#[track_caller]
fn assert_invalid(label: &str, obj: &Value, field: &str, fragment: &str) {
    let rust = rust_errors(obj);
    assert!(
        rust.iter().any(|(f, m)| f == field && m.contains(fragment)),
        "{label}: expected `{field}: …{fragment}…`, got {rust:?}"
    );
    let schema = schema_errors(&kind(obj), obj, None);
    assert!(
        !schema.is_empty(),
        "{label}: the CRD schema accepts what the rules reject"
    );
}

struct Case {
    label: &'static str,
    base: fn() -> Value,
    pointer: &'static str,
    value: Option<Value>,
    /// `None`: valid. `Some((field, message fragment))`: rejected naming that field.
    expect: Option<(&'static str, &'static str)>,
}

fn ok(label: &'static str, base: fn() -> Value, pointer: &'static str, value: Value) -> Case {
    Case {
        label,
        base,
        pointer,
        value: Some(value),
        expect: None,
    }
}

fn bad(
    label: &'static str,
    base: fn() -> Value,
    pointer: &'static str,
    value: Option<Value>,
    field: &'static str,
    fragment: &'static str,
) -> Case {
    Case {
        label,
        base,
        pointer,
        value,
        expect: Some((field, fragment)),
    }
}

fn run(cases: Vec<Case>) {
    for c in cases {
        let obj = with((c.base)(), c.pointer, c.value);
        match c.expect {
            None => assert_valid(c.label, &obj),
            Some((field, fragment)) => assert_invalid(c.label, &obj, field, fragment),
        }
    }
}

const ID: &str = "/spec/instanceId";

#[test]
fn samples_of_every_kind_are_valid() {
    for obj in [
        gcp_cluster(),
        aws_cluster(),
        aws_user_group(),
        gcp_user_group(),
        binding(),
    ] {
        assert_valid("base", &obj);
    }
}

#[test]
fn gcp_instance_ids() {
    let long63 = format!("a{}", "b".repeat(62));
    let long64 = format!("a{}", "b".repeat(63));
    run(vec![
        ok("one letter", gcp_cluster, ID, json!("a")),
        ok("63 chars", gcp_cluster, ID, json!(long63)),
        ok(
            "double hyphen is fine on gcp",
            gcp_cluster,
            ID,
            json!("a--b"),
        ),
        ok("digits inside", gcp_cluster, ID, json!("cache-2024-x1")),
        bad(
            "empty",
            gcp_cluster,
            ID,
            Some(json!("")),
            "spec.instanceId",
            "must not be empty",
        ),
        bad(
            "64 chars",
            gcp_cluster,
            ID,
            Some(json!(long64)),
            "spec.instanceId",
            "at most 63 characters",
        ),
        bad(
            "uppercase",
            gcp_cluster,
            ID,
            Some(json!("Orders")),
            "spec.instanceId",
            "lowercase letters, digits and hyphens",
        ),
        bad(
            "leading digit",
            gcp_cluster,
            ID,
            Some(json!("1orders")),
            "spec.instanceId",
            "must start with a lowercase letter",
        ),
        bad(
            "leading hyphen",
            gcp_cluster,
            ID,
            Some(json!("-orders")),
            "spec.instanceId",
            "must start with a lowercase letter",
        ),
        bad(
            "trailing hyphen",
            gcp_cluster,
            ID,
            Some(json!("orders-")),
            "spec.instanceId",
            "must end with a lowercase letter or digit",
        ),
        bad(
            "underscore",
            gcp_cluster,
            ID,
            Some(json!("orders_cache")),
            "spec.instanceId",
            "lowercase letters, digits and hyphens",
        ),
        bad(
            "dot",
            gcp_cluster,
            ID,
            Some(json!("orders.cache")),
            "spec.instanceId",
            "lowercase letters, digits and hyphens",
        ),
    ]);
}

#[test]
fn aws_replication_group_ids() {
    let long40 = format!("a{}", "b".repeat(39));
    let long41 = format!("a{}", "b".repeat(40));
    run(vec![
        ok("one letter", aws_cluster, ID, json!("a")),
        ok("40 chars", aws_cluster, ID, json!(long40)),
        ok("single hyphens", aws_cluster, ID, json!("my-cache-01")),
        bad(
            "empty",
            aws_cluster,
            ID,
            Some(json!("")),
            "spec.instanceId",
            "must not be empty",
        ),
        bad(
            "41 chars",
            aws_cluster,
            ID,
            Some(json!(long41)),
            "spec.instanceId",
            "at most 40 characters",
        ),
        bad(
            "64 chars",
            aws_cluster,
            ID,
            Some(json!(format!("a{}", "b".repeat(63)))),
            "spec.instanceId",
            "at most 40 characters",
        ),
        bad(
            "uppercase (stored lowercase by the cloud)",
            aws_cluster,
            ID,
            Some(json!("MyCache")),
            "spec.instanceId",
            "lowercase",
        ),
        bad(
            "leading digit",
            aws_cluster,
            ID,
            Some(json!("9cache")),
            "spec.instanceId",
            "must start with a lowercase letter",
        ),
        bad(
            "trailing hyphen",
            aws_cluster,
            ID,
            Some(json!("cache-")),
            "spec.instanceId",
            "must end with a lowercase letter or digit",
        ),
        bad(
            "double hyphen",
            aws_cluster,
            ID,
            Some(json!("my--cache")),
            "spec.instanceId",
            "two consecutive hyphens",
        ),
    ]);
}

#[test]
fn metadata_name_stands_in_for_a_missing_instance_id() {
    let no_id = |base: fn() -> Value, name: &str| {
        with(with(base(), ID, None), "/metadata/name", Some(json!(name)))
    };
    assert_valid("gcp name", &no_id(gcp_cluster, "orders"));
    assert_valid("aws name", &no_id(aws_cluster, "sessions"));
    assert_invalid(
        "gcp dotted name",
        &no_id(gcp_cluster, "orders.v2"),
        "metadata.name",
        "is the instance ID",
    );
    assert_invalid(
        "aws long name",
        &no_id(aws_cluster, &format!("a{}", "b".repeat(45))),
        "metadata.name",
        "at most 40",
    );
    assert_invalid(
        "aws double hyphen name",
        &no_id(aws_cluster, "a--b"),
        "metadata.name",
        "two consecutive hyphens",
    );
}

#[test]
fn node_types_per_provider() {
    const NT: &str = "/spec/nodeType";
    let mut cases = vec![
        bad(
            "aws type on gcp",
            gcp_cluster,
            NT,
            Some(json!("cache.r7g.large")),
            "spec.nodeType",
            "not a Memorystore",
        ),
        bad(
            "gcp type on aws",
            aws_cluster,
            NT,
            Some(json!("redis-standard-small")),
            "spec.nodeType",
            "not an ElastiCache node type",
        ),
        bad(
            "unknown gcp type",
            gcp_cluster,
            NT,
            Some(json!("redis-giant-medium")),
            "spec.nodeType",
            "not a Memorystore",
        ),
        bad(
            "previous generation aws type",
            aws_cluster,
            NT,
            Some(json!("cache.m3.large")),
            "spec.nodeType",
            "current-generation",
        ),
        bad(
            "data tiering family",
            aws_cluster,
            NT,
            Some(json!("cache.r6gd.xlarge")),
            "spec.nodeType",
            "current-generation",
        ),
        bad(
            "empty",
            aws_cluster,
            NT,
            Some(json!("")),
            "spec.nodeType",
            "not an ElastiCache node type",
        ),
    ];
    for t in [
        "redis-shared-core-nano",
        "redis-standard-small",
        "redis-highmem-medium",
        "redis-highcpu-medium",
        "redis-standard-large",
        "redis-highmem-xlarge",
        "redis-highmem-2xlarge",
    ] {
        cases.push(ok("gcp type", gcp_cluster, NT, json!(t)));
    }
    for t in [
        "cache.t4g.micro",
        "cache.t3.small",
        "cache.m7g.16xlarge",
        "cache.r5.24xlarge",
        "cache.m4.10xlarge",
    ] {
        cases.push(ok("aws type", aws_cluster, NT, json!(t)));
    }
    run(cases);
}

#[test]
fn shard_and_replica_ranges() {
    const SC: &str = "/spec/shardCount";
    const RP: &str = "/spec/replicasPerShard";
    run(vec![
        ok("gcp 1 shard", gcp_cluster, SC, json!(1)),
        ok("gcp 250 shards", gcp_cluster, SC, json!(250)),
        bad(
            "gcp 0 shards",
            gcp_cluster,
            SC,
            Some(json!(0)),
            "spec.shardCount",
            "between 1 and 250",
        ),
        bad(
            "gcp 251 shards",
            gcp_cluster,
            SC,
            Some(json!(251)),
            "spec.shardCount",
            "between 1 and 250",
        ),
        bad(
            "gcp negative shards",
            gcp_cluster,
            SC,
            Some(json!(-3)),
            "spec.shardCount",
            "between 1 and 250",
        ),
        ok("gcp 2 replicas", gcp_cluster, RP, json!(2)),
        bad(
            "gcp 3 replicas",
            gcp_cluster,
            RP,
            Some(json!(3)),
            "spec.replicasPerShard",
            "between 0 and 2",
        ),
        ok("aws 90 shards", aws_cluster, SC, json!(90)),
        bad(
            "aws 0 shards",
            aws_cluster,
            SC,
            Some(json!(0)),
            "spec.shardCount",
            "between 1 and 90",
        ),
        bad(
            "aws 91 shards",
            aws_cluster,
            SC,
            Some(json!(91)),
            "spec.shardCount",
            "between 1 and 90",
        ),
        ok("aws 5 replicas", aws_cluster, RP, json!(5)),
        bad(
            "aws 6 replicas",
            aws_cluster,
            RP,
            Some(json!(6)),
            "spec.replicasPerShard",
            "between 0 and 5",
        ),
        bad(
            "aws negative replicas",
            aws_cluster,
            RP,
            Some(json!(-1)),
            "spec.replicasPerShard",
            "between 0 and 5",
        ),
        bad(
            "wrong type",
            aws_cluster,
            SC,
            Some(json!("three")),
            "spec.shardCount",
            "invalid type",
        ),
    ]);
    // 90 shards x 6 nodes = 540 > 500.
    let over = with(with(aws_cluster(), SC, Some(json!(90))), RP, Some(json!(5)));
    assert_invalid(
        "too many nodes",
        &over,
        "spec.shardCount",
        "at most 500 nodes",
    );
    let cmd = with(
        aws_cluster(),
        "/spec/aws/clusterMode",
        Some(json!("disabled")),
    );
    assert_invalid(
        "cluster mode disabled, 2 shards",
        &cmd,
        "spec.shardCount",
        "must be 1",
    );
    assert_valid(
        "cluster mode disabled, 1 shard",
        &with(cmd, SC, Some(json!(1))),
    );
}

#[test]
fn gcp_networks_and_projects() {
    const NET: &str = "/spec/gcp/network";
    run(vec![
        ok(
            "own project network",
            gcp_cluster,
            NET,
            json!("projects/shop-prod/global/networks/vpc-1"),
        ),
        bad(
            "network of another project",
            gcp_cluster,
            NET,
            Some(json!("projects/other-proj/global/networks/default")),
            "spec.gcp.network",
            "belongs to project \"other-proj\"",
        ),
        bad(
            "bare network name",
            gcp_cluster,
            NET,
            Some(json!("default")),
            "spec.gcp.network",
            "projects/<project>/global/networks/<network>",
        ),
        bad(
            "regional path",
            gcp_cluster,
            NET,
            Some(json!(
                "projects/shop-prod/regions/us-central1/networks/default"
            )),
            "spec.gcp.network",
            "projects/<project>/global/networks/<network>",
        ),
        bad(
            "empty",
            gcp_cluster,
            NET,
            Some(json!("")),
            "spec.gcp.network",
            "projects/<project>/global/networks/<network>",
        ),
        bad(
            "uppercase project",
            gcp_cluster,
            "/spec/gcp/project",
            Some(json!("Shop-Prod")),
            "spec.gcp.project",
            "lowercase",
        ),
        bad(
            "short project",
            gcp_cluster,
            "/spec/gcp/project",
            Some(json!("shop")),
            "spec.gcp.project",
            "6–30 characters",
        ),
        bad(
            "missing gcp block",
            gcp_cluster,
            "/spec/gcp",
            None,
            "spec.gcp",
            "is required when provider is gcp",
        ),
        bad(
            "gcp-only block on an aws cluster",
            aws_cluster,
            "/spec/gcp",
            Some(
                json!({"project": "shop-prod", "network": "projects/shop-prod/global/networks/default"}),
            ),
            "spec.gcp",
            "must not be set when provider is aws",
        ),
        bad(
            "aws block on a gcp cluster",
            gcp_cluster,
            "/spec/aws",
            Some(json!({"engine": "redis"})),
            "spec.aws",
            "must not be set when provider is gcp",
        ),
        bad(
            "missing aws block",
            aws_cluster,
            "/spec/aws",
            None,
            "spec.aws",
            "is required when provider is aws",
        ),
        bad(
            "unknown provider",
            gcp_cluster,
            "/spec/provider",
            Some(json!("azure")),
            "spec.provider",
            "unknown variant",
        ),
        bad(
            "bad region",
            gcp_cluster,
            "/spec/region",
            Some(json!("US Central")),
            "spec.region",
            "region name",
        ),
    ]);
    let shared = with(
        with(
            gcp_cluster(),
            NET,
            Some(json!("projects/host-proj/global/networks/shared")),
        ),
        "/spec/gcp/networkProject",
        Some(json!("host-proj")),
    );
    assert_valid("shared VPC with networkProject", &shared);
}

#[test]
fn gcp_zone_and_persistence() {
    const Z: &str = "/spec/gcp/zoneDistribution";
    const P: &str = "/spec/gcp/persistence";
    run(vec![
        ok("multi zone", gcp_cluster, Z, json!({"mode": "multi-zone"})),
        ok(
            "single zone in region",
            gcp_cluster,
            Z,
            json!({"mode": "single-zone", "zone": "us-central1-b"}),
        ),
        bad(
            "single zone without zone",
            gcp_cluster,
            Z,
            Some(json!({"mode": "single-zone"})),
            "spec.gcp.zoneDistribution.zone",
            "is required",
        ),
        bad(
            "zone of another region",
            gcp_cluster,
            Z,
            Some(json!({"mode": "single-zone", "zone": "europe-west1-b"})),
            "spec.gcp.zoneDistribution.zone",
            "zone of spec.region",
        ),
        bad(
            "zone with multi zone",
            gcp_cluster,
            Z,
            Some(json!({"mode": "multi-zone", "zone": "us-central1-b"})),
            "spec.gcp.zoneDistribution.zone",
            "not allowed",
        ),
        ok(
            "rdb",
            gcp_cluster,
            P,
            json!({"mode": "rdb", "rdbSnapshotPeriod": "6h"}),
        ),
        ok(
            "aof",
            gcp_cluster,
            P,
            json!({"mode": "aof", "aofAppendFsync": "everysec"}),
        ),
        bad(
            "rdb period with aof",
            gcp_cluster,
            P,
            Some(json!({"mode": "aof", "rdbSnapshotPeriod": "6h"})),
            "spec.gcp.persistence.rdbSnapshotPeriod",
            "needs mode rdb",
        ),
        bad(
            "unknown period",
            gcp_cluster,
            P,
            Some(json!({"mode": "rdb", "rdbSnapshotPeriod": "2h"})),
            "spec.gcp.persistence.rdbSnapshotPeriod",
            "unknown variant",
        ),
        ok(
            "redis config",
            gcp_cluster,
            "/spec/gcp/redisConfigs",
            json!({"maxmemory-policy": "allkeys-lru"}),
        ),
        bad(
            "unsupported redis config",
            gcp_cluster,
            "/spec/gcp/redisConfigs",
            Some(json!({"appendonly": "yes"})),
            "spec.gcp.redisConfigs.appendonly",
            "not a setting Memorystore accepts",
        ),
        bad(
            "redis config value too long",
            gcp_cluster,
            "/spec/gcp/redisConfigs",
            Some(json!({"notify-keyspace-events": "K".repeat(257)})),
            "spec.gcp.redisConfigs.notify-keyspace-events",
            "at most 256 characters",
        ),
    ]);
}

#[test]
fn auth_modes_per_provider() {
    const AM: &str = "/spec/authMode";
    run(vec![
        ok("gcp iam", gcp_cluster, AM, json!("iam")),
        ok("gcp disabled", gcp_cluster, AM, json!("disabled")),
        bad(
            "gcp password",
            gcp_cluster,
            AM,
            Some(json!("password")),
            "spec.authMode",
            "not offered by Memorystore",
        ),
        ok("aws iam", aws_cluster, AM, json!("iam")),
        bad(
            "unknown mode",
            aws_cluster,
            AM,
            Some(json!("oauth")),
            "spec.authMode",
            "unknown variant",
        ),
        bad(
            "aws auth without TLS",
            aws_cluster,
            "/spec/transitEncryption",
            Some(json!(false)),
            "spec.transitEncryption",
            "must be true",
        ),
        bad(
            "aws auth without user group",
            aws_cluster,
            "/spec/userGroupRefs",
            Some(json!([])),
            "spec.userGroupRefs",
            "must name a UserGroup",
        ),
        bad(
            "aws two user groups",
            aws_cluster,
            "/spec/userGroupRefs",
            Some(json!([{"name": "a"}, {"name": "b"}])),
            "spec.userGroupRefs",
            "at most one user group",
        ),
        bad(
            "aws password on redis 5",
            aws_cluster,
            "/spec/aws",
            Some(json!({"engine": "redis", "engineVersion": "5.0.6"})),
            "spec.aws.engineVersion",
            "needs engine version 6.0",
        ),
        bad(
            "engine version shape",
            aws_cluster,
            "/spec/aws/engineVersion",
            Some(json!("latest")),
            "spec.aws.engineVersion",
            "must be a version",
        ),
        bad(
            "bad security group",
            aws_cluster,
            "/spec/aws/securityGroupIds",
            Some(json!(["sg-xyz"])),
            "spec.aws.securityGroupIds[0]",
            "security group ID",
        ),
        bad(
            "snapshot retention over 35",
            aws_cluster,
            "/spec/aws/snapshotRetentionLimit",
            Some(json!(36)),
            "spec.aws.snapshotRetentionLimit",
            "between 0 and 35",
        ),
    ]);
    let iam_redis6 = with(
        with(aws_cluster(), AM, Some(json!("iam"))),
        "/spec/aws",
        Some(json!({"engine": "redis", "engineVersion": "6.2"})),
    );
    assert_invalid(
        "iam on redis 6",
        &iam_redis6,
        "spec.aws.engineVersion",
        "needs Redis OSS 7.0",
    );
    let disabled_with_groups = with(gcp_cluster(), AM, Some(json!("disabled")));
    let disabled_with_groups = with(
        disabled_with_groups,
        "/spec/userGroupRefs",
        Some(json!([{"name": "g"}])),
    );
    assert_invalid(
        "groups without auth",
        &disabled_with_groups,
        "spec.userGroupRefs",
        "no effect",
    );
    let open_aws = with(
        with(
            with(aws_cluster(), AM, Some(json!("disabled"))),
            "/spec/userGroupRefs",
            None,
        ),
        "/spec/transitEncryption",
        Some(json!(false)),
    );
    assert_valid("aws without auth or TLS", &open_aws);
}

#[test]
fn unknown_fields_are_reported_not_dropped() {
    let obj = with(gcp_cluster(), "/spec/shardcount", Some(json!(3)));
    assert_invalid("typo", &obj, "spec.shardcount", "unknown field");
}

#[test]
fn aws_users_and_groups() {
    const U: &str = "/spec/aws/users/0";
    let user = |id: &str, name: &str, access: &str, auth: &str| json!({"userId": id, "userName": name, "accessString": access, "authentication": auth});
    run(vec![
        ok(
            "password user",
            aws_user_group,
            U,
            user("app-1", "app", "on ~app:* -@all +@read +@write", "password"),
        ),
        ok(
            "default user name",
            aws_user_group,
            U,
            user("grp-default", "default", "off", "password"),
        ),
        bad(
            "uppercase user id",
            aws_user_group,
            U,
            Some(user("App", "app", "on ~* +@all", "password")),
            "spec.aws.users[0].userId",
            "lowercase",
        ),
        bad(
            "user id leading digit",
            aws_user_group,
            U,
            Some(user("1app", "app", "on ~* +@all", "password")),
            "spec.aws.users[0].userId",
            "must start with a lowercase letter",
        ),
        bad(
            "user id double hyphen",
            aws_user_group,
            U,
            Some(user("a--b", "app", "on ~* +@all", "password")),
            "spec.aws.users[0].userId",
            "two consecutive hyphens",
        ),
        bad(
            "built-in default user",
            aws_user_group,
            U,
            Some(user("default", "default", "on ~* +@all", "password")),
            "spec.aws.users[0].userId",
            "built-in default user",
        ),
        bad(
            "iam name differs",
            aws_user_group,
            U,
            Some(user("app-iam", "app", "on ~* +@all", "iam")),
            "spec.aws.users[0].userName",
            "must equal its userId",
        ),
        bad(
            "user name with space",
            aws_user_group,
            U,
            Some(user("app", "my app", "on ~* +@all", "password")),
            "spec.aws.users[0].userName",
            "letters, digits",
        ),
        bad(
            "empty user name",
            aws_user_group,
            U,
            Some(user("app", "", "on ~* +@all", "password")),
            "spec.aws.users[0].userName",
            "must not be empty",
        ),
        bad(
            "password in access string",
            aws_user_group,
            U,
            Some(user("app", "app", "on >secret ~* +@all", "password")),
            "spec.aws.users[0].accessString",
            "must not contain passwords",
        ),
        ok(
            "longest access string",
            aws_user_group,
            U,
            user(
                "app",
                "app",
                &format!("on ~{}", "k".repeat(1020)),
                "password",
            ),
        ),
        bad(
            "access string too long",
            aws_user_group,
            U,
            Some(user(
                "app",
                "app",
                &format!("on ~{}", "k".repeat(1021)),
                "password",
            )),
            "spec.aws.users[0].accessString",
            "at most 1024 characters",
        ),
        bad(
            "nopass in access string",
            aws_user_group,
            U,
            Some(user("app", "app", "on nopass ~* +@all", "password")),
            "spec.aws.users[0].accessString",
            "nopass",
        ),
        bad(
            "access string without on",
            aws_user_group,
            U,
            Some(user("app", "app", "~* +@all", "password")),
            "spec.aws.users[0].accessString",
            "must include \"on\"",
        ),
        bad(
            "access string garbage",
            aws_user_group,
            U,
            Some(user("app", "app", "on everything", "password")),
            "spec.aws.users[0].accessString",
            "is not an ACL rule",
        ),
        bad(
            "empty access string",
            aws_user_group,
            U,
            Some(user("app", "app", "", "password")),
            "spec.aws.users[0].accessString",
            "must not be empty",
        ),
        bad(
            "unknown authentication",
            aws_user_group,
            U,
            Some(user("app", "app", "on ~* +@all", "token")),
            "spec.aws.users[0].authentication",
            "unknown variant",
        ),
        bad(
            "duplicate user name",
            aws_user_group,
            "/spec/aws/users/1/userName",
            Some(json!("sessions-app")),
            "spec.aws.users[1].userName",
            "used twice",
        ),
        bad(
            "aws group without region",
            aws_user_group,
            "/spec/region",
            None,
            "spec.region",
            "is required when provider is aws",
        ),
        bad(
            "no users",
            aws_user_group,
            "/spec/aws/users",
            Some(json!([])),
            "spec.aws.users",
            "at least one user",
        ),
        bad(
            "bad group id",
            aws_user_group,
            "/spec/aws/userGroupId",
            Some(json!("Group_1")),
            "spec.aws.userGroupId",
            "lowercase",
        ),
    ]);
}

#[test]
fn gcp_members() {
    const M: &str = "/spec/gcp/members/0";
    run(vec![
        ok(
            "service account",
            gcp_user_group,
            M,
            json!("serviceAccount:app@proj-123.iam.gserviceaccount.com"),
        ),
        ok("user", gcp_user_group, M, json!("user:bob@example.com")),
        ok("group", gcp_user_group, M, json!("group:devs@example.com")),
        bad(
            "missing type",
            gcp_user_group,
            M,
            Some(json!("bob@example.com")),
            "spec.gcp.members[0]",
            "serviceAccount:EMAIL",
        ),
        bad(
            "unsupported type",
            gcp_user_group,
            M,
            Some(json!("domain:example.com")),
            "spec.gcp.members[0]",
            "not supported",
        ),
        bad(
            "not an email",
            gcp_user_group,
            M,
            Some(json!("user:bob")),
            "spec.gcp.members[0]",
            "email address",
        ),
        bad(
            "empty members",
            gcp_user_group,
            "/spec/gcp/members",
            Some(json!([])),
            "spec.gcp.members",
            "at least one",
        ),
        bad(
            "aws block on gcp group",
            gcp_user_group,
            "/spec/aws",
            Some(json!({"users": []})),
            "spec.aws",
            "must not be set when provider is gcp",
        ),
    ]);
}

/// A binding that names no user (the operator's identity on gcp, or a token cluster).
fn binding_without_user() -> Value {
    with(binding(), "/spec/user", None)
}

#[test]
fn access_bindings() {
    run(vec![
        ok("aws user id", binding, "/spec/user", json!("sessions-app")),
        Case {
            label: "neither group nor user (a token or disabled cluster)",
            base: binding_without_user,
            pointer: "/spec/userGroupRef",
            value: None,
            expect: None,
        },
        bad(
            "a user without a group",
            binding,
            "/spec/userGroupRef",
            None,
            "spec.user",
            "set spec.userGroupRef too",
        ),
        ok(
            "cross-namespace ref",
            binding,
            "/spec/clusterRef/namespace",
            json!("platform"),
        ),
        bad(
            "bad user",
            binding,
            "/spec/user",
            Some(json!("Not A User")),
            "spec.user",
            "aws user ID or a service-account email",
        ),
        bad(
            "bad secret name",
            binding,
            "/spec/secretName",
            Some(json!("Orders_Redis")),
            "spec.secretName",
            "DNS subdomain",
        ),
        bad(
            "bad cluster ref",
            binding,
            "/spec/clusterRef/name",
            Some(json!("")),
            "spec.clusterRef.name",
            "1–253 characters",
        ),
        bad(
            "bad namespace",
            binding,
            "/spec/clusterRef/namespace",
            Some(json!("Platform")),
            "spec.clusterRef.namespace",
            "DNS label",
        ),
        bad(
            "bad duration",
            binding,
            "/spec/rotation/refreshBefore",
            Some(json!("ten minutes")),
            "spec.rotation.refreshBefore",
            "duration",
        ),
        bad(
            "refresh too long",
            binding,
            "/spec/rotation/refreshBefore",
            Some(json!("2h")),
            "spec.rotation.refreshBefore",
            "between 10s and 1h",
        ),
        bad(
            "bad label",
            binding,
            "/spec/secretTemplate/labels",
            Some(json!({"app": "has space"})),
            "spec.secretTemplate.labels.app",
            "value must consist",
        ),
        ok(
            "64 labels and annotations",
            binding,
            "/spec/secretTemplate",
            json!({
                "labels": (0..64).map(|i| (format!("l{i}"), json!("v"))).collect::<serde_json::Map<_, _>>(),
                "annotations": (0..64).map(|i| (format!("a{i}"), json!("x".repeat(4096)))).collect::<serde_json::Map<_, _>>(),
            }),
        ),
        bad(
            "too many labels",
            binding,
            "/spec/secretTemplate/labels",
            Some(json!(
                (0..65)
                    .map(|i| (format!("l{i}"), json!("v")))
                    .collect::<serde_json::Map<_, _>>()
            )),
            "spec.secretTemplate.labels",
            "at most 64 entries",
        ),
        bad(
            "too many annotations",
            binding,
            "/spec/secretTemplate/annotations",
            Some(json!(
                (0..65)
                    .map(|i| (format!("a{i}"), json!("v")))
                    .collect::<serde_json::Map<_, _>>()
            )),
            "spec.secretTemplate.annotations",
            "at most 64 entries",
        ),
        bad(
            "annotation value too long",
            binding,
            "/spec/secretTemplate/annotations",
            Some(json!({"note": "x".repeat(4097)})),
            "spec.secretTemplate.annotations.note",
            "at most 4096 characters",
        ),
        bad(
            "missing cluster ref",
            binding,
            "/spec/clusterRef",
            None,
            "spec.clusterRef",
            "exactly one of",
        ),
    ]);
}

#[test]
fn other_kinds_are_skipped_and_wrong_versions_reported() {
    let deployment =
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}});
    assert!(matches!(manifest::check(&deployment), Checked::Other));
    let v2 = with(
        gcp_cluster(),
        "/apiVersion",
        Some(json!("cache-operator.io/v1beta1")),
    );
    let errs = rust_errors(&v2);
    assert_eq!(errs[0].0, "apiVersion", "{errs:?}");
    let nameless = with(gcp_cluster(), "/metadata/name", None);
    assert!(
        rust_errors(&nameless)
            .iter()
            .any(|(f, _)| f == "metadata.name")
    );
}

/// An aws cluster on a Redis OSS version (the base sample is Valkey 8.0).
fn aws_redis_cluster() -> Value {
    with(
        aws_cluster(),
        "/spec/aws",
        Some(json!({"engine": "redis", "engineVersion": "7.0", "clusterMode": "enabled"})),
    )
}

/// An aws cluster with one operator-managed AUTH token.
fn aws_token_cluster() -> Value {
    with(
        with(aws_cluster(), "/spec/authMode", Some(json!("token"))),
        "/spec/userGroupRefs",
        None,
    )
}

#[test]
fn maintenance_windows_one_shape_for_both_clouds() {
    const MW: &str = "/spec/maintenanceWindow";
    run(vec![
        ok(
            "gcp on the hour",
            gcp_cluster,
            MW,
            json!({"day": "sunday", "startTime": "03:00"}),
        ),
        ok(
            "gcp one hour said aloud",
            gcp_cluster,
            MW,
            json!({"day": "monday", "startTime": "23:00", "duration": "1h"}),
        ),
        ok(
            "aws ninety minutes across midnight",
            aws_cluster,
            MW,
            json!({"day": "saturday", "startTime": "23:30", "duration": "90m"}),
        ),
        ok(
            "aws a whole day",
            aws_cluster,
            MW,
            json!({"day": "wednesday", "startTime": "00:00", "duration": "24h"}),
        ),
        ok(
            "aws hours and minutes",
            aws_cluster,
            MW,
            json!({"day": "friday", "startTime": "02:15", "duration": "2h30m"}),
        ),
        bad(
            "gcp half past",
            gcp_cluster,
            MW,
            Some(json!({"day": "sunday", "startTime": "03:30"})),
            "spec.maintenanceWindow.startTime",
            "on the hour",
        ),
        bad(
            "gcp two hours",
            gcp_cluster,
            MW,
            Some(json!({"day": "sunday", "startTime": "03:00", "duration": "2h"})),
            "spec.maintenanceWindow.duration",
            "must be 1h for provider gcp",
        ),
        bad(
            "aws shorter than the service's 60 minutes",
            aws_cluster,
            MW,
            Some(json!({"day": "sunday", "startTime": "03:00", "duration": "30m"})),
            "spec.maintenanceWindow.duration",
            "between 1h and 24h",
        ),
        bad(
            "aws longer than a day",
            aws_cluster,
            MW,
            Some(json!({"day": "sunday", "startTime": "03:00", "duration": "25h"})),
            "spec.maintenanceWindow.duration",
            "between 1h and 24h",
        ),
        bad(
            "seconds",
            aws_cluster,
            MW,
            Some(json!({"day": "sunday", "startTime": "03:00", "duration": "3600s"})),
            "spec.maintenanceWindow.duration",
            "hours and minutes",
        ),
        bad(
            "not a day",
            aws_cluster,
            MW,
            Some(json!({"day": "sun", "startTime": "03:00"})),
            "spec.maintenanceWindow.day",
            "unknown variant",
        ),
        bad(
            "hour 24",
            aws_cluster,
            MW,
            Some(json!({"day": "sunday", "startTime": "24:00"})),
            "spec.maintenanceWindow.startTime",
            "time of day HH:MM",
        ),
        bad(
            "one-digit hour",
            gcp_cluster,
            MW,
            Some(json!({"day": "sunday", "startTime": "3:00"})),
            "spec.maintenanceWindow.startTime",
            "time of day HH:MM",
        ),
        bad(
            "missing start",
            aws_cluster,
            MW,
            Some(json!({"day": "sunday"})),
            "spec.maintenanceWindow",
            "missing field `startTime`",
        ),
    ]);
}

#[test]
fn backups_on_demand_automated_and_final() {
    run(vec![
        ok(
            "on-demand backup name",
            gcp_cluster,
            "/spec/onDemandBackup",
            json!("before-upgrade-7-1"),
        ),
        ok(
            "final backup opted out",
            aws_cluster,
            "/spec/finalBackup",
            json!(false),
        ),
        bad(
            "uppercase backup name",
            aws_cluster,
            "/spec/onDemandBackup",
            Some(json!("Nightly")),
            "spec.onDemandBackup",
            "lowercase letter",
        ),
        bad(
            "double hyphen backup name",
            gcp_cluster,
            "/spec/onDemandBackup",
            Some(json!("before--upgrade")),
            "spec.onDemandBackup",
            "single hyphens",
        ),
        bad(
            "backup name too long",
            gcp_cluster,
            "/spec/onDemandBackup",
            Some(json!(format!("b{}", "a".repeat(63)))),
            "spec.onDemandBackup",
            "1–63 characters",
        ),
        ok(
            "gcp daily backups",
            gcp_cluster,
            "/spec/gcp/automatedBackup",
            json!({"startTime": "05:00", "retentionDays": 7}),
        ),
        ok(
            "gcp daily backups, default retention",
            gcp_cluster,
            "/spec/gcp/automatedBackup",
            json!({"startTime": "23:00"}),
        ),
        ok(
            "gcp automated backups off",
            gcp_cluster,
            "/spec/gcp/automatedBackup",
            json!({"enabled": false}),
        ),
        bad(
            "gcp automated backups on without a start",
            gcp_cluster,
            "/spec/gcp/automatedBackup",
            Some(json!({"retentionDays": 7})),
            "spec.gcp.automatedBackup.startTime",
            "is required while automated backups are enabled",
        ),
        bad(
            "gcp backup not on the hour",
            gcp_cluster,
            "/spec/gcp/automatedBackup",
            Some(json!({"startTime": "05:30"})),
            "spec.gcp.automatedBackup.startTime",
            "on the hour",
        ),
        bad(
            "gcp retention over 365 days",
            gcp_cluster,
            "/spec/gcp/automatedBackup",
            Some(json!({"startTime": "05:00", "retentionDays": 366})),
            "spec.gcp.automatedBackup.retentionDays",
            "between 1 and 365",
        ),
        bad(
            "gcp retention zero",
            gcp_cluster,
            "/spec/gcp/automatedBackup",
            Some(json!({"startTime": "05:00", "retentionDays": 0})),
            "spec.gcp.automatedBackup.retentionDays",
            "between 1 and 365",
        ),
        ok(
            "aws snapshot window",
            aws_cluster,
            "/spec/aws/snapshotWindow",
            json!("05:00-09:00"),
        ),
        ok(
            "aws snapshot window across midnight",
            aws_cluster,
            "/spec/aws/snapshotWindow",
            json!("23:00-01:00"),
        ),
        bad(
            "aws snapshot window shape",
            aws_cluster,
            "/spec/aws/snapshotWindow",
            Some(json!("5:00-9:00")),
            "spec.aws.snapshotWindow",
            "hh24:mi-hh24:mi",
        ),
        bad(
            "aws empty snapshot window",
            aws_cluster,
            "/spec/aws/snapshotWindow",
            Some(json!("05:00-05:00")),
            "spec.aws.snapshotWindow",
            "same time",
        ),
        bad(
            "automated backups on aws",
            aws_cluster,
            "/spec/gcp",
            Some(
                json!({"project": "shop-prod", "network": "projects/shop-prod/global/networks/default", "automatedBackup": {"startTime": "05:00"}}),
            ),
            "spec.gcp",
            "must not be set when provider is aws",
        ),
    ]);
}

#[test]
fn restores_name_one_source_of_the_right_place() {
    const GR: &str = "/spec/gcp/restoreFrom";
    const AR: &str = "/spec/aws/restoreFrom";
    let backup = "projects/shop-prod/locations/us-central1/backupCollections/3f2b9c/backups/orders-cache-final-0b6c2a4e";
    run(vec![
        ok(
            "gcp managed backup",
            gcp_cluster,
            GR,
            json!({"backup": backup}),
        ),
        ok(
            "gcp managed backup with the service prefix",
            gcp_cluster,
            GR,
            json!({"backup": format!("//redis.googleapis.com/{backup}")}),
        ),
        ok(
            "gcp RDB files",
            gcp_cluster,
            GR,
            json!({"gcsUris": ["gs://shop-backups/orders/0001.rdb", "gs://shop-backups/orders/0002.rdb"]}),
        ),
        bad(
            "gcp backup of another region",
            gcp_cluster,
            GR,
            Some(json!({"backup": backup.replace("us-central1", "europe-west1")})),
            "spec.gcp.restoreFrom.backup",
            "own region",
        ),
        bad(
            "gcp both sources",
            gcp_cluster,
            GR,
            Some(json!({"backup": backup, "gcsUris": ["gs://shop-backups/a.rdb"]})),
            "spec.gcp.restoreFrom",
            "exactly one of backup and gcsUris",
        ),
        bad(
            "gcp no source",
            gcp_cluster,
            GR,
            Some(json!({})),
            "spec.gcp.restoreFrom",
            "exactly one of backup and gcsUris",
        ),
        bad(
            "gcp not a gs URI",
            gcp_cluster,
            GR,
            Some(json!({"gcsUris": ["https://storage.googleapis.com/b/a.rdb"]})),
            "spec.gcp.restoreFrom.gcsUris[0]",
            "gs://BUCKET/OBJECT",
        ),
        bad(
            "gcp not a backup name",
            gcp_cluster,
            GR,
            Some(json!({"backup": "orders-cache-final"})),
            "spec.gcp.restoreFrom.backup",
            "backupCollections",
        ),
        ok(
            "aws snapshot",
            aws_cluster,
            AR,
            json!({"snapshotName": "sessions-cache-final-0b6c2a4e"}),
        ),
        ok(
            "aws automatic snapshot",
            aws_cluster,
            AR,
            json!({"snapshotName": "automatic.sessions-cache-2024-06-01-05-00"}),
        ),
        ok(
            "aws RDB files in S3",
            aws_cluster,
            AR,
            json!({"snapshotArns": ["arn:aws:s3:::shop-backups/sessions/0001.rdb"]}),
        ),
        bad(
            "aws S3 key with a comma",
            aws_cluster,
            AR,
            Some(json!({"snapshotArns": ["arn:aws:s3:::shop-backups/a,b.rdb"]})),
            "spec.aws.restoreFrom.snapshotArns[0]",
            "no commas",
        ),
        bad(
            "aws both sources",
            aws_cluster,
            AR,
            Some(json!({"snapshotName": "s", "snapshotArns": ["arn:aws:s3:::shop-backups/a.rdb"]})),
            "spec.aws.restoreFrom",
            "exactly one of snapshotName and snapshotArns",
        ),
        bad(
            "aws snapshot name with a space",
            aws_cluster,
            AR,
            Some(json!({"snapshotName": "my snapshot"})),
            "spec.aws.restoreFrom.snapshotName",
            "snapshot name",
        ),
    ]);
}

#[test]
fn encryption_keys_have_the_clouds_formats_and_regions() {
    const GK: &str = "/spec/gcp/kmsKey";
    const AK: &str = "/spec/aws/kmsKeyId";
    let gcp_key = "projects/shop-prod/locations/us-central1/keyRings/cache/cryptoKeys/orders";
    run(vec![
        ok("gcp key of the region", gcp_cluster, GK, json!(gcp_key)),
        ok(
            "gcp key of another project",
            gcp_cluster,
            GK,
            json!("projects/shop-keys/locations/us-central1/keyRings/cache/cryptoKeys/orders_1"),
        ),
        bad(
            "gcp key of another region",
            gcp_cluster,
            GK,
            Some(json!(gcp_key.replace("us-central1", "global"))),
            "spec.gcp.kmsKey",
            "cluster's region",
        ),
        bad(
            "gcp key version instead of key",
            gcp_cluster,
            GK,
            Some(json!(format!("{gcp_key}/cryptoKeyVersions/1"))),
            "spec.gcp.kmsKey",
            "projects/<project>/locations/<region>/keyRings/<ring>/cryptoKeys/<key>",
        ),
        bad(
            "gcp bare key name",
            gcp_cluster,
            GK,
            Some(json!("orders")),
            "spec.gcp.kmsKey",
            "Cloud KMS key",
        ),
        ok(
            "aws key ID",
            aws_cluster,
            AK,
            json!("1234abcd-12ab-34cd-56ef-1234567890ab"),
        ),
        ok(
            "aws multi-Region key ID",
            aws_cluster,
            AK,
            json!("mrk-1234abcd12ab34cd56ef1234567890ab"),
        ),
        ok(
            "aws key ARN of the region",
            aws_cluster,
            AK,
            json!("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
        ),
        ok("aws alias", aws_cluster, AK, json!("alias/sessions-cache")),
        ok(
            "aws alias ARN",
            aws_cluster,
            AK,
            json!("arn:aws:kms:eu-west-1:111122223333:alias/sessions-cache"),
        ),
        bad(
            "aws key ARN of another region",
            aws_cluster,
            AK,
            Some(json!(
                "arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
            )),
            "spec.aws.kmsKeyId",
            "KMS keys are regional",
        ),
        bad(
            "aws not a key",
            aws_cluster,
            AK,
            Some(json!("my-key")),
            "spec.aws.kmsKeyId",
            "KMS key ID",
        ),
        bad(
            "aws uppercase key ID",
            aws_cluster,
            AK,
            Some(json!("1234ABCD-12AB-34CD-56EF-1234567890AB")),
            "spec.aws.kmsKeyId",
            "KMS key ID",
        ),
    ]);
    let no_at_rest = with(
        with(
            aws_cluster(),
            "/spec/aws/atRestEncryption",
            Some(json!(false)),
        ),
        AK,
        Some(json!("alias/sessions-cache")),
    );
    assert_invalid(
        "a key without encryption at rest",
        &no_at_rest,
        "spec.aws.kmsKeyId",
        "needs atRestEncryption: true",
    );
    assert_valid(
        "no encryption at rest, no key",
        &with(
            aws_cluster(),
            "/spec/aws/atRestEncryption",
            Some(json!(false)),
        ),
    );
}

#[test]
fn auth_token_mode_is_aws_only_and_needs_tls_without_user_groups() {
    assert_valid("token cluster", &aws_token_cluster());
    assert_valid(
        "token cluster with a rotation interval",
        &with(
            aws_token_cluster(),
            "/spec/aws/authTokenRotationInterval",
            Some(json!("168h")),
        ),
    );
    assert_invalid(
        "token with user groups",
        &with(
            aws_token_cluster(),
            "/spec/userGroupRefs",
            Some(json!([{"name": "sessions-users"}])),
        ),
        "spec.userGroupRefs",
        "authMode is token",
    );
    assert_invalid(
        "token without TLS",
        &with(
            aws_token_cluster(),
            "/spec/transitEncryption",
            Some(json!(false)),
        ),
        "spec.transitEncryption",
        "must be true with authMode token",
    );
    assert_invalid(
        "token on gcp",
        &with(gcp_cluster(), "/spec/authMode", Some(json!("token"))),
        "spec.authMode",
        "token is not offered by Memorystore",
    );
    assert_invalid(
        "rotation interval without token",
        &with(
            aws_cluster(),
            "/spec/aws/authTokenRotationInterval",
            Some(json!("168h")),
        ),
        "spec.aws.authTokenRotationInterval",
        "needs authMode token",
    );
    assert_invalid(
        "rotation interval too short",
        &with(
            aws_token_cluster(),
            "/spec/aws/authTokenRotationInterval",
            Some(json!("30s")),
        ),
        "spec.aws.authTokenRotationInterval",
        "at least 1m",
    );
}

#[test]
fn engine_versions_belong_to_their_engine() {
    const EV: &str = "/spec/aws/engineVersion";
    run(vec![
        ok("redis 7.1", aws_redis_cluster, EV, json!("7.1")),
        ok("redis 6.2", aws_redis_cluster, EV, json!("6.2")),
        ok("valkey 7.2", aws_cluster, EV, json!("7.2")),
        ok("valkey 8.1", aws_cluster, EV, json!("8.1")),
        bad(
            "valkey 7.1",
            aws_cluster,
            EV,
            Some(json!("7.1")),
            "spec.aws.engineVersion",
            "start at 7.2",
        ),
        bad(
            "redis 7.2",
            aws_redis_cluster,
            EV,
            Some(json!("7.2")),
            "spec.aws.engineVersion",
            "goes up to 7.1",
        ),
        bad(
            "redis 8.0",
            aws_redis_cluster,
            EV,
            Some(json!("8.0")),
            "spec.aws.engineVersion",
            "goes up to 7.1",
        ),
        bad(
            "four-digit part",
            aws_cluster,
            EV,
            Some(json!("8.1000")),
            "spec.aws.engineVersion",
            "must be a version",
        ),
    ]);
}
