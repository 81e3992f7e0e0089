//! One watch per kind, shared: each feeds a cache (a reflector store) that every controller
//! reads in its dereference step, and a stream of changes per controller that listens to the
//! kind. The controllers start once every cache holds its first complete list, so no reconcile
//! ever mistakes an empty cache for "nothing refers to this".

use std::fmt::Debug;
use std::sync::Arc;

use cache_operator_api::{AccessBinding, RedisCluster, ServerlessCache, UserGroup};
use futures::channel::mpsc;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use super::{MANAGED_BY, api_in};

pub type ClusterGuard = DeserializeGuard<RedisCluster>;
pub type GroupGuard = DeserializeGuard<UserGroup>;
pub type ServerlessGuard = DeserializeGuard<ServerlessCache>;
pub type BindingGuard = DeserializeGuard<AccessBinding>;

/// The caches every controller reads.
#[derive(Clone)]
pub struct Stores {
    pub clusters: Store<ClusterGuard>,
    pub serverless: Store<ServerlessGuard>,
    pub groups: Store<GroupGuard>,
    pub bindings: Store<BindingGuard>,
    /// The Secrets the operator wrote (labelled managed-by): bindings' Secrets and groups'
    /// password Secrets.
    pub secrets: Store<Secret>,
    /// The one namespace the caches hold (`--namespace`); `None` when they hold all.
    pub namespace: Option<String>,
}

/// The object of a guard, when it parsed.
pub fn parsed<K>(guard: &DeserializeGuard<K>) -> Option<&K> {
    guard.0.as_ref().ok()
}

impl Stores {
    pub fn cluster(&self, namespace: &str, name: &str) -> Option<Arc<ClusterGuard>> {
        self.clusters.get(&ObjectRef::new(name).within(namespace))
    }

    pub fn serverless_cache(&self, namespace: &str, name: &str) -> Option<Arc<ServerlessGuard>> {
        self.serverless.get(&ObjectRef::new(name).within(namespace))
    }

    pub fn group(&self, namespace: &str, name: &str) -> Option<Arc<GroupGuard>> {
        self.groups.get(&ObjectRef::new(name).within(namespace))
    }

    pub fn secret(&self, namespace: &str, name: &str) -> Option<Arc<Secret>> {
        self.secrets.get(&ObjectRef::new(name).within(namespace))
    }

    /// The ServerlessCaches in `namespace` (as `namespace/name`, sorted) whose `userGroupRef`
    /// names the UserGroup `group`.
    pub fn serverless_naming(&self, namespace: &str, group: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .serverless
            .state()
            .iter()
            .filter_map(|c| parsed(c))
            .filter(|c| {
                c.metadata.namespace.as_deref() == Some(namespace)
                    && c.spec
                        .user_group_ref
                        .as_ref()
                        .is_some_and(|r| r.name == group)
            })
            .map(|c| format!("{namespace}/{}", c.name_any()))
            .collect();
        out.sort();
        out
    }

    /// Parsed clusters in `namespace` that list the UserGroup `group` in `userGroupRefs`,
    /// sorted by name.
    pub fn clusters_listing(&self, namespace: &str, group: &str) -> Vec<Arc<ClusterGuard>> {
        let mut out: Vec<_> = self
            .clusters
            .state()
            .into_iter()
            .filter(|c| {
                parsed(c).is_some_and(|c| {
                    c.metadata.namespace.as_deref() == Some(namespace)
                        && c.spec.user_group_refs.iter().any(|r| r.name == group)
                })
            })
            .collect();
        out.sort_by_key(|c| c.name_any());
        out
    }
}

/// A changes stream for one controller.
pub type Feed<K> = mpsc::UnboundedReceiver<Arc<K>>;

/// One kind's watch, before it starts.
struct Reflected<K: Resource + Clone + 'static>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    store: Store<K>,
    writer: reflector::store::Writer<K>,
    api: kube::Api<K>,
    config: watcher::Config,
}

