//! `cache-operator run`: wire clients, cloud providers, leader election, the controllers and
//! the HTTP endpoints, and shut down cleanly on SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::events::{Recorder, Reporter};
use anyhow::Context as _;
use cache_operator_cloud::aws::users::AwsUsers;
use cache_operator_cloud::aws::{AwsClients, AwsClusters, AwsServerless};
use cache_operator_cloud::gcp::grants::PolicyEditor;
use cache_operator_cloud::gcp::iam::{IamCredentials, ResourceManager};
use cache_operator_cloud::gcp::memorystore::Memorystore;
use cache_operator_cloud::gcp::{
    GcpAuth, GcpClusters, GcpEndpoints, GcpInstances, GoogleRest, GoogleTokens,
};
use kube::runtime::reflector::ObjectRef;
use tokio_util::sync::CancellationToken;

use crate::context::{AccessSettings, AwsClouds, Clouds, Context, GcpClouds, Timing};
use crate::controller::shared::Shared;
use crate::controller::{Ctx, binding, cluster, serverless, user_group};
use crate::http::Health;
use crate::leader::{Elector, LeaseConfig};
use crate::metrics::Metrics;
use crate::telemetry::LogFormat;

/// Everything `run` can be told, from flags or environment variables.
#[derive(Clone, Debug, clap::Args)]
pub struct RunOptions {
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "CACHE_OPERATOR_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    #[arg(
        long,
        env = "CACHE_OPERATOR_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// Watch one namespace only (default: all namespaces).
    #[arg(long, env = "CACHE_OPERATOR_NAMESPACE")]
    pub namespace: Option<String>,
    /// How often a steady object is compared with the cloud.
    #[arg(long, env = "CACHE_OPERATOR_RESYNC", default_value = "5m", value_parser = duration)]
    pub resync: Duration,
    /// How often an object is looked at while the cloud works on it.
    #[arg(long, env = "CACHE_OPERATOR_POLL", default_value = "10s", value_parser = duration)]
    pub poll: Duration,
    /// Longest wait between retries after failures.
    #[arg(long, env = "CACHE_OPERATOR_MAX_BACKOFF", default_value = "5m", value_parser = duration)]
    pub max_backoff: Duration,
    /// Objects reconciled at once per kind.
    #[arg(long, env = "CACHE_OPERATOR_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,

    /// Use a Lease so that only one replica acts.
    #[arg(long, env = "CACHE_OPERATOR_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    #[arg(
        long,
        env = "CACHE_OPERATOR_LEASE_NAME",
        default_value = "cache-operator"
    )]
    pub lease_name: String,
    /// Namespace of the Lease; defaults to the pod's namespace (POD_NAMESPACE) or `default`.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    #[arg(long, env = "CACHE_OPERATOR_LEASE_DURATION", default_value = "15s", value_parser = duration)]
    pub lease_duration: Duration,
    /// This replica's name in the Lease; defaults to the pod name (POD_NAME) or host and pid.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,

    /// One base URL for every Google API (e.g. the cloud simulator); the per-API flags win.
    #[arg(long, env = "CACHE_OPERATOR_GCP_ENDPOINT")]
    pub gcp_endpoint: Option<String>,
    #[arg(long, env = "CACHE_OPERATOR_GCP_REDIS_ENDPOINT")]
    pub gcp_redis_endpoint: Option<String>,
    /// Memorystore for Valkey (`memorystore.googleapis.com`).
    #[arg(long, env = "CACHE_OPERATOR_GCP_MEMORYSTORE_ENDPOINT")]
    pub gcp_memorystore_endpoint: Option<String>,
    #[arg(long, env = "CACHE_OPERATOR_GCP_IAMCREDENTIALS_ENDPOINT")]
    pub gcp_iamcredentials_endpoint: Option<String>,
    #[arg(long, env = "CACHE_OPERATOR_GCP_RESOURCEMANAGER_ENDPOINT")]
    pub gcp_resourcemanager_endpoint: Option<String>,
    /// `ambient`: Application Default Credentials (Workload Identity, GOOGLE_APPLICATION_CREDENTIALS…);
    /// `none`: send no credentials (a simulator without authentication).
    #[arg(long, env = "CACHE_OPERATOR_GCP_AUTH", default_value = "ambient")]
    pub gcp_auth: String,
    /// ElastiCache endpoint (e.g. the cloud simulator); AWS_ENDPOINT_URL_ELASTICACHE works too.
    #[arg(long, env = "CACHE_OPERATOR_AWS_ENDPOINT")]
    pub aws_endpoint: Option<String>,

    /// How long an aws user's previous password keeps working after a rotation. Must exceed
    /// the time a rewritten Secret takes to reach pods (kubelet sync, typically up to ~2m).
    #[arg(long, env = "CACHE_OPERATOR_PASSWORD_OVERLAP", default_value = "10m", value_parser = duration)]
    pub password_overlap: Duration,
    /// Lifetime of the aws IAM auth tokens written to Secrets (at most 15m, what ElastiCache accepts).
    #[arg(long, env = "CACHE_OPERATOR_AWS_IAM_TOKEN_LIFETIME", default_value = "15m", value_parser = aws_token_lifetime)]
    pub aws_iam_token_lifetime: Duration,
}

