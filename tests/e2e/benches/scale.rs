//! The operator at scale on the real control plane (or `kubesim`) and `cloudsim`, printing
//! figures (no assertions). One run, in order:
//!
//! 1. **burst**: N RedisClusters and N AccessBindings applied at once → time until every cluster
//!    is Ready and every Secret written, apply→Secret latency, Kubernetes requests per pair by
//!    verb (the apiserver's own `apiserver_request_total`, minus the requests this benchmark
//!    sent itself, counted on its client), cloud calls per object;
//! 2. **paced**: pairs applied at a steady rate → apply→Secret latency (the user-facing p99);
//! 3. **steady**: several resync periods with nothing changing → Kubernetes and cloud calls per
//!    object per resync, the operator's RSS and CPU;
//! 4. with provisioning delays (`SCALE_DELAYS=1`): **modify**, every cluster's shard count
//!    changed → time until all are Ready at the new generation, cloud calls per cluster by action;
//!    **delete**, every object deleted → time until all are gone, cloud calls per cluster by
//!    action (the burst's figures then count the reads of clusters being created);
//! 5. **floor**: the operator stopped, a plain client makes exactly the minimum writes of N
//!    pairs on the same apiserver at the operator's concurrency; burst time / floor time.
//!
//! It prints one table, then one line per figure: `figure: NAME VALUE UNIT`.
//!
//! ```sh
//! cargo build --release --workspace --bins
//! cargo bench -p e2e --bench scale                          # real control plane, N = 1000
//! SCALE_OBJECTS=10000 cargo bench -p e2e --bench scale
//! SCALE_KUBE=sim cargo bench -p e2e --bench scale           # kubesim (no request figures)
//! ```
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `SCALE_KUBE` | `real` | `real`: kube-apiserver + etcd + kube-controller-manager; `sim`: kubesim |
//! | `SCALE_OBJECTS` | 1000 | N: pairs in the burst |
//! | `SCALE_PROVIDER` | `gcp` | `gcp`: pairs (cluster + binding + Secret); `aws`: clusters only (the workload ACK's controller has) |
//! | `SCALE_AUTH` | `disabled` | gcp clusters' `authMode`: `disabled` (the binding's Secret holds the endpoints) or `iam` (all clusters list one UserGroup, whose grants are one conditional IAM binding per six clusters; IAM refuses more than 20 conditional bindings of a role per principal, so one group spans at most 120 clusters: `iam` works while N plus `SCALE_PACED` ≤ 120, and the group reports `IamPolicyLimit` beyond) |
//! | `SCALE_CONCURRENCY` | 32 | the operator's `--concurrency`, and the floor client's |
//! | `SCALE_PACED` | 200 | pairs applied at the paced rate |
//! | `SCALE_RATE` | 20 | pairs per second in the paced phase |
//! | `SCALE_RESYNC` | 60 | the operator's `--resync`, seconds |
//! | `SCALE_RESYNCS` | 3 | resync periods measured in steady state |
//! | `SCALE_FLOOR` | 1 | 0 skips the floor |
//! | `SCALE_DELAYS` | 0 | 1: cloudsim creates, modifies and deletes in realistic times scaled down 30×: creation 30 s (Memorystore and ElastiCache take about 15 min), modification 20 s (about 10 min for a shard change), deletion 12 s (about 6 min); adds the modify and delete phases. 0: no delay (burst, paced and floor figures measure the operator and the apiserver alone) |
//! | `SCALE_CREATE_DELAY`, `SCALE_MODIFY_DELAY`, `SCALE_DELETE_DELAY` | by `SCALE_DELAYS` | each delay in seconds; any non-zero one adds the modify and delete phases |
//! | `SCALE_ACK` | 0 | 1: first the same N replication groups through AWS's own controller (ACK), side by side (`scale/ack.rs`; needs `SCALE_PROVIDER=aws`) |

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use cache_operator_testkit::{binding, cluster, group};
use e2e::{Env, KubeKind, Options, aws_region, gcp_project, gcp_region};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::sync::{Mutex, Semaphore};

#[path = "scale/ack.rs"]
mod ack_side;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

// ---- settings ----

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Provider {
    Gcp,
    Aws,
}

#[derive(Clone, Debug)]
struct Settings {
    kube: KubeKind,
    n: usize,
    provider: Provider,
    iam: bool,
    concurrency: usize,
    paced: usize,
    rate: f64,
    resync: Duration,
    resyncs: u32,
    floor: bool,
    delays: Delays,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match e2e::var(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={v}: not a valid value")),
    }
}

/// cloudsim's provisioning delays.
#[derive(Clone, Copy, Debug, Default)]
struct Delays {
    create: Duration,
    modify: Duration,
    delete: Duration,
}

impl Delays {
    /// Real creations, shard changes and deletions take about 15, 10 and 6 minutes; scaled down
    /// 30× so a run of a few thousand clusters stays within minutes while a poll of 1 s still
    /// sees each transition for tens of ticks.
    const SCALED: Delays = Delays {
        create: Duration::from_secs(30),
        modify: Duration::from_secs(20),
        delete: Duration::from_secs(12),
    };

    fn from_env() -> anyhow::Result<Delays> {
        let base = if env_or("SCALE_DELAYS", 0)? != 0 {
            Delays::SCALED
        } else {
            Delays::default()
        };
        let secs = |name: &str, d: Duration| -> anyhow::Result<Duration> {
            Ok(Duration::from_secs(env_or(name, d.as_secs())?))
        };
        Ok(Delays {
            create: secs("SCALE_CREATE_DELAY", base.create)?,
            modify: secs("SCALE_MODIFY_DELAY", base.modify)?,
            delete: secs("SCALE_DELETE_DELAY", base.delete)?,
        })
    }

