//! RedisCluster end to end, on both clouds: apply → Ready → PING, scale, immutable fields,
//! Delete and Retain, a foreign cluster with the same ID, and a spec invalid past admission.

use std::time::Duration;

use cache_operator_testkit::{Manifest, cluster};
use e2e::redis_client::{self, Target};
use e2e::{CloudSim, Env, aws_region, condition, gcp_project, gcp_region, unique_id};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

const READY: Duration = Duration::from_secs(60);

fn gcp_cluster(name: &str, id: &str, shards: u32) -> Value {
    let gcp = cluster::gcp(name).project(&gcp_project());
    sized(gcp, id, &gcp_region(), shards, 0)
}

fn aws_cluster(name: &str, id: &str, shards: u32) -> Value {
    let aws = cluster::aws(name).engine("valkey").cluster_mode("enabled");
    sized(aws, id, &aws_region(), shards, 1)
}

/// `m` as instance `id` in `region` with this many shards and replicas, no authentication,
/// TLS on.
fn sized(m: Manifest, id: &str, region: &str, shards: u32, replicas: i64) -> Value {
    m.instance_id(id)
        .region(region)
        .shards(shards.into())
        .replicas(replicas)
        .auth("disabled")
        .tls(true)
        .into_json()
}

/// PING the cluster at the endpoint its status reports, over TLS with the CA clients trust.
async fn ping(env: &Env, status: &Value) -> anyhow::Result<String> {
    let ep = &status["endpoints"]["discovery"][0];
    let ca = match status["caCertificate"].as_str() {
        Some(ca) => ca.to_owned(),
        None => env.sim().ca_pem().await?,
    };
    let target = Target {
        host: ep["host"].as_str().unwrap_or_default().to_owned(),
        port: ep["port"].as_u64().unwrap_or_default() as u16,
        tls_ca: Some(ca),
        ..Target::default()
    };
    Ok(redis_client::ping(&target).await?)
}

async fn sim_cluster(sim: &CloudSim, id: &str) -> Option<Value> {
    sim.find_cluster(id).await.unwrap()
}

