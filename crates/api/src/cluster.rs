//! `RedisCluster`: one managed Redis cluster on Memorystore or ElastiCache.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
// Used inside the derive attributes, which rustc does not count as a use.
#[allow(unused_imports)]
use kube::core::{ListMerge, Rule};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{HostPort, LocalRef, Provider};
use crate::cross_region::{self, CrossRegionSpec, CrossRegionStatus};
use crate::lifecycle::{
    AuthTokenStatus, AwsRestoreFrom, BackupsStatus, GcpAutomatedBackupSpec, GcpRestoreFrom,
    MaintenanceStatus, MaintenanceWindow,
};
use crate::model::node_type::all_node_type_names;
use crate::model::{
    AwsCluster, AwsNodeType, BackupPlan, DEFAULT_AUTH_TOKEN_INTERVAL, DesiredCluster, GcpCluster,
    GcpNodeType, Persistence, ServerCaMode, Valkey, ValkeyVersion, ZoneDistribution, engine,
};
// The vocabulary the spec shares with the domain model, defined there.
pub use crate::model::{AofAppendFsync, AuthMode, AwsEngine, RdbSnapshotPeriod};
use crate::rules::{self, Broken};
use crate::validate::FieldErrors;

/// A managed Redis cluster.
#[derive(CustomResource, KubeSchema, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "cache-operator.io",
    version = "v1alpha1",
    kind = "RedisCluster",
    namespaced,
    status = "RedisClusterStatus",
    shortname = "rdc",
    category = "cache-operator",
    printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".spec.provider"}"#,
    printcolumn = r#"{"name":"Region","type":"string","jsonPath":".spec.region"}"#,
    printcolumn = r#"{"name":"Node Type","type":"string","jsonPath":".spec.nodeType"}"#,
    printcolumn = r#"{"name":"Shards","type":"integer","jsonPath":".spec.shardCount"}"#,
    printcolumn = r#"{"name":"Replicas","type":"integer","jsonPath":".spec.replicasPerShard","priority":1}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Endpoint","type":"string","jsonPath":".status.endpoints.discovery[0].host"}"#,
    printcolumn = r#"{"name":"Port","type":"integer","jsonPath":".status.endpoints.discovery[0].port","priority":1}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason","priority":1}"#,
    printcolumn = r#"{"name":"Cloud Resource","type":"string","jsonPath":".status.cloudResource","priority":1}"#,
    printcolumn = r#"{"name":"Role","type":"string","jsonPath":".status.crossRegion.role","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new(
        "has(self.spec.instanceId) || self.metadata.name.matches('^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$')"
    ).message(
        "metadata.name is the instance ID when spec.instanceId is unset, so it must be 1-63 lowercase letters, digits or hyphens, start with a letter and end with a letter or digit; set spec.instanceId otherwise"
    ),
    validation = Rule::new(
        "!(has(self.spec.gcp) && has(self.spec.gcp.engine) && self.spec.gcp.engine == 'valkey') || size(has(self.spec.instanceId) ? self.spec.instanceId : self.metadata.name) >= 4"
    ).message(
        "a Memorystore for Valkey instance ID (spec.instanceId, else metadata.name) must be 4-63 characters"
    ),
    validation = Rule::new(
        "!has(self.spec.crossRegion) || !has(self.spec.crossRegion.secondaryOf) || self.spec.crossRegion.secondaryOf != self.metadata.name"
    ).message(
        "spec.crossRegion.secondaryOf must name another RedisCluster (the set's anchor), not this one"
    ),
    validation = Rule::new(
        "has(self.spec.instanceId) || self.spec.provider != 'aws' || (size(self.metadata.name) <= 40 && !self.metadata.name.contains('--'))"
    ).message(
        "metadata.name is the replication group ID when spec.instanceId is unset: for provider aws it must be at most 40 characters without '--'; set spec.instanceId otherwise"
    ),
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.provider != 'gcp' || has(self.gcp)").message("spec.gcp is required when provider is gcp").field_path(".gcp"),
    validation = Rule::new("self.provider != 'aws' || has(self.aws)").message("spec.aws is required when provider is aws").field_path(".aws"),
    validation = Rule::new("self.provider == 'gcp' || !has(self.gcp)").message("spec.gcp must not be set when provider is aws").field_path(".gcp"),
    validation = Rule::new("self.provider == 'aws' || !has(self.aws)").message("spec.aws must not be set when provider is gcp").field_path(".aws"),
    validation = Rule::new("self.provider == 'gcp' ? ((has(self.gcp) && has(self.gcp.engine) && self.gcp.engine == 'valkey') ? self.nodeType in ['shared-core-nano', 'standard-small', 'highmem-medium', 'highmem-xlarge'] : self.nodeType.startsWith('redis-')) : self.nodeType.startsWith('cache.')")
        .message("nodeType must be a Memorystore for Redis Cluster type (redis-...) for provider gcp, a Memorystore for Valkey type (shared-core-nano, standard-small, highmem-medium, highmem-xlarge) with gcp.engine valkey, and an ElastiCache type (cache....) for provider aws")
        .field_path(".nodeType"),
    validation = Rule::new("self.provider != 'aws' || !has(self.instanceId) || (size(self.instanceId) <= 40 && !self.instanceId.contains('--'))")
        .message("instanceId for provider aws must be at most 40 characters and must not contain '--'")
        .field_path(".instanceId"),
    validation = Rule::new("self.provider != 'gcp' || self.replicasPerShard <= ((has(self.gcp) && has(self.gcp.engine) && self.gcp.engine == 'valkey') ? 5 : 2)")
        .message("replicasPerShard must be 0-2 for Memorystore for Redis Cluster and 0-5 for Memorystore for Valkey (gcp.engine valkey)")
        .field_path(".replicasPerShard"),
    validation = Rule::new("!(has(self.gcp) && has(self.gcp.engine) && self.gcp.engine == 'valkey') || !has(self.gcp.mode) || self.gcp.mode != 'cluster-disabled' || self.shardCount == 1")
        .message("shardCount must be 1 when gcp.mode is cluster-disabled")
        .field_path(".shardCount"),
    validation = Rule::new("self.provider != 'aws' || self.shardCount <= 90")
        .message("shardCount must be 1-90 for provider aws")
        .field_path(".shardCount"),
    validation = Rule::new("!has(self.aws) || self.aws.clusterMode != 'disabled' || self.shardCount == 1")
        .message("shardCount must be 1 when aws.clusterMode is disabled")
        .field_path(".shardCount"),
    validation = Rule::new("self.provider != 'aws' || self.shardCount * (self.replicasPerShard + 1) <= 500")
        .message("an aws cluster has at most 500 nodes: shardCount * (replicasPerShard + 1) <= 500"),
    validation = Rule::new("self.provider != 'gcp' || (self.authMode != 'password' && self.authMode != 'token')")
        .message("authMode password and token are not offered by Memorystore (Redis Cluster or Valkey): use iam or disabled")
        .field_path(".authMode"),
    validation = Rule::new("self.provider != 'aws' || self.authMode == 'disabled' || self.transitEncryption")
        .message("authMode iam, password or token on aws needs transitEncryption: true")
        .field_path(".transitEncryption"),
    validation = Rule::new("self.provider != 'aws' || self.authMode == 'disabled' || self.authMode == 'token' || (has(self.userGroupRefs) && size(self.userGroupRefs) > 0)")
        .message("authMode iam or password on aws needs a user group in userGroupRefs")
        .field_path(".userGroupRefs"),
    validation = Rule::new("(self.authMode != 'disabled' && self.authMode != 'token') || !has(self.userGroupRefs) || size(self.userGroupRefs) == 0")
        .message("userGroupRefs has no effect when authMode is disabled or token")
        .field_path(".userGroupRefs"),
    validation = Rule::new("self.provider != 'aws' || !has(self.userGroupRefs) || size(self.userGroupRefs) <= 1")
        .message("an ElastiCache replication group takes at most one user group")
        .field_path(".userGroupRefs"),
    validation = Rule::new("self.provider != 'aws' || self.authMode != 'iam' || !has(self.aws) || !has(self.aws.engineVersion) || (self.aws.engine == 'valkey' ? self.aws.engineVersion.matches('^(7[.]([2-9]|[1-9][0-9])|([89]|[1-9][0-9])[.])') : self.aws.engineVersion.matches('^([7-9]|[1-9][0-9])[.]'))")
        .message("authMode iam needs Redis OSS 7.0 or later, or Valkey 7.2 or later")
        .field_path(".aws.engineVersion"),
    validation = Rule::new("self.provider != 'aws' || self.authMode != 'password' || !has(self.aws) || !has(self.aws.engineVersion) || self.aws.engineVersion.matches('^([6-9]|[1-9][0-9])[.]')")
        .message("authMode password (RBAC user groups) needs engine version 6.0 or later")
        .field_path(".aws.engineVersion"),
    validation = Rule::new("!has(self.gcp) || !has(self.gcp.zoneDistribution) || !has(self.gcp.zoneDistribution.zone) || self.gcp.zoneDistribution.zone.startsWith(self.region + '-')")
        .message("gcp.zoneDistribution.zone must be a zone of spec.region")
        .field_path(".gcp.zoneDistribution.zone"),
    validation = Rule::new("self.provider != 'gcp' || !has(self.maintenanceWindow) || (self.maintenanceWindow.startTime.endsWith(':00') && (!has(self.maintenanceWindow.duration) || duration(self.maintenanceWindow.duration) == duration('1h')))")
        .message("gcp maintenance windows start on the hour and last one hour: startTime HH:00, duration 1h")
        .field_path(".maintenanceWindow"),
    validation = Rule::new("!has(self.gcp) || !has(self.gcp.kmsKey) || self.gcp.kmsKey.split('/')[3] == self.region")
        .message("gcp.kmsKey must be a key of the cluster's region (projects/P/locations/<region>/keyRings/R/cryptoKeys/K)")
        .field_path(".gcp.kmsKey"),
    validation = Rule::new("!has(self.gcp) || !has(self.gcp.restoreFrom) || !has(self.gcp.restoreFrom.backup) || self.gcp.restoreFrom.backup.contains('/locations/' + self.region + '/')")
        .message("gcp.restoreFrom.backup must be a backup of the cluster's region")
        .field_path(".gcp.restoreFrom.backup"),
    validation = Rule::new("!has(self.aws) || !has(self.aws.kmsKeyId) || !self.aws.kmsKeyId.startsWith('arn:') || self.aws.kmsKeyId.split(':')[3] == self.region")
        .message("aws.kmsKeyId must be a KMS key of the cluster's region")
        .field_path(".aws.kmsKeyId"),
    validation = Rule::new("!has(self.aws) || !has(self.aws.authTokenRotationInterval) || self.authMode == 'token'")
        .message("aws.authTokenRotationInterval needs authMode token")
        .field_path(".aws.authTokenRotationInterval"),
    validation = Rule::new("has(self.instanceId) == has(oldSelf.instanceId)").message("instanceId is immutable").field_path(".instanceId"),
    validation = Rule::new(cross_region::SUPPORTED_RULE).message(cross_region::SUPPORTED_MESSAGE).field_path(".crossRegion"),
    validation = Rule::new(cross_region::SECONDARY_OF_FIXED_RULE).message(cross_region::SECONDARY_OF_FIXED_MESSAGE).field_path(".crossRegion"),
)]
pub struct RedisClusterSpec {
    /// `gcp` (Memorystore for Redis Cluster, or Memorystore for Valkey with `gcp.engine:
    /// valkey`) or `aws` (ElastiCache). Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("provider is immutable"))]
    pub provider: Provider,

