//! Fixtures of the cluster controller's tests: what the cloud reports, and statuses.

use cache_operator_api::cluster::{Phase, RedisCluster, RedisClusterStatus};
use cache_operator_api::model::DesiredCluster;
use cache_operator_cloud::provider::{Claim, ClusterState, Endpoint, ObservedCluster};
use cache_operator_cloud::{CloudError, ErrorClass};
use cache_operator_testkit::cluster;

use super::observe::Seen;

pub const RES: &str = "projects/shop-prod/locations/us-central1/clusters/orders";

pub fn observed(state: ClusterState) -> ObservedCluster {
    ObservedCluster {
        id: "orders".into(),
        resource: RES.into(),
        uid: Some("uid-1".into()),
        created: Some("2026-01-01T00:00:00Z".into()),
        state,
        raw_state: format!("{state:?}").to_uppercase(),
        node_type: "redis-shared-core-nano".into(),
        shard_count: 1,
        replicas_per_shard: 0,
        discovery: vec![Endpoint {
            host: "10.0.0.5".into(),
            port: 6379,
        }],
        primary: None,
        reader: None,
        transit_encryption: true,
        pending: Vec::new(),
        gcp: Some(Box::default()),
        aws: None,
        replication: None,
    }
}

pub fn seen(state: ClusterState) -> Seen {
    Seen {
        cluster: observed(state),
        claim: Claim::Ours,
        operation: None,
        changes: Vec::new(),
        ca_certificates: None,
        attempt: None,
        backup: None,
        set: None,
    }
}

/// The status of a cluster this object created.
pub fn ours(phase: Phase) -> RedisClusterStatus {
    RedisClusterStatus {
        phase: Some(phase),
        cloud_resource: Some(RES.into()),
        cloud_uid: Some("uid-1".into()),
        ..Default::default()
    }
}

pub fn following(op: &str) -> RedisClusterStatus {
    RedisClusterStatus {
        operation: Some(op.into()),
        ..ours(Phase::Updating)
    }
}

pub fn desired() -> DesiredCluster {
    cluster::gcp("orders")
        .parse::<RedisCluster>()
        .desired()
        .unwrap()
}

pub fn err(class: ErrorClass, message: &str) -> CloudError {
    CloudError::new(class, "CODE", message, "memorystore clusters.patch")
}
