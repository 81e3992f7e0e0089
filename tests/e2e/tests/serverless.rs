//! ServerlessCache end to end on the real control plane, against cloudsim's ElastiCache
//! Serverless: create → Ready → applications connect with their Secret alone (an IAM token and
//! a password user of a UserGroup) → one edit of three fields is three modifies, none refused →
//! Redis OSS → Valkey in place keeps the data → delete takes the final snapshot. Also: a SIGKILL
//! of the operator between two modifies resumes with only the remaining ones, and what
//! admission refuses never reaches the cloud.

use std::collections::BTreeMap;
use std::time::Duration;

use cache_operator_testkit::{group, serverless};
use e2e::redis_client::{self, Target};
use e2e::{CloudSim, Env, Options, aws_region, unique_id};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::{Value, json};

const READY: Duration = Duration::from_secs(120);

type Data = BTreeMap<String, String>;

async fn wait_secret(env: &Env, name: &str) -> anyhow::Result<Data> {
    let api: Api<Secret> = Api::namespaced(env.client.clone(), &env.namespace);
    env.wait_for_value(READY, || async {
        api.get_opt(name).await.ok().flatten().map(|s| {
            s.data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                .collect()
        })
    })
    .await
}

/// How an application connects with the Secret's values (and the simulator's CA standing in
/// for the public roots ElastiCache's certificates chain to).
fn target(data: &Data, ca: &str) -> Target {
    let password = data.get("password").cloned().unwrap_or_default();
    Target {
        host: data["host"].clone(),
        port: data["port"].parse().unwrap_or(0),
        tls_ca: (data.get("tls").map(String::as_str) == Some("true")).then(|| ca.to_owned()),
        username: (!password.is_empty()).then(|| data["username"].clone()),
        password: (!password.is_empty()).then_some(password),
    }
}

fn cache(name: &str, id: &str, engine: &str, major: &str, group: Option<&str>) -> Value {
    let m = serverless::new(name, &aws_region())
        .spec("cacheName", id)
        .spec("engine", engine)
        .spec("majorEngineVersion", major)
        .spec("snapshotRetentionLimit", 1);
    match group {
        Some(g) => m.set("/spec/userGroupRef/name", g).into_json(),
        None => m.into_json(),
    }
}

/// ModifyServerlessCache calls by outcome: (accepted, refused as several fields or invalid).
async fn modifies(sim: &CloudSim) -> anyhow::Result<(u64, u64)> {
    let c = sim.counters().await?;
    let ok = CloudSim::sum(
        &c,
        "elasticache",
        |op| op == "ModifyServerlessCache",
        |o| o == "ok",
    );
    let refused = CloudSim::sum(
        &c,
        "elasticache",
        |op| op == "ModifyServerlessCache",
        |o| o == "InvalidParameterCombination" || o == "InvalidParameterValue",
    );
    Ok((ok, refused))
}

async fn calls(sim: &CloudSim, op: &str) -> anyhow::Result<u64> {
    let c = sim.counters().await?;
    Ok(CloudSim::sum(&c, "elasticache", |o| o == op, |_| true))
}

