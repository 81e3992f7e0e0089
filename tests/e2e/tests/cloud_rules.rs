//! What the real clouds would break on (issue 10), end to end against the strict simulator: a
//! gcp cluster deleted behind the operator's back, an ElastiCache group scaled through zero
//! replicas, a change the cloud defers to the maintenance window, and a token endpoint that
//! fails for a while.

use std::time::Duration;

use e2e::{CloudSim, Env, Options, aws_region, condition, gcp_project, gcp_region, unique_id};
use kube::api::{Patch, PatchParams};
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

fn aws_cluster(name: &str, id: &str, replicas: u32) -> Value {
    json!({
        "apiVersion": "cache-operator.io/v1alpha1",
        "kind": "RedisCluster",
        "metadata": {"name": name},
        "spec": {
            "provider": "aws",
            "instanceId": id,
            "region": aws_region(),
            "nodeType": "cache.t4g.micro",
            "shardCount": 1,
            "replicasPerShard": replicas,
            "authMode": "disabled",
            "transitEncryption": false,
            "aws": {"engine": "valkey", "clusterMode": "disabled"},
        }
    })
}

/// An ElastiCache client of the simulated account, as someone with the SDK or CLI would use.
async fn elasticache(sim: &CloudSim) -> aws_sdk_elasticache::Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(sim.base_url())
        .region(aws_config::Region::new(aws_region()))
        .credentials_provider(aws_sdk_elasticache::config::Credentials::new(
            e2e::cloudsim::AWS_ACCESS_KEY_ID,
            e2e::cloudsim::AWS_SECRET_ACCESS_KEY,
            None,
            None,
            "e2e",
        ))
        .load()
        .await;
    aws_sdk_elasticache::Client::new(&conf)
}

/// (members, automatic failover on, Multi-AZ on) as ElastiCache reports them.
async fn high_availability(
    client: &aws_sdk_elasticache::Client,
    id: &str,
) -> anyhow::Result<(usize, bool, bool)> {
    use aws_sdk_elasticache::types::{AutomaticFailoverStatus, MultiAzStatus};
    let out = client
        .describe_replication_groups()
        .replication_group_id(id)
        .send()
        .await?;
    let rg = out
        .replication_groups()
        .first()
        .ok_or_else(|| anyhow::anyhow!("{id} not found"))?;
    Ok((
        rg.member_clusters().len(),
        rg.automatic_failover() == Some(&AutomaticFailoverStatus::Enabled),
        rg.multi_az() == Some(&MultiAzStatus::Enabled),
    ))
}

async fn set_replicas(env: &Env, name: &str, replicas: u32) -> anyhow::Result<()> {
    env.api("RedisCluster")
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicasPerShard": replicas}})),
        )
        .await?;
    Ok(())
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

/// A token endpoint that throttles and fails for a while is a transient failure: the cluster
/// converges without ever showing Stalled or Failed (which GitOps tools read as a failed
/// sync). A refused identity still reports PermissionDenied.
#[tokio::test]
async fn a_failing_token_endpoint_is_waited_out_and_a_refused_key_is_denied() -> anyhow::Result<()>
{
    let mut env = Env::start_with(
        "token-faults",
        Options {
            no_redis: true,
            operator: false,
            ..Options::default()
        },
    )
    .await?;
    // The first token fetches are throttled, then half of them fail with 503.
    env.sim()
        .faults(json!({
            "operations": ["token"], "throttleBurst": {"requests": 3}, "errorRate": 0.5, "seed": 11,
        }))
        .await?;
    env.start_operator("operator", &[]).await?;
    env.apply(gcp_cluster("orders", &unique_id("tok"))).await?;
    let mut seen = Vec::new();
    env.wait_for("RedisCluster", "orders", READY, |o| {
        let o = o?;
        let stalled = condition(o, "Stalled").is_some_and(|c| c["status"] == "True");
        if stalled || status(o)["phase"] == "Failed" {
            seen.push(status(o).clone());
        }
        condition(o, "Ready")
            .is_some_and(|c| c["status"] == "True")
            .then_some(())
    })
    .await?;
    assert!(
        seen.is_empty(),
        "never Stalled or Failed: {:#}",
        json!(seen)
    );
    let counters = env.sim().counters().await?;
    let token = counters["oauth2"]["token"].to_string();
    assert!(
        token.contains("RESOURCE_EXHAUSTED"),
        "the token endpoint was made to fail: {counters:#}"
    );

    // A refused identity is a permission problem, said as such.
    env.sim().clear_faults().await?;
    reqwest::Client::new()
        .delete(format!(
            "{}/_cloudsim/gcp/service-accounts/cache-operator@operator-proj.iam.gserviceaccount.com",
            env.sim().base_url()
        ))
        .send()
        .await?
        .error_for_status()?;
    env.apply(gcp_cluster("denied", &unique_id("tok"))).await?;
    env.wait_reason("RedisCluster", "denied", "PermissionDenied", READY)
        .await?;
    Ok(())
}

