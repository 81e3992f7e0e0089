//! The official CLIs against the simulator: `gcloud redis clusters` (maintenance windows,
//! automated and on-demand backups, backup collections, import, export), `gcloud memorystore
//! instances` (Memorystore for Valkey: create, describe, list, update, delete, backups), cross-region
//! replication of both (secondaries, switchover, detach) and
//! `aws elasticache` (engine upgrades, windows, encryption at rest, AUTH token rotation,
//! snapshots). They run when the CLI is installed (gcloud from Google's Debian package, the aws
//! CLI from PyPI) and say so when it is not.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::*;

fn installed(cli: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cli).is_file()));
    if !found {
        eprintln!("SKIPPED: `{cli}` is not installed; this test drives the official CLI");
    }
    found
}

/// Runs a CLI and parses its JSON output; panics with its stderr when it fails.
async fn run(cmd: Command) -> Value {
    let (ok, out, err) = run_raw(cmd).await;
    assert!(ok, "{err}");
    if out.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }
}

/// Runs a CLI that must fail; returns its stderr.
async fn fails(cmd: Command) -> String {
    let (ok, out, err) = run_raw(cmd).await;
    assert!(!ok, "expected a failure, got {out}");
    err
}

async fn run_raw(mut cmd: Command) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = cmd.output().expect("the CLI runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

struct Gcloud {
    config: tempfile::TempDir,
}

impl Gcloud {
    async fn new(base: &str) -> Self {
        let g = Gcloud {
            config: tempfile::tempdir().unwrap(),
        };
        for (k, v) in [
            ("api_endpoint_overrides/redis", format!("{base}/")),
            ("api_endpoint_overrides/memorystore", format!("{base}/")),
            ("auth/disable_credentials", "true".into()),
            ("core/project", PROJECT.into()),
            ("redis/region", REGION.into()),
        ] {
            run(g.cmd(&["config", "set", k, &v])).await;
        }
        g
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("gcloud");
        c.env("CLOUDSDK_CONFIG", self.config.path())
            .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
            .args(args);
        c
    }

    fn json(&self, args: &[&str]) -> Command {
        let mut c = self.cmd(args);
        c.arg("--format=json");
        c
    }
}

#[tokio::test]
async fn gcloud_sets_windows_and_backups_and_restores() {
    if !installed("gcloud") {
        return;
    }
    let t = start(Opts::default()).await;
    let g = Gcloud::new(&t.base).await;
    let network = format!("--network=projects/{PROJECT}/global/networks/default");
    let c = run(g.json(&[
        "redis",
        "clusters",
        "create",
        "orders",
        &network,
        "--shard-count=1",
        "--maintenance-window-day=sunday",
        "--maintenance-window-hour=3",
        "--automated-backup-mode=enabled",
        "--automated-backup-start-time=05:00",
        "--automated-backup-ttl=7d",
    ]))
    .await;
    assert_eq!(
        c["maintenancePolicy"]["weeklyMaintenanceWindow"],
        json!([{"day": "SUNDAY", "startTime": {"hours": 3}}])
    );
    assert_eq!(
        c["automatedBackupConfig"],
        json!({"automatedBackupMode": "ENABLED", "fixedFrequencySchedule": {"startTime": {"hours": 5}}, "retention": "604800s"})
    );
    let err = fails(g.json(&[
        "redis",
        "clusters",
        "create",
        "bad",
        &network,
        "--shard-count=1",
        "--automated-backup-mode=enabled",
        "--automated-backup-start-time=05:00",
        "--automated-backup-ttl=400d",
    ]))
    .await;
    assert!(err.contains("INVALID_ARGUMENT"), "{err}");

    let updated = run(g.json(&[
        "redis",
        "clusters",
        "update",
        "orders",
        "--maintenance-window-day=monday",
        "--maintenance-window-hour=2",
    ]))
    .await;
    assert_eq!(
        updated["maintenancePolicy"]["weeklyMaintenanceWindow"][0]["day"],
        "MONDAY"
    );
    let updated = run(g.json(&[
        "redis",
        "clusters",
        "update",
        "orders",
        "--maintenance-window-any",
    ]))
    .await;
    assert!(updated.get("maintenancePolicy").is_none(), "{updated}");

    run(g.json(&[
        "redis",
        "clusters",
        "create-backup",
        "orders",
        "--backup-id=before-upgrade",
        "--ttl=1d",
    ]))
    .await;
    let collections = run(g.json(&["redis", "clusters", "backup-collections", "list"])).await;
    let collection = collections[0]["name"].as_str().unwrap().to_owned();
    assert_eq!(
        collections[0]["cluster"],
        format!("projects/{PROJECT}/locations/{REGION}/clusters/orders")
    );
    let collection_id = collection.rsplit('/').next().unwrap().to_owned();
    let coll_flag = format!("--backup-collection={collection_id}");
    let backups = run(g.json(&["redis", "clusters", "backups", "list", &coll_flag])).await;
    assert_eq!(backups.as_array().map(Vec::len), Some(1), "{backups}");
    let b = run(g.json(&[
        "redis",
        "clusters",
        "backups",
        "describe",
        "before-upgrade",
        &coll_flag,
    ]))
    .await;
    assert_eq!(
        (b["state"].as_str(), b["backupType"].as_str()),
        (Some("ACTIVE"), Some("ON_DEMAND"))
    );

    let backup_name = format!("{collection}/backups/before-upgrade");
    let restored = run(g.json(&[
        "redis",
        "clusters",
        "create",
        "restored",
        &network,
        "--shard-count=1",
        &format!("--import-managed-backup={backup_name}"),
    ]))
    .await;
    assert_eq!(restored["state"], "ACTIVE");
    run(g.json(&[
        "redis",
        "clusters",
        "backups",
        "export",
        "before-upgrade",
        &coll_flag,
        "--gcs-bucket=exports",
    ]))
    .await;
    run(g.cmd(&[
        "redis",
        "clusters",
        "backups",
        "delete",
        "before-upgrade",
        &coll_flag,
        "--quiet",
    ]))
    .await;
    let backups = run(g.json(&["redis", "clusters", "backups", "list", &coll_flag])).await;
    assert_eq!(backups, json!([]));

    // CMEK as the cluster reports it (gcloud offers --kms-key only in alpha/beta).
    let key = format!("projects/{PROJECT}/locations/{REGION}/keyRings/cache/cryptoKeys/orders");
    let mut body = json!({"shardCount": 1, "kmsKey": key});
    body["pscConfigs"] =
        json!([{"network": format!("projects/{PROJECT}/global/networks/default")}]);
    t.create_cluster("sealed", body).await;
    let d = run(g.json(&["redis", "clusters", "describe", "sealed"])).await;
    assert_eq!(d["kmsKey"], key);
    assert_eq!(
        d["encryptionInfo"]["encryptionType"],
        "CUSTOMER_MANAGED_ENCRYPTION"
    );
}

/// `gcloud memorystore instances …` in the test region, as JSON.
fn instances(g: &Gcloud, args: &[&str]) -> Command {
    let mut c = g.json(&["memorystore", "instances"]);
    c.args(args).arg(format!("--location={REGION}"));
    c
}

#[tokio::test]
async fn gcloud_memorystore_instances_create_describe_list_update_delete() {
    if !installed("gcloud") {
        return;
    }
    let t = start(Opts {
        redis: true,
        cluster_mode: true,
        delay_ms: 30,
    })
    .await;
    t.require_valkey();
    let g = Gcloud::new(&t.base).await;
    let psc = format!(
        "--psc-auto-connections=network=projects/{PROJECT}/global/networks/default,projectId={PROJECT}"
    );
    let created = run(instances(
        &g,
        &[
            "create",
            "orders",
            &psc,
            "--shard-count=2",
            "--replica-count=1",
            "--node-type=standard-small",
            "--engine-version=VALKEY_8_0",
            "--labels=team=shop",
        ],
    ))
    .await;
    assert_eq!(created["state"], "ACTIVE");
    assert_eq!(created["nodeType"], "STANDARD_SMALL");
    assert_eq!(created["labels"], json!({"team": "shop"}));
    let described = run(instances(&g, &["describe", "orders"])).await;
    assert_eq!(
        described["name"],
        format!("projects/{PROJECT}/locations/{REGION}/instances/orders")
    );
    assert_eq!(described["engineVersion"], "VALKEY_8_0");
    let port = psc_connection(&described, "CONNECTION_TYPE_DISCOVERY")["port"]
        .as_u64()
        .unwrap();
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut con)
        .await
        .unwrap();

    let listed = run(instances(&g, &["list"])).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["name"], described["name"]);

    let scaled = run(instances(&g, &["update", "orders", "--shard-count=3"])).await;
    assert_eq!(
        (scaled["shardCount"].clone(), scaled["state"].clone()),
        (json!(3), json!("ACTIVE"))
    );
    let upgraded = run(instances(
        &g,
        &["update", "orders", "--engine-version=VALKEY_9_0"],
    ))
    .await;
    assert_eq!(upgraded["engineVersion"], "VALKEY_9_0");
    let got: String = redis::cmd("GET")
        .arg("k")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(got, "v", "the data survives the upgrade");
    let err = fails(instances(
        &g,
        &["update", "orders", "--engine-version=VALKEY_8_0"],
    ))
    .await;
    assert!(
        err.contains("INVALID_ARGUMENT") && err.contains("only be upgraded"),
        "{err}"
    );
    let err = fails(instances(
        &g,
        &["update", "orders", "--mode=cluster-disabled"],
    ))
    .await;
    assert!(err.contains("cannot be updated"), "{err}");
    let err = fails(instances(
        &g,
        &["update", "orders", "--shard-count=4", "--replica-count=2"],
    ))
    .await;
    assert!(err.contains("exactly 1 update_mask field"), "{err}");

    let err = fails(instances(&g, &["create", "abc", &psc, "--shard-count=1"])).await;
    assert!(
        err.contains("INVALID_ARGUMENT") && err.contains("4 to 63 characters"),
        "{err}"
    );

    run(g.cmd(&[
        "memorystore",
        "instances",
        "delete",
        "orders",
        &format!("--location={REGION}"),
        "--quiet",
    ]))
    .await;
    let err = fails(instances(&g, &["describe", "orders"])).await;
    assert!(err.contains("NOT_FOUND"), "{err}");
    assert_eq!(run(instances(&g, &["list"])).await, json!([]));
}

