//! What a valid spec means, per cloud: the parsed form the controllers and cloud clients use.
//!
//! A `RedisClusterSpec` is the wire shape users write; [`DesiredCluster`] is what it asks of a
//! cloud once every rule holds. Nothing downstream re-checks a rule: holding a value of these
//! types is the proof.

pub mod engine;
pub mod lifecycle;
pub mod node_type;
pub mod serverless;

use std::collections::BTreeMap;
use std::time::Duration;

pub use engine::EngineVersion;
pub use lifecycle::{
    AuthToken, AwsRestore, BackupPlan, GcpAutomatedBackup, GcpRestore, Weekday, WeeklyWindow,
};
pub use node_type::{AwsNodeType, GcpNodeType};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How clients authenticate to a cluster (`spec.authMode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    #[default]
    Iam,
    Password,
    /// aws: a single AUTH token on the replication group (legacy Redis AUTH).
    Token,
    Disabled,
}

/// The engine of an ElastiCache cluster, user or user group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AwsEngine {
    #[default]
    Redis,
    Valkey,
}

impl AwsEngine {
    pub fn as_str(self) -> &'static str {
        match self {
            AwsEngine::Redis => "redis",
            AwsEngine::Valkey => "valkey",
        }
    }
}

/// How an ElastiCache user proves who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserAuthentication {
    Iam,
    Password,
}

// How often an RDB snapshot is taken (gcp persistence); no doc comment: it would become the
// CRD field's description.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RdbSnapshotPeriod {
    #[serde(rename = "1h")]
    OneHour,
    #[serde(rename = "6h")]
    SixHours,
    #[serde(rename = "12h")]
    TwelveHours,
    #[serde(rename = "24h")]
    TwentyFourHours,
}

// When the AOF is flushed to disk (gcp persistence).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AofAppendFsync {
    No,
    Everysec,
    Always,
}

/// gcp persistence: each mode with only its own setting (`None`: the cloud's default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    Disabled,
    Rdb(Option<RdbSnapshotPeriod>),
    Aof(Option<AofAppendFsync>),
}

/// gcp zone distribution; a single zone may be left to the cloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZoneDistribution {
    MultiZone,
    SingleZone(Option<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum DesiredCluster {
    Gcp(GcpCluster),
    Aws(AwsCluster),
}

impl DesiredCluster {
    pub fn region(&self) -> &str {
        match self {
            DesiredCluster::Gcp(c) => &c.region,
            DesiredCluster::Aws(c) => &c.region,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            DesiredCluster::Gcp(c) => &c.cluster_id,
            DesiredCluster::Aws(c) => &c.replication_group_id,
        }
    }

    pub fn backups(&self) -> &BackupPlan {
        match self {
            DesiredCluster::Gcp(c) => &c.backups,
            DesiredCluster::Aws(c) => &c.backups,
        }
    }

    pub fn maintenance_window(&self) -> Option<&WeeklyWindow> {
        match self {
            DesiredCluster::Gcp(c) => c.maintenance_window.as_ref(),
            DesiredCluster::Aws(c) => c.maintenance_window.as_ref(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct GcpCluster {
    pub project: String,
    pub region: String,
    pub cluster_id: String,
    pub node_type: GcpNodeType,
    pub shard_count: u32,
    pub replica_count: u32,
    pub iam_auth: bool,
    pub transit_encryption: bool,
    pub network: String,
    pub persistence: Option<Persistence>,
    pub zone_distribution: Option<ZoneDistribution>,
    pub redis_configs: BTreeMap<String, String>,
    pub deletion_protection: bool,
    pub maintenance_window: Option<WeeklyWindow>,
    pub automated_backup: Option<GcpAutomatedBackup>,
    /// CMEK: `projects/P/locations/L/keyRings/R/cryptoKeys/K`.
    pub kms_key: Option<String>,
    /// Data to create the cluster with.
    pub restore: Option<GcpRestore>,
    pub backups: BackupPlan,
    /// Memorystore for Valkey (`memorystore.googleapis.com` instances) when set; Memorystore
    /// for Redis Cluster (`redis.googleapis.com` clusters) otherwise.
    pub valkey: Option<Valkey>,
    /// Create as a secondary of this cluster (its full resource name): cross-region
    /// replication, resolved by the controller from the set's anchor; `None` straight out of
    /// the spec.
    pub secondary_of: Option<String>,
}

/// What a Memorystore for Valkey instance adds to the common Memorystore settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Valkey {
    /// `None`: the service's default version at creation, left as it is afterwards.
    pub version: Option<ValkeyVersion>,
    /// `CLUSTER` (true) or `CLUSTER_DISABLED` (one shard, primary and reader endpoints).
    pub cluster_mode: bool,
    /// `engineConfigs`: the whole set.
    pub engine_configs: BTreeMap<String, String>,
    /// `serverCaMode`; the service's default when unset.
    pub server_ca_mode: Option<ServerCaMode>,
}

/// A Valkey engine version as Memorystore names it (`VALKEY_8_0`); ordered oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ValkeyVersion {
    pub major: u16,
    pub minor: u16,
}

impl ValkeyVersion {
    /// The versions the service offers, oldest first (the CRD's enum).
    pub const ALL: [&'static str; 3] = ["VALKEY_7_2", "VALKEY_8_0", "VALKEY_9_0"];

    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix("VALKEY_")?;
        let (major, minor) = rest.split_once('_')?;
        Some(ValkeyVersion {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }

    pub fn api_value(self) -> String {
        format!("VALKEY_{}_{}", self.major, self.minor)
    }
}

/// Which CA signs a Valkey instance's server certificates (`serverCaMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerCaMode {
    PerInstance,
    Shared,
}

impl ServerCaMode {
    pub fn api_value(self) -> &'static str {
        match self {
            ServerCaMode::PerInstance => "GOOGLE_MANAGED_PER_INSTANCE_CA",
            ServerCaMode::Shared => "GOOGLE_MANAGED_SHARED_CA",
        }
    }
}

