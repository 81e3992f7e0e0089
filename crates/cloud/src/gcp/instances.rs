//! [`Clusters`] for Memorystore for Valkey (`memorystore.googleapis.com/v1`,
//! `projects.locations.instances`): the wire shape of an `Instance` and what differs from Redis
//! Cluster. What the two products share (request IDs, change detection, maintenance, automated
//! backups, operations, backups, the CA) is the Redis Cluster code of [`super::provider`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use cache_operator_api::model::{GcpCluster, GcpNodeType, GcpRestore};
use serde::{Deserialize, Serialize};
use serde_json::Value;
#[cfg(test)]
use serde_json::json;

use super::memorystore::{
    AutomatedBackupConfig, EncryptionInfo, GcsSource, ListPage, MaintenancePolicy,
    MaintenanceSchedule, ManagedBackupSource, Memorystore, Operation,
};
use super::provider::{
    GcpClusters, automated_backup_config, changes, claim_of_replay, maintenance_policy,
    observed_backup_config, observed_maintenance, patch_request_id, request_id,
    valkey_persistence_json, weekly_window, who, zone_json,
};
use crate::error::{CloudError, ErrorClass, Result};
use crate::provider::{
    Change, Claim, ClusterState, Clusters, Created, Endpoint, FinalBackup, GcpObserved,
    ObservedBackup, ObservedCluster, OperationState, Owner, Progress,
};

/// The label that names the Kubernetes object (its UID) an instance belongs to.
pub const OWNER_LABEL: &str = "cache-operator-owner-uid";

/// The `Instance` resource, with the fields the operator reads or writes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_configs: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transit_encryption_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_ca_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_protection_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_distribution_config: Option<Value>,
    /// `[{connections: [{pscAutoConnection | pscConnection}]}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<EndpointGroup>>,
    /// Deprecated, reported for instances made with `pscAutoConnections`.
    #[serde(default, skip_serializing)]
    pub discovery_endpoints: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_policy: Option<MaintenancePolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_schedule: Option<MaintenanceSchedule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated_backup_config: Option<AutomatedBackupConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_info: Option<EncryptionInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_collection: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcs_source: Option<GcsSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_backup_source: Option<ManagedBackupSource>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointGroup {
    #[serde(default)]
    pub connections: Vec<Connection>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psc_auto_connection: Option<PscConnection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psc_connection: Option<PscConnection>,
}

/// A PSC connection; on input only `projectId` and `network` (auto-created connections).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PscConnection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(default, skip_serializing)]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing)]
    pub port: Option<i32>,
    /// `CONNECTION_TYPE_DISCOVERY`, `_PRIMARY`, `_READER`.
    #[serde(default, skip_serializing)]
    pub connection_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListInstances {
    #[serde(default)]
    instances: Vec<Instance>,
    #[serde(default)]
    next_page_token: Option<String>,
}

impl ListPage for ListInstances {
    type Item = Instance;
    fn split(self) -> (Vec<Instance>, Option<String>) {
        (self.instances, self.next_page_token)
    }
}

impl Memorystore {
    pub async fn get_instance(&self, name: &str) -> Result<Option<Instance>> {
        self.get_in("instances", name).await
    }

    /// Every instance under `parent`, following `nextPageToken`.
    pub async fn list_instances(&self, parent: &str) -> Result<Vec<Instance>> {
        self.list_all::<ListInstances>("instances.list", &format!("{parent}/instances"))
            .await
    }

    pub async fn create_instance(
        &self,
        parent: &str,
        instance_id: &str,
        request_id: &str,
        body: &Instance,
    ) -> Result<Operation> {
        self.create_in(
            "instances",
            "instanceId",
            (parent, instance_id, request_id),
            body,
        )
        .await
    }

    pub async fn patch_instance(
        &self,
        name: &str,
        update_mask: &str,
        request_id: &str,
        body: &Instance,
    ) -> Result<Operation> {
        self.patch_in("instances", name, (update_mask, request_id), body)
            .await
    }

    pub async fn delete_instance(&self, name: &str, request_id: &str) -> Result<Operation> {
        self.delete_in("instances", name, request_id).await
    }
}

