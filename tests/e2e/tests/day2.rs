//! Day-2 operations end to end (issue 13), through the operator on the real control plane:
//! engine upgrades that keep the data, a final backup before delete that the cloud lists and a
//! new cluster restores, an AUTH-token cluster whose token rotates under a client, and
//! maintenance windows and encryption settings as the clouds' official clients see them.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use cache_operator_testkit::{Manifest, binding, cluster};
use e2e::redis_client::{self, Target};
use e2e::{CloudSim, Env, Options, aws_region, condition, gcp_project, gcp_region, unique_id};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::ListParams;
use serde_json::{Value, json};

const READY: Duration = Duration::from_secs(90);

// ---- clusters and data ----

/// An aws cluster without authentication, TLS on, cluster mode disabled, one node.
fn aws_plain(name: &str, id: &str) -> Manifest {
    cluster::aws(name)
        .instance_id(id)
        .region(&aws_region())
        .replicas(0)
        .auth("disabled")
        .tls(true)
        .cluster_mode("disabled")
}

/// A gcp cluster without authentication, TLS on, one shard.
fn gcp_plain(name: &str, id: &str) -> Manifest {
    cluster::gcp(name)
        .instance_id(id)
        .region(&gcp_region())
        .project(&gcp_project())
        .replicas(0)
        .auth("disabled")
        .tls(true)
}

/// Where the cluster's status says clients connect, with the CA they trust.
async fn target_of(env: &Env, status: &Value) -> anyhow::Result<Target> {
    let ep = &status["endpoints"]["discovery"][0];
    let ca = match status["caCertificate"].as_str() {
        Some(ca) => ca.to_owned(),
        None => env.sim().ca_pem().await?,
    };
    Ok(Target {
        host: ep["host"].as_str().unwrap_or_default().to_owned(),
        port: ep["port"].as_u64().unwrap_or_default() as u16,
        tls_ca: Some(ca),
        ..Target::default()
    })
}

async fn get_key(t: &Target, key: &str) -> anyhow::Result<Option<String>> {
    let mut c = redis_client::connect(t).await?;
    Ok(redis::cmd("GET").arg(key).query_async(&mut c).await?)
}

/// Wait until the cluster is Ready for its generation and `check` holds for its status.
async fn ready_with(
    env: &Env,
    name: &str,
    check: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    env.wait_for("RedisCluster", name, READY, |o| {
        let o = o?;
        let s = &o.data["status"];
        (condition(o, "Ready").is_some_and(|c| c["status"] == "True")
            && s["observedGeneration"] == json!(o.metadata.generation)
            && check(s))
        .then(|| s.clone())
    })
    .await
}

async fn event_notes(env: &Env, reason: &str) -> anyhow::Result<Vec<String>> {
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(env.client.clone(), &env.namespace);
    Ok(events
        .list(&ListParams::default())
        .await?
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .filter_map(|e| e.note)
        .collect())
}

// ---- acceptance 1: engine upgrades ----