    /// The cloud's ID for the cluster; defaults to `metadata.name`. gcp: 1-63 lowercase letters,
    /// digits and hyphens, starting with a letter and ending with a letter or digit. aws
    /// (replication group ID): the same, at most 40 characters and no `--`. gcp with
    /// `gcp.engine: valkey`: the same, at least 4 characters. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(rules::GCP_CLUSTER_ID_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("instanceId is immutable"))]
    pub instance_id: Option<String>,

    /// Cloud region, e.g. `us-central1` or `eu-west-1`. Immutable.
    #[schemars(length(min = 1, max = 40), pattern(rules::REGION_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("region is immutable"))]
    pub region: String,

    /// gcp: `redis-shared-core-nano`, `redis-standard-small`, `redis-highmem-medium`,
    /// `redis-highcpu-medium`, `redis-standard-large`, `redis-highmem-xlarge`,
    /// `redis-highmem-2xlarge`; gcp with `gcp.engine: valkey`: `shared-core-nano`,
    /// `standard-small`, `highmem-medium`, `highmem-xlarge`; aws: a current-generation `cache.*`
    /// type.
    #[schemars(schema_with = "node_type_schema")]
    pub node_type: String,

    /// Number of shards. gcp: 1-250; aws: 1-90 with cluster mode enabled, 1 with it disabled.
    #[schemars(range(min = 1, max = 250))]
    pub shard_count: i32,

    /// Replicas per shard. gcp: 0-2 (Valkey: 0-5); aws: 0-5. On aws it also sets high availability:
    /// automatic failover and Multi-AZ are on with at least one replica and off with none.
    #[serde(default)]
    #[schemars(range(min = 0, max = 5))]
    pub replicas_per_shard: i32,

    /// `iam` (tokens from the cloud's IAM), `password` (aws only: RBAC users with passwords),
    /// `token` (aws only: one AUTH token the operator generates, keeps in a Secret and rotates)
    /// or `disabled`. Immutable.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("authMode is immutable"))]
    pub auth_mode: AuthMode,

    /// TLS between clients and the cluster. Immutable.
    #[serde(default = "default_true")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("transitEncryption is immutable"))]
    pub transit_encryption: bool,

    /// What deleting this object does to the cloud resource. Defaults to `Delete` for a cluster
    /// the operator created and to `Retain` for an adopted one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// While true the cloud resource is never deleted (on gcp also the cloud's own deletion
    /// protection).
    #[serde(default)]
    pub deletion_protection: bool,

    /// Take over a cloud resource with this ID that the operator did not create.
    #[serde(default)]
    pub adopt: bool,

    /// Memorystore settings; required when provider is gcp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp: Option<GcpClusterSpec>,

    /// ElastiCache settings; required when provider is aws.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsClusterSpec>,

    /// UserGroups (in this namespace) allowed to connect. aws: attached to the replication
    /// group (at most one); gcp: their members get the connection role on this cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub user_group_refs: Vec<LocalRef>,

    /// Who may bind to this cluster from other namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<ClusterAccess>,

    /// When the cloud may restart nodes for maintenance (weekly, UTC); the cloud chooses when
    /// unset. gcp: starts on the hour and lasts 1h; aws: 1h to 24h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_window: Option<MaintenanceWindow>,

    /// With `deletionPolicy: Delete`, take a backup (gcp) or final snapshot (aws) before the
    /// cloud resource is deleted; its name is kept in status and in an Event. Default true.
    #[serde(default = "default_true")]
    pub final_backup: bool,

