//! Each verb through kube's typed and dynamic clients: create, get, list (selectors,
//! pagination), replace with optimistic concurrency, merge and JSON patches, delete;
//! Secret stringData; generation and the status subresource.

mod common;

use common::{Sim, api_error, cache};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use std::collections::BTreeMap;

fn cm(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()},
        "data": {"k": "v"}
    }))
    .unwrap()
}

#[tokio::test]
async fn create_get_replace_patch_delete() {
    let sim = Sim::start().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "default");
    let created = api
        .create(&PostParams::default(), &cm("one", &[("app", "x")]))
        .await
        .unwrap();
    let md = &created.metadata;
    assert!(md.uid.as_deref().is_some_and(|u| !u.is_empty()));
    assert!(md.creation_timestamp.is_some());
    let rv1: u64 = md.resource_version.as_deref().unwrap().parse().unwrap();

    // Creating it again is a 409 AlreadyExists.
    let e = api_error(
        api.create(&PostParams::default(), &cm("one", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(e.message, "configmaps \"one\" already exists");

    // Replace with the current resourceVersion works and bumps it.
    let mut fetched = api.get("one").await.unwrap();
    fetched
        .data
        .as_mut()
        .unwrap()
        .insert("k".into(), "w".into());
    let replaced = api
        .replace("one", &PostParams::default(), &fetched)
        .await
        .unwrap();
    let rv2: u64 = replaced
        .metadata
        .resource_version
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1);

    // Replace with the stale one is a 409 Conflict.
    let e = api_error(
        api.replace("one", &PostParams::default(), &fetched)
            .await
            .unwrap_err(),
    );
    assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
    assert!(
        e.message.contains("the object has been modified"),
        "{}",
        e.message
    );

    // Merge patch and JSON patch.
    let p = api
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"m": "1"}, "metadata": {"labels": {"app": null}}})),
        )
        .await
        .unwrap();
    assert_eq!(p.data.as_ref().unwrap()["m"], "1");
    assert!(p.metadata.labels.unwrap_or_default().is_empty());
    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "add", "path": "/data/j", "value": "2"}])).unwrap();
    let p = api
        .patch("one", &PatchParams::default(), &Patch::<()>::Json(jp))
        .await
        .unwrap();
    assert_eq!(p.data.as_ref().unwrap()["j"], "2");
    let bad: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/data/j", "value": "3"}])).unwrap();
    let e = api_error(
        api.patch("one", &PatchParams::default(), &Patch::<()>::Json(bad))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 422);

    // Update operations are recorded as managers.
    let managers: Vec<String> = p
        .metadata
        .managed_fields
        .unwrap()
        .iter()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert!(!managers.is_empty());

    // Delete returns a Status for built-ins; afterwards the object is gone.
    let res = api.delete("one", &DeleteParams::default()).await.unwrap();
    assert!(res.is_right());
    let e = api_error(api.get("one").await.unwrap_err());
    assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
    assert_eq!(e.message, "configmaps \"one\" not found");
}