fn aws_token_lifetime(s: &str) -> Result<Duration, String> {
    let d = duration(s)?;
    if d.is_zero() || d > Duration::from_secs(900) {
        return Err(
            "must be more than 0 and at most 15m (ElastiCache refuses longer-lived tokens)".into(),
        );
    }
    Ok(d)
}

pub fn duration(s: &str) -> Result<Duration, String> {
    cache_operator_api::rules::duration(s).map_err(|e| e.to_string())
}

/// Refuse to start without the permissions the controllers need, naming each one: a missing
/// verb would otherwise show only as a cache that never fills or a status never written.
async fn check_rbac(client: &kube::Client, opts: &RunOptions) -> anyhow::Result<()> {
    let own = opts
        .leader_election
        .then_some(opts.lease_namespace.as_str());
    let missing = match crate::rbac::missing(client, opts.namespace.as_deref(), own).await {
        Ok(m) => m,
        // A cluster that does not let us ask (SelfSubjectAccessReview is granted to every
        // authenticated user by default): go on, the API will answer for itself.
        Err(kube::Error::Api(s)) if s.code == 403 || s.code == 404 => {
            tracing::warn!(error = %s.message, "cannot review the operator's own permissions");
            return Ok(());
        }
        Err(e) => return Err(e).context("reviewing the operator's RBAC permissions"),
    };
    if missing.is_empty() {
        return Ok(());
    }
    for m in &missing {
        tracing::error!(permission = %m, "missing RBAC permission");
    }
    let list: Vec<String> = missing.iter().map(ToString::to_string).collect();
    anyhow::bail!(
        "the operator's identity lacks {} RBAC permission(s) that config/rbac/role.yaml grants: {}",
        missing.len(),
        list.join("; ")
    )
}

pub async fn run(opts: RunOptions) -> anyhow::Result<()> {
    crate::telemetry::init(opts.log_format);
    let metrics = Arc::new(Metrics::default());
    let health = Arc::new(Health::default());
    let cancel = CancellationToken::new();
    spawn_signal_handler(cancel.clone());

    let client = kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API")?;
    // Before serving /healthz: a replica without its permissions never looks alive.
    check_rbac(&client, &opts).await?;

    let listener = tokio::net::TcpListener::bind(opts.http_addr)
        .await
        .with_context(|| format!("binding {}", opts.http_addr))?;
    tracing::info!(addr = %listener.local_addr()?, "serving /metrics, /healthz, /readyz");
    let app = crate::http::router(metrics.clone(), health.clone());
    let http_cancel = cancel.clone();
    let http = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(http_cancel.cancelled_owned())
            .await
    });

    let clouds = clouds(&opts, metrics.clone()).await;
    let settings = AccessSettings {
        password_overlap: opts.password_overlap,
        aws_iam_token_lifetime: opts.aws_iam_token_lifetime,
        ..AccessSettings::default()
    };
    let identity = opts.identity.clone().unwrap_or_else(default_identity);
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "cache-operator".into(),
            instance: Some(identity.clone()),
        },
    );
    let timing = Timing {
        resync: opts.resync,
        poll: opts.poll,
        max_backoff: opts.max_backoff,
        ..Timing::default()
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        clouds,
        recorder,
        metrics.clone(),
        timing,
        settings,
    ));
    health.ready.store(true, Ordering::Relaxed);

    let elector = opts.leader_election.then(|| {
        Elector::new(
            client.clone(),
            LeaseConfig {
                name: opts.lease_name.clone(),
                namespace: opts.lease_namespace.clone(),
                identity: identity.clone(),
                duration: opts.lease_duration,
                renew_every: opts.lease_duration / 3,
            },
        )
    });
    if let Some(e) = &elector
        && e.acquire(&cancel).await.is_none()
    {
        tracing::info!("shut down while standing by");
        let _ = http.await;
        return Ok(());
    }
    metrics.leader.set(1);

    // Controllers stop when asked to, or when leadership is lost.
    let stop = CancellationToken::new();
    let leadership = {
        let (cancel, stop) = (cancel.clone(), stop.clone());
        async move {
            match &elector {
                Some(e) => e.hold(&cancel).await,
                None => cancel.cancelled().await,
            }
            stop.cancel();
            elector
        }
    };
    let controllers = run_controllers(
        client,
        ctx,
        opts.namespace.clone(),
        opts.concurrency,
        stop.clone(),
    );
    let (elector, ()) = tokio::join!(leadership, controllers);
    metrics.leader.set(0);
    let lost = !cancel.is_cancelled();
    if let Some(e) = &elector {
        e.release().await;
    }
    cancel.cancel();
    let _ = http.await;
    if lost {
        anyhow::bail!("lost the leader Lease; exiting so that a fresh start can stand by");
    }
    tracing::info!("shut down cleanly");
    Ok(())
}