impl<K> Reflected<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    fn new(api: kube::Api<K>, config: watcher::Config) -> Self {
        // Room for a burst of changes; when full, the watch waits for the slowest listener.
        let (store, writer) = reflector::store_shared(1024);
        Reflected {
            store,
            writer,
            api,
            config,
        }
    }

    /// A stream of this kind's changes for one more listener. Changes are passed on at once
    /// into an unbounded queue, so a controller that has not started yet never holds the watch
    /// back (which would keep the caches from ever becoming ready).
    fn subscribe(&self) -> Feed<K> {
        let mut handle = self.writer.subscribe().expect("a shared store");
        let (tx, rx) = mpsc::unbounded();
        tokio::spawn(async move {
            while let Some(obj) = handle.next().await {
                if tx.unbounded_send(obj).is_err() {
                    break;
                }
            }
        });
        rx
    }

    /// Run the watch until `stop`, dropping on the way in `managedFields` and the
    /// last-applied annotation: they are often the largest part of an object and no controller
    /// reads them.
    fn start(self, stop: CancellationToken) {
        let root = watcher(self.api, self.config)
            .default_backoff()
            .modify(|o: &mut K| {
                let meta = o.meta_mut();
                meta.managed_fields = None;
                if let Some(a) = meta.annotations.as_mut() {
                    a.remove(LAST_APPLIED);
                }
            })
            .reflect_shared(self.writer)
            .take_until(stop.cancelled_owned())
            .for_each(|event| {
                if let Err(e) = event {
                    tracing::warn!(kind = %K::kind(&()), error = %e, "watch failed; retrying");
                }
                futures::future::ready(())
            });
        tokio::spawn(root);
    }
}

/// `kubectl apply` (client-side) keeps a full copy of the object as it was applied in this
/// annotation; no controller reads it, and it would double the size of every cached object.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The watches and their listeners' streams.
pub struct Shared {
    clusters: Reflected<ClusterGuard>,
    serverless: Reflected<ServerlessGuard>,
    groups: Reflected<GroupGuard>,
    bindings: Reflected<BindingGuard>,
    secrets: Reflected<Secret>,
    namespace: Option<String>,
}

/// Each controller's streams, taken before the watches start so none misses an event.
pub struct Feeds {
    pub cluster: ClusterFeeds,
    pub serverless: ServerlessFeeds,
    pub user_group: GroupFeeds,
    pub binding: BindingFeeds,
}

pub struct ClusterFeeds {
    pub clusters: Feed<ClusterGuard>,
    pub groups: Feed<GroupGuard>,
    /// The clusters again, for the members of a cross-region set to see each other change.
    pub sets: Feed<ClusterGuard>,
}

pub struct ServerlessFeeds {
    pub caches: Feed<ServerlessGuard>,
    pub groups: Feed<GroupGuard>,
}

pub struct GroupFeeds {
    pub groups: Feed<GroupGuard>,
    pub clusters: Feed<ClusterGuard>,
    pub serverless: Feed<ServerlessGuard>,
    pub bindings: Feed<BindingGuard>,
    pub secrets: Feed<Secret>,
}

pub struct BindingFeeds {
    pub bindings: Feed<BindingGuard>,
    pub clusters: Feed<ClusterGuard>,
    pub serverless: Feed<ServerlessGuard>,
    pub groups: Feed<GroupGuard>,
    pub secrets: Feed<Secret>,
}