async fn lifecycle(env: &Env, manifest: Value, scaled: (u32, u32)) -> anyhow::Result<()> {
    let name = manifest["metadata"]["name"].as_str().unwrap().to_owned();
    env.apply(manifest.clone()).await?;
    let obj = env.wait_ready("RedisCluster", &name, READY).await?;
    let status = obj.data["status"].clone();
    assert_eq!(status["phase"], "Ready");
    assert!(
        status["cloudResource"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{status:#}"
    );
    assert_eq!(ping(env, &status).await?, "PONG");

    // Scale shards and replicas: the cloud reports the new counts and status follows.
    let mut scaled_manifest = manifest.clone();
    scaled_manifest["spec"]["shardCount"] = json!(scaled.0);
    scaled_manifest["spec"]["replicasPerShard"] = json!(scaled.1);
    env.apply(scaled_manifest.clone()).await?;
    let obj = env
        .wait_for("RedisCluster", &name, READY, |o| {
            let o = o?;
            let s = &o.data["status"];
            (s["shardCount"] == json!(scaled.0)
                && s["replicasPerShard"] == json!(scaled.1)
                && condition(o, "Ready").is_some_and(|c| c["status"] == "True")
                && s["observedGeneration"] == json!(o.metadata.generation))
            .then(|| o.clone())
        })
        .await?;
    assert_eq!(obj.data["status"]["phase"], "Ready");

    // An immutable field is refused by the API server, naming the field.
    let mut moved = scaled_manifest.clone();
    moved["spec"]["region"] = json!("europe-west9");
    let err = env
        .apply(moved)
        .await
        .expect_err("region change must be refused");
    let text = format!("{err:#}");
    assert!(text.contains("region is immutable"), "{text}");
    Ok(())
}

#[tokio::test]
async fn gcp_cluster_lifecycle() -> anyhow::Result<()> {
    let env = Env::start("gcp-lifecycle").await?;
    let id = unique_id("orders");
    lifecycle(&env, gcp_cluster("orders", &id, 1), (2, 1)).await?;

    // Delete with the default policy: the cloud cluster goes, then the object.
    env.delete("RedisCluster", "orders").await?;
    env.wait_gone("RedisCluster", "orders", READY).await?;
    assert!(
        sim_cluster(env.sim(), &id).await.is_none(),
        "the Memorystore cluster must be gone"
    );
    Ok(())
}

#[tokio::test]
async fn aws_cluster_lifecycle() -> anyhow::Result<()> {
    let env = Env::start("aws-lifecycle").await?;
    let id = unique_id("sessions");
    lifecycle(&env, aws_cluster("sessions", &id, 1), (2, 2)).await?;

    env.delete("RedisCluster", "sessions").await?;
    env.wait_gone("RedisCluster", "sessions", READY).await?;
    assert!(
        sim_cluster(env.sim(), &id).await.is_none(),
        "the replication group must be gone"
    );
    Ok(())
}

#[tokio::test]
async fn retain_keeps_the_cloud_resource() -> anyhow::Result<()> {
    let env = Env::start("retain").await?;
    let gcp_id = unique_id("kept");
    let aws_id = unique_id("kept");
    for (name, mut m) in [
        ("kept-gcp", gcp_cluster("kept-gcp", &gcp_id, 1)),
        ("kept-aws", aws_cluster("kept-aws", &aws_id, 1)),
    ] {
        m["spec"]["deletionPolicy"] = json!("Retain");
        env.apply(m).await?;
        env.wait_ready("RedisCluster", name, READY).await?;
        env.delete("RedisCluster", name).await?;
        env.wait_gone("RedisCluster", name, READY).await?;
    }
    assert!(
        sim_cluster(env.sim(), &gcp_id).await.is_some(),
        "Retain must leave the Memorystore cluster"
    );
    assert!(
        sim_cluster(env.sim(), &aws_id).await.is_some(),
        "Retain must leave the replication group"
    );
    Ok(())
}

#[tokio::test]
async fn deletion_protection_holds_until_lifted() -> anyhow::Result<()> {
    let env = Env::start("protection").await?;
    let id = unique_id("guarded");
    let mut m = aws_cluster("guarded", &id, 1);
    m["spec"]["deletionProtection"] = json!(true);
    env.apply(m.clone()).await?;
    env.wait_ready("RedisCluster", "guarded", READY).await?;
    env.delete("RedisCluster", "guarded").await?;
    let obj = env
        .wait_reason("RedisCluster", "guarded", "DeletionProtected", READY)
        .await?;
    assert!(condition(&obj, "Stalled").is_some_and(|c| c["status"] == "True"));
    assert!(sim_cluster(env.sim(), &id).await.is_some());
    m["spec"]["deletionProtection"] = json!(false);
    env.api("RedisCluster")
        .patch(
            "guarded",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"deletionProtection": false}})),
        )
        .await?;
    env.wait_gone("RedisCluster", "guarded", READY).await?;
    assert!(sim_cluster(env.sim(), &id).await.is_none());
    Ok(())
}