/// A key written on the server behind `port` (a primary takes writes).
async fn write(port: u64, key: &str, value: &str) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async(&mut con)
        .await
        .unwrap();
}

/// Waits until `key` reads `value` behind `port`, and checks that the server refuses writes as a
/// replica does.
async fn replicated_read_only(port: u64, key: &str, value: &str) {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let con = client.get_multiplexed_async_connection().await.unwrap();
    eventually(&format!("{key}={value} on {port}"), || {
        let mut con = con.clone();
        async move {
            let got: Option<String> = redis::cmd("GET")
                .arg(key)
                .query_async(&mut con)
                .await
                .unwrap();
            (got.as_deref() == Some(value)).then_some(())
        }
    })
    .await;
    let mut raw = Raw::plain(u16::try_from(port).unwrap()).await.unwrap();
    assert_eq!(
        raw.cmd(&["SET", key, "from the replica"]).await,
        "-READONLY You can't write against a read only replica."
    );
}

fn discovery(resource: &Value) -> u64 {
    resource["discoveryEndpoints"][0]["port"]
        .as_u64()
        .unwrap_or_else(|| panic!("no discovery endpoint: {resource}"))
}

/// Cross-region replication with gcloud as it is: `redis clusters create
/// --cross-cluster-replication-role/--primary-cluster`, `switchover`, `detach`,
/// `detach-secondaries`, and `memorystore instances create/update --cross-instance-replication-…`,
/// with the data following on the real servers.
#[tokio::test]
async fn gcloud_cross_region_replication_switchover_and_detach() {
    if !installed("gcloud") {
        return;
    }
    let t = start(Opts {
        redis: true,
        cluster_mode: true,
        delay_ms: 30,
    })
    .await;
    t.require_valkey();
    let g = Gcloud::new(&t.base).await;
    let network = format!("--network=projects/{PROJECT}/global/networks/default");
    let central = format!("projects/{PROJECT}/locations/{REGION}/clusters/orders");
    let east = format!("projects/{PROJECT}/locations/us-east1/clusters/orders-east");
    let europe = format!("projects/{PROJECT}/locations/europe-west1/clusters/orders-eu");
    let clusters = |args: &[&str]| {
        let mut c = g.json(&["redis", "clusters"]);
        c.args(args);
        c
    };
    let p = run(clusters(&["create", "orders", &network, "--shard-count=2"])).await;
    write(discovery(&p), "greeting", "hello").await;
    let secondary = |id: &str, region: &str, primary: &str| {
        clusters(&[
            "create",
            id,
            &network,
            &format!("--region={region}"),
            "--cross-cluster-replication-role=secondary",
            &format!("--primary-cluster={primary}"),
        ])
    };
    let s = run(secondary("orders-east", "us-east1", &central)).await;
    assert_eq!(
        s["crossClusterReplicationConfig"]["clusterRole"],
        "SECONDARY"
    );
    assert_eq!(s["shardCount"], 2, "copied from the primary");
    replicated_read_only(discovery(&s), "greeting", "hello").await;

    let err = fails(clusters(&["delete", "orders", "--quiet"])).await;
    assert!(
        err.contains("FAILED_PRECONDITION") && err.contains("detach or delete them first"),
        "{err}"
    );
    let err = fails(clusters(&["switchover", "orders"])).await;
    assert!(err.contains("is not a secondary cluster"), "{err}");

    let promoted = run(clusters(&[
        "switchover",
        "orders-east",
        "--region=us-east1",
    ]))
    .await;
    let config = &promoted["crossClusterReplicationConfig"];
    assert_eq!(config["clusterRole"], "PRIMARY");
    assert_eq!(config["secondaryClusters"][0]["cluster"], central);
    write(discovery(&s), "after", "switchover").await;
    replicated_read_only(discovery(&p), "after", "switchover").await;

    let eu = run(secondary("orders-eu", "europe-west1", &east)).await;
    replicated_read_only(discovery(&eu), "after", "switchover").await;
    let d = run(clusters(&["describe", "orders"])).await;
    assert_eq!(
        d["crossClusterReplicationConfig"]["membership"]["secondaryClusters"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{d}"
    );
    // Detach from the secondary's side, then the last secondary from the primary's side.
    let alone = run(clusters(&["detach", "orders"])).await;
    assert_eq!(
        alone["crossClusterReplicationConfig"]["clusterRole"],
        "NONE"
    );
    write(discovery(&p), "mine", "again").await;
    let last = run(clusters(&[
        "detach-secondaries",
        "orders-east",
        "--region=us-east1",
        &format!("--clusters-to-detach={europe}"),
    ]))
    .await;
    assert_eq!(last["crossClusterReplicationConfig"]["clusterRole"], "NONE");
    write(discovery(&eu), "eu", "writable").await;
    for (id, region) in [
        ("orders", REGION),
        ("orders-east", "us-east1"),
        ("orders-eu", "europe-west1"),
    ] {
        run(g.cmd(&[
            "redis",
            "clusters",
            "delete",
            id,
            &format!("--region={region}"),
            "--quiet",
        ]))
        .await;
    }

    // Memorystore for Valkey: gcloud sets the role and the lists through `update`.
    let psc = format!(
        "--psc-auto-connections=network=projects/{PROJECT}/global/networks/default,projectId={PROJECT}"
    );
    let vp = run(instances(&g, &["create", "carts", &psc, "--shard-count=1"])).await;
    write(discovery(&vp), "cart", "full").await;
    let vprim = format!("projects/{PROJECT}/locations/{REGION}/instances/carts");
    let mut c = g.json(&["memorystore", "instances"]);
    c.args([
        "create",
        "carts-east",
        &psc,
        "--location=us-east1",
        "--cross-instance-replication-config-role=secondary",
        &format!("--primary-instance={vprim}"),
    ]);
    let vs = run(c).await;
    assert_eq!(
        vs["crossInstanceReplicationConfig"]["instanceRole"],
        "SECONDARY"
    );
    replicated_read_only(discovery(&vs), "cart", "full").await;
    let east_instance = |args: &[&str]| {
        let mut c = g.json(&["memorystore", "instances"]);
        c.args(args).arg("--location=us-east1");
        c
    };
    let promoted = run(east_instance(&[
        "update",
        "carts-east",
        "--cross-instance-replication-config-role=primary",
        &format!("--cross-instance-replication-config-secondary-instances=instance={vprim}"),
    ]))
    .await;
    assert_eq!(
        promoted["crossInstanceReplicationConfig"]["instanceRole"],
        "PRIMARY"
    );
    write(discovery(&vs), "cart", "checked out").await;
    replicated_read_only(discovery(&vp), "cart", "checked out").await;
    let alone = run(east_instance(&[
        "update",
        "carts-east",
        "--cross-instance-replication-config-role=none",
    ]))
    .await;
    assert_eq!(
        alone["crossInstanceReplicationConfig"]["instanceRole"],
        "NONE"
    );
    write(discovery(&vp), "cart", "mine").await;
    run(east_instance(&["delete", "carts-east", "--quiet"])).await;
    run(instances(&g, &["delete", "carts", "--quiet"])).await;
}

fn aws(base: &str, args: &[&str]) -> Command {
    aws_service(base, "elasticache", args)
}

/// `aws SERVICE …` against the simulator with its key pair and no local configuration.
fn aws_service(base: &str, service: &str, args: &[&str]) -> Command {
    let mut c = Command::new("aws");
    c.env("AWS_ACCESS_KEY_ID", cloudsim::DEFAULT_AWS_ACCESS_KEY_ID)
        .env(
            "AWS_SECRET_ACCESS_KEY",
            cloudsim::DEFAULT_AWS_SECRET_ACCESS_KEY,
        )
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", PathBuf::from("/nonexistent"))
        .env("AWS_SHARED_CREDENTIALS_FILE", PathBuf::from("/nonexistent"))
        .args(["--endpoint-url", base, "--output", "json", service])
        .args(args);
    c
}

#[tokio::test]
async fn aws_cli_upgrades_rotates_and_snapshots() {
    if !installed("aws") {
        return;
    }
    let t = start(Opts::default()).await;
    let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let out = run(aws(
        &t.base,
        &[
            "create-replication-group",
            "--replication-group-id",
            "orders",
            "--replication-group-description",
            "orders",
            "--engine",
            "redis",
            "--engine-version",
            "7.0",
            "--cache-node-type",
            "cache.t4g.small",
            "--num-cache-clusters",
            "1",
            "--preferred-maintenance-window",
            "sun:23:00-mon:01:30",
            "--snapshot-window",
            "05:00-06:00",
            "--snapshot-retention-limit",
            "3",
            "--at-rest-encryption-enabled",
            "--kms-key-id",
            key,
            "--transit-encryption-enabled",
            "--auth-token",
            "first-auth-token-0123456789",
        ],
    ))
    .await;
    assert_eq!(out["ReplicationGroup"]["Status"], "creating");
    let rg = t.wait_rg("orders", "available").await;
    assert_eq!(rg.kms_key_id(), Some(key));
    let clusters = run(aws(&t.base, &["describe-cache-clusters"])).await;
    let c = &clusters["CacheClusters"][0];
    assert_eq!(c["PreferredMaintenanceWindow"], "sun:23:00-mon:01:30");
    assert_eq!(c["SnapshotWindow"], "05:00-06:00");
    assert_eq!(c["EngineVersion"], "7.0.7");

    let err = fails(aws(
        &t.base,
        &[
            "modify-replication-group",
            "--replication-group-id",
            "orders",
            "--preferred-maintenance-window",
            "sun:23:00-sun:23:30",
        ],
    ))
    .await;
    assert!(err.contains("InvalidParameterValue"), "{err}");

    run(aws(
        &t.base,
        &[
            "modify-replication-group",
            "--replication-group-id",
            "orders",
            "--engine-version",
            "7.1",
            "--apply-immediately",
        ],
    ))
    .await;
    t.wait_rg("orders", "available").await;
    run(aws(
        &t.base,
        &[
            "modify-replication-group",
            "--replication-group-id",
            "orders",
            "--engine",
            "valkey",
            "--engine-version",
            "8.0",
            "--apply-immediately",
        ],
    ))
    .await;
    t.wait_rg("orders", "available").await;
    let clusters = run(aws(&t.base, &["describe-cache-clusters"])).await;
    assert_eq!(clusters["CacheClusters"][0]["Engine"], "valkey");
    assert_eq!(clusters["CacheClusters"][0]["EngineVersion"], "8.0.1");
    let err = fails(aws(
        &t.base,
        &[
            "modify-replication-group",
            "--replication-group-id",
            "orders",
            "--engine-version",
            "7.2",
            "--apply-immediately",
        ],
    ))
    .await;
    assert!(err.contains("InvalidParameterCombination"), "{err}");

    let out = run(aws(
        &t.base,
        &[
            "modify-replication-group",
            "--replication-group-id",
            "orders",
            "--auth-token",
            "second-auth-token-0123456789",
            "--auth-token-update-strategy",
            "ROTATE",
            "--apply-immediately",
        ],
    ))
    .await;
    assert_eq!(
        out["ReplicationGroup"]["PendingModifiedValues"]["AuthTokenStatus"],
        "ROTATING"
    );
    t.wait_rg("orders", "available").await;
    run(aws(
        &t.base,
        &[
            "modify-replication-group",
            "--replication-group-id",
            "orders",
            "--auth-token",
            "second-auth-token-0123456789",
            "--auth-token-update-strategy",
            "SET",
            "--apply-immediately",
        ],
    ))
    .await;
    t.wait_rg("orders", "available").await;

    run(aws(
        &t.base,
        &[
            "create-snapshot",
            "--replication-group-id",
            "orders",
            "--snapshot-name",
            "manual-1",
        ],
    ))
    .await;
    t.wait_rg("orders", "available").await;
    let snaps = run(aws(
        &t.base,
        &["describe-snapshots", "--replication-group-id", "orders"],
    ))
    .await;
    assert_eq!(snaps["Snapshots"][0]["SnapshotName"], "manual-1");
    assert_eq!(snaps["Snapshots"][0]["KmsKeyId"], key);
    run(aws(
        &t.base,
        &[
            "delete-replication-group",
            "--replication-group-id",
            "orders",
            "--final-snapshot-identifier",
            "orders-final",
        ],
    ))
    .await;
    let snap = eventually("the final snapshot", || async {
        let s = run(aws(
            &t.base,
            &["describe-snapshots", "--snapshot-name", "orders-final"],
        ))
        .await;
        (s["Snapshots"][0]["SnapshotStatus"] == "available").then_some(s)
    })
    .await;
    assert_eq!(snap["Snapshots"][0]["ReplicationGroupId"], "orders");
    run(aws(
        &t.base,
        &["delete-snapshot", "--snapshot-name", "manual-1"],
    ))
    .await;
}

/// What AWS's own controller (ACK) calls besides replication groups, users and user groups,
/// through the aws CLI (whose botocore model parses every answer): STS GetCallerIdentity, cache
/// parameter groups and their parameters (paged), subnet groups, events, allowed node type
/// modifications and CopySnapshot.
#[tokio::test]
async fn aws_cli_serves_what_ack_calls() {
    if !installed("aws") {
        return;
    }
    let t = start(Opts::default()).await;
    let me = run(aws_service(&t.base, "sts", &["get-caller-identity"])).await;
    assert_eq!(me["Account"], "123456789012");
    assert_eq!(me["Arn"], "arn:aws:iam::123456789012:user/AKIDCLOUDSIM");

    let g = run(aws(
        &t.base,
        &[
            "create-cache-parameter-group",
            "--cache-parameter-group-name",
            "orders-params",
            "--cache-parameter-group-family",
            "valkey8",
            "--description",
            "orders",
        ],
    ))
    .await;
    assert_eq!(
        g["CacheParameterGroup"]["CacheParameterGroupFamily"],
        "valkey8"
    );
    run(aws(
        &t.base,
        &[
            "modify-cache-parameter-group",
            "--cache-parameter-group-name",
            "orders-params",
            "--parameter-name-values",
            "ParameterName=maxmemory-policy,ParameterValue=allkeys-lfu",
            "ParameterName=timeout,ParameterValue=600",
        ],
    ))
    .await;
    let user = run(aws(
        &t.base,
        &[
            "describe-cache-parameters",
            "--cache-parameter-group-name",
            "orders-params",
            "--source",
            "user",
        ],
    ))
    .await;
    let names: Vec<&str> = user["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["ParameterName"].as_str())
        .collect();
    assert_eq!(names, ["maxmemory-policy", "timeout"]);
    assert_eq!(user["Parameters"][1]["ParameterValue"], "600");
    assert_eq!(user["Parameters"][1]["ChangeType"], "immediate");
    let err = fails(aws(
        &t.base,
        &[
            "modify-cache-parameter-group",
            "--cache-parameter-group-name",
            "orders-params",
            "--parameter-name-values",
            "ParameterName=timeout,ParameterValue=5",
        ],
    ))
    .await;
    assert!(err.contains("InvalidParameterValue"), "{err}");
    run(aws(
        &t.base,
        &[
            "reset-cache-parameter-group",
            "--cache-parameter-group-name",
            "orders-params",
            "--reset-all-parameters",
        ],
    ))
    .await;
    // The CLI pages through every default with the Marker inside EngineDefaults.
    let defaults = run(aws(
        &t.base,
        &[
            "describe-engine-default-parameters",
            "--cache-parameter-group-family",
            "redis7",
            "--page-size",
            "20",
        ],
    ))
    .await;
    let all = defaults["EngineDefaults"]["Parameters"].as_array().unwrap();
    assert!(all.len() > 20, "{}", all.len());
    assert!(all.iter().any(|p| p["ParameterName"] == "cluster-enabled"));

    let sg = run(aws(
        &t.base,
        &[
            "create-cache-subnet-group",
            "--cache-subnet-group-name",
            "private",
            "--cache-subnet-group-description",
            "private",
            "--subnet-ids",
            "subnet-6f28c982",
            "subnet-bcd382f3",
        ],
    ))
    .await;
    assert_eq!(
        sg["CacheSubnetGroup"]["Subnets"].as_array().unwrap().len(),
        2
    );
    run(aws(
        &t.base,
        &[
            "create-replication-group",
            "--replication-group-id",
            "orders",
            "--replication-group-description",
            "orders",
            "--cache-subnet-group-name",
            "private",
            "--cache-parameter-group-name",
            "orders-params",
            "--engine",
            "valkey",
            "--engine-version",
            "8.0",
        ],
    ))
    .await;
    t.wait_rg("orders", "available").await;
    let err = fails(aws(
        &t.base,
        &[
            "delete-cache-subnet-group",
            "--cache-subnet-group-name",
            "private",
        ],
    ))
    .await;
    assert!(err.contains("CacheSubnetGroupInUse"), "{err}");
    let allowed = run(aws(
        &t.base,
        &[
            "list-allowed-node-type-modifications",
            "--replication-group-id",
            "orders",
        ],
    ))
    .await;
    assert!(
        allowed["ScaleUpModifications"]
            .as_array()
            .unwrap()
            .contains(&json!("cache.t4g.small"))
    );
    let events = run(aws(
        &t.base,
        &[
            "describe-events",
            "--source-type",
            "replication-group",
            "--source-identifier",
            "orders",
            "--duration",
            "60",
        ],
    ))
    .await;
    assert_eq!(
        events["Events"][0]["Message"],
        "Replication group orders created"
    );

    run(aws(
        &t.base,
        &[
            "create-snapshot",
            "--replication-group-id",
            "orders",
            "--snapshot-name",
            "nightly",
        ],
    ))
    .await;
    eventually("the snapshot available", || async {
        let s = run(aws(
            &t.base,
            &["describe-snapshots", "--snapshot-name", "nightly"],
        ))
        .await;
        (s["Snapshots"][0]["SnapshotStatus"] == "available").then_some(())
    })
    .await;
    let copy = run(aws(
        &t.base,
        &[
            "copy-snapshot",
            "--source-snapshot-name",
            "nightly",
            "--target-snapshot-name",
            "nightly-copy",
        ],
    ))
    .await;
    assert_eq!(copy["Snapshot"]["SnapshotStatus"], "creating");
    assert_eq!(copy["Snapshot"]["SnapshotName"], "nightly-copy");
}