/// The shared watches first, complete before any controller starts; then the controllers on
/// them.
async fn run_controllers(
    client: kube::Client,
    base: Arc<Context>,
    namespace: Option<String>,
    concurrency: u16,
    stop: CancellationToken,
) {
    let shared = Shared::new(&client, &namespace);
    let Some((stores, feeds)) = shared.start(stop.clone()).await else {
        return;
    };
    let bindings = stores.bindings.clone();
    base.metrics.track_bindings(move |namespace, name| {
        bindings
            .get(&ObjectRef::new(name).within(namespace))
            .is_some()
    });
    let ctx = Arc::new(Ctx { base, stores });
    tokio::join!(
        cluster::run(ctx.clone(), feeds.cluster, concurrency, stop.clone()),
        serverless::run(ctx.clone(), feeds.serverless, concurrency, stop.clone()),
        user_group::run(ctx.clone(), feeds.user_group, concurrency, stop.clone()),
        binding::run(ctx, feeds.binding, concurrency, stop),
    );
}

/// The real cloud clients, each behind its trait.
async fn clouds(opts: &RunOptions, metrics: Arc<Metrics>) -> Clouds {
    let base = opts
        .gcp_endpoint
        .as_deref()
        .map(GcpEndpoints::all_at)
        .unwrap_or_default();
    let endpoints = GcpEndpoints {
        redis: opts.gcp_redis_endpoint.clone().unwrap_or(base.redis),
        memorystore: opts
            .gcp_memorystore_endpoint
            .clone()
            .unwrap_or(base.memorystore),
        iam_credentials: opts
            .gcp_iamcredentials_endpoint
            .clone()
            .unwrap_or(base.iam_credentials),
        resource_manager: opts
            .gcp_resourcemanager_endpoint
            .clone()
            .unwrap_or(base.resource_manager),
    };
    let auth = match opts.gcp_auth.as_str() {
        "none" => GcpAuth::Anonymous,
        _ => {
            let (auth, missing) = GcpAuth::ambient_or_later().await;
            if let Some(e) = missing {
                tracing::warn!(error = %e, "no Google credentials found yet; looking again when a gcp object needs them");
            }
            auth
        }
    };
    let rest = GoogleRest::new(auth.clone(), metrics.clone());
    let aws = AwsClients::from_env(opts.aws_endpoint.clone(), metrics).await;
    Clouds {
        gcp: GcpClouds {
            clusters: Arc::new(GcpClusters::new(Memorystore::new(
                rest.clone(),
                &endpoints.redis,
            ))),
            instances: Arc::new(GcpInstances::new(Memorystore::new(
                rest.clone(),
                &endpoints.memorystore,
            ))),
            tokens: Arc::new(GoogleTokens {
                iam: IamCredentials::new(rest.clone(), &endpoints.iam_credentials),
                own: auth,
            }),
            grants: Arc::new(PolicyEditor::new(ResourceManager::new(
                rest,
                &endpoints.resource_manager,
            ))),
        },
        aws: AwsClouds {
            clusters: Arc::new(AwsClusters::new(aws.clone())),
            serverless: Arc::new(AwsServerless::new(aws.clone())),
            users: Arc::new(AwsUsers::new(aws.clone())),
            tokens: Arc::new(aws),
        },
    }
}

fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "cache-operator".into());
    format!("{host}-{}", std::process::id())
}

fn spawn_signal_handler(cancel: CancellationToken) {
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutdown requested");
        cancel.cancel();
    });
}
