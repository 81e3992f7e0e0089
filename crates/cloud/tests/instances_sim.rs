//! The Memorystore for Valkey client against the cloud simulator: the calls the operator makes
//! to `memorystore.googleapis.com` instances and what the service answers.

mod common;

use std::sync::Arc;

use cache_operator_api::cluster::RedisClusterSpec;
use cache_operator_api::model::{DesiredCluster, GcpCluster, ValkeyVersion};
use cache_operator_cloud::error::NoObserver;
use cache_operator_cloud::gcp::instances::OWNER_LABEL;
use cache_operator_cloud::gcp::memorystore::Memorystore;
use cache_operator_cloud::gcp::{GcpAuth, GcpInstances, GoogleRest};
use cache_operator_cloud::provider::{
    Change, Claim, ClusterState, Clusters, FinalBackup, OperationState, Owner, Progress,
};
use serde_json::json;

use common::{eventually, sim};

fn owner() -> Owner {
    Owner {
        uid: "7c1e0a52-0000-4000-8000-00000000000b".into(),
        namespace: "shop".into(),
        name: "orders".into(),
        generation: 1,
        attempt: 0,
    }
}

fn desired(mode: &str, shards: i32) -> GcpCluster {
    let spec: RedisClusterSpec = serde_json::from_value(json!({
        "provider": "gcp", "region": "us-central1", "nodeType": "shared-core-nano",
        "shardCount": shards, "replicasPerShard": 1, "authMode": "iam",
        "gcp": {"engine": "valkey", "engineVersion": "VALKEY_8_0", "mode": mode,
                "project": "shop-prod", "network": "projects/shop-prod/global/networks/default"}
    }))
    .unwrap();
    match spec.desired("orders").unwrap() {
        DesiredCluster::Gcp(c) => c,
        DesiredCluster::Aws(_) => unreachable!("a gcp spec"),
    }
}

fn client(sim: &cloudsim::Running) -> GcpInstances {
    let rest = GoogleRest::new(GcpAuth::Anonymous, Arc::new(NoObserver));
    GcpInstances::new(Memorystore::new(rest, sim.base_url()))
}

async fn finished(p: &GcpInstances, progress: &Progress) -> OperationState {
    let Progress::Operation(op) = progress else {
        panic!("gcp writes are operations: {progress:?}")
    };
    eventually("the operation to finish", || async {
        match p.operation(op).await.unwrap() {
            OperationState::Running => None,
            other => Some(other),
        }
    })
    .await
}

#[tokio::test]
async fn an_instance_is_created_owned_changed_backed_up_and_deleted() {
    let sim = sim(false).await;
    let p = client(&sim);
    let d = desired("cluster", 2);
    let created = p.create(&d, &owner()).await.unwrap();
    assert_eq!(created.resource, d.name());
    // A lost answer: the retry is the same request and makes no second instance.
    let retried = p.create(&d, &owner()).await.unwrap();
    assert_eq!(retried.progress, created.progress);
    assert_eq!(finished(&p, &created.progress).await, OperationState::Done);

    let listed = p.list(&d).await.unwrap();
    assert_eq!(listed.len(), 1);
    let o = &listed[0];
    assert_eq!(o.state, ClusterState::Available);
    assert_eq!(o.node_type, "shared-core-nano");
    assert_eq!(o.discovery.len(), 1, "one discovery endpoint: {o:?}");
    let g = o.gcp.as_ref().unwrap();
    assert_eq!(g.labels.get(OWNER_LABEL), Some(&owner().uid));
    assert_eq!(g.engine_version.as_deref(), Some("VALKEY_8_0"));
    assert!(g.iam_auth);
    assert_eq!(p.changes(&d, o), vec![]);
    assert_eq!(p.claim(&d, &owner(), o).await.unwrap(), Claim::Ours);
    let stranger = Owner {
        uid: "someone-else".into(),
        ..owner()
    };
    assert!(matches!(
        p.claim(&d, &stranger, o).await.unwrap(),
        Claim::Foreign(_)
    ));

    // An upgrade, then a scale, one at a time.
    let mut up = d.clone();
    up.valkey.as_mut().unwrap().version = ValkeyVersion::parse("VALKEY_9_0");
    up.replica_count = 2;
    let todo = p.changes(&up, o);
    assert_eq!(todo, vec![Change::ReplicaCount(2), Change::EngineVersion]);
    for change in &todo {
        let op = p.apply(&up, change, &owner()).await.unwrap();
        assert_eq!(finished(&p, &op).await, OperationState::Done, "{change:?}");
    }
    let o = p.get(&up).await.unwrap().unwrap();
    assert_eq!(o.replicas_per_shard, 2);
    assert_eq!(
        o.gcp.as_ref().unwrap().engine_version.as_deref(),
        Some("VALKEY_9_0")
    );
    assert_eq!(p.changes(&up, &o), vec![]);
    assert!(!p.ca_certificates(&up).await.unwrap().is_empty());

    let FinalBackup::Before(progress) =
        p.final_backup(&up, &owner(), "orders-final").await.unwrap()
    else {
        panic!("gcp backs up before the delete")
    };
    assert_eq!(finished(&p, &progress).await, OperationState::Done);
    let deleting = p.delete(&up, &owner()).await.unwrap();
    assert_eq!(finished(&p, &deleting).await, OperationState::Done);
    assert!(p.get(&up).await.unwrap().is_none());
    let backups = p.backups(&up).await.unwrap();
    assert!(
        backups.iter().any(|b| b.name == "orders-final" && b.ready),
        "the final backup outlives the instance: {backups:?}"
    );
}

#[tokio::test]
async fn cluster_mode_disabled_has_a_primary_and_a_reader() {
    let sim = sim(false).await;
    let p = client(&sim);
    let d = desired("cluster-disabled", 1);
    let created = p.create(&d, &owner()).await.unwrap();
    assert_eq!(finished(&p, &created.progress).await, OperationState::Done);
    let o = p.get(&d).await.unwrap().unwrap();
    let primary = o.primary.clone().expect("a primary endpoint");
    assert!(o.reader.is_some(), "a reader endpoint: {o:?}");
    assert_eq!(o.discovery, vec![primary], "clients start at the primary");
}
