//! UserGroup and AccessBinding end to end, on both clouds: the Secret and a real client that
//! uses only its values, token refresh under accelerated expiry, aws password rotation,
//! revocation, cross-namespace bindings, the IAM policy left byte-for-byte as found, and no
//! credential in the operator's logs, events or statuses.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cache_operator_testkit::{binding, cluster, group};
use e2e::manifests::gcp_iam_cluster;
use e2e::redis_client::{self, Target};
use e2e::{CloudSim, Env, Options, aws_region, condition, gcp_project, gcp_region, unique_id};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

const READY: Duration = Duration::from_secs(90);
const SECRET_KEYS: &[&str] = &[
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
];

// ---- manifests ----

fn gcp_group(name: &str, members: &[String]) -> Value {
    let members: Vec<&str> = members.iter().map(String::as_str).collect();
    group::gcp(name, &members).into_json()
}

fn aws_cluster(name: &str, id: &str, auth: &str, group: &str) -> Value {
    cluster::aws(name)
        .instance_id(id)
        .region(&aws_region())
        .replicas(0)
        .auth(auth)
        .tls(true)
        .engine("redis")
        .engine_version("7.1")
        .cluster_mode("enabled")
        .user_groups(&[group])
        .into_json()
}

/// `users`: (userId, authentication).
fn aws_group(name: &str, group_id: &str, users: &[(&str, &str)]) -> Value {
    let group = group::aws(name, &aws_region()).user_group_id(group_id);
    users
        .iter()
        .fold(group, |g, (id, auth)| g.user(id, auth))
        .into_json()
}

fn binding(name: &str, cluster: &str, group: &str, user: Option<&str>, extra: Value) -> Value {
    let mut b = binding::new(name, cluster, group);
    if let Some(u) = user {
        b = b.binding_user(u);
    }
    for (field, value) in extra.as_object().into_iter().flatten() {
        b = b.spec(field, value);
    }
    b.into_json()
}

// ---- the Secret, as an application sees it ----

type Data = BTreeMap<String, String>;

async fn read_secret(env: &Env, ns: &str, name: &str) -> anyhow::Result<Option<Data>> {
    let api: Api<Secret> = Api::namespaced(env.client.clone(), ns);
    Ok(api.get_opt(name).await?.map(|s| {
        s.data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
            .collect()
    }))
}

async fn secret_object(env: &Env, ns: &str, name: &str) -> anyhow::Result<Option<Secret>> {
    Ok(Api::<Secret>::namespaced(env.client.clone(), ns)
        .get_opt(name)
        .await?)
}

async fn wait_secret(env: &Env, ns: &str, name: &str) -> anyhow::Result<Data> {
    env.wait_for_value(READY, || async {
        read_secret(env, ns, name).await.ok().flatten()
    })
    .await
}

/// Where and how to connect, from the Secret's values only. ElastiCache's certificates chain
/// to public roots, which the simulator stands in for with its own CA: an application on aws
/// trusts its system roots and needs no `ca.crt`.
fn target(data: &Data, fallback_ca: &str) -> Target {
    let tls = data.get("tls").map(String::as_str) == Some("true");
    let password = data.get("password").cloned().unwrap_or_default();
    Target {
        host: data["host"].clone(),
        port: data["port"].parse().unwrap_or(0),
        tls_ca: tls.then(|| {
            data.get("ca.crt")
                .cloned()
                .unwrap_or_else(|| fallback_ca.to_owned())
        }),
        username: (!password.is_empty()).then(|| data["username"].clone()),
        password: (!password.is_empty()).then_some(password),
    }
}

fn expires_at(data: &Data) -> Option<jiff::Timestamp> {
    data.get("expires-at")?.parse().ok()
}

/// What a client that re-reads the Secret before every connection went through.
#[derive(Debug, Default)]
struct Soak {
    attempts: u64,
    failures: u64,
    expired_reads: u64,
    credentials: BTreeSet<String>,
    errors: Vec<String>,
    /// Failures of one connection held open for the whole run.
    held_failures: u64,
    seconds: u64,
}

