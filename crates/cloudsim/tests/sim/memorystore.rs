//! Memorystore for Redis Cluster v1 over HTTP: lifecycle, LROs, requestId replay, pagination, patch rules
//! and the google.rpc error shapes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

fn parent() -> String {
    format!("/v1/projects/{PROJECT}/locations/{REGION}")
}

fn body() -> Value {
    json!({"shardCount": 3, "pscConfigs": [{"network": format!("projects/{PROJECT}/global/networks/default")}]})
}

const RID: &str = "7f0d3c3e-6b1a-4e0e-9a55-3a1f1c0c0001";

#[tokio::test]
async fn cluster_moves_creating_active_deleting_gone() {
    let t = start(Opts {
        delay_ms: HOLD,
        ..Opts::default()
    })
    .await;
    let (s, op) = t
        .post(
            &format!("{}/clusters?clusterId=orders-cache", parent()),
            body(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{op}");
    assert!(
        op.get("done").is_none(),
        "a fresh operation is not done: {op}"
    );
    assert_eq!(op["metadata"]["verb"], "create");
    assert_eq!(
        op["metadata"]["@type"],
        "type.googleapis.com/google.cloud.redis.cluster.v1.OperationMetadata"
    );
    let name = format!("projects/{PROJECT}/locations/{REGION}/clusters/orders-cache");
    assert_eq!(op["metadata"]["target"], name);

    let (_, creating) = t.get(&format!("/v1/{name}")).await;
    assert_eq!(creating["state"], "CREATING");
    assert!(
        creating.get("discoveryEndpoints").is_none(),
        "no endpoints while CREATING: {creating}"
    );

    t.set_delay(0).await;
    let done = t.wait_op(&op).await;
    let c = &done["response"];
    assert_eq!(
        c["@type"],
        "type.googleapis.com/google.cloud.redis.cluster.v1.Cluster"
    );
    assert_eq!(c["state"], "ACTIVE");
    assert!(done["metadata"]["endTime"].is_string());

    let (_, active) = t.get(&format!("/v1/{name}")).await;
    assert_eq!(active["state"], "ACTIVE");
    assert_eq!(active["nodeType"], "REDIS_HIGHMEM_MEDIUM");
    assert_eq!(active["shardCount"], 3);
    assert_eq!(active["replicaCount"], 0);
    assert_eq!(active["sizeGb"], 39);
    assert_eq!(active["authorizationMode"], "AUTH_MODE_DISABLED");
    assert_eq!(
        active["transitEncryptionMode"],
        "TRANSIT_ENCRYPTION_MODE_DISABLED"
    );
    assert_eq!(
        active["discoveryEndpoints"][0]["port"], 6379,
        "no Redis: the documented port"
    );
    assert_eq!(active["pscConnections"].as_array().map(Vec::len), Some(2));
    assert_eq!(active["uid"].as_str().map(str::len), Some(21));
    assert!(active["createTime"].as_str().unwrap().ends_with('Z'));

    t.set_delay(HOLD).await;
    let (s, del) = t.delete(&format!("/v1/{name}")).await;
    assert_eq!(s, StatusCode::OK, "{del}");
    let (_, deleting) = t.get(&format!("/v1/{name}")).await;
    assert_eq!(deleting["state"], "DELETING");
    t.set_delay(0).await;
    let done = t.wait_op(&del).await;
    assert_eq!(
        done["response"]["@type"],
        "type.googleapis.com/google.protobuf.Empty"
    );
    let (s, gone) = t.get(&format!("/v1/{name}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        gone,
        json!({"error": {"code": 404, "message": format!("Resource '{name}' was not found"), "status": "NOT_FOUND"}})
    );
}

#[tokio::test]
async fn same_request_id_returns_the_original_operation_and_never_creates_twice() {
    let t = start(Opts::default()).await;
    let url = format!("{}/clusters?clusterId=idem&requestId={RID}", parent());
    let (_, first) = t.post(&url, body()).await;
    let (s, again) = t.post(&url, body()).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(first["name"], again["name"]);
    t.wait_op(&first).await;
    let (s, after_done) = t.post(&url, body()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(after_done["name"], first["name"]);
    assert_eq!(
        after_done["done"], true,
        "the replayed operation shows its current state"
    );

    let (_, list) = t.get(&format!("{}/clusters", parent())).await;
    assert_eq!(list["clusters"].as_array().unwrap().len(), 1);

    let other = "7f0d3c3e-6b1a-4e0e-9a55-3a1f1c0c0002";
    let (s, e) = t
        .post(
            &format!("{}/clusters?clusterId=idem&requestId={other}", parent()),
            body(),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"]["status"], "ALREADY_EXISTS");
    let (s, _) = t
        .post(&format!("{}/clusters?clusterId=idem", parent()), body())
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    let (s, e) = t
        .post(
            &format!("{}/clusters?clusterId=other&requestId=not-a-uuid", parent()),
            body(),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["status"], "INVALID_ARGUMENT");

    // Patch and delete replay the same way.
    let name = format!("/v1/projects/{PROJECT}/locations/{REGION}/clusters/idem");
    let patch_url = format!("{name}?updateMask=shard_count&requestId={other}");
    let (_, p1) = t.patch(&patch_url, json!({"shardCount": 4})).await;
    let (s, p2) = t.patch(&patch_url, json!({"shardCount": 4})).await;
    assert_eq!(s, StatusCode::OK, "{p2}");
    assert_eq!(p1["name"], p2["name"]);
    t.wait_op(&p1).await;
    let del_url = format!("{name}?requestId={RID}");
    let (_, d1) = t.delete(&del_url).await;
    let (s, d2) = t.delete(&del_url).await;
    assert_eq!(s, StatusCode::OK, "{d2}");
    assert_eq!(d1["name"], d2["name"]);
}

#[tokio::test]
async fn list_paginates_and_spans_locations() {
    let t = start(Opts {
        delay_ms: 0,
        ..Opts::default()
    })
    .await;
    for i in 0..7 {
        let (s, v) = t
            .post(&format!("{}/clusters?clusterId=c{i}", parent()), body())
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    for i in 0..2 {
        let (s, v) = t
            .post(
                &format!("/v1/projects/{PROJECT}/locations/europe-west1/clusters?clusterId=e{i}"),
                body(),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut url = format!("{}/clusters?pageSize=3", parent());
        if let Some(t) = &token {
            url.push_str(&format!("&pageToken={t}"));
        }
        let (s, v) = t.get(&url).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        pages += 1;
        for c in v["clusters"].as_array().unwrap() {
            names.push(c["name"].as_str().unwrap().to_owned());
        }
        match v["nextPageToken"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names.len(), 7);
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, names, "no duplicates, stable order");

    let (_, all) = t
        .get(&format!("/v1/projects/{PROJECT}/locations/-/clusters"))
        .await;
    assert_eq!(all["clusters"].as_array().unwrap().len(), 9);
    let (s, e) = t.get(&format!("{}/clusters?pageToken=!!!", parent())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["status"], "INVALID_ARGUMENT");
}

#[tokio::test]
async fn patch_goes_through_updating_and_refuses_what_cannot_change() {
    let t = start(Opts::default()).await;
    t.create_cluster("scale-me", body()).await;
    let name = format!("/v1/projects/{PROJECT}/locations/{REGION}/clusters/scale-me");

    t.set_delay(HOLD).await;
    let (s, op) = t
        .patch(
            &format!("{name}?updateMask=shard_count"),
            json!({"shardCount": 6}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{op}");
    assert_eq!(op["metadata"]["verb"], "update");
    let (_, updating) = t.get(&name).await;
    assert_eq!(updating["state"], "UPDATING");
    assert_eq!(updating["stateInfo"]["updateInfo"]["targetShardCount"], 6);
    assert_eq!(
        updating["shardCount"], 3,
        "the old value until the update finishes"
    );

    let (s, busy) = t
        .patch(
            &format!("{name}?updateMask=replicaCount"),
            json!({"replicaCount": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(busy["error"]["status"], "FAILED_PRECONDITION");
    let (s, busy) = t.delete(&name).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(busy["error"]["status"], "FAILED_PRECONDITION");

    t.set_delay(0).await;
    let done = t.wait_op(&op).await;
    assert_eq!(done["response"]["shardCount"], 6);
    assert_eq!(done["response"]["sizeGb"], 78);
    let (_, active) = t.get(&name).await;
    assert_eq!(active["state"], "ACTIVE");
    assert!(active.get("stateInfo").is_none());

    let (s, op) = t
        .patch(
            &format!("{name}?updateMask=replicaCount,nodeType"),
            json!({"replicaCount": 2, "nodeType": "REDIS_STANDARD_SMALL"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{op}");
    let done = t.wait_op(&op).await;
    assert_eq!(done["response"]["replicaCount"], 2);
    assert_eq!(done["response"]["nodeType"], "REDIS_STANDARD_SMALL");
    assert_eq!(done["response"]["sizeGb"], 39);

    for (mask, body) in [
        (
            "authorization_mode",
            json!({"authorizationMode": "AUTH_MODE_IAM_AUTH"}),
        ),
        (
            "transitEncryptionMode",
            json!({"transitEncryptionMode": "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION"}),
        ),
        ("psc_configs", json!({})),
    ] {
        let (s, e) = t.patch(&format!("{name}?updateMask={mask}"), body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{mask}");
        assert_eq!(e["error"]["status"], "INVALID_ARGUMENT");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("cannot be updated"),
            "{e}"
        );
    }
    let (s, e) = t.patch(&name, json!({"shardCount": 2})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("update_mask")
    );
    let (s, e) = t
        .patch(
            &format!("{name}?updateMask=shard_count"),
            json!({"shardCount": 0}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
}

#[tokio::test]
async fn invalid_requests_get_google_rpc_errors() {
    let t = start(Opts::default()).await;
    let (s, e) = t
        .post(&format!("{}/clusters?clusterId=Bad_Id", parent()), body())
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], 400);
    assert_eq!(e["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(
        e["error"]["details"][0]["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );
    assert_eq!(
        e["error"]["details"][0]["fieldViolations"][0]["field"],
        "cluster_id"
    );

    let (s, e) = t
        .post(
            &format!("{}/clusters?clusterId=ok", parent()),
            json!({"shardCount": 1, "nodeType": "REDIS_GIANT"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        e["error"]["message"],
        "Invalid value at 'cluster.node_type' (type.googleapis.com/google.cloud.redis.cluster.v1.NodeType), \"REDIS_GIANT\""
    );
    let (s, e) = t
        .post(
            &format!("{}/clusters?clusterId=ok", parent()),
            json!({"shardCount": 1, "labels": {"a": "b"}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unknown name \"labels\""),
        "{e}"
    );
    let (s, _) = t.post(&format!("{}/clusters", parent()), body()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "clusterId is required");

    let protected = json!({"shardCount": 1, "deletionProtectionEnabled": true});
    t.create_cluster("protected", protected).await;
    let name = format!("/v1/projects/{PROJECT}/locations/{REGION}/clusters/protected");
    let (s, e) = t.delete(&name).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["status"], "FAILED_PRECONDITION");
    let (_, op) = t
        .patch(
            &format!("{name}?updateMask=deletion_protection_enabled"),
            json!({"deletionProtectionEnabled": false}),
        )
        .await;
    t.wait_op(&op).await;
    let (s, op) = t.delete(&name).await;
    assert_eq!(s, StatusCode::OK, "{op}");

    let (s, e) = t.get("/v1/projects/p/locations/l/widgets").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(e["error"]["status"], "NOT_FOUND");
}

#[tokio::test]
async fn enums_are_numbers_when_the_client_asks_for_int_encoding() {
    let t = start(Opts::default()).await;
    t.create_cluster(
        "ints",
        json!({"shardCount": 1, "nodeType": 4, "persistenceConfig": {"mode": 3, "aofConfig": {"appendFsync": 2}}}),
    )
    .await;
    let (_, v) = t.get(&format!("/v1/projects/{PROJECT}/locations/{REGION}/clusters/ints?%24alt=json%3Benum-encoding%3Dint")).await;
    assert_eq!(v["state"], 2);
    assert_eq!(v["nodeType"], 4);
    assert_eq!(
        v["persistenceConfig"],
        json!({"mode": 3, "aofConfig": {"appendFsync": 2}})
    );
    let (_, v) = t
        .get(&format!(
            "/v1/projects/{PROJECT}/locations/{REGION}/clusters/ints"
        ))
        .await;
    assert_eq!(v["nodeType"], "REDIS_STANDARD_SMALL");
    assert_eq!(v["persistenceConfig"]["mode"], "AOF");
}

#[tokio::test]
async fn tls_clusters_return_the_simulator_ca() {
    let t = start(Opts::default()).await;
    t.create_cluster("tls", json!({"shardCount": 1, "transitEncryptionMode": "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION"}))
        .await;
    let name = format!("projects/{PROJECT}/locations/{REGION}/clusters/tls");
    let (s, ca) = t.get(&format!("/v1/{name}/certificateAuthority")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ca["name"], format!("{name}/certificateAuthority"));
    let pem = ca["managedServerCa"]["caCerts"][0]["certificates"][0]
        .as_str()
        .unwrap();
    let served = t
        .http
        .get(format!("{}/_cloudsim/ca.pem", t.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(pem, served);
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
}

#[tokio::test]
async fn operations_and_locations_can_be_listed() {
    let t = start(Opts::default()).await;
    t.create_cluster("a", body()).await;
    t.create_cluster("b", body()).await;
    let (s, ops) = t.get(&format!("{}/operations", parent())).await;
    assert_eq!(s, StatusCode::OK);
    let ops = ops["operations"].as_array().unwrap().clone();
    assert_eq!(ops.len(), 2);
    assert!(ops.iter().all(|o| o["done"] == true));
    let (_, page) = t.get(&format!("{}/operations?pageSize=1", parent())).await;
    assert_eq!(page["operations"].as_array().unwrap().len(), 1);
    assert!(page["nextPageToken"].is_string());

    let op_name = ops[0]["name"].as_str().unwrap();
    let (s, e) = t
        .call(
            Method::POST,
            &format!("/v1/{op_name}:cancel"),
            Some(json!({})),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, _) = t.delete(&format!("/v1/{op_name}")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = t.get(&format!("/v1/{op_name}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, locs) = t.get(&format!("/v1/projects/{PROJECT}/locations")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        locs["locations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["locationId"] == REGION)
    );
    let (s, loc) = t
        .get(&format!("/v1/projects/{PROJECT}/locations/{REGION}"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        loc["name"],
        format!("projects/{PROJECT}/locations/{REGION}")
    );
}

#[tokio::test]
async fn bearer_tokens_must_be_valid_when_present() {
    let t = start(Opts::default()).await;
    let list = format!("{}/clusters", parent());
    let (s, _) = t.get(&list).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "no Authorization header is accepted (gcloud with disable_credentials)"
    );
    let (s, e) = t
        .call(Method::GET, &list, None, Some("ya29.not-minted-here"))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(e["error"]["status"], "UNAUTHENTICATED");

    let (_, minted) = t
        .post(
            "/_cloudsim/gcp/tokens",
            json!({"principal": "user:dev@example.com"}),
        )
        .await;
    let token = minted["accessToken"].as_str().unwrap();
    let (s, _) = t.call(Method::GET, &list, None, Some(token)).await;
    assert_eq!(s, StatusCode::OK);

    let (_, expired) = t
        .post(
            "/_cloudsim/gcp/tokens",
            json!({"principal": "user:dev@example.com", "lifetimeSeconds": 0}),
        )
        .await;
    let (s, e) = t
        .call(Method::GET, &list, None, expired["accessToken"].as_str())
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{e}");
}

#[tokio::test]
async fn the_newer_node_types_are_accepted_with_their_capacities() {
    let t = start(Opts::default()).await;
    for (id, node_type, number, size_gb) in [
        ("highcpu", "REDIS_HIGHCPU_MEDIUM", 7, 26),
        ("standard-large", "REDIS_STANDARD_LARGE", 8, 52),
        ("highmem-2xl", "REDIS_HIGHMEM_2XLARGE", 9, 220),
    ] {
        let c = t
            .create_cluster(id, json!({"shardCount": 2, "nodeType": node_type}))
            .await;
        assert_eq!(c["nodeType"], node_type);
        assert_eq!(c["sizeGb"], size_gb, "{node_type}");
        let (_, v) = t
            .get(&format!(
                "/v1/projects/{PROJECT}/locations/{REGION}/clusters/{id}?%24alt=json%3Benum-encoding%3Dint"
            ))
            .await;
        assert_eq!(v["nodeType"], number, "{node_type}");
    }
    let name = format!("/v1/projects/{PROJECT}/locations/{REGION}/clusters/highcpu");
    let (s, op) = t
        .patch(
            &format!("{name}?updateMask=node_type"),
            json!({"nodeType": "REDIS_HIGHMEM_2XLARGE"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{op}");
    let done = t.wait_op(&op).await;
    assert_eq!(done["response"]["nodeType"], "REDIS_HIGHMEM_2XLARGE");
    assert_eq!(done["response"]["sizeGb"], 220);
}

#[tokio::test]
async fn unknown_query_parameters_are_refused_as_transcoding_does() {
    let t = start(Opts::default()).await;
    // A misspelt requestId would otherwise lose idempotency without anyone noticing.
    let (s, e) = t
        .post(
            &format!("{}/clusters?clusterId=typo&request_id_x={RID}", parent()),
            body(),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let message = "Invalid JSON payload received. Unknown name \"request_id_x\": Cannot bind query parameter. \
                   Field 'request_id_x' could not be found in request message.";
    assert_eq!(
        e,
        json!({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                         "fieldViolations": [{"description": message}]}]}})
    );
    let (s, _) = t
        .get(&format!(
            "/v1/projects/{PROJECT}/locations/{REGION}/clusters/typo"
        ))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing was created");

    // Fields of one method are unknown to another; system parameters and snake_case are fine.
    let (s, e) = t
        .get(&format!("{}/clusters?requestId={RID}", parent()))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, e) = t
        .get(&format!(
            "{}/clusters?page_size=5&alt=json&%24prettyPrint=false&fields=clusters",
            parent()
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    let (s, op) = t
        .post(
            &format!("{}/clusters?cluster_id=snake&request_id={RID}", parent()),
            body(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{op}");
    let (s, e) = t
        .call(
            Method::POST,
            &format!("/v1/projects/{PROJECT}:getIamPolicy?version=3"),
            Some(json!({})),
            None,
        )
        .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "body \"*\" leaves nothing to the query: {e}"
    );
}

async fn advance_clock(t: &TestSim, seconds: u64) -> Value {
    let (s, v) = t
        .post("/_cloudsim/clock", json!({"advanceSeconds": seconds}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

async fn cluster_exists(t: &TestSim, id: &str) -> bool {
    let (s, _) = t
        .get(&format!(
            "/v1/projects/{PROJECT}/locations/{REGION}/clusters/{id}"
        ))
        .await;
    s == StatusCode::OK
}

/// A repeated requestId answers with the first operation for the whole window, whatever became
/// of it: a create that failed is not tried again, a cluster deleted since is not created again.
/// Only a new id (or the end of the window) starts over.
#[tokio::test]
async fn a_repeated_request_id_replays_the_first_operation_for_its_window() {
    let t = start(Opts::default()).await;
    let url = |id: &str, rid: &str| format!("{}/clusters?clusterId={id}&requestId={rid}", parent());

    // A create whose operation fails.
    let (s, v) = t
        .put(
            "/_cloudsim/faults",
            json!({"operationFailures": 1, "operations": ["clusters.create"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, first) = t.post(&url("failing", RID), body()).await;
    let done = t.wait_op(&first).await;
    assert_eq!(done["error"]["code"], 13, "{done}");
    assert!(
        !cluster_exists(&t, "failing").await,
        "a failed create leaves no cluster"
    );
    let (s, again) = t.post(&url("failing", RID), body()).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(
        again["name"], first["name"],
        "the failed operation, replayed"
    );
    assert_eq!(again["error"]["code"], 13);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(
        !cluster_exists(&t, "failing").await,
        "nothing was tried again"
    );
    // Deleting the operation does not end the replay either.
    let (s, _) = t
        .delete(&format!("/v1/{}", first["name"].as_str().unwrap()))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, again) = t.post(&url("failing", RID), body()).await;
    assert_eq!(again["name"], first["name"]);
    // A new attempt, with a new id, creates it.
    let other = "7f0d3c3e-6b1a-4e0e-9a55-3a1f1c0c0003";
    let (_, retry) = t.post(&url("failing", other), body()).await;
    assert_ne!(retry["name"], first["name"]);
    let done = t.wait_op(&retry).await;
    assert!(done.get("error").is_none(), "{done}");
    assert!(cluster_exists(&t, "failing").await);

    // A cluster deleted behind the creator's back is not created again by its create request.
    let (_, created) = t.post(&url("gone", RID), body()).await;
    t.wait_op(&created).await;
    let name = format!("/v1/projects/{PROJECT}/locations/{REGION}/clusters/gone");
    let (_, del) = t.delete(&name).await;
    t.wait_op(&del).await;
    assert!(!cluster_exists(&t, "gone").await);
    let (s, replayed) = t.post(&url("gone", RID), body()).await;
    assert_eq!(s, StatusCode::OK, "{replayed}");
    assert_eq!(replayed["name"], created["name"]);
    assert_eq!(replayed["done"], true);
    assert_eq!(
        replayed["response"]["state"], "ACTIVE",
        "the old answer, not the truth"
    );
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!cluster_exists(&t, "gone").await, "replay only: no cluster");

    // The window is counted on the simulator's clock: 60 minutes by default.
    advance_clock(&t, 59 * 60).await;
    let (_, replayed) = t.post(&url("gone", RID), body()).await;
    assert_eq!(replayed["name"], created["name"], "still inside the window");
    advance_clock(&t, 2 * 60).await;
    let (s, fresh) = t.post(&url("gone", RID), body()).await;
    assert_eq!(s, StatusCode::OK, "{fresh}");
    assert_ne!(
        fresh["name"], created["name"],
        "after the window the request is new"
    );
    let done = t.wait_op(&fresh).await;
    assert!(done.get("error").is_none(), "{done}");
    assert!(cluster_exists(&t, "gone").await);
}

/// An update whose operation fails leaves the cluster as it was; repeating its requestId
/// replays the failure instead of trying again.
#[tokio::test]
async fn a_failed_update_is_replayed_not_retried() {
    let t = start(Opts::default()).await;
    t.create_cluster("upd", body()).await;
    let name = format!("/v1/projects/{PROJECT}/locations/{REGION}/clusters/upd");
    t.put(
        "/_cloudsim/faults",
        json!({"operationFailures": 1, "operations": ["clusters.patch"]}),
    )
    .await;
    let url = format!("{name}?updateMask=shard_count&requestId={RID}");
    let (_, op) = t.patch(&url, json!({"shardCount": 5})).await;
    let done = t.wait_op(&op).await;
    assert_eq!(done["error"]["code"], 13, "{done}");
    let (_, c) = t.get(&name).await;
    assert_eq!(
        (c["state"].clone(), c["shardCount"].clone()),
        (json!("ACTIVE"), json!(3))
    );
    let (_, again) = t.patch(&url, json!({"shardCount": 5})).await;
    assert_eq!(again["name"], op["name"]);
    let (_, c) = t.get(&name).await;
    assert_eq!(c["state"], "ACTIVE", "not updating again");
}
