//! What a valid spec means, per cloud: the parsed form the controllers and cloud clients use.
//!
//! A `RedisClusterSpec` is the wire shape users write; [`DesiredCluster`] is what it asks of a
//! cloud once every rule holds. Nothing downstream re-checks a rule: holding a value of these
//! types is the proof.

pub mod node_type;

use std::collections::BTreeMap;
use std::time::Duration;

pub use node_type::{AwsNodeType, GcpNodeType};

use crate::cluster::{AuthMode, AwsEngine, GcpPersistence, GcpZoneDistribution};
use crate::user_group::UserAuthentication;

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
    pub persistence: Option<GcpPersistence>,
    pub zone_distribution: Option<GcpZoneDistribution>,
    pub redis_configs: BTreeMap<String, String>,
    pub deletion_protection: bool,
}

impl GcpCluster {
    /// `projects/P/locations/R`
    pub fn parent(&self) -> String {
        format!("projects/{}/locations/{}", self.project, self.region)
    }

    /// `projects/P/locations/R/clusters/C`: the resource name, and the prefix IAM conditions
    /// scope grants to.
    pub fn name(&self) -> String {
        format!("{}/clusters/{}", self.parent(), self.cluster_id)
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
    pub parameter_group_name: Option<String>,
    /// The ElastiCache user group IDs of `spec.userGroupRefs`; resolved by the controller from
    /// the UserGroup objects, empty straight out of the spec.
    pub user_group_ids: Vec<String>,
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
