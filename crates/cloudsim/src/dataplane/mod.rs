//! The data plane: one redis-server (or valkey-server) per ready cluster, behind a proxy that owns the
//! endpoint port, terminates TLS with the simulator's CA and checks token credentials (see [`proxy`]).

pub mod binaries;
pub mod process;
mod proxy;
mod replication;
pub mod resp;
pub mod tls;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use rustls::ServerConfig;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use process::{ADMIN_USER, RedisProcess, sha256_hex};

use crate::util::random_secret;

/// Which simulated cluster a backend serves.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BackendKey {
    /// A Memorystore cluster, by full resource name.
    Gcp(String),
    /// An ElastiCache replication group.
    Aws { region: String, id: String },
    /// An ElastiCache serverless cache (its own namespace: a replication group may share its name).
    AwsServerless { region: String, name: String },
}

impl fmt::Display for BackendKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendKey::Gcp(name) => f.write_str(name),
            BackendKey::Aws { region, id } => write!(f, "{region}/{id}"),
            BackendKey::AwsServerless { region, name } => write!(f, "{region}/serverless/{name}"),
        }
    }
}

/// What the proxy does with an `AUTH`/`HELLO AUTH` credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// An ordinary password: Redis checks it against its ACL.
    PassThrough,
    /// A valid token: authenticate as this ACL user with the backend's internal password.
    Internal { user: String },
    /// An invalid token: Redis must answer WRONGPASS.
    Reject,
}

/// The simulator's judgement of credentials presented to a cluster.
pub trait Gate: Send + Sync {
    fn decide(&self, key: &BackendKey, user: Option<&str>, password: &str, tls: bool) -> Decision;
}

/// Whether an endpoint speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Off,
    /// Both plaintext and TLS (ElastiCache `TransitEncryptionMode=preferred`).
    Preferred,
    Required,
}

impl TlsMode {
    fn to_u8(self) -> u8 {
        match self {
            TlsMode::Off => 0,
            TlsMode::Preferred => 1,
            TlsMode::Required => 2,
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => TlsMode::Preferred,
            2 => TlsMode::Required,
            _ => TlsMode::Off,
        }
    }
}

/// How an ACL user proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclAuth {
    /// Any password (or none) is accepted.
    NoPass,
    /// One of these passwords.
    Passwords(Vec<String>),
    /// Only through the proxy, after it verified a token ([`Decision::Internal`]).
    Token,
}

/// One ACL user as the simulator wants it in redis-server.
#[derive(Clone, PartialEq, Eq)]
pub struct AclUser {
    pub name: String,
    /// Rules applied after `reset`, e.g. `on ~* &* +@all` (no password rules).
    pub rules: Vec<String>,
    pub auth: AclAuth,
}

// Passwords never reach logs.
impl fmt::Debug for AclUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AclUser")
            .field("name", &self.name)
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

impl AclUser {
    /// `default` with full access and no password: clusters without authentication.
    pub fn open_default() -> Self {
        Self {
            name: "default".into(),
            rules: full_access(),
            auth: AclAuth::NoPass,
        }
    }
}

/// Commands managed services keep from customers (and that would let a client see or break the
/// simulator's admin user), appended to every client user's rules.
const RESTRICTED: [&str; 13] = [
    "-acl|setuser",
    "-acl|deluser",
    "-acl|getuser",
    "-acl|list",
    "-acl|users",
    "-acl|load",
    "-acl|save",
    "-acl|dryrun",
    "-config|set",
    "-config|rewrite",
    "-shutdown",
    "-debug",
    "-module",
];

pub fn full_access() -> Vec<String> {
    ["on", "~*", "&*", "+@all"]
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Starting,
    Ready(PathBuf),
    Failed,
    Stopped,
}

struct BackendState {
    desired: Vec<AclUser>,
    process: Option<RedisProcess>,
    stopped: bool,
}