#[tokio::test]
async fn serverless_cache_lifecycle_with_iam_and_password_bindings() -> anyhow::Result<()> {
    let env = Env::start("serverless-lifecycle").await?;
    let sim = env.sim();
    let ca = sim.ca_pem().await?;
    let gid = unique_id("web-users");
    let id = unique_id("web");
    env.apply(
        group::aws("users", &aws_region())
            .user_group_id(&gid)
            .user("app-iam", "iam")
            .user("app-pw", "password")
            .into_json(),
    )
    .await?;
    env.apply(cache("web", &id, "redis", "7", Some("users")))
        .await?;
    let ready = env.wait_ready("ServerlessCache", "web", READY).await?;
    let st = &ready.data["status"];
    assert_eq!(st["cloudState"], "available");
    assert_eq!(st["engine"], "redis");
    assert!(st["endpoint"]["port"].as_i64().is_some(), "{st:#}");
    assert!(st["readerEndpoint"]["port"].as_i64().is_some(), "{st:#}");

    // Two applications, each with its Secret alone.
    for (name, user) in [("app-iam", "app-iam"), ("app-pw", "app-pw")] {
        env.apply(
            serverless::binding(name, "web", "users")
                .binding_user(user)
                .into_json(),
        )
        .await?;
    }
    env.wait_ready("AccessBinding", "app-iam", READY).await?;
    env.wait_ready("AccessBinding", "app-pw", READY).await?;
    let iam = wait_secret(&env, "app-iam").await?;
    for k in [
        "type",
        "provider",
        "host",
        "port",
        "username",
        "password",
        "uri",
        "tls",
        "cluster-mode",
        "endpoints",
        "reader-host",
        "reader-port",
        "expires-at",
        "refresh-at",
    ] {
        assert!(iam.contains_key(k), "missing {k}: {:?}", iam.keys());
    }
    assert_eq!(
        (iam["tls"].as_str(), iam["cluster-mode"].as_str()),
        ("true", "true")
    );
    assert!(
        iam["password"].starts_with(&format!(
            "{id}/?Action=connect&User=app-iam&ResourceType=ServerlessCache&"
        )),
        "an IAM token signed for a serverless cache"
    );
    assert_eq!(
        redis_client::set_get(&target(&iam, &ca), "greeting", "hello").await?,
        "hello"
    );
    let pw = wait_secret(&env, "app-pw").await?;
    assert!(pw["uri"].starts_with("rediss://app-pw:"));
    assert_eq!(
        redis_client::set_get(&target(&pw, &ca), "pw", "ok").await?,
        "ok"
    );

    // One edit touching three fields: three modifies, one at a time, none refused.
    sim.reset_counters().await?;
    let mut edited = cache("web", &id, "redis", "7", Some("users"));
    edited["spec"]["snapshotRetentionLimit"] = json!(5);
    edited["spec"]["dailySnapshotTime"] = json!("05:30");
    edited["spec"]["usageLimits"] = json!({"dataStorage": {"maximum": 20}});
    env.apply(edited.clone()).await?;
    env.wait_ready("ServerlessCache", "web", READY).await?;
    assert_eq!(modifies(sim).await?, (3, 0), "{:#}", sim.counters().await?);
    let described = sim
        .elasticache(&aws_region())
        .await
        .describe_serverless_caches()
        .serverless_cache_name(&id)
        .send()
        .await?;
    let c = &described.serverless_caches()[0];
    assert_eq!(c.snapshot_retention_limit(), Some(5));
    assert_eq!(c.daily_snapshot_time(), Some("05:30"));
    assert_eq!(
        c.cache_usage_limits()
            .and_then(|l| l.data_storage())
            .and_then(|d| d.maximum()),
        Some(20)
    );

    // Redis OSS → Valkey in place: the data stays.
    sim.reset_counters().await?;
    edited["spec"]["engine"] = json!("valkey");
    edited["spec"]["majorEngineVersion"] = json!("8");
    env.apply(edited).await?;
    let upgraded = env
        .wait_for("ServerlessCache", "web", READY, |o| {
            let o = o?;
            (o.data["status"]["engine"] == "valkey"
                && e2e::condition(o, "Ready").is_some_and(|c| c["status"] == "True")
                && o.data["status"]["observedGeneration"] == json!(o.metadata.generation))
            .then(|| o.clone())
        })
        .await?;
    assert_eq!(upgraded.data["status"]["majorEngineVersion"], "8");
    assert_eq!(
        calls(sim, "DeleteServerlessCache").await?,
        0,
        "not replaced"
    );
    assert_eq!(
        calls(sim, "CreateServerlessCache").await?,
        0,
        "not replaced"
    );
    let pw = wait_secret(&env, "app-pw").await?;
    let mut conn = redis_client::connect(&target(&pw, &ca)).await?;
    let kept: String = redis::cmd("GET").arg("pw").query_async(&mut conn).await?;
    assert_eq!(kept, "ok", "the data survived the engine change");

    // Deleting takes a final snapshot.
    env.delete("AccessBinding", "app-iam").await?;
    env.delete("AccessBinding", "app-pw").await?;
    env.delete("ServerlessCache", "web").await?;
    env.wait_gone("ServerlessCache", "web", READY).await?;
    let snapshots = sim
        .elasticache(&aws_region())
        .await
        .describe_serverless_cache_snapshots()
        .send()
        .await?;
    let names: Vec<&str> = snapshots
        .serverless_cache_snapshots()
        .iter()
        .filter_map(|s| s.serverless_cache_snapshot_name())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with(&format!("{id}-final-"))),
        "final snapshot: {names:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_killed_operator_resumes_with_the_remaining_modifies_only() -> anyhow::Result<()> {
    let mut env = Env::start_with(
        "serverless-resume",
        Options {
            provisioning_delay: Duration::from_millis(300),
            ..Options::default()
        },
    )
    .await?;
    let id = unique_id("resume");
    env.apply(cache("web", &id, "valkey", "8", None)).await?;
    env.wait_ready("ServerlessCache", "web", READY).await?;
    let sim = env.sim();
    // Each modify now takes a while, so the operator is caught between two of them.
    sim.configure(json!({"provisioningDelayMs": 4000})).await?;
    sim.reset_counters().await?;
    let mut edited = cache("web", &id, "valkey", "8", None);
    edited["spec"]["snapshotRetentionLimit"] = json!(7);
    edited["spec"]["dailySnapshotTime"] = json!("03:00");
    edited["spec"]["description"] = json!("web sessions");
    env.apply(edited).await?;
    env.wait_for_value(READY, || async {
        (modifies(env.sim()).await.ok()?.0 >= 1).then_some(())
    })
    .await?;
    env.operators[0].kill().await?;
    assert_eq!(
        modifies(env.sim()).await?.0,
        1,
        "killed between two modifies"
    );
    env.sim()
        .configure(json!({"provisioningDelayMs": 300}))
        .await?;
    env.start_operator("restarted", &[]).await?;
    env.wait_ready("ServerlessCache", "web", READY).await?;
    assert_eq!(
        modifies(env.sim()).await?,
        (3, 0),
        "the restarted operator sent only the two remaining fields: {:#}",
        env.sim().counters().await?
    );
    Ok(())
}

