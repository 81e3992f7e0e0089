//! The Redis behind each cluster: who gets in (tokens, passwords, IAM auth tokens), TLS with the
//! simulator's CA, cluster mode, and Redis stopping with its cluster. Needs redis-server.

use std::time::{Duration, SystemTime};

use aws_sdk_elasticache::types::{AuthenticationMode, InputAuthenticationType};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

const SA: &str = "app@proj.iam.gserviceaccount.com";
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

async fn grant(t: &TestSim, member: &str, condition_prefix: Option<&str>) {
    let (_, current) = t
        .post(
            &format!("/v1/projects/{PROJECT}:getIamPolicy"),
            json!({"options": {"requestedPolicyVersion": 3}}),
        )
        .await;
    let mut binding = json!({"role": "roles/redis.dbConnectionUser", "members": [member]});
    if let Some(prefix) = condition_prefix {
        binding["condition"] = json!({"title": "one cluster", "expression": format!("resource.name.startsWith(\"{prefix}\")")});
    }
    let policy = json!({"policy": {"version": 3, "etag": current["etag"], "bindings": [binding]}});
    let (s, v) = t
        .post(&format!("/v1/projects/{PROJECT}:setIamPolicy"), policy)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

async fn revoke_all(t: &TestSim) {
    let (_, current) = t
        .post(&format!("/v1/projects/{PROJECT}:getIamPolicy"), json!({}))
        .await;
    let (s, v) = t
        .post(
            &format!("/v1/projects/{PROJECT}:setIamPolicy"),
            json!({"policy": {"etag": current["etag"], "bindings": []}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

async fn impersonate(t: &TestSim, email: &str, lifetime: &str) -> String {
    let (s, v) = t
        .post(
            &format!("/v1/projects/-/serviceAccounts/{email}:generateAccessToken"),
            json!({"scope": [SCOPE], "lifetime": lifetime}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["accessToken"].as_str().unwrap().to_owned()
}

const WRONGPASS: &str = "-WRONGPASS invalid username-password pair or user is disabled.";

#[tokio::test]
async fn gcp_iam_auth_admits_exactly_valid_tokens_of_granted_principals() {
    let t = start(Opts {
        redis: true,
        ..Opts::default()
    })
    .await;
    let cluster_name = format!("projects/{PROJECT}/locations/{REGION}/clusters/iam-cache");
    grant(&t, &format!("serviceAccount:{SA}"), Some(&cluster_name)).await;
    let c = t
        .create_cluster(
            "iam-cache",
            json!({"shardCount": 1, "authorizationMode": "AUTH_MODE_IAM_AUTH"}),
        )
        .await;
    let port = discovery_port(&c);

    let mut anonymous = Raw::plain(port).await.unwrap();
    assert_eq!(
        anonymous.cmd(&["GET", "k"]).await,
        "-NOAUTH Authentication required."
    );
    assert_eq!(anonymous.cmd(&["AUTH", "ya29.garbage"]).await, WRONGPASS);

    // A token minted for the granted service account: SET/GET with a real client, as `default`.
    let token = impersonate(&t, SA, "3600s").await;
    let client = redis::Client::open(format!("redis://default:{token}@127.0.0.1:{port}/")).unwrap();
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("AUTH with a valid token");
    let _: () = redis::cmd("SET")
        .arg("greeting")
        .arg("hello")
        .query_async(&mut con)
        .await
        .unwrap();
    let got: String = redis::cmd("GET")
        .arg("greeting")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(got, "hello");
    let whoami: String = redis::cmd("ACL")
        .arg("WHOAMI")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(whoami, "default");

    let mut raw = Raw::plain(port).await.unwrap();
    assert_eq!(
        raw.cmd(&["AUTH", "someone-else", &token]).await,
        WRONGPASS,
        "default is the only user name"
    );
    assert_eq!(raw.cmd(&["AUTH", &token]).await, "+OK");

    // A valid token of a principal without the role is refused.
    let stranger = impersonate(&t, "stranger@proj.iam.gserviceaccount.com", "3600s").await;
    assert_eq!(
        Raw::plain(port)
            .await
            .unwrap()
            .cmd(&["AUTH", &stranger])
            .await,
        WRONGPASS
    );

    // The condition scopes the grant to this cluster only.
    let other = t
        .create_cluster(
            "other-cache",
            json!({"shardCount": 1, "authorizationMode": "AUTH_MODE_IAM_AUTH"}),
        )
        .await;
    assert_eq!(
        Raw::plain(discovery_port(&other))
            .await
            .unwrap()
            .cmd(&["AUTH", &token])
            .await,
        WRONGPASS
    );

    // Expired tokens get WRONGPASS; a connection authenticated earlier keeps working.
    let short = impersonate(&t, SA, "3s").await;
    let mut early = Raw::plain(port).await.unwrap();
    assert_eq!(early.cmd(&["AUTH", "default", &short]).await, "+OK");
    eventually("the short token expires", || async {
        let reply = Raw::plain(port)
            .await
            .unwrap()
            .cmd(&["AUTH", "default", &short])
            .await;
        (reply == WRONGPASS).then_some(())
    })
    .await;
    assert_eq!(early.cmd(&["SET", "still", "here"]).await, "+OK");

    // Removing the grant stops new connections with a still-valid token.
    revoke_all(&t).await;
    assert_eq!(
        Raw::plain(port).await.unwrap().cmd(&["AUTH", &token]).await,
        WRONGPASS
    );
}

#[tokio::test]
async fn gcp_tls_cluster_speaks_tls_only_with_the_simulator_ca() {
    let t = start(Opts {
        redis: true,
        ..Opts::default()
    })
    .await;
    grant(&t, &format!("serviceAccount:{SA}"), None).await;
    let c = t
        .create_cluster(
            "tls-cache",
            json!({"shardCount": 1, "authorizationMode": "AUTH_MODE_IAM_AUTH",
                   "transitEncryptionMode": "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION"}),
        )
        .await;
    let port = discovery_port(&c);
    let (_, ca) = t
        .get(&format!(
            "/v1/projects/{PROJECT}/locations/{REGION}/clusters/tls-cache/certificateAuthority"
        ))
        .await;
    let ca = ca["managedServerCa"]["caCerts"][0]["certificates"][0]
        .as_str()
        .unwrap()
        .to_owned();

    let token = impersonate(&t, SA, "3600s").await;
    let client = redis::Client::build_with_tls(
        format!("rediss://default:{token}@127.0.0.1:{port}/"),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(ca.clone().into_bytes()),
        },
    )
    .unwrap();
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("TLS connection verified with the sim CA");
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut con)
        .await
        .unwrap();
    let v: String = redis::cmd("GET")
        .arg("k")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(v, "v");

    let mut raw = Raw::tls(port, &ca).await.unwrap();
    assert_eq!(raw.cmd(&["PING"]).await, "-NOAUTH Authentication required.");

    let mut plain = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    plain.write_all(b"PING\r\n").await.unwrap();
    let mut buf = [0u8; 64];
    let n = plain.read(&mut buf).await.unwrap_or(0);
    assert!(
        !buf[..n].starts_with(b"+PONG") && !buf[..n].starts_with(b"-NOAUTH"),
        "plaintext is not served"
    );
}

#[tokio::test]
async fn cluster_mode_announces_the_endpoint() {
    let t = start(Opts {
        redis: true,
        cluster_mode: true,
        ..Opts::default()
    })
    .await;
    let c = t.create_cluster("sharded", json!({"shardCount": 3})).await;
    let port = discovery_port(&c);
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let slots: redis::Value = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut con)
        .await
        .unwrap();
    use redis::Value::{Array, BulkString, Int};
    let Array(ranges) = &slots else {
        panic!("{slots:?}")
    };
    let [Array(range)] = ranges.as_slice() else {
        panic!("one slot range: {slots:?}")
    };
    match range.as_slice() {
        [Int(0), Int(16383), Array(node), ..] => match node.as_slice() {
            [BulkString(ip), Int(p), ..] => {
                assert_eq!(ip.as_slice(), b"127.0.0.1");
                assert_eq!(*p, i64::from(port), "CLUSTER SLOTS points at the endpoint");
            }
            other => panic!("{other:?}"),
        },
        other => panic!("all slots on one node: {other:?}"),
    }
    let _: () = redis::cmd("SET")
        .arg("{user1}:a")
        .arg("1")
        .query_async(&mut con)
        .await
        .unwrap();
}

#[tokio::test]
async fn deleting_a_cluster_stops_its_redis() {
    let t = start(Opts {
        redis: true,
        ..Opts::default()
    })
    .await;
    let c = t
        .create_cluster("short-lived", json!({"shardCount": 1}))
        .await;
    let port = discovery_port(&c);
    assert_eq!(
        Raw::plain(port).await.unwrap().cmd(&["PING"]).await,
        "+PONG",
        "AUTH_MODE_DISABLED: no password"
    );
    let (_, list) = t.get("/_cloudsim/clusters").await;
    assert_eq!(list["clusters"][0]["redis"]["running"], true);
    let (_, op) = t
        .delete(&format!(
            "/v1/projects/{PROJECT}/locations/{REGION}/clusters/short-lived"
        ))
        .await;
    t.wait_op(&op).await;
    assert!(
        Raw::plain(port).await.is_err(),
        "nothing listens on the endpoint any more"
    );
    let (_, list) = t.get("/_cloudsim/clusters").await;
    assert_eq!(list["clusters"], json!([]));
}

async fn create_user(t: &TestSim, id: &str, name: &str, passwords: &[&str]) {
    let mut req = t
        .aws()
        .create_user()
        .user_id(id)
        .user_name(name)
        .engine("redis")
        .access_string("on ~* +@all");
    for p in passwords {
        req = req.passwords(*p);
    }
    req.send().await.expect("create user");
}

async fn rg_port(t: &TestSim, id: &str) -> u16 {
    let rg = t.wait_rg(id, "available").await;
    let ep = rg.node_groups()[0]
        .primary_endpoint()
        .expect("primary endpoint");
    assert_eq!(ep.address(), Some("127.0.0.1"));
    u16::try_from(ep.port().unwrap()).unwrap()
}

const P1: &str = "first-password-0123456789";
const P2: &str = "second-password-0123456789";
const DEFAULT_PW: &str = "default-user-password-0123";

#[tokio::test]
async fn aws_user_group_passwords_work_until_removed() {
    let t = start(Opts {
        redis: true,
        ..Opts::default()
    })
    .await;
    let aws = t.aws();
    create_user(&t, "grp-default", "default", &[DEFAULT_PW]).await;
    create_user(&t, "app", "app", &[P1, P2]).await;
    aws.create_user_group()
        .user_group_id("g")
        .engine("redis")
        .user_ids("grp-default")
        .user_ids("app")
        .send()
        .await
        .unwrap();
    t.wait_user_group("g", "active").await;
    aws.create_replication_group()
        .replication_group_id("pw-cache")
        .replication_group_description("d")
        .transit_encryption_enabled(true)
        .user_group_ids("g")
        .send()
        .await
        .unwrap();
    let port = rg_port(&t, "pw-cache").await;
    let ca = t.ca_pem();

    let mut c = Raw::tls(port, &ca).await.unwrap();
    assert_eq!(
        c.cmd(&["GET", "k"]).await,
        "-NOAUTH Authentication required."
    );
    assert_eq!(c.cmd(&["AUTH", "app", P1]).await, "+OK");
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, "+OK");
    assert_eq!(c.cmd(&["GET", "k"]).await, "v");
    assert_eq!(
        Raw::tls(port, &ca)
            .await
            .unwrap()
            .cmd(&["AUTH", "app", P2])
            .await,
        "+OK"
    );
    assert_eq!(
        Raw::tls(port, &ca)
            .await
            .unwrap()
            .cmd(&["AUTH", DEFAULT_PW])
            .await,
        "+OK"
    );

    // Drop the first password.
    aws.modify_user()
        .user_id("app")
        .passwords(P2)
        .send()
        .await
        .expect("modify user");
    t.wait_user("app", "active").await;
    assert_eq!(
        Raw::tls(port, &ca)
            .await
            .unwrap()
            .cmd(&["AUTH", "app", P1])
            .await,
        WRONGPASS
    );
    assert_eq!(
        Raw::tls(port, &ca)
            .await
            .unwrap()
            .cmd(&["AUTH", "app", P2])
            .await,
        "+OK"
    );
    assert_eq!(
        c.cmd(&["GET", "k"]).await,
        "v",
        "existing connections are kept"
    );

    // Remove the user from the group: its credentials stop working.
    aws.modify_user_group()
        .user_group_id("g")
        .user_ids_to_remove("app")
        .send()
        .await
        .expect("modify group");
    t.wait_user_group("g", "active").await;
    assert_eq!(
        Raw::tls(port, &ca)
            .await
            .unwrap()
            .cmd(&["AUTH", "app", P2])
            .await,
        WRONGPASS
    );
}

#[tokio::test]
async fn aws_without_user_groups_is_open_or_uses_the_auth_token() {
    let t = start(Opts {
        redis: true,
        ..Opts::default()
    })
    .await;
    let aws = t.aws();
    aws.create_replication_group()
        .replication_group_id("open")
        .replication_group_description("d")
        .send()
        .await
        .unwrap();
    let port = rg_port(&t, "open").await;
    assert_eq!(
        Raw::plain(port).await.unwrap().cmd(&["PING"]).await,
        "+PONG"
    );

    aws.create_replication_group()
        .replication_group_id("token")
        .replication_group_description("d")
        .transit_encryption_enabled(true)
        .auth_token(P1)
        .send()
        .await
        .unwrap();
    let port = rg_port(&t, "token").await;
    let ca = t.ca_pem();
    assert_eq!(
        Raw::tls(port, &ca).await.unwrap().cmd(&["PING"]).await,
        "-NOAUTH Authentication required."
    );
    assert_eq!(
        Raw::tls(port, &ca).await.unwrap().cmd(&["AUTH", P1]).await,
        "+OK"
    );
}

/// An ElastiCache IAM auth token for a replication group, presigned as reference §9 shows.
fn presign(cache: &str, user: &str, secret: &str, signed_at: SystemTime) -> String {
    presign_iam_token(cache, user, secret, signed_at, None)
}

#[tokio::test]
async fn aws_iam_tokens_are_verified() {
    let t = start(Opts {
        redis: true,
        ..Opts::default()
    })
    .await;
    let aws = t.aws();
    aws.create_user()
        .user_id("iam-user")
        .user_name("iam-user")
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
    create_user(&t, "locked-default", "default", &[DEFAULT_PW]).await;
    aws.create_user_group()
        .user_group_id("iam-group")
        .engine("redis")
        .user_ids("locked-default")
        .user_ids("iam-user")
        .send()
        .await
        .unwrap();
    t.wait_user_group("iam-group", "active").await;
    aws.create_replication_group()
        .replication_group_id("iam-cache")
        .replication_group_description("d")
        .transit_encryption_enabled(true)
        .user_group_ids("iam-group")
        .send()
        .await
        .unwrap();
    let port = rg_port(&t, "iam-cache").await;
    let ca = t.ca_pem();
    let secret = cloudsim::DEFAULT_AWS_SECRET_ACCESS_KEY;
    let now = SystemTime::now();

    let token = presign("iam-cache", "iam-user", secret, now);
    assert!(
        token.starts_with(
            "iam-cache/?Action=connect&User=iam-user&X-Amz-Algorithm=AWS4-HMAC-SHA256"
        ),
        "{token}"
    );
    let mut c = Raw::tls(port, &ca).await.unwrap();
    assert_eq!(c.cmd(&["AUTH", "iam-user", &token]).await, "+OK");
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, "+OK");
    let hello = Raw::tls(port, &ca)
        .await
        .unwrap()
        .cmd(&["HELLO", "3", "AUTH", "iam-user", &token])
        .await;
    assert!(
        hello.starts_with('%'),
        "HELLO with AUTH is checked the same way: {hello}"
    );

    let refused = [
        (
            "expired",
            presign(
                "iam-cache",
                "iam-user",
                secret,
                now - Duration::from_secs(20 * 60),
            ),
        ),
        (
            "forged",
            presign("iam-cache", "iam-user", "not-the-secret", now),
        ),
        (
            "other cache",
            presign("other-cache", "iam-user", secret, now),
        ),
        ("other user", presign("iam-cache", "someone", secret, now)),
        ("garbage", "iam-cache/?Action=connect".to_owned()),
    ];
    for (why, bad) in refused {
        assert_eq!(
            Raw::tls(port, &ca)
                .await
                .unwrap()
                .cmd(&["AUTH", "iam-user", &bad])
                .await,
            WRONGPASS,
            "{why}"
        );
    }

    // The lifetime cap applies to tokens signed earlier than the cap allows.
    let (s, _) = t
        .put(
            "/_cloudsim/config",
            json!({"awsIamTokenMaxLifetimeSeconds": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let older = presign(
        "iam-cache",
        "iam-user",
        secret,
        now - Duration::from_secs(5),
    );
    assert_eq!(
        Raw::tls(port, &ca)
            .await
            .unwrap()
            .cmd(&["AUTH", "iam-user", &older])
            .await,
        WRONGPASS
    );
}

#[tokio::test]
async fn gcp_tokens_from_a_key_file_open_redis() {
    use gcp_auth::TokenProvider;
    let t = start(Opts {
        redis: true,
        ..Opts::default()
    })
    .await;
    grant(&t, &format!("serviceAccount:{SA}"), None).await;
    let c = t
        .create_cluster(
            "oauth-cache",
            json!({"shardCount": 1, "authorizationMode": "AUTH_MODE_IAM_AUTH"}),
        )
        .await;
    let (_, key): (_, Value) = t
        .post("/_cloudsim/gcp/service-account-keys", json!({"email": SA}))
        .await;
    let provider = gcp_auth::CustomServiceAccount::from_json(&key.to_string()).unwrap();
    let token = provider.token(&[SCOPE]).await.unwrap();
    let mut raw = Raw::plain(discovery_port(&c)).await.unwrap();
    assert_eq!(raw.cmd(&["AUTH", token.as_str()]).await, "+OK");
    assert_eq!(raw.cmd(&["PING"]).await, "+PONG");
}
