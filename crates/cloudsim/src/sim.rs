//! The simulator's shared state, and starting/stopping it in-process.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::aws::AwsState;
use crate::clock::Clock;
use crate::config::{Config, RedisBacking, Transition, Tunables};
use crate::counters::Counters;
use crate::dataplane::binaries::Binaries;
use crate::dataplane::tls::Ca;
use crate::dataplane::{BackendKey, DataPlane, Decision, Gate};
use crate::faults::Faults;
use crate::gcp::clusters::Clusters;
use crate::gcp::instances::Instances;
use crate::gcp::resource::collection_of;
use crate::gcp::state::GcpState;
use crate::gcp::tokens::TokenStore;

/// State every handler and background task shares.
pub struct Shared {
    pub(crate) config: Config,
    tunables: watch::Sender<Tunables>,
    pub(crate) base_url: String,
    pub(crate) counters: Counters,
    pub(crate) faults: Faults,
    pub(crate) clock: Clock,
    pub(crate) tokens: TokenStore,
    pub(crate) gcp: Mutex<GcpState>,
    pub(crate) aws: Mutex<AwsState>,
    pub(crate) ca: Ca,
    pub(crate) dataplane: DataPlane,
    pub(crate) storage: crate::storage::Storage,
    ids: AtomicU64,
}

impl Shared {
    pub(crate) fn tunables(&self) -> Tunables {
        *self.tunables.borrow()
    }

    /// Completes when the provisioning delay of this kind of transition, counted from now, has passed. A
    /// later change of the delay (admin config) applies to transitions already under way, so tests can
    /// hold a state and release it.
    pub(crate) fn provisioning(
        &self,
        transition: Transition,
    ) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.tunables.subscribe();
        let started = tokio::time::Instant::now();
        async move {
            loop {
                let deadline = started + rx.borrow_and_update().delay(transition);
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => return,
                    changed = rx.changed() => if changed.is_err() {
                        tokio::time::sleep_until(deadline).await;
                        return;
                    },
                }
            }
        }
    }

    pub(crate) fn update_tunables(
        &self,
        f: impl FnOnce(&mut Tunables) -> Result<(), String>,
    ) -> Result<Tunables, String> {
        let mut next = self.tunables();
        f(&mut next)?;
        self.tunables.send_replace(next);
        Ok(next)
    }

    /// A process-unique number (resource incarnations, fake addresses).
    pub(crate) fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Forgets every resource, token, key, policy, counter and fault, stops every Redis, and restores
    /// the startup tunables.
    pub(crate) async fn reset(&self) {
        *self.gcp.lock().expect("gcp lock") = GcpState::default();
        *self.aws.lock().expect("aws lock") = AwsState::default();
        self.dataplane.stop_all().await;
        self.storage.clear();
        self.tokens.clear();
        self.counters.clear();
        self.faults.clear();
        self.clock.reset();
        self.tunables.send_replace(self.config.tunables);
    }
}

impl Gate for Shared {
    fn decide(&self, key: &BackendKey, user: Option<&str>, password: &str, tls: bool) -> Decision {
        match key {
            BackendKey::Gcp(name) => match collection_of(name) {
                Some("instances") => {
                    crate::gcp::identity::decide::<Instances>(self, name, user, password)
                }
                _ => crate::gcp::identity::decide::<Clusters>(self, name, user, password),
            },
            BackendKey::Aws { region, id } => {
                crate::aws::decide(self, region, id, user, password, tls)
            }
            BackendKey::AwsServerless { region, name } => {
                crate::aws::serverless::decide(self, region, name, user, password, tls)
            }
        }
    }
}

/// Entry point for running the simulator in-process.
pub struct Sim;

impl Sim {
    /// Binds the port, generates the CA and starts serving. Must be called inside a tokio runtime.
    pub async fn start(config: Config) -> anyhow::Result<Running> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let ca = Ca::generate()?;
        let binaries = match &config.redis {
            RedisBacking::Disabled => Binaries::default(),
            RedisBacking::Binary(path) => {
                Binaries::resolve(path, config.valkey_server.as_deref()).await
            }
        };
        let tls = ca.server_config();
        let cluster_mode = config.redis_cluster_mode;
        let tunables = config.tunables;
        let shared = Arc::new_cyclic(|weak: &Weak<Shared>| {
            let gate: Weak<dyn Gate> = weak.clone();
            Shared {
                dataplane: DataPlane::new(binaries, cluster_mode, tls, gate),
                config,
                tunables: watch::Sender::new(tunables),
                base_url: base_url.clone(),
                counters: Counters::default(),
                faults: Faults::default(),
                clock: Clock::default(),
                tokens: TokenStore::default(),
                gcp: Mutex::new(GcpState::default()),
                aws: Mutex::new(AwsState::default()),
                storage: crate::storage::Storage::default(),
                ca,
                ids: AtomicU64::new(0),
            }
        });
        let app = crate::http::router(shared.clone());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stop_rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
        tracing::info!(%base_url, redis = shared.dataplane.enabled(), "cloudsim listening");
        Ok(Running {
            shared,
            addr,
            base_url,
            stop: Some(stop_tx),
            server: Some(server),
        })
    }
}

/// A running simulator. Dropping it stops serving and kills its Redis processes; prefer
/// [`Running::shutdown`] to stop them gracefully.
pub struct Running {
    shared: Arc<Shared>,
    addr: SocketAddr,
    base_url: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl Running {
    /// `http://127.0.0.1:PORT` — the one base URL for every simulated API.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// PEM of the CA that signs every TLS endpoint.
    pub fn ca_pem(&self) -> &str {
        self.shared.ca.pem()
    }

    /// Whether clusters get a real redis-server.
    pub fn redis_enabled(&self) -> bool {
        self.shared.dataplane.enabled()
    }

    /// The valkey-server binary behind Valkey engines; `None` when redis-server serves them instead.
    pub fn valkey_server(&self) -> Option<&std::path::Path> {
        self.shared.dataplane.binaries().valkey.as_deref()
    }

    /// Stops serving HTTP and stops every redis-server, waiting for them to exit.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        self.shared.dataplane.stop_all().await;
        tracing::info!("cloudsim stopped");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.shared.dataplane.kill_all_now();
    }
}
