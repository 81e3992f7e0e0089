//! `cargo run --release --bin sandbox`: the Kubernetes API test server and the cloud simulator
//! in this process, the operator as a child process, the CRDs and samples installed — a whole
//! cache-operator world on one machine, until Ctrl-C.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::{Api, Client};
use serde_json::Value;

/// A local cache-operator world: kubesim, cloudsim and the operator, with the samples applied.
#[derive(Parser)]
#[command(name = "sandbox")]
struct Args {
    /// Start empty: no samples.
    #[arg(long)]
    no_samples: bool,
    /// No redis-server behind the simulated clusters.
    #[arg(long)]
    no_redis: bool,
    /// Folder for the kubeconfig, keys and the operator's log (default: a new temporary folder).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The Kubernetes API: `sim` (kubesim, starts in a second) or `real` (kube-apiserver, etcd and
    /// kube-controller-manager built from their Go modules by tests/control-plane/build.sh — the
    /// first build takes 10-25 minutes and is cached; it then starts in seconds).
    #[arg(long, value_enum, default_value = "sim")]
    kube: KubeChoice,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum KubeChoice {
    Sim,
    Real,
}

/// The running Kubernetes API.
enum KubeApi {
    Sim(kubesim::Running),
    Real(control_plane::ControlPlane),
}

/// The samples of config/samples, in dependency order.
const SAMPLES: &[(&str, &str)] = &[
    (
        "gcp-usergroup.yaml",
        include_str!("../../../config/samples/gcp-usergroup.yaml"),
    ),
    (
        "gcp-rediscluster.yaml",
        include_str!("../../../config/samples/gcp-rediscluster.yaml"),
    ),
    (
        "gcp-accessbinding.yaml",
        include_str!("../../../config/samples/gcp-accessbinding.yaml"),
    ),
    (
        "gcp-crossregion.yaml",
        include_str!("../../../config/samples/gcp-crossregion.yaml"),
    ),
    (
        "gcp-valkey.yaml",
        include_str!("../../../config/samples/gcp-valkey.yaml"),
    ),
    (
        "gcp-valkey-accessbinding.yaml",
        include_str!("../../../config/samples/gcp-valkey-accessbinding.yaml"),
    ),
    (
        "aws-usergroup.yaml",
        include_str!("../../../config/samples/aws-usergroup.yaml"),
    ),
    (
        "aws-rediscluster.yaml",
        include_str!("../../../config/samples/aws-rediscluster.yaml"),
    ),
    (
        "aws-accessbinding.yaml",
        include_str!("../../../config/samples/aws-accessbinding.yaml"),
    ),
    (
        "aws-serverless.yaml",
        include_str!("../../../config/samples/aws-serverless.yaml"),
    ),
];

const KINDS: [(&str, &str); 4] = [
    ("RedisCluster", "redisclusters"),
    ("ServerlessCache", "serverlesscaches"),
    ("UserGroup", "usergroups"),
    ("AccessBinding", "accessbindings"),
];

fn main() -> anyhow::Result<()> {
    // The operator runs as a child process of this same binary, with its own environment.
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("__operator") {
        return run_operator(&argv[2..]);
    }
    let args = Args::parse();
    tokio::runtime::Runtime::new()?.block_on(sandbox(args))
}

fn run_operator(args: &[String]) -> anyhow::Result<()> {
    #[derive(Parser)]
    struct Op {
        #[command(flatten)]
        run: cache_operator::run::RunOptions,
    }
    let op =
        Op::parse_from(std::iter::once("cache-operator".to_owned()).chain(args.iter().cloned()));
    // Never outlive the sandbox, even when it is killed without a chance to stop us.
    let parent = std::os::unix::process::parent_id();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(std::time::Duration::from_millis(500));
            if std::os::unix::process::parent_id() != parent {
                std::process::exit(0);
            }
        }
    });
    tokio::runtime::Runtime::new()?.block_on(cache_operator::run::run(op.run))
}

