//! Memorystore for Valkey v1 (`memorystore.googleapis.com`): the `instances` collection and the
//! shared regional certificate authority. What the product checks itself (the instance id, the
//! body, the one-field update mask) is here and in [`instance`]; the lifecycle, operations,
//! replays and backups are the common ones ([`crate::gcp::managed`]).

pub mod instance;

use std::sync::Arc;

use serde_json::{Value, json};

pub use instance::{Instance, Instances};
use instance::{InstanceInput, InstanceSpec, MaskField, ServerCaMode, validate_instance_id};

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
    managed::create_with_id::<Instances>(
        shared,
        parent,
        q,
        "instanceId",
        validate_instance_id,
        |name, gcp| {
            let mut input = InstanceInput::parse(body, &parent.location)?;
            let link = input.replication.take();
            let secondary_of = replication::plan_create::<Instances>(gcp, name, link.as_ref())?;
            let primary = replication::primary_spec::<Instances>(gcp, secondary_of.as_ref());
            // A secondary may leave its shape to the primary (or to nothing: it will not exist).
            let shards = secondary_of
                .as_ref()
                .map(|_| primary.map_or(1, |(_, p)| p.shard_count));
            let mut spec = InstanceSpec::from_input(input, shards)?;
            if let Some(p) = primary {
                spec = replication::inherit_create::<Instances>(body, &spec, p)?;
            }
            Ok(Draft {
                import: spec.import.take(),
                spec,
                kms_field: "instance.kms_key",
                secondary_of,
            })
        },
    )
}

pub fn patch(shared: &Arc<Shared>, name: &str, q: &Query, body: &[u8]) -> Result<Value, RpcError> {
    let field = MaskField::parse_mask(q.get("updateMask"))?;
    if field == MaskField::CrossInstanceReplicationConfig {
        let region = name.split('/').nth(3).unwrap_or_default();
        let input = InstanceSpec::replication_patch(body, region)?;
        return replication::patch::<Instances>(shared, name, q, input);
    }
    managed::patch::<Instances>(shared, name, q, |i| {
        i.spec.apply_patch(body, &i.common.parent.location, field)
    })
}

/// The instance's own CA; an instance on the shared regional CA gets it from
/// `sharedRegionalCertificateAuthority` instead.
pub fn certificate_authority(shared: &Shared, name: &str) -> Result<Value, RpcError> {
    managed::certificate_authority::<Instances>(shared, name, |i| {
        i.spec
            .server_ca
            .as_ref()
            .is_none_or(|ca| ca.mode != ServerCaMode::GOOGLE_MANAGED_SHARED_CA)
    })
}

/// `GET v1/{name=projects/*/locations/*/sharedRegionalCertificateAuthority}`: the CA of instances
/// with `GOOGLE_MANAGED_SHARED_CA` (the simulator signs every endpoint with one CA).
pub fn shared_regional_certificate_authority(
    shared: &Shared,
    location: &LocationName,
) -> Result<Value, RpcError> {
    if location.is_wildcard() {
        return Err(RpcError::invalid(
            "A specific location is required; '-' is only valid when listing",
        ));
    }
    Ok(json!({
        "name": format!("{location}/sharedRegionalCertificateAuthority"),
        "managedServerCa": {"caCerts": [{"certificates": [shared.ca.pem()]}]},
    }))
}