    /// Take an on-demand backup (gcp) or snapshot (aws) with this name; a new name takes
    /// another. Lowercase letters, digits and single hyphens, starting with a letter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(rules::BACKUP_NAME_PATTERN))]
    pub on_demand_backup: Option<String>,

    /// Cross-region replication: on the set's anchor, which member is the primary; on a
    /// secondary, the anchor whose set it joins (and `detached` to leave it). gcp (Memorystore
    /// for Redis Cluster) only for now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_region: Option<CrossRegionSpec>,
}

fn default_true() -> bool {
    true
}

fn node_type_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "enum": all_node_type_names(),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the cloud resource and wait until it is gone.
    Delete,
    /// Leave the cloud resource in place.
    Retain,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.network.startsWith('projects/' + (has(self.networkProject) ? self.networkProject : self.project) + '/')")
        .message("gcp.network must belong to gcp.project (or to gcp.networkProject for a Shared VPC host project)")
        .field_path(".network"),
    validation = Rule::new("has(self.networkProject) == has(oldSelf.networkProject)").message("gcp.networkProject is immutable").field_path(".networkProject"),
    validation = Rule::new("has(self.zoneDistribution) == has(oldSelf.zoneDistribution)").message("gcp.zoneDistribution is immutable").field_path(".zoneDistribution"),
    validation = Rule::new("has(self.kmsKey) == has(oldSelf.kmsKey)").message("gcp.kmsKey is immutable").field_path(".kmsKey"),
    validation = Rule::new("has(self.restoreFrom) == has(oldSelf.restoreFrom)").message("gcp.restoreFrom is immutable: it is used only when the cluster is created").field_path(".restoreFrom"),
    validation = Rule::new("(has(self.engine) ? self.engine : 'redis') == (has(oldSelf.engine) ? oldSelf.engine : 'redis')").message("gcp.engine is immutable: Redis Cluster and Valkey are different Memorystore products").field_path(".engine"),
    validation = Rule::new("(has(self.engine) && self.engine == 'valkey') || (!has(self.engineVersion) && !has(self.mode) && !has(self.engineConfigs) && !has(self.serverCaMode))")
        .message("gcp.engineVersion, gcp.mode, gcp.engineConfigs and gcp.serverCaMode are Memorystore for Valkey settings: they need gcp.engine valkey"),
    validation = Rule::new("!has(self.engine) || self.engine != 'valkey' || !has(self.redisConfigs) || size(self.redisConfigs) == 0")
        .message("gcp.redisConfigs is for Memorystore for Redis Cluster; Memorystore for Valkey takes gcp.engineConfigs")
        .field_path(".redisConfigs"),
    validation = Rule::new("!has(oldSelf.engineVersion) || has(self.engineVersion)").message("gcp.engineVersion cannot be removed once set").field_path(".engineVersion"),
    validation = Rule::new(VALKEY_VERSION_NOT_LOWER)
        .message("gcp.engineVersion cannot go down: Memorystore for Valkey only upgrades (to any newer version)")
        .field_path(".engineVersion"),
    validation = Rule::new("(has(self.mode) ? self.mode : 'cluster') == (has(oldSelf.mode) ? oldSelf.mode : 'cluster')").message("gcp.mode is immutable").field_path(".mode"),
    validation = Rule::new("has(self.serverCaMode) == has(oldSelf.serverCaMode)").message("gcp.serverCaMode is immutable").field_path(".serverCaMode"),
)]
pub struct GcpClusterSpec {
    /// `redis` (Memorystore for Redis Cluster, the default) or `valkey` (Memorystore for
    /// Valkey). Immutable.
    #[serde(default)]
    pub engine: GcpEngine,

    /// valkey: `VALKEY_7_2`, `VALKEY_8_0` or `VALKEY_9_0`; the service's default (the newest)
    /// at creation when unset. May go up to any newer version, never down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<ValkeyEngineVersion>,

    /// valkey: `cluster` (sharded, one discovery endpoint; the default) or `cluster-disabled`
    /// (one shard, primary and reader endpoints). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("gcp.mode is immutable"))]
    pub mode: Option<ValkeyMode>,

    /// valkey: the engine configuration parameters Memorystore for Valkey lets you set, the
    /// whole set (a key removed here is removed from the instance).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(transform = rules::bounded_map::<{ GCP_VALKEY_CONFIG_KEYS.len() }, { rules::REDIS_CONFIG_VALUE_MAX }>)]
    #[x_kube(validation = Rule::new("self.all(k, k in ['maxmemory-clients', 'maxmemory', 'maxmemory-policy', 'notify-keyspace-events', 'slowlog-log-slower-than', 'maxclients', 'lfu-log-factor', 'lfu-decay-time', 'maxmemory-samples', 'databases', 'cluster-databases'])")
        .message("gcp.engineConfigs accepts only maxmemory-clients, maxmemory, maxmemory-policy, notify-keyspace-events, slowlog-log-slower-than, maxclients, lfu-log-factor, lfu-decay-time, maxmemory-samples, databases and cluster-databases"))]
    pub engine_configs: BTreeMap<String, String>,

    /// valkey: which Google-managed CA signs the server certificates: `per-instance` or
    /// `shared` (the region's shared CA); the service's default when unset. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("gcp.serverCaMode is immutable"))]
    pub server_ca_mode: Option<ServerCaModeSpec>,

    /// Project that owns the cluster. Immutable.
    #[schemars(length(min = 6, max = 30), pattern(rules::GCP_PROJECT_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("gcp.project is immutable"))]
    pub project: String,

    /// VPC network for the cluster's endpoints: `projects/<project>/global/networks/<network>`.
    /// Immutable.
    #[schemars(length(max = 200), pattern(rules::GCP_NETWORK_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("gcp.network is immutable"))]
    pub network: String,

    /// Project of `network` when it is a Shared VPC host project; defaults to `project`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 6, max = 30), pattern(rules::GCP_PROJECT_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("gcp.networkProject is immutable"))]
    pub network_project: Option<String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<GcpPersistence>,

    /// Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("gcp.zoneDistribution is immutable"))]
    pub zone_distribution: Option<GcpZoneDistribution>,

    /// Redis configuration parameters Memorystore lets you set: the whole set (a key removed
    /// here is removed from the cluster).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(transform = rules::bounded_map::<{ GCP_REDIS_CONFIG_KEYS.len() }, { rules::REDIS_CONFIG_VALUE_MAX }>)]
    #[x_kube(validation = Rule::new("self.all(k, k in ['maxmemory-clients', 'maxmemory', 'maxmemory-policy', 'notify-keyspace-events', 'slowlog-log-slower-than', 'maxclients'])")
        .message("gcp.redisConfigs accepts only maxmemory-clients, maxmemory, maxmemory-policy, notify-keyspace-events, slowlog-log-slower-than and maxclients"))]
    pub redis_configs: BTreeMap<String, String>,

    /// Daily automated backups (`automatedBackupConfig`); the cloud's setting is left as it is
    /// when unset (`enabled: false` turns them off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated_backup: Option<GcpAutomatedBackupSpec>,

    /// Customer-managed encryption key (CMEK) for data at rest, a Cloud KMS key of the
    /// cluster's region: `projects/P/locations/REGION/keyRings/R/cryptoKeys/K`. Google-managed
    /// encryption when unset. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 330), pattern(rules::GCP_KMS_KEY_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("gcp.kmsKey is immutable"))]
    pub kms_key: Option<String>,

    /// Create the cluster with the data of a backup (`managedBackupSource`) or of RDB files in
    /// Cloud Storage (`gcsSource`). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("gcp.restoreFrom is immutable: it is used only when the cluster is created"))]
    pub restore_from: Option<GcpRestoreFrom>,
}

