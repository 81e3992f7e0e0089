//! `kubesim --listen 127.0.0.1:PORT --kubeconfig PATH`: serves the Kubernetes API on loopback,
//! writes a kubeconfig for itself, prints its base URL as the first stdout line.

use clap::{Parser, ValueEnum};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Parser)]
#[command(
    name = "kubesim",
    about = "A Kubernetes API test server (in memory, plain HTTP, no auth)"
)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Where to write a kubeconfig pointing at this server.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Changes kept for watch resumption; older resourceVersions get 410 Gone.
    #[arg(long, default_value_t = 50_000)]
    watch_history: usize,
    /// Seconds between watch bookmarks.
    #[arg(long, default_value_t = 30)]
    bookmark_interval: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("KUBESIM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match args.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    let config = kubesim::Config {
        listen: args.listen,
        watch_history: args.watch_history,
        bookmark_interval: Duration::from_secs(args.bookmark_interval.max(1)),
        ..Default::default()
    };
    let running = kubesim::Server::start(config).await?;
    if let Some(path) = &args.kubeconfig {
        running.write_kubeconfig(path)?;
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", running.base_url())?;
        out.flush()?;
    }
    tracing::info!(url = running.base_url(), kubeconfig = ?args.kubeconfig, "kubesim serving");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}
