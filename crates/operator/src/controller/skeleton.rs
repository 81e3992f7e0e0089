//! What every controller's `reconcile` and `error_policy` are: an object that does not parse
//! gets a status saying so; otherwise kube's `finalizer()` helper hands the object to the kind's
//! `apply` or `cleanup`. Cleanup says whether it is done; the helper (never the kind) removes the
//! finalizer once it is. A kind that holds nothing outside Kubernetes (an AccessBinding: its
//! Secret goes with it through the owner reference) gets no finalizer at all.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use cache_operator_api::condition::{Summary, reason};
use futures::StreamExt;
use jiff::Timestamp;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::core::error_boundary::InvalidObject;
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::finalizer::{self, Event};
use kube::runtime::reflector::Store;
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{At, Error, Step};
use super::shared::Feed;
use super::{Ctx, FINALIZER, MANAGER};

/// How a cleanup pass ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cleanup {
    /// Nothing of the object is left outside Kubernetes: the finalizer may go.
    Done,
    /// Still under way: keep the finalizer, look again as the action says.
    Pending(Action),
}

/// A kind with a controller: its `apply` and `cleanup` steps, and where it really differs.
pub trait Reconcile:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// Bring the world to the spec (the object carries our finalizer, where the kind has one).
    fn apply(obj: Arc<Self>, ctx: Arc<Ctx>) -> impl Future<Output = Result<Action, Error>> + Send;

    /// Undo what `apply` made, as far as the spec's deletion policy says.
    fn cleanup(
        obj: Arc<Self>,
        ctx: Arc<Ctx>,
    ) -> impl Future<Output = Result<Cleanup, Error>> + Send;

    /// Status fields besides the conditions for an object that does not parse.
    fn unreadable_status() -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::new()
    }

    /// The longest a retry after a failure may wait (a binding's token must not expire first).
    fn retry_within(&self) -> Option<Duration> {
        None
    }

    /// Whether objects carry the operator's finalizer, so that `cleanup` runs before they go.
    /// A kind whose objects own nothing outside Kubernetes says no: one write less per object,
    /// and a namespace still deletes while the operator is not running. Such a kind's `cleanup`
    /// still runs for an object that carries the finalizer from an earlier version.
    const FINALIZED: bool = true;
}

/// A controller of `K` on its shared feed and cache, reconciling `concurrency` objects at once.
pub fn controller<K: Reconcile>(
    feed: Feed<DeserializeGuard<K>>,
    store: Store<DeserializeGuard<K>>,
    concurrency: u16,
) -> Controller<DeserializeGuard<K>> {
    Controller::for_shared_stream(feed, store)
        .with_config(controller::Config::default().concurrency(concurrency))
}

/// Run `controller` with the skeleton's reconcile and error policy until `stop`.
pub async fn drive<K: Reconcile>(
    controller: Controller<DeserializeGuard<K>>,
    ctx: Arc<Ctx>,
    stop: tokio_util::sync::CancellationToken,
) {
    controller
        .graceful_shutdown_on(stop.cancelled_owned())
        .run(reconcile::<K>, error_policy::<K>, ctx)
        .for_each(|_| async {})
        .await;
}

/// `kind/namespace/name`: the key of per-object backoff.
pub fn key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!(
        "{}/{}/{}",
        K::kind(&()),
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta().name.as_deref().unwrap_or_default()
    )
}

/// An API for `K` in the object's own namespace.
pub fn api_for<K: Reconcile>(ctx: &Ctx, obj: &K) -> Api<K> {
    Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default())
}

pub async fn reconcile<K: Reconcile>(
    guard: Arc<DeserializeGuard<K>>,
    ctx: Arc<Ctx>,
) -> Result<Action, Error> {
    let kind = K::kind(&());
    let _timer = ctx.metrics.reconcile(&kind);
    let obj = match &guard.0 {
        Ok(obj) => Arc::new(obj.clone()),
        Err(invalid) => return unreadable::<K>(invalid, &ctx).await,
    };
    let key = key(&*obj);
    if !K::FINALIZED && !obj.finalizers().iter().any(|f| f == FINALIZER) {
        if obj.meta().deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
        let action = K::apply(obj, ctx.clone()).await?;
        ctx.succeeded(&key);
        return Ok(action);
    }
    let api = api_for(&ctx, &*obj);
    let outcome = finalizer::finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Event::Apply(obj) => K::apply(obj, ctx.clone()).await,
            Event::Cleanup(obj) => match K::cleanup(obj, ctx.clone()).await? {
                Cleanup::Done => Ok(Action::await_change()),
                Cleanup::Pending(then) => Err(Error::CleanupPending(then)),
            },
        }
    })
    .await;
    let action = match outcome {
        Ok(action) => action,
        Err(finalizer::Error::CleanupFailed(Error::CleanupPending(then))) => then,
        Err(finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e)) => {
            return Err(e);
        }
        // Already gone: nothing left to release.
        Err(finalizer::Error::RemoveFinalizer(kube::Error::Api(s))) if s.code == 404 => {
            Action::await_change()
        }
        Err(finalizer::Error::AddFinalizer(e) | finalizer::Error::RemoveFinalizer(e)) => {
            return Err(e).at(Step::Finalizer);
        }
        Err(other) => return Err(Error::Finalizer(other.to_string())),
    };
    ctx.succeeded(&key);
    Ok(action)
}

/// One error policy: count the error by kind, step and reason, and retry with per-object
/// exponential backoff (capped where the kind says so).
pub fn error_policy<K: Reconcile>(
    guard: Arc<DeserializeGuard<K>>,
    error: &Error,
    ctx: Arc<Ctx>,
) -> Action {
    let kind = K::kind(&());
    ctx.metrics
        .error(&kind, error.step().as_str(), &error.reason());
    let (name, cap) = match &guard.0 {
        Ok(obj) => (key(obj), obj.retry_within()),
        Err(_) => (String::new(), None),
    };
    let mut delay = ctx.backoff(&name);
    if let Some(cap) = cap {
        delay = delay.min(cap);
    }
    tracing::warn!(%kind, object = %name, step = %error.step(), error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// An object that does not deserialize (an enum value or type this operator does not know,
/// e.g. applied while an older CRD was installed): said in its status, nothing else done.
async fn unreadable<K: Reconcile>(invalid: &InvalidObject, ctx: &Ctx) -> Result<Action, Error> {
    let (Some(name), Some(ns)) = (&invalid.metadata.name, &invalid.metadata.namespace) else {
        return Ok(Action::await_change());
    };
    let api: Api<DynamicObject> = Api::namespaced_with(
        ctx.client.clone(),
        ns,
        &kube::api::ApiResource::erase::<K>(&()),
    );
    let mut conditions = Vec::new();
    Summary::stalled(
        reason::INVALID_SPEC,
        format!(
            "the object does not match this operator's schema: {}",
            invalid.error
        ),
    )
    .apply(
        &mut conditions,
        invalid.metadata.generation,
        Timestamp::now(),
    );
    let mut status = K::unreadable_status();
    status.insert(
        "observedGeneration".into(),
        invalid.metadata.generation.into(),
    );
    status.insert(
        "conditions".into(),
        serde_json::to_value(conditions).expect("conditions serialize"),
    );
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await
    .at(Step::Status)?;
    Ok(Action::await_change())
}
