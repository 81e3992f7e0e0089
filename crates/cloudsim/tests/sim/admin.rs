//! The admin API: counters, fault injection, tunables and reset.

use std::time::Instant;

use aws_sdk_elasticache::error::ProvideErrorMetadata;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn counters_count_by_api_operation_and_outcome() {
    let t = start(Opts::default()).await;
    let parent = format!("/v1/projects/{PROJECT}/locations/{REGION}");
    t.post(
        &format!("{parent}/clusters?clusterId=a"),
        json!({"shardCount": 1}),
    )
    .await;
    t.get(&format!("{parent}/clusters/a")).await;
    t.get(&format!("{parent}/clusters/missing")).await;
    t.post(
        &format!("{parent}/clusters?clusterId=BAD"),
        json!({"shardCount": 1}),
    )
    .await;
    let aws = t.aws();
    aws.describe_users().send().await.unwrap();
    aws.describe_replication_groups()
        .replication_group_id("ghost")
        .send()
        .await
        .unwrap_err();

    let (s, c) = t.get("/_cloudsim/counters").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        c["memorystore"]["clusters.create"],
        json!({"ok": 1, "INVALID_ARGUMENT": 1})
    );
    assert_eq!(
        c["memorystore"]["clusters.get"],
        json!({"ok": 1, "NOT_FOUND": 1})
    );
    assert_eq!(c["elasticache"]["DescribeUsers"]["ok"], 1);
    assert_eq!(
        c["elasticache"]["DescribeReplicationGroups"]["ReplicationGroupNotFoundFault"],
        1
    );

    let (s, _) = t.delete("/_cloudsim/counters").await;
    assert_eq!(s, StatusCode::OK);
    let (_, c) = t.get("/_cloudsim/counters").await;
    assert_eq!(c, json!({}));
}