async fn sandbox(args: Args) -> anyhow::Result<()> {
    let temp;
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("cache-operator-sandbox-")
                .tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let mut sim_config = cloudsim::Config::default();
    if args.no_redis {
        sim_config.redis = cloudsim::RedisBacking::Disabled;
    }
    sim_config.tunables = sim_config
        .tunables
        .with_provisioning_delay(Duration::from_secs(2));
    let sim = cloudsim::Sim::start(sim_config)
        .await
        .context("starting cloudsim")?;
    let kubeconfig = dir.join("kubeconfig");
    let kube = match args.kube {
        KubeChoice::Sim => {
            let kube = kubesim::Server::start(kubesim::Config::default())
                .await
                .context("starting kubesim")?;
            kube.write_kubeconfig(&kubeconfig)?;
            KubeApi::Sim(kube)
        }
        KubeChoice::Real => {
            eprintln!(
                "# the real control plane (Kubernetes built from its Go modules, tests/control-plane): checking the build"
            );
            let bin = tokio::task::spawn_blocking(control_plane::Binaries::ensure).await??;
            let cp_dir = dir.join("control-plane");
            let cp = tokio::task::spawn_blocking(move || {
                control_plane::ControlPlane::start(&bin, &cp_dir)
            })
            .await??;
            std::fs::copy(cp.admin_kubeconfig(), &kubeconfig)?;
            KubeApi::Real(cp)
        }
    };
    // Where things are, first, one per line, for people and scripts.
    println!("KUBECONFIG={}", kubeconfig.display());
    println!("CLOUDSIM={}", sim.base_url());
    let _ = std::io::stdout().flush();
    eprintln!(
        "# kubectl:  export KUBECONFIG={}; kubectl get redisclusters -o wide",
        kubeconfig.display()
    );
    eprintln!(
        "# gcloud:   gcloud config set api_endpoint_overrides/redis {}/ && gcloud config set auth/disable_credentials true",
        sim.base_url()
    );
    eprintln!(
        "#           gcloud config set api_endpoint_overrides/memorystore {}/  (Memorystore for Valkey: gcloud memorystore instances list --location=us-central1)",
        sim.base_url()
    );
    eprintln!(
        "# aws:      AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={} aws elasticache describe-replication-groups --endpoint-url {} --region us-east-1",
        cloudsim::DEFAULT_AWS_ACCESS_KEY_ID,
        cloudsim::DEFAULT_AWS_SECRET_ACCESS_KEY,
        sim.base_url()
    );

    if let KubeApi::Real(cp) = &kube {
        let bin = cp.binaries();
        eprintln!(
            "# kubectl {}: {} kubectl --kubeconfig {} get redisclusters",
            bin.version().unwrap_or_default(),
            bin.control_plane().display(),
            kubeconfig.display()
        );
    }

    let client = client_for(&kubeconfig).await?;
    install_crds(&client).await?;
    // On the real API server the operator runs as its ServiceAccount with the shipped RBAC; on
    // kubesim, which does not authorize, with the same kubeconfig as you.
    let (operator_kubeconfig, operator_namespace) = match &kube {
        KubeApi::Real(_) => (
            control_plane::operator::operator_identity(
                &client,
                &kubeconfig,
                &dir.join("operator.kubeconfig"),
                None,
            )
            .await?,
            control_plane::operator::OPERATOR_NAMESPACE,
        ),
        KubeApi::Sim(_) => (kubeconfig.clone(), "default"),
    };
    let mut operator = start_operator(
        &dir,
        &operator_kubeconfig,
        operator_namespace,
        sim.base_url(),
    )
    .await?;
    eprintln!("# operator log: {}", dir.join("operator.log").display());

    if !args.no_samples {
        aws_prerequisites(sim.base_url()).await?;
        apply_samples(&client).await?;
        let ready = wait_ready(&client, Duration::from_secs(180)).await?;
        print_tables(&client).await?;
        print_secret_keys(&client).await?;
        if !ready {
            eprintln!(
                "# not everything became Ready in time: see the Reason column and the operator log"
            );
        }
    }
    println!("sandbox running; Ctrl-C to stop");
    let _ = std::io::stdout().flush();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("# stopping");
    stop(&mut operator);
    match kube {
        KubeApi::Sim(kube) => kube.shutdown().await,
        KubeApi::Real(mut cp) => tokio::task::spawn_blocking(move || cp.stop()).await?,
    }
    sim.shutdown().await;
    Ok(())
}

async fn client_for(kubeconfig: &Path) -> anyhow::Result<Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    Ok(Client::try_from(config)?)
}

