//! The HTTP surface kubectl relies on: discovery (legacy and aggregated), Tables with
//! printer columns, OpenAPI v3, strategic merge patch, protobuf request bodies, dry run,
//! metadata-only responses, Status errors and the admin endpoints.

mod common;

use common::{Sim, cache};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

async fn get(sim: &Sim, path: &str, accept: &str) -> (u16, String, Value) {
    let r = reqwest::Client::new()
        .get(sim.url(path))
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn discovery_legacy_and_aggregated() {
    let sim = Sim::start().await;
    sim.caches("default").await;
    let (_, _, api) = get(&sim, "/api", "application/json").await;
    assert_eq!(api["versions"], json!(["v1"]));
    let (_, _, groups) = get(&sim, "/apis", "application/json").await;
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"fixtures.kubesim.dev") && names.contains(&"coordination.k8s.io"),
        "{names:?}"
    );
    let (_, _, list) = get(&sim, "/apis/fixtures.kubesim.dev/v1", "application/json").await;
    let caches = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "caches")
        .unwrap();
    assert_eq!(caches["shortNames"], json!(["ca"]));
    assert_eq!(caches["singularName"], "cache");
    assert_eq!(caches["categories"], json!(["fixtures"]));
    assert!(
        list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "caches/status")
    );

    let agg =
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    let (_, ct, doc) = get(&sim, "/apis", agg).await;
    assert_eq!(
        ct,
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let g = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "fixtures.kubesim.dev")
        .unwrap();
    assert_eq!(g["versions"][0]["resources"][0]["scope"], "Namespaced");

    // kube's own discovery, legacy and aggregated.
    for aggregated in [false, true] {
        let d = kube::discovery::Discovery::new(sim.client.clone());
        let d = if aggregated {
            d.run_aggregated().await.unwrap()
        } else {
            d.run().await.unwrap()
        };
        assert!(d.has_group("fixtures.kubesim.dev"));
        assert!(d.has_group("events.k8s.io"));
    }
    let v = sim.client.apiserver_version().await.unwrap();
    assert_eq!(v.major, "1");
}