    fn any(&self) -> bool {
        !(self.create.is_zero() && self.modify.is_zero() && self.delete.is_zero())
    }
}

impl Settings {
    fn from_env() -> anyhow::Result<Settings> {
        let kube = match e2e::var("SCALE_KUBE").as_deref() {
            None | Some("real") => KubeKind::Real,
            Some("sim") => KubeKind::Sim,
            Some(other) => anyhow::bail!("SCALE_KUBE={other}: expected `real` or `sim`"),
        };
        let provider = match e2e::var("SCALE_PROVIDER").as_deref() {
            None | Some("gcp") => Provider::Gcp,
            Some("aws") => Provider::Aws,
            Some(other) => anyhow::bail!("SCALE_PROVIDER={other}: expected `gcp` or `aws`"),
        };
        Ok(Settings {
            kube,
            n: env_or("SCALE_OBJECTS", 1000)?,
            provider,
            iam: match e2e::var("SCALE_AUTH").as_deref() {
                None | Some("disabled") => false,
                Some("iam") => true,
                Some(other) => anyhow::bail!("SCALE_AUTH={other}: expected `disabled` or `iam`"),
            },
            concurrency: env_or("SCALE_CONCURRENCY", 32)?,
            paced: env_or("SCALE_PACED", 200)?,
            rate: env_or("SCALE_RATE", 20.0)?,
            resync: Duration::from_secs(env_or("SCALE_RESYNC", 60)?),
            resyncs: env_or("SCALE_RESYNCS", 3)?,
            floor: env_or("SCALE_FLOOR", 1)? != 0,
            delays: Delays::from_env()?,
        })
    }

    fn with_bindings(&self) -> bool {
        self.provider == Provider::Gcp
    }
}