#[tokio::test]
async fn aws_upgrade_from_redis_7_0_to_7_1_to_valkey_8_0_keeps_the_data() -> anyhow::Result<()> {
    let env = Env::start("day2-upgrade").await?;
    let id = unique_id("upgrade");
    let manifest = |engine: &str, version: &str| {
        aws_plain("upgrade", &id)
            .engine(engine)
            .engine_version(version)
            .into_json()
    };
    env.apply(manifest("redis", "7.0")).await?;
    let status = ready_with(&env, "upgrade", |s| {
        s["engineVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("7.0."))
    })
    .await?;
    assert_eq!(status["engine"], "redis");
    assert!(
        status["maintenance"]["window"].as_str().is_some(),
        "the cloud's maintenance window is shown: {status:#}"
    );
    let t = target_of(&env, &status).await?;
    assert_eq!(redis_client::set_get(&t, "written-on", "7.0").await?, "7.0");

    for (engine, version, prefix) in [("redis", "7.1", "7.1."), ("valkey", "8.0", "8.0.")] {
        env.apply(manifest(engine, version)).await?;
        let status = ready_with(&env, "upgrade", |s| {
            s["engine"] == engine
                && s["engineVersion"]
                    .as_str()
                    .is_some_and(|v| v.starts_with(prefix))
        })
        .await?;
        let t = target_of(&env, &status).await?;
        assert_eq!(
            get_key(&t, "written-on").await?.as_deref(),
            Some("7.0"),
            "the key written on 7.0 is read on {engine} {version}"
        );
        println!(
            "upgraded to {engine} {}: Ready, the key written on 7.0 read back",
            status["engineVersion"]
        );
    }
    // On the live cluster a way back is refused by the API server, and the cloud hears nothing.
    env.sim().reset_counters().await?;
    for (engine, version, says) in [
        ("valkey", "7.2", "cannot go down"),
        ("redis", "7.1", "never back"),
    ] {
        let err = env
            .apply(manifest(engine, version))
            .await
            .expect_err("a downgrade must be refused");
        assert!(format!("{err:#}").contains(says), "{says}: {err:#}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counters = env.sim().counters().await?;
    assert_eq!(
        CloudSim::sum(
            &counters,
            "elasticache",
            |op| op.starts_with("Modify"),
            |_| true
        ),
        0,
        "{counters:#}"
    );
    let status = ready_with(&env, "upgrade", |_| true).await?;
    assert_eq!(status["engine"], "valkey");
    assert!(
        status["engineVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("8.0."))
    );

    let updates = event_notes(&env, "Updating").await?;
    assert!(
        updates.iter().any(|n| n.contains("engine version")),
        "{updates:?}"
    );
    Ok(())
}

// ---- acceptance 2: a final backup before delete, and a restore from it ----

async fn gcp_backups(sim: &CloudSim, cluster: &str) -> anyhow::Result<Vec<Value>> {
    // What `gcloud redis clusters backup-collections backups list` sends.
    let http = reqwest::Client::new();
    let base = sim.base_url();
    let parent = format!("projects/{}/locations/{}", gcp_project(), gcp_region());
    let cols: Value = http
        .get(format!("{base}/v1/{parent}/backupCollections"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut out = Vec::new();
    for col in cols["backupCollections"].as_array().into_iter().flatten() {
        if col["cluster"] != json!(format!("{parent}/clusters/{cluster}")) {
            continue;
        }
        let list: Value = http
            .get(format!(
                "{base}/v1/{}/backups",
                col["name"].as_str().unwrap()
            ))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        out.extend(list["backups"].as_array().cloned().unwrap_or_default());
    }
    Ok(out)
}

async fn aws_sdk(sim: &CloudSim) -> aws_sdk_elasticache::Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(sim.base_url())
        .region(aws_config::Region::new(aws_region()))
        .credentials_provider(aws_sdk_elasticache::config::Credentials::new(
            e2e::cloudsim::AWS_ACCESS_KEY_ID,
            e2e::cloudsim::AWS_SECRET_ACCESS_KEY,
            None,
            None,
            "e2e",
        ))
        .load()
        .await;
    aws_sdk_elasticache::Client::new(&conf)
}

/// The snapshots of replication group `id`, as DescribeSnapshots lists them: (name, status).
async fn aws_snapshots(sim: &CloudSim, id: &str) -> anyhow::Result<Vec<(String, String)>> {
    let out = aws_sdk(sim).await.describe_snapshots().send().await?;
    Ok(out
        .snapshots()
        .iter()
        .filter(|s| s.replication_group_id() == Some(id))
        .map(|s| {
            (
                s.snapshot_name().unwrap_or_default().to_owned(),
                s.snapshot_status().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

/// Write a key, delete the object, and return the final backup's name as the status and
/// events recorded it.
async fn write_then_delete(env: &Env, name: &str, status: &Value) -> anyhow::Result<String> {
    let t = target_of(env, status).await?;
    assert_eq!(redis_client::set_get(&t, "order:1", "paid").await?, "paid");
    let uid = env
        .get("RedisCluster", name)
        .await?
        .and_then(|o| o.metadata.uid)
        .unwrap();
    let mut last_status = Value::Null;
    env.delete("RedisCluster", name).await?;
    let deadline = Instant::now() + READY;
    while let Some(o) = env.get("RedisCluster", name).await? {
        if !o.data["status"]["backups"]["finalBackup"].is_null() {
            last_status = o.data["status"].clone();
        }
        anyhow::ensure!(Instant::now() < deadline, "{name} was not deleted");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let backup = last_status["backups"]["finalBackup"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let short: String = uid
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    assert!(
        backup.ends_with(&format!("-final-{short}")),
        "the object's last status names its final backup: {last_status:#}"
    );
    let notes = event_notes(env, "FinalBackup").await?;
    assert!(notes.iter().any(|n| n.contains(&backup)), "{notes:?}");
    Ok(backup)
}

#[tokio::test]
async fn gcp_final_backup_is_listed_and_restores_the_data_unless_opted_out() -> anyhow::Result<()> {
    let env = Env::start("day2-gcp-backup").await?;
    let id = unique_id("orders");
    env.apply(gcp_plain("orders", &id).into_json()).await?;
    let status = ready_with(&env, "orders", |_| true).await?;

    // An on-demand backup on the way: taken once, followed until ready.
    env.apply(
        gcp_plain("orders", &id)
            .spec("onDemandBackup", "before-cleanup")
            .into_json(),
    )
    .await?;
    ready_with(&env, "orders", |s| {
        s["backups"]["onDemand"]["name"] == "before-cleanup"
            && !s["backups"]["onDemand"]["time"].is_null()
    })
    .await?;

    let name = write_then_delete(&env, "orders", &status).await?;
    let listed = gcp_backups(env.sim(), &id).await?;
    let backup = listed
        .iter()
        .find(|b| {
            b["name"]
                .as_str()
                .is_some_and(|n| n.ends_with(&format!("/{name}")))
        })
        .unwrap_or_else(|| panic!("the cloud lists the final backup {name}: {listed:#?}"));
    assert_eq!(backup["state"], "ACTIVE");
    assert!(
        listed.iter().any(|b| b["name"]
            .as_str()
            .is_some_and(|n| n.ends_with("/before-cleanup"))),
        "the on-demand backup is listed too"
    );
    println!("gcp final backup listed: {}", backup["name"]);

    // A new cluster restored from it holds the data written before.
    let restored_id = unique_id("restored");
    env.apply(
        gcp_plain("restored", &restored_id)
            .set("/spec/gcp/restoreFrom/backup", backup["name"].clone())
            .into_json(),
    )
    .await?;
    let status = ready_with(&env, "restored", |_| true).await?;
    let t = target_of(&env, &status).await?;
    assert_eq!(get_key(&t, "order:1").await?.as_deref(), Some("paid"));

    // Opted out: deleted without a backup.
    let skip_id = unique_id("scratch");
    env.apply(
        gcp_plain("scratch", &skip_id)
            .spec("finalBackup", false)
            .into_json(),
    )
    .await?;
    ready_with(&env, "scratch", |_| true).await?;
    env.delete("RedisCluster", "scratch").await?;
    env.wait_gone("RedisCluster", "scratch", READY).await?;
    assert!(env.sim().find_cluster(&skip_id).await?.is_none());
    assert_eq!(gcp_backups(env.sim(), &skip_id).await?, Vec::<Value>::new());
    let notes = event_notes(&env, "FinalBackup").await?;
    assert!(!notes.iter().any(|n| n.contains(&skip_id)), "{notes:?}");
    Ok(())
}

#[tokio::test]
async fn aws_final_snapshot_is_listed_and_restores_the_data_unless_opted_out() -> anyhow::Result<()>
{
    let env = Env::start("day2-aws-backup").await?;
    let id = unique_id("carts");
    env.apply(aws_plain("carts", &id).engine("valkey").into_json())
        .await?;
    let status = ready_with(&env, "carts", |_| true).await?;

    // An on-demand snapshot on the way (CreateSnapshot), followed until available.
    env.apply(
        aws_plain("carts", &id)
            .engine("valkey")
            .spec("onDemandBackup", "before-cleanup")
            .into_json(),
    )
    .await?;
    ready_with(&env, "carts", |s| {
        s["backups"]["onDemand"]["name"] == "before-cleanup"
            && !s["backups"]["onDemand"]["time"].is_null()
    })
    .await?;

    let name = write_then_delete(&env, "carts", &status).await?;
    let snapshots = aws_snapshots(env.sim(), &id).await?;
    assert!(
        snapshots.contains(&(name.clone(), "available".into())),
        "DescribeSnapshots lists the final snapshot {name}: {snapshots:?}"
    );
    assert!(
        snapshots.contains(&("before-cleanup".into(), "available".into())),
        "the on-demand snapshot is listed too: {snapshots:?}"
    );
    println!("aws final snapshot listed: {name}");

    let restored_id = unique_id("restored");
    env.apply(
        aws_plain("restored", &restored_id)
            .engine("valkey")
            .set("/spec/aws/restoreFrom/snapshotName", name.as_str())
            .into_json(),
    )
    .await?;
    let status = ready_with(&env, "restored", |_| true).await?;
    let t = target_of(&env, &status).await?;
    assert_eq!(get_key(&t, "order:1").await?.as_deref(), Some("paid"));

    let skip_id = unique_id("scratch");
    env.apply(
        aws_plain("scratch", &skip_id)
            .engine("valkey")
            .spec("finalBackup", false)
            .into_json(),
    )
    .await?;
    ready_with(&env, "scratch", |_| true).await?;
    env.delete("RedisCluster", "scratch").await?;
    env.wait_gone("RedisCluster", "scratch", READY).await?;
    assert!(env.sim().find_cluster(&skip_id).await?.is_none());
    assert_eq!(aws_snapshots(env.sim(), &skip_id).await?, Vec::new());
    let notes = event_notes(&env, "FinalBackup").await?;
    assert!(!notes.iter().any(|n| n.contains(&skip_id)), "{notes:?}");
    Ok(())
}

// ---- acceptance 3: an AUTH-token cluster through a rotation ----

type Data = BTreeMap<String, String>;

async fn read_secret(env: &Env, name: &str) -> anyhow::Result<Option<Data>> {
    let api: Api<Secret> = Api::namespaced(env.client.clone(), &env.namespace);
    Ok(api.get_opt(name).await?.map(|s| {
        s.data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
            .collect()
    }))
}

/// Connect as an application does with the Secret's values: no `username`, so `AUTH <token>`.
fn token_target(data: &Data, ca: &str) -> Target {
    Target {
        host: data["host"].clone(),
        port: data["port"].parse().unwrap_or(0),
        tls_ca: (data.get("tls").map(String::as_str) == Some("true")).then(|| ca.to_owned()),
        username: data.get("username").cloned(),
        password: data.get("password").cloned().filter(|p| !p.is_empty()),
    }
}

#[tokio::test]
async fn aws_auth_token_rotation_keeps_clients_that_reread_the_secret_connected()
-> anyhow::Result<()> {
    let opts_args: Vec<String> = vec!["--password-overlap".into(), "20s".into()];
    let opts = Options {
        operator_args: opts_args.clone(),
        ..Options::default()
    };
    let mut env = Env::start_with("day2-token", opts).await?;
    let id = unique_id("tokens");
    env.apply(
        aws_plain("tokens", &id)
            .auth("token")
            .engine("redis")
            .engine_version("7.1")
            .set("/spec/aws/authTokenRotationInterval", "1m")
            .into_json(),
    )
    .await?;
    // A binding of a token cluster names no group and no user.
    env.apply(binding::without_group("app", "tokens").into_json())
        .await?;
    let status = ready_with(&env, "tokens", |s| !s["authToken"].is_null()).await?;
    assert_eq!(status["authToken"]["secretName"], "tokens-auth-token");
    env.wait_ready("AccessBinding", "app", READY).await?;
    let first = read_secret(&env, "app")
        .await?
        .expect("the binding's Secret");
    assert!(
        !first.contains_key("username"),
        "AUTH <token> alone: {first:?}"
    );
    assert_eq!(first["password"].len(), 64);
    assert!(first["uri"].starts_with("rediss://:"), "{}", first["uri"]);
    let owned = read_secret(&env, "tokens-auth-token").await?.unwrap();
    assert_eq!(owned["token"], first["password"]);

    // A binding that names a group for a token cluster is told why not.
    env.apply(binding::new("wrong", "tokens", "users").into_json())
        .await?;
    let wrong = env
        .wait_reason("AccessBinding", "wrong", "InvalidSpec", READY)
        .await?;
    let says = condition(&wrong, "Ready").unwrap()["message"].clone();
    assert!(says.to_string().contains("authMode token"), "{says}");

    // Two rotations (every minute, 20 s overlap) under a client that reconnects with what the
    // Secret says and one connection held open throughout.
    let ca = env.sim().ca_pem().await?;
    let mut held = redis_client::connect(&token_target(&first, &ca)).await?;
    let (mut attempts, mut failures, mut held_failures) = (0u64, 0u64, 0u64);
    let mut tokens = BTreeSet::new();
    let mut errors = Vec::new();
    let started = Instant::now();
    let end = started + Duration::from_secs(130);
    let last = end + Duration::from_secs(60);
    let mut i = 0u64;
    let mut restarted = None;
    while Instant::now() < end || (tokens.len() < 3 && Instant::now() < last) {
        i += 1;
        // The operator is restarted in the middle of the first overlap (the cloud accepts both
        // tokens, the SET is still to come): the new process resumes from the Secret, the clock
        // and what the cloud reports.
        if restarted.is_none()
            && read_secret(&env, "tokens-auth-token")
                .await?
                .is_some_and(|d| d.contains_key("retiring"))
        {
            env.stop_operators().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            env.start_operator("operator-restarted", &opts_args).await?;
            restarted = Some(started.elapsed().as_secs());
        }
        let data = read_secret(&env, "app").await?.unwrap_or_default();
        tokens.insert(data.get("password").cloned().unwrap_or_default());
        attempts += 1;
        let value = format!("v{i}");
        match redis_client::set_get(&token_target(&data, &ca), &format!("soak:{i}"), &value).await {
            Ok(got) if got == value => {}
            Ok(got) => {
                failures += 1;
                errors.push(format!("GET returned {got:?}"));
            }
            Err(e) => {
                failures += 1;
                errors.push(e.to_string());
            }
        }
        let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut held).await;
        if pong.is_err() {
            held_failures += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "aws AUTH token rotation soak (1m interval, 20 s overlap, {} s): {attempts} attempts, {failures} failures, {} distinct tokens, held connection failures {held_failures}",
        started.elapsed().as_secs(),
        tokens.len()
    );
    let restarted = restarted.expect("the operator was restarted during an overlap");
    println!("the operator was restarted {restarted} s into the soak, between ROTATE and SET");
    assert_eq!(failures, 0, "{errors:?}");
    assert_eq!(
        held_failures, 0,
        "the open connection survived the rotations"
    );
    assert!(
        tokens.len() >= 3,
        "two rotations happened: {}",
        tokens.len()
    );

    // After the overlap the first token is refused.
    let mut stale = token_target(&first, &ca);
    stale.password = Some(first["password"].clone());
    let e = redis_client::ping(&stale)
        .await
        .expect_err("the first token is retired");
    assert!(
        e.kind() == redis::ErrorKind::AuthenticationFailed || e.to_string().contains("WRONGPASS"),
        "{e}"
    );
    assert!(!event_notes(&env, "AuthTokenRotated").await?.is_empty());

    // No token in the operator's logs, events or statuses.
    let mut haystack = String::new();
    for p in &env.operators {
        haystack.push_str(&p.log_text());
    }
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(env.client.clone(), &env.namespace);
    for e in events.list(&ListParams::default()).await? {
        haystack.push_str(&serde_json::to_string(&e)?);
    }
    for kind in ["RedisCluster", "AccessBinding"] {
        for o in env.api(kind).list(&ListParams::default()).await? {
            haystack.push_str(&o.data["status"].to_string());
        }
    }
    for t in tokens.iter().filter(|t| !t.is_empty()) {
        assert!(!haystack.contains(t.as_str()), "a token leaked");
    }
    println!(
        "leak scan: {} token(s) searched in {} bytes of logs, events and statuses: none found",
        tokens.len(),
        haystack.len()
    );
    Ok(())
}

// ---- acceptance 4: settings reach the cloud as written, invalid ones never do ----

fn installed(cli: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cli).is_file()))
}

fn run_json(mut cmd: Command) -> anyhow::Result<Value> {
    let out = cmd.output()?;
    anyhow::ensure!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// `aws elasticache …` against the simulator, as a person would run it.
fn aws_cli(sim: &CloudSim, args: &[&str]) -> anyhow::Result<Value> {
    let mut c = Command::new("aws");
    c.env("AWS_ACCESS_KEY_ID", e2e::cloudsim::AWS_ACCESS_KEY_ID)
        .env(
            "AWS_SECRET_ACCESS_KEY",
            e2e::cloudsim::AWS_SECRET_ACCESS_KEY,
        )
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        // CLI v2 (Debian's package) pages its output otherwise.
        .env("AWS_PAGER", "")
        .args(["--endpoint-url", sim.base_url(), "--region", &aws_region()])
        .args(["--output", "json", "elasticache"])
        .args(args);
    run_json(c)
}

/// The replication group's nodes as `aws elasticache describe-cache-clusters --cache-cluster-id`
/// shows each member the group lists (DescribeCacheClusters has no group filter).
fn aws_cli_nodes(sim: &CloudSim, id: &str) -> anyhow::Result<Vec<Value>> {
    let groups = aws_cli(
        sim,
        &["describe-replication-groups", "--replication-group-id", id],
    )?;
    let members = groups["ReplicationGroups"][0]["MemberClusters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    anyhow::ensure!(
        !members.is_empty(),
        "{id} lists no member clusters: {groups:#}"
    );
    let mut nodes = Vec::new();
    for m in members {
        let out = aws_cli(
            sim,
            &[
                "describe-cache-clusters",
                "--cache-cluster-id",
                m.as_str().unwrap_or_default(),
            ],
        )?;
        nodes.push(out["CacheClusters"][0].clone());
    }
    Ok(nodes)
}

/// The Memorystore cluster as `gcloud redis clusters describe` shows it; without gcloud, the
/// same GET it sends.
async fn gcp_describe(sim: &CloudSim, id: &str) -> anyhow::Result<Value> {
    if installed("gcloud") {
        let config = tempfile::tempdir()?;
        let gcloud = |args: &[&str]| {
            let mut c = Command::new("gcloud");
            c.env("CLOUDSDK_CONFIG", config.path())
                .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
                .args(args);
            c
        };
        for (k, v) in [
            (
                "api_endpoint_overrides/redis",
                format!("{}/", sim.base_url()),
            ),
            ("auth/disable_credentials", "true".into()),
            ("core/project", gcp_project()),
        ] {
            let out = gcloud(&["config", "set", k, &v]).output()?;
            anyhow::ensure!(out.status.success(), "gcloud config set {k}");
        }
        println!("gcp settings read with gcloud redis clusters describe");
        let region = format!("--region={}", gcp_region());
        return run_json(gcloud(&[
            "redis",
            "clusters",
            "describe",
            id,
            &region,
            "--format=json",
        ]));
    }
    println!("gcloud is not installed: gcp settings read with the GET it sends");
    let url = format!(
        "{}/v1/projects/{}/locations/{}/clusters/{id}",
        sim.base_url(),
        gcp_project(),
        gcp_region()
    );
    Ok(reqwest::get(url).await?.error_for_status()?.json().await?)
}

fn creates(counters: &Value) -> u64 {
    CloudSim::sum(
        counters,
        "elasticache",
        |op| op.starts_with("Create") || op.starts_with("Modify"),
        |_| true,
    ) + CloudSim::sum(
        counters,
        "memorystore",
        |op| op == "clusters.create" || op == "clusters.patch",
        |_| true,
    )
}

#[tokio::test]
async fn windows_and_encryption_reach_the_cloud_as_written_and_invalid_ones_never_do()
-> anyhow::Result<()> {
    assert!(
        installed("aws"),
        "the aws CLI is needed (pip install awscli; .ci/run installs it)"
    );
    let env = Env::start("day2-settings").await?;
    let sim = env.sim();
    let region = aws_region();
    let kms = format!("arn:aws:kms:{region}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    let aws_id = unique_id("windows");
    let aws = || {
        aws_plain("windows", &aws_id)
            .engine("valkey")
            .spec(
                "maintenanceWindow",
                json!({"day": "saturday", "startTime": "23:30", "duration": "90m"}),
            )
            .set("/spec/aws/snapshotWindow", "04:00-05:00")
            .set("/spec/aws/snapshotRetentionLimit", 3)
            .set("/spec/aws/atRestEncryption", true)
            .set("/spec/aws/kmsKeyId", kms.as_str())
    };
    let gcp_key = format!(
        "projects/{}/locations/{}/keyRings/cache/cryptoKeys/orders",
        gcp_project(),
        gcp_region()
    );
    let gcp_id = unique_id("windows");
    let gcp = || {
        gcp_plain("windows-gcp", &gcp_id)
            .spec(
                "maintenanceWindow",
                json!({"day": "sunday", "startTime": "05:00"}),
            )
            .set(
                "/spec/gcp/automatedBackup",
                json!({"startTime": "03:00", "retentionDays": 14}),
            )
            .set("/spec/gcp/kmsKey", gcp_key.as_str())
    };

    // Invalid settings: the API server refuses each, naming the rule; the clouds see nothing.
    sim.reset_counters().await?;
    let invalid = [
        (
            aws().spec(
                "maintenanceWindow",
                json!({"day": "monday", "startTime": "01:00", "duration": "30m"}),
            ),
            "between 1h and 24h",
        ),
        (
            aws().set("/spec/aws/snapshotWindow", "04:00-04:00"),
            "must not start and end",
        ),
        (
            aws().set("/spec/aws/kmsKeyId", kms.replace(&region, "eu-west-1")),
            "KMS key of the cluster's region",
        ),
        (
            aws().set("/spec/aws/atRestEncryption", false),
            "kmsKeyId needs atRestEncryption",
        ),
        (
            gcp().spec(
                "maintenanceWindow",
                json!({"day": "sunday", "startTime": "05:30"}),
            ),
            "start on the hour",
        ),
        (
            gcp().set(
                "/spec/gcp/kmsKey",
                gcp_key.replace(&gcp_region(), "europe-west1"),
            ),
            "key of the cluster's region",
        ),
        (
            gcp().set(
                "/spec/gcp/automatedBackup",
                json!({"startTime": "03:00", "retentionDays": 400}),
            ),
            "retentionDays",
        ),
    ];
    let refused = invalid.len();
    for (m, says) in invalid {
        let err = env
            .apply(m.into_json())
            .await
            .expect_err("the API server must refuse it");
        assert!(format!("{err:#}").contains(says), "{says}: {err:#}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let counters = sim.counters().await?;
    let calls = CloudSim::sum(&counters, "elasticache", |_| true, |_| true)
        + CloudSim::sum(&counters, "memorystore", |_| true, |_| true);
    assert_eq!(calls, 0, "no cloud call for a refused spec: {counters:#}");
    println!("{refused} invalid specs refused by the API server; cloud calls: {calls}");

    env.apply(aws().into_json()).await?;
    env.apply(gcp().into_json()).await?;
    ready_with(&env, "windows", |_| true).await?;
    ready_with(&env, "windows-gcp", |_| true).await?;

    let groups = aws_cli(
        sim,
        &[
            "describe-replication-groups",
            "--replication-group-id",
            &aws_id,
        ],
    )?;
    let rg = &groups["ReplicationGroups"][0];
    assert_eq!(rg["SnapshotWindow"], "04:00-05:00", "{rg:#}");
    assert_eq!(rg["SnapshotRetentionLimit"], 3);
    assert_eq!(rg["AtRestEncryptionEnabled"], true);
    assert_eq!(rg["KmsKeyId"], json!(kms));
    let nodes = aws_cli_nodes(sim, &aws_id)?;
    for node in &nodes {
        assert_eq!(
            node["PreferredMaintenanceWindow"], "sat:23:30-sun:01:00",
            "{node:#}"
        );
    }
    let node = &nodes[0];
    println!(
        "aws CLI: PreferredMaintenanceWindow {}, SnapshotWindow {}, AtRestEncryptionEnabled {}, KmsKeyId {}",
        node["PreferredMaintenanceWindow"],
        rg["SnapshotWindow"],
        rg["AtRestEncryptionEnabled"],
        rg["KmsKeyId"]
    );

    let c = gcp_describe(sim, &gcp_id).await?;
    let w = &c["maintenancePolicy"]["weeklyMaintenanceWindow"][0];
    assert_eq!(w["day"], "SUNDAY", "{c:#}");
    assert_eq!(w["startTime"]["hours"], 5);
    let b = &c["automatedBackupConfig"];
    assert_eq!(b["automatedBackupMode"], "ENABLED");
    assert_eq!(b["fixedFrequencySchedule"]["startTime"]["hours"], 3);
    assert_eq!(b["retention"], "1209600s");
    assert_eq!(c["kmsKey"], json!(gcp_key));
    assert_eq!(
        c["encryptionInfo"]["encryptionType"],
        "CUSTOMER_MANAGED_ENCRYPTION"
    );

    // The cloud publishes its next maintenance in the window: the status shows both.
    let cluster_name = format!(
        "projects/{}/locations/{}/clusters/{gcp_id}",
        gcp_project(),
        gcp_region()
    );
    let published: Value = reqwest::Client::new()
        .post(format!("{}/_cloudsim/gcp/maintenance", sim.base_url()))
        .json(&json!({"name": cluster_name}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let at = |v: &Value| v.as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok());
    let scheduled = at(&published["startTime"]).expect("a published start time");
    let status = ready_with(&env, "windows-gcp", |s| {
        at(&s["maintenance"]["scheduledStart"]) == Some(scheduled)
    })
    .await?;
    assert_eq!(
        status["maintenance"]["window"], "SUNDAY 05:00 UTC",
        "{status:#}"
    );
    assert_eq!(
        at(&status["maintenance"]["scheduledEnd"]),
        at(&published["endTime"])
    );
    println!(
        "gcp status.maintenance: window {}, scheduled {} to {}",
        status["maintenance"]["window"],
        status["maintenance"]["scheduledStart"],
        status["maintenance"]["scheduledEnd"]
    );

    // Immutable after creation: refused by the API server, nothing sent.
    sim.reset_counters().await?;
    let err = env
        .apply(aws().set("/spec/aws/kmsKeyId", "alias/other").into_json())
        .await
        .expect_err("kmsKeyId is immutable");
    assert!(
        format!("{err:#}").contains("kmsKeyId is immutable"),
        "{err:#}"
    );
    let err = env
        .apply(
            gcp()
                .set("/spec/gcp/kmsKey", gcp_key.replace("orders", "other"))
                .into_json(),
        )
        .await
        .expect_err("kmsKey is immutable");
    assert!(
        format!("{err:#}").contains("kmsKey is immutable"),
        "{err:#}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(creates(&sim.counters().await?), 0);

    // A new window reaches the cloud.
    env.apply(
        aws()
            .spec(
                "maintenanceWindow",
                json!({"day": "tuesday", "startTime": "02:00"}),
            )
            .into_json(),
    )
    .await?;
    ready_with(&env, "windows", |s| {
        s["maintenance"]["window"] == "tue:02:00-tue:03:00"
    })
    .await?;
    for node in aws_cli_nodes(sim, &aws_id)? {
        assert_eq!(
            node["PreferredMaintenanceWindow"], "tue:02:00-tue:03:00",
            "{node:#}"
        );
    }
    Ok(())
}