/// The Valkey version goes up or stays (`VALKEY_<major>_<minor>`, compared as integers).
const VALKEY_VERSION_NOT_LOWER: &str = "!has(self.engineVersion) || !has(oldSelf.engineVersion) || \
int(self.engineVersion.split('_')[1]) * 1000 + int(self.engineVersion.split('_')[2]) >= \
int(oldSelf.engineVersion.split('_')[1]) * 1000 + int(oldSelf.engineVersion.split('_')[2])";

/// Which Memorystore product a gcp cluster is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GcpEngine {
    /// Memorystore for Redis Cluster (`redis.googleapis.com` clusters).
    #[default]
    Redis,
    /// Memorystore for Valkey (`memorystore.googleapis.com` instances).
    Valkey,
}

// The Valkey versions Memorystore offers, as the service names them.
#[allow(non_camel_case_types)]
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum ValkeyEngineVersion {
    VALKEY_7_2,
    VALKEY_8_0,
    VALKEY_9_0,
}

impl ValkeyEngineVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ValkeyEngineVersion::VALKEY_7_2 => "VALKEY_7_2",
            ValkeyEngineVersion::VALKEY_8_0 => "VALKEY_8_0",
            ValkeyEngineVersion::VALKEY_9_0 => "VALKEY_9_0",
        }
    }
}

// Cluster mode of a Valkey instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ValkeyMode {
    Cluster,
    ClusterDisabled,
}

// The Google-managed CA of a Valkey instance's server certificates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ServerCaModeSpec {
    PerInstance,
    Shared,
}

/// The engine configuration keys Memorystore for Valkey accepts ("Supported instance
/// configurations"; `databases` and `cluster-databases` with Valkey 9.0).
pub const GCP_VALKEY_CONFIG_KEYS: &[&str] = &[
    "maxmemory-clients",
    "maxmemory",
    "maxmemory-policy",
    "notify-keyspace-events",
    "slowlog-log-slower-than",
    "maxclients",
    "lfu-log-factor",
    "lfu-decay-time",
    "maxmemory-samples",
    "databases",
    "cluster-databases",
];

/// The Redis configuration keys Memorystore for Redis Cluster accepts.
pub const GCP_REDIS_CONFIG_KEYS: &[&str] = &[
    "maxmemory-clients",
    "maxmemory",
    "maxmemory-policy",
    "notify-keyspace-events",
    "slowlog-log-slower-than",
    "maxclients",
];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.rdbSnapshotPeriod) || self.mode == 'rdb'").message("rdbSnapshotPeriod needs mode rdb").field_path(".rdbSnapshotPeriod"),
    validation = Rule::new("!has(self.aofAppendFsync) || self.mode == 'aof'").message("aofAppendFsync needs mode aof").field_path(".aofAppendFsync"),
)]
pub struct GcpPersistence {
    pub mode: PersistenceMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rdb_snapshot_period: Option<RdbSnapshotPeriod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aof_append_fsync: Option<AofAppendFsync>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PersistenceMode {
    Disabled,
    Rdb,
    Aof,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.mode == 'single-zone' ? has(self.zone) : !has(self.zone)")
    .message("zone is required with mode single-zone and not allowed with multi-zone")
    .field_path(".zone"))]
pub struct GcpZoneDistribution {
    pub mode: ZoneDistributionMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63), pattern(rules::GCP_ZONE_PATTERN))]
    pub zone: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ZoneDistributionMode {
    MultiZone,
    SingleZone,
}

impl GcpPersistence {
    /// What the spec asks for; a period or fsync of another mode (refused by the rules) is
    /// left out.
    fn parsed(&self) -> Persistence {
        match self.mode {
            PersistenceMode::Disabled => Persistence::Disabled,
            PersistenceMode::Rdb => Persistence::Rdb(self.rdb_snapshot_period),
            PersistenceMode::Aof => Persistence::Aof(self.aof_append_fsync),
        }
    }
}

impl GcpZoneDistribution {
    fn parsed(&self) -> ZoneDistribution {
        match self.mode {
            ZoneDistributionMode::MultiZone => ZoneDistribution::MultiZone,
            ZoneDistributionMode::SingleZone => ZoneDistribution::SingleZone(self.zone.clone()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.cacheSubnetGroupName) == has(oldSelf.cacheSubnetGroupName)")
        .message("aws.cacheSubnetGroupName is immutable")
        .field_path(".cacheSubnetGroupName"),
    validation = Rule::new("!has(oldSelf.engineVersion) || has(self.engineVersion)")
        .message("aws.engineVersion cannot be removed once set")
        .field_path(".engineVersion"),
    validation = Rule::new("self.engine == oldSelf.engine || (oldSelf.engine == 'redis' && self.engine == 'valkey')")
        .message("aws.engine can change only from redis to valkey: ElastiCache upgrades Redis OSS to Valkey, never back")
        .field_path(".engine"),
    validation = Rule::new("self.engine == oldSelf.engine || has(self.engineVersion)")
        .message("an upgrade from redis to valkey needs aws.engineVersion (the Valkey major version, e.g. 8.0)")
        .field_path(".engineVersion"),
    validation = Rule::new(ENGINE_VERSION_NOT_LOWER)
        .message("aws.engineVersion cannot go down: ElastiCache only upgrades (delete and re-create the cluster for an older version)")
        .field_path(".engineVersion"),
    validation = Rule::new("self.engine != 'valkey' || !has(self.engineVersion) || int(self.engineVersion.split('.')[0]) > 7 || (int(self.engineVersion.split('.')[0]) == 7 && int(self.engineVersion.split('.')[1]) >= 2)")
        .message("Valkey versions on ElastiCache start at 7.2")
        .field_path(".engineVersion"),
    validation = Rule::new("self.engine != 'redis' || !has(self.engineVersion) || int(self.engineVersion.split('.')[0]) < 7 || (int(self.engineVersion.split('.')[0]) == 7 && int(self.engineVersion.split('.')[1]) <= 1)")
        .message("Redis OSS on ElastiCache goes up to 7.1; later versions are Valkey (engine: valkey)")
        .field_path(".engineVersion"),
    validation = Rule::new("(has(self.securityGroupIds) ? self.securityGroupIds : []) == (has(oldSelf.securityGroupIds) ? oldSelf.securityGroupIds : [])")
        .message("aws.securityGroupIds is immutable")
        .field_path(".securityGroupIds"),
    validation = Rule::new("!has(self.kmsKeyId) || self.atRestEncryption")
        .message("aws.kmsKeyId needs atRestEncryption: true")
        .field_path(".kmsKeyId"),
    validation = Rule::new("has(self.kmsKeyId) == has(oldSelf.kmsKeyId)")
        .message("aws.kmsKeyId is immutable")
        .field_path(".kmsKeyId"),
    validation = Rule::new("has(self.restoreFrom) == has(oldSelf.restoreFrom)")
        .message("aws.restoreFrom is immutable: it is used only when the cluster is created")
        .field_path(".restoreFrom"),
)]
pub struct AwsClusterSpec {
    /// `redis` (Redis OSS) or `valkey`. May change from redis to valkey (with an
    /// `engineVersion` of Valkey), never back.
    #[serde(default)]
    pub engine: AwsEngine,

