//! The day-2 calls of both providers against the simulator (issue 13): engine upgrades,
//! maintenance windows, backups, final backups and restores with the real data, encryption at
//! rest, AUTH token rotation — through `changes()`/`apply()` as the controller drives them, and
//! the backup calls of the provider trait.

mod common;

use std::sync::Arc;
use std::time::Duration;

use cache_operator_api::cluster::RedisClusterSpec;
use cache_operator_api::model::{AuthToken, AwsCluster, BackupPlan, DesiredCluster, GcpCluster};
use cache_operator_cloud::ErrorClass;
use cache_operator_cloud::aws::{AwsClients, AwsClusters};
use cache_operator_cloud::error::NoObserver;
use cache_operator_cloud::gcp::memorystore::Memorystore;
use cache_operator_cloud::gcp::{GcpAuth, GcpClusters, GoogleRest};
use cache_operator_cloud::provider::{
    Change, ClusterState, Clusters, FinalBackup, ObservedCluster, OperationState, Owner, Progress,
    TokenStrategy,
};
use redis::AsyncCommands;
use serde_json::{Value, json};

use common::{eventually, sim};

fn owner() -> Owner {
    Owner {
        uid: "0b6c2a4e-1111-4222-8333-444455556666".into(),
        namespace: "shop".into(),
        name: "orders".into(),
        generation: 1,
        attempt: 0,
    }
}

/// A desired cluster of one cloud.
trait OfCloud: Sized {
    fn of(d: DesiredCluster) -> Option<Self>;
}

impl OfCloud for GcpCluster {
    fn of(d: DesiredCluster) -> Option<Self> {
        match d {
            DesiredCluster::Gcp(c) => Some(c),
            DesiredCluster::Aws(_) => None,
        }
    }
}

impl OfCloud for AwsCluster {
    fn of(d: DesiredCluster) -> Option<Self> {
        match d {
            DesiredCluster::Aws(c) => Some(c),
            DesiredCluster::Gcp(_) => None,
        }
    }
}

fn desired<C: OfCloud>(spec: Value, name: &str) -> C {
    let spec: RedisClusterSpec = serde_json::from_value(spec).unwrap();
    C::of(spec.desired(name).unwrap()).expect("a spec of this cloud")
}

async fn available<C, P: Clusters<C>>(p: &P, d: &C) -> ObservedCluster {
    eventually("the cluster to be available", || async {
        p.get(d)
            .await
            .unwrap()
            .filter(|o| o.state == ClusterState::Available)
    })
    .await
}

