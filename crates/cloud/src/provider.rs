//! The clusters interface the controllers use, one instance per cloud, and the terms both clouds
//! report in.

use async_trait::async_trait;
use cache_operator_api::model::{DesiredCluster, GcpAutomatedBackup, WeeklyWindow};

use crate::error::Result;

/// Where clusters are listed together: one List/Describe call serves every object that shares
/// a scope.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// A project and region (`projects/P/locations/R`) of one Memorystore product (Valkey
    /// instances or Redis clusters: each has its own List).
    Gcp {
        project: String,
        region: String,
        valkey: bool,
    },
    /// The operator's AWS account in one region.
    Aws { region: String },
}

impl Scope {
    pub fn of(desired: &DesiredCluster) -> Scope {
        match desired {
            DesiredCluster::Gcp(c) => Scope::Gcp {
                project: c.project.clone(),
                region: c.region.clone(),
                valkey: c.valkey.is_some(),
            },
            DesiredCluster::Aws(c) => Scope::Aws {
                region: c.region.clone(),
            },
        }
    }
}

/// The Kubernetes object a cloud resource belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    /// The `metadata.generation` a write serves: part of gcp request IDs, so a retry repeats the
    /// same write while a later spec change is a new one.
    pub generation: i64,
    /// Which attempt at its writes the object is on: part of gcp request IDs. Memorystore
    /// answers a repeated `requestId` with the first operation for at least an hour, whatever
    /// became of it, so:
    /// - a call whose answer was lost is retried with the **same** attempt (it must not run
    ///   twice);
    /// - a **new** attempt ([`Owner::next_attempt`]) is needed once the previous one is known to
    ///   have ended without the wanted result: its operation failed, or the cluster it created
    ///   is gone (deleted behind the operator's back), or an update it made was undone.
    ///
    /// The caller keeps the number where a retry finds it again (the object's status), and
    /// derives the decision to bump it from what it observes, so that repeating a reconcile
    /// whose status write was lost repeats the same attempt.
    pub attempt: u32,
}

