//! Cross-region replication on Memorystore for Redis Cluster, end to end: a primary and a
//! secondary in two regions → a key written through the primary's Secret is read through the
//! secondary's → promotion by a patch of the anchor, with the operator SIGKILLed right after it
//! sent the switchover (one write, converged) → the application in the new primary's region
//! writes through its Secret → back again → a primary waits for its secondary on delete →
//! detach → delete in order. Invalid shapes are refused by the API server with no cloud call.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cache_operator_testkit::{binding, cluster, group};
use e2e::redis_client::{self, Target};
use e2e::{CloudSim, Env, Options, condition, gcp_project, gcp_region, unique_id};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::{Value, json};

const READY: Duration = Duration::from_secs(180);
const SECONDARY_REGION: &str = "europe-west1";

fn member(name: &str, id: &str, region: &str) -> cache_operator_testkit::Manifest {
    cluster::gcp(name)
        .instance_id(id)
        .region(region)
        .project(&gcp_project())
        .node_type("redis-shared-core-nano")
        .shards(1)
        .auth("iam")
        .tls(true)
        .spec("finalBackup", false)
        .user_groups(&["orders-clients"])
}

fn anchor(id: &str, primary: &str) -> Value {
    member("orders-us", id, &gcp_region())
        .cross_region_primary(primary)
        .into_json()
}

fn secondary(id: &str, detached: bool) -> Value {
    let m = member("orders-eu", id, SECONDARY_REGION).secondary_of("orders-us");
    if detached { m.detached(true) } else { m }.into_json()
}

async fn secret(env: &Env, name: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let api: Api<Secret> = Api::namespaced(env.client.clone(), &env.namespace);
    let data = env
        .wait_for_value(READY, || async {
            api.get_opt(name).await.ok().flatten().and_then(|s| s.data)
        })
        .await?;
    Ok(data
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
        .collect())
}

