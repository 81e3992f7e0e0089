//! ElastiCache Global Datastore: the lifecycle through the aws CLI and boto3 (run when installed)
//! with data replicated between the members' redis-servers, and the service's rules and states
//! through the Rust SDK.

use std::process::Command;

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::types::GlobalReplicationGroup;
use serde_json::Value;

use crate::common::*;

const READONLY: &str = "-READONLY You can't write against a read only replica.";

fn installed(program: &str, probe: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: `{program}` is not usable here; this test drives it");
    }
    ok
}

fn with_aws_env(cmd: &mut Command) {
    cmd.env("AWS_ACCESS_KEY_ID", cloudsim::DEFAULT_AWS_ACCESS_KEY_ID)
        .env(
            "AWS_SECRET_ACCESS_KEY",
            cloudsim::DEFAULT_AWS_SECRET_ACCESS_KEY,
        )
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
}

async fn run_raw(mut cmd: Command) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = cmd.output().expect("the program runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// `aws elasticache ARGS` in `region`.
fn aws_cli(base: &str, region: &str, args: &[&str]) -> Command {
    let mut c = Command::new("aws");
    with_aws_env(&mut c);
    c.args([
        "--endpoint-url",
        base,
        "--region",
        region,
        "--output",
        "json",
        "elasticache",
    ])
    .args(args);
    c
}

async fn cli_ok(base: &str, region: &str, args: &[&str]) -> Value {
    let (ok, out, err) = run_raw(aws_cli(base, region, args)).await;
    assert!(ok, "aws elasticache {args:?}: {err}");
    if out.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }
}

/// Runs a call the service refuses; returns the error code the CLI reports.
async fn cli_refused(base: &str, region: &str, args: &[&str]) -> String {
    let (ok, out, err) = run_raw(aws_cli(base, region, args)).await;
    assert!(!ok, "aws elasticache {args:?} succeeded: {out}");
    err.split_once("An error occurred (")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(code, _)| code.to_owned())
        .unwrap_or_else(|| panic!("no error code in {err}"))
}

async fn describe(aws: &Client, id: &str) -> GlobalReplicationGroup {
    aws.describe_global_replication_groups()
        .global_replication_group_id(id)
        .show_member_info(true)
        .send()
        .await
        .expect("describe global")
        .global_replication_groups()[0]
        .clone()
}

async fn wait_global(aws: &Client, id: &str, status: &str) -> GlobalReplicationGroup {
    eventually(&format!("global datastore {id} {status}"), || async {
        let g = describe(aws, id).await;
        let settled = g.members().iter().all(|m| m.status() == Some("associated"));
        (g.status() == Some(status) && settled).then_some(g)
    })
    .await
}

async fn wait_rg_in(
    aws: &Client,
    id: &str,
    status: &str,
) -> aws_sdk_elasticache::types::ReplicationGroup {
    eventually(&format!("replication group {id} {status}"), || async {
        let out = aws
            .describe_replication_groups()
            .replication_group_id(id)
            .send()
            .await
            .expect("describe");
        let rg = out.replication_groups()[0].clone();
        (rg.status() == Some(status)).then_some(rg)
    })
    .await
}

async fn wait_gone(aws: &Client, id: &str) {
    eventually(&format!("global datastore {id} deleted"), || async {
        let r = aws
            .describe_global_replication_groups()
            .global_replication_group_id(id)
            .send()
            .await;
        r.err()
            .filter(|e| e.code() == Some("GlobalReplicationGroupNotFoundFault"))
    })
    .await;
}

/// The port of a cluster-mode-enabled group's configuration endpoint.
fn config_port(rg: &aws_sdk_elasticache::types::ReplicationGroup) -> u16 {
    let e = rg.configuration_endpoint().expect("configuration endpoint");
    assert_eq!(e.address(), Some("127.0.0.1"));
    u16::try_from(e.port().expect("port")).unwrap()
}

/// Waits until `GET key` on the endpoint answers `value`.
async fn reads(port: u16, key: &str, value: &str) {
    eventually(&format!("{key}={value} on port {port}"), || async {
        let mut c = Raw::plain(port).await.ok()?;
        (c.cmd(&["GET", key]).await == value).then_some(())
    })
    .await;
}