impl Owner {
    /// The same owner on its next attempt (see [`Owner::attempt`]).
    pub fn next_attempt(&self) -> Owner {
        Owner {
            attempt: self.attempt + 1,
            ..self.clone()
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterState {
    Creating,
    Available,
    Updating,
    Deleting,
    Failed,
    Unknown,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

/// A cluster as the cloud reports it, in the same terms for both clouds.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedCluster {
    pub id: String,
    /// Full GCP resource name or AWS ARN.
    pub resource: String,
    /// The cloud's own unique ID (gcp `uid`); aws has none beyond the ARN.
    pub uid: Option<String>,
    /// When the cloud created it (gcp `createTime`), for telling one cluster from another.
    pub created: Option<String>,
    pub state: ClusterState,
    /// The cloud's word for the state (`ACTIVE`, `available`, …).
    pub raw_state: String,
    /// The node type as users write it (`redis-highmem-medium`, `cache.r7g.large`).
    pub node_type: String,
    pub shard_count: u32,
    pub replicas_per_shard: u32,
    pub discovery: Vec<Endpoint>,
    pub primary: Option<Endpoint>,
    pub reader: Option<Endpoint>,
    pub transit_encryption: bool,
    /// Changes the cloud has accepted but will make later (ElastiCache's pending values,
    /// applied in the maintenance window), in the cloud's own words.
    pub pending: Vec<String>,
    /// Boxed: a cluster is one cloud's, and the observer keeps one of these per cluster of a
    /// scope, so the other cloud's part should cost a pointer, not its size.
    pub gcp: Option<Box<GcpObserved>>,
    pub aws: Option<Box<AwsObserved>>,
    /// Cross-region replication, when the cluster takes (or took) part in it.
    pub replication: Option<ObservedReplication>,
}

pub use cache_operator_api::cross_region::ReplicationRole;

/// A member of a cross-region set as the cloud reports it, in the same terms for both clouds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedReplication {
    pub role: ReplicationRole,
    /// The set's primary (full name); this cluster when it is the primary.
    pub primary: Option<String>,
    /// The set's secondaries (full names), as every member reports them.
    pub secondaries: Vec<String>,
    /// When the cloud last changed this member's replication (RFC 3339): a switchover or
    /// detach asked for after it is a new write, one asked for again is the same.
    pub update_time: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct GcpObserved {
    pub iam_auth: bool,
    pub deletion_protection: bool,
    /// `persistenceConfig` and `redisConfigs` as returned, for comparison with the spec.
    pub persistence: Option<serde_json::Value>,
    /// `redisConfigs` (Redis Cluster) or `engineConfigs` (Valkey).
    pub redis_configs: std::collections::BTreeMap<String, String>,
    /// Valkey: `engineVersion` (`VALKEY_8_0`).
    pub engine_version: Option<String>,
    /// Valkey: the instance's labels (ownership).
    pub labels: std::collections::BTreeMap<String, String>,
    /// The weekly window of `maintenancePolicy`, when one is set.
    pub maintenance_window: Option<WeeklyWindow>,
    /// `maintenancePolicy` and the upcoming `maintenanceSchedule`.
    pub maintenance: ObservedMaintenance,
    /// `automatedBackupConfig` as the cloud holds it.
    pub automated_backup: Option<GcpAutomatedBackup>,
    /// CMEK (`kmsKey`) and `encryptionInfo.encryptionType`.
    pub kms_key: Option<String>,
    pub encryption: Option<String>,
    /// The backup collection, once the cluster has one.
    pub backup_collection: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsObserved {
    pub engine: String,
    pub cluster_mode_enabled: bool,
    pub user_group_ids: Vec<String>,
    /// User groups being added or removed right now.
    pub pending_user_groups: bool,
    pub snapshot_retention_limit: Option<u32>,
    /// Shard IDs (`0001`, …), needed to choose shards to remove when scaling in.
    pub node_group_ids: Vec<String>,
    /// Automatic failover enabled (or being enabled).
    pub automatic_failover: bool,
    pub multi_az: bool,
    /// The engine version the nodes run as the cloud reports it (`7.1.0`; DescribeCacheClusters).
    pub engine_version: Option<String>,
    /// The cache parameter group of the nodes.
    pub parameter_group: Option<String>,
    /// `PreferredMaintenanceWindow`, node changes pending for it, and when it next opens.
    pub maintenance: ObservedMaintenance,
    pub snapshot_window: Option<String>,
    pub at_rest_encryption: bool,
    pub kms_key_id: Option<String>,
    pub auth_token_enabled: bool,
    /// `PendingModifiedValues.AuthTokenStatus`: `ROTATING` or `SETTING` while a token change
    /// is applied.
    pub auth_token_status: Option<String>,
    pub auth_token_last_modified: Option<String>,
}

/// What the cloud says about maintenance, in the same terms for both clouds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedMaintenance {
    /// The window in the cloud's words (`sun:05:00-sun:06:00`, `SUNDAY 05:00 UTC`).
    pub window: Option<String>,
    /// Upcoming maintenance (RFC 3339): gcp `maintenanceSchedule`; aws the next window when
    /// node changes wait for it.
    pub scheduled_start: Option<String>,
    pub scheduled_end: Option<String>,
    /// Node changes waiting for the window (aws), e.g. `EngineVersion 7.1`.
    pub pending: Vec<String>,
}

/// One backup (gcp) or snapshot (aws) of a cluster, as the cloud lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedBackup {
    /// The backup ID (gcp) or snapshot name (aws).
    pub name: String,
    /// The full gcp resource name or the snapshot ARN.
    pub resource: String,
    /// The cloud's state word (`CREATING`, `ACTIVE`, `creating`, `available`, `restoring`…).
    pub state: String,
    /// The backup holds data and can be restored from.
    pub ready: bool,
    /// `true` for backups the cloud took on its schedule (automated), `false` for requested ones.
    pub automated: bool,
    /// RFC 3339.
    pub created: Option<String>,
}

/// How a cluster's final backup relates to its delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinalBackup {
    /// gcp: the backup runs on its own (follow the progress) and must finish before the delete
    /// is started with [`Clusters::delete`].
    Before(Progress),
    /// aws: the delete call took the backup (`FinalSnapshotIdentifier`); the delete started.
    WithDelete(Progress),
}

/// What an AUTH token change does (ModifyReplicationGroup `AuthTokenUpdateStrategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStrategy {
    /// Add the desired token; the current one stays accepted.
    Rotate,
    /// Keep only the desired token (allowed only after a ROTATE).
    Set,
}

