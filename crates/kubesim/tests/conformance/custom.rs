//! Custom resources: the status subresource, generation, schema and CEL rejections with their
//! messages and causes, field validation.

use http::Method;
use serde_json::{Value, json};

use crate::crds::{self, cache, widget};
use crate::harness::*;

#[tokio::test]
async fn status_subresource_and_generation() {
    let b = Both::new("status").await;
    crds::install_cache(&b).await;
    let base = format!("/apis/fixtures.kubesim.dev/v1/namespaces/{}/caches", b.ns);
    let one = format!("{base}/c1");
    // Create drops status; generation starts at 1; defaults fill in.
    let mut obj = cache(
        "c1",
        json!({"provider": "gcp", "instanceId": "c-1", "shardCount": 1}),
    );
    obj["status"] = json!({"phase": "Ready"});
    b.same(Method::POST, &base, JSON, &obj).await;
    // A main-resource write changes spec (generation 2) and ignores status.
    let put = |mut current: Value| {
        current["spec"]["shardCount"] = json!(2);
        current["status"] = json!({"phase": "Ignored"});
        current
    };
    let [r, s] = b.call(Method::GET, &one, JSON, &Value::Null).await;
    let [r, s] = b
        .call_each(
            Method::PUT,
            [&one, &one],
            JSON,
            [&put(r.body), &put(s.body)],
        )
        .await;
    b.compare("PUT main resource", &r, &s);
    // Status writes change only status.
    b.same(
        Method::PATCH,
        &format!("{one}/status"),
        MERGE,
        &json!({"spec": {"shardCount": 3}, "status": {"phase": "Ready", "observedGeneration": 2}}),
    )
    .await;
    // Metadata-only changes leave the generation alone; spec changes bump it.
    b.same(
        Method::PATCH,
        &one,
        MERGE,
        &json!({"metadata": {"labels": {"a": "b"}, "annotations": {"x": "y"}}}),
    )
    .await;
    b.same(
        Method::PATCH,
        &one,
        MERGE,
        &json!({"spec": {"tier": "premium"}, "status": {"phase": "Ignored"}}),
    )
    .await;
    b.same(
        Method::PATCH,
        &one,
        MERGE,
        &json!({"spec": {"tier": "premium"}}),
    )
    .await;
    b.same(Method::GET, &format!("{one}/status"), JSON, &Value::Null)
        .await;
    // Status of a missing object; a status write without a status.
    b.same(
        Method::GET,
        &format!("{base}/missing/status"),
        JSON,
        &Value::Null,
    )
    .await;
    b.same(
        Method::PATCH,
        &format!("{one}/status"),
        JSON_PATCH,
        &json!([{"op": "remove", "path": "/status"}]),
    )
    .await;
    b.same(Method::GET, &base, JSON, &Value::Null).await;
    // The scale subresource. The real server records a write through /scale as a `scale`
    // manager without a time; kubesim as an Update of the main resource (see its README):
    // compared without managedFields.
    b.same(Method::GET, &format!("{one}/scale"), JSON, &Value::Null)
        .await;
    b.same(
        Method::PATCH,
        &format!("{one}/scale"),
        MERGE,
        &json!({"spec": {"replicas": 3}}),
    )
    .await;
    let [r, s] = b.call(Method::GET, &one, JSON, &Value::Null).await;
    let without_managers = |mut r: Reply| {
        r.body["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        r
    };
    b.compare(
        "after a write through /scale",
        &without_managers(r),
        &without_managers(s),
    );
    b.done();
}

#[tokio::test]
async fn schema_and_cel_rejections_of_our_crds() {
    let b = Both::new("rejections").await;
    crds::install_product(&b).await;
    let base = format!(
        "/apis/cache-operator.io/v1alpha1/namespaces/{}/redisclusters",
        b.ns
    );
    let good = yaml(include_str!(
        "../../../../config/samples/gcp-rediscluster.yaml"
    ));
    b.same(Method::POST, &base, JSON, &good).await;
    let bad = |name: &str, f: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        v["metadata"]["name"] = json!(name);
        f(&mut v);
        v
    };
    for v in [
        bad("azure", &|v| {
            v["spec"]["provider"] = json!("azure");
            v["spec"]["shardCount"] = json!(0);
        }),
        bad("node-type", &|v| {
            v["spec"]["nodeType"] = json!("cache.r7g.large")
        }),
        bad("no-gcp", &|v| {
            v["spec"].as_object_mut().unwrap().remove("gcp");
        }),
        bad("Upper", &|_| {}),
        bad("config", &|v| {
            v["spec"]["gcp"]["redisConfigs"] = json!({"appendonly": "yes"})
        }),
        bad("network", &|v| {
            v["spec"]["gcp"]["network"] = json!("projects/other-project/global/networks/default")
        }),
        bad("types", &|v| {
            v["spec"]["shardCount"] = json!("three");
            v["spec"]["transitEncryption"] = json!("yes");
        }),
        bad("missing", &|v| {
            v["spec"].as_object_mut().unwrap().remove("region");
            v["spec"].as_object_mut().unwrap().remove("nodeType");
        }),
    ] {
        let name = v["metadata"]["name"].as_str().unwrap().to_owned();
        b.same(Method::POST, &base, JSON, &v).await;
        b.same(
            Method::POST,
            &format!("{base}?fieldValidation=Strict"),
            JSON,
            &v,
        )
        .await;
        let _ = name;
    }
    // Transition rules on update.
    let one = format!("{base}/orders-cache");
    b.same(
        Method::PATCH,
        &one,
        MERGE,
        &json!({"spec": {"region": "europe-west1"}}),
    )
    .await;
    b.same(
        Method::PATCH,
        &one,
        MERGE,
        &json!({"spec": {"gcp": {"project": "other-proj"}, "authMode": "disabled"}}),
    )
    .await;
    // Unknown fields: pruned (with a warning) by default, refused when strict.
    let mut unknown = good.clone();
    unknown["metadata"]["name"] = json!("unknown-fields");
    unknown["spec"]["colour"] = json!("blue");
    unknown["spec"]["gcp"]["zone"] = json!("a");
    b.same(
        Method::POST,
        &format!("{base}?fieldValidation=Strict"),
        JSON,
        &unknown,
    )
    .await;
    b.same(
        Method::POST,
        &format!("{base}?fieldValidation=Ignore&dryRun=All"),
        JSON,
        &unknown,
    )
    .await;
    b.same(Method::POST, &base, JSON, &unknown).await;
    b.done();
}

