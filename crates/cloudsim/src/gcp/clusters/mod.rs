//! Memorystore for Redis Cluster v1 (`redis.googleapis.com`): the `clusters` collection. What the
//! product checks itself (the cluster id, the body, the update mask) is here and in [`cluster`];
//! the lifecycle, operations, replays and backups are the common ones ([`crate::gcp::managed`]).

pub mod cluster;

use std::sync::Arc;

use serde_json::Value;

pub use cluster::{Cluster, Clusters};
use cluster::{ClusterInput, ClusterSpec, MaskField, validate_cluster_id};

use super::Query;
use super::error::RpcError;
use super::managed::{self, Draft};
use super::replication;
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
        |name, gcp| {
            let mut input = ClusterInput::parse(body, &parent.location)?;
            let link = input.replication.take();
            let secondary_of = replication::plan_create::<Clusters>(gcp, name, link.as_ref())?;
            let primary = replication::primary_spec::<Clusters>(gcp, secondary_of.as_ref());
            // A secondary may leave its shape to the primary (or to nothing: it will not exist).
            let shards = secondary_of
                .as_ref()
                .map(|_| primary.map_or(1, |(_, p)| p.shard_count));
            let mut spec = ClusterSpec::from_input(input, shards)?;
            if let Some(p) = primary {
                spec = replication::inherit_create::<Clusters>(body, &spec, p)?;
            }
            Ok(Draft {
                import: spec.import.take(),
                spec,
                kms_field: "cluster.kms_key",
                secondary_of,
            })
        },
    )
}

pub fn patch(shared: &Arc<Shared>, name: &str, q: &Query, body: &[u8]) -> Result<Value, RpcError> {
    let mask = MaskField::parse_mask(q.get("updateMask"))?;
    if mask.contains(&MaskField::CrossClusterReplicationConfig) {
        if mask.len() > 1 {
            return Err(RpcError::bad_field(
                "update_mask",
                "cross_cluster_replication_config must be updated alone",
            ));
        }
        let region = name.split('/').nth(3).unwrap_or_default();
        let input = ClusterSpec::replication_patch(body, region)?;
        return replication::patch::<Clusters>(shared, name, q, input);
    }
    managed::patch::<Clusters>(shared, name, q, |c| {
        c.spec.apply_patch(body, &c.common.parent.location, &mask)
    })
}

pub fn certificate_authority(shared: &Shared, name: &str) -> Result<Value, RpcError> {
    managed::certificate_authority::<Clusters>(shared, name, |_| true)
}