/// One change the spec asks for; applied one at a time (Memorystore takes one field per
/// PATCH, ElastiCache has one API per kind of change).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    ShardCount(u32),
    ReplicaCount(u32),
    NodeType,
    /// gcp
    DeletionProtection(bool),
    /// gcp
    Persistence,
    /// gcp
    RedisConfigs,
    /// aws
    SnapshotRetention,
    /// aws
    UserGroups {
        add: Vec<String>,
        remove: Vec<String>,
    },
    /// aws: high availability as the replica count implies. Multi-AZ (and, with cluster mode
    /// disabled, automatic failover) needs a replica: off before going to zero replicas, on
    /// again once replicas are back.
    Failover {
        enabled: bool,
    },
    /// gcp Valkey: `engineVersion` (upgrade only). aws: engine and version upgrade (ModifyReplicationGroup `Engine`, `EngineVersion`, with
    /// the parameter group of the new family), applied at once.
    EngineVersion,
    /// aws: the cache parameter group alone.
    ParameterGroup,
    /// Both: the weekly maintenance window.
    MaintenanceWindow,
    /// aws: the daily snapshot window.
    SnapshotWindow,
    /// gcp: `automatedBackupConfig`.
    AutomatedBackup,
    /// Cross-region replication: make this secondary the primary of `secondaries` (the old
    /// primary and the other secondaries). `since` is the member's replication `update_time`,
    /// so a repeat of the same switchover is the same request. Never part of
    /// [`Clusters::changes`]: the controller decides it from the set.
    Switchover {
        secondaries: Vec<String>,
        since: Option<String>,
    },
    /// Cross-region replication: this secondary leaves its set and becomes standalone.
    Detach {
        since: Option<String>,
    },
    /// aws `authMode: token`: set the desired AUTH token with this strategy. Never part of
    /// [`Clusters::changes`]: the rotation is timed by the caller (ROTATE, the overlap,
    /// then SET).
    AuthToken(TokenStrategy),
}

impl Change {
    /// A short name for events and logs.
    pub fn describe(&self) -> String {
        match self {
            Change::ShardCount(n) => format!("shard count to {n}"),
            Change::ReplicaCount(n) => format!("replicas per shard to {n}"),
            Change::NodeType => "node type".into(),
            Change::DeletionProtection(on) => {
                format!("deletion protection {}", if *on { "on" } else { "off" })
            }
            Change::Persistence => "persistence".into(),
            Change::RedisConfigs => "redis configs".into(),
            Change::SnapshotRetention => "snapshot retention".into(),
            Change::UserGroups { add, remove } => format!("user groups (+{add:?} -{remove:?})"),
            Change::Failover { enabled } => format!(
                "automatic failover and Multi-AZ {}",
                if *enabled { "on" } else { "off" }
            ),
            Change::EngineVersion => "engine version".into(),
            Change::ParameterGroup => "parameter group".into(),
            Change::MaintenanceWindow => "maintenance window".into(),
            Change::SnapshotWindow => "snapshot window".into(),
            Change::AutomatedBackup => "automated backups".into(),
            Change::Switchover { .. } => "cross-region role to primary (switchover)".into(),
            Change::Detach { .. } => "cross-region role to none (detach)".into(),
            Change::AuthToken(TokenStrategy::Rotate) => "AUTH token (rotate)".into(),
            Change::AuthToken(TokenStrategy::Set) => "AUTH token (set)".into(),
        }
    }
}

