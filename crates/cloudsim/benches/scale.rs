//! Scale check, printed as figures (not a timed assertion): start the `cloudsim` binary with `--no-redis`,
//! create N Memorystore clusters and N ElastiCache replication groups (default N = 10,000), wait until all
//! are ready, list them back page by page, and report startup time, throughput and the process's memory.
//!
//! Run: `cargo bench -p cloudsim --bench scale` (release), or `-- 2000` for another N.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Semaphore;

const CONCURRENCY: usize = 32;

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

const SIGV4: &str = "AWS4-HMAC-SHA256 Credential=AKIDCLOUDSIM/20240101/us-east-1/elasticache/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000";

async fn run_all<F, Fut>(n: usize, f: F) -> Duration
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let sem = Arc::new(Semaphore::new(CONCURRENCY));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        let fut = f(i);
        tasks.push(tokio::spawn(async move {
            fut.await;
            drop(permit);
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    started.elapsed()
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloudsim"))
        .args([
            "--no-redis",
            "--provisioning-delay",
            "0s",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cloudsim starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("base URL line");
    let startup = started.elapsed();
    let base = first.trim().to_owned();
    let pid = child.id();
    let idle_rss = rss_kib(pid, "VmRSS:");
    let http = reqwest::Client::new();

    let gcp_time = run_all(n, |i| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let url = format!(
                "{base}/v1/projects/scale/locations/us-central1/clusters?clusterId=c{i:05}"
            );
            let r = http
                .post(url)
                .json(&json!({"shardCount": 3}))
                .send()
                .await
                .expect("create");
            assert!(
                r.status().is_success(),
                "{}",
                r.text().await.unwrap_or_default()
            );
        }
    })
    .await;
    let aws_time = run_all(n, |i| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let id = format!("rg-{i:05}");
            let form = [
                ("Action", "CreateReplicationGroup"),
                ("Version", "2015-02-02"),
                ("ReplicationGroupId", id.as_str()),
                ("ReplicationGroupDescription", "scale"),
            ];
            let r = http
                .post(&base)
                .header("authorization", SIGV4)
                .header("x-amz-date", "20240101T000000Z")
                .form(&form)
                .send()
                .await
                .expect("create");
            assert!(
                r.status().is_success(),
                "{}",
                r.text().await.unwrap_or_default()
            );
        }
    })
    .await;

    // Wait until everything is ready, listing every page each round.
    let list_started = Instant::now();
    let mut rounds = 0;
    let (active, list_time) = loop {
        rounds += 1;
        let round = Instant::now();
        let mut active = 0;
        let mut token = String::new();
        loop {
            let url = format!(
                "{base}/v1/projects/scale/locations/us-central1/clusters?pageSize=1000&pageToken={token}"
            );
            let v: Value = http
                .get(url)
                .send()
                .await
                .expect("list")
                .json()
                .await
                .expect("json");
            active += v["clusters"]
                .as_array()
                .map_or(0, |c| c.iter().filter(|c| c["state"] == "ACTIVE").count());
            match v["nextPageToken"].as_str() {
                Some(t) => token = t.to_owned(),
                None => break,
            }
        }
        if active == n || list_started.elapsed() > Duration::from_secs(120) {
            break (active, round.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let loaded_rss = rss_kib(pid, "VmRSS:");
    let peak_rss = rss_kib(pid, "VmHWM:");
    let _ = child.kill();
    let _ = child.wait();

    let per_sec = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "cloudsim scale check (--no-redis, provisioning delay 0, {CONCURRENCY} concurrent clients)"
    );
    println!(
        "  startup to first stdout line      {:>10.1} ms",
        startup.as_secs_f64() * 1000.0
    );
    println!(
        "  RSS idle                          {:>10.1} MiB",
        idle_rss as f64 / 1024.0
    );
    println!(
        "  create {n} Memorystore clusters   {:>10.2} s  ({:.0}/s)",
        gcp_time.as_secs_f64(),
        per_sec(gcp_time)
    );
    println!(
        "  create {n} ElastiCache groups     {:>10.2} s  ({:.0}/s)",
        aws_time.as_secs_f64(),
        per_sec(aws_time)
    );
    println!("  ACTIVE after listing ({rounds} round(s))  {active:>10}");
    println!(
        "  list {n} clusters (pages of 1000)  {:>10.1} ms",
        list_time.as_secs_f64() * 1000.0
    );
    println!(
        "  RSS holding {} clusters        {:>10.1} MiB (peak {:.1} MiB)",
        2 * n,
        loaded_rss as f64 / 1024.0,
        peak_rss as f64 / 1024.0
    );
}
