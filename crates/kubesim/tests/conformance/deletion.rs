//! Finalizers and deletion (deletionTimestamp, removal when the last finalizer goes, an empty
//! finalizers list omitted), preconditions, and garbage collection by ownerReference (on the
//! real server kube-controller-manager's garbage collector does it).

use http::Method;
use serde_json::{Value, json};

use crate::crds::{self, cache};
use crate::harness::*;

#[tokio::test]
async fn finalizers_hold_deletion_until_the_last_one_goes() {
    let b = Both::new("finalizers").await;
    crds::install_cache(&b).await;
    let base = format!("/apis/fixtures.kubesim.dev/v1/namespaces/{}/caches", b.ns);
    let one = format!("{base}/held");
    let mut obj = cache(
        "held",
        json!({"provider": "gcp", "instanceId": "h-1", "shardCount": 1}),
    );
    obj["metadata"]["finalizers"] = json!(["example.com/a", "example.com/b"]);
    b.same(Method::POST, &base, JSON, &obj).await;
    b.same(Method::DELETE, &one, JSON, &Value::Null).await;
    b.same(Method::GET, &one, JSON, &Value::Null).await;
    // No new finalizers while deleting; spec changes still bump the generation.
    b.same(
        Method::PATCH,
        &one,
        JSON_PATCH,
        &json!([{"op": "add", "path": "/metadata/finalizers/-", "value": "example.com/c"}]),
    )
    .await;
    b.same(
        Method::PATCH,
        &one,
        MERGE,
        &json!({"spec": {"shardCount": 2}}),
    )
    .await;
    b.same(Method::DELETE, &one, JSON, &Value::Null).await;
    b.same(
        Method::PATCH,
        &one,
        JSON_PATCH,
        &json!([{"op": "remove", "path": "/metadata/finalizers/0"}]),
    )
    .await;
    // The last finalizer goes: the object is removed.
    b.same(
        Method::PATCH,
        &one,
        MERGE,
        &json!({"metadata": {"finalizers": null}}),
    )
    .await;
    b.same(Method::GET, &one, JSON, &Value::Null).await;
    // An empty finalizers list is not stored.
    let mut empty = cache(
        "empty",
        json!({"provider": "gcp", "instanceId": "e-1", "shardCount": 1}),
    );
    empty["metadata"]["finalizers"] = json!([]);
    b.same(Method::POST, &base, JSON, &empty).await;
    b.same(
        Method::PATCH,
        &format!("{base}/empty"),
        MERGE,
        &json!({"metadata": {"finalizers": ["example.com/a"]}}),
    )
    .await;
    b.same(
        Method::PATCH,
        &format!("{base}/empty"),
        MERGE,
        &json!({"metadata": {"finalizers": []}}),
    )
    .await;
    // Preconditions.
    b.same(Method::DELETE, &format!("{base}/empty"), JSON, &json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "00000000-0000-0000-0000-000000000000"}})).await;
    b.same(Method::DELETE, &format!("{base}/empty"), JSON, &json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"resourceVersion": "1"}})).await;
    b.same(Method::DELETE, &format!("{base}/empty"), JSON, &Value::Null)
        .await;
    b.same(Method::DELETE, &format!("{base}/empty"), JSON, &Value::Null)
        .await;
    // A built-in kind with a finalizer.
    let cms = format!("/api/v1/namespaces/{}/configmaps", b.ns);
    b.same(Method::POST, &cms, JSON, &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "finalizers": ["example.com/a"]}})).await;
    b.same(Method::DELETE, &format!("{cms}/held"), JSON, &Value::Null)
        .await;
    b.same(
        Method::PATCH,
        &format!("{cms}/held"),
        STRATEGIC,
        &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["example.com/a"]}}),
    )
    .await;
    b.same(Method::GET, &format!("{cms}/held"), JSON, &Value::Null)
        .await;
    b.done();
}

