//! Memorystore for Redis Cluster v1: the wire types and calls this operator makes.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::GoogleRest;
use crate::error::{ErrorClass, Result};

pub const API: &str = "memorystore";

/// The `Cluster` resource, with the fields the operator reads or writes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_gb: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transit_encryption_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_protection_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub psc_configs: Vec<PscConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discovery_endpoints: Vec<DiscoveryEndpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_configs: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_distribution_config: Option<Value>,
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
    /// Create only: RDB files in Cloud Storage to import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcs_source: Option<GcsSource>,
    /// Create only: a Memorystore backup to import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_backup_source: Option<ManagedBackupSource>,
    /// Cross-region replication: this cluster's role and set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_cluster_replication_config: Option<CrossClusterReplicationConfig>,
}

/// `crossClusterReplicationConfig`: the role, the links a request sets, and the set every
/// member reports (`membership`, output only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossClusterReplicationConfig {
    /// `NONE`, `PRIMARY`, `SECONDARY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_cluster: Option<RemoteCluster>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secondary_clusters: Vec<RemoteCluster>,
    #[serde(default, skip_serializing)]
    pub membership: Option<Membership>,
    #[serde(default, skip_serializing)]
    pub update_time: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteCluster {
    pub cluster: String,
    #[serde(default, skip_serializing)]
    pub uid: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    #[serde(default)]
    pub primary_cluster: Option<RemoteCluster>,
    #[serde(default)]
    pub secondary_clusters: Vec<RemoteCluster>,
}

