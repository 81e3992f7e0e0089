//! Server-side apply: field managers, conflicts (409 with the conflicting manager and field in
//! the causes), force, managedFields ownership, apply on the status subresource.

use http::Method;
use serde_json::{Value, json};

use crate::crds::{self, cache};
use crate::harness::*;

fn apply_path(base: &str, name: &str, manager: &str, force: bool) -> String {
    format!(
        "{base}/{name}?fieldManager={manager}{}",
        if force { "&force=true" } else { "" }
    )
}

#[tokio::test]
async fn apply_conflicts_force_and_ownership_on_a_configmap() {
    let b = Both::new("apply-cm").await;
    let base = format!("/api/v1/namespaces/{}/configmaps", b.ns);
    let cm = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": data});
    // Apply creates; a second manager conflicts on a field the first owns.
    b.same(
        Method::PATCH,
        &apply_path(&base, "shared", "first", false),
        APPLY,
        &cm(json!({"a": "1", "b": "1"})),
    )
    .await;
    b.same(
        Method::PATCH,
        &apply_path(&base, "shared", "second", false),
        APPLY,
        &cm(json!({"a": "2", "c": "2"})),
    )
    .await;
    // The same value is shared ownership, not a conflict.
    b.same(
        Method::PATCH,
        &apply_path(&base, "shared", "second", false),
        APPLY,
        &cm(json!({"a": "1", "c": "2"})),
    )
    .await;
    // Force takes the field over.
    b.same(
        Method::PATCH,
        &apply_path(&base, "shared", "second", true),
        APPLY,
        &cm(json!({"a": "3", "c": "2"})),
    )
    .await;
    // The first manager drops `b` (it owned it alone: removed) and `a` (no longer its own).
    b.same(
        Method::PATCH,
        &apply_path(&base, "shared", "first", false),
        APPLY,
        &cm(json!({})),
    )
    .await;
    // An Update manager (merge patch) conflicts with appliers too.
    b.same(
        Method::PATCH,
        &format!("{base}/shared?fieldManager=patcher"),
        MERGE,
        &json!({"data": {"c": "9"}}),
    )
    .await;
    b.same(
        Method::PATCH,
        &apply_path(&base, "shared", "second", false),
        APPLY,
        &cm(json!({"a": "3", "c": "2"})),
    )
    .await;
    // Apply without a field manager; with a YAML body; dry run.
    b.same(
        Method::PATCH,
        &format!("{base}/shared"),
        APPLY,
        &cm(json!({"a": "3"})),
    )
    .await;
    b.same(
        Method::PATCH,
        &apply_path(&base, "shared", "yaml", false),
        APPLY,
        &json!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  z: 'yes'\n"),
    )
    .await;
    b.same(
        Method::PATCH,
        &format!("{}&dryRun=All", apply_path(&base, "shared", "dry", false)),
        APPLY,
        &cm(json!({"d": "4"})),
    )
    .await;
    b.same(Method::GET, &format!("{base}/shared"), JSON, &Value::Null)
        .await;
    b.done();
}

#[tokio::test]
async fn apply_on_a_custom_resource_and_its_status() {
    let b = Both::new("apply-cr").await;
    crds::install_cache(&b).await;
    let base = format!("/apis/fixtures.kubesim.dev/v1/namespaces/{}/caches", b.ns);
    let spec = json!({"provider": "gcp", "instanceId": "c-1", "shardCount": 1, "tags": ["a", "b"], "labels": {"x": "1"}});
    b.same(
        Method::PATCH,
        &apply_path(&base, "c", "owner", false),
        APPLY,
        &cache("c", spec.clone()),
    )
    .await;
    // Another manager sharing a set item and conflicting on a scalar and a map entry.
    b.same(Method::PATCH, &apply_path(&base, "c", "other", false), APPLY, &cache("c", json!({"provider": "gcp", "instanceId": "c-1", "shardCount": 2, "tags": ["b", "c"], "labels": {"x": "2"}}))).await;
    b.same(Method::PATCH, &apply_path(&base, "c", "other", true), APPLY, &cache("c", json!({"provider": "gcp", "instanceId": "c-1", "shardCount": 2, "tags": ["b", "c"], "labels": {"x": "2"}}))).await;
    // Status through its subresource: only status changes, a map-list of conditions by key.
    let status = |conditions: Value| json!({"apiVersion": "fixtures.kubesim.dev/v1", "kind": "Cache", "metadata": {"name": "c"}, "status": {"phase": "Ready", "conditions": conditions}});
    b.same(
        Method::PATCH,
        &format!("{base}/c/status?fieldManager=controller&force=true"),
        APPLY,
        &status(json!([{"type": "Ready", "status": "True", "reason": "Up"}])),
    )
    .await;
    b.same(
        Method::PATCH,
        &format!("{base}/c/status?fieldManager=other-controller"),
        APPLY,
        &status(json!([{"type": "Ready", "status": "False", "reason": "Down"}])),
    )
    .await;
    b.same(
        Method::PATCH,
        &format!("{base}/c/status?fieldManager=other-controller"),
        APPLY,
        &status(json!([{"type": "Synced", "status": "True", "reason": "Done"}])),
    )
    .await;
    // Applying status through the main resource changes nothing in status.
    let mut main = cache("c", spec);
    main["status"] = json!({"phase": "Ignored"});
    b.same(
        Method::PATCH,
        &apply_path(&base, "c", "owner", true),
        APPLY,
        &main,
    )
    .await;
    // Invalid applied configurations.
    b.same(
        Method::PATCH,
        &apply_path(&base, "c", "owner", true),
        APPLY,
        &cache(
            "c",
            json!({"provider": "azure", "instanceId": "c-1", "shardCount": 1}),
        ),
    )
    .await;
    b.same(
        Method::PATCH,
        &apply_path(&base, "wrong", "owner", false),
        APPLY,
        &cache("c", json!({})),
    )
    .await;
    b.done();
}

#[tokio::test]
async fn kubectl_server_side_apply_conflicts() {
    let b = Both::new("apply-kubectl").await;
    crds::install_product(&b).await;
    let sample = b.file(
        "sample.yaml",
        include_str!("../../../../config/samples/aws-rediscluster.yaml"),
    );
    b.same_kubectl(&["-n", &b.ns, "apply", "--server-side", "-f", &sample])
        .await;
    b.same_kubectl(&[
        "-n",
        &b.ns,
        "patch",
        "rediscluster",
        "sessions-cache",
        "--type=merge",
        "-p",
        r#"{"spec":{"shardCount":4}}"#,
    ])
    .await;
    b.same_kubectl(&["-n", &b.ns, "apply", "--server-side", "-f", &sample])
        .await;
    b.same_kubectl(&[
        "-n",
        &b.ns,
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        &sample,
    ])
    .await;
    b.same_kubectl(&[
        "-n",
        &b.ns,
        "get",
        "rediscluster",
        "sessions-cache",
        "-o",
        "yaml",
        "--show-managed-fields",
    ])
    .await;
    b.done();
}