// ---- processes ----

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU time of a process, in clock ticks (100 per second on Linux).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// Peak RSS of a process, sampled every 200 ms until the process is gone.
fn track_peak(pid: u32) -> Arc<AtomicU64> {
    let peak = Arc::new(AtomicU64::new(0));
    let p = peak.clone();
    tokio::spawn(async move {
        loop {
            let rss = rss_kib(pid);
            if rss == 0 {
                break;
            }
            p.fetch_max(rss, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    peak
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

// ---- Kubernetes requests ----

/// (resource as `resource[.group][/subresource]`, verb as the apiserver's metric names it).
type ReqKey = (String, String);
type ReqCounts = BTreeMap<ReqKey, f64>;

/// How the apiserver labels a request in `apiserver_request_total` (verb after `CleanVerb`).
fn classify(method: &http::Method, uri: &http::Uri, content_type: Option<&str>) -> ReqKey {
    let segs: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let (group, rest) = match segs.as_slice() {
        ["api", _v, rest @ ..] => ("", rest),
        ["apis", g, _v, rest @ ..] => (*g, rest),
        _ => ("", &segs[..0]),
    };
    let rest = match rest {
        ["namespaces", _ns, more @ ..] if !more.is_empty() => more,
        other => other,
    };
    let (resource, name, sub) = (
        rest.first().copied().unwrap_or("nonresource"),
        rest.get(1),
        rest.get(2),
    );
    let mut key = resource.to_owned();
    if !group.is_empty() {
        key = format!("{key}.{group}");
    }
    if let Some(sub) = sub {
        key = format!("{key}/{sub}");
    }
    let watch = uri
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let verb = match *method {
        http::Method::GET if watch => "WATCH",
        http::Method::GET if name.is_none() => "LIST",
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE if name.is_none() => "DELETECOLLECTION",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH if content_type == Some("application/apply-patch+yaml") => "APPLY",
        http::Method::PATCH => "PATCH",
        _ => "OTHER",
    };
    (key, verb.to_owned())
}

fn is_write(verb: &str) -> bool {
    matches!(
        verb,
        "POST" | "PUT" | "PATCH" | "APPLY" | "DELETE" | "DELETECOLLECTION"
    )
}

/// A client whose every request is counted.
fn counting_client(config: kube::Config) -> anyhow::Result<(Client, Arc<SyncMutex<ReqCounts>>)> {
    let counts: Arc<SyncMutex<ReqCounts>> = Arc::default();
    let c = counts.clone();
    let layer = tower::util::MapRequestLayer::new(move |req: http::Request<kube::client::Body>| {
        let ct = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let key = classify(req.method(), req.uri(), ct);
        *c.lock().expect("counts").entry(key).or_default() += 1.0;
        req
    });
    let client = kube::client::ClientBuilder::try_from(config)?
        .with_layer(&layer)
        .build();
    Ok((client, counts))
}

/// `apiserver_request_total` by (resource, verb), summed over codes, scopes and versions.
async fn scrape(admin: &Client) -> anyhow::Result<ReqCounts> {
    let text = admin
        .request_text(http::Request::get("/metrics").body(Vec::new())?)
        .await?;
    let mut out = ReqCounts::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let mut l: HashMap<&str, &str> = HashMap::new();
        for kv in labels.split("\",") {
            if let Some((k, v)) = kv.split_once("=\"") {
                l.insert(k, v.trim_end_matches('"'));
            }
        }
        let mut key = l.get("resource").copied().unwrap_or_default().to_owned();
        if key.is_empty() {
            key = "nonresource".into();
        }
        if let Some(g) = l.get("group").filter(|g| !g.is_empty()) {
            key = format!("{key}.{g}");
        }
        if let Some(s) = l.get("subresource").filter(|s| !s.is_empty()) {
            key = format!("{key}/{s}");
        }
        let verb = l.get("verb").copied().unwrap_or_default().to_owned();
        *out.entry((key, verb)).or_default() += value.trim().parse::<f64>().unwrap_or(0.0);
    }
    Ok(out)
}

/// What others sent between two scrapes: `after - before - ours`.
fn others(before: &ReqCounts, after: &ReqCounts, ours: &ReqCounts) -> ReqCounts {
    after
        .iter()
        .map(|(k, a)| {
            let v = a - before.get(k).unwrap_or(&0.0) - ours.get(k).unwrap_or(&0.0);
            (k.clone(), v)
        })
        .filter(|(_, v)| *v > 0.5)
        .collect()
}

fn diff(before: &ReqCounts, after: &ReqCounts) -> ReqCounts {
    others(before, after, &ReqCounts::new())
}

/// The resources that are the operator's per-object business (not its Lease, discovery, or
/// the RBAC self-check at start).
fn per_object(resource: &str) -> bool {
    [
        "redisclusters.",
        "accessbindings.",
        "usergroups.",
        "secrets",
        "events",
    ]
    .iter()
    .any(|p| resource.starts_with(p))
}

// ---- cloud calls ----

/// Writes change the cloud; tokens are minted (not state); everything else reads.
fn cloud_kind(api: &str, op: &str) -> &'static str {
    let o = op.to_ascii_lowercase();
    if api == "oauth2" || api == "sts" || o.contains("generateaccesstoken") {
        "token"
    } else if [
        "create", "patch", "delete", "set", "modify", "add", "remove", "increase", "decrease",
        "failover", "reboot", "test",
    ]
    .iter()
    .any(|w| o.contains(w))
        // Memorystore's clusters.backup and backups.export take and copy backups.
        || o.ends_with(".backup")
        || o.ends_with(".export")
    {
        "write"
    } else {
        "read"
    }
}

/// Calls by (api.operation) and kind.
fn cloud_calls(counters: &Value) -> BTreeMap<String, (u64, &'static str)> {
    let mut out = BTreeMap::new();
    for (api, ops) in counters.as_object().into_iter().flatten() {
        for (op, outcomes) in ops.as_object().into_iter().flatten() {
            for (outcome, n) in outcomes.as_object().into_iter().flatten() {
                let name = if outcome == "ok" {
                    format!("{api}.{op}")
                } else {
                    format!("{api}.{op}({outcome})")
                };
                out.insert(name, (n.as_u64().unwrap_or(0), cloud_kind(api, op)));
            }
        }
    }
    out
}

fn cloud_sum(calls: &BTreeMap<String, (u64, &'static str)>, kind: &str) -> u64 {
    calls
        .values()
        .filter(|(_, k)| *k == kind)
        .map(|(n, _)| n)
        .sum()
}

// ---- the workload ----

struct Workload {
    provider: Provider,
    iam: bool,
    project: String,
    run: u16,
}

impl Workload {
    /// Cluster `c{i}`, built with the shared test kit.
    fn cluster(&self, i: usize) -> Value {
        self.cluster_of(i, 1)
    }

    /// Cluster `c{i}` with `shards` shards.
    fn cluster_of(&self, i: usize, shards: i64) -> Value {
        let name = format!("c{i}");
        let id = format!("b{:x}-{i}", self.run);
        match self.provider {
            Provider::Gcp => {
                let c = cluster::gcp(&name)
                    .instance_id(&id)
                    .region(&gcp_region())
                    .shards(shards)
                    .tls(false)
                    .project(&self.project);
                if self.iam {
                    c.auth("iam").user_groups(&["clients"]).into_json()
                } else {
                    c.auth("disabled").into_json()
                }
            }
            Provider::Aws => cluster::aws(&name)
                .instance_id(&id)
                .region(&aws_region())
                .shards(shards)
                .replicas(0)
                .auth("disabled")
                .tls(true)
                .engine("valkey")
                .cluster_mode("enabled")
                .into_json(),
        }
    }

    /// Binding `b{i}` of cluster `c{i}` through `clients`, writing Secret `s{i}`.
    fn binding(&self, i: usize) -> Value {
        binding::new(&format!("b{i}"), &format!("c{i}"), "clients")
            .secret_name(&format!("s{i}"))
            .into_json()
    }
}

fn api_of(client: &Client, ns: &str, manifest: &Value) -> Api<DynamicObject> {
    let kind = manifest["kind"].as_str().unwrap_or_default();
    Api::namespaced_with(client.clone(), ns, &e2e::resource(kind))
}

async fn apply(client: &Client, ns: &str, manifest: &Value, manager: &str) -> anyhow::Result<()> {
    let name = manifest["metadata"]["name"].as_str().unwrap_or_default();
    api_of(client, ns, manifest)
        .patch(
            name,
            &PatchParams::apply(manager).force(),
            &Patch::Apply(manifest),
        )
        .await?;
    Ok(())
}

/// Applies pairs and records when each was applied (both objects written).
#[derive(Clone)]
struct Applier {
    client: Client,
    ns: String,
    work: Arc<Workload>,
    bindings: bool,
    applied: Arc<Mutex<HashMap<usize, Instant>>>,
}

impl Applier {
    async fn pair(&self, i: usize) -> anyhow::Result<()> {
        apply(&self.client, &self.ns, &self.work.cluster(i), "scale").await?;
        if self.bindings {
            apply(&self.client, &self.ns, &self.work.binding(i), "scale").await?;
        }
        self.applied.lock().await.insert(i, Instant::now());
        Ok(())
    }
}

/// When each pair is done (`Secret s{i}` seen, or cluster `c{i}` Ready when there are no
/// bindings), from a watch.
fn watch_done(client: &Client, ns: &str, bindings: bool) -> Arc<Mutex<HashMap<usize, Instant>>> {
    let done: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
    let d = done.clone();
    if bindings {
        let api: Api<Secret> = Api::namespaced(client.clone(), ns);
        tokio::spawn(async move {
            let stream = kube::runtime::watcher(api, Default::default());
            let mut stream = std::pin::pin!(kube::runtime::WatchStreamExt::applied_objects(stream));
            while let Some(Ok(s)) = stream.next().await {
                if let Some(i) = s
                    .metadata
                    .name
                    .and_then(|n| n.strip_prefix('s')?.parse().ok())
                {
                    d.lock().await.entry(i).or_insert_with(Instant::now);
                }
            }
        });
    } else {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), ns, &e2e::resource("RedisCluster"));
        tokio::spawn(async move {
            let stream = kube::runtime::watcher(api, Default::default());
            let mut stream = std::pin::pin!(kube::runtime::WatchStreamExt::applied_objects(stream));
            while let Some(Ok(c)) = stream.next().await {
                if e2e::condition(&c, "Ready").is_some_and(|r| r["status"] == "True")
                    && let Some(i) = c
                        .metadata
                        .name
                        .and_then(|n| n.strip_prefix('c')?.parse().ok())
                {
                    d.lock().await.entry(i).or_insert_with(Instant::now);
                }
            }
        });
    }
    done
}

async fn wait_all(
    done: &Mutex<HashMap<usize, Instant>>,
    range: std::ops::Range<usize>,
    timeout: Duration,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let d = done.lock().await;
        if range.clone().all(|i| d.contains_key(&i)) {
            return true;
        }
        drop(d);
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn latencies(
    applied: &Mutex<HashMap<usize, Instant>>,
    done: &Mutex<HashMap<usize, Instant>>,
    range: std::ops::Range<usize>,
) -> Vec<Duration> {
    let (a, d) = (applied.lock().await, done.lock().await);
    let mut v: Vec<Duration> = range
        .filter_map(|i| Some(d.get(&i)?.saturating_duration_since(*a.get(&i)?)))
        .collect();
    v.sort();
    v
}

// ---- the floor ----

/// The minimum writes a correct operator makes for one pair, named.
fn minimum(bindings: bool) -> Vec<(&'static str, &'static str, &'static str)> {
    let mut m = vec![
        (
            "redisclusters.cache-operator.io",
            "PATCH",
            "cluster finalizer",
        ),
        (
            "redisclusters.cache-operator.io/status",
            "APPLY",
            "cluster status: Creating",
        ),
        (
            "redisclusters.cache-operator.io/status",
            "APPLY",
            "cluster status: Ready",
        ),
    ];
    if bindings {
        m.extend([
            (
                "accessbindings.cache-operator.io",
                "PATCH",
                "binding finalizer",
            ),
            ("secrets", "POST", "the binding's Secret"),
            (
                "accessbindings.cache-operator.io/status",
                "APPLY",
                "binding status: Ready",
            ),
        ]);
    }
    m
}

/// A plain client doing exactly the user's applies and the minimum writes of `n` pairs, with
/// `concurrency` pairs in flight, in a namespace of its own. Returns the time taken.
async fn floor(
    client: &Client,
    work: Arc<Workload>,
    n: usize,
    concurrency: usize,
    bindings: bool,
) -> anyhow::Result<Duration> {
    let ns = format!("scale-floor-{}", rand::random::<u16>());
    let nso: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &nso)
        .await?;
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, work, ns, next) = (client.clone(), work.clone(), ns.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= n {
                    return anyhow::Ok(());
                }
                floor_pair(&client, &ns, &work, i, bindings).await?;
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    Ok(start.elapsed())
}

async fn floor_pair(
    client: &Client,
    ns: &str,
    work: &Workload,
    i: usize,
    bindings: bool,
) -> anyhow::Result<()> {
    let finalizer = json!({"metadata": {"finalizers": ["cache-operator.io/cleanup"]}});
    let now = jiff::Timestamp::now().to_string();
    let cond = |status: &str, reason: &str, message: &str| {
        json!([
            {"type": "Ready", "status": status, "reason": reason, "message": message, "observedGeneration": 1, "lastTransitionTime": now},
            {"type": "Reconciling", "status": if status == "True" { "False" } else { "True" }, "reason": reason, "message": message, "observedGeneration": 1, "lastTransitionTime": now},
            {"type": "Stalled", "status": "False", "reason": reason, "message": "", "observedGeneration": 1, "lastTransitionTime": now},
        ])
    };
    let status = |kind: &str, phase: &str, conditions: Value| {
        let mut s = json!({"apiVersion": "cache-operator.io/v1alpha1", "kind": kind,
                           "status": {"observedGeneration": 1, "conditions": conditions}});
        if kind == "RedisCluster" {
            s["status"]["phase"] = phase.into();
        } else {
            s["status"]["secretName"] = format!("s{i}").into();
            s["status"]["username"] = "default".into();
        }
        s
    };
    let cluster = work.cluster(i);
    let clusters = api_of(client, ns, &cluster);
    let cname = format!("c{i}");
    apply(client, ns, &cluster, "scale").await?;
    let binding = work.binding(i);
    if bindings {
        apply(client, ns, &binding, "scale").await?;
    }
    clusters
        .patch(&cname, &PatchParams::default(), &Patch::Merge(&finalizer))
        .await?;
    let ssa = PatchParams::apply("floor").force();
    clusters
        .patch_status(
            &cname,
            &ssa,
            &Patch::Apply(status(
                "RedisCluster",
                "Creating",
                cond("False", "Creating", "creating the cluster"),
            )),
        )
        .await?;
    clusters
        .patch_status(
            &cname,
            &ssa,
            &Patch::Apply(status(
                "RedisCluster",
                "Ready",
                cond("True", "Available", "the cluster is available"),
            )),
        )
        .await?;
    if bindings {
        let bname = format!("b{i}");
        let bindings_api = api_of(client, ns, &binding);
        bindings_api
            .patch(&bname, &PatchParams::default(), &Patch::Merge(&finalizer))
            .await?;
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": format!("s{i}"), "labels": {"app.kubernetes.io/managed-by": "cache-operator"}},
            "stringData": {"host": "10.0.0.1", "port": "6379", "token": "x".repeat(1024)},
        }))?;
        Api::<Secret>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &secret)
            .await?;
        bindings_api
            .patch_status(
                &bname,
                &ssa,
                &Patch::Apply(status(
                    "AccessBinding",
                    "Ready",
                    cond("True", "CredentialsIssued", "credentials written"),
                )),
            )
            .await?;
    }
    Ok(())
}