#[tokio::test]
async fn aws_cli_drives_a_global_datastore_across_regions() {
    if !installed("aws", &["--version"]) {
        return;
    }
    let t = start(Opts {
        redis: true,
        cluster_mode: true,
        ..Opts::default()
    })
    .await;
    let base = t.base.as_str();
    let (east, west) = (t.aws_in("us-east-1"), t.aws_in("us-west-2"));

    cli_ok(
        base,
        "us-east-1",
        &[
            "create-replication-group",
            "--replication-group-id",
            "orders",
            "--replication-group-description",
            "orders",
            "--engine",
            "redis",
            "--engine-version",
            "7.1",
            "--cache-node-type",
            "cache.r7g.large",
            "--num-node-groups",
            "2",
            "--replicas-per-node-group",
            "1",
            "--automatic-failover-enabled",
        ],
    )
    .await;
    let primary_port = config_port(&wait_rg_in(&east, "orders", "available").await);

    // The ID is the suffix behind us-east-1's prefix.
    let out = cli_ok(
        base,
        "us-east-1",
        &[
            "create-global-replication-group",
            "--global-replication-group-id-suffix",
            "orders-global",
            "--primary-replication-group-id",
            "orders",
            "--global-replication-group-description",
            "orders everywhere",
        ],
    )
    .await;
    let g = &out["GlobalReplicationGroup"];
    assert_eq!(g["GlobalReplicationGroupId"], "ldgnf-orders-global");
    assert_eq!(g["Status"], "creating");
    assert_eq!(g["Members"][0]["Status"], "associating");
    assert_eq!(
        g["ARN"],
        "arn:aws:elasticache::123456789012:globalreplicationgroup:ldgnf-orders-global"
    );
    let id = "ldgnf-orders-global";
    wait_global(&east, id, "primary-only").await;

    // A secondary may not name what it inherits; its shard count is the primary's.
    let secondary = |rg: &'static str| {
        vec![
            "create-replication-group",
            "--replication-group-id",
            rg,
            "--replication-group-description",
            "orders replica",
            "--global-replication-group-id",
            id,
        ]
    };
    let mut with_node_type = secondary("orders-west");
    with_node_type.extend(["--cache-node-type", "cache.r7g.large"]);
    assert_eq!(
        cli_refused(base, "us-west-2", &with_node_type).await,
        "InvalidParameterCombination"
    );
    let mut mismatched = secondary("orders-west");
    mismatched.extend([
        "--node-group-configuration",
        "ReplicaCount=1",
        "ReplicaCount=1",
        "ReplicaCount=1",
    ]);
    assert_eq!(
        cli_refused(base, "us-west-2", &mismatched).await,
        "InvalidParameterCombination"
    );
    assert_eq!(
        cli_refused(base, "us-east-1", &secondary("orders-east-2")).await,
        "InvalidParameterValue",
        "a secondary must be in another region"
    );

    let out = cli_ok(base, "us-west-2", &secondary("orders-west")).await;
    let rg = &out["ReplicationGroup"];
    assert_eq!(
        rg["GlobalReplicationGroupInfo"],
        serde_json::json!({"GlobalReplicationGroupId": id, "GlobalReplicationGroupMemberRole": "SECONDARY"})
    );
    let g = wait_global(&east, id, "available").await;
    assert_eq!(g.members().len(), 2);
    let w = wait_rg_in(&west, "orders-west", "available").await;
    // Inherited from the primary.
    assert_eq!(w.cache_node_type(), Some("cache.r7g.large"));
    assert_eq!(w.node_groups().len(), 2);
    let secondary_port = config_port(&w);

    // A key written to the primary is read in the other region; the secondary refuses writes.
    let mut p = Raw::plain(primary_port).await.unwrap();
    assert_eq!(p.cmd(&["SET", "greeting", "hello"]).await, "+OK");
    reads(secondary_port, "greeting", "hello").await;
    let mut s = Raw::plain(secondary_port).await.unwrap();
    assert_eq!(s.cmd(&["SET", "greeting", "bye"]).await, READONLY);
    assert_eq!(s.cmd(&["MULTI"]).await, "+OK");
    assert_eq!(s.cmd(&["SET", "greeting", "bye"]).await, READONLY);
    assert_eq!(s.cmd(&["GET", "greeting"]).await, "+QUEUED");
    assert!(s.cmd(&["EXEC"]).await.starts_with("-EXECABORT"));
    let script = s
        .cmd(&["EVAL", "return redis.call('SET', 'greeting', 'bye')", "0"])
        .await;
    assert!(
        script.starts_with('-'),
        "scripts cannot write either: {script}"
    );
    assert_eq!(s.cmd(&["GET", "greeting"]).await, "hello");

    // One field per modify; a third region is one secondary too many.
    assert_eq!(
        cli_refused(
            base,
            "us-east-1",
            &[
                "modify-global-replication-group",
                "--global-replication-group-id",
                id,
                "--apply-immediately",
                "--cache-node-type",
                "cache.r7g.xlarge",
                "--global-replication-group-description",
                "bigger",
            ],
        )
        .await,
        "InvalidParameterCombination"
    );
    cli_ok(base, "eu-west-1", &secondary("orders-eu")).await;
    wait_global(&east, id, "available").await;
    assert_eq!(
        cli_refused(base, "ap-southeast-1", &secondary("orders-ap")).await,
        "InvalidParameterValue"
    );

    // Deleting out of order: members first leave, secondaries before the global datastore.
    assert_eq!(
        cli_refused(
            base,
            "us-west-2",
            &[
                "delete-replication-group",
                "--replication-group-id",
                "orders-west"
            ],
        )
        .await,
        "InvalidParameterValue"
    );
    assert_eq!(
        cli_refused(
            base,
            "us-east-1",
            &[
                "delete-global-replication-group",
                "--global-replication-group-id",
                id,
                "--retain-primary-replication-group",
            ],
        )
        .await,
        "InvalidGlobalReplicationGroupState"
    );

    // Failover to us-west-2: the new primary takes writes, the others follow it.
    let out = cli_ok(
        base,
        "us-west-2",
        &[
            "failover-global-replication-group",
            "--global-replication-group-id",
            id,
            "--primary-region",
            "us-west-2",
            "--primary-replication-group-id",
            "orders-west",
        ],
    )
    .await;
    assert_eq!(out["GlobalReplicationGroup"]["Status"], "modifying");
    let g = wait_global(&east, id, "available").await;
    let roles: Vec<(Option<&str>, Option<&str>)> = g
        .members()
        .iter()
        .map(|m| (m.replication_group_region(), m.role()))
        .collect();
    assert_eq!(
        roles,
        vec![
            (Some("eu-west-1"), Some("SECONDARY")),
            (Some("us-east-1"), Some("SECONDARY")),
            (Some("us-west-2"), Some("PRIMARY")),
        ]
    );
    let mut s = Raw::plain(secondary_port).await.unwrap();
    assert_eq!(s.cmd(&["SET", "region", "us-west-2"]).await, "+OK");
    reads(primary_port, "region", "us-west-2").await;
    reads(primary_port, "greeting", "hello").await;
    let mut p = Raw::plain(primary_port).await.unwrap();
    assert_eq!(p.cmd(&["SET", "region", "us-east-1"]).await, READONLY);
    let info = east
        .describe_replication_groups()
        .replication_group_id("orders")
        .send()
        .await
        .unwrap();
    let info = info.replication_groups()[0]
        .global_replication_group_info()
        .cloned()
        .unwrap();
    assert_eq!(
        info.global_replication_group_member_role(),
        Some("SECONDARY")
    );

    // Disassociate both secondaries: each becomes a standalone, writable group.
    for (region, rg) in [("us-east-1", "orders"), ("eu-west-1", "orders-eu")] {
        cli_ok(
            base,
            "us-west-2",
            &[
                "disassociate-global-replication-group",
                "--global-replication-group-id",
                id,
                "--replication-group-id",
                rg,
                "--replication-group-region",
                region,
            ],
        )
        .await;
        wait_global(
            &east,
            id,
            if rg == "orders" {
                "available"
            } else {
                "primary-only"
            },
        )
        .await;
    }
    let mut p = Raw::plain(primary_port).await.unwrap();
    assert_eq!(p.cmd(&["SET", "standalone", "yes"]).await, "+OK");
    let orders = wait_rg_in(&east, "orders", "available").await;
    assert!(orders.global_replication_group_info().is_none());

    // Delete in order: the global datastore (keeping its primary), then the groups.
    cli_ok(
        base,
        "us-west-2",
        &[
            "delete-global-replication-group",
            "--global-replication-group-id",
            id,
            "--retain-primary-replication-group",
        ],
    )
    .await;
    wait_gone(&west, id).await;
    for (region, rg) in [
        ("us-west-2", "orders-west"),
        ("us-east-1", "orders"),
        ("eu-west-1", "orders-eu"),
    ] {
        cli_ok(
            base,
            region,
            &["delete-replication-group", "--replication-group-id", rg],
        )
        .await;
    }
    let listed = cli_ok(base, "us-east-1", &["describe-global-replication-groups"]).await;
    assert_eq!(listed["GlobalReplicationGroups"], serde_json::json!([]));
}