/// Memorystore for Valkey instances. Ownership is the [`OWNER_LABEL`] the create sets; a
/// retried create is the same `requestId` (answered with the first operation).
#[derive(Clone)]
pub struct GcpInstances {
    api: Memorystore,
    /// The calls both products share (operations, backups, the CA), on this API's host.
    shared: GcpClusters,
}

impl GcpInstances {
    pub fn new(api: Memorystore) -> Self {
        GcpInstances {
            shared: GcpClusters::new(api.clone()),
            api,
        }
    }
}

/// The create body for a desired instance.
pub fn create_body(c: &GcpCluster, owner: Option<&Owner>) -> Instance {
    let v = c.valkey.clone().unwrap_or_else(|| {
        // Only Valkey clusters reach this client (`Clouds::cluster`); the defaults stand in.
        cache_operator_api::model::Valkey {
            version: None,
            cluster_mode: true,
            engine_configs: BTreeMap::new(),
            server_ca_mode: None,
        }
    });
    let network_project = c.network.split('/').nth(1).unwrap_or(&c.project).to_owned();
    Instance {
        labels: owner.map(|o| [(OWNER_LABEL.to_owned(), o.uid.clone())].into()),
        mode: Some(
            if v.cluster_mode {
                "CLUSTER"
            } else {
                "CLUSTER_DISABLED"
            }
            .into(),
        ),
        node_type: c.node_type.valkey_api_value().map(str::to_owned),
        shard_count: Some(c.shard_count as i32),
        replica_count: Some(c.replica_count as i32),
        engine_version: v.version.map(|v| v.api_value()),
        engine_configs: (!v.engine_configs.is_empty()).then(|| v.engine_configs.clone()),
        authorization_mode: Some(
            if c.iam_auth {
                "IAM_AUTH"
            } else {
                "AUTH_DISABLED"
            }
            .into(),
        ),
        transit_encryption_mode: Some(
            if c.transit_encryption {
                "SERVER_AUTHENTICATION"
            } else {
                "TRANSIT_ENCRYPTION_DISABLED"
            }
            .into(),
        ),
        server_ca_mode: v.server_ca_mode.map(|m| m.api_value().into()),
        deletion_protection_enabled: Some(c.deletion_protection),
        persistence_config: c.persistence.as_ref().map(valkey_persistence_json),
        zone_distribution_config: c.zone_distribution.as_ref().map(zone_json),
        endpoints: Some(vec![EndpointGroup {
            connections: vec![Connection {
                psc_auto_connection: Some(PscConnection {
                    project_id: Some(network_project),
                    network: Some(c.network.clone()),
                    ..PscConnection::default()
                }),
                psc_connection: None,
            }],
        }]),
        maintenance_policy: c.maintenance_window.as_ref().map(maintenance_policy),
        automated_backup_config: c.automated_backup.as_ref().map(automated_backup_config),
        kms_key: c.kms_key.clone(),
        gcs_source: match &c.restore {
            Some(GcpRestore::Gcs(uris)) => Some(GcsSource { uris: uris.clone() }),
            _ => None,
        },
        managed_backup_source: match &c.restore {
            Some(GcpRestore::Backup(backup)) => Some(ManagedBackupSource {
                backup: backup.clone(),
            }),
            _ => None,
        },
        ..Instance::default()
    }
}

/// Where clients connect, from `endpoints[].connections[]` by connection type (the deprecated
/// `discoveryEndpoints` when the instance reports no endpoints): discovery, primary, reader.
fn endpoints(i: &Instance) -> (Vec<Endpoint>, Option<Endpoint>, Option<Endpoint>) {
    let mut discovery = Vec::new();
    let mut primary = None;
    let mut reader = None;
    let connections = i
        .endpoints
        .iter()
        .flatten()
        .flat_map(|g| &g.connections)
        .filter_map(|c| c.psc_auto_connection.as_ref().or(c.psc_connection.as_ref()));
    for c in connections {
        let Some(host) = c.ip_address.clone().filter(|h| !h.is_empty()) else {
            continue;
        };
        let e = Endpoint {
            host,
            port: c.port.and_then(|p| u16::try_from(p).ok()).unwrap_or(6379),
        };
        match c.connection_type.as_deref() {
            Some("CONNECTION_TYPE_DISCOVERY") if !discovery.contains(&e) => discovery.push(e),
            Some("CONNECTION_TYPE_PRIMARY") => {
                primary.get_or_insert(e);
            }
            Some("CONNECTION_TYPE_READER") => {
                reader.get_or_insert(e);
            }
            _ => {}
        }
    }
    if discovery.is_empty() && primary.is_none() {
        discovery = i
            .discovery_endpoints
            .iter()
            .filter_map(|d| {
                Some(Endpoint {
                    host: d.get("address")?.as_str()?.to_owned(),
                    port: d
                        .get("port")
                        .and_then(Value::as_i64)
                        .and_then(|p| u16::try_from(p).ok())
                        .unwrap_or(6379),
                })
            })
            .collect();
    }
    // With cluster mode disabled clients start at the primary endpoint: it is the one the
    // Secret's host names.
    if discovery.is_empty()
        && let Some(p) = &primary
    {
        discovery.push(p.clone());
    }
    (discovery, primary, reader)
}

