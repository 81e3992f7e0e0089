//! Convergence under cloud faults and operator crashes: every object reaches Ready, and the
//! simulator's inventory shows no duplicate and no orphaned cloud resource.

use std::collections::BTreeMap;
use std::time::Duration;

use cache_operator_testkit::cluster;
use e2e::{Env, Options, aws_region, condition, gcp_project, gcp_region, unique_id};
use serde_json::{Value, json};

const CONVERGE: Duration = Duration::from_secs(120);

fn manifest(name: &str, provider: &str, id: &str) -> Value {
    let m = if provider == "gcp" {
        cluster::gcp(name)
            .region(&gcp_region())
            .project(&gcp_project())
    } else {
        cluster::aws(name)
            .region(&aws_region())
            .engine("redis")
            .cluster_mode("enabled")
    };
    m.instance_id(id)
        .replicas(0)
        .auth("disabled")
        .tls(false)
        .into_json()
}

/// How many simulated clusters carry each of our IDs.
async fn inventory(env: &Env, ids: &[String]) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut out = BTreeMap::new();
    for id in ids {
        out.insert(id.clone(), env.sim().count_clusters(id).await?);
    }
    Ok(out)
}

fn objects() -> Vec<(String, String, Value)> {
    (0..6)
        .map(|i| {
            let provider = if i % 2 == 0 { "gcp" } else { "aws" };
            let name = format!("c{i}");
            let id = unique_id(&format!("f{i}"));
            let m = manifest(&name, provider, &id);
            (name, id, m)
        })
        .collect()
}

async fn all_ready(env: &Env, names: &[String]) -> anyhow::Result<()> {
    for n in names {
        env.wait_ready("RedisCluster", n, CONVERGE).await?;
    }
    Ok(())
}

async fn all_gone(env: &Env, names: &[String]) -> anyhow::Result<()> {
    for n in names {
        env.wait_gone("RedisCluster", n, CONVERGE).await?;
    }
    Ok(())
}

#[tokio::test]
async fn converges_through_5xx_and_throttling_without_duplicates() -> anyhow::Result<()> {
    let env = Env::start_with(
        "faults",
        Options {
            no_redis: true,
            ..Options::default()
        },
    )
    .await?;
    env.sim()
        .faults(json!({"errorRate": 0.2, "throttleBurst": {"requests": 10}, "seed": 7}))
        .await?;
    let objs = objects();
    let names: Vec<String> = objs.iter().map(|o| o.0.clone()).collect();
    let ids: Vec<String> = objs.iter().map(|o| o.1.clone()).collect();
    for (_, _, m) in &objs {
        env.apply(m.clone()).await?;
    }
    all_ready(&env, &names).await?;
    let inv = inventory(&env, &ids).await?;
    assert!(
        inv.values().all(|n| *n == 1),
        "each cluster exactly once: {inv:?}"
    );
    let counters = env.sim().counters().await?;
    let injected = counters.to_string().matches("UNAVAILABLE").count()
        + counters.to_string().matches("ServiceUnavailable").count()
        + counters.to_string().matches("Throttling").count()
        + counters.to_string().matches("RESOURCE_EXHAUSTED").count();
    assert!(injected > 0, "faults were injected: {counters:#}");

    for n in &names {
        env.delete("RedisCluster", n).await?;
    }
    all_gone(&env, &names).await?;
    let inv = inventory(&env, &ids).await?;
    assert!(inv.values().all(|n| *n == 0), "nothing orphaned: {inv:?}");
    Ok(())
}

#[tokio::test]
async fn survives_sigkill_during_create_and_delete() -> anyhow::Result<()> {
    let opts = Options {
        no_redis: true,
        provisioning_delay: Duration::from_secs(2),
        ..Options::default()
    };
    let mut env = Env::start_with("sigkill", opts).await?;
    let objs = objects();
    let names: Vec<String> = objs.iter().map(|o| o.0.clone()).collect();
    let ids: Vec<String> = objs.iter().map(|o| o.1.clone()).collect();
    for (_, _, m) in &objs {
        env.apply(m.clone()).await?;
    }
    // Kill the operator while the clouds are creating.
    env.wait_for("RedisCluster", &names[0], CONVERGE, |o| {
        (o?.data["status"]["phase"] == "Creating").then_some(())
    })
    .await?;
    env.operators[0].kill().await?;
    env.operators.clear();
    env.start_operator("operator-restarted", &[]).await?;
    all_ready(&env, &names).await?;
    let inv = inventory(&env, &ids).await?;
    assert!(
        inv.values().all(|n| *n == 1),
        "no duplicates after the restart: {inv:?}"
    );

    for n in &names {
        env.delete("RedisCluster", n).await?;
    }
    env.wait_for("RedisCluster", &names[1], CONVERGE, |o| {
        (o?.data["status"]["phase"] == "Deleting").then_some(())
    })
    .await?;
    env.operators[0].kill().await?;
    env.operators.clear();
    env.start_operator("operator-restarted-again", &[]).await?;
    all_gone(&env, &names).await?;
    let inv = inventory(&env, &ids).await?;
    assert!(
        inv.values().all(|n| *n == 0),
        "nothing orphaned after the restart: {inv:?}"
    );
    for n in &names {
        assert!(
            env.get("RedisCluster", n)
                .await?
                .is_none_or(|o| condition(&o, "Ready").is_none())
        );
    }
    Ok(())
}