#[tokio::test]
async fn boto3_drives_a_global_datastore_with_tls() {
    if !installed("python3", &["-c", "import boto3"]) {
        return;
    }
    let t = start(Opts {
        redis: true,
        ..Opts::default()
    })
    .await;
    let ca = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca.path(), t.ca_pem()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sim/global_boto3.py");
    let mut cmd = Command::new("python3");
    with_aws_env(&mut cmd);
    cmd.arg(script)
        .env("CLOUDSIM_URL", &t.base)
        .env("CLOUDSIM_CA", ca.path());
    let (ok, out, err) = run_raw(cmd).await;
    assert!(ok, "the boto3 script failed:\n{err}");
    assert_eq!(out.trim(), r#"{"ok": true}"#);
}

/// A group a global datastore can start from.
async fn primary(aws: &Client, id: &str, shards: i32) {
    aws.create_replication_group()
        .replication_group_id(id)
        .replication_group_description(id)
        .cache_node_type("cache.r6g.large")
        .engine("redis")
        .engine_version("7.0")
        .num_node_groups(shards)
        .replicas_per_node_group(1)
        .automatic_failover_enabled(true)
        .send()
        .await
        .expect("create primary");
    wait_rg_in(aws, id, "available").await;
}

#[tokio::test]
async fn creation_checks_the_primary_and_paging_follows_markers() {
    let t = start(Opts::default()).await;
    let east = t.aws();
    let create = |suffix: &str, rg: &str| {
        east.create_global_replication_group()
            .global_replication_group_id_suffix(suffix)
            .primary_replication_group_id(rg)
    };
    let e = create("x", "missing").send().await.unwrap_err();
    assert_eq!(e.code(), Some("ReplicationGroupNotFoundFault"));

    // Burstable nodes and Redis OSS 4 cannot be primaries.
    for (id, node, version) in [
        ("small", "cache.t4g.small", "7.0"),
        ("old", "cache.r6g.large", "4.0.10"),
    ] {
        east.create_replication_group()
            .replication_group_id(id)
            .replication_group_description(id)
            .cache_node_type(node)
            .engine_version(version)
            .send()
            .await
            .unwrap();
        wait_rg_in(&east, id, "available").await;
        let e = create("x", id).send().await.unwrap_err();
        assert_eq!(e.code(), Some("InvalidParameterValue"), "{id}");
    }

    t.set_delay(HOLD).await;
    east.create_replication_group()
        .replication_group_id("busy")
        .replication_group_description("busy")
        .cache_node_type("cache.r6g.large")
        .send()
        .await
        .unwrap();
    let e = create("x", "busy").send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidReplicationGroupState"));
    t.set_delay(0).await;
    wait_rg_in(&east, "busy", "available").await;

    let g = create("One", "busy")
        .send()
        .await
        .unwrap()
        .global_replication_group()
        .cloned()
        .unwrap();
    assert_eq!(g.global_replication_group_id(), Some("ldgnf-one"));
    assert_eq!(g.global_replication_group_description(), Some(" "));
    assert!(g.global_node_groups().is_empty(), "cluster mode disabled");
    // Global datastores take no tags.
    let e = east
        .list_tags_for_resource()
        .resource_name(g.arn().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidARN"));
    let e = create("one", "small").send().await.unwrap_err();
    assert_eq!(e.code(), Some("GlobalReplicationGroupAlreadyExistsFault"));
    let e = create("two", "busy").send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"), "already a member");
    // The same suffix in another region is another global datastore.
    let west = t.aws_in("us-west-2");
    primary(&west, "busy", 1).await;
    let g = west
        .create_global_replication_group()
        .global_replication_group_id_suffix("one")
        .primary_replication_group_id("busy")
        .send()
        .await
        .unwrap();
    assert_eq!(
        g.global_replication_group()
            .unwrap()
            .global_replication_group_id(),
        Some("sgaui-one")
    );
    let e = t
        .aws_in("eu-north-9")
        .create_global_replication_group()
        .global_replication_group_id_suffix("x")
        .primary_replication_group_id("busy")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some("InvalidParameterValue"),
        "no prefix for that region"
    );

    // Paging over 22 global datastores (visible from any region), 20 per page.
    for i in 0..20 {
        let rg = format!("p{i:02}");
        primary(&east, &rg, 1).await;
        create(&format!("page-{i:02}"), &rg).send().await.unwrap();
    }
    let first = west
        .describe_global_replication_groups()
        .max_records(20)
        .send()
        .await
        .unwrap();
    assert_eq!(first.global_replication_groups().len(), 20);
    assert!(
        first.global_replication_groups()[0].members().is_empty(),
        "without ShowMemberInfo"
    );
    let marker = first.marker().expect("a second page").to_owned();
    let second = west
        .describe_global_replication_groups()
        .max_records(20)
        .marker(marker)
        .show_member_info(true)
        .send()
        .await
        .unwrap();
    assert_eq!(second.global_replication_groups().len(), 2);
    assert!(second.marker().is_none());
    assert_eq!(second.global_replication_groups()[0].members().len(), 1);
    let e = east
        .describe_global_replication_groups()
        .max_records(19)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"));
    let e = east
        .describe_global_replication_groups()
        .global_replication_group_id("ldgnf-none")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.into_service_error()
            .is_global_replication_group_not_found_fault()
    );
}

