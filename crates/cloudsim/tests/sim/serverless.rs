//! ElastiCache Serverless caches: the lifecycle through boto3 and the aws CLI (run when installed),
//! the rules through the Rust SDK, and the Redis behind each cache (TLS, the reader endpoint,
//! password and IAM users, data kept across an engine change, final snapshots and restores).

use std::process::Command;
use std::time::{Duration, SystemTime};

use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::types::{
    AuthenticationMode, CacheUsageLimits, DataStorage, DataStorageUnit, EcpuPerSecond,
    InputAuthenticationType, ServerlessCache, ServerlessCacheSnapshot, Tag,
};
use serde_json::{Value, json};

use crate::common::*;

const SECRET: &str = cloudsim::DEFAULT_AWS_SECRET_ACCESS_KEY;
const APP_PW: &str = "app-password-0123456789";
const DEFAULT_PW: &str = "default-user-password-0123";
/// Serverless caches per region (the quota the crate README documents).
const MAX_CACHES: usize = 40;
const WRONGPASS: &str = "-WRONGPASS invalid username-password pair or user is disabled.";

fn installed(program: &str, probe: &[&str]) -> bool {
    let ok = Command::new(program)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: `{program}` is not usable here; this test drives it");
    }
    ok
}

async fn run_raw(mut cmd: Command) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = cmd.output().expect("the program runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn with_aws_env(cmd: &mut Command) {
    cmd.env("AWS_ACCESS_KEY_ID", cloudsim::DEFAULT_AWS_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
}

fn aws_cli(base: &str, args: &[&str]) -> Command {
    let mut c = Command::new("aws");
    with_aws_env(&mut c);
    c.args(["--endpoint-url", base, "--output", "json", "elasticache"])
        .args(args);
    c
}

async fn cli_ok(base: &str, args: &[&str]) -> Value {
    let (ok, out, err) = run_raw(aws_cli(base, args)).await;
    assert!(ok, "aws elasticache {args:?}: {err}");
    if out.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }
}

async fn cli_fails(base: &str, args: &[&str]) -> String {
    let (ok, out, err) = run_raw(aws_cli(base, args)).await;
    assert!(!ok, "aws elasticache {args:?} succeeded: {out}");
    err
}

async fn wait_cache(t: &TestSim, name: &str, status: &str) -> ServerlessCache {
    let aws = t.aws();
    eventually(&format!("serverless cache {name} {status}"), || async {
        let out = aws
            .describe_serverless_caches()
            .serverless_cache_name(name)
            .send()
            .await
            .expect("describe serverless caches");
        let c = out.serverless_caches()[0].clone();
        (c.status() == Some(status)).then_some(c)
    })
    .await
}

async fn wait_gone(t: &TestSim, name: &str) {
    let aws = t.aws();
    eventually(&format!("serverless cache {name} deleted"), || async {
        let r = aws
            .describe_serverless_caches()
            .serverless_cache_name(name)
            .send()
            .await;
        r.err().map(|e| {
            assert!(
                e.into_service_error().is_serverless_cache_not_found_fault(),
                "a deleted cache is ServerlessCacheNotFoundFault"
            );
        })
    })
    .await;
}

async fn wait_snapshot(t: &TestSim, name: &str) -> ServerlessCacheSnapshot {
    let aws = t.aws();
    eventually(&format!("snapshot {name} available"), || async {
        let out = aws
            .describe_serverless_cache_snapshots()
            .serverless_cache_snapshot_name(name)
            .send()
            .await
            .expect("describe snapshots");
        let s = out.serverless_cache_snapshots()[0].clone();
        (s.status() == Some("available")).then_some(s)
    })
    .await
}

fn port(e: Option<&aws_sdk_elasticache::types::Endpoint>) -> u16 {
    let e = e.expect("endpoint reported");
    assert_eq!(e.address(), Some("127.0.0.1"));
    u16::try_from(e.port().expect("port")).unwrap()
}

/// A Redis client over TLS (verified with the simulator's CA) as `user`, or unauthenticated.
async fn redis_tls(
    t: &TestSim,
    port: u16,
    auth: Option<(&str, &str)>,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let credentials = auth.map_or(String::new(), |(u, p)| {
        format!(
            "{}:{}@",
            u,
            percent_encode(p) // tokens carry `&`, `=` and `/`
        )
    });
    let client = redis::Client::build_with_tls(
        format!("rediss://{credentials}127.0.0.1:{port}/"),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(t.ca_pem().into_bytes()),
        },
    )?;
    client.get_multiplexed_async_connection().await
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn set(con: &mut redis::aio::MultiplexedConnection, k: &str, v: &str) {
    let () = redis::cmd("SET")
        .arg(k)
        .arg(v)
        .query_async(con)
        .await
        .expect("SET");
}

