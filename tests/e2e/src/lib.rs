//! The end-to-end harness: `kubesim`, `cloudsim` and the real `cache-operator run` binary as
//! separate processes, reached only through their public APIs.
//!
//! Each test gets its own stack (so fault injection and call counters of one test never touch
//! another) and a fresh namespace. Environment variables point the same tests at real
//! infrastructure instead:
//!
//! | variable | effect |
//! |---|---|
//! | `E2E_KUBE` | `real` (default): a kube-apiserver, etcd and kube-controller-manager built from their Go modules (`tests/control-plane`, cached), one per test; `sim`: `kubesim`, which starts in milliseconds (a quick loop) |
//! | `E2E_KUBECONFIG` | use this cluster instead (the CRDs must be installable; the operator uses the same kubeconfig) |
//! | `E2E_OPERATOR=external` | do not start the operator: one is already running against that cluster |
//! | `E2E_REAL_CLOUDS=1` | do not start `cloudsim`: the operator uses its ambient cloud credentials; tests that need the simulator's admin API (faults, counters, clocks) are skipped |
//! | `E2E_GCP_PROJECT`, `E2E_GCP_REGION`, `E2E_AWS_REGION` | where test clusters are made (defaults suit the simulator) |
//! | `E2E_BIN_DIR` | where the binaries are (default: next to the test executable, i.e. `target/debug`) |
//! | `E2E_KEEP=1` | keep namespaces and log folders after tests |
//! | `E2E_OPERATOR_LOG` | the operator's `RUST_LOG` (default: debug for the operator's own crates) |
//! | `ACK_PEERS_DIR` | the folder holding AWS's controller's `ack/build.sh` (default `../shared/peers` next to the repository; see [`ack`]) |
//!
//! Logs of every process go to `target/e2e-logs/<test>/`; a failing test prints their tails.

pub mod ack;
pub mod apiserver;
pub mod cloudsim;
pub mod manifests;
pub mod process;
pub mod redis_client;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use kube::{Api, Client};
use serde_json::{Value, json};

pub use apiserver::{KubeKind, KubeServer};
pub use cloudsim::CloudSim;
pub use process::Process;

/// Settings of one test's stack.
#[derive(Clone, Debug)]
pub struct Options {
    /// Start the operator (unless `E2E_OPERATOR=external`).
    pub operator: bool,
    /// Extra arguments for `cache-operator run`.
    pub operator_args: Vec<String>,
    /// Provisioning delay of the simulated clouds.
    pub provisioning_delay: Duration,
    /// Run `cloudsim` without redis-server processes (scale tests).
    pub no_redis: bool,
    /// Install the shipped RBAC without this (resource, verb) in the operator's ClusterRole.
    pub rbac_without: Option<(&'static str, &'static str)>,
    /// Which API server (default: `E2E_KUBE`).
    pub kube: Option<KubeKind>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            operator: true,
            operator_args: Vec::new(),
            provisioning_delay: Duration::from_millis(300),
            no_redis: false,
            rbac_without: None,
            kube: None,
        }
    }
}

/// One test's world: a Kubernetes API, clouds, the operator, and a namespace of its own.
pub struct Env {
    pub name: String,
    pub namespace: String,
    pub kubeconfig: PathBuf,
    pub client: Client,
    pub cloudsim: Option<CloudSim>,
    pub operators: Vec<Process>,
    pub logs: PathBuf,
    /// Which API server this is.
    pub kube: KubeKind,
    /// Where the operator's Lease is (its POD_NAMESPACE).
    pub operator_namespace: String,
    /// The operator's kubeconfig: on servers the harness starts, a ServiceAccount bound to the
    /// shipped RBAC; on a cluster of yours, the same kubeconfig as the tests.
    pub operator_kubeconfig: PathBuf,
    server: KubeServer,
    operator_env: Vec<(String, String)>,
}

pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Where the workspace's binaries are: `target/<profile>/`, next to `deps/` where the test
/// executable lives. `cargo test --workspace` builds them before any test runs.
pub fn bin(name: &str) -> PathBuf {
    let dir = var("E2E_BIN_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let exe = std::env::current_exe().expect("test executable path");
        exe.parent()
            .and_then(Path::parent)
            .expect("target/<profile>")
            .to_path_buf()
    });
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace binaries first (`cargo test --workspace` does, or `cargo build --workspace --bins`)",
        path.display()
    );
    path
}

fn logs_root() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors().nth(3).expect("target/").join("e2e-logs")
}

impl Env {
    /// Start a stack for the test `name` with default options.
    pub async fn start(name: &str) -> anyhow::Result<Env> {
        Env::start_with(name, Options::default()).await
    }