/// The Secret once its `role` says `role`.
async fn secret_with_role(
    env: &Env,
    name: &str,
    role: &str,
) -> anyhow::Result<BTreeMap<String, String>> {
    let deadline = Instant::now() + READY;
    loop {
        let data = secret(env, name).await?;
        if data.get("role").map(String::as_str) == Some(role) {
            return Ok(data);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "Secret {name} never said role {role}: {:?}",
            data.get("role")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn target(data: &BTreeMap<String, String>) -> Target {
    Target {
        host: data["host"].clone(),
        port: data["port"].parse().unwrap_or(0),
        tls_ca: (data.get("tls").map(String::as_str) == Some("true"))
            .then(|| data["ca.crt"].clone()),
        username: Some(data["username"].clone()),
        password: Some(data["password"].clone()),
    }
}

/// `GET key` through a Secret until it answers `want` (replication is asynchronous).
async fn read_eventually(
    data: &BTreeMap<String, String>,
    key: &str,
    want: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut c = redis_client::connect(&target(data)).await?;
        let got: Option<String> = redis::cmd("GET").arg(key).query_async(&mut c).await?;
        if got.as_deref() == Some(want) {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{key} never read {want:?} (last {got:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn wait_role(env: &Env, name: &str, role: &str) -> anyhow::Result<Value> {
    env.wait_for("RedisCluster", name, READY, |o| {
        let o = o?;
        let st = &o.data["status"];
        (st["crossRegion"]["role"] == role && st["phase"] == "Ready").then(|| st.clone())
    })
    .await
}

/// The cluster as Memorystore's API describes it (what `gcloud redis clusters describe` shows).
async fn describe(env: &Env, name: &str) -> anyhow::Result<Value> {
    Ok(reqwest::Client::new()
        .get(format!("{}/v1/{name}", env.sim().base_url()))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

fn patches(counters: &Value) -> u64 {
    CloudSim::sum(
        counters,
        "memorystore",
        |op| op == "clusters.patch",
        |_| true,
    )
}

fn creates(counters: &Value) -> u64 {
    CloudSim::sum(
        counters,
        "memorystore",
        |op| op == "clusters.create",
        |_| true,
    )
}

#[tokio::test]
async fn cross_region_set_lifecycle() -> anyhow::Result<()> {
    let opts = Options {
        provisioning_delay: Duration::from_millis(500),
        ..Options::default()
    };
    let mut env = Env::start_with("cross-region", opts).await?;
    let project = gcp_project();
    let us_id = unique_id("orders-us");
    let eu_id = unique_id("orders-eu");
    let us_res = format!(
        "projects/{project}/locations/{}/clusters/{us_id}",
        gcp_region()
    );
    let eu_res = format!("projects/{project}/locations/{SECONDARY_REGION}/clusters/{eu_id}");
    let sa = format!("orders-api@{project}.iam.gserviceaccount.com");

    env.apply(group::gcp("orders-clients", &[&format!("serviceAccount:{sa}")]).into_json())
        .await?;
    // The secondary first: it waits for its anchor, with no cloud call.
    env.apply(secondary(&eu_id, false)).await?;
    env.wait_reason("RedisCluster", "orders-eu", "ReferenceNotReady", READY)
        .await?;
    env.apply(anchor(&us_id, "orders-us")).await?;
    for (name, cluster, secret_name) in [
        ("orders-api-us", "orders-us", "orders-us-redis"),
        ("orders-api-eu", "orders-eu", "orders-eu-redis"),
    ] {
        env.apply(
            binding::new(name, cluster, "orders-clients")
                .binding_user(&sa)
                .secret_name(secret_name)
                .into_json(),
        )
        .await?;
    }
    env.wait_ready("RedisCluster", "orders-us", READY).await?;
    env.wait_ready("RedisCluster", "orders-eu", READY).await?;
    let us = wait_role(&env, "orders-us", "PRIMARY").await?;
    let eu = wait_role(&env, "orders-eu", "SECONDARY").await?;
    assert_eq!(eu["crossRegion"]["primary"], us_res.as_str(), "{eu:#}");
    assert_eq!(us["crossRegion"]["secondaries"], json!([eu_res]), "{us:#}");
    let cloud = describe(&env, &eu_res).await?;
    assert_eq!(
        cloud["crossClusterReplicationConfig"]["primaryCluster"]["cluster"],
        us_res.as_str(),
        "{cloud:#}"
    );

    // Each region's application with its own Secret: a key written in the primary's region is
    // read in the secondary's, which refuses writes.
    let us_secret = secret_with_role(&env, "orders-us-redis", "primary").await?;
    let eu_secret = secret_with_role(&env, "orders-eu-redis", "secondary").await?;
    assert_eq!(
        redis_client::set_get(&target(&us_secret), "order:1", "paid").await?,
        "paid"
    );
    read_eventually(&eu_secret, "order:1", "paid").await?;
    assert!(
        redis_client::set_get(&target(&eu_secret), "order:2", "x")
            .await
            .is_err(),
        "a secondary is read-only"
    );

    // Invalid shapes are refused by the API server; the cloud hears nothing.
    env.sim().reset_counters().await?;
    let refused = |m: Value| {
        let env = &env;
        async move { format!("{:#}", env.apply(m).await.expect_err("refused")) }
    };
    let both = member("orders-xx", &unique_id("xx"), "asia-east1")
        .cross_region_primary("orders-us")
        .secondary_of("orders-us")
        .into_json();
    assert!(refused(both).await.contains("mutually exclusive"));
    let itself = member("orders-yy", &unique_id("yy"), "asia-east1")
        .secondary_of("orders-yy")
        .into_json();
    assert!(refused(itself).await.contains("not this one"));
    let aws = cluster::aws("orders-aws")
        .auth("disabled")
        .secondary_of("orders-us")
        .into_json();
    assert!(refused(aws).await.contains("not implemented yet"));
    let moved = member("orders-eu", &eu_id, SECONDARY_REGION)
        .secondary_of("orders-other")
        .into_json();
    assert!(refused(moved).await.contains("secondaryOf is immutable"));
    let dropped = member("orders-eu", &eu_id, SECONDARY_REGION).into_json();
    assert!(refused(dropped).await.contains("detached: true"));
    let joined = anchor(&us_id, "orders-us");
    let mut joined = joined;
    joined["spec"]["crossRegion"] = json!({"secondaryOf": "orders-eu"});
    assert!(refused(joined).await.contains("immutable"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let counters = env.sim().counters().await?;
    assert_eq!(creates(&counters) + patches(&counters), 0, "{counters:#}");

    // Promote orders-eu by naming it on the anchor; kill the operator the moment the
    // switchover is sent. The restarted operator finishes without sending it again.
    env.sim()
        .configure(json!({"provisioningDelayMs": 4000}))
        .await?;
    env.apply(anchor(&us_id, "orders-eu")).await?;
    let deadline = Instant::now() + READY;
    while patches(&env.sim().counters().await?) == 0 {
        anyhow::ensure!(Instant::now() < deadline, "no switchover was sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    env.operators[0].kill().await?;
    env.operators.clear();
    env.start_operator("operator-restarted", &[]).await?;
    let eu = wait_role(&env, "orders-eu", "PRIMARY").await?;
    let us = wait_role(&env, "orders-us", "SECONDARY").await?;
    assert_eq!(us["crossRegion"]["primary"], eu_res.as_str(), "{us:#}");
    assert_eq!(eu["crossRegion"]["secondaries"], json!([us_res]), "{eu:#}");
    let o = env.get("RedisCluster", "orders-us").await?.unwrap();
    let switching = condition(&o, "SwitchingOver").cloned().unwrap_or_default();
    assert_eq!(switching["status"], "False", "{switching:#}");
    assert_eq!(switching["reason"], "PrimaryInPlace", "{switching:#}");
    assert_eq!(
        patches(&env.sim().counters().await?),
        1,
        "one switchover, sent once, by the member promoted"
    );
    let cloud = describe(&env, &eu_res).await?;
    assert_eq!(
        cloud["crossClusterReplicationConfig"]["clusterRole"],
        "PRIMARY"
    );

    // The Secrets follow: the application in europe-west1 now writes through its Secret.
    let eu_secret = secret_with_role(&env, "orders-eu-redis", "primary").await?;
    let us_secret = secret_with_role(&env, "orders-us-redis", "secondary").await?;
    read_eventually(&eu_secret, "order:1", "paid").await?;
    assert_eq!(
        redis_client::set_get(&target(&eu_secret), "order:3", "shipped").await?,
        "shipped"
    );
    read_eventually(&us_secret, "order:3", "shipped").await?;

    // Back to orders-us: a second switchover, a new write.
    env.sim()
        .configure(json!({"provisioningDelayMs": 500}))
        .await?;
    env.apply(anchor(&us_id, "orders-us")).await?;
    wait_role(&env, "orders-us", "PRIMARY").await?;
    wait_role(&env, "orders-eu", "SECONDARY").await?;
    secret_with_role(&env, "orders-us-redis", "primary").await?;

    // Deleting the primary waits for its secondary; detaching the secondary lets it go.
    env.delete("AccessBinding", "orders-api-us").await?;
    env.delete("RedisCluster", "orders-us").await?;
    env.wait_reason("RedisCluster", "orders-us", "SecondariesAttached", READY)
        .await?;
    assert!(
        env.sim().find_cluster(&us_id).await?.is_some(),
        "the primary is kept"
    );
    env.apply(secondary(&eu_id, true)).await?;
    wait_role(&env, "orders-eu", "NONE").await?;
    env.wait_gone("RedisCluster", "orders-us", READY).await?;
    assert_eq!(env.sim().count_clusters(&us_id).await?, 0);
    // The detached cluster keeps its data and takes writes; its Secret says so.
    let eu_secret = secret_with_role(&env, "orders-eu-redis", "primary").await?;
    read_eventually(&eu_secret, "order:3", "shipped").await?;
    assert_eq!(
        redis_client::set_get(&target(&eu_secret), "order:4", "alone").await?,
        "alone"
    );
    let refused = env.apply(secondary(&eu_id, false)).await;
    assert!(format!("{:#}", refused.expect_err("detached is one way")).contains("one way"),);
    env.delete("AccessBinding", "orders-api-eu").await?;
    env.delete("RedisCluster", "orders-eu").await?;
    env.wait_gone("RedisCluster", "orders-eu", READY).await?;
    assert_eq!(env.sim().count_clusters(&eu_id).await?, 0);
    Ok(())
}