/// Owner and dependent ConfigMaps on both servers; returns nothing, the names are fixed.
async fn family(b: &Both, owner: &str, dependents: &[&str], block: bool) {
    let cms = format!("/api/v1/namespaces/{}/configmaps", b.ns);
    let [r, s] = b
        .call(
            Method::POST,
            &cms,
            JSON,
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": owner}}),
        )
        .await;
    for (side, created) in [(&b.real, r), (&b.sim, s)] {
        assert_eq!(created.status, 201, "{created:?}");
        let uid = created.body["metadata"]["uid"].clone();
        for d in dependents {
            let dep = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": d, "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": owner, "uid": uid, "blockOwnerDeletion": block}
            ]}});
            let r = side.call(Method::POST, &cms, JSON, &dep).await;
            assert_eq!(r.status, 201, "{r:?}");
        }
    }
}

#[tokio::test]
async fn garbage_collection_by_owner_reference() {
    let b = Both::new("gc").await;
    let cms = format!("/api/v1/namespaces/{}/configmaps", b.ns);
    let gone = |r: &Reply| r.status == 404;
    // Background (the default): the owner goes at once, dependents after.
    family(&b, "bg-owner", &["bg-dep"], false).await;
    b.same(Method::GET, &format!("{cms}/bg-dep"), JSON, &Value::Null)
        .await;
    b.same(
        Method::DELETE,
        &format!("{cms}/bg-owner"),
        JSON,
        &Value::Null,
    )
    .await;
    b.eventually(
        "the background dependent is collected",
        &format!("{cms}/bg-dep"),
        gone,
    )
    .await;
    // Foreground: the owner waits (foregroundDeletion) for its blocking dependents.
    family(&b, "fg-owner", &["fg-dep"], true).await;
    b.same(
        Method::DELETE,
        &format!("{cms}/fg-owner"),
        JSON,
        &json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"}),
    )
    .await;
    b.eventually(
        "the foreground dependent is collected",
        &format!("{cms}/fg-dep"),
        gone,
    )
    .await;
    b.eventually(
        "the foreground owner goes after it",
        &format!("{cms}/fg-owner"),
        gone,
    )
    .await;
    // Orphan: dependents stay, without the reference.
    family(&b, "or-owner", &["or-dep"], false).await;
    b.same(
        Method::DELETE,
        &format!("{cms}/or-owner"),
        JSON,
        &json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Orphan"}),
    )
    .await;
    b.eventually("the orphaning owner goes", &format!("{cms}/or-owner"), gone)
        .await;
    let [r, s] = b
        .eventually(
            "the orphan loses its owner reference",
            &format!("{cms}/or-dep"),
            |r| r.status == 200 && r.body["metadata"].get("ownerReferences").is_none(),
        )
        .await;
    b.compare("the orphan", &r, &s);
    // A dependent whose owner does not exist is collected.
    let dangling = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dangling", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "nobody", "uid": "00000000-0000-0000-0000-000000000001"}
    ]}});
    b.same(Method::POST, &cms, JSON, &dangling).await;
    b.eventually(
        "a dependent of a missing owner is collected",
        &format!("{cms}/dangling"),
        gone,
    )
    .await;
    b.done();
}

#[tokio::test]
async fn a_custom_resource_owns_a_secret() {
    let b = Both::new("gc-custom").await;
    crds::install_cache(&b).await;
    let base = format!("/apis/fixtures.kubesim.dev/v1/namespaces/{}/caches", b.ns);
    let secrets = format!("/api/v1/namespaces/{}/secrets", b.ns);
    let [r, s] = b
        .call(
            Method::POST,
            &base,
            JSON,
            &cache(
                "owner",
                json!({"provider": "gcp", "instanceId": "o-1", "shardCount": 1}),
            ),
        )
        .await;
    for (side, created) in [(&b.real, r), (&b.sim, s)] {
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "owned", "ownerReferences": [
            {"apiVersion": "fixtures.kubesim.dev/v1", "kind": "Cache", "name": "owner", "uid": created.body["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}
        ]}, "stringData": {"password": "x"}});
        let r = side.call(Method::POST, &secrets, JSON, &secret).await;
        assert_eq!(r.status, 201, "{r:?}");
    }
    b.same(Method::GET, &format!("{secrets}/owned"), JSON, &Value::Null)
        .await;
    b.same(Method::DELETE, &format!("{base}/owner"), JSON, &Value::Null)
        .await;
    b.eventually(
        "the owned Secret is collected",
        &format!("{secrets}/owned"),
        |r| r.status == 404,
    )
    .await;
    b.done();
}
