//! Day-2 operations on Memorystore for Redis Cluster over HTTP: the maintenance policy and
//! schedule, automated and on-demand backups in a backup collection, restores from a managed
//! backup or Cloud Storage with the real data, exports, and CMEK.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

fn parent() -> String {
    format!("/v1/projects/{PROJECT}/locations/{REGION}")
}

fn cluster_name(id: &str) -> String {
    format!("projects/{PROJECT}/locations/{REGION}/clusters/{id}")
}

fn body() -> Value {
    json!({"shardCount": 1, "pscConfigs": [{"network": format!("projects/{PROJECT}/global/networks/default")}]})
}

fn with(mut v: Value, key: &str, field: Value) -> Value {
    v[key] = field;
    v
}

async fn create_error(t: &TestSim, id: &str, body: Value) -> Value {
    let (s, e) = t
        .post(&format!("{}/clusters?clusterId={id}", parent()), body)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["status"], "INVALID_ARGUMENT", "{e}");
    e
}

/// Starts a create and returns its finished operation (which may have failed).
async fn create_op(t: &TestSim, id: &str, body: Value) -> Value {
    let (s, op) = t
        .post(&format!("{}/clusters?clusterId={id}", parent()), body)
        .await;
    assert_eq!(s, StatusCode::OK, "{op}");
    t.wait_op(&op).await
}

async fn backup(t: &TestSim, cluster: &str, body: Value) -> (StatusCode, Value) {
    t.post(&format!("/v1/{}:backup", cluster_name(cluster)), body)
        .await
}

