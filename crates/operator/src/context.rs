//! What every reconcile shares: clients, cloud clients, the observation cache, events,
//! metrics, timing settings and per-object backoff.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_operator_api::model::{AwsCluster, DesiredCluster, GcpCluster};
use cache_operator_cloud::Clusters;
use cache_operator_cloud::aws::{IamTokens, Users};
use cache_operator_cloud::error::Result as CloudResult;
use cache_operator_cloud::gcp::{AccessTokens, Grants};
use cache_operator_cloud::provider::{
    Change, Claim, Created, FinalBackup, ObservedBackup, ObservedCluster, OperationState, Owner,
    Progress,
};
use rand::Rng;

use crate::events::Recorder;

use crate::metrics::Metrics;
use crate::observer::Observer;

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

#[derive(Clone, Debug)]
pub struct AccessSettings {
    /// How long an old aws password keeps working after a rotation; must exceed the time a
    /// rewritten Secret takes to reach pods.
    pub password_overlap: Duration,
    /// Lifetime of aws IAM auth tokens (at most 15 minutes).
    pub aws_iam_token_lifetime: Duration,
    /// Lifetime asked of gcp access tokens.
    pub gcp_token_lifetime: Duration,
}

impl Default for AccessSettings {
    fn default() -> Self {
        AccessSettings {
            password_overlap: Duration::from_secs(600),
            aws_iam_token_lifetime: Duration::from_secs(900),
            gcp_token_lifetime: Duration::from_secs(3600),
        }
    }
}

/// How often things happen.
#[derive(Clone, Debug)]
pub struct Timing {
    /// Re-check of a steady object (drift detection).
    pub resync: Duration,
    /// Re-check while the cloud is working on something.
    pub poll: Duration,
    /// First retry after a transient failure; doubles up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            resync: Duration::from_secs(300),
            poll: Duration::from_secs(10),
            base_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
        }
    }
}

pub struct Context {
    pub client: kube::Client,
    pub clouds: Clouds,
    pub observer: Observer,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub timing: Timing,
    pub settings: AccessSettings,
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    pub fn new(
        client: kube::Client,
        clouds: Clouds,
        recorder: Recorder,
        metrics: Arc<Metrics>,
        timing: Timing,
        settings: AccessSettings,
    ) -> Self {
        Context {
            observer: Observer::new(clouds.clone()),
            client,
            clouds,
            recorder,
            metrics,
            timing,
            settings,
            failures: Mutex::default(),
        }
    }

    /// The next retry delay for an object that failed again: exponential with ±20 % jitter so
    /// objects that failed together do not retry together.
    pub fn backoff(&self, key: &str) -> Duration {
        let n = {
            let mut f = self.failures.lock().expect("backoff lock");
            let n = f.entry(key.to_owned()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        };
        let exp = self
            .timing
            .base_backoff
            .saturating_mul(1u32 << (n - 1).min(16));
        jitter(exp.min(self.timing.max_backoff), 0.2)
    }

    pub fn succeeded(&self, key: &str) {
        self.failures.lock().expect("backoff lock").remove(key);
    }

    /// The steady-state re-check, spread so that objects do not resync in lockstep.
    pub fn resync(&self) -> Duration {
        jitter(self.timing.resync, 0.1)
    }
}

pub fn jitter(d: Duration, fraction: f64) -> Duration {
    let f = rand::rng().random_range((1.0 - fraction)..=(1.0 + fraction));
    d.mul_f64(f)
}