#[tokio::test]
async fn admission_refusals_make_no_cloud_call() -> anyhow::Result<()> {
    let env = Env::start("serverless-admission").await?;
    let sim = env.sim();
    let id = unique_id("adm");
    sim.reset_counters().await?;
    let mut bad = cache("bad", &unique_id("bad"), "valkey", "8", None);
    bad["spec"]["usageLimits"] = json!({"ecpuPerSecond": {"maximum": 100}});
    assert!(
        env.apply(bad).await.is_err(),
        "ECPU below the service's range"
    );
    let mut bad = cache("bad", &unique_id("bad"), "redis", "8", None);
    bad["spec"]["snapshotRetentionLimit"] = json!(1);
    assert!(env.apply(bad).await.is_err(), "no Redis OSS 8");
    assert_eq!(calls(sim, "CreateServerlessCache").await?, 0);

    env.apply(cache("web", &id, "valkey", "8", None)).await?;
    env.wait_ready("ServerlessCache", "web", READY).await?;
    sim.reset_counters().await?;
    for (field, value) in [
        ("engine", json!("redis")),
        ("majorEngineVersion", json!("7")),
        ("region", json!("eu-west-1")),
        ("kmsKeyId", json!("alias/web")),
        ("subnetIds", json!(["subnet-0a1b2c3d"])),
    ] {
        let mut m = cache("web", &id, "valkey", "8", None);
        m["spec"][field] = value;
        assert!(env.apply(m).await.is_err(), "{field} change refused");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(modifies(sim).await?, (0, 0), "{:#}", sim.counters().await?);
    assert_eq!(calls(sim, "CreateServerlessCache").await?, 0);
    assert_eq!(calls(sim, "DeleteServerlessCache").await?, 0);
    Ok(())
}

/// A cache the cloud fails to create is reported as such and left alone until the spec
/// changes; the change deletes it and creates it again. Removing the user group afterwards is
/// one `ModifyServerlessCache(RemoveUserGroup=true)`.
#[tokio::test]
async fn create_failed_is_terminal_until_the_spec_changes() -> anyhow::Result<()> {
    let env = Env::start("serverless-create-failed").await?;
    let sim = env.sim();
    let gid = unique_id("sls-users");
    env.apply(
        group::aws("users", &aws_region())
            .user_group_id(&gid)
            .user("app-pw", "password")
            .into_json(),
    )
    .await?;
    env.wait_ready("UserGroup", "users", READY).await?;
    sim.faults(json!({"operations": ["CreateServerlessCache"], "operationFailures": 1}))
        .await?;
    let id = unique_id("failing");
    env.apply(cache("web", &id, "valkey", "8", Some("users")))
        .await?;
    let failed = env
        .wait_reason("ServerlessCache", "web", "CreateFailed", READY)
        .await?;
    assert_eq!(failed.data["status"]["phase"], "Failed");
    assert_eq!(failed.data["status"]["cloudState"], "create-failed");
    // Terminal: nothing more is sent while the spec stays.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(calls(sim, "CreateServerlessCache").await?, 1);
    assert_eq!(calls(sim, "DeleteServerlessCache").await?, 0);

    let mut edited = cache("web", &id, "valkey", "8", Some("users"));
    edited["spec"]["snapshotRetentionLimit"] = json!(2);
    env.apply(edited.clone()).await?;
    env.wait_ready("ServerlessCache", "web", READY).await?;
    assert_eq!(
        calls(sim, "DeleteServerlessCache").await?,
        1,
        "the failed one went"
    );
    assert_eq!(
        calls(sim, "CreateServerlessCache").await?,
        2,
        "and was made again"
    );

    sim.reset_counters().await?;
    edited["spec"]
        .as_object_mut()
        .unwrap()
        .remove("userGroupRef");
    env.apply(edited).await?;
    env.wait_for_value(READY, || async {
        let out = sim
            .elasticache(&aws_region())
            .await
            .describe_serverless_caches()
            .serverless_cache_name(&id)
            .send()
            .await
            .ok()?;
        let c = out.serverless_caches().first()?;
        (c.user_group_id().is_none() && c.status() == Some("available")).then_some(())
    })
    .await?;
    env.wait_ready("ServerlessCache", "web", READY).await?;
    assert_eq!(modifies(sim).await?, (1, 0), "{:#}", sim.counters().await?);
    Ok(())
}