// ---- output ----

#[derive(Default)]
struct Report {
    rows: Vec<(String, String)>,
    figures: Vec<(String, f64, String)>,
}

impl Report {
    fn row(&mut self, what: impl Into<String>, value: impl Into<String>) {
        self.rows.push((what.into(), value.into()));
    }

    fn fig(&mut self, name: impl Into<String>, value: f64, unit: &str) {
        self.figures.push((name.into(), value, unit.into()));
    }

    fn print(&self, title: &str) {
        println!("{title}");
        let w = self.rows.iter().map(|(a, _)| a.len()).max().unwrap_or(0);
        println!("| {:w$} | figure |", "measure");
        println!("|{}|--------|", "-".repeat(w + 2));
        for (a, b) in &self.rows {
            println!("| {a:w$} | {b} |");
        }
        println!();
        for (name, value, unit) in &self.figures {
            println!("figure: {name} {value:.3} {unit}");
        }
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Requests per pair by (resource, verb) as table rows and figures; returns total writes and
/// reads per pair on the operator's per-object resources.
fn requests(report: &mut Report, phase: &str, counts: &ReqCounts, per: f64) -> (f64, f64) {
    let (mut writes, mut reads) = (0.0, 0.0);
    for ((res, verb), n) in counts {
        let v = n / per;
        // Watches restarted by the apiserver's own clients and discovery: not per object.
        if !per_object(res) && v < 0.001 {
            continue;
        }
        report.row(
            format!("{phase}: {verb} {res}"),
            format!("{v:.3} per object ({n})"),
        );
        let name = format!("k8s_{phase}_{}_{verb}", res.replace(['/', '.'], "_"));
        report.fig(name, v, "requests/object");
        if per_object(res) {
            if is_write(verb) {
                writes += v;
            } else {
                reads += v;
            }
        }
    }
    (writes, reads)
}

// ---- modify and delete ----

/// What the modify and delete phases measure with.
struct Phases<'a> {
    env: &'a Env,
    /// The benchmark's own (counted) client: its requests are not the operator's.
    client: &'a Client,
    ours: &'a Arc<SyncMutex<ReqCounts>>,
    admin: &'a Client,
    real: bool,
    ns: &'a str,
    total: usize,
}

impl Phases<'_> {
    /// Counters at the start of a phase.
    async fn start(&self) -> anyhow::Result<(ReqCounts, Option<ReqCounts>)> {
        self.env.sim().reset_counters().await?;
        let ours0 = self.ours.lock().expect("counts").clone();
        let m0 = if self.real {
            Some(scrape(self.admin).await?)
        } else {
            None
        };
        Ok((ours0, m0))
    }