/// Applies the provider's changes one at a time, as the controller does, until none is left.
async fn converge<C, P: Clusters<C>>(p: &P, d: &C) -> Vec<Change> {
    let mut applied = Vec::new();
    for _ in 0..10 {
        let observed = available(p, d).await;
        let Some(change) = p.changes(d, &observed).into_iter().next() else {
            return applied;
        };
        let progress = p
            .apply(d, &change, &owner())
            .await
            .unwrap_or_else(|e| panic!("{change:?}: {e}"));
        if let Progress::Operation(op) = progress {
            done(p, &op).await;
        }
        applied.push(change);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no convergence after {applied:?}")
}

async fn done<C, P: Clusters<C>>(p: &P, op: &str) {
    let state = eventually("the operation to finish", || async {
        match p.operation(op).await.unwrap() {
            OperationState::Running => None,
            other => Some(other),
        }
    })
    .await;
    assert_eq!(state, OperationState::Done, "{op}");
}

/// A plaintext Redis connection to an endpoint of the simulator.
async fn redis_at(o: &ObservedCluster) -> redis::aio::MultiplexedConnection {
    let e = &o.discovery[0];
    redis::Client::open(format!("redis://{}:{}/", e.host, e.port))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn gcp(sim: &cloudsim::Running) -> GcpClusters {
    let rest = GoogleRest::new(GcpAuth::Anonymous, Arc::new(NoObserver));
    GcpClusters::new(Memorystore::new(rest, sim.base_url()))
}

fn gcp_spec(extra: Value) -> Value {
    let mut spec = json!({
        "provider": "gcp", "region": "us-central1", "nodeType": "redis-standard-small",
        "shardCount": 1, "authMode": "disabled", "transitEncryption": false,
        "gcp": {"project": "shop-prod", "network": "projects/shop-prod/global/networks/default"}
    });
    merge(&mut spec, extra);
    spec
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

#[tokio::test]
async fn gcp_windows_backups_and_keys_reach_the_cloud_and_converge() {
    let sim = sim(false).await;
    let p = gcp(&sim);
    let key = "projects/shop-prod/locations/us-central1/keyRings/cache/cryptoKeys/orders";
    let d = desired(
        gcp_spec(json!({
            "maintenanceWindow": {"day": "sunday", "startTime": "03:00"},
            "gcp": {"automatedBackup": {"startTime": "05:00", "retentionDays": 7}, "kmsKey": key}
        })),
        "orders",
    );
    let created = p.create(&d, &owner()).await.unwrap();
    let Progress::Operation(op) = created.progress else {
        panic!()
    };
    done(&p, &op).await;
    let o = available(&p, &d).await;
    let g = o.gcp.clone().unwrap();
    assert_eq!(g.maintenance.window.as_deref(), Some("SUNDAY 03:00 UTC"));
    assert_eq!(g.kms_key.as_deref(), Some(key));
    assert_eq!(g.encryption.as_deref(), Some("CUSTOMER_MANAGED_ENCRYPTION"));
    let b = g.automated_backup.unwrap();
    assert!(
        b.enabled && b.start_hour == 5 && b.retention_days == 7,
        "{b:?}"
    );
    assert_eq!(
        p.changes(&d, &o),
        vec![],
        "what was created is what the spec asks"
    );

    let moved = desired(
        gcp_spec(json!({
            "maintenanceWindow": {"day": "wednesday", "startTime": "22:00"},
            "gcp": {"automatedBackup": {"enabled": false}, "kmsKey": key}
        })),
        "orders",
    );
    assert_eq!(
        converge(&p, &moved).await,
        vec![Change::MaintenanceWindow, Change::AutomatedBackup]
    );
    let g = available(&p, &moved).await.gcp.unwrap();
    assert_eq!(g.maintenance.window.as_deref(), Some("WEDNESDAY 22:00 UTC"));
    assert!(!g.automated_backup.unwrap().enabled);

    // On-demand, then final: a backup the delete waits for; both outlive the cluster.
    let Progress::Operation(op) = p.backup(&moved, "before-upgrade").await.unwrap() else {
        panic!()
    };
    done(&p, &op).await;
    let e = p.backup(&moved, "before-upgrade").await.unwrap_err();
    assert_eq!(e.class, ErrorClass::AlreadyExists, "{e}");
    let name = BackupPlan::final_backup_name("orders", &owner().uid);
    let FinalBackup::Before(Progress::Operation(op)) =
        p.final_backup(&moved, &owner(), &name).await.unwrap()
    else {
        panic!("gcp takes the final backup before the delete")
    };
    assert_eq!(
        p.final_backup(&moved, &owner(), &name).await.unwrap(),
        FinalBackup::Before(Progress::Started),
        "asking again finds the backup under way"
    );
    done(&p, &op).await;
    let Progress::Operation(op) = p.delete(&moved, &owner()).await.unwrap() else {
        panic!()
    };
    done(&p, &op).await;
    assert!(p.get(&moved).await.unwrap().is_none());
    let backups = p.backups(&moved).await.unwrap();
    let names: Vec<&str> = backups.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["before-upgrade", name.as_str()]);
    assert!(
        backups.iter().all(|b| b.ready && !b.automated),
        "{backups:?}"
    );
    assert!(backups[1].resource.ends_with(&format!("/backups/{name}")));
    sim.shutdown().await;
}

#[tokio::test]
async fn gcp_a_cluster_restored_from_the_final_backup_has_its_data() {
    let sim = sim(true).await;
    let p = gcp(&sim);
    let d = desired(gcp_spec(json!({})), "orders");
    let Progress::Operation(op) = p.create(&d, &owner()).await.unwrap().progress else {
        panic!()
    };
    done(&p, &op).await;
    let mut con = redis_at(&available(&p, &d).await).await;
    let _: () = con.set("order:1", "paid").await.unwrap();

    let name = BackupPlan::final_backup_name("orders", &owner().uid);
    let FinalBackup::Before(Progress::Operation(op)) =
        p.final_backup(&d, &owner(), &name).await.unwrap()
    else {
        panic!()
    };
    done(&p, &op).await;
    let Progress::Operation(op) = p.delete(&d, &owner()).await.unwrap() else {
        panic!()
    };
    done(&p, &op).await;
    let backup = p.backups(&d).await.unwrap().remove(0).resource;

    let restored = desired(
        gcp_spec(json!({"gcp": {"restoreFrom": {"backup": backup}}})),
        "orders-restored",
    );
    let Progress::Operation(op) = p.create(&restored, &owner()).await.unwrap().progress else {
        panic!()
    };
    done(&p, &op).await;
    let mut con = redis_at(&available(&p, &restored).await).await;
    let v: Option<String> = con.get("order:1").await.unwrap();
    assert_eq!(v.as_deref(), Some("paid"));
    sim.shutdown().await;
}

async fn aws(sim: &cloudsim::Running) -> AwsClusters {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            cloudsim::DEFAULT_AWS_ACCESS_KEY_ID,
            cloudsim::DEFAULT_AWS_SECRET_ACCESS_KEY,
            None,
            None,
            "test",
        ))
        .load()
        .await;
    AwsClusters::new(AwsClients::from_config(
        conf,
        Some(sim.base_url().to_owned()),
        Arc::new(NoObserver),
    ))
}