/// What a create started, and the resource's full name (GCP name or AWS ARN) for the status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub progress: Progress,
    pub resource: String,
}

/// What a write started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A long-running operation to follow (gcp operation name).
    Operation(String),
    /// The resource itself shows the progress (aws status).
    Started,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperationState {
    Running,
    Done,
    Failed {
        code: String,
        message: String,
    },
    /// The operation is gone (expired or never existed): look at the resource instead.
    Unknown,
}

/// Whether an existing cloud resource belongs to an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    Ours,
    /// Created by someone else (or by another object); the string says how we know.
    Foreign(String),
}

/// One cloud's cluster API, for the desired clusters of that cloud (`GcpCluster` for
/// Memorystore, `AwsCluster` for ElastiCache): each cloud is its own instance of this trait, so
/// a cluster can only ever reach its own cloud's client.
#[async_trait]
pub trait Clusters<C>: Send + Sync {
    /// The changes that bring `observed` to `desired`, in the order to apply them. Pure: what
    /// the cloud can change and how it reports it is this client's knowledge.
    fn changes(&self, desired: &C, observed: &ObservedCluster) -> Vec<Change>;

    /// Every cluster in the scope of `like` (its project or account, and region), in as few
    /// calls as the API allows.
    async fn list(&self, like: &C) -> Result<Vec<ObservedCluster>>;

    /// One cluster, `None` when it does not exist.
    async fn get(&self, desired: &C) -> Result<Option<ObservedCluster>>;

    /// Start creating the cluster. Retrying a create for the same owner and attempt never makes
    /// two; on gcp it is answered with the first create's operation for an hour, even if that
    /// operation failed or its cluster was deleted since: starting over needs a new attempt.
    async fn create(&self, desired: &C, owner: &Owner) -> Result<Created>;

    /// Whether an existing cluster with the desired ID was created for `owner`.
    async fn claim(&self, desired: &C, owner: &Owner, observed: &ObservedCluster) -> Result<Claim>;

    /// Record `owner` on a cluster it did not create (adoption by opt-in).
    async fn adopt(&self, desired: &C, owner: &Owner, observed: &ObservedCluster) -> Result<()>;

    /// Apply one change.
    async fn apply(&self, desired: &C, change: &Change, owner: &Owner) -> Result<Progress>;

    /// Start deleting the cluster.
    async fn delete(&self, desired: &C, owner: &Owner) -> Result<Progress>;

    /// Follow a long-running operation returned earlier.
    async fn operation(&self, name: &str) -> Result<OperationState>;

    /// PEM certificates clients should trust for this cluster's TLS, when the cloud has its own
    /// CA (gcp); empty when public roots serve (aws).
    async fn ca_certificates(&self, desired: &C) -> Result<Vec<String>>;

    /// Start an on-demand backup (gcp `clusters.backup`, aws CreateSnapshot) named `name`. A
    /// name already taken answers `AlreadyExists`: look it up with [`Clusters::backups`].
    async fn backup(&self, desired: &C, name: &str) -> Result<Progress>;

    /// The backups of this cluster the cloud lists (gcp: its backup collection; aws: the
    /// snapshots of the replication group, manual and automatic). They outlive the cluster.
    async fn backups(&self, desired: &C) -> Result<Vec<ObservedBackup>>;

    /// Take the final backup `name` of a cluster about to be deleted: gcp backs it up (the
    /// delete must wait for the operation), aws deletes with `FinalSnapshotIdentifier`.
    async fn final_backup(&self, desired: &C, owner: &Owner, name: &str) -> Result<FinalBackup>;
}