#[tokio::test]
async fn creating_in_a_missing_namespace_is_not_found() {
    let sim = Sim::start().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "nope");
    let e = api_error(
        api.create(&PostParams::default(), &cm("a", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 404);
    assert_eq!(e.message, "namespaces \"nope\" not found");
}

#[tokio::test]
async fn label_and_field_selectors() {
    let sim = Sim::start().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "default");
    for (n, app, tier) in [
        ("a", "web", "front"),
        ("b", "web", "back"),
        ("c", "db", "back"),
        ("d", "", ""),
    ] {
        let labels: Vec<(&str, &str)> = if app.is_empty() {
            vec![]
        } else {
            vec![("app", app), ("tier", tier)]
        };
        api.create(&PostParams::default(), &cm(n, &labels))
            .await
            .unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        l.items
            .into_iter()
            .map(|c| c.metadata.name.unwrap())
            .collect()
    };
    let q = |s: &str| ListParams::default().labels(s);
    assert_eq!(names(api.list(&q("app=web")).await.unwrap()), ["a", "b"]);
    assert_eq!(names(api.list(&q("app!=web")).await.unwrap()), ["c", "d"]);
    assert_eq!(
        names(
            api.list(&q("tier in (front,back),app notin (db)"))
                .await
                .unwrap()
        ),
        ["a", "b"]
    );
    assert_eq!(names(api.list(&q("!app")).await.unwrap()), ["d"]);
    assert_eq!(names(api.list(&q("app")).await.unwrap()), ["a", "b", "c"]);
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name=c"))
                .await
                .unwrap()
        ),
        ["c"]
    );
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name!=c,metadata.namespace=default"))
                .await
                .unwrap()
        ),
        ["a", "b", "d"]
    );
    let e = api_error(
        api.list(&ListParams::default().fields("spec.nope=1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 400);
    let e = api_error(api.list(&q("app in web")).await.unwrap_err());
    assert_eq!(e.code, 400);

    // Secrets are selectable by type.
    let secrets: Api<Secret> = Api::namespaced(sim.client.clone(), "default");
    let s: Secret = serde_json::from_value(
        json!({"metadata": {"name": "tls"}, "type": "kubernetes.io/tls",
        "data": {"tls.crt": "YQ==", "tls.key": "Yg=="}}),
    )
    .unwrap();
    secrets.create(&PostParams::default(), &s).await.unwrap();
    let l = secrets
        .list(&ListParams::default().fields("type=kubernetes.io/tls"))
        .await
        .unwrap();
    assert_eq!(l.items.len(), 1);
}

#[tokio::test]
async fn pagination_with_limit_and_continue() {
    let sim = Sim::start().await;
    let api: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "default");
    for i in 0..7 {
        api.create(&PostParams::default(), &cm(&format!("cm-{i}"), &[]))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut lp = ListParams::default().limit(3);
    let first = api.list(&lp).await.unwrap();
    let list_rv = first.metadata.resource_version.clone().unwrap();
    let mut page = first;
    loop {
        seen.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        // Pages stay consistent with the first page's resourceVersion.
        assert_eq!(
            page.metadata.resource_version.as_deref(),
            Some(list_rv.as_str())
        );
        match page.metadata.continue_.clone().filter(|c| !c.is_empty()) {
            Some(c) => {
                api.create(
                    &PostParams::default(),
                    &cm(&format!("late-{}", seen.len()), &[]),
                )
                .await
                .unwrap();
                lp = lp.continue_token(&c);
                page = api.list(&lp).await.unwrap();
            }
            None => break,
        }
    }
    assert_eq!(seen, (0..7).map(|i| format!("cm-{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn secret_string_data_and_immutability() {
    let sim = Sim::start().await;
    let api: Api<Secret> = Api::namespaced(sim.client.clone(), "default");
    let s: Secret = serde_json::from_value(json!({"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}, "data": {"user": "YWRtaW4="}})).unwrap();
    let created = api.create(&PostParams::default(), &s).await.unwrap();
    let data = created.data.unwrap();
    assert_eq!(data["password"].0, b"hunter2");
    assert_eq!(data["user"].0, b"admin");
    assert!(created.string_data.is_none());
    assert_eq!(created.type_.as_deref(), Some("Opaque"));

    let e = api_error(
        api.patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"type": "kubernetes.io/basic-auth"})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert_eq!(
        e.message,
        "Secret \"s\" is invalid: type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable"
    );

    api.patch(
        "s",
        &PatchParams::default(),
        &Patch::Merge(json!({"immutable": true})),
    )
    .await
    .unwrap();
    let e = api_error(
        api.patch(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"password": "x"}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(e.code, 422);
    assert!(
        e.message
            .contains("data: Forbidden: field is immutable when `immutable` is set"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn generation_and_status_subresource() {
    let sim = Sim::start().await;
    let api = sim.caches("default").await;
    let mut obj = cache(
        "g",
        json!({"provider": "gcp", "instanceId": "g-1", "shardCount": 1}),
    );
    obj.data["status"] = json!({"phase": "Ignored"});
    let c = api.create(&PostParams::default(), &obj).await.unwrap();
    assert_eq!(c.metadata.generation, Some(1));
    assert!(
        c.data.get("status").is_none(),
        "status is dropped on create"
    );
    // Defaults are applied.
    assert_eq!(c.data["spec"]["replicas"], 1);
    assert_eq!(c.data["spec"]["tier"], "standard");

    // A spec change bumps the generation; metadata changes do not.
    let c = api
        .patch(
            "g",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"shardCount": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(c.metadata.generation, Some(2));
    let c = api
        .patch(
            "g",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(c.metadata.generation, Some(2));

    // Status writes through the main resource are ignored; /status writes touch only status.
    let c = api
        .patch(
            "g",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Nope"}})),
        )
        .await
        .unwrap();
    assert!(c.data.get("status").is_none());
    let c = api
        .patch_status("g", &PatchParams::default(), &Patch::Merge(json!({"status": {"phase": "Ready", "observedGeneration": 2}, "spec": {"shardCount": 9}})))
        .await
        .unwrap();
    assert_eq!(c.data["status"]["phase"], "Ready");
    assert_eq!(c.data["spec"]["shardCount"], 2);
    assert_eq!(c.metadata.generation, Some(2));
    let s = api.get_status("g").await.unwrap();
    assert_eq!(s.data["status"]["observedGeneration"], 2);

    // Replace on /status with a stale resourceVersion conflicts.
    let mut stale = c.clone();
    stale.metadata.resource_version = Some("1".into());
    let e = api_error(
        api.replace_status("g", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 409);
}

#[tokio::test]
async fn scale_subresource_reads_and_writes_replicas() {
    let sim = Sim::start().await;
    let api = sim.caches("default").await;
    api.create(
        &PostParams::default(),
        &cache(
            "s",
            json!({"provider": "gcp", "instanceId": "s", "shardCount": 1, "replicas": 2}),
        ),
    )
    .await
    .unwrap();
    let scale = api.get_scale("s").await.unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(2));
    api.patch_scale(
        "s",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 4}})),
    )
    .await
    .unwrap();
    assert_eq!(api.get("s").await.unwrap().data["spec"]["replicas"], 4);
}

#[tokio::test]
async fn system_namespaces_exist() {
    let sim = Sim::start().await;
    let api: Api<Namespace> = Api::all(sim.client.clone());
    let names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|n| n.metadata.name.unwrap())
        .collect();
    assert_eq!(
        names,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
    let e = api_error(
        api.delete("default", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(e.code, 403);
}

#[tokio::test]
async fn served_versions_share_storage() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let sim = Sim::start().await;
    let schema = json!({"openAPIV3Schema": {"type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}});
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "metadata": {"name": "things.multi.kubesim.dev"},
        "spec": {"group": "multi.kubesim.dev", "scope": "Cluster", "names": {"plural": "things", "kind": "Thing"},
            "versions": [
                {"name": "v1beta1", "served": true, "storage": false, "schema": schema},
                {"name": "v1", "served": true, "storage": true, "schema": schema},
                {"name": "v1alpha1", "served": false, "storage": false, "schema": schema}
            ]}
    }))
    .unwrap();
    Api::<CustomResourceDefinition>::all(sim.client.clone())
        .create(&PostParams::default(), &crd)
        .await
        .unwrap();
    let at = |v: &str| -> Api<DynamicObject> {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("multi.kubesim.dev", v, "Thing"),
            "things",
        );
        Api::all_with(sim.client.clone(), &ar)
    };
    let obj: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "multi.kubesim.dev/v1beta1", "kind": "Thing",
        "metadata": {"name": "t"}, "spec": {"x": 1}}),
    )
    .unwrap();
    at("v1beta1")
        .create(&PostParams::default(), &obj)
        .await
        .unwrap();
    let v1 = at("v1").get("t").await.unwrap();
    assert_eq!(v1.types.unwrap().api_version, "multi.kubesim.dev/v1");
    assert_eq!(v1.data["spec"]["x"], 1);
    assert_eq!(
        at("v1beta1")
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let e = api_error(at("v1alpha1").get("t").await.unwrap_err());
    assert_eq!(e.code, 404, "unserved versions are not served");
}
