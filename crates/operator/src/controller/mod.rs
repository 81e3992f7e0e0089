//! The controllers, one module per kind, and what they share: finalizers, status writes,
//! events and error handling.

pub mod binding;
pub mod cluster;
pub mod user_group;

use std::fmt::Debug;

use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::context::Context;

/// Keeps objects until the operator has cleaned up after them in the cloud.
pub const FINALIZER: &str = "cache-operator.io/cleanup";
/// The field manager of every write the operator makes.
pub const MANAGER: &str = "cache-operator";

/// `K` in one namespace, or in all when the operator watches every namespace.
pub fn api_in<K>(client: &kube::Client, namespace: &Option<String>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Debug,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// A cache of `K` and the stream of changes that feeds it, with `managedFields` dropped on the
/// way in: they are often the largest part of an object and no controller reads them.
pub fn lean_reflector<K>(
    api: Api<K>,
    config: kube::runtime::watcher::Config,
) -> (
    kube::runtime::reflector::Store<K>,
    impl futures::Stream<Item = Result<K, kube::runtime::watcher::Error>> + Send + 'static,
)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    use kube::runtime::WatchStreamExt;
    let (store, writer) = kube::runtime::reflector::store();
    let stream = kube::runtime::watcher(api, config)
        .default_backoff()
        .modify(|o: &mut K| {
            o.meta_mut().managed_fields = None;
        })
        .reflect(writer)
        .touched_objects();
    (store, stream)
}

/// Wait until a cache has seen its first complete list. `Store::wait_until_ready` keeps only the
/// waker of its latest poller, so reconciles waiting at the same time can miss the wake-up and
/// wait forever; looking again every so often cannot.
pub async fn store_ready<K>(store: &kube::runtime::reflector::Store<K>)
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    while tokio::time::timeout(
        std::time::Duration::from_millis(200),
        store.wait_until_ready(),
    )
    .await
    .is_err()
    {}
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Cloud(#[from] cache_operator_cloud::CloudError),
}

impl Error {
    /// A short label for metrics.
    pub fn reason(&self) -> String {
        match self {
            Error::Kube(kube::Error::Api(s)) => format!("kube_{}", s.code),
            Error::Kube(_) => "kube".into(),
            Error::Cloud(e) => e.code.clone(),
        }
    }
}

pub fn has_finalizer<K: Resource>(obj: &K) -> bool {
    obj.meta()
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|x| x == FINALIZER))
}

/// Add our finalizer; the `test` on the current list makes a concurrent change of finalizers
/// fail instead of being overwritten, while unrelated changes (a status write) do not matter.
pub async fn add_finalizer<K>(api: &Api<K>, obj: &K) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let patch = match &obj.meta().finalizers {
        Some(list) => json!([
            {"op": "test", "path": "/metadata/finalizers", "value": list},
            {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER},
        ]),
        None => json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
        ]),
    };
    let patch: json_patch::Patch = serde_json::from_value(patch).expect("a well-formed JSON patch");
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::<()>::Json(patch),
    )
    .await?;
    Ok(())
}

/// Remove our finalizer, letting the API server delete the object.
pub async fn remove_finalizer<K>(api: &Api<K>, obj: &K) -> kube::Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let Some(index) = obj
        .meta()
        .finalizers
        .as_ref()
        .and_then(|f| f.iter().position(|x| x == FINALIZER))
    else {
        return Ok(());
    };
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": format!("/metadata/finalizers/{index}"), "value": FINALIZER},
        {"op": "remove", "path": format!("/metadata/finalizers/{index}")},
    ]))
    .expect("a well-formed JSON patch");
    match api
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::<()>::Json(patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        // Already gone: nothing left to release.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Write `status` with server-side apply under our field manager; skipped when nothing changed,
/// so steady objects cause no writes and no watch events.
pub async fn write_status<K, S>(
    api: &Api<K>,
    obj: &K,
    old: Option<&S>,
    status: &S,
) -> kube::Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize + PartialEq,
{
    if old == Some(status) {
        return Ok(());
    }
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await?;
    Ok(())
}

/// Publish an event; failures to publish are logged, never fatal.
pub async fn event<K: Resource<DynamicType = ()>>(
    ctx: &Context,
    obj: &K,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let ev = Event {
        type_,
        reason: reason.into(),
        note: Some(truncate(note, 1000)),
        action: action.into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &obj.object_ref(&())).await {
        tracing::warn!(error = %e, reason, "could not publish an event");
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}