    /// The phase's Kubernetes requests and cloud calls per cluster, as rows and figures.
    async fn end(
        &self,
        phase: &str,
        (ours0, m0): (ReqCounts, Option<ReqCounts>),
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let per = self.total as f64;
        if let Some(m0) = &m0 {
            let m1 = scrape(self.admin).await?;
            let ours1 = self.ours.lock().expect("counts").clone();
            let k8s = others(m0, &m1, &diff(&ours0, &ours1));
            let (w, r) = requests(report, phase, &k8s, per);
            report.row(
                format!("{phase}: operator writes per cluster"),
                format!("{w:.2}"),
            );
            report.row(
                format!("{phase}: operator reads per cluster"),
                format!("{r:.2}"),
            );
            report.fig(format!("k8s_{phase}_writes_per_cluster"), w, "requests");
        }
        let cloud = cloud_calls(&self.env.sim().counters().await?);
        for (op, (count, kind)) in &cloud {
            report.row(
                format!("{phase}: cloud {kind} {op}"),
                format!("{:.3} per cluster ({count})", *count as f64 / per),
            );
        }
        for kind in ["read", "write"] {
            report.fig(
                format!("cloud_{phase}_{kind}s_per_cluster"),
                cloud_sum(&cloud, kind) as f64 / per,
                "calls/cluster",
            );
        }
        Ok(())
    }