fn aws_spec(extra: Value) -> Value {
    let mut spec = json!({
        "provider": "aws", "region": "us-east-1", "nodeType": "cache.t4g.small",
        "shardCount": 1, "replicasPerShard": 0, "authMode": "disabled", "transitEncryption": false,
        "aws": {"engine": "redis", "engineVersion": "7.0", "clusterMode": "disabled"}
    });
    merge(&mut spec, extra);
    spec
}

#[tokio::test]
async fn aws_upgrades_from_redis_7_0_to_7_1_to_valkey_8_0_with_the_data() {
    let sim = sim(true).await;
    let p = aws(&sim).await;
    let d = desired(aws_spec(json!({})), "sessions");
    p.create(&d, &owner()).await.unwrap();
    let o = available(&p, &d).await;
    let a = o.aws.clone().unwrap();
    assert_eq!(a.engine_version.as_deref(), Some("7.0.7"));
    assert_eq!(a.parameter_group.as_deref(), Some("default.redis7"));
    assert_eq!(p.changes(&d, &o), vec![], "7.0.7 is the 7.0 the spec names");
    let mut con = redis_at(&o).await;
    let _: () = con.set("session:1", "alice").await.unwrap();

    let minor = desired(
        aws_spec(json!({"aws": {"engineVersion": "7.1"}})),
        "sessions",
    );
    assert_eq!(converge(&p, &minor).await, vec![Change::EngineVersion]);
    let a = available(&p, &minor).await.aws.unwrap();
    assert_eq!(a.engine_version.as_deref(), Some("7.1.0"));

    let valkey = desired(
        aws_spec(json!({"aws": {"engine": "valkey", "engineVersion": "8.0"}})),
        "sessions",
    );
    assert_eq!(converge(&p, &valkey).await, vec![Change::EngineVersion]);
    let o = available(&p, &valkey).await;
    let a = o.aws.clone().unwrap();
    assert_eq!(
        (
            a.engine.as_str(),
            a.engine_version.as_deref(),
            a.parameter_group.as_deref()
        ),
        ("valkey", Some("8.0.1"), Some("default.valkey8")),
        "the default parameter group follows the engine family"
    );
    let v: Option<String> = redis_at(&o).await.get("session:1").await.unwrap();
    assert_eq!(
        v.as_deref(),
        Some("alice"),
        "the data survives both upgrades"
    );

    // A downgrade the API server would refuse is also refused by the cloud.
    let down = desired(
        aws_spec(json!({"aws": {"engine": "valkey", "engineVersion": "7.2"}})),
        "sessions",
    );
    let e = p
        .apply(&down, &Change::EngineVersion, &owner())
        .await
        .unwrap_err();
    assert_eq!(e.class, ErrorClass::InvalidArgument, "{e}");
    assert!(e.message.contains("downgrade"), "{e}");
    sim.shutdown().await;
}