/// A primary in us-east-1 and an associated secondary in us-west-2; returns the global ID.
async fn pair(t: &TestSim, shards: i32) -> String {
    let (east, west) = (t.aws(), t.aws_in("us-west-2"));
    primary(&east, "orders", shards).await;
    east.create_global_replication_group()
        .global_replication_group_id_suffix("orders")
        .primary_replication_group_id("orders")
        .send()
        .await
        .unwrap();
    let id = "ldgnf-orders".to_owned();
    wait_global(&east, &id, "primary-only").await;
    west.create_replication_group()
        .replication_group_id("orders-west")
        .replication_group_description("west")
        .global_replication_group_id(&id)
        .send()
        .await
        .unwrap();
    wait_global(&east, &id, "available").await;
    id
}

#[tokio::test]
async fn transitional_states_and_member_rules() {
    let t = start(Opts::default()).await;
    let (east, west) = (t.aws(), t.aws_in("us-west-2"));
    primary(&east, "orders", 2).await;
    t.set_delay(HOLD).await;
    let g = east
        .create_global_replication_group()
        .global_replication_group_id_suffix("orders")
        .primary_replication_group_id("orders")
        .send()
        .await
        .unwrap();
    let id = g
        .global_replication_group()
        .unwrap()
        .global_replication_group_id()
        .unwrap()
        .to_owned();
    let g = describe(&east, &id).await;
    assert_eq!(g.status(), Some("creating"));
    assert_eq!(g.members()[0].status(), Some("associating"));
    let secondary = || {
        west.create_replication_group()
            .replication_group_id("orders-west")
            .replication_group_description("west")
            .global_replication_group_id(&id)
    };
    let e = secondary().send().await.unwrap_err();
    assert_eq!(
        e.code(),
        Some("InvalidGlobalReplicationGroupState"),
        "still creating"
    );
    t.set_delay(0).await;
    wait_global(&east, &id, "primary-only").await;

    // The secondary's membership shows while it associates.
    t.set_delay(HOLD).await;
    secondary().send().await.unwrap();
    let g = describe(&east, &id).await;
    assert_eq!(g.status(), Some("modifying"));
    let statuses: Vec<_> = g.members().iter().map(|m| (m.role(), m.status())).collect();
    assert_eq!(
        statuses,
        vec![
            (Some("PRIMARY"), Some("associated")),
            (Some("SECONDARY"), Some("associating"))
        ]
    );
    let e = west
        .delete_replication_group()
        .replication_group_id("orders-west")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some("InvalidParameterValue"),
        "a member cannot be deleted"
    );
    t.set_delay(0).await;
    wait_global(&east, &id, "available").await;

    // Settings the global datastore owns are refused on its members.
    let e = east
        .modify_replication_group()
        .replication_group_id("orders")
        .cache_node_type("cache.r6g.xlarge")
        .apply_immediately(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"));
    assert_eq!(
        e.message(),
        Some("Cluster [orders] is part of a global cluster [ldgnf-orders]. Request rejected.")
    );
    let e = west
        .modify_replication_group_shard_configuration()
        .replication_group_id("orders-west")
        .node_group_count(3)
        .apply_immediately(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"));
    // Others are the member's own.
    west.modify_replication_group()
        .replication_group_id("orders-west")
        .replication_group_description("west replica")
        .send()
        .await
        .unwrap();

    // A node type change goes through every member.
    t.set_delay(HOLD).await;
    let g = east
        .modify_global_replication_group()
        .global_replication_group_id(&id)
        .apply_immediately(true)
        .cache_node_type("cache.r6g.xlarge")
        .send()
        .await
        .unwrap();
    assert_eq!(
        g.global_replication_group().unwrap().status(),
        Some("modifying")
    );
    assert!(g.global_replication_group().unwrap().members().is_empty());
    wait_rg_in(&west, "orders-west", "modifying").await;
    let e = east
        .failover_global_replication_group()
        .global_replication_group_id(&id)
        .primary_region("us-west-2")
        .primary_replication_group_id("orders-west")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.into_service_error()
            .is_invalid_global_replication_group_state_fault()
    );
    t.set_delay(0).await;
    let g = wait_global(&east, &id, "available").await;
    assert_eq!(g.cache_node_type(), Some("cache.r6g.xlarge"));
    let w = wait_rg_in(&west, "orders-west", "available").await;
    assert_eq!(w.cache_node_type(), Some("cache.r6g.xlarge"));

    // Disassociating and deleting pass through their own states.
    t.set_delay(HOLD).await;
    let g = west
        .disassociate_global_replication_group()
        .global_replication_group_id(&id)
        .replication_group_id("orders-west")
        .replication_group_region("us-west-2")
        .send()
        .await
        .unwrap();
    let g = g.global_replication_group().unwrap();
    assert_eq!(g.status(), Some("modifying"));
    assert!(
        g.members()
            .iter()
            .any(|m| m.status() == Some("disassociating"))
    );
    t.set_delay(0).await;
    wait_global(&east, &id, "primary-only").await;
    t.set_delay(HOLD).await;
    let g = east
        .delete_global_replication_group()
        .global_replication_group_id(&id)
        .retain_primary_replication_group(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        g.global_replication_group().unwrap().status(),
        Some("deleting")
    );
    let e = east
        .delete_replication_group()
        .replication_group_id("orders")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some("InvalidParameterValue"),
        "still a member while deleting"
    );
    t.set_delay(0).await;
    wait_gone(&east, &id).await;
    east.delete_replication_group()
        .replication_group_id("orders")
        .send()
        .await
        .expect("the former primary is an ordinary group again");
}