    fn clusters(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), self.ns, &e2e::resource("RedisCluster"))
    }

    /// Every cluster to two shards; done when each is Ready at its new generation with two.
    async fn modify(&self, work: &Arc<Workload>, report: &mut Report) -> anyhow::Result<()> {
        eprintln!("scale: modify at {:?}", start_time());
        let counts = self.start().await?;
        let start = Instant::now();
        let gate = Arc::new(Semaphore::new(32));
        let mut tasks = Vec::new();
        for i in 0..self.total {
            let (client, ns, work, gate) = (
                self.client.clone(),
                self.ns.to_owned(),
                work.clone(),
                gate.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire().await?;
                apply(&client, &ns, &work.cluster_of(i, 2), "scale").await
            }));
        }
        for t in tasks {
            t.await??;
        }
        let done = self
            .until(Duration::from_secs(1800), |list| {
                list.iter()
                    .filter(|c| {
                        let st = &c.data["status"];
                        st["shardCount"] == 2
                            && st["observedGeneration"].as_i64() == c.metadata.generation
                            && e2e::condition(c, "Ready").is_some_and(|r| r["status"] == "True")
                    })
                    .count()
                    == self.total
            })
            .await?;
        report.row(
            format!(
                "modify: {} clusters to 2 shards, all Ready after",
                self.total
            ),
            format!(
                "{:.1} s{}",
                secs(start.elapsed()),
                if done { "" } else { " (TIMED OUT)" }
            ),
        );
        report.fig("modify_seconds", secs(start.elapsed()), "s");
        self.end("modify", counts, report).await
    }

    /// Every object deleted; done when no cluster is left.
    async fn delete(&self, bindings: bool, report: &mut Report) -> anyhow::Result<()> {
        eprintln!("scale: delete at {:?}", start_time());
        let counts = self.start().await?;
        let start = Instant::now();
        if bindings {
            Api::<DynamicObject>::namespaced_with(
                self.client.clone(),
                self.ns,
                &e2e::resource("AccessBinding"),
            )
            .delete_collection(&Default::default(), &Default::default())
            .await?;
        }
        self.clusters()
            .delete_collection(&Default::default(), &Default::default())
            .await?;
        let done = self
            .until(Duration::from_secs(1800), |list| list.is_empty())
            .await?;
        report.row(
            format!("delete: {} clusters, all gone after", self.total),
            format!(
                "{:.1} s{}",
                secs(start.elapsed()),
                if done { "" } else { " (TIMED OUT)" }
            ),
        );
        report.fig("delete_seconds", secs(start.elapsed()), "s");
        self.end("delete", counts, report).await
    }

    /// Lists the clusters every 2 s until `done` says so or `timeout` passes.
    async fn until(
        &self,
        timeout: Duration,
        done: impl Fn(&[DynamicObject]) -> bool,
    ) -> anyhow::Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            let list = self.clusters().list(&Default::default()).await?;
            if done(&list.items) {
                return Ok(true);
            }
            if Instant::now() > deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

// ---- the run ----

fn start_time() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