    /// e.g. `7.1` (redis, up to 7.1) or `8.0` (valkey, from 7.2); the cloud's default when
    /// unset. May go up (minor and major upgrades), never down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 11), pattern(rules::AWS_ENGINE_VERSION_PATTERN))]
    pub engine_version: Option<String>,

    /// Cluster mode `enabled` (sharded, configuration endpoint) or `disabled` (one shard,
    /// primary and reader endpoints). Immutable.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("aws.clusterMode is immutable"))]
    pub cluster_mode: ClusterMode,

    /// Immutable; the account's default subnet group when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255), pattern(rules::AWS_SUBNET_GROUP_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("aws.cacheSubnetGroupName is immutable"))]
    pub cache_subnet_group_name: Option<String>,

    /// VPC security groups (`sg-…`); the default security group when empty. Immutable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5), inner(pattern(rules::AWS_SECURITY_GROUP_PATTERN)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub security_group_ids: Vec<String>,

    /// Days of automatic snapshots to keep (0 turns them off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 35))]
    pub snapshot_retention_limit: Option<i32>,

    /// Cache parameter group; cluster mode enabled needs a `*.cluster.on` family. When unset,
    /// the default group of the engine's family (`default.redis7.cluster.on`,
    /// `default.valkey8`, …), which follows the engine through upgrades. A change is applied
    /// with `ModifyReplicationGroup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 255),
        pattern(rules::AWS_PARAMETER_GROUP_PATTERN)
    )]
    pub parameter_group_name: Option<String>,

    /// The daily time range (UTC) in which automatic snapshots start, `hh24:mi-hh24:mi`
    /// (`SnapshotWindow`); the cloud chooses when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 11, max = 11), pattern(rules::DAILY_WINDOW_PATTERN))]
    #[x_kube(validation = Rule::new("self.split('-')[0] != self.split('-')[1]").message("aws.snapshotWindow must not start and end at the same time"))]
    pub snapshot_window: Option<String>,

    /// Encryption at rest (`AtRestEncryptionEnabled`). Default true. Immutable.
    #[serde(default = "default_true")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("aws.atRestEncryption is immutable"))]
    pub at_rest_encryption: bool,

    /// The customer-managed KMS key for encryption at rest (`KmsKeyId`): key ID, key ARN,
    /// alias name (`alias/NAME`) or alias ARN, of the cluster's region. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 400), pattern(rules::AWS_KMS_KEY_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("aws.kmsKeyId is immutable"))]
    pub kms_key_id: Option<String>,

    /// Create the replication group with the data of a snapshot (`SnapshotName`) or of RDB
    /// files in S3 (`SnapshotArns`). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("aws.restoreFrom is immutable: it is used only when the cluster is created"))]
    pub restore_from: Option<AwsRestoreFrom>,

    /// `authMode: token`: how often the operator replaces the AUTH token (the old one stays
    /// accepted for the overlap, so clients that re-read the Secret keep working). Default 720h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), pattern(rules::DURATION_PATTERN))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1m')").message("aws.authTokenRotationInterval must be at least 1m"))]
    pub auth_token_rotation_interval: Option<String>,
}

/// The engine version goes up or stays (major, minor, patch compared as integers).
const ENGINE_VERSION_NOT_LOWER: &str = "!has(self.engineVersion) || !has(oldSelf.engineVersion) || \
int(self.engineVersion.split('.')[0]) > int(oldSelf.engineVersion.split('.')[0]) || \
(int(self.engineVersion.split('.')[0]) == int(oldSelf.engineVersion.split('.')[0]) && \
(int(self.engineVersion.split('.')[1]) > int(oldSelf.engineVersion.split('.')[1]) || \
(int(self.engineVersion.split('.')[1]) == int(oldSelf.engineVersion.split('.')[1]) && \
(size(self.engineVersion.split('.')) > 2 ? int(self.engineVersion.split('.')[2]) : 0) >= \
(size(oldSelf.engineVersion.split('.')) > 2 ? int(oldSelf.engineVersion.split('.')[2]) : 0))))";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClusterMode {
    #[default]
    Enabled,
    Disabled,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterAccess {
    /// Namespaces whose AccessBindings may use this cluster, besides its own; `*` for all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256), inner(pattern(rules::NAMESPACE_OR_STAR_PATTERN)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub allowed_namespaces: Vec<String>,
}

impl ClusterAccess {
    pub fn admits(&self, namespace: &str) -> bool {
        self.allowed_namespaces
            .iter()
            .any(|n| n == "*" || n == namespace)
    }
}

/// Where the cluster stands, for people (`phase`) and for tools (`conditions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Phase {
    Pending,
    Creating,
    Updating,
    Ready,
    Deleting,
    Failed,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedisClusterStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,

    /// `Ready`, `Reconciling`, `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The cloud's ID for the cluster (`spec.instanceId` or `metadata.name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,

    /// Full GCP resource name or AWS ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_resource: Option<String>,

    /// The cloud's own unique ID of the resource (gcp `uid`), recorded at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_uid: Option<String>,

    /// A long-running cloud operation being followed (gcp operation name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,

    /// Which attempt at its cloud writes this object is on (part of gcp request IDs): a new
    /// one after a create failed, the cluster disappeared, or an update did not take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<i32>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<ClusterEndpoints>,

    /// Observed in the cloud.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas_per_shard: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_type: Option<String>,

    /// PEM certificates of the cloud's CA for this cluster's TLS (gcp), for clients to trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate: Option<String>,

    /// The cloud's own state word (`ACTIVE`, `available`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_state: Option<String>,

    /// Whether this object adopted a resource it did not create.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,

    /// The engine and version the cloud runs (aws).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,

    /// The maintenance window the cloud holds and its upcoming maintenance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<MaintenanceStatus>,

    /// Backups the operator took: the last on-demand one and the final one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<BackupsStatus>,

    /// `authMode: token`: where the token is and whether a rotation is under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<AuthTokenStatus>,

    /// Cross-region replication: this cluster's role and its set, as the cloud reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_region: Option<CrossRegionStatus>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterEndpoints {
    /// Where clients start: gcp discovery endpoints; aws configuration endpoint (cluster mode
    /// enabled) or primary endpoint (disabled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discovery: Vec<HostPort>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<HostPort>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader: Option<HostPort>,
}

impl RedisCluster {
    /// The cloud ID: `spec.instanceId`, else `metadata.name`.
    pub fn instance_id(&self) -> &str {
        self.spec
            .instance_id
            .as_deref()
            .or(self.metadata.name.as_deref())
            .unwrap_or_default()
    }
}

impl RedisCluster {
    /// What the spec asks that the cloud resource the status describes cannot become: a Valkey
    /// version older than the one the instance runs (`status.engineVersion`). `validate` checks
    /// an edited `kubectl get -o yaml` this way, as the API server's transition rule checks the
    /// stored spec.
    pub fn status_errors(&self) -> FieldErrors {
        let mut errs = FieldErrors::default();
        let wanted = self.spec.gcp.as_ref().and_then(|g| g.engine_version);
        let running = self
            .status
            .as_ref()
            .and_then(|s| s.engine_version.as_deref())
            .and_then(ValkeyVersion::parse);
        if let (true, Some(wanted), Some(running)) = (self.spec.is_valkey(), wanted, running)
            && ValkeyVersion::parse(wanted.as_str()).is_some_and(|w| w < running)
        {
            errs.broken(
                "spec.gcp.engineVersion",
                format!(
                    "cannot go down to {} from {} (status.engineVersion, what the instance runs): Memorystore for Valkey only upgrades",
                    wanted.as_str(),
                    running.api_value()
                ),
            );
        }
        // The transition rule on the stored spec, seen from the status: a member the cloud
        // reports as a secondary cannot drop its set.
        let secondary = self
            .status
            .as_ref()
            .and_then(|s| s.cross_region.as_ref())
            .is_some_and(|x| x.role == Some(cross_region::ReplicationRole::Secondary));
        let names_anchor = self
            .spec
            .cross_region
            .as_ref()
            .is_some_and(|c| c.secondary_of.is_some());
        let is_anchor = self
            .spec
            .cross_region
            .as_ref()
            .is_some_and(|c| c.secondary_of.is_none());
        if secondary && !names_anchor && !is_anchor {
            errs.broken("spec.crossRegion", cross_region::SECONDARY_OF_FIXED_MESSAGE);
        }
        errs
    }

