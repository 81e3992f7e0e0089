//! The Kubernetes API under a test: the real control plane (default), `kubesim`, or a cluster of
//! the caller's; and the operator's identity on it, bound to the shipped RBAC.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context as _, bail};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};
use kube::{Api, Client};
use serde_json::{Value, json};

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

/// The namespace of the shipped RBAC's ServiceAccount and leader-election Role.
pub const OPERATOR_NAMESPACE: &str = "cache-operator-system";
const OPERATOR_SERVICE_ACCOUNT: &str = "cache-operator";

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

/// The shipped RBAC (`config/rbac`): the operator's ServiceAccount, its ClusterRole and Role,
/// and their bindings, as documents. `without` removes one verb from one resource of the
/// ClusterRole, to show that the tests notice a missing permission.
pub fn shipped_rbac(without: Option<(&str, &str)>) -> anyhow::Result<Vec<Value>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/rbac");
    let mut docs = Vec::new();
    for file in ["service_account.yaml", "role.yaml"] {
        let text = std::fs::read_to_string(dir.join(file))?;
        docs.extend(serde_saphyr::from_multiple::<Value>(&text)?);
    }
    if let Some((resource, verb)) = without {
        let mut removed = false;
        for doc in &mut docs {
            if doc["kind"] != "ClusterRole" || doc["metadata"]["name"] != OPERATOR_SERVICE_ACCOUNT {
                continue;
            }
            let rules = doc["rules"].as_array_mut().context("rules")?;
            let mut extra = Vec::new();
            for rule in rules.iter_mut() {
                let resources = rule["resources"].as_array().cloned().unwrap_or_default();
                if !resources.iter().any(|r| r == resource) {
                    continue;
                }
                // Split the rule: the named resource loses the verb, its neighbours keep it.
                let others: Vec<Value> = resources.into_iter().filter(|r| r != resource).collect();
                if !others.is_empty() {
                    let mut copy = rule.clone();
                    copy["resources"] = json!(others);
                    extra.push(copy);
                }
                rule["resources"] = json!([resource]);
                let verbs = rule["verbs"].as_array_mut().context("verbs")?;
                let before = verbs.len();
                verbs.retain(|v| v != verb);
                removed |= verbs.len() < before;
            }
            rules.extend(extra);
        }
        if !removed {
            bail!("the shipped ClusterRole grants no {verb} on {resource}");
        }
    }
    Ok(docs)
}

/// Server-side apply documents of any kind, as an admin would with `kubectl apply`.
pub async fn apply_all(client: &Client, docs: &[Value]) -> anyhow::Result<()> {
    let discovery = Discovery::new(client.clone()).run().await?;
    for doc in docs {
        let api_version = doc["apiVersion"].as_str().context("apiVersion")?;
        let kind = doc["kind"].as_str().context("kind")?;
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
        let (ar, caps): (ApiResource, ApiCapabilities) = discovery
            .resolve_gvk(&gvk)
            .with_context(|| format!("the server does not serve {api_version} {kind}"))?;
        let name = doc["metadata"]["name"].as_str().context("name")?;
        let api: Api<DynamicObject> = match (&caps.scope, doc["metadata"]["namespace"].as_str()) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &ar),
            (Scope::Namespaced, None) => Api::default_namespaced_with(client.clone(), &ar),
            (Scope::Cluster, _) => Api::all_with(client.clone(), &ar),
        };
        api.patch(name, &PatchParams::apply("e2e").force(), &Patch::Apply(doc))
            .await
            .with_context(|| format!("applying {kind}/{name}"))?;
    }
    Ok(())
}

/// Install the shipped RBAC and return a kubeconfig for the operator's ServiceAccount: the
/// operator then holds exactly the rights the chart and `config/rbac` grant, as in production.
pub async fn operator_identity(
    admin: &Client,
    admin_kubeconfig: &Path,
    out: &Path,
    without: Option<(&str, &str)>,
) -> anyhow::Result<PathBuf> {
    apply_all(
        admin,
        &[json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NAMESPACE}})],
    )
    .await?;
    apply_all(admin, &shipped_rbac(without)?).await?;
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), OPERATOR_NAMESPACE);
    let request: TokenRequest = serde_json::from_value(json!({
        "spec": {"audiences": [], "expirationSeconds": 24 * 3600}
    }))?;
    let token = accounts
        .create_token_request(OPERATOR_SERVICE_ACCOUNT, &PostParams::default(), &request)
        .await
        .context("requesting a token for the operator's ServiceAccount")?
        .status
        .context("TokenRequest without status")?
        .token;
    // The server and its CA from the admin's kubeconfig; the ServiceAccount's token as the user.
    let admin_config: Value = serde_saphyr::from_str(&std::fs::read_to_string(admin_kubeconfig)?)?;
    let cluster = admin_config["clusters"][0]["cluster"].clone();
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": cluster}],
        "users": [{"name": "cache-operator", "user": {"token": token}}],
        "contexts": [{"name": "cache-operator", "context": {"cluster": "e2e", "user": "cache-operator", "namespace": OPERATOR_NAMESPACE}}],
        "current-context": "cache-operator",
    });
    std::fs::write(out, serde_json::to_string_pretty(&config)?)?;
    Ok(out.to_owned())
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
