//! The cloud clients of the controllers: one trait object per cloud and per concern (the real
//! clients in `run`, scripted fakes of the `cache-operator-cloud-fakes` crate in tests).

use std::sync::Arc;

use cache_operator_api::model::{AwsCluster, DesiredCluster, GcpCluster};
use cache_operator_cloud::Clusters;
use cache_operator_cloud::aws::{IamTokens, Users};
use cache_operator_cloud::error::Result as CloudResult;
use cache_operator_cloud::gcp::{AccessTokens, Grants};
use cache_operator_cloud::provider::{
    Change, Claim, Created, FinalBackup, ObservedBackup, ObservedCluster, OperationState, Owner,
    Progress,
};

/// Every cloud client the controllers use, one trait object per cloud and concern (scripted
/// fakes in tests, see the `cache-operator-cloud-fakes` crate).
#[derive(Clone)]
pub struct Clouds {
    pub gcp: GcpClouds,
    pub aws: AwsClouds,
}

#[derive(Clone)]
pub struct GcpClouds {
    /// Memorystore for Redis Cluster.
    pub clusters: Arc<dyn Clusters<GcpCluster>>,
    /// Memorystore for Valkey (instances).
    pub instances: Arc<dyn Clusters<GcpCluster>>,
    /// Access tokens for bindings: of the service accounts they name, or the operator's own.
    pub tokens: Arc<dyn AccessTokens>,
    /// The groups' conditional IAM grants in project policies.
    pub grants: Arc<dyn Grants>,
}

#[derive(Clone)]
pub struct AwsClouds {
    /// ElastiCache replication groups.
    pub clusters: Arc<dyn Clusters<AwsCluster>>,
    /// ElastiCache users and user groups.
    pub users: Arc<dyn Users>,
    /// IAM auth tokens, signed with the operator's AWS credentials.
    pub tokens: Arc<dyn IamTokens>,
}

impl Clouds {
    /// The cluster client of `desired`'s cloud, bound to it.
    pub fn cluster<'a>(&'a self, desired: &'a DesiredCluster) -> ClusterCloud<'a> {
        match desired {
            DesiredCluster::Gcp(c) if c.valkey.is_some() => {
                ClusterCloud::Gcp(&*self.gcp.instances, c)
            }
            DesiredCluster::Gcp(c) => ClusterCloud::Gcp(&*self.gcp.clusters, c),
            DesiredCluster::Aws(c) => ClusterCloud::Aws(&*self.aws.clusters, c),
        }
    }
}

/// A desired cluster with its own cloud's client: the pair can only be built matching, so no
/// call can reach the other cloud.
#[derive(Clone, Copy)]
pub enum ClusterCloud<'a> {
    Gcp(&'a dyn Clusters<GcpCluster>, &'a GcpCluster),
    Aws(&'a dyn Clusters<AwsCluster>, &'a AwsCluster),
}

/// Calls `$method` on the client of the pair with the desired cluster first.
macro_rules! bound {
    ($self:expr, $method:ident $(, $arg:expr)*) => {
        match $self {
            ClusterCloud::Gcp(api, c) => api.$method(c $(, $arg)*),
            ClusterCloud::Aws(api, c) => api.$method(c $(, $arg)*),
        }
    };
}

impl ClusterCloud<'_> {
    pub fn changes(self, observed: &ObservedCluster) -> Vec<Change> {
        bound!(self, changes, observed)
    }
    pub async fn list(self) -> CloudResult<Vec<ObservedCluster>> {
        bound!(self, list).await
    }
    pub async fn get(self) -> CloudResult<Option<ObservedCluster>> {
        bound!(self, get).await
    }
    pub async fn create(self, owner: &Owner) -> CloudResult<Created> {
        bound!(self, create, owner).await
    }
    pub async fn claim(self, owner: &Owner, observed: &ObservedCluster) -> CloudResult<Claim> {
        bound!(self, claim, owner, observed).await
    }
    pub async fn adopt(self, owner: &Owner, observed: &ObservedCluster) -> CloudResult<()> {
        bound!(self, adopt, owner, observed).await
    }
    pub async fn apply(self, change: &Change, owner: &Owner) -> CloudResult<Progress> {
        bound!(self, apply, change, owner).await
    }
    pub async fn delete(self, owner: &Owner) -> CloudResult<Progress> {
        bound!(self, delete, owner).await
    }
    pub async fn operation(self, name: &str) -> CloudResult<OperationState> {
        match self {
            ClusterCloud::Gcp(api, _) => api.operation(name).await,
            ClusterCloud::Aws(api, _) => api.operation(name).await,
        }
    }
    pub async fn ca_certificates(self) -> CloudResult<Vec<String>> {
        bound!(self, ca_certificates).await
    }
    pub async fn backup(self, name: &str) -> CloudResult<Progress> {
        bound!(self, backup, name).await
    }
    pub async fn backups(self) -> CloudResult<Vec<ObservedBackup>> {
        bound!(self, backups).await
    }
    pub async fn final_backup(self, owner: &Owner, name: &str) -> CloudResult<FinalBackup> {
        bound!(self, final_backup, owner, name).await
    }
}
