//! The platform itself: CRDs install, the API server accepts the samples and refuses invalid
//! objects naming the field, the operator takes its Lease, serves metrics and stops cleanly.

use std::time::Duration;

use cache_operator_testkit::cluster;
use e2e::{Env, Options};
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use serde_json::Value;

/// A gcp cluster with an instance ID and a shard count the schema refuses.
fn invalid() -> Value {
    cluster::gcp("bad")
        .instance_id("1bad")
        .node_type("redis-standard-small")
        .shards(0)
        .into_json()
}

/// An aws cluster with a gcp node type.
fn cross() -> Value {
    cluster::aws("cross")
        .node_type("redis-standard-small")
        .auth("disabled")
        .into_json()
}

fn samples() -> Vec<Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/samples");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for f in files {
        if f.file_name().is_some_and(|n| n == "kustomization.yaml") {
            continue;
        }
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(&std::fs::read_to_string(&f).unwrap()).unwrap();
        out.extend(docs);
    }
    out
}

#[tokio::test]
async fn samples_are_accepted_and_invalid_objects_refused_by_the_server() -> anyhow::Result<()> {
    let env = Env::start_with(
        "admission",
        Options {
            operator: false,
            ..Options::default()
        },
    )
    .await?;
    let samples = samples();
    assert_eq!(samples.len(), 17);
    for s in samples {
        let name = s["metadata"]["name"].as_str().unwrap().to_owned();
        let applied = env.apply(s.clone()).await?;
        assert_eq!(applied.metadata.name.as_deref(), Some(name.as_str()));
        assert_eq!(applied.metadata.generation, Some(1));
    }

    let invalid = invalid();
    let err = env
        .apply(invalid)
        .await
        .expect_err("the API server must refuse it");
    let kube::Error::Api(status) = err.downcast::<kube::Error>()? else {
        panic!("not an API error")
    };
    assert_eq!(status.code, 422, "{status:?}");
    assert!(
        status.message.contains("spec.instanceId"),
        "{}",
        status.message
    );
    assert!(
        status.message.contains("spec.shardCount"),
        "{}",
        status.message
    );

    let cross = cross();
    let err = env
        .apply(cross)
        .await
        .expect_err("a gcp node type on aws must be refused");
    assert!(format!("{err:#}").contains("nodeType must be"), "{err:#}");

    // Engine upgrades go one way (the CEL transition rules): 7.0 → 7.1 → Valkey 8.0 is
    // accepted, going back down or from Valkey to Redis OSS is refused by the API server.
    let engine = |engine: &str, version: &str| {
        cluster::aws("upgrades")
            .auth("disabled")
            .engine(engine)
            .engine_version(version)
            .into_json()
    };
    env.apply(engine("redis", "7.0")).await?;
    env.apply(engine("redis", "7.1")).await?;
    let err = env
        .apply(engine("redis", "7.0"))
        .await
        .expect_err("a downgrade must be refused");
    assert!(format!("{err:#}").contains("cannot go down"), "{err:#}");
    env.apply(engine("valkey", "8.0")).await?;
    let err = env
        .apply(engine("redis", "8.0"))
        .await
        .expect_err("valkey to redis must be refused");
    assert!(format!("{err:#}").contains("never back"), "{err:#}");
    Ok(())
}

#[tokio::test]
async fn the_operator_takes_its_lease_serves_metrics_and_stops_on_sigterm() -> anyhow::Result<()> {
    let mut env = Env::start("operator-process").await?;
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), &env.operator_namespace);
    let holder = env
        .wait_for_value(Duration::from_secs(20), || async {
            let lease = leases.get_opt("cache-operator").await.ok()??;
            lease.spec?.holder_identity
        })
        .await?;
    assert_eq!(holder, format!("{}-operator", env.name));

    let metrics = env.operators[0].get("/metrics").await?;
    assert!(metrics.contains("cache_operator_leader 1"), "{metrics}");
    assert!(env.operators[0].get("/readyz").await?.contains("ready"));

    let statuses = env.stop_operators().await;
    assert_eq!(statuses.len(), 1);
    assert!(statuses[0].success(), "exit status {:?}", statuses[0]);
    let log = env.operators[0].log_text();
    assert!(log.contains("released the leader Lease"), "{log}");
    assert!(log.contains("shut down cleanly"), "{log}");
    let lease = leases.get("cache-operator").await?;
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity),
        None,
        "the Lease is released for a standby"
    );
    Ok(())
}