/// Connect with what the Secret says now, SET and GET, again and again for `length`, and on
/// (for at most a minute more, on a slow machine) until `credentials` distinct credentials
/// were seen.
async fn soak(
    env: &Env,
    ns: &str,
    secret: &str,
    length: Duration,
    credentials: usize,
    hold: bool,
) -> anyhow::Result<Soak> {
    let ca = env.sim().ca_pem().await?;
    let mut out = Soak::default();
    let first = read_secret(env, ns, secret)
        .await?
        .expect("the Secret exists");
    let mut held = if hold {
        Some(redis_client::connect(&target(&first, &ca)).await?)
    } else {
        None
    };
    let end = Instant::now() + length;
    let mut i = 0u64;
    let started = Instant::now();
    let last = end + Duration::from_secs(60);
    while Instant::now() < end || (out.credentials.len() < credentials && Instant::now() < last) {
        i += 1;
        let Some(data) = read_secret(env, ns, secret).await? else {
            out.attempts += 1;
            out.failures += 1;
            out.errors.push("the Secret is missing".into());
            continue;
        };
        if expires_at(&data).is_some_and(|t| t <= jiff::Timestamp::now()) {
            out.expired_reads += 1;
        }
        out.credentials.insert(data["password"].clone());
        out.attempts += 1;
        let value = format!("v{i}");
        match redis_client::set_get(&target(&data, &ca), &format!("soak:{i}"), &value).await {
            Ok(got) if got == value => {}
            Ok(got) => {
                out.failures += 1;
                out.errors.push(format!("GET returned {got:?}"));
            }
            Err(e) => {
                out.failures += 1;
                out.errors.push(e.to_string());
            }
        }
        if let Some(c) = held.as_mut() {
            let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(c).await;
            if pong.is_err() {
                out.held_failures += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    out.seconds = started.elapsed().as_secs();
    Ok(out)
}

/// The server refused the credential (`WRONGPASS`, which the client reports as an
/// authentication failure).
fn refused(e: &redis::RedisError) -> bool {
    e.kind() == redis::ErrorKind::AuthenticationFailed || e.to_string().contains("WRONGPASS")
}

// ---- what must never leak ----

/// Every credential a test saw: binding Secrets' passwords and every password the groups'
/// password Secrets recorded.
async fn credentials_in_secrets(
    env: &Env,
    namespaces: &[&str],
) -> anyhow::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for ns in namespaces {
        let api: Api<Secret> = Api::namespaced(env.client.clone(), ns);
        for s in api.list(&ListParams::default()).await? {
            for (k, v) in s.data.unwrap_or_default() {
                let text = String::from_utf8_lossy(&v.0).into_owned();
                if k == "password" && !text.is_empty() {
                    out.insert(text.clone());
                }
                if let Ok(entry) = serde_json::from_str::<Value>(&text) {
                    for f in ["current", "previous", "pending"] {
                        if let Some(p) = entry[f].as_str() {
                            out.insert(p.to_owned());
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// No credential in the operator's logs, in events or in our objects' statuses.
async fn assert_nothing_leaked(
    env: &Env,
    namespaces: &[&str],
    seen: &BTreeSet<String>,
) -> anyhow::Result<()> {
    let mut haystack = String::new();
    for p in &env.operators {
        haystack.push_str(&p.log_text());
    }
    for ns in namespaces {
        let events: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(env.client.clone(), ns);
        for e in events.list(&ListParams::default()).await? {
            haystack.push_str(&serde_json::to_string(&e)?);
        }
        for kind in ["RedisCluster", "UserGroup", "AccessBinding"] {
            let api: Api<kube::api::DynamicObject> =
                Api::namespaced_with(env.client.clone(), ns, &e2e::resource(kind));
            for o in api.list(&ListParams::default()).await? {
                haystack.push_str(&o.data["status"].to_string());
            }
        }
    }
    assert!(!seen.is_empty(), "the test saw no credential to look for");
    for c in seen {
        assert!(
            c.len() >= 16 && !haystack.contains(c.as_str()),
            "a credential appears in the operator's logs, events or statuses"
        );
    }
    println!(
        "leak scan: {} credential(s) searched in {} bytes of operator logs, events and statuses: none found",
        seen.len(),
        haystack.len()
    );
    Ok(())
}

async fn metrics(env: &Env) -> anyhow::Result<String> {
    env.operators[0].get("/metrics").await
}

fn expiry_metric(text: &str, ns: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with("cache_operator_token_expiry_seconds{"))
        .find(|l| {
            l.contains(&format!("namespace=\"{ns}\"")) && l.contains(&format!("name=\"{name}\""))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

// ---- IAM policy ----

async fn get_policy(sim: &CloudSim, project: &str) -> anyhow::Result<Value> {
    Ok(reqwest::Client::new()
        .post(format!(
            "{}/v1/projects/{project}:getIamPolicy",
            sim.base_url()
        ))
        .json(&json!({"options": {"requestedPolicyVersion": 3}}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

async fn set_policy(sim: &CloudSim, project: &str, policy: Value) -> anyhow::Result<Value> {
    Ok(reqwest::Client::new()
        .post(format!(
            "{}/v1/projects/{project}:setIamPolicy",
            sim.base_url()
        ))
        .json(&json!({"policy": policy}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

fn is_operators(b: &Value) -> bool {
    b["condition"]["description"]
        .as_str()
        .is_some_and(|d| d.starts_with("Managed by cache-operator; UserGroup uid"))
}

/// The bindings nobody but the operator wrote, as JSON text.
fn others(policy: &Value) -> String {
    let list: Vec<&Value> = policy["bindings"]
        .as_array()
        .map(|a| a.iter().filter(|b| !is_operators(b)).collect())
        .unwrap_or_default();
    serde_json::to_string(&list).unwrap()
}

fn ours(policy: &Value) -> Vec<Value> {
    policy["bindings"]
        .as_array()
        .map(|a| a.iter().filter(|b| is_operators(b)).cloned().collect())
        .unwrap_or_default()
}

// ---- tests ----

#[tokio::test]
async fn gcp_binding_token_refresh_and_policy_cycle() -> anyhow::Result<()> {
    let env = Env::start("gcp-binding").await?;
    let sim = env.sim();
    let ns = env.namespace.clone();
    let project = gcp_project();
    // Tokens live 20 s: the Secret must be rewritten every ~13 s.
    sim.configure(json!({"gcpTokenMaxLifetimeSeconds": 20}))
        .await?;

    // Someone else's bindings, present before the operator does anything.
    let before = get_policy(sim, &project).await?;
    let other_cluster = format!(
        "projects/{project}/locations/{}/clusters/not-ours",
        gcp_region()
    );
    set_policy(
        sim,
        &project,
        json!({"version": 3, "etag": before["etag"], "bindings": [
            {"role": "roles/viewer", "members": ["user:alice@example.com", "group:ops@example.com"]},
            {"role": "roles/redis.dbConnectionUser", "members": ["serviceAccount:legacy@other.iam.gserviceaccount.com"]},
            {"role": "roles/redis.dbConnectionUser", "members": ["user:bob@example.com"],
             "condition": {"title": "bob on not-ours", "description": "hand-made",
                           "expression": format!("resource.name.startsWith(\"{other_cluster}\")")}},
        ]}),
    )
    .await?;
    let initial = get_policy(sim, &project).await?;
    let initial_bindings = serde_json::to_string(&initial["bindings"])?;

    let sa = format!("orders-api@{project}.iam.gserviceaccount.com");
    let id = unique_id("orders");
    // Two etag conflicts land on the group's first policy write: retried, nothing lost.
    sim.faults(json!({"iamConflicts": 2})).await?;
    env.apply(gcp_group("clients", &[format!("serviceAccount:{sa}")]))
        .await?;
    env.apply(gcp_iam_cluster("orders", &id, &["clients"]))
        .await?;
    env.apply(binding(
        "orders-api",
        "orders",
        "clients",
        Some(&sa),
        json!({"secretName": "orders-redis", "secretTemplate": {"labels": {"app": "orders"}}}),
    ))
    .await?;
    env.wait_ready("AccessBinding", "orders-api", READY).await?;
    let counters = sim.counters().await?;
    let aborted = CloudSim::sum(
        &counters,
        "cloudresourcemanager",
        |op| op == "projects.setIamPolicy",
        |o| o == "ABORTED",
    );
    assert_eq!(
        aborted, 2,
        "both injected conflicts were met and retried: {counters:#}"
    );
    let policy = get_policy(sim, &project).await?;
    assert_eq!(
        others(&policy),
        others(&initial),
        "others' bindings untouched"
    );
    let grant = ours(&policy);
    assert_eq!(grant.len(), 1, "{policy:#}");
    assert_eq!(grant[0]["role"], "roles/redis.dbConnectionUser");
    assert_eq!(grant[0]["members"], json!([format!("serviceAccount:{sa}")]));
    let cluster_name = format!(
        "projects/{project}/locations/{}/clusters/{id}",
        gcp_region()
    );
    assert_eq!(
        grant[0]["condition"]["expression"],
        format!(
            "resource.name == \"{cluster_name}\" || resource.name.startsWith(\"{cluster_name}/\")"
        )
    );

    // The Secret: every key, the right type and owner, and values a client can use as is.
    let secret = secret_object(&env, &ns, "orders-redis").await?.unwrap();
    assert_eq!(secret.type_.as_deref(), Some("servicebinding.io/redis"));
    assert_eq!(
        secret.labels().get("app").map(String::as_str),
        Some("orders")
    );
    let owner = &secret.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("AccessBinding", "orders-api")
    );
    let data = read_secret(&env, &ns, "orders-redis").await?.unwrap();
    for k in SECRET_KEYS
        .iter()
        .chain(&["ca.crt", "expires-at", "refresh-at"])
    {
        assert!(data.contains_key(*k), "missing {k}: {:?}", data.keys());
    }
    assert_eq!(data["type"], "redis");
    assert_eq!(data["provider"], "gcp");
    assert_eq!(data["username"], "default");
    assert_eq!(data["tls"], "true");
    assert_eq!(data["cluster-mode"], "true");
    assert!(data["uri"].starts_with("rediss://default:"));
    let expires = expires_at(&data).unwrap();
    let refresh: jiff::Timestamp = data["refresh-at"].parse()?;
    assert!(refresh < expires && expires > jiff::Timestamp::now());
    let ca = sim.ca_pem().await?;
    assert_eq!(
        redis_client::set_get(&target(&data, &ca), "hello", "world").await?,
        "world"
    );
    let m = metrics(&env).await?;
    let left = expiry_metric(&m, &ns, "orders-api").expect("expiry metric for the binding");
    assert!(left > 0.0 && left <= 20.0, "{left}");

    // A long run with a client that re-reads the Secret on every connect.
    let run = soak(&env, &ns, "orders-redis", Duration::from_secs(75), 4, false).await?;
    println!(
        "gcp token soak (20 s tokens, {} s): {} attempts, {} failures, {} distinct tokens, {} reads of an expired token",
        run.seconds,
        run.attempts,
        run.failures,
        run.credentials.len(),
        run.expired_reads
    );
    assert_eq!(run.failures, 0, "{:?}", run.errors);
    assert_eq!(run.expired_reads, 0);
    assert!(
        run.credentials.len() >= 4,
        "the Secret was rewritten before every expiry"
    );
    let obj = env.get("AccessBinding", "orders-api").await?.unwrap();
    assert!(obj.data["status"]["tokenExpiresAt"].is_string());
    assert!(obj.data["status"]["lastRotationTime"].is_string());
    assert_eq!(obj.data["status"]["secretName"], "orders-redis");

    // Update: a second member; the grant follows, others still untouched.
    sim.faults(json!({"iamConflicts": 1})).await?;
    let second = format!("serviceAccount:batch@{project}.iam.gserviceaccount.com");
    env.apply(gcp_group(
        "clients",
        &[format!("serviceAccount:{sa}"), second.clone()],
    ))
    .await?;
    env.wait_for_value(READY, || async {
        let p = get_policy(sim, &project).await.ok()?;
        (ours(&p).first()?["members"].as_array()?.len() == 2).then_some(())
    })
    .await?;
    assert_eq!(others(&get_policy(sim, &project).await?), others(&initial));

    let seen: BTreeSet<String> = run
        .credentials
        .union(&credentials_in_secrets(&env, &[&ns]).await?)
        .cloned()
        .collect();
    assert_nothing_leaked(&env, &[&ns], &seen).await?;

    // Delete the binding: its Secret goes, and so does its metric.
    env.delete("AccessBinding", "orders-api").await?;
    env.wait_gone("AccessBinding", "orders-api", READY).await?;
    env.wait_for_value(READY, || async {
        read_secret(&env, &ns, "orders-redis")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await?;
    assert_eq!(
        expiry_metric(&metrics(&env).await?, &ns, "orders-api"),
        None
    );

    // Delete the group: the policy is exactly what it was before the operator came.
    env.delete("UserGroup", "clients").await?;
    env.wait_gone("UserGroup", "clients", READY).await?;
    let after = get_policy(sim, &project).await?;
    assert_eq!(
        serde_json::to_string(&after["bindings"])?,
        initial_bindings,
        "byte-for-byte the bindings found before"
    );
    env.delete("RedisCluster", "orders").await?;
    env.wait_gone("RedisCluster", "orders", READY).await?;
    Ok(())
}

#[tokio::test]
async fn gcp_removing_a_member_revokes_access() -> anyhow::Result<()> {
    let env = Env::start("gcp-revoke").await?;
    let sim = env.sim();
    let ns = env.namespace.clone();
    let project = gcp_project();
    let sa = format!("reporting@{project}.iam.gserviceaccount.com");
    let keep = format!("serviceAccount:keep@{project}.iam.gserviceaccount.com");
    env.apply(gcp_group(
        "readers",
        &[format!("serviceAccount:{sa}"), keep.clone()],
    ))
    .await?;
    env.apply(gcp_iam_cluster(
        "metrics",
        &unique_id("metrics"),
        &["readers"],
    ))
    .await?;
    env.apply(binding(
        "reporting",
        "metrics",
        "readers",
        Some(&sa),
        json!({}),
    ))
    .await?;
    env.wait_ready("AccessBinding", "reporting", READY).await?;
    let data = read_secret(&env, &ns, "reporting").await?.unwrap();
    let ca = sim.ca_pem().await?;
    let old = target(&data, &ca);
    assert_eq!(redis_client::set_get(&old, "k", "v").await?, "v");
    // The token is good for an hour: any refusal below is the revocation.
    assert!(
        expires_at(&data).unwrap() > jiff::Timestamp::now() + jiff::SignedDuration::from_mins(30)
    );

    env.apply(gcp_group("readers", std::slice::from_ref(&keep)))
        .await?;
    env.wait_reason("AccessBinding", "reporting", "NotAuthorized", READY)
        .await?;
    let refused = env
        .wait_for_value(READY, || async {
            match redis_client::ping(&old).await {
                Err(e) if refused(&e) => Some(e.to_string()),
                _ => None,
            }
        })
        .await?;
    println!("gcp revocation: the old token is now refused: {refused}");
    assert_nothing_leaked(&env, &[&ns], &BTreeSet::from([data["password"].clone()])).await?;
    assert!(
        read_secret(&env, &ns, "reporting").await?.is_none(),
        "the Secret is removed"
    );
    let policy = get_policy(sim, &project).await?;
    assert_eq!(ours(&policy).len(), 1);
    assert_eq!(ours(&policy)[0]["members"], json!([keep]));
    Ok(())
}

#[tokio::test]
async fn aws_iam_token_binding_and_deletion_order() -> anyhow::Result<()> {
    let opts = Options {
        operator_args: vec!["--aws-iam-token-lifetime".into(), "20s".into()],
        ..Options::default()
    };
    let env = Env::start_with("aws-iam-binding", opts).await?;
    let sim = env.sim();
    let ns = env.namespace.clone();
    sim.configure(json!({"awsIamTokenMaxLifetimeSeconds": 20}))
        .await?;
    let gid = unique_id("sessions-users");
    let rg = unique_id("sessions");
    env.apply(aws_group(
        "users",
        &gid,
        &[("app-iam", "iam"), ("app-pw", "password")],
    ))
    .await?;
    env.apply(aws_cluster("sessions", &rg, "iam", "users"))
        .await?;
    env.apply(binding(
        "app",
        "sessions",
        "users",
        Some("app-iam"),
        json!({}),
    ))
    .await?;
    env.wait_ready("AccessBinding", "app", READY).await?;

    let group = env.get("UserGroup", "users").await?.unwrap();
    let st = &group.data["status"];
    assert_eq!(st["userGroupId"], gid.as_str());
    let created: BTreeSet<String> = st["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|u| u.as_str().map(str::to_owned))
        .collect();
    let expected: BTreeSet<String> = [
        "app-iam".to_owned(),
        "app-pw".to_owned(),
        format!("{gid}-default"),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        created, expected,
        "the users the operator created, with the stand-in default user"
    );

    let data = read_secret(&env, &ns, "app").await?.unwrap();
    for k in SECRET_KEYS.iter().chain(&["expires-at", "refresh-at"]) {
        assert!(data.contains_key(*k), "missing {k}: {:?}", data.keys());
    }
    assert_eq!(data["provider"], "aws");
    assert_eq!(data["username"], "app-iam");
    assert!(data["password"].starts_with(&format!("{rg}/?Action=connect&User=app-iam&")));
    let ca = sim.ca_pem().await?;
    assert_eq!(
        redis_client::set_get(&target(&data, &ca), "a", "b").await?,
        "b"
    );

    let run = soak(&env, &ns, "app", Duration::from_secs(60), 3, false).await?;
    println!(
        "aws IAM token soak (20 s tokens, {} s): {} attempts, {} failures, {} distinct tokens, {} reads of an expired token",
        run.seconds,
        run.attempts,
        run.failures,
        run.credentials.len(),
        run.expired_reads
    );
    assert_eq!(run.failures, 0, "{:?}", run.errors);
    assert_eq!(run.expired_reads, 0);
    assert!(run.credentials.len() >= 3);

    let mut seen = run.credentials.clone();
    seen.extend(credentials_in_secrets(&env, &[&ns]).await?);
    assert_nothing_leaked(&env, &[&ns], &seen).await?;

    // The group cannot go while the cluster lists it: the condition names the cluster.
    env.delete("UserGroup", "users").await?;
    let g = env
        .wait_reason("UserGroup", "users", "InUse", READY)
        .await?;
    let msg = condition(&g, "Ready").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains(&format!("{ns}/sessions")), "{msg}");
    env.delete("AccessBinding", "app").await?;
    env.delete("RedisCluster", "sessions").await?;
    env.wait_gone("RedisCluster", "sessions", READY).await?;
    env.wait_gone("UserGroup", "users", READY).await?;
    // The users the operator created went with the group (ElastiCache takes a moment to finish
    // deleting them); so did the password Secret.
    env.wait_for_value(READY, || async {
        let users = sim_describe_users(sim).await.ok()?.to_string();
        ["app-iam", "app-pw"]
            .iter()
            .all(|u| !users.contains(&format!("<UserId>{u}</UserId>")))
            .then_some(())
    })
    .await?;
    assert!(read_secret(&env, &ns, "users-passwords").await?.is_none());
    Ok(())
}

/// The users that exist, as DescribeUsers' XML (an admin view of the simulated account).
async fn sim_describe_users(sim: &CloudSim) -> anyhow::Result<Value> {
    let conf = aws_sdk_config(sim).await;
    let client = aws_sdk_elasticache::Client::new(&conf);
    let out = client.describe_users().send().await?;
    Ok(Value::String(
        out.users()
            .iter()
            .map(|u| format!("<UserId>{}</UserId>", u.user_id().unwrap_or_default()))
            .collect(),
    ))
}

async fn aws_sdk_config(sim: &CloudSim) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
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
        .await
}

#[tokio::test]
async fn aws_password_rotation_keeps_clients_connected() -> anyhow::Result<()> {
    let opts = Options {
        operator_args: vec!["--password-overlap".into(), "20s".into()],
        ..Options::default()
    };
    let env = Env::start_with("aws-rotation", opts).await?;
    let ns = env.namespace.clone();
    let gid = unique_id("cart-users");
    env.apply(aws_group("users", &gid, &[("cart", "password")]))
        .await?;
    env.apply(aws_cluster("cart", &unique_id("cart"), "password", "users"))
        .await?;
    env.apply(binding(
        "cart",
        "cart",
        "users",
        Some("cart"),
        json!({"rotation": {"interval": "1m"}}),
    ))
    .await?;
    env.wait_ready("AccessBinding", "cart", READY).await?;
    let data = wait_secret(&env, &ns, "cart").await?;
    assert_eq!(data["username"], "cart");
    assert!(data.contains_key("refresh-at") && !data.contains_key("expires-at"));
    assert_eq!(data["password"].len(), 32);

    // Two rotations (every minute, 20 s overlap) under a client that reconnects with what the
    // Secret says, and one connection held open throughout.
    let run = soak(&env, &ns, "cart", Duration::from_secs(130), 3, true).await?;
    println!(
        "aws password rotation soak (1m interval, 20 s overlap, {} s): {} attempts, {} failures, {} distinct passwords, held connection failures {}",
        run.seconds,
        run.attempts,
        run.failures,
        run.credentials.len(),
        run.held_failures
    );
    assert_eq!(run.failures, 0, "{:?}", run.errors);
    assert_eq!(
        run.held_failures, 0,
        "the open connection survived the rotations"
    );
    assert!(run.credentials.len() >= 3, "two rotations happened");

    // After the overlap the oldest password no longer works.
    let oldest = data["password"].clone();
    let ca = env.sim().ca_pem().await?;
    let mut stale = target(&data, &ca);
    stale.password = Some(oldest);
    let e = redis_client::ping(&stale)
        .await
        .expect_err("the first password is retired");
    assert!(refused(&e), "{e}");

    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(env.client.clone(), &ns);
    let rotated = events
        .list(&ListParams::default())
        .await?
        .iter()
        .filter(|e| e.reason.as_deref() == Some("PasswordRotated"))
        .count();
    assert!(rotated >= 1, "rotations are announced as events");

    let mut seen = run.credentials.clone();
    seen.extend(credentials_in_secrets(&env, &[&ns]).await?);
    assert_nothing_leaked(&env, &[&ns], &seen).await?;
    Ok(())
}

#[tokio::test]
async fn aws_removing_a_user_revokes_access() -> anyhow::Result<()> {
    let env = Env::start("aws-revoke").await?;
    let ns = env.namespace.clone();
    let gid = unique_id("shop-users");
    env.apply(aws_group(
        "users",
        &gid,
        &[("shop", "password"), ("audit", "password")],
    ))
    .await?;
    env.apply(aws_cluster("shop", &unique_id("shop"), "password", "users"))
        .await?;
    env.apply(binding("shop", "shop", "users", Some("shop"), json!({})))
        .await?;
    env.wait_ready("AccessBinding", "shop", READY).await?;
    let data = read_secret(&env, &ns, "shop").await?.unwrap();
    let ca = env.sim().ca_pem().await?;
    let old = target(&data, &ca);
    assert_eq!(redis_client::set_get(&old, "k", "v").await?, "v");

    // A merge patch replaces the list, as `kubectl edit` would.
    let remaining = aws_group("users", &gid, &[("audit", "password")]);
    env.api("UserGroup")
        .patch(
            "users",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"aws": {"users": remaining["spec"]["aws"]["users"]}}})),
        )
        .await?;
    env.wait_reason("AccessBinding", "shop", "NotAuthorized", READY)
        .await?;
    let refused = env
        .wait_for_value(READY, || async {
            match redis_client::ping(&old).await {
                Err(e) if refused(&e) => Some(e.to_string()),
                _ => None,
            }
        })
        .await?;
    println!("aws revocation: the removed user's password is now refused: {refused}");
    let mut seen = credentials_in_secrets(&env, &[&ns]).await?;
    seen.insert(data["password"].clone());
    assert_nothing_leaked(&env, &[&ns], &seen).await?;
    assert!(read_secret(&env, &ns, "shop").await?.is_none());
    let g = env.wait_ready("UserGroup", "users", READY).await?;
    let users: Vec<&str> = g.data["status"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        !users.contains(&"shop"),
        "the removed user was deleted: {users:?}"
    );
    Ok(())
}

#[tokio::test]
async fn cross_namespace_bindings_need_the_clusters_permission() -> anyhow::Result<()> {
    let env = Env::start("cross-ns").await?;
    let ns = env.namespace.clone();
    let project = gcp_project();
    let sa = format!("web@{project}.iam.gserviceaccount.com");
    env.apply(gcp_group("web-clients", &[format!("serviceAccount:{sa}")]))
        .await?;
    env.apply(gcp_iam_cluster(
        "shared",
        &unique_id("shared"),
        &["web-clients"],
    ))
    .await?;
    env.wait_ready("RedisCluster", "shared", READY).await?;

    let other = format!("{ns}-apps");
    let ns_obj: Namespace = serde_json::from_value(json!({"metadata": {"name": other}}))?;
    Api::<Namespace>::all(env.client.clone())
        .create(&PostParams::default(), &ns_obj)
        .await?;
    let bindings: Api<kube::api::DynamicObject> =
        Api::namespaced_with(env.client.clone(), &other, &e2e::resource("AccessBinding"));
    let mut b = binding("web", "shared", "web-clients", Some(&sa), json!({}));
    b["spec"]["clusterRef"]["namespace"] = json!(ns);
    bindings
        .patch("web", &PatchParams::apply("e2e").force(), &Patch::Apply(&b))
        .await?;

    let refused = env
        .wait_for_value(READY, || async {
            let o = bindings.get("web").await.ok()?;
            (condition(&o, "Ready")?["reason"] == "NamespaceNotAllowed").then_some(o)
        })
        .await?;
    let msg = condition(&refused, "Ready").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(msg.contains("allowedNamespaces"), "{msg}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        read_secret(&env, &other, "web").await?.is_none(),
        "no Secret without permission"
    );

    env.api("RedisCluster")
        .patch(
            "shared",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"access": {"allowedNamespaces": [other]}}})),
        )
        .await?;
    let data = wait_secret(&env, &other, "web").await?;
    let ca = env.sim().ca_pem().await?;
    assert_eq!(
        redis_client::set_get(&target(&data, &ca), "x", "y").await?,
        "y"
    );

    let seen = credentials_in_secrets(&env, &[&other]).await?;
    assert_nothing_leaked(&env, &[&ns, &other], &seen).await?;
    let _ = Api::<Namespace>::all(env.client.clone())
        .delete(&other, &DeleteParams::default())
        .await;
    Ok(())
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_valid_token_and_says_so() -> anyhow::Result<()> {
    let env = Env::start("refresh-failure").await?;
    let sim = env.sim();
    let ns = env.namespace.clone();
    let project = gcp_project();
    sim.configure(json!({"gcpTokenMaxLifetimeSeconds": 30}))
        .await?;
    let sa = format!("jobs@{project}.iam.gserviceaccount.com");
    env.apply(gcp_group("jobs", &[format!("serviceAccount:{sa}")]))
        .await?;
    env.apply(gcp_iam_cluster("jobs", &unique_id("jobs"), &["jobs"]))
        .await?;
    env.apply(binding("jobs", "jobs", "jobs", Some(&sa), json!({})))
        .await?;
    env.wait_ready("AccessBinding", "jobs", READY).await?;
    let first = read_secret(&env, &ns, "jobs").await?.unwrap();
    let expires = expires_at(&first).unwrap();

    // IAM Credentials goes down: the refresh at two thirds of the lifetime fails.
    sim.faults(json!({"errorRate": 1.0, "operations": ["serviceAccounts.generateAccessToken"]}))
        .await?;
    let failing = env
        .wait_for("AccessBinding", "jobs", READY, |o| {
            let o = o?;
            (condition(o, "Reconciling")?["reason"] == "RefreshFailed").then(|| o.clone())
        })
        .await?;
    assert!(
        jiff::Timestamp::now() < expires,
        "the failure is noticed before the token expires"
    );
    assert_eq!(
        condition(&failing, "Ready").unwrap()["status"],
        "True",
        "the old token still works"
    );
    let now = read_secret(&env, &ns, "jobs").await?.unwrap();
    assert_eq!(
        now["password"], first["password"],
        "the Secret keeps the valid token"
    );
    let ca = sim.ca_pem().await?;
    assert_eq!(
        redis_client::set_get(&target(&now, &ca), "k", "v").await?,
        "v"
    );
    let left = expiry_metric(&metrics(&env).await?, &ns, "jobs").expect("expiry metric");
    assert!(left > 0.0 && left <= 30.0, "{left}");
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(env.client.clone(), &ns);
    env.wait_for_value(READY, || async {
        events
            .list(&ListParams::default())
            .await
            .ok()?
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("RefreshFailed")
                    && e.type_.as_deref() == Some("Warning")
            })
            .then_some(())
    })
    .await?;

    // Past its expiry the binding says it is no longer Ready.
    let expired = env
        .wait_reason("AccessBinding", "jobs", "RefreshFailed", READY)
        .await?;
    assert_eq!(condition(&expired, "Ready").unwrap()["status"], "False");
    assert!(jiff::Timestamp::now() >= expires);

    // IAM Credentials is back: a new token, and the binding recovers.
    sim.clear_faults().await?;
    env.wait_for("AccessBinding", "jobs", READY, |o| {
        let o = o?;
        (condition(o, "Ready")?["reason"] == "CredentialsIssued"
            && condition(o, "Ready")?["status"] == "True"
            && condition(o, "Reconciling")?["status"] == "False")
            .then_some(())
    })
    .await?;
    let fresh = read_secret(&env, &ns, "jobs").await?.unwrap();
    assert_ne!(fresh["password"], first["password"]);
    assert_eq!(
        redis_client::set_get(&target(&fresh, &ca), "k", "w").await?,
        "w"
    );
    println!(
        "refresh failure: noticed with {left:.0} s of validity left, the valid token kept, Ready=False after expiry, recovered once IAM Credentials answered"
    );
    let seen = BTreeSet::from([first["password"].clone(), fresh["password"].clone()]);
    assert_nothing_leaked(&env, &[&ns], &seen).await?;
    Ok(())
}

#[tokio::test]
async fn a_gcp_binding_without_a_user_connects_as_the_operator() -> anyhow::Result<()> {
    let env = Env::start("gcp-operator-identity").await?;
    let ns = env.namespace.clone();
    env.sim()
        .configure(json!({"gcpTokenMaxLifetimeSeconds": 20}))
        .await?;
    // The identity the harness gives the operator (a key file the simulator issued).
    let operator = "serviceAccount:cache-operator@operator-proj.iam.gserviceaccount.com";
    env.apply(gcp_group("ops", &[operator.to_owned()])).await?;
    env.apply(gcp_iam_cluster("ops", &unique_id("ops"), &["ops"]))
        .await?;
    env.apply(binding("ops", "ops", "ops", None, json!({})))
        .await?;
    env.wait_ready("AccessBinding", "ops", READY).await?;
    let secret = secret_object(&env, &ns, "ops").await?.unwrap();
    let credential = secret
        .annotations()
        .get("cache-operator.io/credential")
        .cloned()
        .unwrap_or_default();
    assert!(
        credential.starts_with("gcp-token operator "),
        "{credential}"
    );
    let run = soak(&env, &ns, "ops", Duration::from_secs(30), 2, false).await?;
    println!(
        "operator identity soak (20 s tokens, {} s): {} attempts, {} failures, {} distinct tokens",
        run.seconds,
        run.attempts,
        run.failures,
        run.credentials.len()
    );
    assert_eq!(run.failures, 0, "{:?}", run.errors);
    assert_eq!(run.expired_reads, 0);
    assert!(run.credentials.len() >= 2, "each refresh mints a new token");
    assert_nothing_leaked(&env, &[&ns], &run.credentials).await?;
    Ok(())
}