#[tokio::test]
async fn tables_show_printer_columns_and_builtin_columns() {
    let sim = Sim::start().await;
    let api = sim.caches("default").await;
    api.create(
        &PostParams::default(),
        &cache(
            "t",
            json!({"provider": "aws", "instanceId": "t", "shardCount": 4}),
        ),
    )
    .await
    .unwrap();
    api.patch_status("t", &Default::default(), &kube::api::Patch::Merge(json!({"status": {"phase": "Ready", "conditions": [{"type": "Ready", "status": "True"}]}})))
        .await
        .unwrap();
    let (status, ct, t) = get(
        &sim,
        "/apis/fixtures.kubesim.dev/v1/namespaces/default/caches",
        TABLE,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ct, "application/json;as=Table;v=v1;g=meta.k8s.io");
    assert_eq!(t["kind"], "Table");
    let cols: Vec<(&str, i64)> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["priority"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        cols,
        [
            ("Name", 0),
            ("Provider", 0),
            ("Shards", 0),
            ("Ready", 0),
            ("Phase", 1),
            ("Age", 0)
        ]
    );
    let cells = &t["rows"][0]["cells"];
    assert_eq!(cells[0], "t");
    assert_eq!(cells[1], "aws");
    assert_eq!(cells[2], 4);
    assert_eq!(cells[3], "True");
    assert_eq!(cells[4], "Ready");
    assert!(
        cells[5].as_str().unwrap().ends_with('s'),
        "an age: {}",
        cells[5]
    );
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");

    let (_, _, t) = get(&sim, "/api/v1/namespaces", TABLE).await;
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["Name", "Status", "Age"]);
    assert_eq!(t["rows"][0]["cells"][1], "Active");
    let (_, _, one) = get(&sim, "/api/v1/namespaces/default", TABLE).await;
    assert_eq!(one["rows"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn openapi_v3_documents() {
    let sim = Sim::start().await;
    sim.caches("default").await;
    let (_, _, idx) = get(&sim, "/openapi/v3", "application/json").await;
    let url = idx["paths"]["apis/fixtures.kubesim.dev/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _, doc) = get(&sim, &url, "application/json").await;
    assert_eq!(status, 200);
    let schema = &doc["components"]["schemas"]["dev.kubesim.fixtures.v1.Cache"];
    assert_eq!(
        schema["x-kubernetes-group-version-kind"][0]["kind"],
        "Cache"
    );
    assert_eq!(
        schema["properties"]["spec"]["properties"]["shardCount"]["maximum"],
        250
    );
    let patch = &doc["paths"]["/apis/fixtures.kubesim.dev/v1/namespaces/{namespace}/caches/{name}"]
        ["patch"];
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation")
    );
}

#[tokio::test]
async fn strategic_merge_patch_for_builtins_and_415_for_custom_resources() {
    let sim = Sim::start().await;
    let http = reqwest::Client::new();
    let cms: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "default");
    let c: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "smp", "labels": {"a": "1"}, "finalizers": ["x/y"]}, "data": {"k": "v"}})).unwrap();
    cms.create(&PostParams::default(), &c).await.unwrap();
    let r = http
        .patch(sim.url("/api/v1/namespaces/default/configmaps/smp"))
        .header("content-type", "application/strategic-merge-patch+json")
        .body(json!({"metadata": {"labels": {"b": "2"}, "finalizers": ["x/z"]}, "data": {"k": null, "n": "m"}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = cms.get("smp").await.unwrap();
    assert_eq!(got.metadata.labels.unwrap().len(), 2);
    assert_eq!(
        got.metadata.finalizers.unwrap(),
        ["x/y", "x/z"],
        "finalizers merge as a set"
    );
    assert_eq!(
        got.data.unwrap().into_iter().collect::<Vec<_>>(),
        [("n".to_string(), "m".to_string())]
    );

    let caches = sim.caches("default").await;
    caches
        .create(
            &PostParams::default(),
            &cache(
                "c",
                json!({"provider": "gcp", "instanceId": "c", "shardCount": 1}),
            ),
        )
        .await
        .unwrap();
    let r = http
        .patch(sim.url("/apis/fixtures.kubesim.dev/v1/namespaces/default/caches/c"))
        .header("content-type", "application/strategic-merge-patch+json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["reason"], "UnsupportedMediaType");
}

#[tokio::test]
async fn protobuf_bodies_from_typed_clients_are_accepted() {
    let sim = Sim::start().await;
    // A Secret as `kubectl create secret generic pb --from-literal=a=b` sends it.
    fn field(n: u8, b: &[u8]) -> Vec<u8> {
        let mut out = vec![(n << 3) | 2, b.len() as u8];
        out.extend_from_slice(b);
        out
    }
    let meta = [field(1, b"pb"), field(2, b""), field(3, b"default")].concat();
    let entry = [field(1, b"a"), field(2, b"b")].concat();
    let secret = [field(1, &meta), field(2, &entry), field(3, b"Opaque")].concat();
    let unknown = [
        field(1, &[field(1, b"v1"), field(2, b"Secret")].concat()),
        field(2, &secret),
    ]
    .concat();
    let body = [b"k8s\x00".to_vec(), unknown].concat();
    let r = reqwest::Client::new()
        .post(sim.url("/api/v1/namespaces/default/secrets?fieldManager=kubectl-create"))
        .header("content-type", "application/vnd.kubernetes.protobuf")
        .header(
            "accept",
            "application/vnd.kubernetes.protobuf,application/json",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["content-type"], "application/json");
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["data"]["a"], "Yg==");
    assert!(s["metadata"].get("generateName").is_none());
}

#[tokio::test]
async fn dry_run_metadata_only_and_errors() {
    let sim = Sim::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "default");
    let c: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "dry"}})).unwrap();
    let created = cms
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &c,
        )
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(
        cms.get_opt("dry").await.unwrap().is_none(),
        "dry runs store nothing"
    );

    cms.create(&PostParams::default(), &c).await.unwrap();
    let metas = cms.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(metas.items[0].metadata.name.as_deref(), Some("dry"));
    assert_eq!(metas.types.kind, "PartialObjectMetadataList");
    let m = cms.get_metadata("dry").await.unwrap();
    assert_eq!(m.metadata.name.as_deref(), Some("dry"));

    let (status, _, body) = get(&sim, "/apis/nope.example.com/v1/things", "application/json").await;
    assert_eq!(status, 404);
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["reason"], "NotFound");
    let r = reqwest::Client::new()
        .put(sim.url("/api/v1/namespaces/default/configmaps"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    // Namespaces have no deletecollection.
    let r = reqwest::Client::new()
        .delete(sim.url("/api/v1/namespaces"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let (_, _, nss) = get(&sim, "/api/v1/namespaces", "application/json").await;
    assert_eq!(nss["items"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn stats_count_requests_by_verb_and_resource() {
    let sim = Sim::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "default");
    let c: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "counted"}})).unwrap();
    reqwest::Client::new()
        .post(sim.url("/_kubesim/stats/reset"))
        .send()
        .await
        .unwrap();
    cms.create(&PostParams::default(), &c).await.unwrap();
    cms.get("counted").await.unwrap();
    cms.get("counted").await.unwrap();
    cms.list(&ListParams::default()).await.unwrap();
    let (_, _, stats) = get(&sim, "/_kubesim/stats", "application/json").await;
    assert_eq!(
        stats["byResource"]["configmaps"],
        json!({"create": 1, "get": 2, "list": 1})
    );
    assert_eq!(stats["total"], 4);
    assert_eq!(sim.server.stats()["byVerb"]["get"], 2);
}

#[tokio::test]
async fn watches_render_tables_and_metadata_as_asked() {
    let sim = Sim::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(sim.client.clone(), "default");
    let c: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "w"}, "data": {"a": "1"}})).unwrap();
    cms.create(&PostParams::default(), &c).await.unwrap();
    // `kubectl get -w`: Table events.
    let body = reqwest::Client::new()
        .get(sim.url("/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1"))
        .header("accept", TABLE)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let first: Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert_eq!(first["type"], "ADDED");
    assert_eq!(first["object"]["kind"], "Table");
    assert_eq!(first["object"]["rows"][0]["cells"][0], "w");
    assert_eq!(first["object"]["rows"][0]["cells"][1], 1);

    // kube's metadata watcher: PartialObjectMetadata events.
    let metas: Api<kube::core::PartialObjectMeta<ConfigMap>> =
        Api::namespaced(sim.client.clone(), "default");
    let stream = kube::runtime::watcher(metas, kube::runtime::watcher::Config::default());
    futures::pin_mut!(stream);
    use futures::StreamExt;
    loop {
        match stream.next().await.unwrap().unwrap() {
            kube::runtime::watcher::Event::InitApply(m) => {
                assert_eq!(m.metadata.name.as_deref(), Some("w"));
                break;
            }
            _ => continue,
        }
    }
}
