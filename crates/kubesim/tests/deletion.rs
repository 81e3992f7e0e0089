//! Deletion: finalizers, ownerReference garbage collection (Background, Foreground, Orphan),
//! namespace deletion, and the CRD lifecycle.

mod common;

use common::{Sim, api_error, cache, eventually};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions, PropagationPolicy,
};
use serde_json::json;

fn cm(name: &str, owner: Option<&ConfigMap>, block: bool) -> ConfigMap {
    let mut v = json!({"metadata": {"name": name}, "data": {"k": "v"}});
    if let Some(o) = owner {
        v["metadata"]["ownerReferences"] = json!([{
            "apiVersion": "v1", "kind": "ConfigMap", "name": o.metadata.name, "uid": o.metadata.uid,
            "blockOwnerDeletion": block
        }]);
    }
    serde_json::from_value(v).unwrap()
}

async fn gone(api: &Api<ConfigMap>, name: &str) {
    let api = api.clone();
    let n = name.to_string();
    eventually(&format!("{name} to be deleted"), || {
        let api = api.clone();
        let n = n.clone();
        async move { api.get_opt(&n).await.unwrap().is_none().then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn finalizers_hold_deletion_until_removed() {
    let sim = Sim::start().await;
    let api = sim.caches("default").await;
    let mut c = cache(
        "f",
        json!({"provider": "gcp", "instanceId": "f", "shardCount": 1}),
    );
    c.metadata.finalizers = Some(vec!["example.com/cleanup".into()]);
    api.create(&PostParams::default(), &c).await.unwrap();
    let res = api.delete("f", &DeleteParams::default()).await.unwrap();
    let pending = res
        .left()
        .expect("the object is returned while finalizers remain");
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert_eq!(pending.metadata.deletion_grace_period_seconds, Some(0));
    assert_eq!(
        pending.metadata.generation,
        Some(2),
        "deletion bumps the generation"
    );

    // No new finalizers once deleting.
    let e = api_error(
        api.patch(
            "f",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/cleanup", "other"]}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert!(
        e.message
            .contains("no new finalizers can be added if the object is being deleted"),
        "{}",
        e.message
    );

    // Removing the last finalizer removes the object.
    api.patch(
        "f",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(api.get_opt("f").await.unwrap().is_none());
}

#[tokio::test]
async fn delete_preconditions() {
    let sim = Sim::start().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "default");
    api.create(&PostParams::default(), &cm("p", None, false))
        .await
        .unwrap();
    let dp = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some("wrong".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    let e = api_error(api.delete("p", &dp).await.unwrap_err());
    assert_eq!(e.code, 409);
    assert!(
        e.message
            .contains("the UID in the precondition (wrong) does not match the UID in record"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn background_deletion_collects_dependents() {
    let sim = Sim::start().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "default");
    let owner = api
        .create(&PostParams::default(), &cm("owner", None, false))
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("dep-1", Some(&owner), false))
        .await
        .unwrap();
    let dep2 = api
        .create(&PostParams::default(), &cm("dep-2", Some(&owner), false))
        .await
        .unwrap();
    api.create(
        &PostParams::default(),
        &cm("grandchild", Some(&dep2), false),
    )
    .await
    .unwrap();
    api.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    assert!(
        api.get_opt("owner").await.unwrap().is_none(),
        "the owner goes at once"
    );
    for n in ["dep-1", "dep-2", "grandchild"] {
        gone(&api, n).await;
    }
}

#[tokio::test]
async fn a_dependent_with_another_live_owner_survives_without_the_dangling_reference() {
    let sim = Sim::start().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "default");
    let a = api
        .create(&PostParams::default(), &cm("a", None, false))
        .await
        .unwrap();
    let b = api
        .create(&PostParams::default(), &cm("b", None, false))
        .await
        .unwrap();
    let mut d = cm("d", Some(&a), false);
    let refs = d.metadata.owner_references.as_mut().unwrap();
    refs.push(
        cm("x", Some(&b), false)
            .metadata
            .owner_references
            .unwrap()
            .remove(0),
    );
    api.create(&PostParams::default(), &d).await.unwrap();
    api.delete("a", &DeleteParams::default()).await.unwrap();
    let api2 = api.clone();
    eventually("the dangling reference to be removed", || {
        let api = api2.clone();
        async move {
            let d = api.get("d").await.unwrap();
            (d.metadata.owner_references.unwrap_or_default().len() == 1).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn foreground_deletion_waits_for_blocking_dependents() {
    let sim = Sim::start().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "default");
    let owner = api
        .create(&PostParams::default(), &cm("owner", None, false))
        .await
        .unwrap();
    let mut dep = cm("dep", Some(&owner), true);
    dep.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &dep).await.unwrap();
    let res = api
        .delete("owner", &DeleteParams::foreground())
        .await
        .unwrap();
    let pending = res.left().expect("the owner waits");
    assert!(
        pending
            .metadata
            .finalizers
            .unwrap()
            .contains(&"foregroundDeletion".to_string())
    );

    // The dependent is being deleted but holds on; so does the owner.
    let api2 = api.clone();
    eventually("the dependent to be deleting", || {
        let api = api2.clone();
        async move {
            api.get("dep")
                .await
                .unwrap()
                .metadata
                .deletion_timestamp
                .map(|_| ())
        }
    })
    .await;
    assert!(api.get_opt("owner").await.unwrap().is_some());

    api.patch(
        "dep",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    gone(&api, "dep").await;
    gone(&api, "owner").await;
}

#[tokio::test]
async fn orphan_deletion_keeps_dependents_and_drops_their_references() {
    let sim = Sim::start().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "default");
    let owner = api
        .create(&PostParams::default(), &cm("owner", None, false))
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("dep", Some(&owner), false))
        .await
        .unwrap();
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Orphan),
        ..Default::default()
    };
    api.delete("owner", &dp).await.unwrap();
    gone(&api, "owner").await;
    let dep = api.get("dep").await.unwrap();
    assert!(dep.metadata.owner_references.unwrap_or_default().is_empty());
}

#[tokio::test]
async fn namespace_deletion_removes_its_contents_then_itself() {
    let sim = Sim::start().await;
    let namespaces: Api<Namespace> = Api::all(sim.client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "doomed"}})).unwrap();
    let created = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));
    let api: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "doomed");
    api.create(&PostParams::default(), &cm("plain", None, false))
        .await
        .unwrap();
    let caches = sim.caches("doomed").await;
    let mut held = cache(
        "held",
        json!({"provider": "gcp", "instanceId": "held", "shardCount": 1}),
    );
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    caches.create(&PostParams::default(), &held).await.unwrap();

    let res = namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = res.left().unwrap();
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    gone(&api, "plain").await;

    // New content is refused while terminating.
    let e = api_error(
        api.create(&PostParams::default(), &cm("late", None, false))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 403);
    assert!(
        e.message.contains("because it is being terminated"),
        "{}",
        e.message
    );

    // The finalizer holds the namespace; releasing it lets everything go.
    assert!(namespaces.get_opt("doomed").await.unwrap().is_some());
    caches
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    let ns2 = namespaces.clone();
    eventually("the namespace to be removed", || {
        let n = ns2.clone();
        async move { n.get_opt("doomed").await.unwrap().is_none().then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn crd_lifecycle() {
    let sim = Sim::start().await;
    let caches = sim.caches("default").await;
    let crds: Api<CustomResourceDefinition> = Api::all(sim.client.clone());
    let crd = crds.get("caches.fixtures.kubesim.dev").await.unwrap();
    let status = crd.status.unwrap();
    let conds: Vec<(String, String)> = status
        .conditions
        .unwrap()
        .into_iter()
        .map(|c| (c.type_, c.status))
        .collect();
    assert!(conds.contains(&("Established".into(), "True".into())));
    assert!(conds.contains(&("NamesAccepted".into(), "True".into())));
    assert_eq!(
        status.accepted_names.unwrap().short_names,
        Some(vec!["ca".to_string()])
    );

    // Served at once, visible in discovery with its short names.
    let discovery = kube::discovery::Discovery::new(sim.client.clone())
        .run()
        .await
        .unwrap();
    let (ar, caps) = discovery
        .resolve_gvk(&kube::api::GroupVersionKind::gvk(
            "fixtures.kubesim.dev",
            "v1",
            "Cache",
        ))
        .unwrap();
    assert_eq!(ar.plural, "caches");
    assert!(
        caps.subresources
            .iter()
            .any(|(s, _)| s.plural == "caches/status" || s.plural == "status")
    );

    caches
        .create(
            &PostParams::default(),
            &cache(
                "one",
                json!({"provider": "gcp", "instanceId": "one", "shardCount": 1}),
            ),
        )
        .await
        .unwrap();
    let mut held = cache(
        "held",
        json!({"provider": "gcp", "instanceId": "held", "shardCount": 1}),
    );
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    caches.create(&PostParams::default(), &held).await.unwrap();

    // Updating the schema changes validation for later writes only.
    let tighten = json!({"spec": {"versions": [{"name": "v1", "served": true, "storage": true,
        "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object",
            "properties": {"provider": {"type": "string"}, "instanceId": {"type": "string"}, "shardCount": {"type": "integer", "maximum": 0}}}}}}}]}});
    crds.patch(
        "caches.fixtures.kubesim.dev",
        &PatchParams::default(),
        &Patch::Merge(tighten),
    )
    .await
    .unwrap();
    assert_eq!(
        caches.get("one").await.unwrap().data["spec"]["shardCount"],
        1,
        "stored objects stay as they are"
    );
    let e = api_error(
        caches
            .create(
                &PostParams::default(),
                &cache(
                    "two",
                    json!({"provider": "gcp", "instanceId": "two", "shardCount": 1}),
                ),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);

    // Deleting the CRD deletes its objects (honouring their finalizers), then the CRD.
    let watch = caches
        .watch(&kube::api::WatchParams::default().timeout(60), "0")
        .await
        .unwrap();
    let watch_task = tokio::spawn(async move {
        use futures::TryStreamExt;
        watch.try_collect::<Vec<_>>().await.unwrap()
    });
    crds.delete("caches.fixtures.kubesim.dev", &DeleteParams::default())
        .await
        .unwrap();
    let c2 = caches.clone();
    eventually("plain objects to be deleted", || {
        let c = c2.clone();
        async move { c.get_opt("one").await.unwrap().is_none().then_some(()) }
    })
    .await;
    let terminating = crds.get("caches.fixtures.kubesim.dev").await.unwrap();
    assert!(
        terminating
            .status
            .unwrap()
            .conditions
            .unwrap()
            .iter()
            .any(|c| c.type_ == "Terminating")
    );
    caches
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    let crds2 = crds.clone();
    eventually("the CRD to be removed", || {
        let c = crds2.clone();
        async move {
            c.get_opt("caches.fixtures.kubesim.dev")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        }
    })
    .await;
    let e = api_error(caches.list(&Default::default()).await.unwrap_err());
    assert_eq!(e.code, 404, "no longer served");
    // Open watches end once the resource is no longer served, after the deletions.
    let events = tokio::time::timeout(std::time::Duration::from_secs(10), watch_task)
        .await
        .unwrap()
        .unwrap();
    let deleted = events
        .iter()
        .filter(|e| matches!(e, kube::api::WatchEvent::Deleted(_)))
        .count();
    assert_eq!(deleted, 2, "{events:?}");
}