#[tokio::test]
async fn aws_windows_and_encryption_reach_the_cloud_and_converge() {
    let sim = sim(false).await;
    let p = aws(&sim).await;
    let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let d = desired(
        aws_spec(json!({
            "maintenanceWindow": {"day": "sunday", "startTime": "23:00", "duration": "150m"},
            "aws": {"snapshotWindow": "05:00-06:00", "snapshotRetentionLimit": 3, "kmsKeyId": key}
        })),
        "sessions",
    );
    p.create(&d, &owner()).await.unwrap();
    let o = available(&p, &d).await;
    let a = o.aws.clone().unwrap();
    assert_eq!(a.maintenance.window.as_deref(), Some("sun:23:00-mon:01:30"));
    assert_eq!(a.snapshot_window.as_deref(), Some("05:00-06:00"));
    assert!(a.at_rest_encryption);
    assert_eq!(a.kms_key_id.as_deref(), Some(key));
    assert_eq!(p.changes(&d, &o), vec![]);

    let moved = desired(
        aws_spec(json!({
            "maintenanceWindow": {"day": "saturday", "startTime": "22:00"},
            "aws": {"snapshotWindow": "01:00-02:00", "snapshotRetentionLimit": 3, "kmsKeyId": key}
        })),
        "sessions",
    );
    assert_eq!(
        converge(&p, &moved).await,
        vec![Change::MaintenanceWindow, Change::SnapshotWindow]
    );
    let a = available(&p, &moved).await.aws.unwrap();
    assert_eq!(a.maintenance.window.as_deref(), Some("sat:22:00-sat:23:00"));

    // A node change that waits for the window shows as pending, with the window's next opening.
    let bigger = desired(
        aws_spec(json!({"aws": {"engineVersion": "7.1"}})),
        "sessions",
    );
    let client = aws_sdk_elasticache::Client::from_conf(
        aws_sdk_elasticache::Config::builder()
            .behavior_version(aws_sdk_elasticache::config::BehaviorVersion::latest())
            .region(aws_sdk_elasticache::config::Region::new("us-east-1"))
            .endpoint_url(sim.base_url())
            .credentials_provider(aws_credential_types::Credentials::new(
                cloudsim::DEFAULT_AWS_ACCESS_KEY_ID,
                cloudsim::DEFAULT_AWS_SECRET_ACCESS_KEY,
                None,
                None,
                "test",
            ))
            .build(),
    );
    client
        .modify_replication_group()
        .replication_group_id("sessions")
        .engine_version("7.1")
        .send()
        .await
        .unwrap();
    let m = available(&p, &bigger).await.aws.unwrap().maintenance;
    assert_eq!(m.pending, ["EngineVersion 7.1"]);
    let start: jiff::Timestamp = m.scheduled_start.unwrap().parse().unwrap();
    let end: jiff::Timestamp = m.scheduled_end.unwrap().parse().unwrap();
    assert_eq!(
        start.to_zoned(jiff::tz::TimeZone::UTC).weekday(),
        jiff::civil::Weekday::Saturday
    );
    assert_eq!(end.duration_since(start).as_secs(), 3600);
    sim.shutdown().await;
}

