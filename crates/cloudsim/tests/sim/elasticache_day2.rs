//! Day-2 operations on ElastiCache through the official Rust SDK: engine upgrades, maintenance and
//! snapshot windows, snapshots (on demand, final, restore), encryption at rest, AUTH token
//! rotation — with the real redis-server behind each group where data must survive.

use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::types::{AuthTokenUpdateStrategyType, CacheCluster};
use reqwest::StatusCode;

use crate::common::*;

const TOKEN_1: &str = "first-auth-token-0123456789";
const TOKEN_2: &str = "second-auth-token-0123456789";
const WRONGPASS: &str = "-WRONGPASS invalid username-password pair or user is disabled.";

fn redis() -> Opts {
    Opts {
        redis: true,
        ..Opts::default()
    }
}

/// The member clusters of a group as DescribeCacheClusters shows them.
async fn members(t: &TestSim, rg: &str) -> Vec<CacheCluster> {
    let out = t
        .aws()
        .describe_cache_clusters()
        .send()
        .await
        .expect("describe cache clusters");
    out.cache_clusters()
        .iter()
        .filter(|c| c.replication_group_id() == Some(rg))
        .cloned()
        .collect()
}

/// The plaintext port of a cluster-mode-disabled group without TLS.
async fn primary_port(t: &TestSim, id: &str) -> u16 {
    let rg = t.wait_rg(id, "available").await;
    let port = rg.node_groups()[0]
        .primary_endpoint()
        .unwrap()
        .port()
        .unwrap();
    u16::try_from(port).unwrap()
}

