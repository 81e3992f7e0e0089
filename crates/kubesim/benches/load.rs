//! Load figures (not a test): 20,000 custom resources held, 2,000 applied at once while a
//! watcher follows, paginated and selector lists. Run: `cargo bench -p kubesim --bench load`.
//! `KUBESIM_BENCH_OBJECTS` and `KUBESIM_BENCH_APPLIES` change the sizes.

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CRD: &str = include_str!("../tests/fixtures/caches-crd.yaml");

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn report(what: &str, n: usize, took: Duration) {
    println!(
        "{what:<44} {n:>6} in {:>8.2?}  ({:>8.0}/s)",
        took,
        n as f64 / took.as_secs_f64().max(1e-9)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let objects = env("KUBESIM_BENCH_OBJECTS", 20_000);
    let applies = env("KUBESIM_BENCH_APPLIES", 2_000);
    let server = kubesim::Server::start(kubesim::Config::default()).await?;
    let kubeconfig = Kubeconfig::from_yaml(&server.kubeconfig())?;
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?,
    )?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &serde_saphyr::from_str(CRD)?)
        .await?;
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("fixtures.kubesim.dev", "v1", "Cache"),
        "caches",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let all: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let obj = |name: String, shards: i64| -> DynamicObject {
        serde_json::from_value(
            json!({"apiVersion": "fixtures.kubesim.dev/v1", "kind": "Cache",
            "metadata": {"name": name, "labels": {"bucket": format!("b{}", shards % 10)}},
            "spec": {"provider": "gcp", "instanceId": "fixed-id", "shardCount": shards}}),
        )
        .unwrap()
    };

    println!("kubesim load figures ({objects} objects, {applies} applies, 2 worker threads)");
    let t = Instant::now();
    futures::stream::iter(0..objects)
        .map(|i| {
            let api = api.clone();
            let o = obj(format!("held-{i:05}"), (i % 200 + 1) as i64);
            async move { api.create(&PostParams::default(), &o).await }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    report(
        "create (validated, CEL, 32 concurrent)",
        objects,
        t.elapsed(),
    );
    println!(
        "{:<44} {:>8.1} MiB",
        "resident memory after create",
        rss_mib()
    );

    let t = Instant::now();
    let mut pages = 0;
    let mut seen = 0;
    let mut lp = ListParams::default().limit(500);
    loop {
        let page = all.list(&lp).await?;
        pages += 1;
        seen += page.items.len();
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp = lp.continue_token(&c),
            None => break,
        }
    }
    report(
        &format!("list all in {pages} pages of 500"),
        seen,
        t.elapsed(),
    );

    let t = Instant::now();
    let sel = all.list(&ListParams::default().labels("bucket=b3")).await?;
    report(
        "list with a label selector (matches)",
        sel.items.len(),
        t.elapsed(),
    );

    // A watcher follows while 2,000 objects are applied at once.
    let seen_applies = Arc::new(AtomicUsize::new(0));
    let counter = seen_applies.clone();
    let watch_task = tokio::spawn(async move {
        let stream =
            watcher(all, watcher::Config::default().labels("bench=applied")).applied_objects();
        futures::pin_mut!(stream);
        while let Some(Ok(_)) = stream.next().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    futures::stream::iter(0..applies)
        .map(|i| {
            let api = api.clone();
            let cfg = json!({"apiVersion": "fixtures.kubesim.dev/v1", "kind": "Cache",
                "metadata": {"name": format!("applied-{i:05}"), "labels": {"bench": "applied"}},
                "spec": {"provider": "aws", "instanceId": format!("id-{i}"), "shardCount": 3}});
            async move {
                api.patch(
                    &format!("applied-{i:05}"),
                    &PatchParams::apply("bench"),
                    &Patch::Apply(cfg),
                )
                .await
            }
        })
        .buffer_unordered(64)
        .try_collect::<Vec<_>>()
        .await?;
    let applied_in = t.elapsed();
    report(
        "server-side apply (create, 64 concurrent)",
        applies,
        applied_in,
    );
    while seen_applies.load(Ordering::SeqCst) < applies {
        if t.elapsed() > Duration::from_secs(120) {
            anyhow::bail!(
                "the watcher saw only {} of {applies}",
                seen_applies.load(Ordering::SeqCst)
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    report("... until the watcher saw every one", applies, t.elapsed());

    let t = Instant::now();
    futures::stream::iter(0..applies)
        .map(|i| {
            let api = api.clone();
            let status = json!({"apiVersion": "fixtures.kubesim.dev/v1", "kind": "Cache",
                "metadata": {"name": format!("applied-{i:05}")},
                "status": {"phase": "Ready", "conditions": [{"type": "Ready", "status": "True", "reason": "Available"}]}});
            async move {
                api.patch_status(&format!("applied-{i:05}"), &PatchParams::apply("bench-status").force(), &Patch::Apply(status)).await
            }
        })
        .buffer_unordered(64)
        .try_collect::<Vec<_>>()
        .await?;
    report(
        "server-side apply on /status (64 concurrent)",
        applies,
        t.elapsed(),
    );
    println!(
        "{:<44} {:>8.1} MiB",
        "resident memory at the end",
        rss_mib()
    );
    watch_task.abort();
    server.shutdown().await;
    Ok(())
}