async fn run() -> anyhow::Result<()> {
    let s = Settings::from_env()?;
    let load0 = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let opts = Options {
        no_redis: true,
        provisioning_delay: Duration::ZERO,
        kube: Some(s.kube.clone()),
        operator_args: vec![
            "--poll".into(),
            "1s".into(),
            "--resync".into(),
            format!("{}s", s.resync.as_secs()),
            "--concurrency".into(),
            s.concurrency.to_string(),
            "--lease-duration".into(),
            "15s".into(),
        ],
        ..Options::default()
    };
    let mut env = Env::start_with("scale-bench", opts).await?;
    env.sim()
        .configure(json!({
            "createDelayMs": s.delays.create.as_millis() as u64,
            "modifyDelayMs": s.delays.modify.as_millis() as u64,
            "deleteDelayMs": s.delays.delete.as_millis() as u64,
        }))
        .await?;
    let op_pid = env.operators[0].pid().context("operator pid")?;
    let components = env.server_components();
    let pid_of = |name: &str| components.iter().find(|(n, _)| n == name).map(|(_, p)| *p);
    let op_peak = track_peak(op_pid);
    let server_peaks: Vec<(String, Arc<AtomicU64>)> = components
        .iter()
        .map(|(n, p)| (n.clone(), track_peak(*p)))
        .collect();
    let rss_start = rss_kib(op_pid);

    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&env.kubeconfig)?,
        &Default::default(),
    )
    .await?;
    let (client, ours) = counting_client(config)?;
    let admin = env.client.clone();
    let real = s.kube == KubeKind::Real;
    let n = s.n;
    let bindings = s.with_bindings();
    let project = gcp_project();
    let work = Arc::new(Workload {
        provider: s.provider,
        iam: s.iam,
        project,
        run: rand::random(),
    });
    let ns = env.namespace.clone();
    let done = watch_done(&client, &ns, bindings);
    let applier = Applier {
        client: client.clone(),
        ns: ns.clone(),
        work: work.clone(),
        bindings,
        applied: Arc::default(),
    };
    if bindings && s.iam {
        // The group every cluster lists: the operator's own identity.
        let operator = "serviceAccount:cache-operator@operator-proj.iam.gserviceaccount.com";
        env.apply(group::gcp("clients", &[operator]).into_json())
            .await?;
        env.wait_ready("UserGroup", "clients", Duration::from_secs(60))
            .await?;
    }
    // Let the watches settle before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut report = Report::default();
    // ACK's side first, while the operator has no objects.
    let ack_runs = if ack_side::enabled() {
        ack_side::run(&env, &s, &admin, &client, &ours, &mut report).await?
    } else {
        Vec::new()
    };

    // 1. burst
    eprintln!("scale: burst of {n} at {:?}", start_time());
    env.sim().reset_counters().await?;
    let ours0 = ours.lock().expect("counts").clone();
    let m0 = if real {
        Some(scrape(&admin).await?)
    } else {
        None
    };
    let cpu0 = cpu_ticks(op_pid);
    let start = Instant::now();
    let gate = Arc::new(Semaphore::new(32));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (applier, gate) = (applier.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await?;
            applier.pair(i).await
        }));
    }
    for t in tasks {
        t.await??;
    }
    let applied_all = start.elapsed();
    let complete = wait_all(&done, 0..n, Duration::from_secs(1800)).await;
    let burst = start.elapsed();
    let burst_cpu = (cpu_ticks(op_pid) - cpu0) as f64 / 100.0;
    let burst_lat = latencies(&applier.applied, &done, 0..n).await;
    let burst_k8s = match &m0 {
        Some(m0) => {
            let m1 = scrape(&admin).await?;
            let ours1 = ours.lock().expect("counts").clone();
            Some(others(m0, &m1, &diff(&ours0, &ours1)))
        }
        None => None,
    };
    let burst_cloud = cloud_calls(&env.sim().counters().await?);
    let objects = if bindings { 2 * n } else { n };

    report.row("N (pairs)", format!("{n}"));
    report.row(
        "burst: all applied after",
        format!("{:.1} s", secs(applied_all)),
    );
    report.row(
        "burst: all Ready and every Secret written after",
        format!(
            "{:.1} s{}",
            secs(burst),
            if complete { "" } else { " (TIMED OUT)" }
        ),
    );
    report.fig("burst_seconds", secs(burst), "s");
    report.row(
        "burst: objects per second",
        format!("{:.0}", objects as f64 / secs(burst)),
    );
    report.fig(
        "burst_objects_per_second",
        objects as f64 / secs(burst),
        "objects/s",
    );
    for (p, name) in [(0.5, "p50"), (0.99, "p99")] {
        let v = percentile(&burst_lat, p);
        report.row(
            format!("burst: apply -> done {name}"),
            format!("{:.2} s", secs(v)),
        );
        report.fig(format!("burst_latency_{name}"), secs(v), "s");
    }
    report.row("burst: operator CPU", format!("{burst_cpu:.1} s"));
    report.fig("burst_operator_cpu_seconds", burst_cpu, "s");
    if let Some(k8s) = &burst_k8s {
        let (w, r) = requests(&mut report, "until_ready", k8s, n as f64);
        let min = minimum(bindings);
        report.row(
            "until Ready: operator writes per pair (clusters, bindings, groups, Secrets, events)",
            format!("{w:.2}"),
        );
        report.row(
            "until Ready: operator reads per pair (same resources)",
            format!("{r:.2}"),
        );
        report.row(
            "until Ready: named minimum writes per pair",
            format!(
                "{} ({})",
                min.len(),
                min.iter().map(|m| m.2).collect::<Vec<_>>().join(", ")
            ),
        );
        report.fig("k8s_until_ready_writes_per_pair", w, "requests/pair");
        report.fig("k8s_until_ready_reads_per_pair", r, "requests/pair");
        report.fig(
            "k8s_until_ready_minimum_writes_per_pair",
            min.len() as f64,
            "requests/pair",
        );
    }
    for (op, (count, kind)) in &burst_cloud {
        report.row(
            format!("until Ready: cloud {kind} {op}"),
            format!("{:.3} per cluster ({count})", *count as f64 / n as f64),
        );
    }
    for kind in ["read", "write", "token"] {
        let v = cloud_sum(&burst_cloud, kind) as f64 / n as f64;
        report.fig(
            format!("cloud_until_ready_{kind}s_per_cluster"),
            v,
            "calls/cluster",
        );
    }
    if s.delays.any() {
        // The in-flight bound: two reads of its own at most, plus its share of the scope's
        // lists, one per poll tick (1 s) for the creation time, shared by at least 100.
        let bound = 2.0 + s.delays.create.as_secs_f64() / 100.0;
        report.row(
            "until Ready: cloud reads per cluster, bound 2 + (creation time / poll) / 100",
            format!(
                "{:.3} (bound {bound:.2})",
                cloud_sum(&burst_cloud, "read") as f64 / n as f64
            ),
        );
    }

    // 2. paced
    eprintln!(
        "scale: burst done in {:.1} s (complete: {complete}); paced at {:?}",
        secs(burst),
        start_time()
    );
    let paced = s.paced;
    if paced > 0 {
        let period = Duration::from_secs_f64(1.0 / s.rate);
        let mut tick = tokio::time::interval(period);
        let mut tasks = Vec::new();
        for i in n..n + paced {
            tick.tick().await;
            let applier = applier.clone();
            tasks.push(tokio::spawn(async move { applier.pair(i).await }));
        }
        for t in tasks {
            t.await??;
        }
        wait_all(&done, n..n + paced, Duration::from_secs(600)).await;
        let lat = latencies(&applier.applied, &done, n..n + paced).await;
        report.row(
            "paced: pairs, rate",
            format!("{paced} at {} per second", s.rate),
        );
        for (p, name) in [(0.5, "p50"), (0.99, "p99"), (1.0, "max")] {
            let v = percentile(&lat, p);
            report.row(
                format!("paced: apply -> done {name}"),
                format!("{:.2} s", secs(v)),
            );
            report.fig(format!("paced_latency_{name}"), secs(v), "s");
        }
    }

    // 3. steady: let the last transitions settle, then several resync periods.
    eprintln!("scale: steady state at {:?}", start_time());
    tokio::time::sleep(Duration::from_secs(10)).await;
    let total = n + paced;
    env.sim().reset_counters().await?;
    let ours0 = ours.lock().expect("counts").clone();
    let m0 = if real {
        Some(scrape(&admin).await?)
    } else {
        None
    };
    let rss_settled = rss_kib(op_pid);
    let (ticks0, t0) = (cpu_ticks(op_pid), Instant::now());
    let window = s.resync * s.resyncs;
    tokio::time::sleep(window).await;
    let cpu = (cpu_ticks(op_pid) - ticks0) as f64 / 100.0;
    let elapsed = t0.elapsed().as_secs_f64();
    let rss_steady = rss_kib(op_pid);
    let steady_cloud = cloud_calls(&env.sim().counters().await?);
    let periods = f64::from(s.resyncs);
    report.row(
        "steady: window",
        format!(
            "{:.0} s = {} resyncs of {} s, {total} pairs",
            elapsed,
            s.resyncs,
            s.resync.as_secs()
        ),
    );
    if let Some(m0) = &m0 {
        let m1 = scrape(&admin).await?;
        let ours1 = ours.lock().expect("counts").clone();
        let k8s = others(m0, &m1, &diff(&ours0, &ours1));
        let (w, r) = requests(&mut report, "steady", &k8s, total as f64 * periods);
        report.row(
            "steady: operator writes per object per resync",
            format!("{w:.4}"),
        );
        report.row(
            "steady: operator reads per object per resync",
            format!("{r:.4}"),
        );
        report.fig("k8s_steady_writes_per_pair_per_resync", w, "requests");
        report.fig("k8s_steady_reads_per_pair_per_resync", r, "requests");
    }
    for (op, (count, kind)) in &steady_cloud {
        report.row(
            format!("steady: cloud {kind} {op}"),
            format!(
                "{:.4} per cluster per resync ({count})",
                *count as f64 / total as f64 / periods
            ),
        );
    }
    for kind in ["read", "write", "token"] {
        let v = cloud_sum(&steady_cloud, kind) as f64 / total as f64 / periods;
        report.fig(
            format!("cloud_steady_{kind}s_per_cluster_per_resync"),
            v,
            "calls",
        );
    }
    let cpu_pct = cpu / elapsed * 100.0;
    report.row(
        "operator CPU in steady state",
        format!("{cpu_pct:.2} % of a core ({cpu:.1} s over {elapsed:.0} s)"),
    );
    report.fig("operator_cpu_steady_percent", cpu_pct, "%");
    report.fig("operator_cpu_seconds_per_resync", cpu / periods, "s");
    let mib = |k: u64| k as f64 / 1024.0;
    report.row(
        "operator RSS: start, peak, settled, steady",
        format!(
            "{:.0} / {:.0} / {:.0} / {:.0} MiB",
            mib(rss_start),
            mib(op_peak.load(Ordering::Relaxed)),
            mib(rss_settled),
            mib(rss_steady)
        ),
    );
    report.fig(
        "operator_rss_peak",
        mib(op_peak.load(Ordering::Relaxed)),
        "MiB",
    );
    report.fig("operator_rss_steady", mib(rss_steady), "MiB");
    for (name, peak) in &server_peaks {
        let now = pid_of(name).map(rss_kib).unwrap_or(0);
        report.row(
            format!("{name} RSS: peak, steady"),
            format!(
                "{:.0} / {:.0} MiB",
                mib(peak.load(Ordering::Relaxed)),
                mib(now)
            ),
        );
        report.fig(format!("{name}_rss_steady"), mib(now), "MiB");
    }

    // 4. with provisioning delays, a change and a deletion of every object.
    if s.delays.any() {
        let phases = Phases {
            env: &env,
            client: &client,
            ours: &ours,
            admin: &admin,
            real,
            ns: &ns,
            total,
        };
        phases.modify(&work, &mut report).await?;
        phases.delete(bindings, &mut report).await?;
    }

    // 5. the floor, with the operator stopped so it touches nothing.
    if s.floor {
        eprintln!("scale: floor at {:?}", start_time());
        env.stop_operators().await;
        let what = format!(
            "floor: user applies + minimum writes of {n} pairs, {} in flight",
            s.concurrency
        );
        match floor(&client, work.clone(), n, s.concurrency, bindings).await {
            Ok(t) => {
                report.row(what, format!("{:.1} s", secs(t)));
                report.row("burst / floor", format!("{:.2}x", secs(burst) / secs(t)));
                report.fig("floor_seconds", secs(t), "s");
                report.fig("burst_over_floor", secs(burst) / secs(t), "x");
            }
            Err(e) => report.row(what, format!("FAILED: {e}")),
        }
    }

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    report.print(&format!(
        "scale: {n} RedisClusters{} ({:?}, authMode {}, cloudsim {}), {:?} API server, operator --poll 1s --concurrency {} --resync {}s; load average at the start: {load0}, at the end: {}",
        if bindings { " + AccessBindings + Secrets" } else { "" },
        s.provider,
        if s.iam { "iam" } else { "disabled" },
        if s.delays.any() {
            format!(
                "creates in {} s, modifies in {} s, deletes in {} s",
                s.delays.create.as_secs(),
                s.delays.modify.as_secs(),
                s.delays.delete.as_secs()
            )
        } else {
            "without provisioning delay".to_owned()
        },
        s.kube,
        s.concurrency,
        s.resync.as_secs(),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    ));
    ack_side::compare(&report, &ack_runs, &s);
    Ok(())
}