pub fn observe(i: Instance) -> ObservedCluster {
    let raw_state = i.state.clone().unwrap_or_default();
    let state = match raw_state.as_str() {
        "CREATING" => ClusterState::Creating,
        "ACTIVE" => ClusterState::Available,
        "UPDATING" => ClusterState::Updating,
        "DELETING" => ClusterState::Deleting,
        _ => ClusterState::Unknown,
    };
    let name = i.name.clone().unwrap_or_default();
    let id = name.rsplit('/').next().unwrap_or_default().to_owned();
    let node_type = i
        .node_type
        .as_deref()
        .map(|t| {
            GcpNodeType::from_valkey_api_value(t)
                .and_then(GcpNodeType::valkey_name)
                .unwrap_or(t)
                .to_owned()
        })
        .unwrap_or_default();
    let (discovery, primary, reader) = endpoints(&i);
    ObservedCluster {
        id,
        resource: name,
        uid: i.uid.clone(),
        created: i.create_time.clone(),
        state,
        raw_state,
        node_type,
        shard_count: i.shard_count.unwrap_or(0).max(0) as u32,
        replicas_per_shard: i.replica_count.unwrap_or(0).max(0) as u32,
        discovery,
        primary,
        reader,
        transit_encryption: i.transit_encryption_mode.as_deref() == Some("SERVER_AUTHENTICATION"),
        pending: Vec::new(),
        gcp: Some(Box::new(GcpObserved {
            iam_auth: i.authorization_mode.as_deref() == Some("IAM_AUTH"),
            deletion_protection: i.deletion_protection_enabled.unwrap_or(false),
            persistence: i.persistence_config.clone(),
            redis_configs: i.engine_configs.clone().unwrap_or_default(),
            engine_version: i.engine_version.clone(),
            labels: i.labels.clone().unwrap_or_default(),
            maintenance_window: i.maintenance_policy.as_ref().and_then(weekly_window),
            maintenance: observed_maintenance(
                i.maintenance_policy.as_ref(),
                i.maintenance_schedule.as_ref(),
            ),
            automated_backup: i
                .automated_backup_config
                .as_ref()
                .map(observed_backup_config),
            kms_key: i.kms_key.clone(),
            encryption: i
                .encryption_info
                .as_ref()
                .and_then(|e| e.encryption_type.clone()),
            backup_collection: i.backup_collection.clone(),
        })),
        aws: None,
        replication: None,
    }
}

/// Whose an existing instance is, from its owner label.
pub fn claim_of_label(owner: &Owner, observed: &ObservedCluster) -> Option<Claim> {
    let labels = &observed.gcp.as_ref()?.labels;
    match labels.get(OWNER_LABEL) {
        Some(uid) if *uid == owner.uid => Some(Claim::Ours),
        Some(uid) => Some(Claim::Foreign(format!(
            "{} belongs to another object (label {OWNER_LABEL}={uid})",
            who(observed)
        ))),
        None => None,
    }
}

