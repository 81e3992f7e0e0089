//! A small kube-rs controller against kubesim, as the operator runs: `Controller` with the
//! `finalizer` helper (JSON patches with test operations), status by server-side apply,
//! an owned Secret collected by the garbage collector, and events.

mod common;

use common::{Sim, cache, cache_resource, eventually};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const FINALIZER: &str = "fixtures.kubesim.dev/cleanup";

struct Ctx {
    client: kube::Client,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failed(String);

async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, Failed> {
    let ns = obj.namespace().unwrap();
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ns, &cache_resource());
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Event::Apply(o) => {
                let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
                let owner = o.controller_owner_ref(&cache_resource()).unwrap();
                let secret = json!({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": format!("{}-conn", o.name_any()), "ownerReferences": [owner]},
                    "stringData": {"host": "redis.example"}});
                secrets
                    .patch(&format!("{}-conn", o.name_any()), &PatchParams::apply("ctl").force(), &Patch::Apply(secret))
                    .await
                    .map_err(|e| Failed(e.to_string()))?;
                let status = json!({"apiVersion": "fixtures.kubesim.dev/v1", "kind": "Cache",
                    "metadata": {"name": o.name_any()},
                    "status": {"observedGeneration": o.meta().generation,
                               "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}]}});
                api.patch_status(&o.name_any(), &PatchParams::apply("ctl").force(), &Patch::Apply(status))
                    .await
                    .map_err(|e| Failed(e.to_string()))?;
                Ok(Action::await_change())
            }
            Event::Cleanup(_) => Ok::<_, Failed>(Action::await_change()),
        }
    })
    .await
    .map_err(|e: kube::runtime::finalizer::Error<Failed>| Failed(e.to_string()))
}

fn error_policy(_: Arc<DynamicObject>, _: &Failed, _: Arc<Ctx>) -> Action {
    Action::requeue(Duration::from_millis(200))
}

#[tokio::test]
async fn a_kube_controller_reconciles_finalizes_and_collects() {
    let sim = Sim::start().await;
    let caches = sim.caches("default").await;
    let all: Api<DynamicObject> = Api::all_with(sim.client.clone(), &cache_resource());
    let secrets: Api<Secret> = Api::namespaced(sim.client.clone(), "default");
    let ctx = Arc::new(Ctx {
        client: sim.client.clone(),
    });
    let controller = Controller::new_with(all, watcher::Config::default(), cache_resource())
        .owns_with(secrets.clone(), (), watcher::Config::default())
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {});
    let task = tokio::spawn(controller);

    caches
        .create(
            &PostParams::default(),
            &cache(
                "ctl",
                json!({"provider": "gcp", "instanceId": "ctl", "shardCount": 1}),
            ),
        )
        .await
        .unwrap();
    let c = caches.clone();
    let ready = eventually("the controller to report Ready", || {
        let c = c.clone();
        async move {
            let o = c.get("ctl").await.unwrap();
            (o.data["status"]["conditions"][0]["status"] == "True").then_some(o)
        }
    })
    .await;
    assert_eq!(ready.finalizers(), [FINALIZER.to_string()]);
    assert_eq!(ready.data["status"]["observedGeneration"], 1);
    let secret = secrets.get("ctl-conn").await.unwrap();
    assert_eq!(secret.data.unwrap()["host"].0, b"redis.example");

    caches.delete("ctl", &Default::default()).await.unwrap();
    let c = caches.clone();
    eventually("the finalizer to be removed and the object to go", || {
        let c = c.clone();
        async move { c.get_opt("ctl").await.unwrap().is_none().then_some(()) }
    })
    .await;
    let s = secrets.clone();
    eventually("the owned Secret to be garbage collected", || {
        let s = s.clone();
        async move { s.get_opt("ctl-conn").await.unwrap().is_none().then_some(()) }
    })
    .await;
    task.abort();
}