async fn get(con: &mut redis::aio::MultiplexedConnection, k: &str) -> Option<String> {
    redis::cmd("GET")
        .arg(k)
        .query_async(con)
        .await
        .expect("GET")
}

#[tokio::test]
async fn boto3_drives_serverless_caches_and_snapshots() {
    if !installed("python3", &["-c", "import boto3"]) {
        return;
    }
    let t = start(Opts::default()).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sim/serverless_boto3.py");
    let mut cmd = Command::new("python3");
    with_aws_env(&mut cmd);
    cmd.arg(script).env("CLOUDSIM_URL", &t.base);
    let (ok, out, err) = run_raw(cmd).await;
    assert!(ok, "the boto3 script failed:\n{err}");
    assert_eq!(out.trim(), r#"{"ok": true}"#);
}

#[tokio::test]
async fn aws_cli_drives_serverless_caches_and_snapshots() {
    if !installed("aws", &["--version"]) {
        return;
    }
    let t = start(Opts {
        redis: true,
        ..Opts::default()
    })
    .await;
    let base = t.base.as_str();
    let out = cli_ok(
        base,
        &[
            "create-serverless-cache",
            "--serverless-cache-name",
            "sessions",
            "--engine",
            "redis",
            "--major-engine-version",
            "7",
            "--cache-usage-limits",
            "DataStorage={Maximum=10,Unit=GB},ECPUPerSecond={Maximum=5000}",
            "--tags",
            "Key=team,Value=web",
        ],
    )
    .await;
    assert_eq!(out["ServerlessCache"]["Status"], "creating");
    let c = wait_cache(&t, "sessions", "available").await;
    let (endpoint, reader) = (port(c.endpoint()), port(c.reader_endpoint()));
    assert_ne!(endpoint, reader, "the reader endpoint is a port of its own");

    let listed = cli_ok(base, &["describe-serverless-caches"]).await;
    let c = &listed["ServerlessCaches"][0];
    assert_eq!(c["ServerlessCacheName"], "sessions");
    assert_eq!(
        c["CacheUsageLimits"],
        json!({"DataStorage": {"Maximum": 10, "Unit": "GB"}, "ECPUPerSecond": {"Maximum": 5000}})
    );
    assert_eq!(c["Endpoint"]["Port"], endpoint);
    assert_eq!(c["ReaderEndpoint"]["Port"], reader);

    let err = cli_fails(
        base,
        &[
            "create-serverless-cache",
            "--serverless-cache-name",
            "too-big",
            "--engine",
            "valkey",
            "--cache-usage-limits",
            "ECPUPerSecond={Maximum=20000000}",
        ],
    )
    .await;
    assert!(err.contains("(InvalidParameterValue)"), "{err}");

    let err = cli_fails(
        base,
        &[
            "modify-serverless-cache",
            "--serverless-cache-name",
            "sessions",
            "--description",
            "web sessions",
            "--daily-snapshot-time",
            "03:00",
        ],
    )
    .await;
    assert!(
        err.contains("(InvalidParameterCombination)")
            && err.contains("only support modifying one field per request"),
        "{err}"
    );
    let out = cli_ok(
        base,
        &[
            "modify-serverless-cache",
            "--serverless-cache-name",
            "sessions",
            "--description",
            "web sessions",
        ],
    )
    .await;
    assert_eq!(out["ServerlessCache"]["Status"], "modifying");
    wait_cache(&t, "sessions", "available").await;
    cli_ok(
        base,
        &[
            "modify-serverless-cache",
            "--serverless-cache-name",
            "sessions",
            "--daily-snapshot-time",
            "03:00",
        ],
    )
    .await;
    let c = wait_cache(&t, "sessions", "available").await;
    assert_eq!(
        (c.description(), c.daily_snapshot_time()),
        (Some("web sessions"), Some("03:00"))
    );

    let mut con = redis_tls(&t, endpoint, None).await.unwrap();
    set(&mut con, "greeting", "hello").await;
    let snap = cli_ok(
        base,
        &[
            "create-serverless-cache-snapshot",
            "--serverless-cache-name",
            "sessions",
            "--serverless-cache-snapshot-name",
            "sessions-1",
        ],
    )
    .await;
    assert_eq!(snap["ServerlessCacheSnapshot"]["Status"], "creating");
    let s = wait_snapshot(&t, "sessions-1").await;
    assert!(
        s.bytes_used_for_cache()
            .and_then(|b| b.parse::<u64>().ok())
            .is_some_and(|b| b > 0),
        "the snapshot holds the data: {s:?}"
    );
    cli_ok(
        base,
        &[
            "copy-serverless-cache-snapshot",
            "--source-serverless-cache-snapshot-name",
            "sessions-1",
            "--target-serverless-cache-snapshot-name",
            "sessions-1-copy",
        ],
    )
    .await;
    wait_snapshot(&t, "sessions-1-copy").await;
    cli_ok(
        base,
        &[
            "export-serverless-cache-snapshot",
            "--serverless-cache-snapshot-name",
            "sessions-1-copy",
            "--s3-bucket-name",
            "exports",
        ],
    )
    .await;
    let (_, objects) = t.get("/_cloudsim/storage").await;
    assert!(
        objects
            .to_string()
            .contains("s3://exports/sessions-1-copy.rdb"),
        "{objects}"
    );
    let snaps = cli_ok(
        base,
        &[
            "describe-serverless-cache-snapshots",
            "--serverless-cache-name",
            "sessions",
        ],
    )
    .await;
    assert_eq!(
        snaps["ServerlessCacheSnapshots"].as_array().map(Vec::len),
        Some(2),
        "{snaps}"
    );
    cli_ok(
        base,
        &[
            "delete-serverless-cache-snapshot",
            "--serverless-cache-snapshot-name",
            "sessions-1-copy",
        ],
    )
    .await;

    let out = cli_ok(
        base,
        &[
            "delete-serverless-cache",
            "--serverless-cache-name",
            "sessions",
            "--final-snapshot-name",
            "sessions-final",
        ],
    )
    .await;
    assert_eq!(out["ServerlessCache"]["Status"], "deleting");
    wait_gone(&t, "sessions").await;
    let final_snapshot = wait_snapshot(&t, "sessions-final").await;
    let arn = final_snapshot.arn().unwrap().to_owned();
    cli_ok(
        base,
        &[
            "create-serverless-cache",
            "--serverless-cache-name",
            "sessions-restored",
            "--engine",
            "valkey",
            "--snapshot-arns-to-restore",
            &arn,
        ],
    )
    .await;
    let c = wait_cache(&t, "sessions-restored", "available").await;
    let mut con = redis_tls(&t, port(c.endpoint()), None).await.unwrap();
    assert_eq!(get(&mut con, "greeting").await.as_deref(), Some("hello"));
    let err = cli_fails(
        base,
        &[
            "describe-serverless-caches",
            "--serverless-cache-name",
            "sessions",
        ],
    )
    .await;
    assert!(err.contains("(ServerlessCacheNotFoundFault)"), "{err}");
}

#[tokio::test]
async fn redis_to_valkey_keeps_the_data_and_a_final_snapshot_restores_it() {
    let t = start(Opts {
        redis: true,
        cluster_mode: true,
        ..Opts::default()
    })
    .await;
    let aws = t.aws();
    aws.create_serverless_cache()
        .serverless_cache_name("carts")
        .engine("redis")
        .send()
        .await
        .unwrap();
    let c = wait_cache(&t, "carts", "available").await;
    assert_eq!(
        (
            c.engine(),
            c.major_engine_version(),
            c.full_engine_version()
        ),
        (Some("redis"), Some("7"), Some("7.1"))
    );
    let (endpoint, reader) = (port(c.endpoint()), port(c.reader_endpoint()));

    // TLS is always on; without a user group `default` needs no password.
    let mut plain = Raw::plain(endpoint).await.unwrap();
    assert!(
        !plain.cmd(&["PING"]).await.starts_with("+PONG"),
        "plaintext is not served"
    );
    let mut con = redis_tls(&t, endpoint, None).await.unwrap();
    set(&mut con, "cart:1", "3 apples").await;
    // The cache presents itself in cluster mode, and the reader endpoint serves the same data.
    let mut raw = Raw::tls(endpoint, &t.ca_pem()).await.unwrap();
    assert_eq!(raw.cmd(&["CLUSTER", "SHARDS"]).await, "*1");
    let mut read = Raw::tls(reader, &t.ca_pem()).await.unwrap();
    assert_eq!(read.cmd(&["READONLY"]).await, "+OK");
    assert_eq!(read.cmd(&["GET", "cart:1"]).await, "3 apples");

    let out = aws
        .modify_serverless_cache()
        .serverless_cache_name("carts")
        .engine("valkey")
        .major_engine_version("8")
        .send()
        .await
        .unwrap();
    assert_eq!(out.serverless_cache().unwrap().status(), Some("modifying"));
    let c = wait_cache(&t, "carts", "available").await;
    assert_eq!(
        (
            c.engine(),
            c.major_engine_version(),
            c.full_engine_version()
        ),
        (Some("valkey"), Some("8"), Some("8.2"))
    );
    assert_eq!(port(c.endpoint()), endpoint, "the endpoint stays");
    assert_eq!(get(&mut con, "cart:1").await.as_deref(), Some("3 apples"));

    aws.delete_serverless_cache()
        .serverless_cache_name("carts")
        .final_snapshot_name("carts-final")
        .send()
        .await
        .unwrap();
    wait_gone(&t, "carts").await;
    assert!(
        redis_tls(&t, endpoint, None).await.is_err(),
        "the endpoint closes with the cache"
    );
    let snap = wait_snapshot(&t, "carts-final").await;
    let config = snap.serverless_cache_configuration().unwrap();
    assert_eq!(
        (config.serverless_cache_name(), config.engine()),
        (Some("carts"), Some("valkey"))
    );
    let refused = aws
        .create_serverless_cache()
        .serverless_cache_name("carts-redis")
        .engine("redis")
        .snapshot_arns_to_restore(snap.arn().unwrap())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        refused.code(),
        Some("InvalidParameterCombination"),
        "valkey data does not go back to redis"
    );
    aws.create_serverless_cache()
        .serverless_cache_name("carts-restored")
        .engine("valkey")
        .snapshot_arns_to_restore(snap.arn().unwrap())
        .send()
        .await
        .unwrap();
    let c = wait_cache(&t, "carts-restored", "available").await;
    let mut con = redis_tls(&t, port(c.endpoint()), None).await.unwrap();
    assert_eq!(get(&mut con, "cart:1").await.as_deref(), Some("3 apples"));
}