async fn install_crds(client: &Client) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in cache_operator_api::crds::all() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        crds.patch(
            &name,
            &PatchParams::apply("sandbox").force(),
            &Patch::Apply(&crd),
        )
        .await?;
    }
    // A real API server serves a new kind a moment after it accepted the CRD.
    let deadline = Instant::now() + Duration::from_secs(30);
    for (kind, plural) in KINDS {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource(kind, plural));
        while let Err(e) = api.list(&kube::api::ListParams::default().limit(1)).await {
            if Instant::now() > deadline {
                anyhow::bail!("{plural} not served: {e}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

async fn start_operator(
    dir: &Path,
    kubeconfig: &Path,
    namespace: &str,
    cloudsim: &str,
) -> anyhow::Result<Child> {
    let key: Value = reqwest::Client::new()
        .post(format!("{cloudsim}/_cloudsim/gcp/service-account-keys"))
        .json(&serde_json::json!({"email": "cache-operator@sandbox-proj.iam.gserviceaccount.com"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let key_path = dir.join("gcp-operator-key.json");
    std::fs::write(&key_path, key.to_string())?;
    let log = std::fs::File::create(dir.join("operator.log"))?;
    let http_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(std::env::current_exe()?)
        .args([
            "__operator",
            "--http-addr",
            &format!("127.0.0.1:{http_port}"),
            "--poll",
            "1s",
            "--resync",
            "1m",
        ])
        .env("KUBECONFIG", kubeconfig)
        .env("POD_NAMESPACE", namespace)
        .env("CACHE_OPERATOR_GCP_ENDPOINT", cloudsim)
        .env("GOOGLE_APPLICATION_CREDENTIALS", &key_path)
        .env("CACHE_OPERATOR_AWS_ENDPOINT", cloudsim)
        .env("AWS_ACCESS_KEY_ID", cloudsim::DEFAULT_AWS_ACCESS_KEY_ID)
        .env(
            "AWS_SECRET_ACCESS_KEY",
            cloudsim::DEFAULT_AWS_SECRET_ACCESS_KEY,
        )
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting the operator")?;
    eprintln!("# operator metrics: http://127.0.0.1:{http_port}/metrics");
    Ok(child)
}

/// What the aws sample names but does not own, made as a platform team's network stack would
/// before applying it: the cache subnet group `private-cache-subnets` (ElastiCache refuses a
/// replication group naming a subnet group that does not exist).
async fn aws_prerequisites(cloudsim: &str) -> anyhow::Result<()> {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(cloudsim)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_elasticache::config::Credentials::new(
            cloudsim::DEFAULT_AWS_ACCESS_KEY_ID,
            cloudsim::DEFAULT_AWS_SECRET_ACCESS_KEY,
            None,
            None,
            "sandbox",
        ))
        .load()
        .await;
    aws_sdk_elasticache::Client::new(&conf)
        .create_cache_subnet_group()
        .cache_subnet_group_name("private-cache-subnets")
        .cache_subnet_group_description("the sandbox's private subnets (config/samples)")
        .subnet_ids("subnet-0a1b2c3d")
        .subnet_ids("subnet-0e1f2a3b")
        .send()
        .await
        .context("creating the cache subnet group private-cache-subnets in cloudsim")?;
    eprintln!("# created the cache subnet group private-cache-subnets the aws sample names");
    Ok(())
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: cache_operator_api::GROUP.into(),
        version: cache_operator_api::VERSION.into(),
        api_version: cache_operator_api::API_VERSION.into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

async fn apply_samples(client: &Client) -> anyhow::Result<()> {
    for (file, text) in SAMPLES {
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(text).with_context(|| format!("parsing {file}"))?;
        for doc in docs {
            let kind = doc["kind"].as_str().unwrap_or_default();
            let plural = KINDS
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, p)| *p)
                .context("sample of an unknown kind")?;
            let name = doc["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), "default", &resource(kind, plural));
            api.patch(
                &name,
                &PatchParams::apply("sandbox").force(),
                &Patch::Apply(&doc),
            )
            .await
            .with_context(|| format!("applying {file}"))?;
        }
    }
    eprintln!("# applied config/samples into namespace default; waiting until they are Ready");
    Ok(())
}

fn ready(o: &DynamicObject) -> bool {
    o.data["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Whether every object became Ready before the deadline.
async fn wait_ready(client: &Client, timeout: Duration) -> anyhow::Result<bool> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        let mut waiting = Vec::new();
        for (kind, plural) in KINDS {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), "default", &resource(kind, plural));
            for o in api.list(&Default::default()).await? {
                if !ready(&o) {
                    waiting.push(format!("{kind}/{}", o.metadata.name.unwrap_or_default()));
                }
            }
        }
        if waiting.is_empty() {
            return Ok(true);
        }
        let now = waiting.join(", ");
        if now != last {
            eprintln!("# waiting for: {now}");
            last = now;
        }
        if Instant::now() > deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The `kubectl get -o wide` tables, from each CRD's printer columns.
async fn print_tables(client: &Client) -> anyhow::Result<()> {
    let crds = cache_operator_api::crds::all();
    for (kind, plural) in KINDS {
        let crd = crds
            .iter()
            .find(|c| c.spec.names.kind == kind)
            .context("CRD")?;
        let columns = crd.spec.versions[0]
            .additional_printer_columns
            .clone()
            .unwrap_or_default();
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), "default", &resource(kind, plural));
        let objects = api.list(&Default::default()).await?;
        if objects.items.is_empty() {
            continue;
        }
        let mut rows = vec![
            std::iter::once("NAME".to_owned())
                .chain(columns.iter().map(|c| c.name.to_uppercase()))
                .collect::<Vec<_>>(),
        ];
        for o in &objects {
            let value = serde_json::to_value(o)?;
            let mut row = vec![o.metadata.name.clone().unwrap_or_default()];
            for c in &columns {
                row.push(column(&value, &c.json_path, &c.type_));
            }
            rows.push(row);
        }
        let widths: Vec<usize> = (0..rows[0].len())
            .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
            .collect();
        println!();
        for r in rows {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(v, w)| format!("{v:<w$}"))
                .collect();
            println!("{}", line.join("   ").trim_end());
        }
    }
    Ok(())
}

/// The subset of JSONPath printer columns use: `.a.b`, `[0]`, `[?(@.type=="Ready")]`.
fn column(obj: &Value, path: &str, type_: &str) -> String {
    let mut cur = vec![obj.clone()];
    let mut rest = path.trim_start_matches('.');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("[?(@.") {
            let (cond, after) = r.split_once(")]").unwrap_or((r, ""));
            let (field, want) = cond.split_once("==").unwrap_or((cond, ""));
            let want = want.trim_matches('"');
            cur = cur
                .iter()
                .flat_map(|v| v.as_array().cloned().unwrap_or_default())
                .filter(|v| v[field].as_str() == Some(want))
                .collect();
            rest = after.trim_start_matches('.');
        } else if let Some(r) = rest.strip_prefix('[') {
            let (idx, after) = r.split_once(']').unwrap_or((r, ""));
            let i: usize = idx.parse().unwrap_or(0);
            cur = cur.iter().filter_map(|v| v.get(i).cloned()).collect();
            rest = after.trim_start_matches('.');
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            let (field, after) = rest.split_at(end);
            cur = cur.iter().filter_map(|v| v.get(field).cloned()).collect();
            rest = after.trim_start_matches('.');
        }
    }
    let Some(v) = cur.first() else {
        return "<none>".into();
    };
    match (type_, v) {
        ("date", Value::String(s)) => age(s),
        (_, Value::String(s)) => s.clone(),
        (_, Value::Null) => "<none>".into(),
        (_, other) => other.to_string(),
    }
}

fn age(rfc3339: &str) -> String {
    let Ok(t) = rfc3339.parse::<jiff::Timestamp>() else {
        return rfc3339.to_owned();
    };
    let secs = jiff::Timestamp::now().duration_since(t).as_secs().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h", s / 3600),
    }
}

/// Which keys each AccessBinding's Secret holds — never their values.
async fn print_secret_keys(client: &Client) -> anyhow::Result<()> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "default");
    let bindings: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &resource("AccessBinding", "accessbindings"),
    );
    let mut out = BTreeMap::new();
    for b in bindings.list(&Default::default()).await? {
        let name = b.data["status"]["secretName"]
            .as_str()
            .or(b.data["spec"]["secretName"].as_str())
            .unwrap_or_default()
            .to_owned();
        if let Some(s) = secrets.get_opt(&name).await? {
            let keys: Vec<String> = s.data.unwrap_or_default().into_keys().collect();
            out.insert(name, keys);
        }
    }
    if !out.is_empty() {
        println!();
        for (secret, keys) in out {
            println!("Secret {secret} (default): {}", keys.join(", "));
        }
    }
    Ok(())
}
