//! What the real clouds would break on (issue 10), end to end against the strict simulator: a
//! gcp cluster deleted behind the operator's back, an ElastiCache group scaled through zero
//! replicas, a change the cloud defers to the maintenance window, and a token endpoint that
//! fails for a while.

use std::time::Duration;

use e2e::{Env, Options, aws_region, condition, gcp_project, gcp_region, unique_id};
use serde_json::{Value, json};

/// The operator's resync in the harness is 20 s: "a few resync periods".
const FEW_RESYNCS: Duration = Duration::from_secs(90);
const READY: Duration = Duration::from_secs(60);

fn gcp_cluster(name: &str, id: &str) -> Value {
    json!({
        "apiVersion": "cache-operator.io/v1alpha1",
        "kind": "RedisCluster",
        "metadata": {"name": name},
        "spec": {
            "provider": "gcp",
            "instanceId": id,
            "region": gcp_region(),
            "nodeType": "redis-shared-core-nano",
            "shardCount": 1,
            "replicasPerShard": 0,
            "authMode": "disabled",
            "transitEncryption": false,
            "gcp": {"project": gcp_project(), "network": format!("projects/{}/global/networks/default", gcp_project())},
        }
    })
}

fn status(o: &kube::api::DynamicObject) -> &Value {
    &o.data["status"]
}

/// Memorystore answers a repeated `requestId` with the first operation for an hour: a cluster
/// deleted behind the operator's back must be created again on a new attempt, not "re-created"
/// by replaying the old create forever.
#[tokio::test]
async fn a_gcp_cluster_deleted_behind_the_operators_back_comes_back() -> anyhow::Result<()> {
    let env = Env::start_with(
        "recreate",
        Options {
            no_redis: true,
            ..Options::default()
        },
    )
    .await?;
    let id = unique_id("gone");
    env.apply(gcp_cluster("orders", &id)).await?;
    let first = env.wait_ready("RedisCluster", "orders", READY).await?;
    let resource = status(&first)["cloudResource"]
        .as_str()
        .expect("cloudResource")
        .to_owned();
    let first_uid = status(&first)["cloudUid"]
        .as_str()
        .expect("the uid is recorded")
        .to_owned();

    // Deleted through the public API, as someone with gcloud would.
    reqwest::Client::new()
        .delete(format!("{}/v1/{resource}", env.sim().base_url()))
        .send()
        .await?
        .error_for_status()?;

    let again = env
        .wait_for("RedisCluster", "orders", FEW_RESYNCS, |o| {
            let o = o?;
            let ready = condition(o, "Ready").is_some_and(|c| c["status"] == "True");
            let uid = status(o)["cloudUid"].as_str();
            (ready && uid.is_some_and(|u| u != first_uid)).then(|| o.clone())
        })
        .await?;
    assert_eq!(
        status(&again)["attempt"],
        json!(1),
        "created again on a new attempt: {:#}",
        status(&again)
    );
    assert_eq!(env.sim().count_clusters(&id).await?, 1);
    Ok(())
}