impl Shared {
    pub fn new(client: &kube::Client, namespace: &Option<String>) -> Self {
        let config = || watcher::Config::default().any_semantic();
        Shared {
            clusters: Reflected::new(api_in(client, namespace), config()),
            serverless: Reflected::new(api_in(client, namespace), config()),
            groups: Reflected::new(api_in(client, namespace), config()),
            bindings: Reflected::new(api_in(client, namespace), config()),
            secrets: Reflected::new(
                api_in(client, namespace),
                config().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1)),
            ),
            namespace: namespace.clone(),
        }
    }

    pub fn stores(&self) -> Stores {
        Stores {
            clusters: self.clusters.store.clone(),
            serverless: self.serverless.store.clone(),
            groups: self.groups.store.clone(),
            bindings: self.bindings.store.clone(),
            secrets: self.secrets.store.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// Subscribe every controller, start the watches, and wait until every cache is complete
    /// (or `stop`). `None` when stopped first.
    pub async fn start(self, stop: CancellationToken) -> Option<(Stores, Feeds)> {
        let stores = self.stores();
        let feeds = Feeds {
            cluster: ClusterFeeds {
                clusters: self.clusters.subscribe(),
                groups: self.groups.subscribe(),
                sets: self.clusters.subscribe(),
            },
            serverless: ServerlessFeeds {
                caches: self.serverless.subscribe(),
                groups: self.groups.subscribe(),
            },
            user_group: GroupFeeds {
                groups: self.groups.subscribe(),
                clusters: self.clusters.subscribe(),
                serverless: self.serverless.subscribe(),
                bindings: self.bindings.subscribe(),
                secrets: self.secrets.subscribe(),
            },
            binding: BindingFeeds {
                bindings: self.bindings.subscribe(),
                clusters: self.clusters.subscribe(),
                serverless: self.serverless.subscribe(),
                groups: self.groups.subscribe(),
                secrets: self.secrets.subscribe(),
            },
        };
        self.clusters.start(stop.clone());
        self.serverless.start(stop.clone());
        self.groups.start(stop.clone());
        self.bindings.start(stop.clone());
        self.secrets.start(stop.clone());
        let ready = async {
            let _ = stores.clusters.wait_until_ready().await;
            let _ = stores.serverless.wait_until_ready().await;
            let _ = stores.groups.wait_until_ready().await;
            let _ = stores.bindings.wait_until_ready().await;
            let _ = stores.secrets.wait_until_ready().await;
        };
        tokio::select! {
            () = ready.fuse() => {
                tracing::info!("caches of RedisClusters, ServerlessCaches, UserGroups, AccessBindings and Secrets are complete");
                Some((stores, feeds))
            }
            () = stop.cancelled() => None,
        }
    }
}

/// Stores filled by hand, for tests.
#[cfg(test)]
pub mod fill {
    use super::*;
    use kube::runtime::watcher::Event;

    fn store_of<K>(objects: Vec<K>) -> Store<K>
    where
        K: Resource<DynamicType = ()> + Clone + 'static,
    {
        let (store, mut writer) = reflector::store();
        writer.apply_watcher_event(&Event::Init);
        for o in objects {
            writer.apply_watcher_event(&Event::InitApply(o));
        }
        writer.apply_watcher_event(&Event::InitDone);
        store
    }

    #[derive(Default)]
    pub struct Fill {
        clusters: Vec<ClusterGuard>,
        serverless: Vec<ServerlessGuard>,
        groups: Vec<GroupGuard>,
        bindings: Vec<BindingGuard>,
        secrets: Option<Store<Secret>>,
        secret_objects: Vec<Secret>,
        namespace: Option<String>,
    }

    impl Fill {
        pub fn cluster(mut self, c: RedisCluster) -> Self {
            self.clusters.push(DeserializeGuard(Ok(c)));
            self
        }
        pub fn serverless(mut self, c: ServerlessCache) -> Self {
            self.serverless.push(DeserializeGuard(Ok(c)));
            self
        }
        pub fn group(mut self, g: UserGroup) -> Self {
            self.groups.push(DeserializeGuard(Ok(g)));
            self
        }
        pub fn binding(mut self, b: AccessBinding) -> Self {
            self.bindings.push(DeserializeGuard(Ok(b)));
            self
        }
        pub fn secret(mut self, s: Secret) -> Self {
            self.secret_objects.push(s);
            self
        }
        pub fn secrets(mut self, store: Store<Secret>) -> Self {
            self.secrets = Some(store);
            self
        }
        /// Caches of one namespace, as with `--namespace`.
        pub fn watching(mut self, namespace: &str) -> Self {
            self.namespace = Some(namespace.to_owned());
            self
        }
        pub fn build(self) -> Stores {
            Stores {
                clusters: store_of(self.clusters),
                serverless: store_of(self.serverless),
                groups: store_of(self.groups),
                bindings: store_of(self.bindings),
                secrets: self
                    .secrets
                    .unwrap_or_else(|| store_of(self.secret_objects)),
                namespace: self.namespace,
            }
        }
    }
}