async fn modify_error(
    t: &TestSim,
    f: impl FnOnce(
        aws_sdk_elasticache::operation::modify_replication_group::builders::ModifyReplicationGroupFluentBuilder,
    ) -> aws_sdk_elasticache::operation::modify_replication_group::builders::ModifyReplicationGroupFluentBuilder,
) -> (String, String) {
    let req = f(t
        .aws()
        .modify_replication_group()
        .replication_group_id("cache"));
    let e = req.send().await.expect_err("the service refuses it");
    (
        e.code().unwrap_or_default().to_owned(),
        e.message().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn engine_upgrades_keep_the_data_and_go_one_way() {
    let t = start(redis()).await;
    let aws = t.aws();
    aws.create_replication_group()
        .replication_group_id("cache")
        .replication_group_description("d")
        .engine("redis")
        .engine_version("7.0")
        .send()
        .await
        .expect("create redis 7.0");
    let port = primary_port(&t, "cache").await;
    let mut con = Raw::plain(port).await.unwrap();
    assert_eq!(con.cmd(&["SET", "greeting", "kept"]).await, "+OK");
    let m = members(&t, "cache").await;
    assert_eq!(
        m[0].engine_version(),
        Some("7.0.7"),
        "the service reports the patch level"
    );
    assert_eq!(
        m[0].cache_parameter_group()
            .and_then(|g| g.cache_parameter_group_name()),
        Some("default.redis7"),
        "the default group of the engine's family"
    );

    // A minor upgrade: modifying, then available, the same redis-server and data.
    t.set_delay(HOLD).await;
    let out = aws
        .modify_replication_group()
        .replication_group_id("cache")
        .engine_version("7.1")
        .apply_immediately(true)
        .send()
        .await
        .expect("upgrade to 7.1");
    assert_eq!(out.replication_group().unwrap().status(), Some("modifying"));
    assert_eq!(
        members(&t, "cache").await[0].engine_version(),
        Some("7.0.7"),
        "still the old version while modifying"
    );
    t.set_delay(0).await;
    t.wait_rg("cache", "available").await;
    assert_eq!(
        members(&t, "cache").await[0].engine_version(),
        Some("7.1.0")
    );
    assert_eq!(con.cmd(&["GET", "greeting"]).await, "kept");

    // Redis OSS to Valkey: engine and major version together; the default group follows.
    let (code, msg) = modify_error(&t, |r| r.engine("valkey").apply_immediately(true)).await;
    assert_eq!(code, "InvalidParameterCombination", "{msg}");
    assert!(msg.contains("EngineVersion"), "{msg}");
    let (code, msg) = modify_error(&t, |r| {
        r.engine("valkey")
            .engine_version("8.0")
            .cache_parameter_group_name("default.valkey7")
            .apply_immediately(true)
    })
    .await;
    assert_eq!(code, "InvalidParameterCombination", "{msg}");
    assert_eq!(
        msg,
        "Expected a parameter group of family valkey8 but found one of family valkey7"
    );
    aws.modify_replication_group()
        .replication_group_id("cache")
        .engine("valkey")
        .engine_version("8.0")
        .apply_immediately(true)
        .send()
        .await
        .expect("redis 7.1 to valkey 8.0");
    let rg = t.wait_rg("cache", "available").await;
    assert_eq!(rg.engine(), Some("valkey"));
    let m = members(&t, "cache").await;
    assert_eq!(m[0].engine(), Some("valkey"));
    assert_eq!(m[0].engine_version(), Some("8.0.1"));
    assert_eq!(
        m[0].cache_parameter_group()
            .and_then(|g| g.cache_parameter_group_name()),
        Some("default.valkey8")
    );
    assert_eq!(con.cmd(&["GET", "greeting"]).await, "kept");

    // The refused transitions.
    let (code, msg) = modify_error(&t, |r| r.engine_version("7.2").apply_immediately(true)).await;
    assert_eq!(code, "InvalidParameterCombination", "{msg}");
    assert!(msg.contains("downgrade"), "{msg}");
    let (code, msg) = modify_error(&t, |r| {
        r.engine("redis")
            .engine_version("8.0")
            .apply_immediately(true)
    })
    .await;
    assert_eq!(code, "InvalidParameterCombination", "{msg}");
    assert!(msg.contains("valkey") && msg.contains("redis"), "{msg}");
    let (code, msg) = modify_error(&t, |r| r.engine_version("8.7").apply_immediately(true)).await;
    assert_eq!(code, "InvalidParameterCombination");
    assert_eq!(msg, "Cannot find version 8.7 for valkey");
    assert_eq!(con.cmd(&["GET", "greeting"]).await, "kept");
}

#[tokio::test]
async fn creates_check_versions_and_parameter_group_families() {
    let t = start(Opts::default()).await;
    let aws = t.aws();
    let e = aws
        .create_replication_group()
        .replication_group_id("old")
        .replication_group_description("d")
        .engine("redis")
        .engine_version("7.4")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterCombination"));
    assert_eq!(e.message(), Some("Cannot find version 7.4 for redis"));
    let e = aws
        .create_replication_group()
        .replication_group_id("mismatch")
        .replication_group_description("d")
        .engine("redis")
        .engine_version("6.2")
        .cache_parameter_group_name("default.redis7")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterCombination"));
    assert_eq!(
        e.message(),
        Some("Expected a parameter group of family redis6.x but found one of family redis7")
    );
    aws.create_replication_group()
        .replication_group_id("sharded")
        .replication_group_description("d")
        .engine("valkey")
        .engine_version("8.1")
        .num_node_groups(2)
        .automatic_failover_enabled(true)
        .send()
        .await
        .expect("valkey 8.1, cluster mode enabled");
    t.wait_rg("sharded", "available").await;
    let m = members(&t, "sharded").await;
    assert_eq!(
        m[0].cache_parameter_group()
            .and_then(|g| g.cache_parameter_group_name()),
        Some("default.valkey8.cluster.on")
    );
}

#[tokio::test]
async fn maintenance_and_snapshot_windows_are_checked_and_reported() {
    let t = start(Opts::default()).await;
    let aws = t.aws();
    for (window, snapshot) in [
        ("sun:23:00-sun:23:30", "05:00-09:00"),
        ("sunday 03:00", "05:00-09:00"),
        ("sun:23:00-mon:01:30", "5-9"),
        ("sun:24:00-mon:01:30", "05:00-09:00"),
    ] {
        let e = aws
            .create_replication_group()
            .replication_group_id("windows")
            .replication_group_description("d")
            .preferred_maintenance_window(window)
            .snapshot_window(snapshot)
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            e.code(),
            Some("InvalidParameterValue"),
            "{window} {snapshot}: {e:?}"
        );
    }
    aws.create_replication_group()
        .replication_group_id("windows")
        .replication_group_description("d")
        .preferred_maintenance_window("sun:23:00-mon:01:30")
        .snapshot_window("05:00-09:00")
        .snapshot_retention_limit(3)
        .send()
        .await
        .expect("create with windows");
    let rg = t.wait_rg("windows", "available").await;
    assert_eq!(rg.snapshot_window(), Some("05:00-09:00"));
    let m = members(&t, "windows").await;
    assert_eq!(
        m[0].preferred_maintenance_window(),
        Some("sun:23:00-mon:01:30")
    );
    assert_eq!(m[0].snapshot_window(), Some("05:00-09:00"));

    // Window changes need no provisioning: they apply at once.
    let out = aws
        .modify_replication_group()
        .replication_group_id("windows")
        .preferred_maintenance_window("sat:22:00-sat:23:00")
        .snapshot_window("01:00-02:00")
        .send()
        .await
        .expect("modify windows");
    let rg = out.replication_group().unwrap();
    assert_eq!(rg.status(), Some("available"));
    assert_eq!(rg.snapshot_window(), Some("01:00-02:00"));
    assert_eq!(
        members(&t, "windows").await[0].preferred_maintenance_window(),
        Some("sat:22:00-sat:23:00")
    );
    let e = aws
        .modify_replication_group()
        .replication_group_id("windows")
        .preferred_maintenance_window("sat:22:00-sat:22:59")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"));
}

#[tokio::test]
async fn snapshots_are_taken_listed_restored_with_their_data_and_deleted() {
    let t = start(redis()).await;
    let aws = t.aws();
    aws.create_replication_group()
        .replication_group_id("source")
        .replication_group_description("d")
        .engine("valkey")
        .send()
        .await
        .unwrap();
    let port = primary_port(&t, "source").await;
    let mut con = Raw::plain(port).await.unwrap();
    assert_eq!(con.cmd(&["SET", "order:1", "paid"]).await, "+OK");
    assert_eq!(con.cmd(&["SET", "order:2", "shipped"]).await, "+OK");

    t.set_delay(HOLD).await;
    let out = aws
        .create_snapshot()
        .replication_group_id("source")
        .snapshot_name("Before-Upgrade")
        .send()
        .await
        .expect("create snapshot");
    let snap = out.snapshot().unwrap();
    assert_eq!(
        snap.snapshot_name(),
        Some("before-upgrade"),
        "stored lowercase"
    );
    assert_eq!(snap.snapshot_status(), Some("creating"));
    assert_eq!(snap.snapshot_source(), Some("manual"));
    assert_eq!(snap.replication_group_id(), Some("source"));
    assert_eq!(
        t.wait_rg("source", "snapshotting").await.status(),
        Some("snapshotting"),
        "the group shows the snapshot under way"
    );
    let e = aws
        .modify_replication_group()
        .replication_group_id("source")
        .snapshot_retention_limit(2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidReplicationGroupState"));
    t.set_delay(0).await;
    t.wait_rg("source", "available").await;
    let snap = eventually("the snapshot to be available", || async {
        let out = aws
            .describe_snapshots()
            .snapshot_name("before-upgrade")
            .send()
            .await
            .unwrap();
        let s = out.snapshots()[0].clone();
        (s.snapshot_status() == Some("available")).then_some(s)
    })
    .await;
    assert_eq!(snap.engine(), Some("valkey"));
    assert_eq!(snap.num_node_groups(), Some(1));
    assert_eq!(
        snap.arn(),
        Some("arn:aws:elasticache:us-east-1:123456789012:snapshot:before-upgrade")
    );
    let by_group = aws
        .describe_snapshots()
        .replication_group_id("source")
        .send()
        .await
        .unwrap();
    assert_eq!(by_group.snapshots().len(), 1);
    let e = aws
        .create_snapshot()
        .replication_group_id("source")
        .snapshot_name("before-upgrade")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("SnapshotAlreadyExistsFault"));

    // Writes after the snapshot are not in it.
    assert_eq!(con.cmd(&["SET", "order:3", "late"]).await, "+OK");
    t.set_delay(HOLD).await;
    aws.create_replication_group()
        .replication_group_id("restored")
        .replication_group_description("d")
        .engine("valkey")
        .snapshot_name("before-upgrade")
        .send()
        .await
        .expect("create from the snapshot");
    let s = aws
        .describe_snapshots()
        .snapshot_name("before-upgrade")
        .send()
        .await
        .unwrap();
    assert_eq!(s.snapshots()[0].snapshot_status(), Some("restoring"));
    t.set_delay(0).await;
    let restored_port = primary_port(&t, "restored").await;
    let mut restored = Raw::plain(restored_port).await.unwrap();
    assert_eq!(restored.cmd(&["GET", "order:1"]).await, "paid");
    assert_eq!(restored.cmd(&["GET", "order:2"]).await, "shipped");
    assert_eq!(restored.cmd(&["GET", "order:3"]).await, "$-1");
    eventually("the snapshot available again", || async {
        let out = aws
            .describe_snapshots()
            .snapshot_name("before-upgrade")
            .send()
            .await
            .unwrap();
        (out.snapshots()[0].snapshot_status() == Some("available")).then_some(())
    })
    .await;

    let e = aws
        .create_replication_group()
        .replication_group_id("nothing")
        .replication_group_description("d")
        .snapshot_name("no-such-snapshot")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("SnapshotNotFoundFault"));
    let e = aws
        .create_replication_group()
        .replication_group_id("wider")
        .replication_group_description("d")
        .engine("valkey")
        .num_node_groups(3)
        .automatic_failover_enabled(true)
        .snapshot_name("before-upgrade")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterCombination"), "{e:?}");

    let out = aws
        .delete_snapshot()
        .snapshot_name("before-upgrade")
        .send()
        .await
        .expect("delete snapshot");
    assert_eq!(out.snapshot().unwrap().snapshot_status(), Some("deleting"));
    eventually("the snapshot gone", || async {
        let out = aws
            .describe_snapshots()
            .snapshot_name("before-upgrade")
            .send()
            .await
            .ok()?;
        out.snapshots().is_empty().then_some(())
    })
    .await;
    let e = aws
        .delete_snapshot()
        .snapshot_name("before-upgrade")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("SnapshotNotFoundFault"));
}