    /// Check every rule of the spec and say what it asks of the cloud. aws user group IDs are
    /// left empty: they come from other objects (see [`RedisCluster::desired_with_user_groups`]).
    pub fn desired(&self) -> Result<DesiredCluster, FieldErrors> {
        self.spec
            .desired(self.metadata.name.as_deref().unwrap_or_default())
    }

    /// [`RedisCluster::desired`], complete: with the ElastiCache user group IDs that the
    /// `userGroupRefs` resolved to (ignored on gcp), so the value is never changed afterwards.
    pub fn desired_with_user_groups(
        &self,
        user_group_ids: Vec<String>,
    ) -> Result<DesiredCluster, FieldErrors> {
        let mut desired = self.desired()?;
        if let DesiredCluster::Aws(aws) = &mut desired {
            aws.user_group_ids = user_group_ids;
        }
        Ok(desired)
    }
}

impl RedisClusterSpec {
    /// The rules of the CRD schema and its CEL rules, with messages that name the field. `name`
    /// is `metadata.name`, the instance ID when `spec.instanceId` is unset.
    pub fn desired(&self, name: &str) -> Result<DesiredCluster, FieldErrors> {
        let mut errs = FieldErrors::default();
        let p = self.provider;

        let valkey = self.is_valkey();
        let id = match &self.instance_id {
            Some(id) => {
                let rule = match p {
                    Provider::Gcp if valkey => rules::valkey_instance_id(id),
                    Provider::Gcp => rules::gcp_cluster_id(id),
                    Provider::Aws => rules::aws_replication_group_id(id),
                };
                errs.check("spec.instanceId", rule);
                id.as_str()
            }
            None => {
                let rule = match p {
                    Provider::Gcp if valkey => rules::valkey_instance_id(name),
                    Provider::Gcp => rules::gcp_cluster_id(name),
                    Provider::Aws => rules::aws_replication_group_id(name),
                };
                errs.check(
                    "metadata.name",
                    rule.map_err(|Broken(m)| {
                        Broken(format!(
                            "is the instance ID when spec.instanceId is unset and {m}; set spec.instanceId otherwise"
                        ))
                    }),
                );
                name
            }
        };
        errs.check("spec.region", rules::region(&self.region));

        let (max_shards, max_replicas) = match p {
            Provider::Gcp if valkey => (250, 5),
            Provider::Gcp => (250, 2),
            Provider::Aws => (90, 5),
        };
        if !(1..=max_shards).contains(&self.shard_count) {
            errs.broken(
                "spec.shardCount",
                format!(
                    "must be between 1 and {max_shards} for provider {p} (got {})",
                    self.shard_count
                ),
            );
        }
        if !(0..=max_replicas).contains(&self.replicas_per_shard) {
            let product = match p {
                Provider::Gcp if valkey => "Memorystore for Valkey".to_owned(),
                Provider::Gcp => "Memorystore for Redis Cluster".to_owned(),
                Provider::Aws => format!("provider {p}"),
            };
            errs.broken(
                "spec.replicasPerShard",
                format!(
                    "must be between 0 and {max_replicas} for {product} (got {})",
                    self.replicas_per_shard
                ),
            );
        }
        let has_groups = !self.user_group_refs.is_empty();
        if self.auth_mode == AuthMode::Disabled && has_groups {
            errs.broken(
                "spec.userGroupRefs",
                "has no effect when authMode is disabled",
            );
        }
        for (i, r) in self.user_group_refs.iter().enumerate() {
            errs.check(
                format!("spec.userGroupRefs[{i}].name"),
                rules::object_name(&r.name),
            );
        }
        if let Some(access) = &self.access {
            for (i, ns) in access.allowed_namespaces.iter().enumerate() {
                errs.check(
                    format!("spec.access.allowedNamespaces[{i}]"),
                    rules::namespace_or_star(ns),
                );
            }
        }
        let maintenance = self
            .maintenance_window
            .as_ref()
            .and_then(|w| w.parse(p, "spec.maintenanceWindow", &mut errs));
        if let Some(name) = &self.on_demand_backup {
            errs.check("spec.onDemandBackup", rules::backup_name(name));
        }
        let backups = BackupPlan {
            final_backup: self.final_backup,
            on_demand: self.on_demand_backup.clone(),
        };
        if let Some(cr) = &self.cross_region {
            cross_region::check(cr, name, p, valkey, &mut errs);
        }

        let desired = match p {
            Provider::Gcp => self.desired_gcp(id, &mut errs).map(|mut c| {
                c.maintenance_window = maintenance;
                c.backups = backups;
                DesiredCluster::Gcp(c)
            }),
            Provider::Aws => self.desired_aws(id, has_groups, &mut errs).map(|mut c| {
                c.maintenance_window = maintenance;
                c.backups = backups;
                DesiredCluster::Aws(c)
            }),
        };
        match desired {
            Some(d) if errs.is_empty() => Ok(d),
            _ => Err(errs),
        }
    }

    /// `provider: gcp` with `gcp.engine: valkey`.
    pub fn is_valkey(&self) -> bool {
        self.provider == Provider::Gcp
            && self
                .gcp
                .as_ref()
                .is_some_and(|g| g.engine == GcpEngine::Valkey)
    }