#[tokio::test]
async fn aws_snapshots_final_snapshot_and_restore_with_the_data() {
    let sim = sim(true).await;
    let p = aws(&sim).await;
    let d = desired(aws_spec(json!({})), "sessions");
    p.create(&d, &owner()).await.unwrap();
    let _: () = redis_at(&available(&p, &d).await)
        .await
        .set("cart", "3 items")
        .await
        .unwrap();

    assert_eq!(p.backup(&d, "nightly-1").await.unwrap(), Progress::Started);
    let e = eventually("the group busy with its snapshot", || async {
        p.backup(&d, "nightly-2").await.err()
    })
    .await;
    assert_eq!(e.class, ErrorClass::FailedPrecondition, "{e}");
    available(&p, &d).await;
    let name = BackupPlan::final_backup_name("sessions", &owner().uid);
    assert_eq!(
        p.final_backup(&d, &owner(), &name).await.unwrap(),
        FinalBackup::WithDelete(Progress::Started)
    );
    eventually("the group gone", || async {
        p.get(&d).await.unwrap().is_none().then_some(())
    })
    .await;
    let backups = eventually("both snapshots available", || async {
        let b = p.backups(&d).await.unwrap();
        (b.len() == 2 && b.iter().all(|b| b.ready)).then_some(b)
    })
    .await;
    assert_eq!(
        backups.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(),
        ["nightly-1", name.as_str()]
    );
    assert!(backups[1].resource.ends_with(&format!(":snapshot:{name}")));

    let restored = desired(
        aws_spec(json!({"aws": {"restoreFrom": {"snapshotName": name}}})),
        "sessions-restored",
    );
    p.create(&restored, &owner()).await.unwrap();
    let v: Option<String> = redis_at(&available(&p, &restored).await)
        .await
        .get("cart")
        .await
        .unwrap();
    assert_eq!(v.as_deref(), Some("3 items"));
    sim.shutdown().await;
}

#[tokio::test]
async fn aws_auth_tokens_are_set_at_create_and_rotated_then_set() {
    let sim = sim(false).await;
    let p = aws(&sim).await;
    let spec = aws_spec(json!({"authMode": "token", "transitEncryption": true}));
    let bare: AwsCluster = desired(spec, "legacy");
    let e = p.create(&bare, &owner()).await.unwrap_err();
    assert_eq!(e.code, "AuthTokenMissing", "{e}");
    let with =
        |d: &AwsCluster, token: &str| d.clone().with_auth_token(AuthToken::new(token).unwrap());
    let first = with(&bare, &"a".repeat(32));
    p.create(&first, &owner()).await.unwrap();
    let a = available(&p, &first).await.aws.unwrap();
    assert!(a.auth_token_enabled);
    assert!(a.auth_token_last_modified.is_some());

    let second = with(&bare, &"b".repeat(32));
    let e = p
        .apply(&second, &Change::AuthToken(TokenStrategy::Set), &owner())
        .await
        .unwrap_err();
    assert_eq!(
        e.class,
        ErrorClass::InvalidArgument,
        "SET comes after ROTATE: {e}"
    );
    p.apply(&second, &Change::AuthToken(TokenStrategy::Rotate), &owner())
        .await
        .unwrap();
    let status = p
        .get(&second)
        .await
        .unwrap()
        .unwrap()
        .aws
        .unwrap()
        .auth_token_status;
    assert_eq!(status.as_deref(), Some("ROTATING"));
    available(&p, &second).await;
    p.apply(&second, &Change::AuthToken(TokenStrategy::Set), &owner())
        .await
        .unwrap();
    let a = available(&p, &second).await.aws.unwrap();
    assert_eq!(a.auth_token_status, None);
    sim.shutdown().await;
}
