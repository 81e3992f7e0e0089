//! AWS's own ElastiCache controller (ACK `elasticache-controller` v1.8.0) run beside cache-operator
//! on the same API server and `cloudsim`: built once from the peers folder into the same cache as
//! the control plane, its CRDs installed, started as a process against a kubeconfig, the
//! simulator and one namespace. Nothing of ACK is in this repository: its sources come with the
//! peers folder and are only built and run.
//!
//! | variable | effect |
//! |---|---|
//! | `ACK_PEERS_DIR` | the folder holding `ack/build.sh` (default: `../shared/peers` next to the repository) |

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::{Api, Client};
use serde_json::Value;

use crate::{Process, free_port, var};

pub const PEERS_ENV: &str = "ACK_PEERS_DIR";
pub const GROUP: &str = "elasticache.services.k8s.aws";
pub const VERSION: &str = "v1alpha1";
/// The condition ACK sets `True` once an object matches the cloud.
pub const SYNCED: &str = "ACK.ResourceSynced";

/// The built controller and its CRDs.
#[derive(Debug, Clone)]
pub struct Build {
    pub bin: PathBuf,
    pub crds: PathBuf,
}

/// Where the peers are: `ACK_PEERS_DIR`, else `../shared/peers` relative to the repository root.
pub fn peers_dir() -> PathBuf {
    var(PEERS_ENV).map(PathBuf::from).unwrap_or_else(|| {
        let e2e = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = e2e
            .join("../..")
            .canonicalize()
            .unwrap_or_else(|_| e2e.join("../.."));
        root.parent().unwrap_or(&root).join("shared/peers")
    })
}

/// The controller, built (or found up to date) once per process; the build's progress goes to
/// stderr. Fails, naming the folder and its `build.sh`, when the peers are missing.
pub fn build() -> anyhow::Result<&'static Build> {
    static BUILD: OnceLock<Result<Build, String>> = OnceLock::new();
    BUILD
        .get_or_init(|| run_build().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

fn run_build() -> anyhow::Result<Build> {
    let dir = peers_dir();
    let script = dir.join("ack").join("build.sh");
    if !script.is_file() {
        bail!(
            "AWS's ElastiCache controller (ACK) is needed here, but {} is missing: put the peers folder \
             (the one holding ack/build.sh) at {}, or point {PEERS_ENV} at it",
            script.display(),
            dir.display()
        );
    }
    // One build at a time on a machine: concurrent test processes wait for it.
    let cache = var("HOME")
        .map(|h| PathBuf::from(h).join(".cache/cache-operator"))
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&cache)?;
    eprintln!(
        "--- ACK: {} (the first build takes 5-8 minutes, later ones are instant)",
        script.display()
    );
    let out = Command::new("flock")
        .arg(cache.join("ack.lock"))
        .arg("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {} (needs Go and flock)", script.display()))?;
    if !out.status.success() {
        bail!("{} failed ({})", script.display(), out.status);
    }
    let text = String::from_utf8(out.stdout)?;
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| PathBuf::from(v.trim()))
            .with_context(|| format!("{} printed no {key}", script.display()))
    };
    Ok(Build {
        bin: field("ACK_BIN=")?,
        crds: field("ACK_CRDS=")?,
    })
}

/// One of ACK's kinds (`ReplicationGroup`, `User`, `UserGroup`, `CacheParameterGroup`,
/// `CacheSubnetGroup`, `Snapshot`, …).
pub fn resource(kind: &str) -> ApiResource {
    ApiResource {
        group: GROUP.into(),
        version: VERSION.into(),
        api_version: format!("{GROUP}/{VERSION}"),
        kind: kind.into(),
        plural: format!("{}s", kind.to_ascii_lowercase()),
    }
}

pub fn api(client: &Client, namespace: &str, kind: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &resource(kind))
}

