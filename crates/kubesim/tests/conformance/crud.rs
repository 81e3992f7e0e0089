//! Create, read, update, patch and delete of a built-in kind, with the errors clients meet.

use http::Method;
use serde_json::{Value, json};

use crate::harness::*;

#[tokio::test]
async fn configmap_crud_and_errors() {
    let b = Both::new("crud").await;
    let base = format!("/api/v1/namespaces/{}/configmaps", b.ns);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"app": "x"}}, "data": {"k": "v"}});
    let created = b.same(Method::POST, &base, JSON, &cm).await;
    assert_eq!(created.status, 201);
    b.same(Method::POST, &base, JSON, &cm).await;
    b.same(Method::GET, &format!("{base}/a"), JSON, &Value::Null)
        .await;
    b.same(Method::GET, &format!("{base}/missing"), JSON, &Value::Null)
        .await;
    b.same(Method::GET, &base, JSON, &Value::Null).await;
    b.same(
        Method::PATCH,
        &format!("{base}/a"),
        MERGE,
        &json!({"data": {"k2": "v2"}}),
    )
    .await;
    b.same(
        Method::PATCH,
        &format!("{base}/a"),
        JSON_PATCH,
        &json!([{"op": "remove", "path": "/data/k"}]),
    )
    .await;
    b.same(
        Method::PATCH,
        &format!("{base}/a"),
        STRATEGIC,
        &json!({"metadata": {"labels": {"tier": "y"}}}),
    )
    .await;
    // A replace with a stale resourceVersion.
    let mut stale = cm.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    b.same(Method::PUT, &format!("{base}/a"), JSON, &stale)
        .await;
    b.same(Method::PUT, &format!("{base}/a"), JSON, &cm).await;
    // Invalid names and bodies.
    b.same(
        Method::POST,
        &base,
        JSON,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}}),
    )
    .await;
    b.same(
        Method::POST,
        &base,
        JSON,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}}),
    )
    .await;
    b.same(
        Method::GET,
        &format!("{base}?labelSelector=app%3Dx"),
        JSON,
        &Value::Null,
    )
    .await;
    b.same(Method::DELETE, &format!("{base}/a"), JSON, &Value::Null)
        .await;
    b.same(Method::DELETE, &format!("{base}/a"), JSON, &Value::Null)
        .await;
    b.done();
}