/// The one-field patch of a change: its `updateMask` and body.
pub fn patch_of(c: &GcpCluster, change: &Change) -> Result<(&'static str, Instance)> {
    let full = create_body(c, None);
    let empty = Instance::default;
    Ok(match change {
        Change::NodeType => (
            "nodeType",
            Instance {
                node_type: full.node_type,
                ..empty()
            },
        ),
        Change::ShardCount(n) => (
            "shardCount",
            Instance {
                shard_count: Some(*n as i32),
                ..empty()
            },
        ),
        Change::ReplicaCount(n) => (
            "replicaCount",
            Instance {
                replica_count: Some(*n as i32),
                ..empty()
            },
        ),
        Change::EngineVersion => (
            "engineVersion",
            Instance {
                engine_version: full.engine_version,
                ..empty()
            },
        ),
        Change::DeletionProtection(on) => (
            "deletionProtectionEnabled",
            Instance {
                deletion_protection_enabled: Some(*on),
                ..empty()
            },
        ),
        Change::Persistence => (
            "persistenceConfig",
            Instance {
                persistence_config: full.persistence_config,
                ..empty()
            },
        ),
        Change::RedisConfigs => (
            "engineConfigs",
            Instance {
                engine_configs: full.engine_configs,
                ..empty()
            },
        ),
        Change::MaintenanceWindow => (
            "maintenancePolicy",
            Instance {
                maintenance_policy: full.maintenance_policy,
                ..empty()
            },
        ),
        Change::AutomatedBackup => (
            "automatedBackupConfig",
            Instance {
                automated_backup_config: full.automated_backup_config,
                ..empty()
            },
        ),
        other => {
            return Err(CloudError::new(
                ErrorClass::InvalidArgument,
                "unsupported",
                format!("Memorystore for Valkey cannot change {}", other.describe()),
                "memorystore instances.patch",
            ));
        }
    })
}

#[async_trait]
impl Clusters<GcpCluster> for GcpInstances {
    fn changes(&self, desired: &GcpCluster, observed: &ObservedCluster) -> Vec<Change> {
        changes(desired, observed)
    }

    async fn list(&self, like: &GcpCluster) -> Result<Vec<ObservedCluster>> {
        let instances = self.api.list_instances(&like.parent()).await?;
        Ok(instances.into_iter().map(observe).collect())
    }

    async fn get(&self, c: &GcpCluster) -> Result<Option<ObservedCluster>> {
        Ok(self.api.get_instance(&c.name()).await?.map(observe))
    }

    async fn create(&self, c: &GcpCluster, owner: &Owner) -> Result<Created> {
        let op = self
            .api
            .create_instance(
                &c.parent(),
                &c.cluster_id,
                &request_id(owner, "create"),
                &create_body(c, Some(owner)),
            )
            .await?;
        Ok(Created {
            progress: Progress::Operation(op.name),
            resource: c.name(),
        })
    }

    async fn claim(
        &self,
        c: &GcpCluster,
        owner: &Owner,
        observed: &ObservedCluster,
    ) -> Result<Claim> {
        if let Some(claim) = claim_of_label(owner, observed) {
            return Ok(claim);
        }
        // No owner label (made by someone else, or its label removed): a replay of our create
        // still proves ours while the service remembers the request.
        let reply = self
            .api
            .create_instance(
                &c.parent(),
                &c.cluster_id,
                &request_id(owner, "create"),
                &create_body(c, Some(owner)),
            )
            .await;
        match reply {
            Ok(op) => Ok(claim_of_replay(&op, observed)),
            Err(e) if e.is(ErrorClass::AlreadyExists) => Ok(Claim::Foreign(format!(
                "{} exists without the {OWNER_LABEL} label of this object",
                who(observed)
            ))),
            Err(e) => Err(e),
        }
    }

    async fn adopt(&self, c: &GcpCluster, owner: &Owner, observed: &ObservedCluster) -> Result<()> {
        let mut labels = observed
            .gcp
            .as_ref()
            .map(|g| g.labels.clone())
            .unwrap_or_default();
        if labels.get(OWNER_LABEL) == Some(&owner.uid) {
            return Ok(());
        }
        labels.insert(OWNER_LABEL.into(), owner.uid.clone());
        let body = Instance {
            labels: Some(labels),
            ..Instance::default()
        };
        self.api
            .patch_instance(&c.name(), "labels", &request_id(owner, "adopt"), &body)
            .await?;
        Ok(())
    }

