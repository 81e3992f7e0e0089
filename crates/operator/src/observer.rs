//! Batched observation: one List/Describe per (provider, project or account, region) serves
//! every object in that scope, so steady-state cloud reads grow with scopes, not objects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache_operator_api::model::DesiredCluster;
use cache_operator_cloud::aws::serverless::ObservedServerless;
use cache_operator_cloud::provider::ObservedCluster;
use cache_operator_cloud::{CloudError, Scope};

use crate::clouds::Clouds;

struct Snapshot {
    at: Instant,
    clusters: HashMap<String, ObservedCluster>,
}

type Slot = Arc<tokio::sync::Mutex<Option<Snapshot>>>;

pub struct Observer {
    clouds: Clouds,
    scopes: Mutex<HashMap<Scope, Slot>>,
}

impl Observer {
    pub fn new(clouds: Clouds) -> Self {
        Observer {
            clouds,
            scopes: Mutex::default(),
        }
    }

    fn slot(&self, scope: &Scope) -> Slot {
        self.scopes
            .lock()
            .expect("scope map lock")
            .entry(scope.clone())
            .or_default()
            .clone()
    }

    /// The cluster as seen by a list of its scope no older than `max_age`; concurrent callers
    /// share one list call.
    pub async fn cached(
        &self,
        desired: &DesiredCluster,
        max_age: Duration,
    ) -> Result<Option<ObservedCluster>, CloudError> {
        let scope = Scope::of(desired);
        let slot = self.slot(&scope);
        let mut snapshot = slot.lock().await;
        if snapshot.as_ref().is_none_or(|s| s.at.elapsed() > max_age) {
            let listed = self.clouds.cluster(desired).list().await?;
            *snapshot = Some(Snapshot {
                at: Instant::now(),
                clusters: listed
                    .into_iter()
                    .map(|c| (c.id.to_ascii_lowercase(), c))
                    .collect(),
            });
        }
        Ok(snapshot
            .as_ref()
            .and_then(|s| s.clusters.get(&desired.id().to_ascii_lowercase()).cloned()))
    }

    /// The cluster as the cloud reports it now (one Get), also refreshing the shared snapshot.
    pub async fn fresh(
        &self,
        desired: &DesiredCluster,
    ) -> Result<Option<ObservedCluster>, CloudError> {
        let observed = self.clouds.cluster(desired).get().await?;
        let slot = self.slot(&Scope::of(desired));
        if let Some(s) = slot.lock().await.as_mut() {
            let id = desired.id().to_ascii_lowercase();
            match &observed {
                Some(o) => s.clusters.insert(id, o.clone()),
                None => s.clusters.remove(&id),
            };
        }
        Ok(observed)
    }
}

/// The same for ElastiCache Serverless: one paged DescribeServerlessCaches per region serves
/// every ServerlessCache of that region.
pub struct ServerlessObserver {
    clouds: Clouds,
    regions: Mutex<HashMap<String, ServerlessSlot>>,
}

struct ServerlessSnapshot {
    at: Instant,
    caches: HashMap<String, ObservedServerless>,
}

type ServerlessSlot = Arc<tokio::sync::Mutex<Option<ServerlessSnapshot>>>;

impl ServerlessObserver {
    pub fn new(clouds: Clouds) -> Self {
        ServerlessObserver {
            clouds,
            regions: Mutex::default(),
        }
    }

    fn slot(&self, region: &str) -> ServerlessSlot {
        self.regions
            .lock()
            .expect("region map lock")
            .entry(region.to_owned())
            .or_default()
            .clone()
    }

    /// The cache `name` as a list of its region no older than `max_age` reports it.
    pub async fn cached(
        &self,
        region: &str,
        name: &str,
        max_age: Duration,
    ) -> Result<Option<ObservedServerless>, CloudError> {
        let slot = self.slot(region);
        let mut snapshot = slot.lock().await;
        if snapshot.as_ref().is_none_or(|s| s.at.elapsed() > max_age) {
            let listed = self.clouds.aws.serverless.list(region).await?;
            *snapshot = Some(ServerlessSnapshot {
                at: Instant::now(),
                caches: listed
                    .into_iter()
                    .map(|c| (c.name.to_ascii_lowercase(), c))
                    .collect(),
            });
        }
        Ok(snapshot.as_ref().and_then(|s| s.caches.get(name).cloned()))
    }

    /// The cache as the cloud reports it now (one Describe of it), refreshing the snapshot.
    pub async fn fresh(
        &self,
        region: &str,
        name: &str,
    ) -> Result<Option<ObservedServerless>, CloudError> {
        let observed = self.clouds.aws.serverless.get(region, name).await?;
        if let Some(s) = self.slot(region).lock().await.as_mut() {
            match &observed {
                Some(o) => s.caches.insert(name.to_owned(), o.clone()),
                None => s.caches.remove(name),
            };
        }
        Ok(observed)
    }
}
