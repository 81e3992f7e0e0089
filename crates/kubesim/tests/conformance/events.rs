//! Events as the operator writes them (kube-rs' Recorder, events.k8s.io/v1) and as users read
//! them: through both Event APIs, `kubectl get events`, `kubectl events` and `kubectl describe`.

use http::Method;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use serde_json::{Value, json};

use crate::crds::{self, cache};
use crate::harness::*;

/// Event names end in the recorder's clock (`<object>.<hex nanoseconds>`).
fn event_names(v: Value) -> Value {
    let re = regex::Regex::new(r"\.[0-9a-f]{12,}\b").unwrap();
    serde_json::from_str(&re.replace_all(&v.to_string(), ".<n>")).unwrap()
}

fn sorted_items(mut r: Reply) -> Reply {
    if let Some(items) = r.body.get_mut("items").and_then(Value::as_array_mut) {
        items.sort_by_key(|i| (i["reason"].to_string(), i["type"].to_string()));
    }
    r.body = event_names(r.body);
    r
}

#[tokio::test]
async fn recorder_events_are_listed_by_both_event_apis_and_kubectl() {
    let b = Both::new("events").await;
    crds::install_cache(&b).await;
    let base = format!("/apis/fixtures.kubesim.dev/v1/namespaces/{}/caches", b.ns);
    let [r, s] = b
        .call(
            Method::POST,
            &base,
            JSON,
            &cache(
                "evented",
                json!({"provider": "gcp", "instanceId": "e-1", "shardCount": 1}),
            ),
        )
        .await;
    for (side, created) in [(&b.real, r), (&b.sim, s)] {
        assert_eq!(created.status, 201, "{created:?}");
        let reference = ObjectReference {
            api_version: Some("fixtures.kubesim.dev/v1".into()),
            kind: Some("Cache".into()),
            name: Some("evented".into()),
            namespace: Some(b.ns.clone()),
            uid: created.body["metadata"]["uid"].as_str().map(str::to_owned),
            resource_version: created.body["metadata"]["resourceVersion"]
                .as_str()
                .map(str::to_owned),
            field_path: None,
        };
        let recorder = Recorder::new(
            side.client.clone(),
            Reporter {
                controller: "cache-operator".into(),
                instance: Some("cache-operator-0".into()),
            },
        );
        let provisioning = Event {
            type_: EventType::Normal,
            reason: "Creating".into(),
            note: Some("creating the Memorystore cluster".into()),
            action: "Create".into(),
            secondary: None,
        };
        recorder.publish(&provisioning, &reference).await.unwrap();
        recorder.publish(&provisioning, &reference).await.unwrap();
        let failed = Event {
            type_: EventType::Warning,
            reason: "CloudFailedPrecondition".into(),
            note: Some("quota exceeded".into()),
            action: "Create".into(),
            secondary: None,
        };
        recorder.publish(&failed, &reference).await.unwrap();
    }
    let ns = b.ns.clone();
    for path in [
        format!("/apis/events.k8s.io/v1/namespaces/{ns}/events"),
        format!("/api/v1/namespaces/{ns}/events"),
        format!(
            "/api/v1/namespaces/{ns}/events?fieldSelector=involvedObject.kind%3DCache,involvedObject.name%3Devented"
        ),
        format!(
            "/apis/events.k8s.io/v1/namespaces/{ns}/events?fieldSelector=regarding.name%3Devented"
        ),
    ] {
        let [r, s] = b.call(Method::GET, &path, JSON, &Value::Null).await;
        b.compare(&path, &sorted_items(r), &sorted_items(s));
    }
    let [r, s] = b
        .call(Method::GET, "/api/v1/events", JSON, &Value::Null)
        .await;
    let mine = |r: &Reply| {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["metadata"]["namespace"] == ns.as_str())
            .count()
    };
    b.expect_eq("events across namespaces", mine(&r), mine(&s));
    // What a user types. Tables sort their rows alike; names and ages are normalised.
    let names = |s: String| event_names(json!(s)).as_str().unwrap().to_owned();
    let [r, s] = b
        .kubectl(&["-n", &ns, "get", "events", "--sort-by=.reason"])
        .await;
    b.expect_eq(
        "kubectl get events",
        names(normalize_text(&String::from_utf8_lossy(&r.stdout))),
        names(normalize_text(&String::from_utf8_lossy(&s.stdout))),
    );
    b.same_kubectl(&[
        "-n",
        &ns,
        "get",
        "events.events.k8s.io",
        "--sort-by=.reason",
    ])
    .await;
    b.same_kubectl(&["-n", &ns, "events", "--for", "cache/evented"])
        .await;
    let describe = |o: &std::process::Output| {
        let text = normalize_text(&String::from_utf8_lossy(&o.stdout));
        text[text.find("Events:").unwrap_or(0)..].to_owned()
    };
    let [r, s] = b
        .kubectl(&["-n", &ns, "describe", "cache", "evented"])
        .await;
    b.expect_eq(
        "kubectl describe: the Events section",
        describe(&r),
        describe(&s),
    );
    b.done();
}