#[tokio::test]
async fn user_groups_admit_password_and_iam_users_until_removed() {
    let t = start(Opts {
        redis: true,
        ..Opts::default()
    })
    .await;
    let aws = t.aws();
    for (id, name, pw) in [
        ("locked-default", "default", DEFAULT_PW),
        ("app", "app", APP_PW),
    ] {
        aws.create_user()
            .user_id(id)
            .user_name(name)
            .engine("redis")
            .access_string("on ~* +@all")
            .passwords(pw)
            .send()
            .await
            .unwrap();
    }
    aws.create_user()
        .user_id("iam-app")
        .user_name("iam-app")
        .engine("redis")
        .access_string("on ~* +@all")
        .authentication_mode(
            AuthenticationMode::builder()
                .r#type(InputAuthenticationType::Iam)
                .build(),
        )
        .send()
        .await
        .unwrap();
    aws.create_user_group()
        .user_group_id("web-users")
        .engine("redis")
        .user_ids("locked-default")
        .user_ids("app")
        .user_ids("iam-app")
        .send()
        .await
        .unwrap();
    t.wait_user_group("web-users", "active").await;
    aws.create_serverless_cache()
        .serverless_cache_name("web")
        .engine("valkey")
        .user_group_id("web-users")
        .send()
        .await
        .unwrap();
    let c = wait_cache(&t, "web", "available").await;
    assert_eq!(c.user_group_id(), Some("web-users"));
    let (endpoint, reader) = (port(c.endpoint()), port(c.reader_endpoint()));
    let groups = aws
        .describe_user_groups()
        .user_group_id("web-users")
        .send()
        .await
        .unwrap();
    assert_eq!(groups.user_groups()[0].serverless_caches(), ["web"]);
    let attached = aws
        .delete_user_group()
        .user_group_id("web-users")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(attached.is_invalid_user_group_state_fault(), "{attached:?}");

    // A password user, on both endpoints.
    for p in [endpoint, reader] {
        let mut con = redis_tls(&t, p, Some(("app", APP_PW))).await.unwrap();
        set(&mut con, "page", "home").await;
    }
    let mut raw = Raw::tls(endpoint, &t.ca_pem()).await.unwrap();
    assert_eq!(raw.cmd(&["PING"]).await, "-NOAUTH Authentication required.");

    // An IAM user: the token names the cache and carries ResourceType=ServerlessCache.
    let now = SystemTime::now();
    let token = presign_iam_token("web", "iam-app", SECRET, now, Some("ServerlessCache"));
    assert!(token.contains("ResourceType=ServerlessCache"), "{token}");
    let mut con = redis_tls(&t, endpoint, Some(("iam-app", &token)))
        .await
        .expect("a Redis client authenticates with the IAM token");
    assert_eq!(get(&mut con, "page").await.as_deref(), Some("home"));
    let refused = [
        (
            "signed as for a replication group",
            presign_iam_token("web", "iam-app", SECRET, now, None),
        ),
        (
            "another resource type",
            presign_iam_token("web", "iam-app", SECRET, now, Some("ReplicationGroup")),
        ),
        (
            "another cache",
            presign_iam_token("shop", "iam-app", SECRET, now, Some("ServerlessCache")),
        ),
        (
            "expired",
            presign_iam_token(
                "web",
                "iam-app",
                SECRET,
                now - Duration::from_secs(20 * 60),
                Some("ServerlessCache"),
            ),
        ),
    ];
    for (why, bad) in refused {
        let mut raw = Raw::tls(endpoint, &t.ca_pem()).await.unwrap();
        assert_eq!(
            raw.cmd(&["AUTH", "iam-app", &bad]).await,
            WRONGPASS,
            "{why}"
        );
    }

    // RemoveUserGroup: `default` without a password again, the group's users gone.
    aws.modify_serverless_cache()
        .serverless_cache_name("web")
        .remove_user_group(true)
        .send()
        .await
        .unwrap();
    let c = wait_cache(&t, "web", "available").await;
    assert_eq!(c.user_group_id(), None);
    let mut raw = Raw::tls(endpoint, &t.ca_pem()).await.unwrap();
    assert_eq!(raw.cmd(&["GET", "page"]).await, "home");
    assert_eq!(raw.cmd(&["AUTH", "app", APP_PW]).await, WRONGPASS);
    let groups = aws
        .describe_user_groups()
        .user_group_id("web-users")
        .send()
        .await
        .unwrap();
    assert!(groups.user_groups()[0].serverless_caches().is_empty());
    let again = aws
        .modify_serverless_cache()
        .serverless_cache_name("web")
        .remove_user_group(true)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(again.code(), Some("InvalidParameterValue"));
}