async fn list_backups(t: &TestSim, collection: &str) -> Vec<Value> {
    let (s, v) = t.get(&format!("/v1/{collection}/backups")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["backups"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_maintenance_policy_is_checked_stored_and_scheduled() {
    let t = start(Opts::default()).await;
    let window = |day: &str, start: Value| json!({"weeklyMaintenanceWindow": [{"day": day, "startTime": start}]});
    for bad in [
        window("SUNDAY", json!({"hours": 3, "minutes": 30})),
        window("SUNDAY", json!({"hours": 24})),
        window("FUNDAY", json!({"hours": 3})),
        json!({"weeklyMaintenanceWindow": [
            {"day": "SUNDAY", "startTime": {"hours": 3}},
            {"day": "MONDAY", "startTime": {"hours": 3}}
        ]}),
    ] {
        create_error(&t, "policy", with(body(), "maintenancePolicy", bad)).await;
    }
    let c = t
        .create_cluster(
            "policy",
            with(
                body(),
                "maintenancePolicy",
                window("SUNDAY", json!({"hours": 3})),
            ),
        )
        .await;
    let policy = &c["maintenancePolicy"];
    assert_eq!(
        policy["weeklyMaintenanceWindow"],
        json!([{"day": "SUNDAY", "startTime": {"hours": 3}}])
    );
    assert!(
        policy["createTime"].is_string() && policy["updateTime"].is_string(),
        "{policy}"
    );
    assert!(
        c.get("maintenanceSchedule").is_none(),
        "nothing scheduled yet: {c}"
    );
    let (_, ints) = t
        .get(&format!(
            "/v1/{}?$alt=json;enum-encoding=int",
            cluster_name("policy")
        ))
        .await;
    assert_eq!(
        ints["maintenancePolicy"]["weeklyMaintenanceWindow"][0]["day"],
        7
    );

    // gcloud's `--maintenance-window-day/--maintenance-window-hour` send the mask `maintenance_window`.
    let (s, op) = t
        .patch(
            &format!(
                "/v1/{}?updateMask=maintenance_window",
                cluster_name("policy")
            ),
            json!({"maintenancePolicy": window("WEDNESDAY", json!({"hours": 22}))}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{op}");
    let done = t.wait_op(&op).await;
    let updated = &done["response"]["maintenancePolicy"];
    assert_eq!(updated["weeklyMaintenanceWindow"][0]["day"], "WEDNESDAY");
    assert_eq!(updated["createTime"], policy["createTime"], "created once");

    // The service publishes upcoming maintenance in `maintenanceSchedule`, inside the window.
    let (s, v) = t
        .post(
            "/_cloudsim/gcp/maintenance",
            json!({"name": cluster_name("policy")}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, c) = t.get(&format!("/v1/{}", cluster_name("policy"))).await;
    let start = c["maintenanceSchedule"]["startTime"]
        .as_str()
        .unwrap()
        .to_owned();
    let end = c["maintenanceSchedule"]["endTime"]
        .as_str()
        .unwrap()
        .to_owned();
    let start: jiff::Timestamp = start.parse().unwrap();
    let end: jiff::Timestamp = end.parse().unwrap();
    let zoned = start.to_zoned(jiff::tz::TimeZone::UTC);
    assert_eq!(zoned.weekday(), jiff::civil::Weekday::Wednesday);
    assert_eq!((zoned.hour(), zoned.minute()), (22, 0));
    assert_eq!(
        end.duration_since(start).as_secs(),
        3600,
        "one-hour windows"
    );
    // Once the clock passes it, the maintenance is done.
    let (s, _) = t
        .post("/_cloudsim/clock", json!({"advanceSeconds": 8 * 24 * 3600}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, c) = t.get(&format!("/v1/{}", cluster_name("policy"))).await;
    assert!(c.get("maintenanceSchedule").is_none(), "{c}");

    // `--maintenance-window-any` removes the policy.
    let (_, op) = t
        .patch(
            &format!(
                "/v1/{}?updateMask=maintenance_window",
                cluster_name("policy")
            ),
            json!({}),
        )
        .await;
    let done = t.wait_op(&op).await;
    assert!(
        done["response"].get("maintenancePolicy").is_none(),
        "{done}"
    );
}

#[tokio::test]
async fn automated_backups_are_configured_and_taken_daily() {
    let t = start(Opts::default()).await;
    let config = |v: Value| with(body(), "automatedBackupConfig", v);
    for bad in [
        json!({"automatedBackupMode": "ENABLED", "fixedFrequencySchedule": {"startTime": {"hours": 5}}, "retention": "3600s"}),
        json!({"automatedBackupMode": "ENABLED", "fixedFrequencySchedule": {"startTime": {"hours": 5}}, "retention": "31622400s"}),
        json!({"automatedBackupMode": "ENABLED", "fixedFrequencySchedule": {"startTime": {"hours": 5, "minutes": 15}}}),
        json!({"automatedBackupMode": "ENABLED"}),
        json!({"automatedBackupMode": "WEEKLY"}),
    ] {
        create_error(&t, "daily", config(bad)).await;
    }
    let c = t
        .create_cluster(
            "daily",
            config(json!({"automatedBackupMode": "ENABLED",
                          "fixedFrequencySchedule": {"startTime": {"hours": 5}},
                          "retention": "604800s"})),
        )
        .await;
    assert_eq!(
        c["automatedBackupConfig"],
        json!({"automatedBackupMode": "ENABLED",
               "fixedFrequencySchedule": {"startTime": {"hours": 5}},
               "retention": "604800s"})
    );
    let other = t
        .create_cluster(
            "default-retention",
            config(json!({"automatedBackupMode": "ENABLED",
                          "fixedFrequencySchedule": {"startTime": {"hours": 5}}})),
        )
        .await;
    assert_eq!(
        other["automatedBackupConfig"]["retention"], "3024000s",
        "35 days"
    );

    // A day on the simulator's clock passes 05:00 UTC once: one automated backup each.
    let (s, v) = t
        .post("/_cloudsim/clock", json!({"advanceSeconds": 24 * 3600}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, c) = t.get(&format!("/v1/{}", cluster_name("daily"))).await;
    let collection = c["backupCollection"]
        .as_str()
        .expect("a backup collection")
        .to_owned();
    let backups = eventually("the automated backup", || async {
        let b = list_backups(&t, &collection).await;
        (b.len() == 1 && b[0]["state"] == "ACTIVE").then_some(b)
    })
    .await;
    let b = &backups[0];
    assert_eq!(b["backupType"], "AUTOMATED");
    assert_eq!(b["cluster"], cluster_name("daily"));
    let created: jiff::Timestamp = b["createTime"].as_str().unwrap().parse().unwrap();
    let expires: jiff::Timestamp = b["expireTime"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires.duration_since(created).as_secs(), 7 * 24 * 3600);
}

#[tokio::test]
async fn on_demand_backups_restore_export_and_outlive_their_cluster() {
    let t = start(Opts {
        redis: true,
        ..Opts::default()
    })
    .await;
    let source = t.create_cluster("source", body()).await;
    let mut con = Raw::plain(discovery_port(&source)).await.unwrap();
    assert_eq!(con.cmd(&["SET", "cart:1", "three items"]).await, "+OK");

    t.set_delay(HOLD).await;
    let (s, op) = backup(
        &t,
        "source",
        json!({"backupId": "before-upgrade", "ttl": "86400s"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{op}");
    assert_eq!(op["metadata"]["verb"], "backup");
    let (s, e) = backup(&t, "source", json!({"backupId": "another"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(
        e["error"]["status"], "FAILED_PRECONDITION",
        "one backup at a time: {e}"
    );
    let (s, e) = t
        .patch(
            &format!("/v1/{}?updateMask=replica_count", cluster_name("source")),
            json!({"replicaCount": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(
        e["error"]["status"], "FAILED_PRECONDITION",
        "no update during a backup"
    );
    t.set_delay(30).await;
    let done = t.wait_op(&op).await;
    assert!(done.get("error").is_none(), "{done}");
    let collection = done["response"]["backupCollection"]
        .as_str()
        .expect("the cluster names its collection")
        .to_owned();
    assert!(
        collection.starts_with(&format!(
            "projects/{PROJECT}/locations/{REGION}/backupCollections/"
        )),
        "{collection}"
    );

    let (s, v) = t.get(&format!("{}/backupCollections", parent())).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let c = &v["backupCollections"][0];
    assert_eq!(c["name"], collection);
    assert_eq!(c["cluster"], cluster_name("source"));
    assert_eq!(c["clusterUid"], source["uid"]);
    let (s, got) = t.get(&format!("/v1/{collection}")).await;
    assert_eq!((s, &got["name"]), (StatusCode::OK, &c["name"]));

    let backup_name = format!("{collection}/backups/before-upgrade");
    let backups = list_backups(&t, &collection).await;
    assert_eq!(backups.len(), 1);
    let b = &backups[0];
    assert_eq!(b["name"], backup_name);
    assert_eq!(b["state"], "ACTIVE");
    assert_eq!(b["backupType"], "ON_DEMAND");
    assert_eq!(b["shardCount"], 1);
    assert_eq!(b["nodeType"], "REDIS_HIGHMEM_MEDIUM");
    assert!(
        b["totalSizeBytes"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert!(
        b["backupFiles"][0]["fileName"]
            .as_str()
            .unwrap()
            .ends_with(".rdb")
    );
    let created: jiff::Timestamp = b["createTime"].as_str().unwrap().parse().unwrap();
    let expires: jiff::Timestamp = b["expireTime"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires.duration_since(created).as_secs(), 86400);

    let (s, e) = backup(&t, "source", json!({"backupId": "before-upgrade"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"]["status"], "ALREADY_EXISTS");
    let (s, e) = backup(&t, "source", json!({"backupId": "short", "ttl": "3600s"})).await;
    assert_eq!(
        (s, e["error"]["status"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_ARGUMENT"))
    );

    // Writes after the backup are not in it.
    assert_eq!(con.cmd(&["SET", "cart:2", "late"]).await, "+OK");
    for (id, source) in [
        ("restored", backup_name.clone()),
        (
            "restored-long-name",
            format!("//redis.googleapis.com/{backup_name}"),
        ),
    ] {
        let c = t
            .create_cluster(
                id,
                with(body(), "managedBackupSource", json!({"backup": source})),
            )
            .await;
        let mut r = Raw::plain(discovery_port(&c)).await.unwrap();
        assert_eq!(r.cmd(&["GET", "cart:1"]).await, "three items", "{id}");
        assert_eq!(r.cmd(&["GET", "cart:2"]).await, "$-1", "{id}");
        assert!(c.get("managedBackupSource").is_none(), "create-only: {c}");
    }
    let both = with(
        with(
            body(),
            "managedBackupSource",
            json!({"backup": backup_name}),
        ),
        "gcsSource",
        json!({"uris": ["gs://b/o.rdb"]}),
    );
    create_error(&t, "both", both).await;
    let (s, e) = t
        .post(
            &format!("{}/clusters?clusterId=ghost", parent()),
            with(
                body(),
                "managedBackupSource",
                json!({"backup": format!("{collection}/backups/none")}),
            ),
        )
        .await;
    assert_eq!(
        (s, e["error"]["status"].as_str()),
        (StatusCode::NOT_FOUND, Some("NOT_FOUND")),
        "{e}"
    );

    // Export to Cloud Storage, then create from the exported files.
    let (s, op) = t
        .post(
            &format!("/v1/{backup_name}:export"),
            json!({"gcsBucket": "shop-exports"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{op}");
    let done = t.wait_op(&op).await;
    assert!(done.get("error").is_none(), "{done}");
    let (_, objects) = t.get("/_cloudsim/storage").await;
    let uris: Vec<String> = objects["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["uri"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !uris.is_empty() && uris.iter().all(|u| u.starts_with("gs://shop-exports/")),
        "{uris:?}"
    );
    let c = t
        .create_cluster("from-gcs", with(body(), "gcsSource", json!({"uris": uris})))
        .await;
    let mut r = Raw::plain(discovery_port(&c)).await.unwrap();
    assert_eq!(r.cmd(&["GET", "cart:1"]).await, "three items");
    let failed = create_op(
        &t,
        "from-nowhere",
        with(
            body(),
            "gcsSource",
            json!({"uris": ["gs://shop-exports/missing.rdb"]}),
        ),
    )
    .await;
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gs://shop-exports/missing.rdb"),
        "{failed}"
    );
    let (s, _) = t
        .get(&format!("/v1/{}", cluster_name("from-nowhere")))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a failed create leaves nothing");

    // Backups outlive their cluster; deleting one is an operation.
    let (_, op) = t.delete(&format!("/v1/{}", cluster_name("source"))).await;
    t.wait_op(&op).await;
    assert_eq!(list_backups(&t, &collection).await.len(), 1);
    let (s, op) = t.delete(&format!("/v1/{backup_name}")).await;
    assert_eq!(s, StatusCode::OK, "{op}");
    let done = t.wait_op(&op).await;
    assert_eq!(
        done["response"]["@type"],
        "type.googleapis.com/google.protobuf.Empty"
    );
    let (s, _) = t.get(&format!("/v1/{backup_name}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn customer_managed_keys_show_in_encryption_info() {
    let t = start(Opts::default()).await;
    let key = format!("projects/{PROJECT}/locations/{REGION}/keyRings/cache/cryptoKeys/orders");
    create_error(&t, "cmek", with(body(), "kmsKey", json!("orders-key"))).await;
    let failed = create_op(
        &t,
        "elsewhere",
        with(body(), "kmsKey", json!(key.replace(REGION, "europe-west1"))),
    )
    .await;
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("region"),
        "{failed}"
    );

    let c = t
        .create_cluster("cmek", with(body(), "kmsKey", json!(key)))
        .await;
    assert_eq!(c["kmsKey"], key);
    let info = &c["encryptionInfo"];
    assert_eq!(info["encryptionType"], "CUSTOMER_MANAGED_ENCRYPTION");
    assert_eq!(info["kmsKeyPrimaryState"], "ENABLED");
    assert_eq!(
        info["kmsKeyVersions"],
        json!([format!("{key}/cryptoKeyVersions/1")])
    );
    let plain = t.create_cluster("google-managed", body()).await;
    assert_eq!(
        plain["encryptionInfo"]["encryptionType"],
        "GOOGLE_DEFAULT_ENCRYPTION"
    );
    assert!(plain.get("kmsKey").is_none());

    let (s, op) = backup(&t, "cmek", json!({"backupId": "sealed"})).await;
    assert_eq!(s, StatusCode::OK, "{op}");
    let done = t.wait_op(&op).await;
    let collection = done["response"]["backupCollection"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, coll) = t.get(&format!("/v1/{collection}")).await;
    assert_eq!(coll["kmsKey"], key);
    let b = &list_backups(&t, &collection).await[0];
    assert_eq!(
        b["encryptionInfo"]["encryptionType"],
        "CUSTOMER_MANAGED_ENCRYPTION"
    );

    let (s, e) = t
        .patch(
            &format!("/v1/{}?updateMask=kms_key", cluster_name("cmek")),
            json!({"kmsKey": key}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
}