#[tokio::test]
async fn a_final_snapshot_outlives_its_group_and_restores_it() {
    let t = start(redis()).await;
    let aws = t.aws();
    aws.create_replication_group()
        .replication_group_id("doomed")
        .replication_group_description("d")
        .send()
        .await
        .unwrap();
    let port = primary_port(&t, "doomed").await;
    assert_eq!(
        Raw::plain(port)
            .await
            .unwrap()
            .cmd(&["SET", "k", "last words"])
            .await,
        "+OK"
    );
    aws.create_snapshot()
        .replication_group_id("doomed")
        .snapshot_name("taken")
        .send()
        .await
        .unwrap();
    eventually("the group available after its snapshot", || async {
        let rg = aws
            .describe_replication_groups()
            .replication_group_id("doomed")
            .send()
            .await
            .unwrap();
        (rg.replication_groups()[0].status() == Some("available")).then_some(())
    })
    .await;
    let e = aws
        .delete_replication_group()
        .replication_group_id("doomed")
        .final_snapshot_identifier("taken")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("SnapshotAlreadyExistsFault"));
    assert_eq!(
        t.wait_rg("doomed", "available").await.status(),
        Some("available"),
        "a refused delete leaves the group alone"
    );

    let out = aws
        .delete_replication_group()
        .replication_group_id("doomed")
        .final_snapshot_identifier("doomed-final")
        .send()
        .await
        .expect("delete with a final snapshot");
    assert_eq!(out.replication_group().unwrap().status(), Some("deleting"));
    eventually("the group gone", || async {
        let e = aws
            .describe_replication_groups()
            .replication_group_id("doomed")
            .send()
            .await
            .err()?;
        (e.code() == Some("ReplicationGroupNotFoundFault")).then_some(())
    })
    .await;
    let snap = eventually("the final snapshot available", || async {
        let out = aws
            .describe_snapshots()
            .snapshot_name("doomed-final")
            .send()
            .await
            .ok()?;
        let s = out.snapshots().first()?.clone();
        (s.snapshot_status() == Some("available")).then_some(s)
    })
    .await;
    assert_eq!(snap.replication_group_id(), Some("doomed"));
    aws.create_replication_group()
        .replication_group_id("reborn")
        .replication_group_description("d")
        .snapshot_name("doomed-final")
        .send()
        .await
        .unwrap();
    let port = primary_port(&t, "reborn").await;
    assert_eq!(
        Raw::plain(port).await.unwrap().cmd(&["GET", "k"]).await,
        "last words"
    );
}

