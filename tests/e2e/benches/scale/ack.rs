//! `SCALE_ACK=1`: the same N aws replication groups through AWS's own controller (ACK
//! `elasticache-controller` v1.8.0) on the same API server and `cloudsim`, before the operator's
//! phases (so neither sees the other's objects or cloud calls): ACK with as many concurrent syncs
//! as the operator's `--concurrency`, then at its default of 1. For each: time until every group
//! is `ACK.ResourceSynced`, cloud calls per object until then, Kubernetes requests per object by
//! verb (the apiserver's `apiserver_request_total`, minus what this benchmark sent, while ACK is the
//! only controller with objects), a steady window (cloud and Kubernetes calls per object per hour,
//! CPU), RSS, and the time to delete them all. ACK drift-checks every object each
//! `--reconcile-default-resync-seconds`; it runs here with the operator's `--resync` so that the
//! steady figures compare the same period (its default, 10 hours, would divide its steady calls by
//! 600 / resync). `compare` prints both controllers side by side at the end.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use e2e::ack::{self, Ack};
use e2e::{Env, aws_region};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::{Mutex, Semaphore};

use super::{
    Provider, Report, ReqCounts, Settings, cloud_calls, cloud_sum, cpu_ticks, diff, is_write,
    others, percentile, rss_kib, scrape, secs, track_peak, wait_all,
};

pub fn enabled() -> bool {
    e2e::var("SCALE_ACK").is_some_and(|v| v != "0")
}

/// What one ACK run measured.
pub struct Run {
    pub syncs: usize,
    pub n: usize,
    pub synced_after: Duration,
    pub all_synced: bool,
    pub p50: Duration,
    pub p99: Duration,
    pub cloud_reads: f64,
    pub cloud_writes: f64,
    pub k8s_writes: f64,
    pub k8s_reads: f64,
    pub steady_cloud_per_hour: f64,
    pub steady_k8s_per_hour: f64,
    pub cpu_burst: f64,
    pub cpu_steady_percent: f64,
    pub rss_peak_mib: f64,
    pub rss_steady_mib: f64,
    pub deleted_after: Duration,
    pub all_deleted: bool,
}

/// ACK's per-object business: its kinds, and the Secrets and events it may touch.
fn per_object(resource: &str) -> bool {
    resource.contains(".elasticache.services.k8s.aws")
        || resource.starts_with("secrets")
        || resource.starts_with("events")
}

/// Requests per object on ACK's resources: (writes, reads), and table rows.
fn requests(report: &mut Report, phase: &str, counts: &ReqCounts, per: f64) -> (f64, f64) {
    let (mut writes, mut reads) = (0.0, 0.0);
    for ((res, verb), n) in counts {
        let v = n / per;
        if !per_object(res) {
            continue;
        }
        report.row(
            format!("{phase}: {verb} {res}"),
            format!("{v:.3} per object ({n})"),
        );
        if is_write(verb) {
            writes += v;
        } else {
            reads += v;
        }
    }
    (writes, reads)
}

fn group(i: usize, prefix: &str) -> serde_json::Value {
    // The operator's aws workload: Valkey, cluster mode enabled, one shard, no replica, TLS.
    json!({
        "apiVersion": format!("{}/{}", ack::GROUP, ack::VERSION),
        "kind": "ReplicationGroup",
        "metadata": {"name": format!("r{i}")},
        "spec": {
            "replicationGroupID": format!("{prefix}-{i}"),
            "description": "ACK scale benchmark",
            "engine": "valkey",
            "engineVersion": "8.0",
            "cacheNodeType": "cache.t4g.micro",
            "cacheParameterGroupName": "default.valkey8.cluster.on",
            "numNodeGroups": 1,
            "replicasPerNodeGroup": 0,
            "automaticFailoverEnabled": true,
            "transitEncryptionEnabled": true,
        },
    })
}

/// When each group is synced, from a watch.
fn watch_synced(api: Api<DynamicObject>) -> Arc<Mutex<HashMap<usize, Instant>>> {
    let done: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
    let d = done.clone();
    tokio::spawn(async move {
        let stream = kube::runtime::watcher(api, Default::default());
        let mut stream = std::pin::pin!(kube::runtime::WatchStreamExt::applied_objects(stream));
        while let Some(Ok(o)) = stream.next().await {
            if ack::synced(&o) == Some(true)
                && let Some(i) = o
                    .metadata
                    .name
                    .as_deref()
                    .and_then(|n| n.strip_prefix('r')?.parse().ok())
            {
                d.lock().await.entry(i).or_insert_with(Instant::now);
            }
        }
    });
    done
}