#[tokio::test]
async fn throttle_bursts_hit_only_the_named_operations() {
    let t = start(Opts::default()).await;
    let (s, v) = t
        .put("/_cloudsim/faults", json!({"throttleBurst": {"requests": 2}, "operations": ["clusters.create", "CreateUser"]}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let url = format!("/v1/projects/{PROJECT}/locations/{REGION}/clusters?clusterId=t");
    let (s, e) = t.post(&url, json!({"shardCount": 1})).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(e["error"]["status"], "RESOURCE_EXHAUSTED");
    let (s, _) = t
        .get(&format!(
            "/v1/projects/{PROJECT}/locations/{REGION}/clusters"
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "other operations are not throttled");

    let aws = t.aws();
    let create = || {
        aws.create_user()
            .user_id("u")
            .user_name("u")
            .engine("redis")
            .access_string("on")
            .no_password_required(true)
    };
    let e = create().send().await.unwrap_err();
    assert_eq!(e.code(), Some("Throttling"));
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(400));
    create().send().await.expect("the burst is over");
    let (s, _) = t.post(&url, json!({"shardCount": 1})).await;
    assert_eq!(s, StatusCode::OK);

    let (_, c) = t.get("/_cloudsim/counters").await;
    assert_eq!(
        c["memorystore"]["clusters.create"],
        json!({"RESOURCE_EXHAUSTED": 1, "ok": 1})
    );
    assert_eq!(
        c["elasticache"]["CreateUser"],
        json!({"Throttling": 1, "ok": 1})
    );
}

#[tokio::test]
async fn error_rate_and_latency_are_injected() {
    let t = start(Opts::default()).await;
    let (s, _) = t
        .put(
            "/_cloudsim/faults",
            json!({"errorRate": 1.0, "operations": ["DescribeUsers", "clusters.list"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let e = t.aws().describe_users().send().await.unwrap_err();
    assert_eq!(e.code(), Some("ServiceUnavailable"));
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(503));
    let (s, e) = t
        .get(&format!(
            "/v1/projects/{PROJECT}/locations/{REGION}/clusters"
        ))
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(e["error"]["status"], "UNAVAILABLE");

    let (s, _) = t
        .put(
            "/_cloudsim/faults",
            json!({"latencyMs": 150, "operations": ["clusters.list"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let started = Instant::now();
    let (s, _) = t
        .get(&format!(
            "/v1/projects/{PROJECT}/locations/{REGION}/clusters"
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        started.elapsed().as_millis() >= 150,
        "the injected latency was added"
    );

    let (s, e) = t.put("/_cloudsim/faults", json!({"errorRate": 2})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, _) = t
        .put(
            "/_cloudsim/faults",
            json!({"errorRate": 0.5, "bogus": true}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = t.delete("/_cloudsim/faults").await;
    assert_eq!(s, StatusCode::OK);
    t.aws()
        .describe_users()
        .send()
        .await
        .expect("faults cleared");
}

#[tokio::test]
async fn config_changes_provisioning_delay() {
    let t = start(Opts {
        delay_ms: 60_000,
        ..Opts::default()
    })
    .await;
    let (s, v) = t
        .put("/_cloudsim/config", json!({"provisioningDelayMs": 0}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["createDelayMs"], 0);
    assert_eq!(v["modifyDelayMs"], 0);
    assert_eq!(v["deleteDelayMs"], 0);
    assert_eq!(v["gcpTokenMaxLifetimeSeconds"], 3600);
    // With a minute of delay this would time out; with zero it completes at once.
    t.create_cluster("quick", json!({"shardCount": 1})).await;
    let (s, _) = t
        .put("/_cloudsim/config", json!({"provisioningDelay": 5}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "unknown fields are refused");
}

/// Creation, modification and deletion each take their own delay: a zero creation delay makes a
/// cluster and a replication group usable at once, while an hour-long deletion delay holds both in their
/// deleting state.
#[tokio::test]
async fn create_modify_and_delete_delays_are_separate() {
    let t = start(Opts {
        delay_ms: 60_000,
        ..Opts::default()
    })
    .await;
    let (s, v) = t
        .put(
            "/_cloudsim/config",
            json!({"createDelayMs": 0, "modifyDelayMs": 0, "deleteDelayMs": 3_600_000}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (
            &v["createDelayMs"],
            &v["modifyDelayMs"],
            &v["deleteDelayMs"]
        ),
        (&json!(0), &json!(0), &json!(3_600_000))
    );

    t.create_cluster("quick", json!({"shardCount": 1})).await;
    let (s, _) = t
        .delete(&format!(
            "/v1/projects/{PROJECT}/locations/{REGION}/clusters/quick"
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, c) = t
        .get(&format!(
            "/v1/projects/{PROJECT}/locations/{REGION}/clusters/quick"
        ))
        .await;
    assert_eq!(c["state"], "DELETING");

    t.aws()
        .create_replication_group()
        .replication_group_id("rg")
        .replication_group_description("d")
        .send()
        .await
        .unwrap();
    t.wait_rg("rg", "available").await;
    t.aws()
        .delete_replication_group()
        .replication_group_id("rg")
        .send()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    t.wait_rg("rg", "deleting").await;

    // Releasing the deletion delay finishes both deletions.
    let (s, _) = t
        .put("/_cloudsim/config", json!({"deleteDelayMs": 0}))
        .await;
    assert_eq!(s, StatusCode::OK);
    eventually("cluster gone", || async {
        let (s, _) = t
            .get(&format!(
                "/v1/projects/{PROJECT}/locations/{REGION}/clusters/quick"
            ))
            .await;
        (s == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
}

#[tokio::test]
async fn reset_forgets_everything() {
    let t = start(Opts::default()).await;
    t.create_cluster("keep", json!({"shardCount": 1})).await;
    t.aws()
        .create_replication_group()
        .replication_group_id("rg")
        .replication_group_description("d")
        .send()
        .await
        .unwrap();
    t.put("/_cloudsim/faults", json!({"latencyMs": 1})).await;
    let (_, list) = t.get("/_cloudsim/clusters").await;
    assert_eq!(list["clusters"].as_array().unwrap().len(), 2);

    let (s, _) = t.post("/_cloudsim/reset", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = t.get("/_cloudsim/clusters").await;
    assert_eq!(list["clusters"], json!([]));
    let (s, _) = t
        .get(&format!(
            "/v1/projects/{PROJECT}/locations/{REGION}/clusters/keep"
        ))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, faults) = t.get("/_cloudsim/faults").await;
    assert_eq!(faults["latencyMs"], 0);
    let (_, c) = t.get("/_cloudsim/counters").await;
    assert_eq!(
        c["memorystore"]["clusters.get"]["NOT_FOUND"], 1,
        "counters restarted at the reset"
    );
}
