//! Starting and stopping the server in-process, and the kubeconfig that points at it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::Core;
use crate::controllers;
use crate::http::{self, App, Stats};
use crate::watch::WatchControl;

/// The Kubernetes release whose API server kubesim follows (`/version`, OpenAPI `info`); the
/// conformance suite holds it to that release's kube-apiserver.
pub const VERSION: &str = "v1.37.0-kubesim";
pub const MINOR: &str = "37";

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// How many changes the watch history keeps (older resourceVersions get 410 Gone).
    pub watch_history: usize,
    /// How often open watches that asked for bookmarks get one.
    pub bookmark_interval: Duration,
    /// The longest a watch stays open (and the default when `timeoutSeconds` is not given).
    pub max_watch_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            watch_history: 50_000,
            bookmark_interval: Duration::from_secs(30),
            max_watch_timeout: Duration::from_secs(1800),
        }
    }
}

pub struct Server;

impl Server {
    /// Binds, starts serving and returns once the server accepts connections.
    pub async fn start(config: Config) -> anyhow::Result<Running> {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let (core, changes) = Core::new(config.watch_history);
        let stop = CancellationToken::new();
        let (drops, _) = watch::channel(0u64);
        let watches = Arc::new(WatchControl {
            drops,
            shutdown: stop.clone(),
            active: AtomicUsize::new(0),
            bookmark_interval: config.bookmark_interval,
        });
        let app = Arc::new(App {
            core: core.clone(),
            stats: Stats::default(),
            watches,
            server_address: addr.to_string(),
            max_watch_timeout: config.max_watch_timeout,
        });
        let ctl = tokio::spawn(controllers::run(core.clone(), changes, stop.clone()));
        let router = http::router(app.clone());
        let stop_serving = stop.clone();
        let serve = tokio::spawn(async move {
            let result = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop_serving.cancelled().await })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "server stopped");
            }
        });
        Ok(Running {
            addr,
            base_url: format!("http://{addr}"),
            core,
            app,
            stop,
            tasks: vec![serve, ctl],
        })
    }
}

/// A running server; dropping it stops it.
pub struct Running {
    addr: SocketAddr,
    base_url: String,
    core: Arc<Core>,
    app: Arc<App>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API server core, for tests that inspect state directly.
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Request counts (what `GET /_kubesim/stats` returns).
    pub fn stats(&self) -> serde_json::Value {
        self.app.stats.to_json()
    }

    /// A kubeconfig (YAML) for this server: cluster, user and context `kubesim`, namespace `default`.
    pub fn kubeconfig(&self) -> String {
        kubeconfig_yaml(&self.base_url)
    }

    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, self.kubeconfig())
    }

    /// Stops serving (open watches end) and waits for the tasks.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub fn kubeconfig_yaml(server: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kubesim\n  cluster:\n    server: {server}\nusers:\n- name: kubesim\n  \
         user:\n    token: kubesim-dummy-token\ncontexts:\n- name: kubesim\n  context:\n    cluster: kubesim\n    user: \
         kubesim\n    namespace: default\ncurrent-context: kubesim\npreferences: {{}}\n"
    )
}
