//! Memorystore for Valkey end to end (`RedisCluster` with `gcp.engine: valkey`): created through
//! a lost create response without a duplicate, Ready, an application connects to the simulator's
//! valkey-server with the AccessBinding's Secret alone (an IAM token), scale, an upgrade 8.0 →
//! 9.0 that keeps a key, a downgrade refused by the API server with no cloud call, no cloud
//! writes in steady state, and a delete that leaves the final backup.

use std::collections::BTreeMap;
use std::time::Duration;

use cache_operator_testkit::{binding, cluster, group};
use e2e::redis_client::{self, Target};
use e2e::{CloudSim, Env, gcp_project, gcp_region, unique_id};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::{Value, json};

const READY: Duration = Duration::from_secs(120);

fn instance(id: &str, version: &str, replicas: i64, shards: i64) -> Value {
    cluster::valkey("inventory")
        .instance_id(id)
        .region(&gcp_region())
        .project(&gcp_project())
        .node_type("shared-core-nano")
        .shards(shards)
        .replicas(replicas)
        .auth("iam")
        .tls(true)
        .set("/spec/gcp/engineVersion", version)
        .user_groups(&["inventory-clients"])
        .into_json()
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

/// Where and how to connect, from the Secret's values only.
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

/// Calls to Memorystore for Valkey whose operation satisfies `pick`, whatever their outcome.
fn calls(counters: &Value, pick: impl Fn(&str) -> bool) -> u64 {
    CloudSim::sum(
        counters,
        "memorystore",
        |op| op.starts_with("instances.") && pick(op),
        |_| true,
    )
}

async fn wait_status(env: &Env, field: &str, want: Value) -> anyhow::Result<()> {
    env.wait_for("RedisCluster", "inventory", READY, |o| {
        let o = o?;
        let st = &o.data["status"];
        (st[field] == want && st["phase"] == "Ready").then_some(())
    })
    .await
}

#[tokio::test]
async fn valkey_instance_lifecycle() -> anyhow::Result<()> {
    let env = Env::start("valkey").await?;
    let sim = env.sim();
    let project = gcp_project();
    let region = gcp_region();
    let id = unique_id("inventory");
    let name = format!("projects/{project}/locations/{region}/instances/{id}");
    let sa = format!("inventory-api@{project}.iam.gserviceaccount.com");

    // The first create is carried out but its answer is lost: the retry must not make a second
    // instance.
    sim.faults(json!({"lostResponses": 1, "operations": ["instances.create"]}))
        .await?;
    env.apply(group::gcp("inventory-clients", &[&format!("serviceAccount:{sa}")]).into_json())
        .await?;
    env.apply(instance(&id, "VALKEY_8_0", 0, 1)).await?;
    env.apply(
        binding::new("inventory-api", "inventory", "inventory-clients")
            .binding_user(&sa)
            .secret_name("inventory-valkey")
            .into_json(),
    )
    .await?;
    env.wait_ready("RedisCluster", "inventory", READY).await?;
    let counters = sim.counters().await?;
    assert_eq!(
        CloudSim::sum(
            &counters,
            "memorystore",
            |op| op == "instances.create",
            |o| o == "UNAVAILABLE"
        ),
        1,
        "the lost answer was met: {counters:#}"
    );
    assert_eq!(sim.count_clusters(&id).await?, 1, "no duplicate instance");
    let o = env.get("RedisCluster", "inventory").await?.unwrap();
    let st = &o.data["status"];
    assert_eq!(st["cloudResource"], name.as_str());
    assert_eq!(st["engineVersion"], "VALKEY_8_0");
    assert_eq!(st["nodeType"], "shared-core-nano");

    // The grant is the Valkey role on this instance alone.
    let policy: Value = reqwest::Client::new()
        .post(format!(
            "{}/v1/projects/{project}:getIamPolicy",
            sim.base_url()
        ))
        .json(&json!({"options": {"requestedPolicyVersion": 3}}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let grant = policy["bindings"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|b| b["role"] == "roles/memorystore.dbConnectionUser")
        .unwrap_or_else(|| panic!("a grant: {policy:#}"));
    assert_eq!(grant["members"], json!([format!("serviceAccount:{sa}")]));
    assert_eq!(
        grant["condition"]["expression"],
        format!("resource.name == \"{name}\" || resource.name.startsWith(\"{name}/\")")
    );

    // An application with the Secret alone.
    env.wait_ready("AccessBinding", "inventory-api", READY)
        .await?;
    let data = secret(&env, "inventory-valkey").await?;
    assert_eq!(data["provider"], "gcp");
    assert!(
        data.contains_key("expires-at"),
        "an IAM token: {:?}",
        data.keys()
    );
    let got = redis_client::set_get(&target(&data), "sku:42", "7 in stock").await?;
    assert_eq!(got, "7 in stock");
    let mut wrong = target(&data);
    wrong.password = Some("not-a-token".into());
    assert!(
        redis_client::ping(&wrong).await.is_err(),
        "a wrong token is refused"
    );

    // Steady state: no cloud writes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    sim.reset_counters().await?;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let counters = sim.counters().await?;
    let writes = calls(&counters, |op| {
        !matches!(
            op,
            "instances.list" | "instances.get" | "instances.getCertificateAuthority"
        )
    }) + CloudSim::sum(
        &counters,
        "cloudresourcemanager",
        |op| op == "projects.setIamPolicy",
        |_| true,
    );
    assert_eq!(writes, 0, "no writes in steady state: {counters:#}");

    // Scale out: a replica per shard.
    env.apply(instance(&id, "VALKEY_8_0", 1, 1)).await?;
    wait_status(&env, "replicasPerShard", json!(1)).await?;

    // Upgrade 8.0 → 9.0: the data stays.
    env.apply(instance(&id, "VALKEY_9_0", 1, 1)).await?;
    wait_status(&env, "engineVersion", json!("VALKEY_9_0")).await?;
    let data = secret(&env, "inventory-valkey").await?;
    let mut c = redis_client::connect(&target(&data)).await?;
    let kept: Option<String> = redis::cmd("GET").arg("sku:42").query_async(&mut c).await?;
    assert_eq!(
        kept.as_deref(),
        Some("7 in stock"),
        "the upgrade kept the key"
    );
    let info: String = redis::cmd("INFO").arg("server").query_async(&mut c).await?;
    assert!(info.contains("valkey"), "a Valkey server answers: {info}");

    // A downgrade is refused by the API server; the cloud never hears of it.
    sim.reset_counters().await?;
    let refused = env.apply(instance(&id, "VALKEY_8_0", 1, 1)).await;
    let message = format!(
        "{:#}",
        refused.expect_err("the API server refuses a downgrade")
    );
    assert!(message.contains("cannot go down"), "{message}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counters = sim.counters().await?;
    assert_eq!(
        calls(&counters, |op| op == "instances.patch"),
        0,
        "no cloud call: {counters:#}"
    );
    let o = env.get("RedisCluster", "inventory").await?.unwrap();
    assert_eq!(o.data["spec"]["gcp"]["engineVersion"], "VALKEY_9_0");

    // Delete: the final backup outlives the instance.
    env.delete("AccessBinding", "inventory-api").await?;
    env.delete("RedisCluster", "inventory").await?;
    env.wait_gone("RedisCluster", "inventory", READY).await?;
    assert_eq!(sim.count_clusters(&id).await?, 0, "the instance is gone");
    let http = reqwest::Client::new();
    let collections: Value = http
        .get(format!(
            "{}/v1/projects/{project}/locations/{region}/backupCollections",
            sim.base_url()
        ))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let collection = collections["backupCollections"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["instance"] == name.as_str())
        .unwrap_or_else(|| panic!("the instance's backup collection: {collections:#}"));
    let backups: Value = http
        .get(format!(
            "{}/v1/{}/backups",
            sim.base_url(),
            collection["name"].as_str().unwrap()
        ))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let list = backups["backups"].as_array().cloned().unwrap_or_default();
    assert!(
        list.iter()
            .any(|b| b["state"] == "ACTIVE" && b["backupType"] == "ON_DEMAND"),
        "a final backup: {backups:#}"
    );
    Ok(())
}
