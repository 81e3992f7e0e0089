//! The Kubernetes API under a test: the real control plane (default), `kubesim`, or a cluster of
//! the caller's; and the operator's identity on it, bound to the shipped RBAC.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::bail;
use kube::api::DynamicObject;
use kube::discovery::ApiResource;
use kube::{Api, Client};

pub use control_plane::operator::{OPERATOR_NAMESPACE, apply_all, operator_identity, shipped_rbac};

use crate::{Process, bin, var};

/// Which API server a test runs on (`E2E_KUBE`, or `E2E_KUBECONFIG` for a cluster of yours).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KubeKind {
    /// kube-apiserver, etcd and kube-controller-manager built from their Go modules.
    Real,
    /// kubesim, the test server written here (starts in milliseconds; see its README for what it
    /// does differently).
    Sim,
    /// An existing cluster, whose kubeconfig is given.
    External(PathBuf),
}

impl KubeKind {
    pub fn from_env() -> KubeKind {
        if let Some(path) = var("E2E_KUBECONFIG") {
            return KubeKind::External(path.into());
        }
        match var("E2E_KUBE").as_deref() {
            None | Some("real") => KubeKind::Real,
            Some("sim") => KubeKind::Sim,
            Some(other) => panic!("E2E_KUBE={other}: expected `real` or `sim`"),
        }
    }
}

/// The running API server of one test.
pub enum KubeServer {
    Real(control_plane::ControlPlane),
    Sim(Process),
    External,
}

impl KubeServer {
    /// Start the server of `kind` with its logs in `logs`; returns it and an admin kubeconfig.
    pub async fn start(kind: &KubeKind, logs: &Path) -> anyhow::Result<(KubeServer, PathBuf)> {
        match kind {
            KubeKind::External(path) => Ok((KubeServer::External, path.clone())),
            KubeKind::Sim => {
                let kubeconfig = logs.join("kubeconfig");
                let p = Process::start(
                    "kubesim",
                    &bin("kubesim"),
                    &[
                        "--listen",
                        "127.0.0.1:0",
                        "--kubeconfig",
                        kubeconfig.to_str().unwrap(),
                    ],
                    &[],
                    logs,
                )
                .await?;
                Ok((KubeServer::Sim(p), kubeconfig))
            }
            KubeKind::Real => {
                let dir = logs.join("control-plane");
                let cp = tokio::task::spawn_blocking(move || {
                    control_plane::ControlPlane::start(binaries()?, &dir)
                })
                .await??;
                let admin = cp.admin_kubeconfig();
                Ok((KubeServer::Real(cp), admin))
            }
        }
    }

    pub fn pid(&self) -> Option<u32> {
        match self {
            KubeServer::Sim(p) => p.pid(),
            KubeServer::Real(cp) => cp
                .component_pids()
                .into_iter()
                .find(|(name, _)| name == "kube-apiserver")
                .map(|(_, pid)| pid),
            KubeServer::External => None,
        }
    }

    /// Every process of the server by name (`kube-apiserver`, `etcd`, … or `kubesim`), for
    /// measurements.
    pub fn components(&self) -> Vec<(String, u32)> {
        match self {
            KubeServer::Sim(p) => p
                .pid()
                .map(|p| ("kubesim".to_owned(), p))
                .into_iter()
                .collect(),
            KubeServer::Real(cp) => cp.component_pids(),
            KubeServer::External => Vec::new(),
        }
    }

    pub fn print_tail(&self, lines: usize) {
        match self {
            KubeServer::Sim(p) => p.print_tail(lines),
            KubeServer::Real(cp) => eprintln!("{}", cp.log_tail(lines)),
            KubeServer::External => {}
        }
    }
}

/// The control plane's binaries, built (or found up to date) once per test process.
pub fn binaries() -> anyhow::Result<&'static control_plane::Binaries> {
    static BIN: OnceLock<Result<control_plane::Binaries, String>> = OnceLock::new();
    BIN.get_or_init(|| control_plane::Binaries::ensure().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Lines of a log that show the API server refusing the operator for want of a permission.
pub fn rbac_denials(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("forbidden") && l.contains("cannot"))
        .collect()
}

/// Wait until the API server has published a freshly created CRD's kind (it is served a moment
/// after `Established`).
pub async fn wait_served(
    client: &Client,
    ar: &ApiResource,
    timeout: Duration,
) -> anyhow::Result<()> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match api.list(&kube::api::ListParams::default().limit(1)).await {
            Ok(_) => return Ok(()),
            Err(e) if std::time::Instant::now() > deadline => {
                bail!("{} not served after {timeout:?}: {e}", ar.plural)
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