    fn desired_gcp(&self, id: &str, errs: &mut FieldErrors) -> Option<GcpCluster> {
        if self.aws.is_some() {
            errs.broken("spec.aws", "must not be set when provider is gcp");
        }
        let valkey = self.is_valkey();
        let product = if valkey {
            "Memorystore for Valkey"
        } else {
            "Memorystore for Redis Cluster"
        };
        let node_type = if valkey {
            GcpNodeType::from_valkey_name(&self.node_type)
        } else {
            GcpNodeType::from_name(&self.node_type)
        };
        if node_type.is_none() {
            let message = if valkey {
                format!(
                    "{:?} is not a Memorystore for Valkey node type (one of {})",
                    self.node_type,
                    GcpNodeType::VALKEY
                        .map(|t| t.valkey_name().unwrap_or_default())
                        .join(", ")
                )
            } else {
                unknown_node_type(&self.node_type, Provider::Gcp)
            };
            errs.broken("spec.nodeType", message);
        }
        if matches!(self.auth_mode, AuthMode::Password | AuthMode::Token) {
            errs.broken(
                "spec.authMode",
                format!(
                    "{} is not offered by {product}: use iam or disabled",
                    auth_name(self.auth_mode)
                ),
            );
        }
        let Some(gcp) = &self.gcp else {
            errs.broken("spec.gcp", "is required when provider is gcp");
            return None;
        };
        let valkey_settings = self.valkey_settings(gcp, errs);
        errs.check("spec.gcp.project", rules::gcp_project(&gcp.project));
        if let Some(np) = &gcp.network_project {
            errs.check("spec.gcp.networkProject", rules::gcp_project(np));
        }
        if let Some(net_project) = errs.check("spec.gcp.network", rules::gcp_network(&gcp.network))
        {
            let expected = gcp.network_project.as_deref().unwrap_or(&gcp.project);
            if net_project != expected {
                let which = if gcp.network_project.is_some() {
                    "spec.gcp.networkProject"
                } else {
                    "spec.gcp.project"
                };
                errs.broken(
                    "spec.gcp.network",
                    format!(
                        "belongs to project {net_project:?}, not {which} {expected:?} (set spec.gcp.networkProject for a Shared VPC host project)"
                    ),
                );
            }
        }
        if let Some(p) = &gcp.persistence {
            if p.rdb_snapshot_period.is_some() && p.mode != PersistenceMode::Rdb {
                errs.broken("spec.gcp.persistence.rdbSnapshotPeriod", "needs mode rdb");
            }
            if p.aof_append_fsync.is_some() && p.mode != PersistenceMode::Aof {
                errs.broken("spec.gcp.persistence.aofAppendFsync", "needs mode aof");
            }
        }
        if let Some(z) = &gcp.zone_distribution {
            match (z.mode, &z.zone) {
                (ZoneDistributionMode::SingleZone, None) => errs.broken(
                    "spec.gcp.zoneDistribution.zone",
                    "is required with mode single-zone",
                ),
                (ZoneDistributionMode::MultiZone, Some(_)) => errs.broken(
                    "spec.gcp.zoneDistribution.zone",
                    "is not allowed with mode multi-zone",
                ),
                (_, Some(zone)) if !zone.starts_with(&format!("{}-", self.region)) => errs.broken(
                    "spec.gcp.zoneDistribution.zone",
                    format!(
                        "must be a zone of spec.region {:?} (e.g. {}-a)",
                        self.region, self.region
                    ),
                ),
                _ => {}
            }
        }
        for (key, value) in &gcp.redis_configs {
            if value.chars().count() > rules::REDIS_CONFIG_VALUE_MAX {
                errs.broken(
                    format!("spec.gcp.redisConfigs.{key}"),
                    format!(
                        "value must be at most {} characters",
                        rules::REDIS_CONFIG_VALUE_MAX
                    ),
                );
            }
            if !GCP_REDIS_CONFIG_KEYS.contains(&key.as_str()) {
                errs.broken(
                    format!("spec.gcp.redisConfigs.{key}"),
                    format!(
                        "is not a setting Memorystore accepts (one of {})",
                        GCP_REDIS_CONFIG_KEYS.join(", ")
                    ),
                );
            }
        }
        let automated_backup = gcp
            .automated_backup
            .as_ref()
            .and_then(|b| b.parse("spec.gcp.automatedBackup", errs));
        if let Some(key) = &gcp.kms_key
            && let Some(location) = errs.check("spec.gcp.kmsKey", rules::gcp_kms_key(key))
            && location != self.region
        {
            errs.broken(
                "spec.gcp.kmsKey",
                format!(
                    "is a key of location {location:?}; Memorystore needs a key of the cluster's region {:?}",
                    self.region
                ),
            );
        }
        let restore = gcp
            .restore_from
            .as_ref()
            .and_then(|r| r.parse(&self.region, "spec.gcp.restoreFrom", errs));
        Some(GcpCluster {
            project: gcp.project.clone(),
            region: self.region.clone(),
            cluster_id: id.to_owned(),
            node_type: node_type?,
            shard_count: u32::try_from(self.shard_count).ok()?,
            replica_count: u32::try_from(self.replicas_per_shard).ok()?,
            iam_auth: self.auth_mode == AuthMode::Iam,
            transit_encryption: self.transit_encryption,
            network: gcp.network.clone(),
            persistence: gcp.persistence.as_ref().map(GcpPersistence::parsed),
            zone_distribution: gcp
                .zone_distribution
                .as_ref()
                .map(GcpZoneDistribution::parsed),
            redis_configs: if valkey {
                BTreeMap::new()
            } else {
                gcp.redis_configs.clone()
            },
            deletion_protection: self.deletion_protection,
            maintenance_window: None,
            automated_backup,
            kms_key: gcp.kms_key.clone(),
            restore,
            backups: BackupPlan {
                final_backup: true,
                on_demand: None,
            },
            valkey: valkey_settings,
            secondary_of: None,
        })
    }

    /// The Valkey settings of a gcp spec, checked; `None` for Redis Cluster (whose spec must
    /// not set them).
    fn valkey_settings(&self, gcp: &GcpClusterSpec, errs: &mut FieldErrors) -> Option<Valkey> {
        if gcp.engine != GcpEngine::Valkey {
            for (set, field) in [
                (gcp.engine_version.is_some(), "engineVersion"),
                (gcp.mode.is_some(), "mode"),
                (!gcp.engine_configs.is_empty(), "engineConfigs"),
                (gcp.server_ca_mode.is_some(), "serverCaMode"),
            ] {
                if set {
                    errs.broken(
                        format!("spec.gcp.{field}"),
                        "is a Memorystore for Valkey setting: it needs gcp.engine valkey",
                    );
                }
            }
            return None;
        }
        if !gcp.redis_configs.is_empty() {
            errs.broken(
                "spec.gcp.redisConfigs",
                "is for Memorystore for Redis Cluster; Memorystore for Valkey takes gcp.engineConfigs",
            );
        }
        let cluster_mode = gcp.mode != Some(ValkeyMode::ClusterDisabled);
        if !cluster_mode && self.shard_count != 1 {
            errs.broken(
                "spec.shardCount",
                format!(
                    "must be 1 when gcp.mode is cluster-disabled (got {})",
                    self.shard_count
                ),
            );
        }
        for (key, value) in &gcp.engine_configs {
            if value.chars().count() > rules::REDIS_CONFIG_VALUE_MAX {
                errs.broken(
                    format!("spec.gcp.engineConfigs.{key}"),
                    format!(
                        "value must be at most {} characters",
                        rules::REDIS_CONFIG_VALUE_MAX
                    ),
                );
            }
            if !GCP_VALKEY_CONFIG_KEYS.contains(&key.as_str()) {
                errs.broken(
                    format!("spec.gcp.engineConfigs.{key}"),
                    format!(
                        "is not a setting Memorystore for Valkey accepts (one of {})",
                        GCP_VALKEY_CONFIG_KEYS.join(", ")
                    ),
                );
            }
        }
        Some(Valkey {
            version: gcp
                .engine_version
                .and_then(|v| ValkeyVersion::parse(v.as_str())),
            cluster_mode,
            engine_configs: gcp.engine_configs.clone(),
            server_ca_mode: gcp.server_ca_mode.map(|m| match m {
                ServerCaModeSpec::PerInstance => ServerCaMode::PerInstance,
                ServerCaModeSpec::Shared => ServerCaMode::Shared,
            }),
        })
    }