/// One cluster's endpoint and the redis-server behind it.
pub struct Backend {
    key: BackendKey,
    port: u16,
    /// The server binary it runs (redis-server or valkey-server): also what loads a seed.
    binary: PathBuf,
    tls_mode: AtomicU8,
    tls_config: Arc<ServerConfig>,
    internal_secret: String,
    gate: Weak<dyn Gate>,
    state: tokio::sync::Mutex<BackendState>,
    ready: watch::Sender<Readiness>,
    /// The accept loops of its endpoint ports (a serverless cache also has a reader port).
    accept: Mutex<Vec<JoinHandle<()>>>,
    /// A replica of another backend (a Global Datastore secondary): clients may not write.
    read_only: AtomicBool,
    /// The server's write commands (`COMMAND LIST FILTERBY ACLCAT write`), lowercase, with
    /// subcommands as `container|sub`: what the proxy refuses while the backend is read-only.
    write_commands: OnceLock<HashSet<String>>,
    /// A command name no client can guess: the proxy sends it in place of a refused write so
    /// that Redis answers in order, and puts `-READONLY` in place of that answer.
    readonly_marker: String,
}

impl Backend {
    fn readiness(&self) -> Readiness {
        self.ready.borrow().clone()
    }

    fn tls_mode(&self) -> TlsMode {
        TlsMode::from_u8(self.tls_mode.load(Ordering::Relaxed))
    }

    fn is_read_only(&self) -> bool {
        self.read_only.load(Ordering::Relaxed)
    }

    /// Whether the command a client sent (its name and first argument) writes.
    fn is_write(&self, name: &[u8], sub: Option<&[u8]>) -> bool {
        let Some(writes) = self.write_commands.get() else {
            return false;
        };
        let name = String::from_utf8_lossy(name).to_ascii_lowercase();
        writes.contains(&name)
            || sub.is_some_and(|sub| {
                let sub = String::from_utf8_lossy(sub).to_ascii_lowercase();
                writes.contains(&format!("{name}|{sub}"))
            })
    }

    async fn load_write_commands(&self, process: &RedisProcess) {
        let listed: redis::RedisResult<Vec<String>> = async {
            let mut con = process.admin().await?;
            redis::cmd("COMMAND")
                .arg("LIST")
                .arg("FILTERBY")
                .arg("ACLCAT")
                .arg("write")
                .query_async(&mut con)
                .await
        }
        .await;
        match listed {
            Ok(names) => {
                let _ = self
                    .write_commands
                    .set(names.into_iter().map(|n| n.to_ascii_lowercase()).collect());
            }
            Err(e) => {
                // Older servers: read-only backends then refuse writes through the ACL only.
                tracing::warn!(cluster = %self.key, error = %e, "could not list the write commands");
            }
        }
    }

    async fn push_acl(
        &self,
        process: &RedisProcess,
        desired: &[AclUser],
    ) -> redis::RedisResult<()> {
        let mut con = process.admin().await?;
        for u in desired {
            let mut cmd = redis::cmd("ACL");
            cmd.arg("SETUSER").arg(&u.name).arg("reset");
            for r in u.rules.iter().map(String::as_str).chain(RESTRICTED) {
                cmd.arg(r);
            }
            if self.is_read_only() {
                // Scripts cannot write either (the proxy answers top-level writes itself).
                cmd.arg("-@write");
            }
            match &u.auth {
                AclAuth::NoPass => {
                    cmd.arg("nopass");
                }
                AclAuth::Passwords(ps) => {
                    for p in ps {
                        cmd.arg(format!(">{p}"));
                    }
                }
                AclAuth::Token => {
                    cmd.arg(format!("#{}", sha256_hex(&self.internal_secret)));
                }
            }
            if let Err(e) = cmd.query_async::<()>(&mut con).await {
                tracing::warn!(cluster = %self.key, user = %u.name, error = %e, "redis refused an ACL user");
            }
        }
        let existing: Vec<String> = redis::cmd("ACL").arg("USERS").query_async(&mut con).await?;
        for name in existing {
            if name == ADMIN_USER || desired.iter().any(|u| u.name == name) {
                continue;
            }
            if name == "default" {
                // The default user cannot be deleted; disabling it makes unauthenticated clients get NOAUTH.
                redis::cmd("ACL")
                    .arg("SETUSER")
                    .arg("default")
                    .arg("reset")
                    .query_async::<()>(&mut con)
                    .await?;
            } else {
                // Deleting a user also closes its connections, as ElastiCache does when a user leaves a group.
                redis::cmd("ACL")
                    .arg("DELUSER")
                    .arg(&name)
                    .query_async::<()>(&mut con)
                    .await?;
            }
        }
        Ok(())
    }
}

