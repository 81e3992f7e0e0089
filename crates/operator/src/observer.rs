//! Batched observation: one List/Describe per (provider, project or account, region) serves
//! every object in that scope — settled ones and ones the cloud is still creating, changing or
//! deleting — so cloud reads grow with scopes, not objects. A caller says how old a look may be
//! (the resync for a settled object, the poll interval for one in flight); concurrent callers of a
//! scope share one List.
//!
//! Our own writes make a look stale: a cluster written after the List that saw it is read once
//! more on its own (one Get), since its next pass must judge the write's outcome, not what the
//! cloud said before it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache_operator_api::model::DesiredCluster;
use cache_operator_cloud::aws::serverless::ObservedServerless;
use cache_operator_cloud::provider::ObservedCluster;
use cache_operator_cloud::{CloudError, Scope};

use crate::clouds::Clouds;

/// A cluster and when the read that returned it was sent.
struct Entry {
    at: Instant,
    cluster: ObservedCluster,
}

struct Snapshot {
    /// When the List was sent: what it does not hold did not exist then.
    at: Instant,
    clusters: HashMap<String, Entry>,
}

impl Snapshot {
    /// Take in a List sent at `at`, in place: the map keeps its allocation rather than a
    /// second whole snapshot being built beside it (at 10,000 clusters a scope's snapshot is
    /// the largest thing the operator holds). An entry read on its own after `at` is newer
    /// than the List and stays.
    fn update(&mut self, at: Instant, listed: Vec<ObservedCluster>) {
        self.at = at;
        let listed: Vec<(String, ObservedCluster)> = listed
            .into_iter()
            .map(|c| (c.id.to_ascii_lowercase(), c))
            .collect();
        let ids: HashSet<&str> = listed.iter().map(|(id, _)| id.as_str()).collect();
        self.clusters
            .retain(|id, e| e.at > at || ids.contains(id.as_str()));
        drop(ids);
        for (id, cluster) in listed {
            match self.clusters.get_mut(&id) {
                Some(e) if e.at > at => {}
                Some(e) => *e = Entry { at, cluster },
                None => {
                    self.clusters.insert(id, Entry { at, cluster });
                }
            }
        }
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<Snapshot>>>;

/// A cluster of a scope, by its lower-cased ID.
type Key = (Scope, String);

pub struct Observer {
    clouds: Clouds,
    scopes: Mutex<HashMap<Scope, Slot>>,
    /// When this process's last write to a cluster was answered, until a read sent later has
    /// seen the cluster.
    written: Mutex<HashMap<Key, Instant>>,
}

impl Observer {
    pub fn new(clouds: Clouds) -> Self {
        Observer {
            clouds,
            scopes: Mutex::default(),
            written: Mutex::default(),
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

    fn key(desired: &DesiredCluster) -> Key {
        (Scope::of(desired), desired.id().to_ascii_lowercase())
    }

    /// The cloud answered a write to `desired`'s cluster: looks sent before now cannot tell
    /// what became of it.
    pub fn wrote(&self, desired: &DesiredCluster) {
        self.written
            .lock()
            .expect("written lock")
            .insert(Self::key(desired), Instant::now());
    }

    /// The last write to `key` that no read sent at `seen` or later has seen.
    fn unseen_write(&self, key: &Key, seen: Instant) -> Option<Instant> {
        let mut written = self.written.lock().expect("written lock");
        match written.get(key) {
            Some(&w) if w >= seen => Some(w),
            Some(_) => {
                written.remove(key);
                None
            }
            None => None,
        }
    }

    /// The cluster as seen by a List of its scope sent no longer than `max_age` ago, or after
    /// this call began (concurrent callers share one List: those that waited for it do not list
    /// again, however long a paged List of a large scope took), or by one Get when the operator
    /// wrote the cluster after that List.
    pub async fn cached(
        &self,
        desired: &DesiredCluster,
        max_age: Duration,
    ) -> Result<Option<ObservedCluster>, CloudError> {
        let asked = Instant::now();
        let key = Self::key(desired);
        let slot = self.slot(&key.0);
        {
            let mut snapshot = slot.lock().await;
            if snapshot
                .as_ref()
                .is_none_or(|s| s.at < asked && s.at.elapsed() > max_age)
            {
                let at = Instant::now();
                let listed = self.clouds.cluster(desired).list().await?;
                let s = snapshot.get_or_insert_with(|| Snapshot {
                    at,
                    clusters: HashMap::new(),
                });
                s.update(at, listed);
            }
            let s = snapshot.as_ref().expect("listed above");
            let entry = s.clusters.get(&key.1);
            let seen = entry.map_or(s.at, |e| e.at);
            if self.unseen_write(&key, seen).is_none() {
                return Ok(entry.map(|e| e.cluster.clone()));
            }
        }
        // Not holding the scope while reading one cluster: other objects' looks go on.
        self.fresh(desired).await
    }

    /// Drops every scope's List, as if they had all grown older than any look allows.
    #[cfg(test)]
    pub(crate) fn expire(&self) {
        self.scopes.lock().expect("scope map lock").clear();
    }

    /// The cluster as the cloud reports it now (one Get), also refreshing the shared snapshot.
    pub async fn fresh(
        &self,
        desired: &DesiredCluster,
    ) -> Result<Option<ObservedCluster>, CloudError> {
        let at = Instant::now();
        let observed = self.clouds.cluster(desired).get().await?;
        let key = Self::key(desired);
        self.unseen_write(&key, at);
        let slot = self.slot(&key.0);
        if let Some(s) = slot.lock().await.as_mut() {
            match &observed {
                Some(o) => match s.clusters.get_mut(&key.1) {
                    Some(e) if e.at > at => {}
                    Some(e) => {
                        *e = Entry {
                            at,
                            cluster: o.clone(),
                        }
                    }
                    None => {
                        s.clusters.insert(
                            key.1,
                            Entry {
                                at,
                                cluster: o.clone(),
                            },
                        );
                    }
                },
                None => {
                    if s.clusters.get(&key.1).is_some_and(|e| e.at <= at) {
                        s.clusters.remove(&key.1);
                    }
                }
            }
        }
        Ok(observed)
    }
}

/// The same for ElastiCache Serverless: one paged DescribeServerlessCaches per region serves
/// every ServerlessCache of that region, settled or in flight, with the same rules as
/// [`Observer`]: concurrent looks share one List, and a cache this process wrote after the List
/// that saw it is read once more on its own.
pub struct ServerlessObserver {
    clouds: Clouds,
    regions: Mutex<HashMap<String, ServerlessSlot>>,
    /// When this process's last write to a cache (region, lower-cased name) was answered.
    written: Mutex<HashMap<(String, String), Instant>>,
}

struct ServerlessSnapshot {
    at: Instant,
    caches: HashMap<String, (Instant, ObservedServerless)>,
}

type ServerlessSlot = Arc<tokio::sync::Mutex<Option<ServerlessSnapshot>>>;

impl ServerlessObserver {
    pub fn new(clouds: Clouds) -> Self {
        ServerlessObserver {
            clouds,
            regions: Mutex::default(),
            written: Mutex::default(),
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

    fn key(region: &str, name: &str) -> (String, String) {
        (region.to_owned(), name.to_ascii_lowercase())
    }

    /// The cloud answered a write to the cache: looks sent before now cannot tell what became
    /// of it.
    pub fn wrote(&self, region: &str, name: &str) {
        self.written
            .lock()
            .expect("written lock")
            .insert(Self::key(region, name), Instant::now());
    }

    /// Whether a write to `key` is newer than a read sent at `seen` (forgotten once one is not).
    fn unseen_write(&self, key: &(String, String), seen: Instant) -> bool {
        let mut written = self.written.lock().expect("written lock");
        match written.get(key) {
            Some(&w) if w >= seen => true,
            Some(_) => {
                written.remove(key);
                false
            }
            None => false,
        }
    }

    /// Drops every region's List, as if they had all grown older than any look allows.
    #[cfg(test)]
    pub(crate) fn expire(&self) {
        self.regions.lock().expect("region map lock").clear();
    }

    /// The cache `name` as a List of its region sent no longer than `max_age` ago (or after
    /// this call began) reports it, or by one Describe when the operator wrote it after that List.
    pub async fn cached(
        &self,
        region: &str,
        name: &str,
        max_age: Duration,
    ) -> Result<Option<ObservedServerless>, CloudError> {
        let asked = Instant::now();
        let key = Self::key(region, name);
        let slot = self.slot(region);
        {
            let mut snapshot = slot.lock().await;
            if snapshot
                .as_ref()
                .is_none_or(|s| s.at < asked && s.at.elapsed() > max_age)
            {
                let at = Instant::now();
                let listed = self.clouds.aws.serverless.list(region).await?;
                *snapshot = Some(ServerlessSnapshot {
                    at,
                    caches: listed
                        .into_iter()
                        .map(|c| (c.name.to_ascii_lowercase(), (at, c)))
                        .collect(),
                });
            }
            let s = snapshot.as_ref().expect("listed above");
            let entry = s.caches.get(&key.1);
            let seen = entry.map_or(s.at, |(at, _)| *at);
            if !self.unseen_write(&key, seen) {
                return Ok(entry.map(|(_, c)| c.clone()));
            }
        }
        self.fresh(region, name).await
    }

    /// The cache as the cloud reports it now (one Describe of it), refreshing the snapshot.
    pub async fn fresh(
        &self,
        region: &str,
        name: &str,
    ) -> Result<Option<ObservedServerless>, CloudError> {
        let at = Instant::now();
        let observed = self.clouds.aws.serverless.get(region, name).await?;
        let key = Self::key(region, name);
        self.unseen_write(&key, at);
        if let Some(s) = self.slot(region).lock().await.as_mut() {
            let newer = s.caches.get(&key.1).is_some_and(|(seen, _)| *seen > at);
            if !newer {
                match &observed {
                    Some(o) => s.caches.insert(key.1, (at, o.clone())),
                    None => s.caches.remove(&key.1),
                };
            }
        }
        Ok(observed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cache_operator_api::RedisCluster;
    use cache_operator_cloud::provider::ClusterState;
    use cache_operator_testkit::cluster;

    use crate::controller::cluster::fixtures::observed;
    use crate::controller::fixtures::Fakes;

    fn gcp(name: &str, region: &str) -> DesiredCluster {
        cluster::gcp(name)
            .region(region)
            .parse::<RedisCluster>()
            .desired()
            .unwrap()
    }

    const POLL: Duration = Duration::from_millis(200);

    /// A poll tick of N objects in flight in two scopes: two Lists, whatever N.
    #[tokio::test]
    async fn objects_in_flight_share_one_list_per_scope_and_poll() {
        let fakes = Fakes::default();
        fakes
            .clusters
            .report(Some(observed(ClusterState::Creating)));
        let observer = Observer::new(fakes.clouds());
        let objects: Vec<DesiredCluster> = (0..50)
            .map(|i| gcp(&format!("c{i}"), ["us-central1", "europe-west1"][i % 2]))
            .collect();
        for _tick in 0..3 {
            let looks = objects.iter().map(|d| observer.cached(d, POLL));
            for seen in futures::future::join_all(looks).await {
                seen.unwrap();
            }
            assert_eq!(fakes.clusters.asked(), ["list", "list"], "one per scope");
            // Within the poll interval the same Lists serve every object again.
            for d in &objects {
                observer.cached(d, POLL).await.unwrap();
            }
            assert!(fakes.clusters.asked().is_empty());
            tokio::time::sleep(POLL + Duration::from_millis(20)).await;
        }
    }

    /// Serverless caches in flight in two regions: one DescribeServerlessCaches per region and
    /// poll interval, whatever their number.
    #[tokio::test]
    async fn serverless_caches_in_flight_share_one_list_per_region_and_poll() {
        let fakes = Fakes::default();
        let observer = ServerlessObserver::new(fakes.clouds());
        let caches: Vec<(String, &str)> = (0..40)
            .map(|i| (format!("c{i}"), ["us-east-1", "eu-west-1"][i % 2]))
            .collect();
        for _tick in 0..2 {
            let looks = caches.iter().map(|(n, r)| observer.cached(r, n, POLL));
            for seen in futures::future::join_all(looks).await {
                seen.unwrap();
            }
            let mut asked = fakes.serverless.asked();
            asked.sort();
            assert_eq!(asked, ["list eu-west-1", "list us-east-1"]);
            tokio::time::sleep(POLL + Duration::from_millis(20)).await;
        }
        // Our own write to one cache after its List: that cache alone is read on its own, once.
        observer.cached("us-east-1", "c2", POLL).await.unwrap();
        observer.wrote("us-east-1", "c0");
        observer.cached("us-east-1", "c0", POLL).await.unwrap();
        observer.cached("us-east-1", "c2", POLL).await.unwrap();
        observer.cached("us-east-1", "c0", POLL).await.unwrap();
        assert_eq!(fakes.serverless.asked(), ["list us-east-1", "get c0"]);
    }

    /// Looks that waited for a List longer than the allowed age take its answer, not another.
    #[tokio::test]
    async fn looks_that_waited_for_a_slow_list_do_not_list_again() {
        let fakes = Fakes::default();
        let observer = Observer::new(fakes.clouds());
        let objects: Vec<DesiredCluster> = (0..20)
            .map(|i| gcp(&format!("c{i}"), "us-central1"))
            .collect();
        let max_age = Duration::from_millis(10);
        let slot = observer.slot(&Scope::of(&objects[0]));
        // A List is under way (holding the scope) when every look begins, and completes
        // later than the allowed age.
        let mut listing = slot.lock().await;
        let looks = futures::future::join_all(objects.iter().map(|d| observer.cached(d, max_age)));
        let list = async {
            tokio::task::yield_now().await;
            *listing = Some(Snapshot {
                at: Instant::now(),
                clusters: HashMap::new(),
            });
            tokio::time::sleep(max_age * 3).await;
            drop(listing);
        };
        let (seen, ()) = tokio::join!(looks, list);
        assert!(seen.iter().all(|s| matches!(s, Ok(None))));
        assert!(
            fakes.clusters.asked().is_empty(),
            "the List they waited for answers"
        );
    }

    /// A cluster written after its scope's List is read once on its own; the others are not.
    #[tokio::test]
    async fn a_written_cluster_is_read_once_until_the_next_list() {
        let fakes = Fakes::default();
        let observer = Observer::new(fakes.clouds());
        let (orders, carts) = (gcp("orders", "us-central1"), gcp("carts", "us-central1"));
        assert_eq!(observer.cached(&orders, POLL).await.unwrap(), None);
        assert_eq!(fakes.clusters.asked(), ["list"]);

        // Created: the cloud now reports it, the List before did not.
        observer.wrote(&orders);
        fakes
            .clusters
            .report(Some(observed(ClusterState::Creating)));
        let seen = observer.cached(&orders, POLL).await.unwrap();
        assert_eq!(seen.map(|c| c.state), Some(ClusterState::Creating));
        assert_eq!(fakes.clusters.asked(), ["get"]);
        // The Get answered for it; the List still answers for the others.
        observer.cached(&orders, POLL).await.unwrap();
        observer.cached(&carts, POLL).await.unwrap();
        assert!(fakes.clusters.asked().is_empty());

        // A write followed by a List sent after it needs no Get.
        observer.wrote(&orders);
        tokio::time::sleep(POLL + Duration::from_millis(20)).await;
        fakes
            .clusters
            .report(Some(observed(ClusterState::Available)));
        let seen = observer.cached(&orders, POLL).await.unwrap();
        assert_eq!(seen.map(|c| c.state), Some(ClusterState::Available));
        assert_eq!(fakes.clusters.asked(), ["list"]);
    }

    /// A List taken in place: a cluster gone from it goes, a listed one is replaced, and one
    /// read on its own after the List was sent keeps that newer read.
    #[test]
    fn a_list_updates_the_snapshot_in_place_keeping_newer_reads() {
        let with = |id: &str, state| ObservedCluster {
            id: id.into(),
            ..observed(state)
        };
        let t0 = Instant::now();
        let (list_sent, read_later) = (t0 + Duration::from_secs(1), t0 + Duration::from_secs(2));
        let mut s = Snapshot {
            at: t0,
            clusters: HashMap::new(),
        };
        s.update(
            t0,
            vec![
                with("Gone", ClusterState::Available),
                with("kept", ClusterState::Creating),
                with("fresh", ClusterState::Creating),
            ],
        );
        s.clusters.get_mut("fresh").unwrap().at = read_later;
        s.update(
            list_sent,
            vec![
                with("kept", ClusterState::Available),
                with("fresh", ClusterState::Creating),
                with("new", ClusterState::Creating),
            ],
        );
        let state = |id: &str| s.clusters.get(id).map(|e| (e.cluster.state, e.at));
        assert_eq!(state("gone"), None);
        assert_eq!(state("kept"), Some((ClusterState::Available, list_sent)));
        assert_eq!(state("fresh"), Some((ClusterState::Creating, read_later)));
        assert_eq!(state("new"), Some((ClusterState::Creating, list_sent)));
        assert_eq!(s.at, list_sent);
    }
}