#[tokio::test]
async fn limits_fields_states_and_quotas_follow_the_service() {
    let t = start(Opts::default()).await;
    let aws = t.aws();
    let storage = |max: i32| {
        CacheUsageLimits::builder()
            .data_storage(
                DataStorage::builder()
                    .maximum(max)
                    .unit(DataStorageUnit::Gb)
                    .build(),
            )
            .build()
    };
    let ecpu = |min: Option<i32>, max: i32| {
        CacheUsageLimits::builder()
            .ecpu_per_second(
                EcpuPerSecond::builder()
                    .set_minimum(min)
                    .maximum(max)
                    .build(),
            )
            .build()
    };
    let refused = [
        (storage(0), "InvalidParameterValue"),
        (storage(5_001), "InvalidParameterValue"),
        (ecpu(None, 999), "InvalidParameterValue"),
        (ecpu(None, 15_000_001), "InvalidParameterValue"),
        (ecpu(Some(20_000), 10_000), "InvalidParameterCombination"),
    ];
    for (limits, code) in refused {
        let e = aws
            .create_serverless_cache()
            .serverless_cache_name("bounded")
            .engine("valkey")
            .cache_usage_limits(limits.clone())
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(e.code(), Some(code), "{limits:?}: {e:?}");
    }
    for (name, engine, code) in [
        ("bad--name", "valkey", "InvalidParameterValue"),
        ("ok", "memcached", "InvalidParameterValue"),
        ("ok", "valkey", "InvalidParameterCombination"), // major 6 below
    ] {
        let e = aws
            .create_serverless_cache()
            .serverless_cache_name(name)
            .engine(engine)
            .major_engine_version(if code == "InvalidParameterCombination" {
                "6"
            } else {
                "8"
            })
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(e.code(), Some(code), "{name} {engine}: {e:?}");
    }
    let created = aws
        .create_serverless_cache()
        .serverless_cache_name("bounded")
        .engine("valkey")
        .cache_usage_limits(storage(5_000))
        .tags(Tag::builder().key("team").value("a").build())
        .send()
        .await
        .unwrap();
    let arn = created
        .serverless_cache()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    // While creating: no modification, no tags.
    let busy = aws
        .modify_serverless_cache()
        .serverless_cache_name("bounded")
        .description("d")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(busy.is_invalid_serverless_cache_state_fault(), "{busy:?}");
    let tags_busy = aws
        .list_tags_for_resource()
        .resource_name(&arn)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(tags_busy.code(), Some("InvalidServerlessCacheStateFault"));
    wait_cache(&t, "bounded", "available").await;
    let tags = aws
        .list_tags_for_resource()
        .resource_name(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_list()[0].key(), Some("team"));

    // Several fields in one modify are refused with the service's code and words.
    let several = aws
        .modify_serverless_cache()
        .serverless_cache_name("bounded")
        .cache_usage_limits(storage(100))
        .security_group_ids("sg-1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        several.is_invalid_parameter_combination_exception(),
        "{several:?}"
    );
    assert_eq!(
        several.message(),
        Some("Serverless Cache modifications only support modifying one field per request.")
    );
    let nothing = aws
        .modify_serverless_cache()
        .serverless_cache_name("bounded")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(nothing.message(), Some("No modifications were requested"));
    // One field per call is accepted, each waiting for `available`.
    for step in 0..3 {
        let req = aws
            .modify_serverless_cache()
            .serverless_cache_name("bounded");
        let req = match step {
            0 => req.cache_usage_limits(storage(100)),
            1 => req.security_group_ids("sg-1").security_group_ids("sg-2"),
            _ => req.snapshot_retention_limit(35),
        };
        let out = req.send().await.unwrap();
        assert_eq!(out.serverless_cache().unwrap().status(), Some("modifying"));
        wait_cache(&t, "bounded", "available").await;
    }
    let c = wait_cache(&t, "bounded", "available").await;
    let limit = c.cache_usage_limits().unwrap().data_storage().unwrap();
    assert_eq!(limit.maximum(), Some(100));
    assert_eq!(c.security_group_ids(), ["sg-1", "sg-2"]);
    assert_eq!(c.snapshot_retention_limit(), Some(35));
    let too_long = aws
        .modify_serverless_cache()
        .serverless_cache_name("bounded")
        .snapshot_retention_limit(36)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(too_long.code(), Some("InvalidParameterValue"));
    let missing = aws
        .modify_serverless_cache()
        .serverless_cache_name("nope")
        .description("d")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(missing.is_serverless_cache_not_found_fault());

    // A create that fails ends `create-failed`, which can only be deleted.
    let (s, v) = t
        .put(
            "/_cloudsim/faults",
            json!({"operations": ["CreateServerlessCache"], "operationFailures": 1}),
        )
        .await;
    assert!(s.is_success(), "{v}");
    aws.create_serverless_cache()
        .serverless_cache_name("doomed")
        .engine("redis")
        .send()
        .await
        .unwrap();
    let c = wait_cache(&t, "doomed", "create-failed").await;
    assert!(c.endpoint().is_none());
    aws.delete_serverless_cache()
        .serverless_cache_name("doomed")
        .send()
        .await
        .unwrap();
    wait_gone(&t, "doomed").await;

    // The per-region quota.
    for i in 1..MAX_CACHES {
        aws.create_serverless_cache()
            .serverless_cache_name(format!("fill-{i}"))
            .engine("valkey")
            .send()
            .await
            .unwrap();
    }
    let over = aws
        .create_serverless_cache()
        .serverless_cache_name("one-too-many")
        .engine("valkey")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        over.is_serverless_cache_quota_for_customer_exceeded_fault(),
        "{over:?}"
    );
    // Another region has its own.
    t.aws_in("eu-west-1")
        .create_serverless_cache()
        .serverless_cache_name("one-too-many")
        .engine("valkey")
        .send()
        .await
        .unwrap();
}