    fn desired_aws(
        &self,
        id: &str,
        has_groups: bool,
        errs: &mut FieldErrors,
    ) -> Option<AwsCluster> {
        if self.gcp.is_some() {
            errs.broken("spec.gcp", "must not be set when provider is aws");
        }
        let node_type = AwsNodeType::from_name(&self.node_type);
        if node_type.is_none() {
            errs.broken(
                "spec.nodeType",
                unknown_node_type(&self.node_type, Provider::Aws),
            );
        }
        if self.auth_mode != AuthMode::Disabled {
            if !self.transit_encryption {
                errs.broken(
                    "spec.transitEncryption",
                    format!(
                        "must be true with authMode {}: ElastiCache RBAC, IAM auth and AUTH tokens need TLS",
                        auth_name(self.auth_mode)
                    ),
                );
            }
            if self.auth_mode == AuthMode::Token && has_groups {
                errs.broken(
                    "spec.userGroupRefs",
                    "has no effect when authMode is token: a replication group has either an AUTH token or user groups",
                );
            }
            if !has_groups && self.auth_mode != AuthMode::Token {
                errs.broken(
                    "spec.userGroupRefs",
                    format!(
                        "must name a UserGroup with authMode {} on aws",
                        auth_name(self.auth_mode)
                    ),
                );
            }
        }
        if self.user_group_refs.len() > 1 {
            errs.broken(
                "spec.userGroupRefs",
                "an ElastiCache replication group takes at most one user group",
            );
        }
        let Some(aws) = &self.aws else {
            errs.broken("spec.aws", "is required when provider is aws");
            return None;
        };
        let cluster_mode_enabled = aws.cluster_mode == ClusterMode::Enabled;
        if !cluster_mode_enabled && self.shard_count != 1 {
            errs.broken(
                "spec.shardCount",
                "must be 1 when aws.clusterMode is disabled",
            );
        }
        let nodes = i64::from(self.shard_count) * (i64::from(self.replicas_per_shard) + 1);
        if nodes > 500 {
            errs.broken(
                "spec.shardCount",
                format!("an aws cluster has at most 500 nodes; shardCount * (replicasPerShard + 1) = {nodes}"),
            );
        }
        if let Some(v) = &aws.engine_version
            && let Some(version) =
                errs.check("spec.aws.engineVersion", rules::aws_engine_version(v))
        {
            match aws.engine {
                AwsEngine::Valkey if version < engine::VALKEY_MIN => errs.broken(
                    "spec.aws.engineVersion",
                    format!("Valkey versions on ElastiCache start at 7.2 (got {v})"),
                ),
                AwsEngine::Redis if version > engine::REDIS_MAX => errs.broken(
                    "spec.aws.engineVersion",
                    format!(
                        "Redis OSS on ElastiCache goes up to 7.1; later versions are Valkey (engine: valkey) (got {v})"
                    ),
                ),
                _ => {}
            }
            let major = version.major;
            let (iam_ok, rbac_ok) = match aws.engine {
                AwsEngine::Redis => (major >= 7, major >= 6),
                AwsEngine::Valkey => (true, true),
            };
            match self.auth_mode {
                AuthMode::Iam if !iam_ok => errs.broken(
                    "spec.aws.engineVersion",
                    "authMode iam needs Redis OSS 7.0 or later, or Valkey 7.2 or later",
                ),
                AuthMode::Password if !rbac_ok => errs.broken(
                    "spec.aws.engineVersion",
                    "authMode password (RBAC user groups) needs engine version 6.0 or later",
                ),
                _ => {}
            }
        }
        if let Some(sg) = &aws.cache_subnet_group_name
            && (sg.is_empty()
                || sg.len() > 255
                || !sg
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        {
            errs.broken(
                "spec.aws.cacheSubnetGroupName",
                "must be 1-255 lowercase letters, digits or hyphens",
            );
        }
        for (i, sg) in aws.security_group_ids.iter().enumerate() {
            let hex = sg.strip_prefix("sg-").unwrap_or_default();
            let ok = (hex.len() == 8 || hex.len() == 17)
                && hex
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
            if !ok {
                errs.broken(
                    format!("spec.aws.securityGroupIds[{i}]"),
                    "must be a security group ID such as sg-0123456789abcdef0",
                );
            }
        }
        if aws.security_group_ids.len() > 5 {
            errs.broken(
                "spec.aws.securityGroupIds",
                "must list at most 5 security groups",
            );
        }
        let retention = match aws.snapshot_retention_limit {
            Some(n) if !(0..=35).contains(&n) => {
                errs.broken(
                    "spec.aws.snapshotRetentionLimit",
                    format!("must be between 0 and 35 days (got {n})"),
                );
                None
            }
            other => other.map(|n| n.unsigned_abs()),
        };
        if let Some(w) = &aws.snapshot_window {
            errs.check("spec.aws.snapshotWindow", rules::daily_window(w));
        }
        if let Some(key) = &aws.kms_key_id {
            if !aws.at_rest_encryption {
                errs.broken(
                    "spec.aws.kmsKeyId",
                    "needs atRestEncryption: true (the key encrypts data at rest)",
                );
            }
            if let Some(Some(region)) = errs.check("spec.aws.kmsKeyId", rules::aws_kms_key(key))
                && region != self.region
            {
                errs.broken(
                    "spec.aws.kmsKeyId",
                    format!(
                        "is a key of region {region:?}; KMS keys are regional and the cluster is in {:?}",
                        self.region
                    ),
                );
            }
        }
        let restore = aws
            .restore_from
            .as_ref()
            .and_then(|r| r.parse("spec.aws.restoreFrom", errs));
        let rotation = match &aws.auth_token_rotation_interval {
            None => Some(DEFAULT_AUTH_TOKEN_INTERVAL),
            Some(_) if self.auth_mode != AuthMode::Token => {
                errs.broken("spec.aws.authTokenRotationInterval", "needs authMode token");
                None
            }
            Some(d) => match errs.check("spec.aws.authTokenRotationInterval", rules::duration(d)) {
                Some(d) if d < std::time::Duration::from_secs(60) => {
                    errs.broken("spec.aws.authTokenRotationInterval", "must be at least 1m");
                    None
                }
                other => other,
            },
        };
        Some(AwsCluster {
            region: self.region.clone(),
            replication_group_id: id.to_owned(),
            node_type: node_type?,
            engine: aws.engine,
            engine_version: aws.engine_version.clone(),
            cluster_mode_enabled,
            shard_count: u32::try_from(self.shard_count).ok()?,
            replicas_per_shard: u32::try_from(self.replicas_per_shard).ok()?,
            transit_encryption: self.transit_encryption,
            auth: self.auth_mode,
            cache_subnet_group_name: aws.cache_subnet_group_name.clone(),
            security_group_ids: aws.security_group_ids.clone(),
            snapshot_retention_limit: retention,
            parameter_group_name: aws.parameter_group_name.clone(),
            user_group_ids: Vec::new(),
            maintenance_window: None,
            snapshot_window: aws.snapshot_window.clone(),
            at_rest_encryption: aws.at_rest_encryption,
            kms_key_id: aws.kms_key_id.clone(),
            restore,
            backups: BackupPlan {
                final_backup: true,
                on_demand: None,
            },
            auth_token: None,
            auth_token_rotation_interval: rotation?,
        })
    }
}

fn auth_name(mode: AuthMode) -> &'static str {
    match mode {
        AuthMode::Iam => "iam",
        AuthMode::Password => "password",
        AuthMode::Token => "token",
        AuthMode::Disabled => "disabled",
    }
}

fn unknown_node_type(value: &str, provider: Provider) -> String {
    match provider {
        Provider::Gcp => format!(
            "{value:?} is not a Memorystore for Redis Cluster node type (one of {})",
            GcpNodeType::ALL.map(|t| t.name()).join(", ")
        ),
        Provider::Aws if value.starts_with("cache.") => format!(
            "{value:?} is not a current-generation ElastiCache node type (e.g. cache.t4g.micro, cache.r7g.large)"
        ),
        Provider::Aws => {
            format!("{value:?} is not an ElastiCache node type (cache.*, e.g. cache.r7g.large)")
        }
    }
}
