//! Memorystore for Redis Cluster v1 (`redis.googleapis.com`): the `clusters` collection. What the
//! product checks itself (the cluster id, the body, the update mask) is here and in [`cluster`];
//! the lifecycle, operations, replays and backups are the common ones ([`crate::gcp::managed`]).

pub mod cluster;

use std::sync::Arc;

use serde_json::Value;

pub use cluster::{Cluster, Clusters};
use cluster::{ClusterSpec, MaskField, validate_cluster_id};

use super::Query;
use super::error::RpcError;
use super::managed::{self, Draft};
use super::resource::LocationName;
use crate::sim::Shared;

pub fn create(
    shared: &Arc<Shared>,
    parent: &LocationName,
    q: &Query,
    body: &[u8],
) -> Result<Value, RpcError> {
    managed::create_with_id::<Clusters>(
        shared,
        parent,
        q,
        "clusterId",
        validate_cluster_id,
        |region| {
            let mut spec = ClusterSpec::parse_create(body, region)?;
            Ok(Draft {
                import: spec.import.take(),
                spec,
                kms_field: "cluster.kms_key",
            })
        },
    )
}

pub fn patch(shared: &Arc<Shared>, name: &str, q: &Query, body: &[u8]) -> Result<Value, RpcError> {
    let mask = MaskField::parse_mask(q.get("updateMask"))?;
    managed::patch::<Clusters>(shared, name, q, |c| {
        c.spec.apply_patch(body, &c.common.parent.location, &mask)
    })
}

pub fn certificate_authority(shared: &Shared, name: &str) -> Result<Value, RpcError> {
    managed::certificate_authority::<Clusters>(shared, name, |_| true)
}