/// Which server a backend runs: the engine the cloud resource names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Redis,
    Valkey,
}

/// What a newly provisioned backend needs.
#[derive(Debug, Clone)]
pub struct BackendSpec {
    pub server: Server,
    pub tls: TlsMode,
    /// Run redis-server in cluster mode (all slots on one node).
    pub cluster: bool,
    pub acl: Vec<AclUser>,
    /// RDB files whose data the cluster starts with (a restore), loaded before it is ready.
    pub seed: Vec<Rdb>,
}

/// The bytes of an RDB file (a backup, or an object in the simulated object store).
pub type Rdb = Arc<Vec<u8>>;

/// Status of a backend for the admin debug listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendStatus {
    pub port: u16,
    pub readiness: Readiness,
}

pub struct DataPlane {
    binaries: binaries::Binaries,
    cluster_mode: bool,
    tls: Arc<ServerConfig>,
    gate: Weak<dyn Gate>,
    backends: Mutex<HashMap<BackendKey, Arc<Backend>>>,
    /// Replication links, by the backend that follows.
    links: Mutex<HashMap<BackendKey, replication::Link>>,
}

impl DataPlane {
    /// Without any binary there are no server processes (endpoints are reported, nothing listens).
    pub fn new(
        binaries: binaries::Binaries,
        cluster_mode: bool,
        tls: Arc<ServerConfig>,
        gate: Weak<dyn Gate>,
    ) -> Self {
        Self {
            binaries,
            cluster_mode,
            tls,
            gate,
            backends: Mutex::new(HashMap::new()),
            links: Mutex::new(HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.binaries.any()
    }

    pub fn binaries(&self) -> &binaries::Binaries {
        &self.binaries
    }

    /// Binds the endpoint now and starts the server in the background. Returns the endpoint port, or
    /// `None` when the data plane is disabled.
    pub fn provision(&self, key: BackendKey, spec: BackendSpec) -> std::io::Result<Option<u16>> {
        let Some(binary) = self.binaries.for_server(spec.server).map(Path::to_path_buf) else {
            return Ok(None);
        };
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        std_listener.set_nonblocking(true)?;
        let port = std_listener.local_addr()?.port();
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let (ready, _) = watch::channel(Readiness::Starting);
        let backend = Arc::new(Backend {
            key: key.clone(),
            port,
            binary: binary.clone(),
            tls_mode: AtomicU8::new(spec.tls.to_u8()),
            tls_config: self.tls.clone(),
            internal_secret: random_secret(32),
            gate: self.gate.clone(),
            state: tokio::sync::Mutex::new(BackendState {
                desired: spec.acl,
                process: None,
                stopped: false,
            }),
            ready,
            accept: Mutex::new(Vec::new()),
            read_only: AtomicBool::new(false),
            write_commands: OnceLock::new(),
            readonly_marker: format!("cloudsim-readonly-{}", random_secret(24)),
        });
        backend
            .accept
            .lock()
            .expect("accept lock")
            .push(tokio::spawn(proxy::accept_loop(listener, backend.clone())));
        let previous = self
            .backends
            .lock()
            .expect("backends lock")
            .insert(key, backend.clone());
        if let Some(old) = previous {
            tokio::spawn(stop_backend(old));
        }
        let cluster = (spec.cluster && self.cluster_mode).then_some(port);
        let seed = spec.seed;
        tokio::spawn(async move {
            let started = RedisProcess::launch(&binary, cluster).await;
            let mut state = backend.state.lock().await;
            match started {
                Ok(p) if state.stopped => p.stop().await,
                Ok(p) => {
                    backend.load_write_commands(&p).await;
                    for rdb in &seed {
                        match p.seed(&binary, rdb).await {
                            Ok(keys) => {
                                tracing::info!(cluster = %backend.key, keys, "restored data from a backup")
                            }
                            Err(e) => {
                                tracing::error!(cluster = %backend.key, error = format!("{e:#}"), "could not restore a backup")
                            }
                        }
                    }
                    if let Err(e) = backend.push_acl(&p, &state.desired).await {
                        tracing::error!(cluster = %backend.key, error = %e, "could not set the Redis ACL");
                    }
                    let socket = p.socket().to_path_buf();
                    state.process = Some(p);
                    backend.ready.send_replace(Readiness::Ready(socket));
                    tracing::info!(cluster = %backend.key, port, "redis-server ready");
                }
                Err(e) => {
                    tracing::error!(cluster = %backend.key, error = format!("{e:#}"), "could not start redis-server");
                    backend.ready.send_replace(Readiness::Failed);
                }
            }
        });
        Ok(Some(port))
    }

    /// Opens another port in front of the same redis-server (a serverless cache's reader
    /// endpoint), with the endpoint's TLS and credential rules. `None` when the data plane is
    /// disabled or the backend is gone.
    pub fn open_reader(&self, key: &BackendKey) -> std::io::Result<Option<u16>> {
        let Some(backend) = self.get(key) else {
            return Ok(None);
        };
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        std_listener.set_nonblocking(true)?;
        let port = std_listener.local_addr()?.port();
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        backend
            .accept
            .lock()
            .expect("accept lock")
            .push(tokio::spawn(proxy::accept_loop(listener, backend.clone())));
        Ok(Some(port))
    }

    fn get(&self, key: &BackendKey) -> Option<Arc<Backend>> {
        self.backends
            .lock()
            .expect("backends lock")
            .get(key)
            .cloned()
    }

    /// Waits until the backend serves clients (or failed to start). Returns false if it is not serving.
    pub async fn wait_ready(&self, key: &BackendKey) -> bool {
        let Some(b) = self.get(key) else { return false };
        let mut rx = b.ready.subscribe();
        let r = rx
            .wait_for(|r| *r != Readiness::Starting)
            .await
            .map(|r| r.clone());
        matches!(r, Ok(Readiness::Ready(_)))
    }

    /// Replaces the backend's ACL users; returns once redis-server applied them (or will on start).
    pub async fn set_acl(&self, key: &BackendKey, acl: Vec<AclUser>) {
        let Some(b) = self.get(key) else { return };
        let mut state = b.state.lock().await;
        if state.desired == acl {
            return;
        }
        state.desired = acl;
        if let Some(p) = &state.process
            && let Err(e) = b.push_acl(p, &state.desired).await
        {
            tracing::error!(cluster = %b.key, error = %e, "could not update the Redis ACL");
        }
    }

    /// The cluster's data as an RDB file; `None` without Redis (or when it is not serving).
    pub async fn snapshot(&self, key: &BackendKey) -> Option<Vec<u8>> {
        let b = self.get(key)?;
        let state = b.state.lock().await;
        let p = state.process.as_ref()?;
        match p.snapshot().await {
            Ok(rdb) => Some(rdb),
            Err(e) => {
                tracing::error!(cluster = %b.key, error = format!("{e:#}"), "could not snapshot the data");
                None
            }
        }
    }

    pub fn set_tls(&self, key: &BackendKey, mode: TlsMode) {
        if let Some(b) = self.get(key) {
            b.tls_mode.store(mode.to_u8(), Ordering::Relaxed);
        }
    }

    pub fn status(&self, key: &BackendKey) -> Option<BackendStatus> {
        let b = self.get(key)?;
        Some(BackendStatus {
            port: b.port,
            readiness: b.readiness(),
        })
    }

    /// Makes clients' writes fail (`-READONLY`, and `NOPERM` from scripts) or work again.
    pub async fn set_read_only(&self, key: &BackendKey, read_only: bool) {
        let Some(b) = self.get(key) else { return };
        b.read_only.store(read_only, Ordering::Relaxed);
        let state = b.state.lock().await;
        if let Some(p) = &state.process
            && let Err(e) = b.push_acl(p, &state.desired).await
        {
            tracing::error!(cluster = %b.key, error = %e, "could not update the Redis ACL");
        }
    }

    /// Makes `target` a read-only replica of `source`: its data is replaced by the source's, then
    /// follows every write to it. Replaces any link `target` had.
    pub async fn follow(&self, target: &BackendKey, source: &BackendKey) {
        let (Some(s), Some(t)) = (self.get(source), self.get(target)) else {
            return;
        };
        let binary = t.binary.clone();
        self.set_read_only(target, true).await;
        let link = replication::start(s, t, binary);
        self.links
            .lock()
            .expect("links lock")
            .insert(target.clone(), link);
        tracing::info!(%source, %target, "replication link started");
    }

    /// Waits until `target`'s link finished its full sync; false when it has no link (or the
    /// link ended).
    pub async fn synced(&self, target: &BackendKey) -> bool {
        let rx = self
            .links
            .lock()
            .expect("links lock")
            .get(target)
            .map(|l| l.state.clone());
        match rx {
            Some(mut rx) => rx
                .wait_for(|s| matches!(s, replication::LinkState::Streaming(_)))
                .await
                .is_ok(),
            None => false,
        }
    }

    /// Ends `target`'s link and makes it writable, after it applied what its source had written
    /// (waiting up to `within`; a planned promotion). Returns whether it had caught up.
    pub async fn promote(&self, target: &BackendKey, within: Duration) -> bool {
        let link = self.links.lock().expect("links lock").remove(target);
        let caught_up = match (&link, link.as_ref().and_then(|l| self.get(&l.source))) {
            (Some(l), Some(source)) => {
                replication::caught_up(&source, l.state.clone(), within).await
            }
            _ => false,
        };
        drop(link);
        self.set_read_only(target, false).await;
        caught_up
    }

    /// Ends `target`'s link at once and makes it writable (a secondary leaving its Global
    /// Datastore keeps the data it has).
    pub async fn unfollow(&self, target: &BackendKey) {
        let link = self.links.lock().expect("links lock").remove(target);
        drop(link);
        self.set_read_only(target, false).await;
    }

    /// Closes the endpoint and stops redis-server.
    pub async fn stop(&self, key: &BackendKey) {
        self.links.lock().expect("links lock").remove(key);
        let b = self.backends.lock().expect("backends lock").remove(key);
        if let Some(b) = b {
            stop_backend(b).await;
        }
    }

    /// Synchronous teardown (from `Drop`): closes endpoints and drops process handles, which makes each
    /// redis-server's watchdog terminate it.
    pub fn kill_all_now(&self) {
        self.links.lock().expect("links lock").clear();
        let all: Vec<Arc<Backend>> = self
            .backends
            .lock()
            .expect("backends lock")
            .drain()
            .map(|(_, b)| b)
            .collect();
        for b in all {
            for task in b.accept.lock().expect("accept lock").drain(..) {
                task.abort();
            }
            if let Ok(mut state) = b.state.try_lock() {
                state.stopped = true;
                state.process.take();
            }
            b.ready.send_replace(Readiness::Stopped);
        }
    }

    pub async fn stop_all(&self) {
        self.links.lock().expect("links lock").clear();
        let all: Vec<Arc<Backend>> = self
            .backends
            .lock()
            .expect("backends lock")
            .drain()
            .map(|(_, b)| b)
            .collect();
        for b in all {
            stop_backend(b).await;
        }
    }
}

async fn stop_backend(b: Arc<Backend>) {
    for task in b.accept.lock().expect("accept lock").drain(..) {
        task.abort();
    }
    let process = {
        let mut state = b.state.lock().await;
        state.stopped = true;
        state.process.take()
    };
    b.ready.send_replace(Readiness::Stopped);
    if let Some(p) = process {
        p.stop().await;
        tracing::info!(cluster = %b.key, "redis-server stopped");
    }
}
