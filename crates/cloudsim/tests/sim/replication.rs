//! Memorystore cross-region replication over HTTP: Redis Cluster's `crossClusterReplicationConfig`
//! and Valkey's `crossInstanceReplicationConfig`. A secondary created in another region copies its
//! primary's shape and data, follows every write read-only, takes over in a switchover and keeps
//! its data when detached; every member reports the set. The data-plane tests need redis-server
//! and valkey-server.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

const EAST: &str = "us-east1";
const EUROPE: &str = "europe-west1";

fn network() -> String {
    format!("projects/{PROJECT}/global/networks/default")
}

fn name(collection: &str, region: &str, id: &str) -> String {
    format!("projects/{PROJECT}/locations/{region}/{collection}/{id}")
}

fn cluster(region: &str, id: &str) -> String {
    name("clusters", region, id)
}

fn instance(region: &str, id: &str) -> String {
    name("instances", region, id)
}

/// The body of a secondary cluster of `primary`, with what it adds of its own.
fn secondary_of(primary: &str, extra: Value) -> Value {
    let mut body = json!({
        "crossClusterReplicationConfig": {"clusterRole": "SECONDARY", "primaryCluster": {"cluster": primary}},
        "pscConfigs": [{"network": network()}],
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

/// Starts a create of `name` (`projects/P/locations/L/{collection}/ID`); returns status and body.
async fn start_create(t: &TestSim, name: &str, body: Value) -> (StatusCode, Value) {
    let (parent, id) = name.rsplit_once('/').unwrap();
    let id_param = if parent.ends_with("/clusters") {
        "clusterId"
    } else {
        "instanceId"
    };
    t.post(&format!("/v1/{parent}?{id_param}={id}"), body).await
}

/// Creates `name` and waits until it is ACTIVE.
async fn create(t: &TestSim, name: &str, body: Value) -> Value {
    let (s, op) = start_create(t, name, body).await;
    assert_eq!(s, StatusCode::OK, "{op}");
    let done = t.wait_op(&op).await;
    assert!(done.get("error").is_none(), "{done}");
    done["response"].clone()
}

async fn get(t: &TestSim, name: &str) -> Value {
    let (s, v) = t.get(&format!("/v1/{name}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

async fn patch(t: &TestSim, name: &str, mask: &str, body: Value) -> (StatusCode, Value) {
    t.patch(&format!("/v1/{name}?updateMask={mask}"), body)
        .await
}

/// Patches and waits for the operation; returns the resource it responds with.
async fn patched(t: &TestSim, name: &str, mask: &str, body: Value) -> Value {
    let (s, op) = patch(t, name, mask, body).await;
    assert_eq!(s, StatusCode::OK, "{op}");
    let done = t.wait_op(&op).await;
    assert!(done.get("error").is_none(), "{done}");
    done["response"].clone()
}

async fn delete(t: &TestSim, name: &str) {
    let (s, op) = t.delete(&format!("/v1/{name}")).await;
    assert_eq!(s, StatusCode::OK, "{op}");
    t.wait_op(&op).await;
    let (s, _) = t.get(&format!("/v1/{name}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

fn assert_error(got: &(StatusCode, Value), code: &str, says: &str) {
    let (s, v) = got;
    assert_eq!(v["error"]["status"], code, "{v}");
    let http = if code == "NOT_FOUND" { 404 } else { 400 };
    assert_eq!(s.as_u16(), http, "{v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "{message:?} should say {says:?}");
}

fn port(resource: &Value) -> u16 {
    let p = resource["discoveryEndpoints"][0]["port"]
        .as_u64()
        .unwrap_or_else(|| panic!("no discovery endpoint in {resource}"));
    u16::try_from(p).unwrap()
}

async fn con(port: u16) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("connects")
}

async fn set(port: u16, key: &str, value: &str) {
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async(&mut con(port).await)
        .await
        .expect("a primary takes writes");
}

/// Waits until `key` reads `value` on the server behind `port` (replication is asynchronous).
async fn replicated(port: u16, key: &str, value: &str) {
    let mut c = con(port).await;
    eventually(&format!("{key}={value} on port {port}"), || {
        let mut c = c.clone();
        async move {
            let got: Option<String> = redis::cmd("GET")
                .arg(key)
                .query_async(&mut c)
                .await
                .unwrap();
            (got.as_deref() == Some(value)).then_some(())
        }
    })
    .await;
    let _ = &mut c;
}

/// What a write on a read-only replica answers, exactly.
async fn write_reply(port: u16) -> String {
    Raw::plain(port)
        .await
        .unwrap()
        .cmd(&["SET", "replica-write", "x"])
        .await
}

const READONLY: &str = "-READONLY You can't write against a read only replica.";

fn config(resource: &Value) -> &Value {
    resource
        .get("crossClusterReplicationConfig")
        .or_else(|| resource.get("crossInstanceReplicationConfig"))
        .unwrap_or(&Value::Null)
}

/// The whole life of a cross-region pair on real redis-servers: a secondary in another region
/// copies the primary's shape and data and follows it read-only; a switchover (held to show
/// both UPDATING) turns the direction around; a detach leaves two writable clusters; then they
/// are deleted.
#[tokio::test]
async fn a_secondary_cluster_follows_switches_over_and_detaches() {
    let t = start(Opts {
        redis: true,
        cluster_mode: true,
        delay_ms: 30,
    })
    .await;
    let p_name = cluster(REGION, "orders");
    let s_name = cluster(EAST, "orders-east");
    let p = create(
        &t,
        &p_name,
        json!({"shardCount": 2, "replicaCount": 1, "nodeType": "REDIS_STANDARD_SMALL",
               "redisConfigs": {"maxmemory-policy": "allkeys-lru"}, "pscConfigs": [{"network": network()}]}),
    )
    .await;
    assert!(
        p.get("crossClusterReplicationConfig").is_none(),
        "a cluster that never replicated reports no config: {p}"
    );
    let (pp, p_uid) = (port(&p), p["uid"].as_str().unwrap().to_owned());
    set(pp, "before", "the secondary existed").await;

    let s = create(
        &t,
        &s_name,
        secondary_of(&p_name, json!({"replicaCount": 2})),
    )
    .await;
    assert_eq!(
        (&s["shardCount"], &s["nodeType"], &s["redisConfigs"]),
        (
            &json!(2),
            &json!("REDIS_STANDARD_SMALL"),
            &json!({"maxmemory-policy": "allkeys-lru"})
        ),
        "the secondary copies its primary's settings: {s}"
    );
    assert_eq!(s["replicaCount"], 2, "its replicas are its own");
    let s_uid = s["uid"].as_str().unwrap().to_owned();
    let membership = json!({
        "primaryCluster": {"cluster": p_name, "uid": p_uid},
        "secondaryClusters": [{"cluster": s_name, "uid": s_uid}],
    });
    let c = config(&s);
    assert_eq!(c["clusterRole"], "SECONDARY");
    assert_eq!(
        c["primaryCluster"],
        json!({"cluster": p_name, "uid": p_uid})
    );
    assert!(c.get("secondaryClusters").is_none(), "{c}");
    assert_eq!(c["membership"], membership);
    assert!(c["updateTime"].is_string());
    let p = get(&t, &p_name).await;
    let c = config(&p);
    assert_eq!(c["clusterRole"], "PRIMARY");
    assert_eq!(
        c["secondaryClusters"],
        json!([{"cluster": s_name, "uid": s_uid}])
    );
    assert!(c.get("primaryCluster").is_none(), "{c}");
    assert_eq!(c["membership"], membership);
    let (s, v) = t
        .get(&format!("/v1/{s_name}?$alt=json;enum-encoding=int"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["crossClusterReplicationConfig"]["clusterRole"], 3);

    // The secondary holds what the primary had, follows its writes, and refuses its own.
    let sp = port(&get(&t, &s_name).await);
    replicated(sp, "before", "the secondary existed").await;
    set(pp, "greeting", "hello").await;
    replicated(sp, "greeting", "hello").await;
    assert_eq!(write_reply(sp).await, READONLY);
    let mut raw = Raw::plain(sp).await.unwrap();
    let script = raw
        .cmd(&["EVAL", "return redis.call('SET', 'k', 'v')", "0"])
        .await;
    assert!(script.starts_with('-'), "scripts cannot write: {script}");
    assert_eq!(raw.cmd(&["GET", "greeting"]).await, "hello");

    // Switchover, sent to the secondary; both are UPDATING while it runs.
    t.set_delay(HOLD).await;
    let (s, op) = patch(
        &t,
        &s_name,
        "cross_cluster_replication_config",
        json!({"crossClusterReplicationConfig": {"clusterRole": "PRIMARY", "secondaryClusters": [{"cluster": p_name}]}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{op}");
    assert_eq!(op["metadata"]["verb"], "update");
    for n in [&p_name, &s_name] {
        assert_eq!(get(&t, n).await["state"], "UPDATING", "{n}");
    }
    assert_error(
        &patch(&t, &p_name, "replica_count", json!({"replicaCount": 0})).await,
        "FAILED_PRECONDITION",
        "UPDATING",
    );
    t.set_delay(30).await;
    let done = t.wait_op(&op).await;
    let now_primary = &done["response"];
    assert_eq!(now_primary["state"], "ACTIVE");
    let c = config(now_primary);
    assert_eq!(c["clusterRole"], "PRIMARY");
    assert_eq!(
        c["secondaryClusters"],
        json!([{"cluster": p_name, "uid": p_uid}])
    );
    let swapped = json!({
        "primaryCluster": {"cluster": s_name, "uid": s_uid},
        "secondaryClusters": [{"cluster": p_name, "uid": p_uid}],
    });
    assert_eq!(c["membership"], swapped);
    let old = get(&t, &p_name).await;
    assert_eq!(old["state"], "ACTIVE");
    assert_eq!(config(&old)["clusterRole"], "SECONDARY");
    assert_eq!(
        config(&old)["primaryCluster"],
        json!({"cluster": s_name, "uid": s_uid})
    );
    assert_eq!(config(&old)["membership"], swapped);

    // The new primary takes writes; the old one follows it, read-only, with all the data.
    set(sp, "after", "switchover").await;
    replicated(pp, "after", "switchover").await;
    replicated(pp, "greeting", "hello").await;
    assert_eq!(write_reply(pp).await, READONLY);

    // Detach the old primary (now a secondary): both are independent and writable.
    assert_error(
        &t.delete(&format!("/v1/{s_name}")).await,
        "FAILED_PRECONDITION",
        "detach or delete them first",
    );
    let detached = patched(
        &t,
        &p_name,
        "cross_cluster_replication_config",
        json!({"crossClusterReplicationConfig": {"clusterRole": "NONE"}}),
    )
    .await;
    assert_eq!(
        config(&detached)
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["clusterRole", "updateTime"]
    );
    assert_eq!(config(&detached)["clusterRole"], "NONE");
    let alone = get(&t, &s_name).await;
    assert_eq!(
        config(&alone)["clusterRole"],
        "NONE",
        "a primary without secondaries is independent: {alone}"
    );
    set(pp, "detached", "writable").await;
    set(sp, "also", "writable").await;
    replicated(pp, "after", "switchover").await;

    delete(&t, &p_name).await;
    delete(&t, &s_name).await;
}

/// The service's refusals, each with its code; settings that belong to the primary propagate;
/// a primary sheds secondaries one by one.
#[tokio::test]
async fn cross_cluster_replication_refusals_and_propagation() {
    let t = start(Opts::default()).await;
    let p_name = cluster(REGION, "main");
    create(
        &t,
        &p_name,
        json!({"shardCount": 1, "pscConfigs": [{"network": network()}]}),
    )
    .await;

    // Creates that the service refuses outright.
    for (body, code, says) in [
        (
            secondary_of(
                &format!("projects/other/locations/{REGION}/clusters/main"),
                json!({}),
            ),
            "INVALID_ARGUMENT",
            "must be in the project",
        ),
        (
            secondary_of(&p_name, json!({"shardCount": 3})),
            "INVALID_ARGUMENT",
            "shard_count of a secondary cluster must match",
        ),
        (
            secondary_of(&p_name, json!({"authorizationMode": "AUTH_MODE_IAM_AUTH"})),
            "INVALID_ARGUMENT",
            "authorization_mode of a secondary cluster must match",
        ),
        (
            json!({"shardCount": 1, "crossClusterReplicationConfig": {"clusterRole": "PRIMARY"}}),
            "INVALID_ARGUMENT",
            "becomes a primary",
        ),
        (
            json!({"shardCount": 1, "crossClusterReplicationConfig": {"clusterRole": "SECONDARY"}}),
            "INVALID_ARGUMENT",
            "primary_cluster.cluster is required",
        ),
        (
            secondary_of("projects/proj/clusters/main", json!({})),
            "INVALID_ARGUMENT",
            "Invalid cluster name",
        ),
        (
            secondary_of(
                &p_name,
                json!({"gcsSource": {"uris": ["gs://bucket/dump.rdb"]}}),
            ),
            "INVALID_ARGUMENT",
            "cannot import",
        ),
    ] {
        assert_error(
            &start_create(&t, &cluster(EAST, "refused"), body).await,
            code,
            says,
        );
    }
    // A primary that does not exist fails the create operation, which leaves nothing behind.
    let (s, op) = start_create(
        &t,
        &cluster(EAST, "orphan"),
        secondary_of(&cluster(REGION, "missing"), json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{op}");
    let done = t.wait_op(&op).await;
    assert_eq!(done["error"]["code"], 5, "{done}");
    let (s, _) = t.get(&format!("/v1/{}", cluster(EAST, "orphan"))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Two secondaries at most, and only of a primary.
    let s1 = cluster(EAST, "main-east");
    let s2 = cluster(EUROPE, "main-europe");
    create(&t, &s1, secondary_of(&p_name, json!({"shardCount": 1}))).await;
    create(&t, &s2, secondary_of(&p_name, json!({}))).await;
    assert_error(
        &start_create(
            &t,
            &cluster("asia-east1", "third"),
            secondary_of(&p_name, json!({})),
        )
        .await,
        "FAILED_PRECONDITION",
        "already has 2 secondary clusters",
    );
    assert_error(
        &start_create(
            &t,
            &cluster("asia-east1", "chained"),
            secondary_of(&s1, json!({})),
        )
        .await,
        "FAILED_PRECONDITION",
        "is a secondary cluster",
    );
    let p = get(&t, &p_name).await;
    let names: Vec<&Value> = config(&p)["secondaryClusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["cluster"])
        .collect();
    assert_eq!(names, [&json!(s1), &json!(s2)]);
    let seen_from_s2 = get(&t, &s2).await;
    assert_eq!(
        config(&seen_from_s2)["membership"],
        config(&p)["membership"],
        "every member reports the whole set"
    );

    // Deleting a primary with secondaries, and config changes in the wrong place.
    assert_error(
        &t.delete(&format!("/v1/{p_name}")).await,
        "FAILED_PRECONDITION",
        "detach or delete them first",
    );
    let plain = cluster(REGION, "plain");
    create(
        &t,
        &plain,
        json!({"shardCount": 1, "pscConfigs": [{"network": network()}]}),
    )
    .await;
    let mask = "cross_cluster_replication_config";
    for (target, body, code, says) in [
        (
            &plain,
            json!({"crossClusterReplicationConfig": {"clusterRole": "PRIMARY", "secondaryClusters": [{"cluster": s1}]}}),
            "FAILED_PRECONDITION",
            "does not take part in cross-region replication",
        ),
        (
            &p_name,
            json!({"crossClusterReplicationConfig": {"clusterRole": "SECONDARY", "primaryCluster": {"cluster": s1}}}),
            "FAILED_PRECONDITION",
            "switch over on that secondary",
        ),
        (
            &s1,
            json!({"crossClusterReplicationConfig": {"clusterRole": "PRIMARY", "secondaryClusters": [{"cluster": p_name}]}}),
            "INVALID_ARGUMENT",
            "must list the current primary and every other secondary",
        ),
        (
            &p_name,
            json!({"crossClusterReplicationConfig": {"clusterRole": "PRIMARY", "secondaryClusters": [{"cluster": s1}, {"cluster": plain}]}}),
            "INVALID_ARGUMENT",
            "is not a secondary of",
        ),
        (
            &p_name,
            json!({"crossClusterReplicationConfig": {"clusterRole": "PRIMARY", "secondaryClusters": []}}),
            "INVALID_ARGUMENT",
            "set cluster_role NONE",
        ),
        (
            &s1,
            json!({"crossClusterReplicationConfig": {"clusterRole": "SECONDARY", "primaryCluster": {"cluster": plain}}}),
            "INVALID_ARGUMENT",
            "cannot be changed",
        ),
    ] {
        assert_error(&patch(&t, target, mask, body).await, code, says);
    }
    assert_error(
        &patch(
            &t,
            &s1,
            "cross_cluster_replication_config,replica_count",
            json!({"replicaCount": 1}),
        )
        .await,
        "INVALID_ARGUMENT",
        "must be updated alone",
    );

    // The shape is set on the primary and follows to the secondaries; not on a secondary.
    assert_error(
        &patch(&t, &s1, "shard_count", json!({"shardCount": 2})).await,
        "FAILED_PRECONDITION",
        "is set on its primary",
    );
    let local = patched(&t, &s1, "replica_count", json!({"replicaCount": 2})).await;
    assert_eq!(local["replicaCount"], 2, "replicas are the secondary's own");
    t.set_delay(HOLD).await;
    let (s, op) = patch(&t, &p_name, "shard_count", json!({"shardCount": 3})).await;
    assert_eq!(s, StatusCode::OK, "{op}");
    for n in [&p_name, &s1, &s2] {
        let r = get(&t, n).await;
        assert_eq!(r["state"], "UPDATING", "{n}");
        assert_eq!(r["stateInfo"]["updateInfo"]["targetShardCount"], 3, "{r}");
    }
    t.set_delay(30).await;
    t.wait_op(&op).await;
    for n in [&p_name, &s1, &s2] {
        let r = get(&t, n).await;
        assert_eq!(
            (&r["state"], &r["shardCount"]),
            (&json!("ACTIVE"), &json!(3))
        );
    }
    assert_eq!(get(&t, &s1).await["replicaCount"], 2);

    // Detach one secondary from the primary's side: it keeps the other.
    let p = patched(
        &t,
        &p_name,
        mask,
        json!({"crossClusterReplicationConfig": {"clusterRole": "PRIMARY", "secondaryClusters": [{"cluster": s2}]}}),
    )
    .await;
    assert_eq!(config(&p)["clusterRole"], "PRIMARY");
    assert_eq!(config(&p)["secondaryClusters"][0]["cluster"], s2);
    assert_eq!(
        config(&get(&t, &s1).await)["clusterRole"],
        "NONE",
        "the detached secondary is independent"
    );
    let left = config(&get(&t, &s2).await)["membership"]["secondaryClusters"].clone();
    assert_eq!(left.as_array().map(Vec::len), Some(1), "{left}");
    // Deleting the last secondary leaves the primary on its own, then deletable.
    delete(&t, &s2).await;
    assert_eq!(config(&get(&t, &p_name).await)["clusterRole"], "NONE");
    delete(&t, &p_name).await;
}

/// Memorystore for Valkey the same way, on real valkey-servers, with the update masks gcloud
/// sends (`crossInstanceReplicationConfig.instanceRole,…secondaryInstances` over a body read from
/// the instance).
#[tokio::test]
async fn a_secondary_valkey_instance_follows_switches_over_and_detaches() {
    let t = start(Opts {
        redis: true,
        cluster_mode: true,
        delay_ms: 30,
    })
    .await;
    t.require_valkey();
    let psc = json!([{"projectId": PROJECT, "network": network()}]);
    let p_name = instance(REGION, "sessions");
    let s_name = instance(EAST, "sessions-east");
    let p = create(
        &t,
        &p_name,
        json!({"shardCount": 2, "engineVersion": "VALKEY_8_0", "pscAutoConnections": psc}),
    )
    .await;
    let pp = port(&p);
    set(pp, "before", "v").await;
    let secondary = |extra: Value| {
        let mut b = json!({
            "crossInstanceReplicationConfig": {"instanceRole": "SECONDARY", "primaryInstance": {"instance": p_name}},
            "pscAutoConnections": psc,
        });
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    assert_error(
        &start_create(
            &t,
            &s_name,
            secondary(json!({"engineVersion": "VALKEY_9_0"})),
        )
        .await,
        "INVALID_ARGUMENT",
        "engine_version of a secondary instance must match",
    );
    let s = create(&t, &s_name, secondary(json!({}))).await;
    assert_eq!(
        (&s["shardCount"], &s["engineVersion"], &s["mode"]),
        (&json!(2), &json!("VALKEY_8_0"), &json!("CLUSTER"))
    );
    let c = config(&s);
    assert_eq!(c["instanceRole"], "SECONDARY");
    assert_eq!(c["primaryInstance"]["instance"], p_name);
    assert_eq!(c["primaryInstance"]["uid"], p["uid"]);
    assert_eq!(c["membership"]["secondaryInstances"][0]["instance"], s_name);
    let sp = port(&s);
    replicated(sp, "before", "v").await;
    set(pp, "k", "1").await;
    replicated(sp, "k", "1").await;
    assert_eq!(write_reply(sp).await, READONLY);
    assert_error(
        &t.delete(&format!("/v1/{p_name}")).await,
        "FAILED_PRECONDITION",
        "detach or delete them first",
    );
    assert_error(
        &patch(
            &t,
            &s_name,
            "engineVersion",
            json!({"engineVersion": "VALKEY_9_0"}),
        )
        .await,
        "FAILED_PRECONDITION",
        "is set on its primary",
    );

    // Switchover as gcloud sends it: the instance as read, two masked fields changed.
    let mut body = get(&t, &s_name).await;
    body["crossInstanceReplicationConfig"]["instanceRole"] = json!("PRIMARY");
    body["crossInstanceReplicationConfig"]["secondaryInstances"] = json!([{"instance": p_name}]);
    let promoted = patched(
        &t,
        &s_name,
        "crossInstanceReplicationConfig.instanceRole%2CcrossInstanceReplicationConfig.secondaryInstances",
        body,
    )
    .await;
    let c = config(&promoted);
    assert_eq!(c["instanceRole"], "PRIMARY");
    assert!(c.get("primaryInstance").is_none(), "{c}");
    assert_eq!(c["secondaryInstances"][0]["instance"], p_name);
    assert_eq!(config(&get(&t, &p_name).await)["instanceRole"], "SECONDARY");
    set(sp, "after", "2").await;
    replicated(pp, "after", "2").await;
    assert_eq!(write_reply(pp).await, READONLY);

    // Detach from the primary's side with the role alone.
    let mut body = get(&t, &s_name).await;
    body["crossInstanceReplicationConfig"]["instanceRole"] = json!("NONE");
    let alone = patched(
        &t,
        &s_name,
        "crossInstanceReplicationConfig.instanceRole",
        body,
    )
    .await;
    assert_eq!(config(&alone)["instanceRole"], "NONE");
    assert_eq!(config(&get(&t, &p_name).await)["instanceRole"], "NONE");
    set(pp, "free", "3").await;
    delete(&t, &p_name).await;
    delete(&t, &s_name).await;
}