    pub async fn start_with(name: &str, opts: Options) -> anyhow::Result<Env> {
        let logs = logs_root().join(name);
        let _ = std::fs::remove_dir_all(&logs);
        std::fs::create_dir_all(&logs)?;

        let kube = opts.kube.clone().unwrap_or_else(KubeKind::from_env);
        let (server, kubeconfig) = KubeServer::start(&kube, &logs).await?;
        let client = client_for(&kubeconfig).await?;

        let cloudsim = if var("E2E_REAL_CLOUDS").is_some() {
            None
        } else {
            let mut args = vec!["--listen".to_owned(), "127.0.0.1:0".to_owned()];
            if opts.no_redis {
                args.push("--no-redis".into());
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let p = Process::start("cloudsim", &bin("cloudsim"), &args, &[], &logs).await?;
            let sim = CloudSim::new(p);
            sim.configure(
                json!({"provisioningDelayMs": opts.provisioning_delay.as_millis() as u64}),
            )
            .await?;
            Some(sim)
        };

        let mut env = Env {
            name: name.to_owned(),
            namespace: String::new(),
            kubeconfig: kubeconfig.clone(),
            client,
            cloudsim,
            operators: Vec::new(),
            logs,
            operator_namespace: String::new(),
            operator_kubeconfig: kubeconfig.clone(),
            kube,
            server,
            operator_env: Vec::new(),
        };
        env.install_crds().await?;
        env.namespace = env.create_namespace(name).await?;
        if env.kube == KubeKind::Real {
            // The operator as its ServiceAccount with exactly the shipped RBAC.
            env.operator_namespace = apiserver::OPERATOR_NAMESPACE.to_owned();
            env.operator_kubeconfig = apiserver::operator_identity(
                &env.client,
                &env.kubeconfig,
                &env.logs.join("operator.kubeconfig"),
                opts.rbac_without,
            )
            .await?;
        } else {
            // kubesim authorizes nothing, and a cluster of yours has RBAC of its own: the operator
            // uses the tests' kubeconfig and keeps its Lease in the test's namespace.
            env.operator_namespace = env.namespace.clone();
        }
        env.operator_env = env.operator_environment().await?;
        if opts.operator && var("E2E_OPERATOR").as_deref() != Some("external") {
            env.start_operator("operator", &opts.operator_args).await?;
        }
        Ok(env)
    }

    /// The environment of the operator process: where the Kubernetes API and the clouds are
    /// and which credentials to use. With the simulator, a service-account key it issued
    /// (so the real `gcp_auth` token flow runs) and its well-known AWS key pair.
    async fn operator_environment(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut vars = vec![
            (
                "KUBECONFIG".to_owned(),
                self.operator_kubeconfig.display().to_string(),
            ),
            (
                "RUST_LOG".to_owned(),
                var("E2E_OPERATOR_LOG").unwrap_or_else(|| {
                    "warn,cache_operator=debug,cache_operator_cloud=debug".to_owned()
                }),
            ),
            ("POD_NAMESPACE".to_owned(), self.operator_namespace.clone()),
        ];
        if let Some(sim) = &self.cloudsim {
            let key = sim
                .service_account_key("cache-operator@operator-proj.iam.gserviceaccount.com")
                .await?;
            let key_path = self.logs.join("gcp-operator-key.json");
            std::fs::write(&key_path, key.to_string())?;
            vars.extend([
                (
                    "CACHE_OPERATOR_GCP_ENDPOINT".to_owned(),
                    sim.base_url().to_owned(),
                ),
                (
                    "GOOGLE_APPLICATION_CREDENTIALS".to_owned(),
                    key_path.display().to_string(),
                ),
                (
                    "CACHE_OPERATOR_AWS_ENDPOINT".to_owned(),
                    sim.base_url().to_owned(),
                ),
                (
                    "AWS_ACCESS_KEY_ID".to_owned(),
                    cloudsim::AWS_ACCESS_KEY_ID.to_owned(),
                ),
                (
                    "AWS_SECRET_ACCESS_KEY".to_owned(),
                    cloudsim::AWS_SECRET_ACCESS_KEY.to_owned(),
                ),
                ("AWS_REGION".to_owned(), aws_region()),
                // Keep the SDK away from the instance metadata service on CI machines.
                ("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned()),
            ]);
        }
        Ok(vars)
    }

    /// Start (another) operator replica; `label` names its log file.
    pub async fn start_operator(&mut self, label: &str, extra: &[String]) -> anyhow::Result<()> {
        let port = free_port()?;
        let mut args: Vec<String> = vec![
            "run".into(),
            "--http-addr".into(),
            format!("127.0.0.1:{port}"),
            "--resync".into(),
            "20s".into(),
            "--poll".into(),
            "300ms".into(),
            "--max-backoff".into(),
            "5s".into(),
            "--lease-duration".into(),
            "3s".into(),
            "--identity".into(),
            format!("{}-{label}", self.name),
        ];
        args.extend(extra.iter().cloned());
        let env: Vec<(&str, &str)> = self
            .operator_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut p = Process::start_plain(label, &bin("cache-operator"), &args, &env, &self.logs)?;
        p.http = Some(format!("http://127.0.0.1:{port}"));
        p.wait_http_ok("/healthz", Duration::from_secs(20)).await?;
        self.operators.push(p);
        Ok(())
    }

    async fn install_crds(&self) -> anyhow::Result<()> {
        let out = std::process::Command::new(bin("cache-operator"))
            .arg("crds")
            .output()?;
        if !out.status.success() {
            bail!(
                "cache-operator crds failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let docs: Vec<Value> = serde_saphyr::from_multiple(std::str::from_utf8(&out.stdout)?)?;
        let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
            Api::all(self.client.clone());
        for doc in docs {
            let name = doc["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            crds.patch(
                &name,
                &PatchParams::apply("e2e").force(),
                &Patch::Apply(&doc),
            )
            .await?;
        }
        // Served once established.
        let deadline = Instant::now() + Duration::from_secs(20);
        for plural in ["redisclusters", "usergroups", "accessbindings"] {
            let name = format!("{plural}.cache-operator.io");
            loop {
                let crd = crds.get(&name).await?;
                let established = crd
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True");
                if established {
                    let ar = resource(match plural {
                        "redisclusters" => "RedisCluster",
                        "usergroups" => "UserGroup",
                        _ => "AccessBinding",
                    });
                    apiserver::wait_served(&self.client, &ar, Duration::from_secs(20)).await?;
                    break;
                }
                if Instant::now() > deadline {
                    bail!("CRD {name} not established");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    async fn create_namespace(&self, base: &str) -> anyhow::Result<String> {
        let suffix: u32 = rand::random::<u32>() % 100_000;
        let mut name: String = base
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        name.truncate(50);
        let name = format!("{}-{suffix}", name.trim_matches('-'));
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &ns)
            .await?;
        Ok(name)
    }

    /// An API for one of our kinds in this test's namespace, untyped.
    pub fn api(&self, kind: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &resource(kind))
    }

    /// Server-side apply a manifest into this test's namespace.
    pub async fn apply(&self, manifest: Value) -> anyhow::Result<DynamicObject> {
        let kind = manifest["kind"]
            .as_str()
            .context("manifest without kind")?
            .to_owned();
        let name = manifest["metadata"]["name"]
            .as_str()
            .context("manifest without name")?
            .to_owned();
        let api = if manifest["apiVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("cache-operator.io/"))
        {
            self.api(&kind)
        } else {
            let (group, version) = match manifest["apiVersion"]
                .as_str()
                .unwrap_or("v1")
                .split_once('/')
            {
                Some((g, v)) => (g.to_owned(), v.to_owned()),
                None => (
                    String::new(),
                    manifest["apiVersion"].as_str().unwrap_or("v1").to_owned(),
                ),
            };
            let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(&group, &version, &kind));
            Api::namespaced_with(self.client.clone(), &self.namespace, &ar)
        };
        Ok(api
            .patch(
                &name,
                &PatchParams::apply("e2e").force(),
                &Patch::Apply(&manifest),
            )
            .await?)
    }

    pub async fn get(&self, kind: &str, name: &str) -> anyhow::Result<Option<DynamicObject>> {
        Ok(self.api(kind).get_opt(name).await?)
    }

    pub async fn delete(&self, kind: &str, name: &str) -> anyhow::Result<()> {
        match self.api(kind).delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Poll `kind/name` until `check` returns `Some`, or fail after `timeout` saying what was
    /// last seen.
    pub async fn wait_for<T>(
        &self,
        kind: &str,
        name: &str,
        timeout: Duration,
        mut check: impl FnMut(Option<&DynamicObject>) -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let obj = self.get(kind, name).await?;
            if let Some(v) = check(obj.as_ref()) {
                return Ok(v);
            }
            if Instant::now() > deadline {
                let status = obj.map(|o| o.data["status"].clone()).unwrap_or(Value::Null);
                bail!(
                    "timed out after {timeout:?} waiting on {kind}/{name}; last status: {status:#}"
                );
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Wait until `Ready` is True for the object's current generation.
    pub async fn wait_ready(
        &self,
        kind: &str,
        name: &str,
        timeout: Duration,
    ) -> anyhow::Result<DynamicObject> {
        self.wait_for(kind, name, timeout, |o| {
            let o = o?;
            (condition(o, "Ready").map(|c| c["status"] == "True") == Some(true)
                && o.data["status"]["observedGeneration"] == json!(o.metadata.generation))
            .then(|| o.clone())
        })
        .await
    }

    /// Wait until `Ready` has this reason.
    pub async fn wait_reason(
        &self,
        kind: &str,
        name: &str,
        reason: &str,
        timeout: Duration,
    ) -> anyhow::Result<DynamicObject> {
        self.wait_for(kind, name, timeout, |o| {
            let o = o?;
            (condition(o, "Ready").map(|c| c["reason"] == reason) == Some(true)).then(|| o.clone())
        })
        .await
    }

    pub async fn wait_gone(&self, kind: &str, name: &str, timeout: Duration) -> anyhow::Result<()> {
        self.wait_for(kind, name, timeout, |o| o.is_none().then_some(()))
            .await
    }

    /// Poll an async probe until it yields a value.
    pub async fn wait_for_value<T, F, Fut>(
        &self,
        timeout: Duration,
        mut probe: F,
    ) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = probe().await {
                return Ok(v);
            }
            if Instant::now() > deadline {
                bail!("timed out after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Process IDs of the stack, for measurements: (API server, cloudsim, operators).
    pub fn pids(&self) -> (Option<u32>, Option<u32>, Vec<u32>) {
        (
            self.server.pid(),
            self.cloudsim.as_ref().and_then(|c| c.process().pid()),
            self.operators.iter().filter_map(Process::pid).collect(),
        )
    }

    /// The API server's processes by name (`kube-apiserver`, `etcd`, `kube-controller-manager`
    /// on the real control plane; `kubesim`).
    pub fn server_components(&self) -> Vec<(String, u32)> {
        self.server.components()
    }

    pub fn sim(&self) -> &CloudSim {
        self.cloudsim
            .as_ref()
            .expect("this test needs the cloud simulator (E2E_REAL_CLOUDS is set)")
    }

    /// Text of every log file of this test, for assertions about what was (not) logged.
    pub fn all_logs(&self) -> String {
        let mut out = String::new();
        if let Ok(entries) = std::fs::read_dir(&self.logs) {
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "log") {
                    out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
                }
            }
        }
        out
    }

    /// Stop every operator replica with SIGTERM and wait for them to exit.
    pub async fn stop_operators(&mut self) -> Vec<std::process::ExitStatus> {
        let mut out = Vec::new();
        for p in &mut self.operators {
            if let Ok(status) = p.terminate(Duration::from_secs(20)).await {
                out.push(status);
            }
        }
        out
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- logs of {} are in {}", self.name, self.logs.display());
            for p in &self.operators {
                p.print_tail(40);
                let denials = apiserver::rbac_denials(&p.log_text()).join("\n");
                if !denials.is_empty() {
                    eprintln!(
                        "---- the API server refused {} for want of RBAC permissions (config/rbac/role.yaml):\n{denials}",
                        p.label
                    );
                }
            }
            self.server.print_tail(20);
            if let Some(sim) = &self.cloudsim {
                sim.process().print_tail(20);
            }
        }
        // Processes are killed by their own Drop; their logs stay.
        if !std::thread::panicking()
            && var("E2E_KEEP").is_none()
            && !matches!(self.server, KubeServer::External)
        {
            // Stop the API server before its folder goes.
            self.server = KubeServer::External;
            let _ = std::fs::remove_dir_all(&self.logs);
        }
    }
}

pub fn resource(kind: &str) -> ApiResource {
    let plural = match kind {
        "RedisCluster" => "redisclusters",
        "ServerlessCache" => "serverlesscaches",
        "UserGroup" => "usergroups",
        "AccessBinding" => "accessbindings",
        other => panic!("not a cache-operator kind: {other}"),
    };
    ApiResource {
        group: "cache-operator.io".into(),
        version: "v1alpha1".into(),
        api_version: "cache-operator.io/v1alpha1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// The condition of a type from an object's status.
pub fn condition<'a>(obj: &'a DynamicObject, type_: &str) -> Option<&'a Value> {
    obj.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

pub async fn client_for(kubeconfig: &Path) -> anyhow::Result<Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await?;
    Ok(Client::try_from(config)?)
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub fn gcp_project() -> String {
    var("E2E_GCP_PROJECT").unwrap_or_else(|| "e2e-project".into())
}

pub fn gcp_region() -> String {
    var("E2E_GCP_REGION").unwrap_or_else(|| "us-central1".into())
}

pub fn aws_region() -> String {
    var("E2E_AWS_REGION").unwrap_or_else(|| "us-east-1".into())
}

/// A unique cloud ID for a test object (IDs are global within a project/region).
pub fn unique_id(prefix: &str) -> String {
    format!("{prefix}-{:06x}", rand::random::<u32>() & 0xff_ffff)
}