#[tokio::test]
async fn modify_node_groups_and_failover_follow_the_service_rules() {
    let t = start(Opts::default()).await;
    let (east, west) = (t.aws(), t.aws_in("us-west-2"));
    let id = pair(&t, 2).await;

    let modify = || {
        east.modify_global_replication_group()
            .global_replication_group_id(&id)
            .apply_immediately(true)
    };
    let e = modify()
        .engine_version("7.1")
        .automatic_failover_enabled(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterCombination"), "two fields");
    let e = modify().send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterCombination"), "no field");
    let e = east
        .modify_global_replication_group()
        .global_replication_group_id(&id)
        .apply_immediately(false)
        .global_replication_group_description("d")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some("InvalidParameterValue"),
        "not in the maintenance window"
    );
    let e = modify()
        .cache_parameter_group_name("default.redis7.cluster.on")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"));
    assert_eq!(
        e.message(),
        Some(
            "ModifyGlobalReplicationGroup API does not support cache parameter group modification without a change in major engine version."
        )
    );
    let e = modify()
        .automatic_failover_enabled(false)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some("InvalidParameterCombination"),
        "cluster mode needs failover"
    );
    let e = modify()
        .cache_node_type("cache.t4g.medium")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some("InvalidParameterValue"),
        "unsupported family"
    );
    let e = modify().engine_version("6.2").send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterCombination"), "downgrade");

    // Redis OSS 7.0 → Valkey 8.0 on every member, default parameter groups following.
    modify()
        .engine("valkey")
        .engine_version("8.0")
        .send()
        .await
        .unwrap();
    let g = wait_global(&east, &id, "available").await;
    assert_eq!(
        (g.engine(), g.engine_version()),
        (Some("valkey"), Some("8.0.1"))
    );
    let clusters = west.describe_cache_clusters().send().await.unwrap();
    for c in clusters.cache_clusters() {
        assert_eq!(c.engine(), Some("valkey"));
        assert_eq!(
            c.cache_parameter_group()
                .and_then(|p| p.cache_parameter_group_name()),
            Some("default.valkey8.cluster.on")
        );
    }
    let g = modify()
        .global_replication_group_description("orders, twice")
        .send()
        .await
        .unwrap();
    assert_eq!(
        g.global_replication_group()
            .unwrap()
            .global_replication_group_description(),
        Some("orders, twice")
    );

    // Node groups change on every member; the decrease names global node group IDs.
    let g = east
        .increase_node_groups_in_global_replication_group()
        .global_replication_group_id(&id)
        .node_group_count(4)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        g.global_replication_group().unwrap().status(),
        Some("modifying")
    );
    let g = wait_global(&east, &id, "available").await;
    let ids: Vec<_> = g
        .global_node_groups()
        .iter()
        .map(|n| n.global_node_group_id().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        [
            "ldgnf-orders-0001",
            "ldgnf-orders-0002",
            "ldgnf-orders-0003",
            "ldgnf-orders-0004"
        ]
    );
    assert_eq!(g.global_node_groups()[3].slots(), Some("12288-16383"));
    assert_eq!(
        wait_rg_in(&west, "orders-west", "available")
            .await
            .node_groups()
            .len(),
        4
    );
    let decrease = || {
        east.decrease_node_groups_in_global_replication_group()
            .global_replication_group_id(&id)
            .apply_immediately(true)
    };
    let e = decrease().node_group_count(2).send().await.unwrap_err();
    assert_eq!(
        e.code(),
        Some("InvalidParameterCombination"),
        "neither retain nor remove"
    );
    let e = decrease()
        .node_group_count(2)
        .global_node_groups_to_retain("ldgnf-orders-0001")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some("InvalidParameterCombination"),
        "count mismatch"
    );
    let e = decrease()
        .node_group_count(3)
        .global_node_groups_to_remove("ldgnf-orders-0009")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"));
    decrease()
        .node_group_count(2)
        .global_node_groups_to_retain("ldgnf-orders-0001")
        .global_node_groups_to_retain("ldgnf-orders-0004")
        .send()
        .await
        .unwrap();
    let g = wait_global(&east, &id, "available").await;
    let ids: Vec<_> = g
        .global_node_groups()
        .iter()
        .map(|n| n.global_node_group_id().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["ldgnf-orders-0001", "ldgnf-orders-0004"]);
    east.rebalance_slots_in_global_replication_group()
        .global_replication_group_id(&id)
        .apply_immediately(true)
        .send()
        .await
        .unwrap();
    wait_global(&east, &id, "available").await;

    // Failover names the secondary to promote by region and ID.
    let failover = |region: &str, rg: &str| {
        west.failover_global_replication_group()
            .global_replication_group_id(&id)
            .primary_region(region)
            .primary_replication_group_id(rg)
    };
    let e = failover("us-east-1", "orders-west")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some("InvalidParameterCombination"),
        "wrong region"
    );
    let e = failover("us-west-2", "nobody").send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"), "not a member");
    let e = failover("us-east-1", "orders").send().await.unwrap_err();
    assert_eq!(
        e.code(),
        Some("InvalidParameterValue"),
        "already the primary"
    );
    let e = west
        .failover_global_replication_group()
        .global_replication_group_id("ldgnf-nope")
        .primary_region("us-west-2")
        .primary_replication_group_id("orders-west")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.into_service_error()
            .is_global_replication_group_not_found_fault()
    );
    failover("us-west-2", "orders-west").send().await.unwrap();
    let g = wait_global(&east, &id, "available").await;
    let primary: Vec<_> = g
        .members()
        .iter()
        .filter(|m| m.role() == Some("PRIMARY"))
        .map(|m| m.replication_group_id().unwrap())
        .collect();
    assert_eq!(primary, ["orders-west"]);
    let w = wait_rg_in(&west, "orders-west", "available").await;
    assert_eq!(
        w.global_replication_group_info()
            .and_then(|i| i.global_replication_group_member_role()),
        Some("PRIMARY")
    );

    // Deleting needs RetainPrimaryReplicationGroup=true and no secondaries.
    let e = east
        .delete_global_replication_group()
        .global_replication_group_id(&id)
        .retain_primary_replication_group(false)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"));
    let e = east
        .delete_global_replication_group()
        .global_replication_group_id(&id)
        .retain_primary_replication_group(true)
        .send()
        .await
        .unwrap_err();
    assert!(
        e.into_service_error()
            .is_invalid_global_replication_group_state_fault()
    );
    let e = east
        .disassociate_global_replication_group()
        .global_replication_group_id(&id)
        .replication_group_id("orders-west")
        .replication_group_region("us-west-2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some("InvalidParameterValue"),
        "the primary cannot leave"
    );
}