/// ElastiCache refuses zero replicas while automatic failover or Multi-AZ is on, and adding
/// replicas leaves them off. The spec implies high availability from the replica count: on
/// with at least one replica, off with none. 1 → 0 → 2 ends Ready with both on again.
#[tokio::test]
async fn an_aws_group_scales_through_zero_replicas() -> anyhow::Result<()> {
    let env = Env::start_with(
        "replicas-zero",
        Options {
            no_redis: true,
            ..Options::default()
        },
    )
    .await?;
    let id = unique_id("ha");
    let client = elasticache(env.sim()).await;
    env.apply(aws_cluster("sessions", &id, 1)).await?;
    env.wait_ready("RedisCluster", "sessions", READY).await?;
    assert_eq!(high_availability(&client, &id).await?, (2, true, true));

    set_replicas(&env, "sessions", 0).await?;
    let o = env.wait_ready("RedisCluster", "sessions", READY).await?;
    assert_eq!(status(&o)["replicasPerShard"], json!(0));
    assert_eq!(
        high_availability(&client, &id).await?,
        (1, false, false),
        "failover and Multi-AZ off before the last replica went"
    );

    set_replicas(&env, "sessions", 2).await?;
    let o = env.wait_ready("RedisCluster", "sessions", READY).await?;
    assert_eq!(status(&o)["replicasPerShard"], json!(2));
    assert_eq!(
        high_availability(&client, &id).await?,
        (3, true, true),
        "failover and Multi-AZ on again once replicas are back"
    );
    Ok(())
}

/// A node change someone made without ApplyImmediately waits for the maintenance window: the
/// operator says so in the cloud's words (Reconciling), not Ready; once the window applied it,
/// the spec's node type is restored.
#[tokio::test]
async fn a_change_waiting_for_the_maintenance_window_is_reported() -> anyhow::Result<()> {
    let env = Env::start_with(
        "pending-change",
        Options {
            no_redis: true,
            ..Options::default()
        },
    )
    .await?;
    let id = unique_id("mw");
    env.apply(aws_cluster("sessions", &id, 1)).await?;
    env.wait_ready("RedisCluster", "sessions", READY).await?;

    let client = elasticache(env.sim()).await;
    client
        .modify_replication_group()
        .replication_group_id(&id)
        .cache_node_type("cache.t4g.small")
        .apply_immediately(false)
        .send()
        .await?;
    let o = env
        .wait_reason("RedisCluster", "sessions", "PendingInCloud", FEW_RESYNCS)
        .await?;
    let ready = condition(&o, "Ready").unwrap();
    assert_eq!(ready["status"], "False");
    assert!(
        ready["message"]
            .as_str()
            .unwrap_or_default()
            .contains("ElastiCache will apply node type cache.t4g.small in the maintenance window"),
        "{ready:#}"
    );
    assert_eq!(
        condition(&o, "Reconciling").unwrap()["status"],
        "True",
        "in progress, not stalled"
    );

    reqwest::Client::new()
        .post(format!(
            "{}/_cloudsim/aws/maintenance",
            env.sim().base_url()
        ))
        .json(&json!({"replicationGroupId": id}))
        .send()
        .await?
        .error_for_status()?;
    let o = env
        .wait_for("RedisCluster", "sessions", FEW_RESYNCS, |o| {
            let o = o?;
            let ready = condition(o, "Ready").is_some_and(|c| c["status"] == "True");
            (ready && status(o)["nodeType"] == "cache.t4g.micro").then(|| o.clone())
        })
        .await?;
    assert!(condition(&o, "Reconciling").is_some_and(|c| c["status"] == "False"));
    Ok(())
}

