//! The operator at scale, against the simulators, printing figures (no assertions):
//! N RedisClusters and N AccessBindings applied at once → time until every cluster is Ready and
//! every Secret exists, apply→Secret latency percentiles, then the operator's resident memory,
//! idle CPU and cloud calls in steady state.
//!
//! ```sh
//! cargo build --release --workspace --bins
//! cargo bench -p e2e --bench scale                 # N = 1000
//! SCALE_OBJECTS=10000 cargo bench -p e2e --bench scale
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_operator_testkit::{binding, cluster, group};
use e2e::{CloudSim, Env, Options, gcp_project, gcp_region};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

/// The group every cluster lists: the operator's own identity.
fn clients() -> Value {
    let operator = "serviceAccount:cache-operator@operator-proj.iam.gserviceaccount.com";
    group::gcp("clients", &[operator]).into_json()
}

/// Cluster `c{i}`: gcp, IAM authentication, listing `clients`.
fn cluster(i: usize, run: u16, project: &str) -> Value {
    cluster::gcp(&format!("c{i}"))
        .instance_id(&format!("b{run:x}-{i}"))
        .region(&gcp_region())
        .auth("iam")
        .tls(false)
        .user_groups(&["clients"])
        .project(project)
        .into_json()
}

/// Binding `b{i}` of cluster `c{i}` through `clients`, writing Secret `s{i}`.
fn binding(i: usize) -> Value {
    binding::new(&format!("b{i}"), &format!("c{i}"), "clients")
        .secret_name(&format!("s{i}"))
        .into_json()
}

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
    fields
        .get(11)
        .and_then(|u| u.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run() -> anyhow::Result<()> {
    let n: usize = std::env::var("SCALE_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let opts = Options {
        no_redis: true,
        provisioning_delay: Duration::ZERO,
        operator_args: ["--poll", "1s", "--resync", "5m", "--concurrency", "32"]
            .map(String::from)
            .to_vec(),
        ..Options::default()
    };
    let env = Arc::new(Env::start_with("scale-bench", opts).await?);
    let pid = env.operators[0].pid().expect("operator pid");
    let rss_idle = rss_kib(pid);
    let project = gcp_project();
    let run = rand::random::<u16>();

    // Record when each Secret first appears, from a watch.
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.namespace);
    let watch_seen = seen.clone();
    tokio::spawn(async move {
        let stream = kube::runtime::watcher(secrets, Default::default());
        let mut stream = std::pin::pin!(kube::runtime::WatchStreamExt::applied_objects(stream));
        while let Some(Ok(s)) = stream.next().await {
            if let Some(name) = s.metadata.name {
                watch_seen
                    .lock()
                    .await
                    .entry(name)
                    .or_insert_with(Instant::now);
            }
        }
    });

    // And when each cluster is first Ready, to tell the stages apart.
    let ready_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let watch_ready = ready_at.clone();
    let clusters_api: Api<kube::api::DynamicObject> = env.api("RedisCluster");
    tokio::spawn(async move {
        let stream = kube::runtime::watcher(clusters_api, Default::default());
        let mut stream = std::pin::pin!(kube::runtime::WatchStreamExt::applied_objects(stream));
        while let Some(Ok(c)) = stream.next().await {
            if e2e::condition(&c, "Ready").is_some_and(|r| r["status"] == "True")
                && let Some(name) = c.metadata.name
            {
                watch_ready
                    .lock()
                    .await
                    .entry(name)
                    .or_insert_with(Instant::now);
            }
        }
    });

    env.apply(clients()).await?;
    let (kubesim_pid, cloudsim_pid, _) = env.pids();
    let cpu_of = |p: Option<u32>| p.map(cpu_ticks).unwrap_or(0);
    let burst_cpu0 = (cpu_of(kubesim_pid), cpu_of(cloudsim_pid), cpu_ticks(pid));
    let applied: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let gate = Arc::new(Semaphore::new(32));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..n {
        let (env, applied, gate) = (env.clone(), applied.clone(), gate.clone());
        let (cluster, binding) = (cluster(i, run, &project), binding(i));
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await?;
            env.apply(cluster).await?;
            env.apply(binding).await?;
            applied.lock().await.insert(format!("s{i}"), Instant::now());
            applied.lock().await.insert(format!("c{i}"), Instant::now());
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let applied_all = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    while seen.lock().await.len() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let secrets_all = start.elapsed();
    let burst_cpu = (
        (cpu_of(kubesim_pid) - burst_cpu0.0) as f64 / 100.0,
        (cpu_of(cloudsim_pid) - burst_cpu0.1) as f64 / 100.0,
        (cpu_ticks(pid) - burst_cpu0.2) as f64 / 100.0,
    );
    let mut latencies: Vec<Duration> = {
        let (seen, applied) = (seen.lock().await, applied.lock().await);
        applied
            .iter()
            .filter_map(|(k, a)| seen.get(k).map(|s| s.saturating_duration_since(*a)))
            .collect()
    };
    latencies.sort();
    let secrets_count = latencies.len();
    let mut cluster_latencies: Vec<Duration> = {
        let (ready, applied) = (ready_at.lock().await, applied.lock().await);
        applied
            .iter()
            .filter_map(|(k, a)| ready.get(k).map(|r| r.saturating_duration_since(*a)))
            .collect()
    };
    cluster_latencies.sort();
    let clusters: Api<kube::api::DynamicObject> = env.api("RedisCluster");
    let ready = clusters
        .list(&Default::default())
        .await?
        .items
        .iter()
        .filter(|o| e2e::condition(o, "Ready").is_some_and(|c| c["status"] == "True"))
        .count();

    // Steady state: let the last transitions settle, then measure a quiet minute's share.
    tokio::time::sleep(Duration::from_secs(15)).await;
    env.sim().reset_counters().await?;
    let (ticks0, t0) = (cpu_ticks(pid), Instant::now());
    tokio::time::sleep(Duration::from_secs(30)).await;
    let cpu = (cpu_ticks(pid) - ticks0) as f64 / 100.0 / t0.elapsed().as_secs_f64() * 100.0;
    let counters = env.sim().counters().await?;
    let writes = CloudSim::sum(
        &counters,
        "memorystore",
        |op| op.contains("create") || op.contains("patch") || op.contains("delete"),
        |_| true,
    );

    println!(
        "scale: {n} RedisClusters + {n} AccessBindings (gcp, simulator, no provisioning delay), operator --concurrency 32"
    );
    println!("  applied all objects in        {applied_all:.1?}");
    println!(
        "  all Secrets present after      {secrets_all:.1?} ({secrets_count}/{n} Secrets, {ready}/{n} clusters Ready)"
    );
    println!(
        "  apply -> Secret latency        p50 {:.2?}  p90 {:.2?}  p99 {:.2?}  max {:.2?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    println!(
        "  CPU seconds until then         kubesim {:.1}  cloudsim {:.1}  operator {:.1}",
        burst_cpu.0, burst_cpu.1, burst_cpu.2
    );
    println!(
        "  apply -> cluster Ready         p50 {:.2?}  p90 {:.2?}  p99 {:.2?}",
        percentile(&cluster_latencies, 0.5),
        percentile(&cluster_latencies, 0.9),
        percentile(&cluster_latencies, 0.99)
    );
    println!(
        "  operator RSS                   {} MiB idle before, {} MiB in steady state",
        rss_idle / 1024,
        rss_kib(pid) / 1024
    );
    println!("  operator CPU in steady state   {cpu:.2} % of one core over 30 s");
    println!("  cloud writes in steady state   {writes}");
    Ok(())
}