#[tokio::test]
async fn rdb_files_in_s3_seed_a_new_group() {
    let t = start(redis()).await;
    let aws = t.aws();
    aws.create_replication_group()
        .replication_group_id("origin")
        .replication_group_description("d")
        .send()
        .await
        .unwrap();
    let port = primary_port(&t, "origin").await;
    assert_eq!(
        Raw::plain(port)
            .await
            .unwrap()
            .cmd(&["SET", "from", "s3"])
            .await,
        "+OK"
    );
    // An RDB file of the group, put where a customer would upload it.
    let rdb = t
        .http
        .get(format!(
            "{}/_cloudsim/clusters/rdb?provider=aws&region=us-east-1&id=origin",
            t.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(rdb.status(), StatusCode::OK);
    let rdb = rdb.bytes().await.unwrap();
    assert!(rdb.starts_with(b"REDIS"), "an RDB file");
    let put = t
        .http
        .put(format!(
            "{}/_cloudsim/storage/s3/shop-backups/origin/0001.rdb",
            t.base
        ))
        .body(rdb)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);

    let e = aws
        .create_replication_group()
        .replication_group_id("missing")
        .replication_group_description("d")
        .snapshot_arns("arn:aws:s3:::shop-backups/origin/none.rdb")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"), "{e:?}");
    aws.create_replication_group()
        .replication_group_id("seeded")
        .replication_group_description("d")
        .snapshot_arns("arn:aws:s3:::shop-backups/origin/0001.rdb")
        .send()
        .await
        .expect("create from S3");
    let port = primary_port(&t, "seeded").await;
    assert_eq!(
        Raw::plain(port).await.unwrap().cmd(&["GET", "from"]).await,
        "s3"
    );
}

#[tokio::test]
async fn encryption_at_rest_takes_a_kms_key_only_when_on() {
    let t = start(Opts::default()).await;
    let aws = t.aws();
    let key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let e = aws
        .create_replication_group()
        .replication_group_id("plain")
        .replication_group_description("d")
        .engine("redis")
        .kms_key_id(key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterCombination"), "{e:?}");
    let e = aws
        .create_replication_group()
        .replication_group_id("plain")
        .replication_group_description("d")
        .at_rest_encryption_enabled(true)
        .kms_key_id("not a key")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"), "{e:?}");
    aws.create_replication_group()
        .replication_group_id("sealed")
        .replication_group_description("d")
        .engine("redis")
        .at_rest_encryption_enabled(true)
        .kms_key_id(key)
        .send()
        .await
        .expect("create with a KMS key");
    let rg = t.wait_rg("sealed", "available").await;
    assert_eq!(rg.at_rest_encryption_enabled(), Some(true));
    assert_eq!(rg.kms_key_id(), Some(key));
    aws.create_snapshot()
        .replication_group_id("sealed")
        .snapshot_name("sealed-snap")
        .send()
        .await
        .unwrap();
    let s = aws
        .describe_snapshots()
        .snapshot_name("sealed-snap")
        .send()
        .await
        .unwrap();
    assert_eq!(
        s.snapshots()[0].kms_key_id(),
        Some(key),
        "a snapshot is encrypted with its group's key"
    );
}

#[tokio::test]
async fn auth_tokens_rotate_with_both_accepted_then_set_to_the_new_one() {
    let t = start(redis()).await;
    let aws = t.aws();
    let e = aws
        .create_replication_group()
        .replication_group_id("cache")
        .replication_group_description("d")
        .transit_encryption_enabled(true)
        .auth_token("token-with-a-star*-0123456789")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some("InvalidParameterValue"),
        "CreateReplicationGroup allows only ! & # $ ^ < > - besides letters and digits"
    );
    aws.create_replication_group()
        .replication_group_id("cache")
        .replication_group_description("d")
        .transit_encryption_enabled(true)
        .auth_token(TOKEN_1)
        .send()
        .await
        .unwrap();
    let rg = t.wait_rg("cache", "available").await;
    assert_eq!(rg.auth_token_enabled(), Some(true));
    let port = u16::try_from(
        rg.node_groups()[0]
            .primary_endpoint()
            .unwrap()
            .port()
            .unwrap(),
    )
    .unwrap();
    let ca = t.ca_pem();
    let auth = |token: &'static str| {
        let ca = ca.clone();
        async move {
            Raw::tls(port, &ca)
                .await
                .unwrap()
                .cmd(&["AUTH", token])
                .await
        }
    };
    assert_eq!(auth(TOKEN_1).await, "+OK");

    let (code, _) = modify_error(&t, |r| {
        r.auth_token(TOKEN_2)
            .auth_token_update_strategy(AuthTokenUpdateStrategyType::Set)
            .apply_immediately(true)
    })
    .await;
    assert_eq!(
        code, "InvalidParameterCombination",
        "SET is allowed only after ROTATE"
    );
    let (code, _) = modify_error(&t, |r| {
        r.auth_token_update_strategy(AuthTokenUpdateStrategyType::Rotate)
            .apply_immediately(true)
    })
    .await;
    assert_eq!(code, "InvalidParameterValue", "a strategy needs a token");
    let (code, _) = modify_error(&t, |r| {
        r.auth_token("has-an-at-sign@-0123456789")
            .apply_immediately(true)
    })
    .await;
    assert_eq!(code, "InvalidParameterValue");

    // ROTATE: the old and the new token both open the door.
    t.set_delay(HOLD).await;
    let out = aws
        .modify_replication_group()
        .replication_group_id("cache")
        .auth_token(TOKEN_2)
        .auth_token_update_strategy(AuthTokenUpdateStrategyType::Rotate)
        .apply_immediately(true)
        .send()
        .await
        .expect("rotate");
    let rg = out.replication_group().unwrap();
    assert_eq!(rg.status(), Some("modifying"));
    assert_eq!(
        rg.pending_modified_values()
            .and_then(|p| p.auth_token_status())
            .map(|s| s.as_str()),
        Some("ROTATING")
    );
    t.set_delay(0).await;
    t.wait_rg("cache", "available").await;
    assert_eq!(auth(TOKEN_1).await, "+OK");
    assert_eq!(auth(TOKEN_2).await, "+OK");

    // SET: only the new one.
    t.set_delay(HOLD).await;
    let out = aws
        .modify_replication_group()
        .replication_group_id("cache")
        .auth_token(TOKEN_2)
        .auth_token_update_strategy(AuthTokenUpdateStrategyType::Set)
        .apply_immediately(true)
        .send()
        .await
        .expect("set");
    assert_eq!(
        out.replication_group()
            .unwrap()
            .pending_modified_values()
            .and_then(|p| p.auth_token_status())
            .map(|s| s.as_str()),
        Some("SETTING")
    );
    t.set_delay(0).await;
    let rg = t.wait_rg("cache", "available").await;
    assert!(rg.auth_token_last_modified_date().is_some());
    assert_eq!(auth(TOKEN_1).await, WRONGPASS);
    assert_eq!(auth(TOKEN_2).await, "+OK");
    let (code, _) = modify_error(&t, |r| {
        r.auth_token(TOKEN_1)
            .auth_token_update_strategy(AuthTokenUpdateStrategyType::Set)
            .apply_immediately(true)
    })
    .await;
    assert_eq!(
        code, "InvalidParameterCombination",
        "a second SET needs a new ROTATE"
    );
    let (code, _) = modify_error(&t, |r| {
        r.auth_token_update_strategy(AuthTokenUpdateStrategyType::Delete)
            .apply_immediately(true)
    })
    .await;
    assert_eq!(
        code, "InvalidParameterCombination",
        "DELETE only when moving to RBAC"
    );
}