    async fn apply(&self, c: &GcpCluster, change: &Change, owner: &Owner) -> Result<Progress> {
        let (mask, body) = patch_of(c, change)?;
        let op = self
            .api
            .patch_instance(
                &c.name(),
                mask,
                &patch_request_id(owner, mask, &body),
                &body,
            )
            .await?;
        Ok(Progress::Operation(op.name))
    }

    async fn delete(&self, c: &GcpCluster, owner: &Owner) -> Result<Progress> {
        let op = self
            .api
            .delete_instance(&c.name(), &request_id(owner, "delete"))
            .await?;
        Ok(Progress::Operation(op.name))
    }

    // Operations, the CA, backups and the final backup are the same calls on the instance's
    // name (`…/instances/I:backup`, its backup collection's `instance`).
    async fn operation(&self, name: &str) -> Result<OperationState> {
        self.shared.operation(name).await
    }

    async fn ca_certificates(&self, c: &GcpCluster) -> Result<Vec<String>> {
        self.shared.ca_certificates(c).await
    }

    async fn backup(&self, c: &GcpCluster, name: &str) -> Result<Progress> {
        self.shared.backup(c, name).await
    }

    async fn backups(&self, c: &GcpCluster) -> Result<Vec<ObservedBackup>> {
        self.shared.backups(c).await
    }