/// `google.type.TimeOfDay` (zero fields are left out on the wire).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeOfDay {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub hours: i32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub minutes: i32,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaintenancePolicy {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weekly_maintenance_window: Vec<WeeklyMaintenanceWindow>,
    #[serde(default, skip_serializing)]
    pub create_time: Option<String>,
    #[serde(default, skip_serializing)]
    pub update_time: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeeklyMaintenanceWindow {
    /// `google.type.DayOfWeek`: `MONDAY` … `SUNDAY`.
    pub day: String,
    #[serde(default)]
    pub start_time: TimeOfDay,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MaintenanceSchedule {
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutomatedBackupConfig {
    /// `ENABLED` or `DISABLED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated_backup_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_frequency_schedule: Option<FixedFrequencySchedule>,
    /// A `google.protobuf.Duration`, e.g. `604800s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FixedFrequencySchedule {
    #[serde(default)]
    pub start_time: TimeOfDay,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionInfo {
    #[serde(default)]
    pub encryption_type: Option<String>,
    #[serde(default)]
    pub kms_key_versions: Vec<String>,
    #[serde(default)]
    pub kms_key_primary_state: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcsSource {
    pub uris: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedBackupSource {
    pub backup: String,
}

/// A backup in a backup collection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    pub name: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub backup_type: Option<String>,
    #[serde(default)]
    pub create_time: Option<String>,
    #[serde(default)]
    pub cluster: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListBackups {
    #[serde(default)]
    backups: Vec<Backup>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// A cluster's backup collection (it outlives the cluster).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupCollection {
    pub name: String,
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub cluster_uid: Option<String>,
    /// Memorystore for Valkey: the instance the collection belongs to.
    #[serde(default)]
    pub instance: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListBackupCollections {
    #[serde(default)]
    backup_collections: Vec<BackupCollection>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BackupClusterRequest<'a> {
    backup_id: &'a str,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PscConfig {
    pub network: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryEndpoint {
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub port: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub name: String,
    #[serde(default)]
    pub done: bool,
    #[serde(default)]
    pub error: Option<RpcStatus>,
    /// The finished operation's result: for a create, the Cluster it made (with its `uid`).
    #[serde(default)]
    pub response: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct RpcStatus {
    #[serde(default)]
    pub code: i32,
    #[serde(default)]
    pub message: String,
}

/// google.rpc code numbers to names, for operation errors.
pub fn rpc_code_name(code: i32) -> &'static str {
    match code {
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListClusters {
    #[serde(default)]
    clusters: Vec<Cluster>,
    #[serde(default)]
    next_page_token: Option<String>,
}

/// One page of a list response: its items (named per collection) and the next page's token.
pub(crate) trait ListPage: serde::de::DeserializeOwned {
    type Item;
    fn split(self) -> (Vec<Self::Item>, Option<String>);
}

impl ListPage for ListClusters {
    type Item = Cluster;
    fn split(self) -> (Vec<Cluster>, Option<String>) {
        (self.clusters, self.next_page_token)
    }
}

impl ListPage for ListBackupCollections {
    type Item = BackupCollection;
    fn split(self) -> (Vec<BackupCollection>, Option<String>) {
        (self.backup_collections, self.next_page_token)
    }
}

impl ListPage for ListBackups {
    type Item = Backup;
    fn split(self) -> (Vec<Backup>, Option<String>) {
        (self.backups, self.next_page_token)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CertificateAuthority {
    #[serde(default)]
    managed_server_ca: Option<ManagedCa>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManagedCa {
    #[serde(default)]
    ca_certs: Vec<CertChain>,
}

#[derive(Deserialize)]
struct CertChain {
    #[serde(default)]
    certificates: Vec<String>,
}

/// Calls against one Memorystore endpoint.
#[derive(Clone)]
pub struct Memorystore {
    pub(crate) rest: GoogleRest,
    pub(crate) base: String,
}

impl Memorystore {
    pub fn new(rest: GoogleRest, base: &str) -> Self {
        Memorystore {
            rest,
            base: super::with_slash(base),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}v1/{path}", self.base)
    }

    pub async fn get_cluster(&self, name: &str) -> Result<Option<Cluster>> {
        self.get_in("clusters", name).await
    }

    /// `GET` one resource of `collection` (`clusters`, `instances`); `None` when it is absent.
    pub(crate) async fn get_in<T: serde::de::DeserializeOwned>(
        &self,
        collection: &str,
        name: &str,
    ) -> Result<Option<T>> {
        let op = format!("{collection}.get");
        let r = self
            .rest
            .call(API, &op, Method::GET, &self.url(name), |r| r)
            .await;
        match r {
            Err(e) if e.is(ErrorClass::NotFound) => Ok(None),
            other => other.map(Some),
        }
    }

    /// `POST {parent}/{collection}?{id_param}=…&requestId=…`.
    pub(crate) async fn create_in<B: Serialize>(
        &self,
        collection: &str,
        id_param: &str,
        (parent, id, request_id): (&str, &str, &str),
        body: &B,
    ) -> Result<Operation> {
        self.rest
            .call(
                API,
                &format!("{collection}.create"),
                Method::POST,
                &self.url(&format!("{parent}/{collection}")),
                |r| {
                    r.query(&[(id_param, id), ("requestId", request_id)])
                        .json(body)
                },
            )
            .await
    }

    /// `PATCH {name}?updateMask=…&requestId=…`.
    pub(crate) async fn patch_in<B: Serialize>(
        &self,
        collection: &str,
        name: &str,
        (update_mask, request_id): (&str, &str),
        body: &B,
    ) -> Result<Operation> {
        self.rest
            .call(
                API,
                &format!("{collection}.patch"),
                Method::PATCH,
                &self.url(name),
                |r| {
                    r.query(&[("updateMask", update_mask), ("requestId", request_id)])
                        .json(body)
                },
            )
            .await
    }

    /// `DELETE {name}?requestId=…`.
    pub(crate) async fn delete_in(
        &self,
        collection: &str,
        name: &str,
        request_id: &str,
    ) -> Result<Operation> {
        self.rest
            .call(
                API,
                &format!("{collection}.delete"),
                Method::DELETE,
                &self.url(name),
                |r| r.query(&[("requestId", request_id)]),
            )
            .await
    }

    /// Every item of a list call, following `nextPageToken`.
    pub(crate) async fn list_all<P: ListPage>(
        &self,
        operation: &str,
        path: &str,
    ) -> Result<Vec<P::Item>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page: P = self
                .rest
                .call(API, operation, Method::GET, &self.url(path), |r| {
                    let r = r.query(&[("pageSize", "1000")]);
                    match &token {
                        Some(t) => r.query(&[("pageToken", t)]),
                        None => r,
                    }
                })
                .await?;
            let (items, next) = page.split();
            out.extend(items);
            match next.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// Every cluster under `parent`, following `nextPageToken`.
    pub async fn list_clusters(&self, parent: &str) -> Result<Vec<Cluster>> {
        self.list_all::<ListClusters>("clusters.list", &format!("{parent}/clusters"))
            .await
    }

    pub async fn create_cluster(
        &self,
        parent: &str,
        cluster_id: &str,
        request_id: &str,
        body: &Cluster,
    ) -> Result<Operation> {
        self.create_in(
            "clusters",
            "clusterId",
            (parent, cluster_id, request_id),
            body,
        )
        .await
    }

    pub async fn patch_cluster(
        &self,
        name: &str,
        update_mask: &str,
        request_id: &str,
        body: &Cluster,
    ) -> Result<Operation> {
        self.patch_in("clusters", name, (update_mask, request_id), body)
            .await
    }

    pub async fn delete_cluster(&self, name: &str, request_id: &str) -> Result<Operation> {
        self.delete_in("clusters", name, request_id).await
    }

    /// `clusters.backup`: an operation that takes the backup `backup_id` (kept the service's
    /// default 100 years).
    pub async fn backup_cluster(&self, cluster: &str, backup_id: &str) -> Result<Operation> {
        self.rest
            .call(
                API,
                "clusters.backup",
                Method::POST,
                &self.url(&format!("{cluster}:backup")),
                |r| r.json(&BackupClusterRequest { backup_id }),
            )
            .await
    }

    /// Every backup collection under `parent`, following `nextPageToken`.
    pub async fn list_backup_collections(&self, parent: &str) -> Result<Vec<BackupCollection>> {
        let path = format!("{parent}/backupCollections");
        self.list_all::<ListBackupCollections>("backupCollections.list", &path)
            .await
    }

    /// Every backup of a backup collection, following `nextPageToken`.
    pub async fn list_backups(&self, collection: &str) -> Result<Vec<Backup>> {
        self.list_all::<ListBackups>("backups.list", &format!("{collection}/backups"))
            .await
    }

    pub async fn get_operation(&self, name: &str) -> Result<Operation> {
        self.rest
            .call(API, "operations.get", Method::GET, &self.url(name), |r| r)
            .await
    }

    /// The managed server CA chain(s) as PEM, leaf to root.
    pub async fn certificate_authority(&self, cluster: &str) -> Result<Vec<String>> {
        let ca: CertificateAuthority = self
            .rest
            .call(
                API,
                "clusters.getCertificateAuthority",
                Method::GET,
                &self.url(&format!("{cluster}/certificateAuthority")),
                |r| r,
            )
            .await?;
        Ok(ca
            .managed_server_ca
            .map(|m| {
                m.ca_certs
                    .into_iter()
                    .flat_map(|c| c.certificates)
                    .collect()
            })
            .unwrap_or_default())
    }
}