fn iam_cluster(name: &str, group: &str) -> Value {
    let mut c = gcp_cluster(name, &unique_id(name));
    c["spec"]["authMode"] = json!("iam");
    c["spec"]["transitEncryption"] = json!(true);
    c["spec"]["userGroupRefs"] = json!([{"name": group}]);
    c
}

fn iam_group(name: &str, members: &[String]) -> Value {
    json!({
        "apiVersion": "cache-operator.io/v1alpha1", "kind": "UserGroup",
        "metadata": {"name": name},
        "spec": {"provider": "gcp", "gcp": {"members": members}}
    })
}

async fn policy_bindings(sim: &CloudSim) -> anyhow::Result<Vec<Value>> {
    let p: Value = reqwest::Client::new()
        .post(format!(
            "{}/v1/projects/{}:getIamPolicy",
            sim.base_url(),
            gcp_project()
        ))
        .json(&json!({"options": {"requestedPolicyVersion": 3}}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(p["bindings"].as_array().cloned().unwrap_or_default())
}

/// IAM holds at most 1,500 principal occurrences per policy. A UserGroup of 1,000 members on 3
/// clusters fits (one binding covers up to six clusters); on 7 clusters it would take 2,000 and
/// says so with the numbers, writing nothing more (what fitted, up to six clusters, stays), and
/// another group's binding is never touched.
#[tokio::test]
async fn a_thousand_member_group_fits_or_says_exactly_why_not() -> anyhow::Result<()> {
    let env = Env::start_with(
        "iam-limits",
        Options {
            no_redis: true,
            ..Options::default()
        },
    )
    .await?;
    let project = gcp_project();
    let sa = |n: String| format!("serviceAccount:{n}@{project}.iam.gserviceaccount.com");
    env.apply(iam_group("small", &[sa("solo".into())])).await?;
    env.apply(iam_cluster("other", "small")).await?;
    env.wait_ready("UserGroup", "small", READY).await?;

    let members: Vec<String> = (0..1000).map(|i| sa(format!("m{i:04}"))).collect();
    env.apply(iam_group("big", &members)).await?;
    for i in 0..3 {
        env.apply(iam_cluster(&format!("big-{i}"), "big")).await?;
    }
    let big = env
        .wait_for("UserGroup", "big", READY, |o| {
            let o = o?;
            let ready = condition(o, "Ready").is_some_and(|c| c["status"] == "True");
            (ready && status(o)["grants"][0]["clusters"] == 3).then(|| o.clone())
        })
        .await?;
    assert_eq!(
        status(&big)["grants"],
        json!([{"project": project, "clusters": 3, "bindings": 1, "members": 1000}])
    );
    assert!(
        serde_json::to_string(status(&big))?.len() < 2_000,
        "a small status: {:#}",
        status(&big)
    );
    let small_binding = |bindings: &[Value]| {
        bindings
            .iter()
            .find(|b| b["members"] == json!([sa("solo".into())]))
            .cloned()
    };
    let small =
        small_binding(&policy_bindings(env.sim()).await?).expect("the small group's binding");

    for i in 3..7 {
        env.apply(iam_cluster(&format!("big-{i}"), "big")).await?;
    }
    let refused = env
        .wait_reason("UserGroup", "big", "IamPolicyLimit", READY)
        .await?;
    let msg = condition(&refused, "Ready").unwrap()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for number in [
        "2000 principal occurrences",
        "1000 member(s) in 2 binding(s)",
        "limit of 1500",
    ] {
        assert!(msg.contains(number), "{number}: {msg}");
    }
    assert!(condition(&refused, "Stalled").is_some_and(|c| c["status"] == "True"));
    let after = policy_bindings(env.sim()).await?;
    let occurrences: usize = after
        .iter()
        .map(|b| b["members"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(occurrences <= 1500, "within the limit: {occurrences}");
    assert_eq!(
        small_binding(&after),
        Some(small),
        "the other group untouched"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        policy_bindings(env.sim()).await?,
        after,
        "nothing written while it cannot fit"
    );
    Ok(())
}