impl GcpCluster {
    /// `projects/P/locations/R`
    pub fn parent(&self) -> String {
        format!("projects/{}/locations/{}", self.project, self.region)
    }

    /// `projects/P/locations/R/clusters/C` (Redis Cluster) or `…/instances/I` (Valkey): the
    /// resource name, and the prefix IAM conditions scope grants to.
    pub fn name(&self) -> String {
        format!(
            "{}/{}/{}",
            self.parent(),
            self.collection(),
            self.cluster_id
        )
    }

    /// The collection of the product: `clusters` or `instances`.
    pub fn collection(&self) -> &'static str {
        if self.valkey.is_some() {
            "instances"
        } else {
            "clusters"
        }
    }

    /// The node type as users write it for this product.
    pub fn node_type_name(&self) -> &'static str {
        match &self.valkey {
            Some(_) => self
                .node_type
                .valkey_name()
                .unwrap_or(self.node_type.name()),
            None => self.node_type.name(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AwsCluster {
    pub region: String,
    pub replication_group_id: String,
    pub node_type: AwsNodeType,
    pub engine: AwsEngine,
    pub engine_version: Option<String>,
    pub cluster_mode_enabled: bool,
    pub shard_count: u32,
    pub replicas_per_shard: u32,
    pub transit_encryption: bool,
    pub auth: AuthMode,
    pub cache_subnet_group_name: Option<String>,
    pub security_group_ids: Vec<String>,
    pub snapshot_retention_limit: Option<u32>,
    /// The parameter group the spec names; see [`AwsCluster::parameter_group`].
    pub parameter_group_name: Option<String>,
    /// The ElastiCache user group IDs of `spec.userGroupRefs`; resolved by the controller from
    /// the UserGroup objects, empty straight out of the spec.
    pub user_group_ids: Vec<String>,
    pub maintenance_window: Option<WeeklyWindow>,
    /// `SnapshotWindow`, `hh24:mi-hh24:mi`.
    pub snapshot_window: Option<String>,
    pub at_rest_encryption: bool,
    pub kms_key_id: Option<String>,
    /// Data to create the replication group with.
    pub restore: Option<AwsRestore>,
    pub backups: BackupPlan,
    /// `authMode: token`: the token to set, read by the controller from the Secret it owns
    /// (see [`AwsCluster::with_auth_token`]); `None` straight out of the spec.
    pub auth_token: Option<AuthToken>,
    /// `authMode: token`: how often the token is replaced.
    pub auth_token_rotation_interval: Duration,
}

impl AwsCluster {
    /// The engine version the spec names, parsed.
    pub fn version(&self) -> Option<EngineVersion> {
        self.engine_version
            .as_deref()
            .and_then(EngineVersion::parse)
    }

    /// The cache parameter group the cluster should use: the one the spec names, else the
    /// default group of the engine version's family (so that it follows the engine through an
    /// upgrade); `None` when neither is known (the cloud picks its default).
    pub fn parameter_group(&self) -> Option<String> {
        if let Some(name) = &self.parameter_group_name {
            return Some(name.clone());
        }
        let family = engine::parameter_group_family(self.engine, self.version()?);
        Some(engine::default_parameter_group(
            &family,
            self.cluster_mode_enabled,
        ))
    }

    /// This cluster with the AUTH token to set (`authMode: token`).
    pub fn with_auth_token(mut self, token: AuthToken) -> Self {
        self.auth_token = Some(token);
        self
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum DesiredUserGroup {
    Aws(AwsUserGroup),
    Gcp(GcpUserGroup),
}

#[derive(Clone, Debug, PartialEq)]
pub struct AwsUserGroup {
    pub region: String,
    pub user_group_id: String,
    pub engine: AwsEngine,
    pub users: Vec<AwsUserModel>,
}

impl AwsUserGroup {
    /// ElastiCache demands a user named `default` in a redis group; without one in the spec
    /// the operator supplies a disabled stand-in with this ID.
    pub fn default_user_id(&self) -> String {
        let mut id = format!("{}-default", self.user_group_id);
        id.truncate(crate::rules::AWS_USER_ID_MAX);
        id.trim_end_matches('-').to_owned()
    }

    pub fn has_default_user(&self) -> bool {
        self.users.iter().any(|u| u.user_name == "default")
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsUserModel {
    pub user_id: String,
    pub user_name: String,
    pub access_string: String,
    pub authentication: UserAuthentication,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GcpUserGroup {
    pub members: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DesiredBinding {
    pub user: Option<String>,
    pub secret_name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// `None`: a third of each token's lifetime.
    pub refresh_before: Option<Duration>,
    pub password_interval: Duration,
}

/// aws passwords rotate every 30 days unless the binding says otherwise.
pub const DEFAULT_PASSWORD_INTERVAL: Duration = Duration::from_secs(720 * 3600);

/// aws AUTH tokens (`authMode: token`) rotate every 30 days unless the cluster says otherwise.
pub const DEFAULT_AUTH_TOKEN_INTERVAL: Duration = Duration::from_secs(720 * 3600);