#[tokio::test]
async fn cel_messages_reasons_and_field_paths() {
    let b = Both::new("cel").await;
    crds::install_widget(&b).await;
    let base = format!(
        "/apis/conformance.kubesim.dev/v1/namespaces/{}/widgets",
        b.ns
    );
    let port = |name: &str, number: i64, privileged: bool| json!({"name": name, "number": number, "privileged": privileged, "protocol": "TCP"});
    for w in [
        widget(
            "ok",
            json!({"size": "small", "ports": [port("http", 8080, false), port("ssh", 22, true)]}),
        ),
        widget(
            "low-ports",
            json!({"size": "small", "ports": [port("http", 80, false), port("dns", 53, false), port("ssh", 22, true)]}),
        ),
        widget("large", json!({"size": "large"})),
        widget("zone", json!({"size": "large", "zone": "Europe-West1"})),
        widget(
            "dupes",
            json!({"size": "small", "ports": [port("http", 8080, false), port("http", 8081, false)]}),
        ),
        widget(
            "too-many",
            json!({"size": "small", "labels": {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5"}}),
        ),
        widget("no-size", json!({"ports": [{"name": "x"}]})),
        // A rule that fails to evaluate: `privileged` is optional and absent.
        widget(
            "runtime-error",
            json!({"size": "small", "ports": [{"name": "ssh", "number": 22}]}),
        ),
        widget(
            "range",
            json!({"size": "small", "ports": [port("big", 70000, false)]}),
        ),
    ] {
        b.same(Method::POST, &base, JSON, &w).await;
    }
    let ok = format!("{base}/ok");
    b.same(Method::PATCH, &ok, MERGE, &json!({"spec": {"ports": [port("http", 8080, false), {"name": "ssh", "number": 22, "privileged": true, "protocol": "UDP"}]}})).await;
    b.same(
        Method::PATCH,
        &ok,
        JSON_PATCH,
        &json!([{"op": "replace", "path": "/spec/ports/0/protocol", "value": "UDP"}]),
    )
    .await;
    b.same(
        Method::PATCH,
        &ok,
        MERGE,
        &json!({"spec": {"color": "a-very-long-colour-name"}}),
    )
    .await;
    b.done();
}