#[tokio::test]
async fn a_foreign_cluster_is_never_taken_over() -> anyhow::Result<()> {
    let env = Env::start("foreign").await?;
    let sim = env.sim();
    // Someone made a Memorystore cluster by hand, through the public API.
    let id = unique_id("handmade");
    let parent = format!("projects/{}/locations/{}", gcp_project(), gcp_region());
    let created = reqwest::Client::new()
        .post(format!("{}/v1/{parent}/clusters?clusterId={id}", sim.base_url()))
        .json(&json!({"shardCount": 3, "nodeType": "REDIS_STANDARD_SMALL",
                      "pscConfigs": [{"network": format!("projects/{}/global/networks/default", gcp_project())}]}))
        .send()
        .await?;
    assert!(created.status().is_success(), "{}", created.text().await?);
    let name = format!("{parent}/clusters/{id}");
    let deadline = std::time::Instant::now() + READY;
    while sim_cluster(sim, &id)
        .await
        .is_none_or(|c| !c.to_string().contains("ACTIVE"))
    {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "hand-made cluster never became ACTIVE"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sim.reset_counters().await?;

    env.apply(gcp_cluster("mine", &id, 1)).await?;
    let obj = env
        .wait_reason("RedisCluster", "mine", "AlreadyExists", READY)
        .await?;
    assert!(condition(&obj, "Ready").is_some_and(|c| c["status"] == "False"));
    assert!(condition(&obj, "Stalled").is_some_and(|c| c["status"] == "True"));
    assert!(
        condition(&obj, "Ready").unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("spec.adopt"),
        "{obj:?}"
    );

    // Untouched: still 3 shards, never patched or deleted.
    let cluster: Value = reqwest::get(format!("{}/v1/{name}", sim.base_url()))
        .await?
        .json()
        .await?;
    assert_eq!(cluster["shardCount"], 3);
    let counters = sim.counters().await?;
    let writes = CloudSim::sum(
        &counters,
        "memorystore",
        |op| op == "clusters.patch" || op == "clusters.delete",
        |_| true,
    );
    assert_eq!(writes, 0, "{counters:#}");

    // Deleting the object never deletes what it does not own.
    env.delete("RedisCluster", "mine").await?;
    env.wait_gone("RedisCluster", "mine", READY).await?;
    assert!(sim_cluster(sim, &id).await.is_some());
    Ok(())
}

#[tokio::test]
async fn an_invalid_spec_that_slipped_past_admission_makes_no_cloud_call() -> anyhow::Result<()> {
    let env = Env::start("past-admission").await?;
    // An older, looser CRD: nodeType without its enum and without the CEL rule about it.
    let crds: kube::Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        kube::Api::all(env.client.clone());
    let crd = crds.get("redisclusters.cache-operator.io").await?;
    let mut loose = serde_json::to_value(&crd)?;
    let spec = &mut loose["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    spec["properties"]["nodeType"]
        .as_object_mut()
        .unwrap()
        .remove("enum");
    let rules = spec["x-kubernetes-validations"].as_array_mut().unwrap();
    rules.retain(|r| !r["rule"].as_str().unwrap().contains("nodeType"));
    loose["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    crds.replace(
        "redisclusters.cache-operator.io",
        &Default::default(),
        &serde_json::from_value(loose)?,
    )
    .await?;

    env.sim().reset_counters().await?;
    let mut m = aws_cluster("odd", &unique_id("odd"), 1);
    m["spec"]["nodeType"] = json!("cache.x9.enormous");
    // The apiserver rebuilds a CRD's handler asynchronously: the looser schema is served a
    // moment after the update (seen refused on a loaded machine). Apply until it is.
    env.wait_for_value(Duration::from_secs(30), || {
        let m = m.clone();
        let env = &env;
        async move {
            match env.apply(m).await {
                Ok(_) => Some(Ok(())),
                Err(e) if e.to_string().contains("Unsupported value") => None,
                Err(e) => Some(Err(e)),
            }
        }
    })
    .await??;
    let obj = env
        .wait_reason("RedisCluster", "odd", "InvalidSpec", READY)
        .await?;
    let message = condition(&obj, "Ready").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("spec.nodeType"), "{message}");
    assert!(condition(&obj, "Stalled").is_some_and(|c| c["status"] == "True"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let counters = env.sim().counters().await?;
    assert_eq!(
        CloudSim::sum(&counters, "elasticache", |_| true, |_| true),
        0,
        "no cloud call at all: {counters:#}"
    );
    Ok(())
}
