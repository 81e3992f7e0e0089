//! Two replicas: only the Lease holder reconciles; when it dies the standby takes over.

use std::time::Duration;

use cache_operator_testkit::cluster;
use e2e::{Env, Options, aws_region};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;

fn cluster(name: &str, id: &str) -> serde_json::Value {
    cluster::aws(name)
        .instance_id(id)
        .region(&aws_region())
        .auth("disabled")
        .tls(false)
        .into_json()
}

fn reconciles(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("cache_operator_reconciles_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn only_the_lease_holder_reconciles_and_a_standby_takes_over() -> anyhow::Result<()> {
    let mut env = Env::start_with(
        "leader",
        Options {
            no_redis: true,
            ..Options::default()
        },
    )
    .await?;
    env.start_operator("standby", &[]).await?;
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), &env.operator_namespace);
    let holder = |l: Option<Lease>| l.and_then(|l| l.spec).and_then(|s| s.holder_identity);
    let first = format!("{}-operator", env.name);
    let second = format!("{}-standby", env.name);
    env.wait_for_value(Duration::from_secs(20), || async {
        (holder(leases.get_opt("cache-operator").await.ok()?) == Some(first.clone())).then_some(())
    })
    .await?;

    let id = format!("lead-{:x}", rand::random::<u16>());
    env.apply(cluster("one", &id)).await?;
    env.wait_ready("RedisCluster", "one", Duration::from_secs(60))
        .await?;
    assert!(reconciles(&env.operators[0].get("/metrics").await?) > 0);
    assert_eq!(
        reconciles(&env.operators[1].get("/metrics").await?),
        0,
        "the standby must not reconcile"
    );
    assert!(
        env.operators[1]
            .get("/metrics")
            .await?
            .contains("cache_operator_leader 0")
    );

    // The holder dies without releasing; the standby waits out the Lease and takes over.
    env.operators[0].kill().await?;
    let taken = env
        .wait_for_value(Duration::from_secs(30), || async {
            (holder(leases.get_opt("cache-operator").await.ok()?) == Some(second.clone()))
                .then_some(())
        })
        .await;
    assert!(taken.is_ok(), "the standby did not take the Lease");
    env.apply(cluster("two", &format!("{id}-b"))).await?;
    env.wait_ready("RedisCluster", "two", Duration::from_secs(60))
        .await?;
    assert!(reconciles(&env.operators[1].get("/metrics").await?) > 0);
    Ok(())
}