    async fn final_backup(&self, c: &GcpCluster, owner: &Owner, name: &str) -> Result<FinalBackup> {
        self.shared.final_backup(c, owner, name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_operator_api::cluster::RedisClusterSpec;
    use cache_operator_api::model::DesiredCluster;

    fn desired(extra: Value) -> GcpCluster {
        let mut spec = json!({
            "provider": "gcp", "region": "us-central1", "nodeType": "standard-small",
            "shardCount": 3, "replicasPerShard": 1,
            "gcp": {"engine": "valkey", "engineVersion": "VALKEY_8_0",
                    "project": "shop-prod", "network": "projects/shop-prod/global/networks/default",
                    "persistence": {"mode": "aof", "aofAppendFsync": "everysec"}}
        });
        for (k, v) in extra.as_object().unwrap() {
            if k == "mode" && v == "cluster-disabled" {
                spec["shardCount"] = json!(1);
            }
            spec["gcp"][k] = v.clone();
        }
        let spec: RedisClusterSpec = serde_json::from_value(spec).unwrap();
        match spec.desired("orders").unwrap() {
            DesiredCluster::Gcp(c) => c,
            DesiredCluster::Aws(_) => unreachable!(),
        }
    }

    fn owner() -> Owner {
        Owner {
            uid: "0b6c2a4e-1111-4222-8333-444455556666".into(),
            namespace: "shop".into(),
            name: "orders".into(),
            generation: 1,
            attempt: 0,
        }
    }

    fn active(d: &GcpCluster) -> Value {
        json!({
            "name": d.name(), "state": "ACTIVE", "uid": "u-1", "mode": "CLUSTER",
            "nodeType": "STANDARD_SMALL", "shardCount": 3, "replicaCount": 1,
            "engineVersion": "VALKEY_8_0", "authorizationMode": "IAM_AUTH",
            "transitEncryptionMode": "SERVER_AUTHENTICATION",
            "labels": {OWNER_LABEL: owner().uid},
            "persistenceConfig": {"mode": "AOF", "aofConfig": {"appendFsync": "EVERY_SEC"}},
            "deletionProtectionEnabled": false,
            "endpoints": [{"connections": [
                {"pscAutoConnection": {"ipAddress": "10.0.0.5", "port": 6379,
                    "connectionType": "CONNECTION_TYPE_DISCOVERY", "network": "n"}},
                {"pscAutoConnection": {"ipAddress": "10.0.0.6", "port": 6379,
                    "connectionType": "CONNECTION_TYPE_PRIMARY", "network": "n"}}
            ]}]
        })
    }

    #[test]
    fn the_create_body_speaks_the_instance_enums_and_labels_the_owner() {
        let d = desired(json!({"engineConfigs": {"maxmemory-policy": "allkeys-lru"}}));
        assert_eq!(
            d.name(),
            "projects/shop-prod/locations/us-central1/instances/orders"
        );
        let body = serde_json::to_value(create_body(&d, Some(&owner()))).unwrap();
        assert_eq!(body["nodeType"], "STANDARD_SMALL");
        assert_eq!(body["mode"], "CLUSTER");
        assert_eq!(body["engineVersion"], "VALKEY_8_0");
        assert_eq!(body["authorizationMode"], "IAM_AUTH");
        assert_eq!(body["transitEncryptionMode"], "SERVER_AUTHENTICATION");
        assert_eq!(body["labels"][OWNER_LABEL], owner().uid);
        assert_eq!(body["engineConfigs"]["maxmemory-policy"], "allkeys-lru");
        assert_eq!(
            body["persistenceConfig"],
            json!({"mode": "AOF", "aofConfig": {"appendFsync": "EVERY_SEC"}})
        );
        assert_eq!(
            body["endpoints"],
            json!([{"connections": [{"pscAutoConnection": {
                "projectId": "shop-prod", "network": "projects/shop-prod/global/networks/default"}}]}])
        );
        assert!(body.get("redisConfigs").is_none());
        let disabled = desired(json!({"mode": "cluster-disabled", "serverCaMode": "shared"}));
        let body = serde_json::to_value(create_body(&disabled, None)).unwrap();
        assert_eq!(body["mode"], "CLUSTER_DISABLED");
        assert_eq!(body["serverCaMode"], "GOOGLE_MANAGED_SHARED_CA");
    }

    #[test]
    fn endpoints_come_from_connections_by_type() {
        let d = desired(json!({}));
        let o = observe(serde_json::from_value(active(&d)).unwrap());
        assert_eq!(
            o.discovery,
            vec![Endpoint {
                host: "10.0.0.5".into(),
                port: 6379
            }]
        );
        assert_eq!(o.primary.as_ref().unwrap().host, "10.0.0.6");
        assert_eq!(o.node_type, "standard-small");
        assert_eq!(changes(&d, &o), vec![], "a matching instance needs nothing");
        let mut disabled = active(&d);
        disabled["endpoints"] = json!([{"connections": [
            {"pscAutoConnection": {"ipAddress": "10.0.0.7", "port": 6379, "connectionType": "CONNECTION_TYPE_PRIMARY"}},
            {"pscAutoConnection": {"ipAddress": "10.0.0.8", "port": 6379, "connectionType": "CONNECTION_TYPE_READER"}}
        ]}]);
        let o = observe(serde_json::from_value(disabled).unwrap());
        assert_eq!(
            o.discovery[0].host, "10.0.0.7",
            "clients start at the primary"
        );
        assert_eq!(o.reader.as_ref().unwrap().host, "10.0.0.8");
    }

    #[test]
    fn upgrades_are_changes_and_downgrades_never_are() {
        let d = desired(json!({"engineVersion": "VALKEY_9_0"}));
        let o = observe(serde_json::from_value(active(&d)).unwrap());
        assert_eq!(changes(&d, &o), vec![Change::EngineVersion]);
        let (mask, body) = patch_of(&d, &Change::EngineVersion).unwrap();
        assert_eq!(mask, "engineVersion");
        assert_eq!(
            serde_json::to_value(body).unwrap(),
            json!({"engineVersion": "VALKEY_9_0"})
        );
        let older = desired(json!({"engineVersion": "VALKEY_7_2"}));
        assert_eq!(changes(&older, &o), vec![]);
        let more = GcpCluster {
            replica_count: 5,
            ..d.clone()
        };
        let mut o = o;
        o.gcp.as_mut().unwrap().engine_version = Some("VALKEY_9_0".into());
        assert_eq!(changes(&more, &o), vec![Change::ReplicaCount(5)]);
        let (mask, _) = patch_of(&more, &Change::RedisConfigs).unwrap();
        assert_eq!(mask, "engineConfigs");
    }

    #[test]
    fn the_owner_label_says_whose_an_instance_is() {
        let d = desired(json!({}));
        let o = observe(serde_json::from_value(active(&d)).unwrap());
        assert_eq!(claim_of_label(&owner(), &o), Some(Claim::Ours));
        let other = Owner {
            uid: "another".into(),
            ..owner()
        };
        assert!(matches!(
            claim_of_label(&other, &o),
            Some(Claim::Foreign(m)) if m.contains(OWNER_LABEL)
        ));
    }
}
