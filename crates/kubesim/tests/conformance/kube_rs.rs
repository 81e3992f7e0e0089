//! The same operations through kube-rs' typed API, as the operator makes them: what it gets
//! back (an object or a Status on deletion, API errors, watcher events) must not depend on the
//! server.

use futures::StreamExt as _;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use kube::runtime::watcher;
use serde_json::json;

use crate::crds::{self, cache};
use crate::harness::*;

fn caches(side: &Side, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource {
        group: "fixtures.kubesim.dev".into(),
        version: "v1".into(),
        api_version: "fixtures.kubesim.dev/v1".into(),
        kind: "Cache".into(),
        plural: "caches".into(),
    };
    Api::namespaced_with(side.client.clone(), ns, &ar)
}

/// What one side saw, reduced to what the operator acts on.
async fn scenario(side: &Side, ns: &str) -> Vec<String> {
    let api = caches(side, ns);
    let mut seen = Vec::new();
    let obj: DynamicObject = serde_json::from_value(cache(
        "k",
        json!({"provider": "gcp", "instanceId": "k-1", "shardCount": 1}),
    ))
    .unwrap();
    let created = api.create(&PostParams::default(), &obj).await.unwrap();
    seen.push(format!(
        "created generation {:?}",
        created.metadata.generation
    ));
    // Server-side apply of status and of a finalizer, as the operator's controllers do.
    let status = json!({"apiVersion": "fixtures.kubesim.dev/v1", "kind": "Cache", "status": {"phase": "Ready"}});
    let patched = api
        .patch_status(
            "k",
            &PatchParams::apply("op").force(),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    seen.push(format!("status {}", patched.data["status"]));
    let fin = json!({"apiVersion": "fixtures.kubesim.dev/v1", "kind": "Cache", "metadata": {"finalizers": ["op/cleanup"]}});
    let patched = api
        .patch("k", &PatchParams::apply("op-fin"), &Patch::Apply(&fin))
        .await
        .unwrap();
    seen.push(format!("finalizers {:?}", patched.metadata.finalizers));
    // Deleting with a finalizer: the object comes back, being deleted.
    let deleted = api.delete("k", &DeleteParams::default()).await.unwrap();
    seen.push(deleted.either(
        |o| {
            format!(
                "delete: object, deleting {}",
                o.metadata.deletion_timestamp.is_some()
            )
        },
        |s| format!("delete: status {:?}", s.status),
    ));
    // The finalizer removed (the kube finalizer helper's JSON patch with a test), it is gone.
    let remove = json_patch::Patch(
        serde_json::from_value(json!([
            {"op": "test", "path": "/metadata/finalizers", "value": ["op/cleanup"]},
            {"op": "remove", "path": "/metadata/finalizers/0"}
        ]))
        .unwrap(),
    );
    let last = api
        .patch("k", &PatchParams::default(), &Patch::<()>::Json(remove))
        .await
        .unwrap();
    seen.push(format!(
        "last state: finalizers {:?}",
        last.metadata.finalizers
    ));
    seen.push(format!(
        "then: {:?}",
        api.get_opt("k").await.unwrap().map(|o| o.metadata.name)
    ));
    // Without a finalizer: a Status.
    api.create(&PostParams::default(), &obj).await.unwrap();
    let deleted = api.delete("k", &DeleteParams::default()).await.unwrap();
    seen.push(deleted.either(
        |o| format!("delete: object {:?}", o.metadata.name),
        |s| {
            format!(
                "delete: status {:?} {:?}",
                s.status,
                s.details.map(|d| (d.name, d.kind))
            )
        },
    ));
    // An invalid object: the API error the operator reports.
    let bad: DynamicObject = serde_json::from_value(cache(
        "bad",
        json!({"provider": "azure", "instanceId": "b", "shardCount": 1}),
    ))
    .unwrap();
    match api.create(&PostParams::default(), &bad).await {
        Err(kube::Error::Api(s)) => {
            seen.push(format!("error {} {} {}", s.code, s.reason, s.message))
        }
        other => seen.push(format!("unexpected {other:?}")),
    }
    // A watcher's first events with streaming lists (what the operator's reflectors use).
    api.create(&PostParams::default(), &obj).await.unwrap();
    let mut events = watcher(api.clone(), watcher::Config::default().streaming_lists()).boxed();
    loop {
        let e = tokio::time::timeout(std::time::Duration::from_secs(10), events.next()).await;
        match e {
            Ok(Some(Ok(watcher::Event::Init))) => seen.push("watcher: Init".into()),
            Ok(Some(Ok(watcher::Event::InitApply(o)))) => {
                seen.push(format!("watcher: InitApply {:?}", o.metadata.name))
            }
            Ok(Some(Ok(watcher::Event::InitDone))) => {
                seen.push("watcher: InitDone".into());
                break;
            }
            other => {
                seen.push(format!("watcher: {other:?}"));
                break;
            }
        }
    }
    seen
}

#[tokio::test]
async fn what_the_operator_sees_through_kube_rs() {
    let b = Both::new("kube-rs").await;
    crds::install_cache(&b).await;
    let (r, s) = tokio::join!(scenario(&b.real, &b.ns), scenario(&b.sim, &b.ns));
    // The scenario ran through on the real server.
    for expected in [
        "delete: object, deleting true",
        "then: None",
        "watcher: InitDone",
    ] {
        assert!(
            r.iter().any(|l| l == expected),
            "real: no {expected:?} in {r:#?}"
        );
    }
    assert!(
        r.iter().any(|l| l.starts_with("error 422 Invalid")),
        "{r:#?}"
    );
    b.expect_eq("kube-rs results", r, s);
    b.done();
}