#[tokio::test]
async fn a_secondary_inherits_the_primary_and_keeps_its_own_replicas() {
    let t = start(Opts::default()).await;
    let east = t.aws();
    east.create_replication_group()
        .replication_group_id("orders")
        .replication_group_description("orders")
        .cache_node_type("cache.m6g.large")
        .engine("valkey")
        .engine_version("8.0")
        .num_cache_clusters(2)
        .automatic_failover_enabled(true)
        .multi_az_enabled(true)
        .transit_encryption_enabled(true)
        .at_rest_encryption_enabled(true)
        .send()
        .await
        .unwrap();
    wait_rg_in(&east, "orders", "available").await;
    east.create_global_replication_group()
        .global_replication_group_id_suffix("orders")
        .primary_replication_group_id("orders")
        .send()
        .await
        .unwrap();
    let id = "ldgnf-orders";
    wait_global(&east, id, "primary-only").await;
    let west = t.aws_in("us-west-2");
    for refused in [
        west.create_replication_group().engine("valkey"),
        west.create_replication_group()
            .transit_encryption_enabled(true),
        west.create_replication_group()
            .at_rest_encryption_enabled(false),
        west.create_replication_group().num_node_groups(1),
    ] {
        let e = refused
            .replication_group_id("orders-west")
            .replication_group_description("west")
            .global_replication_group_id(id)
            .send()
            .await
            .unwrap_err();
        if e.code() == Some("InvalidParameterCombination") {
            assert_eq!(
                e.message(),
                Some(
                    "Cannot use the given parameters when creating new replication group in an existing global replication group."
                )
            );
        } else {
            panic!("{e:?}");
        }
    }
    let e = west
        .create_replication_group()
        .replication_group_id("orders-west")
        .replication_group_description("west")
        .global_replication_group_id("ldgnf-missing")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.into_service_error()
            .is_global_replication_group_not_found_fault()
    );
    west.create_replication_group()
        .replication_group_id("orders-west")
        .replication_group_description("west")
        .global_replication_group_id(id)
        .num_cache_clusters(3)
        .send()
        .await
        .unwrap();
    let w = wait_rg_in(&west, "orders-west", "available").await;
    assert_eq!(w.cache_node_type(), Some("cache.m6g.large"));
    assert_eq!(w.member_clusters().len(), 3, "its own replica count");
    assert_eq!(w.transit_encryption_enabled(), Some(true));
    assert_eq!(w.at_rest_encryption_enabled(), Some(true));
    assert_eq!(w.multi_az().map(|m| m.as_str()), Some("enabled"));
    assert_eq!(w.engine(), Some("valkey"));
    let g = wait_global(&east, id, "available").await;
    assert_eq!(g.transit_encryption_enabled(), Some(true));
    // The secondary was refused without holding a place: a failed create leaves no member.
    assert_eq!(g.members().len(), 2);
}