/// How many simulated groups carry this prefix.
async fn in_cloud(env: &Env, prefix: &str) -> anyhow::Result<usize> {
    let needle = format!(":{prefix}-");
    Ok(env
        .sim()
        .clusters()
        .await?
        .iter()
        .filter(|c| c["name"].as_str().is_some_and(|n| n.contains(&needle)))
        .count())
}

#[allow(clippy::too_many_arguments)]
async fn one(
    env: &Env,
    s: &Settings,
    build: &ack::Build,
    admin: &Client,
    client: &Client,
    ours: &Arc<SyncMutex<ReqCounts>>,
    syncs: usize,
    report: &mut Report,
) -> anyhow::Result<Run> {
    let n = s.n;
    let real = s.kube == e2e::KubeKind::Real;
    let ns = format!("ack-scale-{syncs}-{:04x}", rand::random::<u16>());
    let nso: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
    Api::<Namespace>::all(admin.clone())
        .create(&PostParams::default(), &nso)
        .await?;
    let opts = ack::Options {
        max_concurrent_syncs: syncs,
        resync: Some(s.resync),
        ..ack::Options::new(&ns, &aws_region())
    };
    let mut proc = Ack::start(
        &format!("ack-{syncs}"),
        build,
        &env.kubeconfig,
        env.sim().base_url(),
        &opts,
        &env.logs,
    )
    .await?;
    let pid = proc.pid().context("ACK's pid")?;
    let peak = track_peak(pid);
    let api = ack::api(client, &ns, "ReplicationGroup");
    let done = watch_synced(api.clone());
    let prefix = format!("a{:x}-{syncs}", rand::random::<u16>());
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Create N and wait until ACK reports each synced.
    eprintln!("scale: ACK ({syncs} syncs): {n} replication groups");
    env.sim().reset_counters().await?;
    let ours0 = ours.lock().expect("counts").clone();
    let m0 = if real {
        Some(scrape(admin).await?)
    } else {
        None
    };
    let cpu0 = cpu_ticks(pid);
    let applied: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
    let start = Instant::now();
    let gate = Arc::new(Semaphore::new(32));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (api, gate, applied, g) = (
            api.clone(),
            gate.clone(),
            applied.clone(),
            group(i, &prefix),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await?;
            api.patch(
                &format!("r{i}"),
                &PatchParams::apply("scale").force(),
                &Patch::Apply(&g),
            )
            .await?;
            applied.lock().await.insert(i, Instant::now());
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let all_synced = wait_all(&done, 0..n, Duration::from_secs(1800)).await;
    let synced_after = start.elapsed();
    let cpu_burst = (cpu_ticks(pid) - cpu0) as f64 / 100.0;
    let lat = {
        let (a, d) = (applied.lock().await, done.lock().await);
        let mut v: Vec<Duration> = (0..n)
            .filter_map(|i| Some(d.get(&i)?.saturating_duration_since(*a.get(&i)?)))
            .collect();
        v.sort();
        v
    };
    let phase = format!("ACK {syncs} syncs until Synced");
    let burst_cloud = cloud_calls(&env.sim().counters().await?);
    for (op, (count, kind)) in &burst_cloud {
        report.row(
            format!("{phase}: cloud {kind} {op}"),
            format!("{:.3} per group ({count})", *count as f64 / n as f64),
        );
    }
    let (k8s_writes, k8s_reads) = match &m0 {
        Some(m0) => {
            let m1 = scrape(admin).await?;
            let ours1 = ours.lock().expect("counts").clone();
            requests(
                report,
                &phase,
                &others(m0, &m1, &diff(&ours0, &ours1)),
                n as f64,
            )
        }
        None => (f64::NAN, f64::NAN),
    };

    // Steady: nothing changes for the operator's number of resync periods.
    eprintln!("scale: ACK ({syncs} syncs): steady state");
    tokio::time::sleep(Duration::from_secs(10)).await;
    env.sim().reset_counters().await?;
    let ours0 = ours.lock().expect("counts").clone();
    let m0 = if real {
        Some(scrape(admin).await?)
    } else {
        None
    };
    let (ticks0, t0) = (cpu_ticks(pid), Instant::now());
    tokio::time::sleep(s.resync * s.resyncs).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu_steady_percent = (cpu_ticks(pid) - ticks0) as f64 / 100.0 / elapsed * 100.0;
    let rss_steady = rss_kib(pid);
    let hours = elapsed / 3600.0;
    let steady_cloud = cloud_calls(&env.sim().counters().await?);
    let steady_cloud_per_hour =
        steady_cloud.values().map(|(c, _)| *c).sum::<u64>() as f64 / n as f64 / hours;
    let phase = format!("ACK {syncs} syncs steady");
    for (op, (count, kind)) in &steady_cloud {
        report.row(
            format!("{phase}: cloud {kind} {op}"),
            format!(
                "{:.3} per group per hour ({count})",
                *count as f64 / n as f64 / hours
            ),
        );
    }
    let steady_k8s_per_hour = match &m0 {
        Some(m0) => {
            let m1 = scrape(admin).await?;
            let ours1 = ours.lock().expect("counts").clone();
            let (w, r) = requests(
                report,
                &phase,
                &others(m0, &m1, &diff(&ours0, &ours1)),
                n as f64 * hours,
            );
            w + r
        }
        None => f64::NAN,
    };

    // Delete them all: gone from Kubernetes (finalizers removed) and from the cloud.
    eprintln!("scale: ACK ({syncs} syncs): deleting");
    let start = Instant::now();
    let gate = Arc::new(Semaphore::new(32));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (api, gate) = (api.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await?;
            api.delete(&format!("r{i}"), &DeleteParams::default())
                .await?;
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let deadline = Instant::now() + Duration::from_secs(1800);
    let all_deleted = loop {
        let left = api.list(&Default::default()).await?.items.len();
        if left == 0 && in_cloud(env, &prefix).await? == 0 {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let deleted_after = start.elapsed();
    let rss_peak = peak.load(Ordering::Relaxed);
    proc.stop().await?;

    let mib = |k: u64| k as f64 / 1024.0;
    let run = Run {
        syncs,
        n,
        synced_after,
        all_synced,
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        cloud_reads: cloud_sum(&burst_cloud, "read") as f64 / n as f64,
        cloud_writes: cloud_sum(&burst_cloud, "write") as f64 / n as f64,
        k8s_writes,
        k8s_reads,
        steady_cloud_per_hour,
        steady_k8s_per_hour,
        cpu_burst,
        cpu_steady_percent,
        rss_peak_mib: mib(rss_peak),
        rss_steady_mib: mib(rss_steady),
        deleted_after,
        all_deleted,
    };
    let tag = format!("ack_{syncs}_syncs");
    report.fig(format!("{tag}_synced_seconds"), secs(run.synced_after), "s");
    report.fig(
        format!("{tag}_synced_fraction"),
        done.lock().await.len() as f64 / n as f64,
        "",
    );
    report.fig(
        format!("{tag}_cloud_until_synced_reads_per_group"),
        run.cloud_reads,
        "calls",
    );
    report.fig(
        format!("{tag}_cloud_until_synced_writes_per_group"),
        run.cloud_writes,
        "calls",
    );
    report.fig(
        format!("{tag}_k8s_until_synced_writes_per_group"),
        run.k8s_writes,
        "requests",
    );
    report.fig(
        format!("{tag}_k8s_until_synced_reads_per_group"),
        run.k8s_reads,
        "requests",
    );
    report.fig(
        format!("{tag}_cloud_steady_per_group_per_hour"),
        run.steady_cloud_per_hour,
        "calls",
    );
    report.fig(
        format!("{tag}_k8s_steady_per_group_per_hour"),
        run.steady_k8s_per_hour,
        "requests",
    );
    report.fig(format!("{tag}_rss_steady"), run.rss_steady_mib, "MiB");
    report.fig(
        format!("{tag}_deleted_seconds"),
        secs(run.deleted_after),
        "s",
    );
    report.fig(
        format!("{tag}_deleted_all"),
        f64::from(u8::from(run.all_deleted)),
        "",
    );
    Ok(run)
}

/// ACK at the operator's concurrency and at its default of 1, each on its own namespace.
pub async fn run(
    env: &Env,
    s: &Settings,
    admin: &Client,
    client: &Client,
    ours: &Arc<SyncMutex<ReqCounts>>,
    report: &mut Report,
) -> anyhow::Result<Vec<Run>> {
    anyhow::ensure!(
        s.provider == Provider::Aws,
        "SCALE_ACK=1 compares aws replication groups: set SCALE_PROVIDER=aws"
    );
    let build = ack::build()?;
    ack::install_crds(admin, build).await?;
    let mut runs = Vec::new();
    let mut syncs = vec![s.concurrency];
    if s.concurrency != 1 {
        syncs.push(1);
    }
    for c in syncs {
        runs.push(one(env, s, build, admin, client, ours, c, report).await?);
    }
    Ok(runs)
}

fn fig(report: &Report, name: &str) -> Option<f64> {
    report
        .figures
        .iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, v, _)| *v)
}

/// Both controllers side by side, from the operator's figures of this run and ACK's runs.
pub fn compare(report: &Report, runs: &[Run], s: &Settings) {
    if runs.is_empty() {
        return;
    }
    let per_hour = 3600.0 / s.resync.as_secs_f64();
    let op = |name: &str| fig(report, name);
    let op_steady = |kind: &str| {
        ["reads", "writes", "tokens"]
            .iter()
            .filter(|k| **k == kind || kind == "all")
            .filter_map(|k| op(&format!("cloud_steady_{k}_per_cluster_per_resync")))
            .sum::<f64>()
            * per_hour
    };
    let op_k8s_steady = (op("k8s_steady_writes_per_pair_per_resync").unwrap_or(f64::NAN)
        + op("k8s_steady_reads_per_pair_per_resync").unwrap_or(f64::NAN))
        * per_hour;
    let f = |v: Option<f64>, d: usize| v.map_or("—".to_owned(), |v| format!("{v:.d$}"));
    let mut rows: Vec<(String, String, Vec<String>)> = vec![
        (
            "time until all Ready / Synced (s)".into(),
            f(op("burst_seconds"), 1),
            runs.iter()
                .map(|r| {
                    format!(
                        "{:.1}{}",
                        secs(r.synced_after),
                        if r.all_synced { "" } else { " (TIMED OUT)" }
                    )
                })
                .collect(),
        ),
        (
            "apply → Ready / Synced p50, p99 (s)".into(),
            format!(
                "{} / {}",
                f(op("burst_latency_p50"), 2),
                f(op("burst_latency_p99"), 2)
            ),
            runs.iter()
                .map(|r| format!("{:.2} / {:.2}", secs(r.p50), secs(r.p99)))
                .collect(),
        ),
        (
            "cloud reads per object until Ready".into(),
            f(op("cloud_until_ready_reads_per_cluster"), 2),
            runs.iter()
                .map(|r| format!("{:.2}", r.cloud_reads))
                .collect(),
        ),
        (
            "cloud writes per object until Ready".into(),
            f(op("cloud_until_ready_writes_per_cluster"), 2),
            runs.iter()
                .map(|r| format!("{:.2}", r.cloud_writes))
                .collect(),
        ),
        (
            "cloud calls per object per hour, steady".into(),
            format!("{:.1}", op_steady("all")),
            runs.iter()
                .map(|r| format!("{:.1}", r.steady_cloud_per_hour))
                .collect(),
        ),
        (
            "Kubernetes writes per object until Ready".into(),
            f(op("k8s_until_ready_writes_per_pair"), 2),
            runs.iter()
                .map(|r| format!("{:.2}", r.k8s_writes))
                .collect(),
        ),
        (
            "Kubernetes reads per object until Ready".into(),
            f(op("k8s_until_ready_reads_per_pair"), 2),
            runs.iter().map(|r| format!("{:.2}", r.k8s_reads)).collect(),
        ),
        (
            "Kubernetes requests per object per hour, steady".into(),
            format!("{op_k8s_steady:.1}"),
            runs.iter()
                .map(|r| format!("{:.1}", r.steady_k8s_per_hour))
                .collect(),
        ),
        (
            "CPU until Ready (s)".into(),
            f(op("burst_operator_cpu_seconds"), 1),
            runs.iter().map(|r| format!("{:.1}", r.cpu_burst)).collect(),
        ),
        (
            "CPU steady (% of a core)".into(),
            f(op("operator_cpu_steady_percent"), 2),
            runs.iter()
                .map(|r| format!("{:.2}", r.cpu_steady_percent))
                .collect(),
        ),
        (
            "RSS peak / steady (MiB)".into(),
            format!(
                "{} / {}",
                f(op("operator_rss_peak"), 0),
                f(op("operator_rss_steady"), 0)
            ),
            runs.iter()
                .map(|r| format!("{:.0} / {:.0}", r.rss_peak_mib, r.rss_steady_mib))
                .collect(),
        ),
        (
            "delete all (s)".into(),
            "—".into(),
            runs.iter()
                .map(|r| {
                    format!(
                        "{:.1}{}",
                        secs(r.deleted_after),
                        if r.all_deleted { "" } else { " (NOT ALL)" }
                    )
                })
                .collect(),
        ),
    ];
    println!(
        "side by side: {} aws replication groups, the same API server and cloudsim; drift check every {} s for both",
        runs[0].n,
        s.resync.as_secs()
    );
    let mut header = format!(
        "| measure | cache-operator (--concurrency {}) |",
        s.concurrency
    );
    for r in runs {
        header.push_str(&format!(" ACK ({} syncs) |", r.syncs));
    }
    println!("{header}");
    println!("|---|---|{}", "---|".repeat(runs.len()));
    for (what, ours, theirs) in rows.drain(..) {
        println!("| {what} | {ours} | {} |", theirs.join(" | "));
    }
    println!();
}