/// Installs (server-side applies) every CRD of the build and waits until the kinds are served.
pub async fn install_crds(client: &Client, build: &Build) -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&build.crds)
        .with_context(|| format!("reading {}", build.crds.display()))?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for f in &files {
        let docs: Vec<Value> = serde_saphyr::from_multiple(&std::fs::read_to_string(f)?)
            .with_context(|| format!("parsing {}", f.display()))?;
        for doc in docs
            .into_iter()
            .filter(|d| d["kind"] == "CustomResourceDefinition")
        {
            let name = doc["metadata"]["name"]
                .as_str()
                .context("a CRD without name")?
                .to_owned();
            crds.patch(
                &name,
                &PatchParams::apply("e2e").force(),
                &Patch::Apply(&doc),
            )
            .await
            .with_context(|| format!("installing {name}"))?;
            names.push((name, doc));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for (name, doc) in &names {
        loop {
            let established = crds
                .get(name)
                .await?
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            if Instant::now() > deadline {
                bail!("CRD {name} not established");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if doc["spec"]["group"] == GROUP
            && let Some(kind) = doc["spec"]["names"]["kind"].as_str()
        {
            crate::apiserver::wait_served(client, &resource(kind), Duration::from_secs(30)).await?;
        }
    }
    Ok(())
}

/// How ACK runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The only namespace it watches.
    pub namespace: String,
    pub region: String,
    /// `--reconcile-default-max-concurrent-syncs` (ACK's default is 1).
    pub max_concurrent_syncs: usize,
    /// `--reconcile-default-resync-seconds` (ACK's default drift check is every 10 hours).
    pub resync: Option<Duration>,
    /// `--log-level debug --enable-development-logging`: every call in the log.
    pub debug: bool,
}

impl Options {
    pub fn new(namespace: &str, region: &str) -> Options {
        Options {
            namespace: namespace.to_owned(),
            region: region.to_owned(),
            max_concurrent_syncs: 1,
            resync: None,
            debug: false,
        }
    }
}

/// A running controller.
pub struct Ack {
    pub process: Process,
    /// Its Prometheus endpoint (`…/metrics`).
    pub metrics_url: String,
}

impl Ack {
    /// Starts the controller against `kubeconfig` and the simulator at `cloudsim` (its ElastiCache
    /// and STS endpoint) with the simulator's key pair, and waits until it is ready. Only the
    /// endpoint flags and `opts` are given; `AWS_CA_BUNDLE` is removed from its environment
    /// (ACK's runtime refuses to start reconciling with it set against a plain HTTP endpoint).
    pub async fn start(
        label: &str,
        build: &Build,
        kubeconfig: &Path,
        cloudsim: &str,
        opts: &Options,
        logs: &Path,
    ) -> anyhow::Result<Ack> {
        let (metrics, health) = (free_port()?, free_port()?);
        let mut cmd = Command::new(&build.bin);
        cmd.args([
            "--aws-region",
            &opts.region,
            "--aws-endpoint-url",
            cloudsim,
            "--allow-unsafe-aws-endpoint-urls",
            "--aws-identity-endpoint-url",
            cloudsim,
            "--watch-namespace",
            &opts.namespace,
            "--metrics-addr",
            &format!("127.0.0.1:{metrics}"),
            "--healthz-addr",
            &format!("127.0.0.1:{health}"),
            "--reconcile-default-max-concurrent-syncs",
            &opts.max_concurrent_syncs.to_string(),
        ]);
        if let Some(r) = opts.resync {
            cmd.args([
                "--reconcile-default-resync-seconds",
                &r.as_secs().max(1).to_string(),
            ]);
        }
        if opts.debug {
            cmd.args(["--log-level", "debug", "--enable-development-logging"]);
        }
        cmd.env_remove("AWS_CA_BUNDLE")
            .env("KUBECONFIG", kubeconfig)
            .env("AWS_ACCESS_KEY_ID", crate::cloudsim::AWS_ACCESS_KEY_ID)
            .env(
                "AWS_SECRET_ACCESS_KEY",
                crate::cloudsim::AWS_SECRET_ACCESS_KEY,
            )
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        let mut process = Process::start_command(label, cmd, logs)?;
        process.http = Some(format!("http://127.0.0.1:{health}"));
        process
            .wait_http_ok("/readyz", Duration::from_secs(60))
            .await
            .context("ACK did not become ready (it exits when STS GetCallerIdentity fails)")?;
        Ok(Ack {
            process,
            metrics_url: format!("http://127.0.0.1:{metrics}/metrics"),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Its Prometheus metrics text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        Ok(reqwest::get(&self.metrics_url)
            .await?
            .error_for_status()?
            .text()
            .await?)
    }

    /// SIGTERM, and wait for the exit.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.process.terminate(Duration::from_secs(30)).await?;
        Ok(())
    }
}

/// The object's `ACK.ResourceSynced` status, if set.
pub fn synced(obj: &DynamicObject) -> Option<bool> {
    obj.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == SYNCED)
        .map(|c| c["status"] == "True")
}

/// ACK's own conditions that say why an object is not synced (`ACK.Terminal`,
/// `ACK.Recoverable`), for messages.
pub fn trouble(obj: &DynamicObject) -> Vec<String> {
    obj.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            c["status"] == "True" && (c["type"] == "ACK.Terminal" || c["type"] == "ACK.Recoverable")
        })
        .map(|c| format!("{}: {}", c["type"], c["message"]))
        .collect()
}
